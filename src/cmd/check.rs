//! `check`: the security baseline (`empi_engine::check`) on the stack's planned values and on the
//! live cloud, with the evidence a reviewer keeps. Read-only: takes no lock, writes nothing; refuses
//! to read the cloud while an apply holds the lock (it would judge half-applied work).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::check::{self, Report, Source};
use empi_engine::eks_versions::today;
use serde_json::json;

use crate::cli::CheckArgs;
use crate::session::Session;

/// The baseline on the stack's planned values, and (unless `planned_only`, or nothing is
/// recorded) on the live cloud, as of today.
pub(crate) async fn reports(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &empi_engine::state::State,
    planned_only: bool,
) -> Result<(Report, Option<Report>)> {
    let graph = session.graph(&cloud.account)?;
    let stack = &session.stack;
    let day = today();
    let planned = check::evaluate(
        &stack.name,
        Source::Planned,
        &check::planned(&graph, state),
        &stack.security,
        &day,
    );
    let live = if planned_only || state.resources.is_empty() {
        None
    } else {
        let refreshed = empi_engine::plan::refresh(&cloud.registry, state, 10).await?;
        Some(check::evaluate(
            &stack.name,
            Source::Live,
            &check::live(state, &refreshed),
            &stack.security,
            &day,
        ))
    };
    Ok((planned, live))
}

/// Exit 0: every rule passes or is waived, planned and live; 2: a rule fails.
pub async fn run(stack: &Option<PathBuf>, args: CheckArgs) -> Result<ExitCode> {
    let CheckArgs { json, planned_only } = args;
    let mut session = Session::open(stack).await?;
    let backend = session.backend.clone();
    session.refuse_while_locked("check").await?;
    let state = backend.load().await?;
    let cloud = session.connect().await?;
    session.place(&cloud, &state, false).await?;
    let (planned, live) = reports(&session, &cloud, &state, planned_only).await?;
    let stack = &session.stack;
    let regressions: Vec<&check::Finding> =
        live.as_ref().map(|l| check::regressions(&planned, l)).unwrap_or_default();
    if json {
        let doc = json!({
            "format_version": check::CHECK_FORMAT_VERSION,
            "stack": stack.name,
            "planned": planned,
            "live": live,
            "drifted": regressions,
        });
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        out!("{}", check::render_text(&planned))?;
        match &live {
            Some(l) => {
                out!("\n{}", check::render_text(l))?;
                if !regressions.is_empty() {
                    outln!("\n{} rule(s) hold in the plan but not in the cloud: changed behind empi-infra's back (drift); `empi-infra apply` restores them:", regressions.len())?;
                    for f in &regressions {
                        outln!("  - {} on {}", f.rule, f.resource)?;
                    }
                }
            }
            None if !planned_only => outln!("\nThe live cloud was not checked: state records nothing yet (`empi-infra apply` first).")?,
            None => {}
        }
    }
    let failed = planned.failed() || live.as_ref().is_some_and(Report::failed);
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}
