//! `db restore-drill`: the stack's backups proven by a restore. The database is restored to a new
//! instance hardened as the stack's own, checked from inside the cluster as the application
//! connects to it, timed (restore call to validated), deleted, and the report kept beside the
//! state. Nothing of the stack changes: its state is not written, and the drill instance is found
//! again by its tag (by the next drill) if this one is cut short.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

use super::{
    delete_leftovers, format_time, hardening_of, parse_time, recorded_database, stamp, validate,
    Check, Copy, DELETE_DEADLINE,
};
use crate::aws::restore::{self, DRILL_TAG};
use crate::cli::RestoreDrillArgs;
use crate::session::Session;

/// What a drill found: the report printed (`--json`) and kept beside the state.
#[derive(Debug, Serialize)]
pub struct Report {
    /// When the drill ran (RFC 3339).
    #[serde(default)]
    pub started_at: String,
    pub drill_instance: String,
    pub source_instance: String,
    pub restored_to_time: String,
    /// From the restore call to a validated copy, to a tenth of a second.
    pub rto_seconds: f64,
    pub checks: Vec<Check>,
    pub deleted: bool,
}

fn progress(msg: &str) {
    eprintln!("db restore-drill: {msg}");
}

pub async fn restore_drill(stack: &Option<PathBuf>, args: RestoreDrillArgs) -> Result<ExitCode> {
    let to = args.to.as_deref().map(parse_time).transpose()?;
    let started_at = crate::session::now_rfc3339();
    let session = Session::open(stack).await?;
    session.refuse_while_locked("db restore-drill").await?;
    let state = session.backend.load().await?;
    let source = recorded_database(&session, &state)?;
    let hardening = hardening_of(&state);
    let cloud = session.connect().await?;
    let rds = &cloud.clients.rds;
    let stack = &session.stack;
    let owner = format!("{}/{}", stack.name, stack.region);

    // what a drill cut short left behind goes first (found by its tag, never by its name)
    delete_leftovers(rds, &owner, &source, &progress).await?;

    let src = restore::describe(rds, &source)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("the database {source} that state records does not exist"))?;
    // the time restored to is named in the call, so that the report says the time RDS used
    let to = to.or(src.latest_restorable_time().copied());
    let restored_to = to.as_ref().map(format_time).unwrap_or_default();
    let stamp = stamp();
    let drill = format!("{}-db-drill-{stamp}", stack.name);
    let mut tags: Vec<(String, String)> =
        stack.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.push((DRILL_TAG.into(), owner.clone()));
    progress(&format!(
        "restoring {source} to {} as {drill} (its subnet group, security groups, parameter group and key; not public)",
        if restored_to.is_empty() { "its latest restorable time" } else { &restored_to }
    ));
    let t0 = Instant::now();
    restore::restore(rds, &source, &drill, to, &hardening, &tags)
        .await
        .map_err(|e| anyhow!("RDS refused the restore of {source}: {e}"))?;

    // from here on the drill instance exists: whatever happens, it is deleted (unless --keep)
    let job = format!("restore-drill-{stamp}");
    let outcome = validate(
        &session,
        &cloud,
        &state,
        Copy { instance: &drill, job: &job },
        &hardening,
        &src,
        &progress,
    )
    .await;
    let rto_seconds = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let mut deleted = false;
    if !args.keep {
        progress(&format!("deleting {drill}"));
        match restore::delete(rds, &drill).await {
            Ok(()) => match restore::wait(rds, &drill, true, DELETE_DEADLINE, &progress).await {
                Ok(_) => deleted = true,
                Err(e) => eprintln!("warning: {e}"),
            },
            Err(e) => eprintln!("warning: cannot delete the drill instance {drill} ({e}); the next drill deletes it"),
        }
    }
    let checks = outcome?;
    let report = Report {
        started_at: started_at.clone(),
        drill_instance: drill.clone(),
        source_instance: source,
        restored_to_time: restored_to,
        rto_seconds,
        checks,
        deleted,
    };
    let body = serde_json::to_vec_pretty(&report)?;
    let kept = session
        .backend
        .put_record("drills", &format!("{drill}.json"), &body)
        .await
        .context("the drill's report could not be kept beside the state")?;
    if args.json {
        outln!("{}", String::from_utf8_lossy(&body))?;
    } else {
        outln!("Restore drill {drill} of {}:", report.source_instance)?;
        for c in &report.checks {
            outln!("  {} {:<18} {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail)?;
        }
        outln!(
            "Recovery time: {} s from the restore call to a validated copy; the copy {}.",
            report.rto_seconds,
            if report.deleted { "is deleted" } else { "is kept (--keep, or its deletion failed)" }
        )?;
        outln!("Report: {kept}")?;
    }
    Ok(if report.checks.iter().all(|c| c.ok) { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
