//! `drift`: one read-only comparison of the live cloud with state, its report, and the
//! notification a scheduler wants. Never takes the lock (it writes nothing); refuses to run while an
//! apply holds it, rather than report half-applied work as drift.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::{drift, redact};

use crate::cli::DriftArgs;
use crate::errors::fix;
use crate::session::Session;

/// One drift run; exit 0 no drift, 2 drift.
pub async fn run_once(
    stack: &Option<PathBuf>,
    json: bool,
    notify: Option<&str>,
    extra_ignore: &[String],
    record: bool,
) -> Result<ExitCode> {
    let mut session = Session::open(stack).await?;
    let backend = session.backend.clone();
    session.refuse_while_locked("drift").await?;
    let state = backend.load().await?;
    if state.resources.is_empty() {
        return Err(fix(
            format!(
                "state records no resources for stack {:?}, so there is nothing to compare",
                session.stack.name
            ),
            "run `empi-infra apply` first (or check --stack)",
        ));
    }
    let cloud = session.connect().await?;
    session.place(&cloud, &state, false).await?;
    let stack = &session.stack;
    let graph = session.graph(&cloud.account)?;
    let mut ignore = stack.drift.ignore.clone();
    ignore.extend(extra_ignore.iter().cloned());
    let report = drift::detect(&cloud.registry, &state, &graph, &ignore, 10, &stack.digest).await?;
    // every secret the run holds, in any form, is redacted from the report and the notification
    if record {
        let mut doc = serde_json::to_value(&report)?;
        redact::json(&mut doc);
        let name = format!("{}.json", report.checked_at.replace(':', ""));
        backend.put_record("drifts", &name, &serde_json::to_vec_pretty(&doc)?).await.map_err(
            |e| anyhow::anyhow!("the drift report could not be kept beside the state: {e}"),
        )?;
    }
    if json {
        let mut doc = serde_json::to_value(&report)?;
        redact::json(&mut doc);
        outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        out!("{}", redact::values(&drift::render_text(&report)))?;
    }
    if report.drifted() {
        if let Some(url) = notify {
            let mut body = drift::notification(&report);
            redact::json(&mut body);
            match reqwest::Client::new()
                .post(url)
                .json(&body)
                .timeout(std::time::Duration::from_secs(15))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => eprintln!(
                    "warning: the drift notification to {} was answered with HTTP {}",
                    webhook_host(url),
                    r.status()
                ),
                Err(e) => eprintln!(
                    "warning: could not send the drift notification to {}: {}",
                    webhook_host(url),
                    e.without_url()
                ),
            }
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `drift`: once, or every `every` until stopped (a failed run does not stop it).
pub async fn run(stack: &Option<PathBuf>, args: DriftArgs) -> Result<ExitCode> {
    let DriftArgs { json, every, notify, ignore, record, print_iam_policy } = args;
    if print_iam_policy {
        // the stack's names scope it; the account is `*` (no credentials needed to print it, and
        // IAM acts in the caller's own account only)
        let stack = crate::session::load_stack(stack)?;
        let scope = stack.iam_scope(None);
        let policy = empi_engine::kinds::drift_policy(&scope);
        outln!("{}", serde_json::to_string_pretty(&policy)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(period) = every.filter(|p| *p < crate::cli::MIN_EVERY) {
        // below a minute only against the local cloud, where the API rate is nobody else's
        let target = crate::aws::Target::from_stack(&crate::session::load_stack(stack)?);
        if !target.is_loopback() {
            return Err(fix(
                format!(
                    "--every {} is shorter than 1m, but {}",
                    humantime::format_duration(period),
                    crate::cli::EVERY_WHY
                ),
                "run it at most once a minute, e.g. --every 15m",
            ));
        }
    }
    let once = || run_once(stack, json, notify.as_deref(), &ignore, record);
    match every {
        None => once().await,
        Some(period) => {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match once().await {
                    // nobody reads the reports any more: stop (quietly, status 0)
                    Err(e) if crate::out::closed(&e) => return Err(e),
                    Err(e) if json => {
                        crate::errors::print(&e, true);
                        eprintln!(
                            "drift run failed; trying again in {}",
                            humantime::format_duration(period)
                        );
                    }
                    Err(e) => eprintln!(
                        "error: drift run failed: {}; trying again in {}",
                        redact::message(&format!("{e:#}")),
                        humantime::format_duration(period)
                    ),
                    Ok(_) => {}
                }
            }
        }
    }
}

/// A webhook URL as messages name it: scheme and host only. The path of a Slack (or similar)
/// webhook is its credential, so it is never printed.
fn webhook_host(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            // user:password@ is a credential too
            let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
            format!("{scheme}://{host}/…")
        }
        None => "the --notify URL".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_is_named_by_its_host_never_its_path_or_credentials() {
        assert_eq!(
            super::webhook_host("https://hooks.slack.com/services/T000/B000/XXXXSECRET"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            super::webhook_host("http://user:pw@127.0.0.1:9/x?token=1"),
            "http://127.0.0.1:9/…"
        );
        assert_eq!(super::webhook_host("not a url"), "the --notify URL");
    }
}
