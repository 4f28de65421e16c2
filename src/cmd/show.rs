//! `show PLANFILE`: a plan saved with `plan --out`, as text or as JSON (empi-infra's own schema or
//! Terraform's plan representation), without reaching the cloud.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::plan::render_text;

use crate::cli::PlanFormat;
use crate::cmd::plan::{load, plan_json};
use crate::session::load_stack;

pub fn run(stack: &Option<PathBuf>, planfile: &Path, json: Option<PlanFormat>) -> Result<ExitCode> {
    let plan = load(planfile)?;
    match json {
        Some(format) => {
            // the stack, when given, tells Terraform's provider configuration its region
            let region = match stack {
                Some(_) => Some(load_stack(stack)?.region),
                None => None,
            };
            outln!("{}", serde_json::to_string_pretty(&plan_json(&plan, format, region.as_deref()))?)?;
        }
        None => out!("{}", render_text(&plan))?,
    }
    Ok(ExitCode::SUCCESS)
}
