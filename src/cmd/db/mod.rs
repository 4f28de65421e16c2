//! `db`: the stack's database proven by restores (`restore-drill`, in `drill`) and recovered
//! by one (`restore`, `restore --finalize`, in `restore`). What both share is here: the hardening a
//! restored instance must have, read from state, and its validation (RDS's description, then a Job
//! in the cluster that connects as the application does).

mod drill;
mod restore;

pub use drill::restore_drill;
pub use restore::{finalize, restore};

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use empi_engine::blueprint::{workloads, DATABASE_INSTANCE, EKS_CLUSTER};
use empi_engine::resource::Expr;
use empi_engine::state::State;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::restore::{self as rds_restore, Hardening};
use crate::errors::fix;
use crate::session::Session;

/// The longest a restore takes before the command gives up on it (RDS: minutes per 100 GB).
const RESTORE_DEADLINE: Duration = Duration::from_secs(90 * 60);
/// The longest the validation Job may take.
const VALIDATION_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// The longest a database-role Job (a rotation's, a restored copy's set-up) may take.
const JOB_DEADLINE: Duration = Duration::from_secs(10 * 60);
/// The longest an instance's deletion is waited for.
const DELETE_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// One check of the restored copy.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check { name: name.into(), ok, detail: detail.into() }
}

/// An attribute of a recorded resource, as a string.
fn recorded<'a>(state: &'a State, address: &str, attr: &str) -> Option<&'a Value> {
    state.resources.get(address).and_then(|r| r.attrs.get(attr).or_else(|| r.outputs.get(attr)))
}

/// `--to`: an RFC 3339 time.
fn parse_time(t: &str) -> Result<aws_sdk_rds::primitives::DateTime> {
    aws_sdk_rds::primitives::DateTime::from_str(
        t,
        aws_sdk_rds::primitives::DateTimeFormat::DateTime,
    )
    .map_err(|_| {
        fix(
            format!("--to {t:?} is not a time"),
            "write it in RFC 3339, e.g. --to 2026-12-01T09:30:00Z",
        )
    })
}

/// A time as RDS takes it, in RFC 3339.
fn format_time(t: &aws_sdk_rds::primitives::DateTime) -> String {
    t.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime).unwrap_or_default()
}

/// `yyyymmddhhmmss` now: the suffix of a restored instance's identifier.
fn stamp() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%d%H%M%S").to_string()
}

/// The identifier of the database state records, or the fix.
fn recorded_database(session: &Session, state: &State) -> Result<String> {
    state.resources.get(DATABASE_INSTANCE).and_then(|r| r.id.clone()).ok_or_else(|| {
        fix(
            format!("state records no database for stack {:?}", session.stack.name),
            "run `empi-infra apply` first (or check --stack)",
        )
    })
}

/// What a restored instance must have to be hardened as the stack's database, as state records it.
fn hardening_of(state: &State) -> Hardening {
    let text = |attr: &str| {
        recorded(state, DATABASE_INSTANCE, attr)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Hardening {
        subnet_group: text("db_subnet_group_name"),
        security_groups: recorded(state, DATABASE_INSTANCE, "vpc_security_group_ids")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        parameter_group: text("db_parameter_group_name"),
        kms_key: text("kms_key_id"),
        instance_class: text("instance_class"),
        ..Hardening::default()
    }
}

/// Deletes the drill instances of the stack a cut-short drill or restore left (found by their
/// tag, never by name; never the instance state records as the stack's database).
async fn delete_leftovers(
    rds: &aws_sdk_rds::Client,
    owner: &str,
    recorded: &str,
    progress: &dyn Fn(&str),
) -> Result<()> {
    for (left, deleting) in
        rds_restore::drills_of(rds, owner, recorded).await.map_err(|e| anyhow!("{e}"))?
    {
        if deleting {
            continue;
        }
        progress(&format!("deleting {left}, left by an earlier drill or restore"));
        rds_restore::delete(rds, &left).await.map_err(|e| anyhow!("cannot delete {left}: {e}"))?;
    }
    Ok(())
}

/// A restored copy to check: its instance, and the name of the Job that checks it in the cluster.
pub(crate) struct Copy<'a> {
    pub instance: &'a str,
    pub job: &'a str,
}

/// Waits for the restored instance, checks its hardening from RDS's own description, and has a
/// Job in the cluster check the copy as the application connects to it.
pub(crate) async fn validate(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
    copy: Copy<'_>,
    hardening: &Hardening,
    source: &aws_sdk_rds::types::DbInstance,
    progress: &dyn Fn(&str),
) -> Result<Vec<Check>> {
    let (drill, job) = (copy.instance, copy.job);
    let rds = &cloud.clients.rds;
    let d = rds_restore::wait(rds, drill, false, RESTORE_DEADLINE, progress)
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
    // the copy may be from before a `rotate db-password`: the login role the config names gets
    // its current password there, and the other one loses the password it had then
    let current = empi_engine::blueprint::db_login(&session.stack);
    let other = empi_engine::blueprint::DB_APP_LOGINS
        .iter()
        .find(|l| **l != current)
        .copied()
        .unwrap_or_default();
    let manifest = role_job(
        session,
        state,
        &format!("{job}-role"),
        json!([
            {"name": "DATABASE_HOST", "value": host},
            {"name": "DATABASE_PORT", "value": port.to_string()},
            {"name": "DATABASE_RETIRE_LOGIN", "value": other},
        ]),
    )?;
    if let Err(e) = run_job(session, cloud, state, manifest).await {
        checks.push(check("application role", false, format!("{e:#}")));
        return Ok(checks);
    }
    progress(&format!("the login role {current} set up in {drill}"));
    checks.push(check(
        "application role",
        true,
        format!("{current} has the config secret's password; {other} has none"),
    ));
    checks.extend(in_cluster(session, cloud, state, job, &host, port, progress).await?);
    Ok(checks)
}

/// Runs the validation Job in the application's namespace and reads its report (its pod's
/// termination message); the Job is deleted afterwards.
async fn in_cluster(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
    name: &str,
    host: &str,
    port: u16,
    progress: &dyn Fn(&str),
) -> Result<Vec<Check>> {
    let stack = &session.stack;
    let client = cluster_client(session, cloud, state).await?;
    let config_arn =
        state.resources.get("config.secret").and_then(|r| r.outputs.get("arn")).cloned();
    let config_arn = config_arn.unwrap_or(Value::Null);
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
        name,
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
    let result = job_report(&jobs, &client, &stack.app.namespace, name).await;
    // removed whatever happened (and by Kubernetes an hour after it ended, should this fail)
    let _ = jobs.delete(name, &DeleteParams::background()).await;
    result
}

/// A database-role Job named `name` with `extra_env`, its references resolved from state.
pub(crate) fn role_job(
    session: &Session,
    state: &State,
    name: &str,
    extra_env: Value,
) -> Result<Value> {
    let stack = &session.stack;
    let template = workloads::database_role_job_with(stack, name, extra_env);
    let outputs = |a: &str, o: &str| state.resources.get(a).and_then(|r| r.outputs.get(o).cloned());
    let mut manifest = Expr::template(template)
        .resolve(&outputs)
        .ok_or_else(|| anyhow!("state lacks what the Job {name} needs (the database's master secret, the config secret)"))?;
    manifest["metadata"]["labels"][crate::k8s::STACK_LABEL] = json!(stack.name);
    manifest["metadata"]["labels"][crate::k8s::REGION_LABEL] = json!(stack.region);
    Ok(manifest)
}

/// Runs a Job in the application's namespace to its end; an error (with what its pod said) when
/// it fails. The Job is deleted afterwards.
pub(crate) async fn run_job(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
    manifest: Value,
) -> Result<()> {
    let ns = &session.stack.app.namespace;
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let client = cluster_client(session, cloud, state).await?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    jobs.create(&PostParams::default(), &serde_json::from_value(manifest)?)
        .await
        .map_err(|e| anyhow!("cannot start the Job {ns}/{name}: {e}"))?;
    eprintln!("Job {ns}/{name} started");
    let (finished, message) = wait_job(&jobs, &client, ns, &name, JOB_DEADLINE).await?;
    // a failed Job is kept for its logs (Kubernetes removes it an hour after it ended)
    if finished == "Complete" {
        let _ = jobs.delete(&name, &DeleteParams::background()).await;
    }
    let said =
        message.map(|m| empi_engine::redact::values(m.trim()).to_string()).unwrap_or_default();
    if finished == "Complete" {
        eprintln!(
            "Job {ns}/{name} done{}",
            if said.is_empty() { String::new() } else { format!(": {}", said.replace('\n', "; ")) }
        );
        Ok(())
    } else {
        Err(anyhow!(
            "the Job {ns}/{name} ended {finished}: {}",
            if said.is_empty() {
                format!("its pod said nothing; `kubectl -n {ns} logs job/{name}` shows its output")
            } else {
                said.replace('\n', "; ")
            }
        ))
    }
}

/// A client of the stack's cluster, from what state records of it.
pub(crate) async fn cluster_client(
    session: &Session,
    cloud: &crate::session::Connected,
    state: &State,
) -> Result<kube::Client> {
    let stack = &session.stack;
    let out = |a: &str, o: &str| {
        state.resources.get(a).and_then(|r| r.outputs.get(o)).cloned().unwrap_or(Value::Null)
    };
    let cluster = json!({
        "name": out(EKS_CLUSTER, "name"),
        "endpoint": out(EKS_CLUSTER, "endpoint"),
        "certificate_authority": out(EKS_CLUSTER, "certificate_authority"),
    });
    let conn = crate::k8s::Connection::new(
        &stack.name,
        crate::k8s::kubeconfig(stack)?,
        cloud.clients.sdk.clone(),
        stack.region.clone(),
    );
    conn.client(&cluster).await.map_err(|e| anyhow!("{e}"))
}

/// How a Job ended: `Complete`, `Failed`, or `still running after N minutes`, and its pod's
/// termination message (what its script reported).
pub(crate) async fn wait_job(
    jobs: &Api<Job>,
    client: &kube::Client,
    namespace: &str,
    name: &str,
    deadline: Duration,
) -> Result<(String, Option<String>)> {
    let t0 = Instant::now();
    let finished = loop {
        let j = jobs.get(name).await.map_err(|e| anyhow!("cannot read the Job {name}: {e}"))?;
        let conds = j.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        if let Some(c) = conds
            .iter()
            .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        {
            break c.type_.clone();
        }
        if t0.elapsed() > deadline {
            break format!("still running after {} minutes", deadline.as_secs() / 60);
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
    Ok((finished, message))
}

/// Waits for the validation Job and reads its report from its pod's termination message.
async fn job_report(
    jobs: &Api<Job>,
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<Check>> {
    let (finished, message) = wait_job(jobs, client, namespace, name, VALIDATION_DEADLINE).await?;
    Ok(report_of(name, &finished, message))
}

/// The checks a validation Job reported, or one failed check saying it reported none.
fn report_of(name: &str, finished: &str, message: Option<String>) -> Vec<Check> {
    let reported: Option<Vec<Check>> = message
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .and_then(|v| serde_json::from_value(v["checks"].clone()).ok());
    match reported {
        Some(checks) if !checks.is_empty() => checks,
        _ => vec![check(
            "in-cluster validation",
            false,
            format!(
                "the Job {name} ended {finished} without a report (its pod's termination message)"
            ),
        )],
    }
}
