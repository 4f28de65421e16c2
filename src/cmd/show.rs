//! `show PLANFILE`: a plan saved with `plan --out`, as text, as JSON (empi-infra's own schema or
//! Terraform's plan representation) or as a pull-request comment, without reaching the cloud.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::ShowArgs;
use crate::cmd::plan::{load, print, Shape};
use crate::session::load_stack;
use anyhow::Result;

pub fn run(stack: &Option<PathBuf>, args: ShowArgs) -> Result<ExitCode> {
    let ShowArgs { planfile, json, format } = args;
    let shape = Shape::of(json, format)?;
    let plan = load(&planfile)?;
    // the stack, when given, tells Terraform's provider configuration its region
    let region = match (stack, shape) {
        (Some(_), Shape::Json(_)) => Some(load_stack(stack)?.region),
        _ => None,
    };
    print(&plan, shape, region.as_deref(), false)?;
    Ok(ExitCode::SUCCESS)
}
