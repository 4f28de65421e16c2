//! `history`: the entries `crate::history` keeps beside the state, oldest first.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::plan::cost;

use crate::cli::HistoryArgs;
use crate::history::{entries, Outcome};
use crate::session::Session;

pub async fn run(path: &Option<PathBuf>, args: HistoryArgs) -> Result<ExitCode> {
    let session = Session::open(path).await?;
    let mut all = entries(session.backend.as_ref()).await?;
    if let Some(n) = args.limit {
        let n = n as usize;
        if all.len() > n {
            all.drain(..all.len() - n);
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "format_version": "1",
                "stack": session.stack.name,
                "entries": all,
            }))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        outln!("No history yet for stack {:?}: no command has changed it.", session.stack.name)?;
        return Ok(ExitCode::SUCCESS);
    }
    for e in &all {
        let outcome = match (e.outcome, e.exit_status) {
            (Outcome::Succeeded, _) => "succeeded".to_string(),
            (Outcome::Running, _) => "running".to_string(),
            (Outcome::Interrupted, _) => "interrupted".to_string(),
            (Outcome::Failed, Some(s)) => format!("failed (exit {s})"),
            (Outcome::Failed, None) => "failed".to_string(),
        };
        let summary = e
            .summary
            .as_ref()
            .map(|s| format!("+{} ~{} ±{} -{}", s.add, s.change, s.replace, s.destroy))
            .unwrap_or_default();
        outln!("{}  {:<28} {:<18} {:<14} {}", e.started, e.command, outcome, summary, e.caller)?;
        if let Some(c) = &e.monthly_cost {
            outln!(
                "    monthly cost {} → {} ({}, {} list prices)",
                cost::dollars(c.before),
                cost::dollars(c.after),
                cost::signed(c.after - c.before),
                c.currency
            )?;
        }
        if let Some(sha) = &e.plan_sha256 {
            outln!("    plan sha256 {sha}")?;
        }
        if let Some(c) = &e.stack_commit {
            outln!("    stack file {} at {c}", e.stack_file)?;
        }
        if let Some(err) = &e.error {
            outln!("    {err}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
