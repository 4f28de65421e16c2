//! `db restore-drill`: the stack's backups proven by a restore. The database is restored to a new
//! instance hardened as the stack's own, checked from inside the cluster as the application
//! connects to it, timed (restore call to validated), deleted, and the report kept beside the
//! state. Nothing of the stack changes: its state is not written, and the drill instance is found
//! again by its tag (by the next drill) if this one is cut short.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use empi_engine::blueprint::{workloads, DATABASE_INSTANCE, EKS_CLUSTER};
use empi_engine::state::State;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::restore::{self, Hardening};
use crate::cli::RestoreDrillArgs;
use crate::errors::fix;
use crate::session::Session;

/// The longest a restore takes before the drill gives up on it (RDS: minutes per 100 GB).
const RESTORE_DEADLINE: Duration = Duration::from_secs(90 * 60);
/// The longest the validation Job may take.
const VALIDATION_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// The longest the drill instance's deletion is waited for.
const DELETE_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// One check of the restored copy.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// What a drill found: the report printed (`--json`) and kept beside the state.
#[derive(Debug, Serialize)]
pub struct Report {
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

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check { name: name.into(), ok, detail: detail.into() }
}

/// An attribute of a recorded resource, as a string.
fn recorded<'a>(state: &'a State, address: &str, attr: &str) -> Option<&'a Value> {
    state.resources.get(address).and_then(|r| r.attrs.get(attr).or_else(|| r.outputs.get(attr)))
}

pub async fn restore_drill(stack: &Option<PathBuf>, args: RestoreDrillArgs) -> Result<ExitCode> {
    let to = match &args.to {
        None => None,
        Some(t) => Some(
            aws_sdk_rds::primitives::DateTime::from_str(
                t,
                aws_sdk_rds::primitives::DateTimeFormat::DateTime,
            )
            .map_err(|_| {
                fix(
                    format!("--to {t:?} is not a time"),
                    "write it in RFC 3339, e.g. --to 2026-12-01T09:30:00Z",
                )
            })?,
        ),
    };
    let session = Session::open(stack).await?;
    session.refuse_while_locked("db restore-drill").await?;
    let state = session.backend.load().await?;
    let source =
        state.resources.get(DATABASE_INSTANCE).and_then(|r| r.id.clone()).ok_or_else(|| {
            fix(
                format!("state records no database for stack {:?}", session.stack.name),
                "run `empi-infra apply` first (or check --stack)",
            )
        })?;
    let text = |address: &str, attr: &str| {
        recorded(&state, address, attr).and_then(Value::as_str).unwrap_or_default().to_string()
    };
    let hardening = Hardening {
        subnet_group: text(DATABASE_INSTANCE, "db_subnet_group_name"),
        security_groups: recorded(&state, DATABASE_INSTANCE, "vpc_security_group_ids")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        parameter_group: text(DATABASE_INSTANCE, "db_parameter_group_name"),
        kms_key: text(DATABASE_INSTANCE, "kms_key_id"),
        instance_class: text(DATABASE_INSTANCE, "instance_class"),
    };
    let cloud = session.connect().await?;
    let rds = &cloud.clients.rds;
    let stack = &session.stack;
    let owner = format!("{}/{}", stack.name, stack.region);

    // what a drill cut short left behind goes first (found by its tag, never by its name)
    for (left, deleting) in restore::drills_of(rds, &owner).await.map_err(|e| anyhow!("{e}"))? {
        if deleting {
            continue;
        }
        progress(&format!("deleting {left}, left by an earlier drill"));
        restore::delete(rds, &left).await.map_err(|e| anyhow!("cannot delete {left}: {e}"))?;
    }

    let src = restore::describe(rds, &source)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| anyhow!("the database {source} that state records does not exist"))?;
    // the time restored to is named in the call, so that the report says the time RDS used
    let to = to.or(src.latest_restorable_time().copied());
    let restored_to = to
        .map(|t| t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime).unwrap_or_default())
        .unwrap_or_default();
    let stamp = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string();
    let drill = format!("{source}-drill-{stamp}");
    let tags: Vec<(String, String)> =
        stack.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    progress(&format!(
        "restoring {source} to {} as {drill} (its subnet group, security groups, parameter group and key; not public)",
        if restored_to.is_empty() { "its latest restorable time" } else { &restored_to }
    ));
    let t0 = Instant::now();
    restore::restore(rds, &source, &drill, to, &hardening, &owner, &tags)
        .await
        .map_err(|e| anyhow!("RDS refused the restore of {source}: {e}"))?;

    // from here on the drill instance exists: whatever happens, it is deleted (unless --keep)
    let outcome = validate(&session, &cloud, &state, &drill, &hardening, &src, &progress).await;
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

/// Waits for the drill instance, checks its hardening from RDS's own description, and has a Job in
/// the cluster check the copy as the application connects to it.
async fn validate(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
    drill: &str,
    hardening: &Hardening,
    source: &aws_sdk_rds::types::DbInstance,
    progress: &dyn Fn(&str),
) -> Result<Vec<Check>> {
    let rds = &cloud.clients.rds;
    let d = restore::wait(rds, drill, false, RESTORE_DEADLINE, progress)
        .await
        .map_err(|e| anyhow!(e))?
        .expect("waited for available");
    progress(&format!("{drill} is available; checking it"));
    let mut checks = Vec::new();
    let subnet = d.db_subnet_group().and_then(|g| g.db_subnet_group_name()).unwrap_or_default();
    checks.push(check(
        "subnet group",
        subnet == hardening.subnet_group,
        format!("{subnet} (the stack's: {})", hardening.subnet_group),
    ));
    let mut sgs: Vec<String> = d
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(String::from))
        .collect();
    sgs.sort();
    let mut want = hardening.security_groups.clone();
    want.sort();
    checks.push(check(
        "security groups",
        sgs == want,
        format!("{} (the stack's: {})", sgs.join(", "), want.join(", ")),
    ));
    let pg = d
        .db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name())
        .unwrap_or_default();
    checks.push(check(
        "parameter group",
        pg == hardening.parameter_group,
        format!("{pg} (the stack's: {}, TLS only)", hardening.parameter_group),
    ));
    let key = d.kms_key_id().unwrap_or_default();
    let encrypted =
        d.storage_encrypted().unwrap_or(false) && key == source.kms_key_id().unwrap_or_default();
    checks.push(check("encryption", encrypted, format!("encrypted with {key}")));
    let public = d.publicly_accessible().unwrap_or(true);
    checks.push(check(
        "not public",
        !public,
        if public { "publicly accessible" } else { "private" },
    ));

    // from inside the cluster: the database is private
    let endpoint =
        d.endpoint().ok_or_else(|| anyhow!("the drill instance {drill} has no endpoint"))?;
    let host = endpoint.address().unwrap_or_default().to_string();
    let port = endpoint.port().unwrap_or(5432) as u16;
    checks.extend(in_cluster(session, cloud, state, drill, &host, port, progress).await?);
    Ok(checks)
}

/// Runs the validation Job in the application's namespace and reads its report (its pod's
/// termination message); the Job is deleted afterwards.
async fn in_cluster(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
    drill: &str,
    host: &str,
    port: u16,
    progress: &dyn Fn(&str),
) -> Result<Vec<Check>> {
    let stack = &session.stack;
    let out = |a: &str, o: &str| {
        state.resources.get(a).and_then(|r| r.outputs.get(o)).cloned().unwrap_or(Value::Null)
    };
    let cluster = json!({
        "name": out(EKS_CLUSTER, "name"),
        "endpoint": out(EKS_CLUSTER, "endpoint"),
        "certificate_authority": out(EKS_CLUSTER, "certificate_authority"),
    });
    let config_arn = out("config.secret", "arn");
    let conn = crate::k8s::Connection::new(
        &stack.name,
        crate::k8s::kubeconfig(stack)?,
        cloud.clients.sdk.clone(),
        stack.region.clone(),
    );
    let client = conn.client(&cluster).await.map_err(|e| anyhow!("{e}"))?;
    let name = format!("restore-drill-{}", drill.rsplit('-').next().unwrap_or("0"));
    // the newest migration of the version running, as state records it (the stack file may
    // already name the next one)
    let running = state
        .facts
        .get(crate::session::TUVA_FACT)
        .and_then(Value::as_str)
        .and_then(|v| empi_engine::tuva::classify(v).ok())
        .unwrap_or_else(|| stack.app.tuva.clone());
    let mut manifest = workloads::restore_validation_job(
        stack,
        &name,
        config_arn.as_str().unwrap_or_default(),
        host,
        port,
        running.last_migration.as_deref(),
    );
    manifest["metadata"]["labels"][crate::k8s::STACK_LABEL] = json!(stack.name);
    manifest["metadata"]["labels"][crate::k8s::REGION_LABEL] = json!(stack.region);
    let job: Job = serde_json::from_value(manifest)?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &stack.app.namespace);
    jobs.create(&PostParams::default(), &job).await.map_err(|e| {
        anyhow!("cannot start the validation Job {}/{name}: {e}", stack.app.namespace)
    })?;
    progress(&format!("validation Job {}/{name} started", stack.app.namespace));
    let result = job_report(&jobs, &client, &stack.app.namespace, &name).await;
    // removed whatever happened (and by Kubernetes an hour after it ended, should this fail)
    let _ = jobs.delete(&name, &DeleteParams::background()).await;
    result
}

/// Waits for the validation Job and reads its report from its pod's termination message.
async fn job_report(
    jobs: &Api<Job>,
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<Check>> {
    let t0 = Instant::now();
    let finished = loop {
        let j = jobs.get(&name).await.map_err(|e| anyhow!("cannot read the Job {name}: {e}"))?;
        let conds = j.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        if let Some(c) = conds
            .iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        {
            break c.type_.clone();
        }
        if t0.elapsed() > VALIDATION_DEADLINE {
            break format!("still running after {} minutes", VALIDATION_DEADLINE.as_secs() / 60);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .map_err(|e| anyhow!("cannot list the pods of the Job {name}: {e}"))?;
    let message = listed
        .items
        .iter()
        .flat_map(|p| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()))
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.message.clone())
        .find(|m| !m.trim().is_empty());
    let reported: Option<Vec<Check>> = message
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .and_then(|v| serde_json::from_value(v["checks"].clone()).ok());
    Ok(match reported {
        Some(checks) if !checks.is_empty() => checks,
        _ => vec![check(
            "in-cluster validation",
            false,
            format!(
                "the Job {name} ended {finished} without a report (its pod's termination message)"
            ),
        )],
    })
}
