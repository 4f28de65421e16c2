//! `show PLANFILE`: a plan saved with `plan --out`, as text or as JSON (empi-infra's own schema or
//! Terraform's plan representation), without reaching the cloud.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::plan::render_text;

use crate::cli::ShowArgs;
use crate::cmd::plan::{load, plan_json};
use crate::session::load_stack;

pub fn run(stack: &Option<PathBuf>, args: ShowArgs) -> Result<ExitCode> {
    let ShowArgs { planfile, json, format } = args;
    let (planfile, json) = (planfile.as_path(), json.then_some(format));
    let plan = load(planfile)?;
    match json {
        Some(format) => {
            // the stack, when given, tells Terraform's provider configuration its region
            let region = match stack {
                Some(_) => Some(load_stack(stack)?.region),
                None => None,
            };
            outln!(
                "{}",
                serde_json::to_string_pretty(&plan_json(&plan, format, region.as_deref()))?
            )?;
        }
        None => out!("{}", render_text(&plan))?,
    }
    Ok(ExitCode::SUCCESS)
}
