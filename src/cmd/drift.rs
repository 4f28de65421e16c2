//! `drift`: one read-only comparison of the live cloud with state, its report, and the
//! notification a scheduler wants. Never takes the lock (it writes nothing); refuses to run while an
//! apply holds it, rather than report half-applied work as drift.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use empi_engine::drift;

use crate::session::Session;

/// One drift run; exit 0 no drift, 2 drift.
pub async fn run_once(stack: &Option<PathBuf>, json: bool, notify: Option<&str>, extra_ignore: &[String]) -> Result<ExitCode> {
    let mut session = Session::open(stack).await?;
    let backend = session.backend.clone();
    if let Some(h) = backend.lock_holder().await? {
        bail!(
            "`{}` by {}@{} (pid {}, since {}) holds the state lock, so the cloud may be half-changed; drift did not run. Run it again after that finishes (or, if that run is gone, `empi-infra state unlock {}`)",
            h.operation, h.owner, h.host, h.pid, h.created, h.id
        );
    }
    let state = backend.load().await?;
    if state.resources.is_empty() {
        bail!(
            "state records no resources for stack {:?}, so there is nothing to compare; run `empi-infra apply` first (or check --stack)",
            session.stack.name
        );
    }
    let cloud = session.connect().await?;
    session.place(&cloud, &state, false).await?;
    let stack = &session.stack;
    let graph = session.graph(&cloud.account)?;
    let mut ignore = stack.drift.ignore.clone();
    ignore.extend(extra_ignore.iter().cloned());
    let report = drift::detect(&cloud.registry, &state, &graph, &ignore, 10, &stack.digest).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", drift::render_text(&report));
    }
    if report.drifted() {
        if let Some(url) = notify {
            let body = drift::notification(&report);
            match reqwest::Client::new().post(url).json(&body).timeout(std::time::Duration::from_secs(15)).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!("warning: the drift notification to {url} was answered with HTTP {}", r.status()),
                Err(e) => eprintln!("warning: could not send the drift notification to {url}: {e}"),
            }
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `drift`: once, or every `every` until stopped (a failed run does not stop it).
pub async fn run(
    stack: &Option<PathBuf>,
    json: bool,
    every: Option<std::time::Duration>,
    notify: Option<String>,
    ignore: Vec<String>,
    print_iam_policy: bool,
) -> Result<ExitCode> {
    if print_iam_policy {
        let policy = empi_engine::kinds::policy_document(&empi_engine::kinds::iam_actions(&empi_engine::kinds::aws(), false));
        println!("{}", serde_json::to_string_pretty(&policy)?);
        return Ok(ExitCode::SUCCESS);
    }
    let once = || run_once(stack, json, notify.as_deref(), &ignore);
    match every {
        None => once().await,
        Some(period) => {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = once().await {
                    eprintln!("error: drift run failed: {e:#}; trying again in {}", humantime::format_duration(period));
                }
            }
        }
    }
}
