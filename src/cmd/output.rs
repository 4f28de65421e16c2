//! `output`: the stack's outputs (URL, cluster, database endpoint, secret ARN, user pool…).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::stack::Stack;
use empi_engine::state::State;
use empi_engine::{blueprint, ops};

use crate::cli::OutputArgs;
use crate::errors::fix;
use crate::out::OutError;
use crate::session::Session;

pub async fn run(path: &Option<PathBuf>, args: OutputArgs) -> Result<ExitCode> {
    let OutputArgs { name, json } = args;
    let session = Session::open(path).await?;
    let stack = &session.stack;
    let state = session.backend.load().await?;
    let outs = ops::outputs(&blueprint::outputs(stack), &state);
    match name {
        Some(n) => {
            let v = outs.get(&n).ok_or_else(|| {
                fix(
                    format!("no output named {n:?}"),
                    format!("use one of: {}", outs.keys().cloned().collect::<Vec<_>>().join(", ")),
                )
            })?;
            let Some(v) = v else {
                return Err(fix(
                    format!("output {n:?} is not known yet"),
                    "run `empi-infra apply` first",
                ));
            };
            if json {
                outln!("{v}")?;
            } else {
                outln!("{}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))?;
            }
        }
        None if json => outln!("{}", serde_json::to_string_pretty(&outs)?)?,
        None => print_outputs(stack, &state)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_outputs(stack: &Stack, state: &State) -> Result<(), OutError> {
    let outs = ops::outputs(&blueprint::outputs(stack), state);
    if outs.values().all(|v| v.is_none()) || state.resources.is_empty() {
        return Ok(());
    }
    outln!("\nOutputs:")?;
    let w = outs.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in outs {
        let v = match v {
            Some(serde_json::Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => "(not created yet)".into(),
        };
        outln!("  {k:w$} = {v}")?;
    }
    Ok(())
}
