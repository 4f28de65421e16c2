//! `validate` and `graph`: the commands that need no cloud.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::session::{graph_of, load_stack, NO_ACCOUNT};

/// Parses and checks the stack file, and every resource it expands into.
pub fn validate(path: &Option<PathBuf>) -> Result<ExitCode> {
    let stack = load_stack(path)?;
    let g = graph_of(&stack, NO_ACCOUNT)?;
    outln!(
        "{}: stack {:?} is valid ({} resources in {}).",
        stack.path.display(),
        stack.name,
        g.len(),
        stack.region
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the resource graph as Graphviz DOT.
pub fn graph(path: &Option<PathBuf>) -> Result<ExitCode> {
    let stack = load_stack(path)?;
    out!("{}", graph_of(&stack, NO_ACCOUNT)?.to_dot())?;
    Ok(ExitCode::SUCCESS)
}
