//! `db restore --to TIME`: recovery of the stack's database to a time. The database is restored to
//! a new instance hardened as the stack's own and checked as a drill checks it; only then, after
//! confirmation, is the application switched to it: state records it as `database.instance`, and
//! an apply of the stack follows from that (the config secret's `db.host`, the database-role Job
//! run against it, the backend pods rolled, the instance given the rest of the stack's settings).
//! The old instance is kept, with deletion protection and a tag saying what replaced it, until
//! `db restore --finalize` takes a final snapshot of it and deletes it.
//!
//! Order, so that a run cut short anywhere loses nothing: the copy carries the drill tag until
//! state records it (the next drill or `destroy` removes a copy never switched to; neither touches
//! the instance state records); the old instance is protected before state stops recording it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use empi_engine::blueprint::DATABASE_INSTANCE;
use empi_engine::ops;
use empi_engine::plan::{render_text_with, RenderOptions};
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    delete_leftovers, format_time, hardening_of, parse_time, recorded, recorded_database, stamp,
    validate, Check, Copy, DELETE_DEADLINE,
};
use crate::aws::restore::{self, Hardening, DRILL_TAG, REPLACED_TAG};
use crate::cli::{RestoreArgs, VersionChange};
use crate::cmd::apply::{confirm, execute};
use crate::cmd::{pending, plan_of};
use crate::errors::fix;
use crate::out::keep_going;
use crate::session::{
    replaced_database, Begun, ReplacedDatabase, Session, REPLACED_DATABASE_FACT,
    RESTORED_DATABASE_FACT,
};

/// The log group of the stack's database, which follows its identifier.
const DATABASE_LOG_GROUP: &str = "audit.database_log_group";

/// The longest the replaced instance's final snapshot and deletion are waited for.
const FINALIZE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60 * 60);

fn progress(msg: &str) {
    eprintln!("db restore: {msg}");
}

/// What a restore did, kept beside the state (`restores/`) as a drill's report is.
#[derive(Debug, Serialize)]
struct Report {
    /// When the restore ran (RFC 3339).
    started_at: String,
    restored_instance: String,
    source_instance: String,
    restored_to_time: String,
    /// From the restore call to a validated copy.
    rto_seconds: f64,
    checks: Vec<Check>,
    switched: bool,
}

pub async fn restore(path: &Option<PathBuf>, args: RestoreArgs) -> Result<ExitCode> {
    let to = parse_time(args.to.as_deref().unwrap_or_default())?;
    let started_at = crate::session::now_rfc3339();
    let Begun { mut session, lock, state, cloud, placement } =
        Session::begin(path, "db restore", VersionChange::default()).await?;
    let command = format!("db restore --to {}", format_time(&to));
    crate::history::start(
        session.backend.clone(),
        &session.stack,
        &command,
        &cloud.caller,
        lock.id(),
    )
    .await;
    if let Some(r) = replaced_database(&state) {
        return Err(fix(
            format!(
                "the database instance {} that an earlier `db restore` replaced (with {}, at {}) is still kept",
                r.instance, r.replaced_by, r.at
            ),
            "run `empi-infra db restore --finalize` first (a final snapshot of it is taken before it is deleted)",
        ));
    }
    let source = recorded_database(&session, &state)?;
    let parallelism = args.parallelism as usize;
    // the switch applies the stack: it must change nothing but what follows the database
    if let Some(pending) = pending(&plan_of(&session, &cloud, &state, parallelism).await?) {
        return Err(fix(
            format!(
                "the stack has changes not applied yet ({pending}), and switching to a restored database applies the stack"
            ),
            "apply them first (or bring the stack file back to what is applied), then run `db restore` again",
        ));
    }

    let stack = session.stack.clone();
    let owner = format!("{}/{}", stack.name, stack.region);
    let rds = &cloud.clients.rds;
    delete_leftovers(rds, &owner, &source, &progress).await?;
    let src = restore::describe(rds, &source)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("the database {source} that state records does not exist"))?;
    let master_key = recorded(&state, DATABASE_INSTANCE, "master_user_secret_kms_key_id")
        .and_then(Value::as_str)
        .map(String::from);
    let hardening = Hardening {
        multi_az: stack.database.multi_az,
        backup_retention_days: Some(stack.database.backup_retention_days as i32),
        managed_master_key: master_key,
        // protection comes with the switch: a copy that fails its checks is deleted
        deletion_protection: false,
        ..hardening_of(&state)
    };
    let stamp = stamp();
    let target = empi_engine::blueprint::restored_database_identifier(&stack, &stamp);
    let mut tags: Vec<(String, String)> =
        stack.resource_tags(DATABASE_INSTANCE, &target).into_iter().collect();
    tags.push((DRILL_TAG.into(), owner.clone()));
    let restored_to = format_time(&to);
    progress(&format!(
        "restoring {source} to {restored_to} as {target} (the stack's subnet group, security groups, parameter group and key; not public)"
    ));
    let t0 = Instant::now();
    restore::restore(rds, &source, &target, Some(to), &hardening, &tags)
        .await
        .map_err(|e| anyhow!("RDS refused the restore of {source} to {restored_to}: {e}"))?;
    let job = format!("restore-validate-{stamp}");
    let outcome = validate(
        &session,
        &cloud,
        &state,
        Copy { instance: &target, job: &job },
        &hardening,
        &src,
        &progress,
    )
    .await;
    let rto_seconds = (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let checks = match outcome {
        Ok(c) => c,
        Err(e) => {
            discard(rds, &target, args.keep).await;
            return Err(e);
        }
    };
    let mut report = Report {
        started_at: started_at.clone(),
        restored_instance: target.clone(),
        source_instance: source.clone(),
        restored_to_time: restored_to.clone(),
        rto_seconds,
        checks,
        switched: false,
    };
    keep_going(outln!("Restored {source} to {restored_to} as {target}:"))?;
    for c in &report.checks {
        keep_going(outln!("  {} {:<18} {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail))?;
    }
    if !report.checks.iter().all(|c| c.ok) {
        keep_going(outln!("A check failed: the application stays on {source}; nothing switched."))?;
        discard(rds, &target, args.keep).await;
        keep_report(&session, &report).await?;
        return Ok(ExitCode::from(2));
    }

    // the switch, as a plan of the stack over the state that records the restored instance
    let old = state.resources.get(DATABASE_INSTANCE).expect("recorded above");
    let old_arn = old.outputs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
    let at = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut next = state.clone();
    next.serial += 1;
    let log_group = next
        .resources
        .remove(DATABASE_LOG_GROUP)
        .and_then(|r| r.id.or(Some(r.name)))
        .unwrap_or_default();
    // recorded as RDS describes it (a restore does not carry every setting: performance insights,
    // log exports), so that the switch's plan sets what the stack has and the copy lacks
    let db = next.resources.get_mut(DATABASE_INSTANCE).expect("recorded above");
    let provider = cloud
        .registry
        .get(empi_engine::kinds::rds::INSTANCE.kind)
        .ok_or_else(|| anyhow!("no provider of RDS instances"))?;
    let observed = provider
        .read(&target, &db.attrs)
        .await
        .map_err(|e| anyhow!("cannot read the restored instance {target}: {e}"))?
        .ok_or_else(|| anyhow!("the restored instance {target} disappeared"))?;
    db.id = Some(target.clone());
    db.name = target.clone();
    db.attrs = observed.attrs;
    db.outputs = observed.outputs;
    let replaced = ReplacedDatabase {
        instance: source.clone(),
        arn: old_arn.clone(),
        replaced_by: target.clone(),
        at: at.clone(),
        log_group: log_group.clone(),
    };
    next.facts.insert(RESTORED_DATABASE_FACT.into(), json!(target));
    next.facts.insert(REPLACED_DATABASE_FACT.into(), serde_json::to_value(&replaced)?);
    session.stack.database.restored_identifier = target.clone();
    let mut plan = plan_of(&session, &cloud, &next, parallelism).await?;
    plan.facts = placement.facts;
    plan.facts.insert(RESTORED_DATABASE_FACT.into(), json!(target));
    crate::history::note_plan(&plan);
    keep_going(out!(
        "\n{}",
        empi_engine::redact::values(&render_text_with(&plan, &RenderOptions { verbose: false }))
    ))?;
    keep_going(outln!(
        "\nThe switch: state records {target} as the stack's database and the plan above is applied (the config secret's db.host, the database-role Job run against it, the backend pods rolled). {source} is kept, with deletion protection and the tag {REPLACED_TAG}, until `empi-infra db restore --finalize`; its log group {log_group} is kept with its retention."
    ))?;
    if let Err(e) = ops::check_stateful(&plan, &[]) {
        discard(rds, &target, args.keep).await;
        return Err(anyhow!("{e}; nothing switched"));
    }
    if !args.auto_approve
        && !confirm(&format!("\nSwitch the application of stack {:?} to {target}?", stack.name))?
    {
        keep_going(outln!("Not switched: the application stays on {source}."))?;
        discard(rds, &target, args.keep).await;
        return Ok(ExitCode::from(1));
    }
    progress(&format!("keeping {source}: deletion protection on, tagged {REPLACED_TAG}"));
    restore::keep_replaced(rds, &source, &old_arn, &format!("{target} at {at}"))
        .await
        .map_err(|e| anyhow!("cannot protect {source} before the switch: {e}; nothing switched"))?;
    session.backend.save(&next).await.context("the switch could not be written to state")?;
    // from here on state records the copy: what fails is finished by the next `apply`
    let finish =
        "state records it as the stack's database; run `empi-infra apply` to finish the switch";
    // no drill or destroy may take it for a leftover copy, and it is protected at once when the
    // stack protects its database
    if let Some(arn) = next.resources[DATABASE_INSTANCE].outputs.get("arn").and_then(Value::as_str)
    {
        if let Err(e) = restore::untag(rds, arn, DRILL_TAG).await {
            eprintln!("warning: cannot remove the tag {DRILL_TAG} from {target} ({e}); {finish}");
        }
    }
    if stack.database.deletion_protection {
        if let Err(e) = restore::protect(rds, &target).await {
            eprintln!("warning: cannot turn on deletion protection of {target} ({e}); {finish}");
        }
    }
    report.switched = true;
    if let Err(e) = keep_report(&session, &report).await {
        eprintln!("warning: {e:#}");
    }
    let code = execute(&session, &plan, &cloud.registry, next, args.parallelism, "Restore").await?;
    if code == ExitCode::SUCCESS {
        keep_going(outln!(
            "The application now uses {target}, restored to {restored_to}. {source} is kept until `empi-infra db restore --finalize`."
        ))?;
    } else {
        eprintln!("State records {target} as the stack's database; run `empi-infra apply` to finish the switch.");
    }
    Ok(code)
}

/// Deletes a restored copy that is not switched to (unless `keep`); on failure it keeps its drill
/// tag, so that the next drill removes it.
async fn discard(rds: &aws_sdk_rds::Client, id: &str, keep: bool) {
    if keep {
        progress(&format!("keeping {id} (--keep); the next drill deletes it"));
        return;
    }
    progress(&format!("deleting {id}"));
    let done = match restore::delete(rds, id).await {
        Ok(()) => restore::wait(rds, id, true, DELETE_DEADLINE, &progress).await.map(|_| ()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = done {
        eprintln!("warning: cannot delete the restored copy {id} ({e}); the next drill deletes it");
    }
}

async fn keep_report(session: &Session, report: &Report) -> Result<()> {
    let body = serde_json::to_vec_pretty(report)?;
    session
        .backend
        .put_record("restores", &format!("{}.json", report.restored_instance), &body)
        .await
        .context("the restore's report could not be kept beside the state")?;
    Ok(())
}

/// `db restore --finalize`: the instance an earlier `db restore` replaced gets a final snapshot and
/// is deleted, after its ownership is checked (this stack's tags and the replaced-by tag).
pub async fn finalize(path: &Option<PathBuf>, args: RestoreArgs) -> Result<ExitCode> {
    let Begun { session, lock, state, cloud, placement: _ } =
        Session::begin(path, "db restore --finalize", VersionChange::default()).await?;
    let stack = &session.stack;
    let Some(r) = replaced_database(&state) else {
        keep_going(outln!(
            "Nothing to finalize: no `db restore` of stack {:?} left a replaced instance.",
            stack.name
        ))?;
        return Ok(ExitCode::SUCCESS);
    };
    // the old instance goes only once the application is on the new one: the switch's apply
    // finished (a plan of the stack is a no-op)
    let plan = plan_of(&session, &cloud, &state, args.parallelism as usize).await?;
    if let Some(pending) = pending(&plan) {
        return Err(fix(
            format!(
                "the stack has changes not applied yet ({pending}), so the switch to {} may not be finished and {} may still be in use",
                r.replaced_by,
                r.instance
            ),
            "run `empi-infra apply` first, then `db restore --finalize` again",
        ));
    }
    crate::history::start(
        session.backend.clone(),
        stack,
        "db restore --finalize",
        &cloud.caller,
        lock.id(),
    )
    .await;
    let rds = &cloud.clients.rds;
    let final_snapshot = format!("{}-final-{}", r.instance, stamp());
    match restore::describe(rds, &r.instance).await.map_err(|e| anyhow!("{e}"))? {
        None => progress(&format!("{} is gone already", r.instance)),
        // an earlier --finalize got this far: its deletion is waited for
        Some(d) if d.db_instance_status() == Some("deleting") => {
            progress(&format!("{} is being deleted already; waiting", r.instance));
            restore::wait(rds, &r.instance, true, FINALIZE_DEADLINE, &progress)
                .await
                .map_err(|e| anyhow!(e))?;
        }
        Some(d) => {
            let tag =
                |k: &str| d.tag_list().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value());
            let ours = tag(empi_engine::stack::TAG_STACK) == Some(stack.name.as_str())
                && tag(empi_engine::stack::TAG_REGION) == Some(stack.region.as_str())
                && tag(REPLACED_TAG).is_some_and(|v| v.starts_with(&r.replaced_by));
            if !ours
                || state.resources.get(DATABASE_INSTANCE).and_then(|x| x.id.as_deref())
                    == Some(r.instance.as_str())
            {
                return Err(fix(
                    format!(
                        "{} is not provably the instance `db restore` replaced for stack {:?} (its tags {} = {:?}, {} = {:?}), so it is left alone",
                        r.instance,
                        stack.name,
                        empi_engine::stack::TAG_STACK,
                        tag(empi_engine::stack::TAG_STACK),
                        REPLACED_TAG,
                        tag(REPLACED_TAG)
                    ),
                    "delete it yourself once you are sure, or look at the state's fact `database_replaced`",
                ));
            }
            keep_going(outln!(
                "Finalize the restore of stack {:?}: {} (replaced by {} at {}) gets the final snapshot {final_snapshot} and is deleted; its automated backups are kept for their retention period.",
                stack.name, r.instance, r.replaced_by, r.at
            ))?;
            if !args.auto_approve && !confirm("\nDelete it?")? {
                keep_going(outln!("Not finalized: {} is kept.", r.instance))?;
                return Ok(ExitCode::from(1));
            }
            restore::delete_replaced(rds, &r.instance, &final_snapshot)
                .await
                .map_err(|e| anyhow!("cannot delete {}: {e}", r.instance))?;
            progress(&format!("deleting {} after its final snapshot {final_snapshot}", r.instance));
            restore::wait(rds, &r.instance, true, FINALIZE_DEADLINE, &progress)
                .await
                .map_err(|e| anyhow!(e))?;
        }
    }
    let mut next = state.clone();
    next.serial += 1;
    next.facts.remove(REPLACED_DATABASE_FACT);
    session.backend.save(&next).await?;
    keep_going(outln!(
        "Finalized: {} is deleted (final snapshot {final_snapshot}); its log group {} is kept with its retention.",
        r.instance, r.log_group
    ))?;
    Ok(ExitCode::SUCCESS)
}
