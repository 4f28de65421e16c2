//! `schema`: the stack file's JSON Schema (`empi_engine::stack_schema`), as docs/generated/stack.schema.json
//! holds it, for editors and other tools.

use std::process::ExitCode;

use anyhow::Result;

pub fn run() -> Result<ExitCode> {
    out!("{}", empi_engine::stack_schema::schema_text())?;
    Ok(ExitCode::SUCCESS)
}
