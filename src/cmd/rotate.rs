//! `rotate db-password|django-key`: a generated secret of the config secret rotated with the
//! application running, shown as a plan first, then done in an order in which no pod is ever given
//! a credential PostgreSQL refuses.
//!
//! `db-password` alternates the application's two login roles (Secrets Manager's
//! alternating-users strategy): a new version of the config secret naming the other role with a
//! new password is staged as AWSPENDING (pods keep reading AWSCURRENT); a Job gives that role the
//! password; only then is the new version made AWSCURRENT (the old one stays as AWSPREVIOUS), state
//! records the switch and the stack is applied, which runs the database-role Job for the new role
//! and rolls the backend pods onto it. Once no pod that read the old credential is left, a last
//! Job removes the old role's password. Pods already running keep working until they are replaced,
//! since their role keeps its password until then.
//!
//! `django-key`: a new key as the current version (the old one as AWSPREVIOUS), and the backend
//! pods rolled onto it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use empi_engine::blueprint::{self, workloads};
use empi_engine::plan::{render_text_with, Plan, RenderOptions};
use empi_engine::state::State;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};

use crate::aws::secrets;
use crate::cli::{RotateArgs, RotatedSecret, VersionChange};
use crate::cmd::apply::{confirm, execute};
use crate::cmd::db::{cluster_client, role_job, run_job};
use crate::cmd::{pending, plan_of};
use crate::errors::fix;
use crate::out::keep_going;
use crate::session::{now_rfc3339, Begun, Connected, Session, SECRET_ROTATIONS_FACT};

/// The longest the pods that read the old credential are waited for after the rollout (their
/// termination grace period, a matching job in hand).
const OLD_PODS_DEADLINE: Duration = Duration::from_secs(30 * 60);

fn progress(msg: &str) {
    eprintln!("rotate: {msg}");
}

pub async fn run(path: &Option<PathBuf>, args: RotateArgs) -> Result<ExitCode> {
    let what = match args.secret {
        RotatedSecret::DbPassword => "db-password",
        RotatedSecret::DjangoKey => "django-key",
    };
    let Begun { mut session, lock, state, cloud, placement } =
        Session::begin(path, &format!("rotate {what}"), VersionChange::default()).await?;
    crate::history::start(
        session.backend.clone(),
        &session.stack,
        &format!("rotate {what}"),
        &cloud.caller,
        lock.id(),
    )
    .await;
    let config_arn = state
        .resources
        .get("config.secret")
        .and_then(|r| r.outputs.get("arn"))
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            fix(
                format!("state records no config secret for stack {:?}", session.stack.name),
                "run `empi-infra apply` first (or check --stack)",
            )
        })?;
    let parallelism = args.parallelism as usize;
    // the rotation applies the stack: it must change nothing else
    if let Some(pending) = pending(&plan_of(&session, &cloud, &state, parallelism).await?) {
        return Err(fix(
            format!("the stack has changes not applied yet ({pending}), and a rotation applies the stack"),
            "apply them first (or bring the stack file back to what is applied), then rotate again",
        ));
    }

    let at = now_rfc3339();
    let old_login = blueprint::db_login(&session.stack).to_string();
    let mut rotations = session.stack.security.secrets.clone();
    match args.secret {
        RotatedSecret::DbPassword => {
            rotations.db_password_set = at.clone();
            rotations.db_login = blueprint::next_db_login(&session.stack).to_string();
        }
        RotatedSecret::DjangoKey => rotations.django_key_set = at.clone(),
    }
    let new_login = match args.secret {
        RotatedSecret::DbPassword => rotations.db_login.clone(),
        RotatedSecret::DjangoKey => old_login.clone(),
    };
    session.stack.security.secrets = rotations.clone();
    let mut next = state.clone();
    next.serial += 1;
    next.facts.insert(SECRET_ROTATIONS_FACT.into(), serde_json::to_value(&rotations)?);
    let mut plan = plan_of(&session, &cloud, &next, parallelism).await?;
    plan.facts = placement.facts;
    plan.facts.insert(SECRET_ROTATIONS_FACT.into(), serde_json::to_value(&rotations)?);
    crate::history::note_plan(&plan);
    keep_going(out!(
        "{}",
        empi_engine::redact::values(&render_text_with(&plan, &RenderOptions { verbose: false }))
    ))?;
    keep_going(outln!("\n{}", procedure(args.secret, &old_login, &new_login)))?;
    if !args.auto_approve
        && !confirm(&format!("\nRotate {what} of stack {:?}?", session.stack.name))?
    {
        keep_going(outln!("Not rotated."))?;
        return Ok(ExitCode::from(1));
    }
    let client = &cloud.clients.secrets;
    match args.secret {
        RotatedSecret::DbPassword => {
            let password = secrets::new_db_password();
            let (version, current) = secrets::stage_pending(client, &config_arn, |doc| {
                doc["db"]["user"] = json!(new_login);
                doc["db"]["password"] = json!(password);
            })
            .await
            .map_err(|e| anyhow!("cannot stage a new version of {config_arn}: {e}"))?;
            progress(&format!("new credential staged (version {version}, AWSPENDING) for the login role {new_login}"));
            let set = format!("rotate-db-{}", stamp(&at));
            let manifest = role_job(
                &session,
                &state,
                &set,
                json!([{"name": "CONFIG_VERSION_STAGE", "value": secrets::PENDING}]),
            )?;
            if let Err(e) = run_job(&session, &cloud, &state, manifest).await {
                if let Err(u) = secrets::unstage(client, &config_arn, &version).await {
                    eprintln!("warning: cannot take AWSPENDING off version {version} of {config_arn}: {u}");
                }
                return Err(e.context(format!(
                    "the login role {new_login} could not be given the new password; nothing switched: pods keep {old_login}"
                )));
            }
            if let Err(e) = secrets::promote(client, &config_arn, &version, &current).await {
                if let Err(u) = secrets::unstage(client, &config_arn, &version).await {
                    eprintln!("warning: cannot take AWSPENDING off version {version} of {config_arn}: {u}");
                }
                return Err(anyhow!(
                    "cannot make version {version} of {config_arn} current: {e}; nothing switched: pods keep {old_login}"
                ));
            }
            progress(&format!(
                "version {version} is AWSCURRENT ({new_login}); {current} is AWSPREVIOUS"
            ));
            // switched: from here the secret names the new login, and the next plan follows it
            if let Err(u) = secrets::unstage(client, &config_arn, &version).await {
                eprintln!("warning: cannot take AWSPENDING off version {version} of {config_arn} (it is current all the same): {u}");
            }
            let code = switch(&session, &cloud, &plan, next, args.parallelism).await?;
            if code != ExitCode::SUCCESS {
                eprintln!("The config secret names {new_login}, which PostgreSQL accepts; {old_login} keeps its password. Run `empi-infra apply` to roll the pods onto it; the next `rotate db-password` replaces the old password.");
                return Ok(code);
            }
            // the pods made before the database-role Job of the switch (the server's clock) may
            // have read the old credential; the rollout's pods come after it
            let switched = role_job_started(&session, &cloud, &state).await?;
            wait_for_old_pods(&session, &cloud, &state, &config_arn, switched).await.map_err(|e| {
                e.context(format!("{old_login} keeps its password until no pod uses it; the next `empi-infra rotate db-password` replaces it"))
            })?;
            let retire = format!("rotate-db-{}-retire", stamp(&at));
            let manifest = role_job(
                &session,
                &state,
                &retire,
                json!([{"name": "DATABASE_RETIRE_LOGIN", "value": old_login}]),
            )?;
            run_job(&session, &cloud, &state, manifest).await.map_err(|e| {
                e.context(format!(
                    "the application uses {new_login}, but {old_login} keeps its old password"
                ))
            })?;
            keep_going(outln!(
                "Rotated: the application connects as {new_login} with a new password (the config secret's AWSCURRENT version); the old password of {old_login} no longer works."
            ))?;
        }
        RotatedSecret::DjangoKey => {
            let key = secrets::new_django_key();
            secrets::put_current(client, &config_arn, |doc| {
                doc["django"]["secret_key"] = json!(key)
            })
            .await
            .map_err(|e| anyhow!("cannot write the new key to {config_arn}: {e}"))?;
            progress("new Django key written (AWSCURRENT; the old one is AWSPREVIOUS)");
            let code = switch(&session, &cloud, &plan, next, args.parallelism).await?;
            if code != ExitCode::SUCCESS {
                eprintln!("The config secret holds the new key; run `empi-infra apply` to roll the pods onto it.");
                return Ok(code);
            }
            keep_going(outln!("Rotated: the backend pods run with the new Django key."))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the rotation does, step by step, and what the running application sees.
fn procedure(secret: RotatedSecret, old_login: &str, new_login: &str) -> String {
    match secret {
        RotatedSecret::DbPassword => format!(
            "The rotation of the database password, in order (no downtime):\n\
             \x20 1. a new password for the login role {new_login}, staged in the config secret as AWSPENDING (pods keep reading AWSCURRENT)\n\
             \x20 2. a Job gives {new_login} that password (and membership of {owner}, whose objects it acts on)\n\
             \x20 3. the staged version becomes AWSCURRENT; the old one stays as AWSPREVIOUS\n\
             \x20 4. the plan above is applied: the database-role Job runs for {new_login} and the backend pods roll onto it\n\
             \x20 5. once no pod that read the old credential is left, a Job removes the password of {old_login}\n\
             Pods running before the rotation keep connecting as {old_login} until they are replaced; a pod that starts gets a credential PostgreSQL accepts.",
            owner = blueprint::DB_APP_USER
        ),
        RotatedSecret::DjangoKey => {
            let fallbacks = if empi_engine::upstream::django_key_fallbacks() {
                "the old key is kept as a fallback"
            } else {
                "upstream's config has no secret_key_fallbacks (Django's SECRET_KEY_FALLBACKS), so the old key is not kept as one"
            };
            format!(
                "The rotation of the Django secret key:\n\
                 \x20 1. a new key in the config secret (AWSCURRENT; the old one stays as AWSPREVIOUS)\n\
                 \x20 2. the plan above is applied: the backend pods roll onto the new key\n\
                 What it invalidates: values signed with the old key. Upstream Tuva EMPI (at {commit}) keeps {signs}, so nobody is signed out; {fallbacks}.",
                commit = &empi_engine::upstream::COMMIT[..7],
                signs = empi_engine::upstream::DJANGO_KEY_SIGNS,
            )
        }
    }
}

/// `yyyymmddhhmmss` of an RFC 3339 time: the suffix of a rotation's Job names.
fn stamp(at: &str) -> String {
    at.chars().filter(char::is_ascii_digit).take(14).collect()
}

/// State records the rotation and the stack is applied: the plan made now must do nothing the
/// plan shown did not (the config document the rotation wrote itself is no longer a change).
async fn switch(
    session: &Session,
    cloud: &Connected,
    shown: &Plan,
    next: State,
    parallelism: u16,
) -> Result<ExitCode> {
    session.backend.save(&next).await.context("the rotation could not be written to state")?;
    let mut plan = plan_of(session, cloud, &next, parallelism as usize).await?;
    plan.facts = shown.facts.clone();
    let unshown: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.action != empi_engine::plan::Action::NoOp)
        .filter(|c| {
            !shown
                .changes
                .iter()
                .any(|s| s.address == c.address && s.action != empi_engine::plan::Action::NoOp)
        })
        .map(|c| c.address.as_str())
        .collect();
    if !unshown.is_empty() {
        return Err(fix(
            format!("the stack changed during the rotation: {} would change, which the plan shown did not say", unshown.join(", ")),
            "run `empi-infra plan` to see why, then `empi-infra apply`",
        ));
    }
    execute(session, &plan, &cloud.registry, next, parallelism, "Rotation").await
}

/// When the database-role Job of the switch was made, by the API server's clock.
async fn role_job_started(
    session: &Session,
    cloud: &Connected,
    state: &State,
) -> Result<k8s_openapi::jiff::Timestamp> {
    let name = workloads::database_role_job_name(&session.stack);
    let client = cluster_client(session, cloud, state).await?;
    let jobs: Api<Job> = Api::namespaced(client, &session.stack.app.namespace);
    let job = jobs.get(&name).await.map_err(|e| anyhow!("cannot read the Job {name}: {e}"))?;
    job.metadata
        .creation_timestamp
        .map(|t| t.0)
        .ok_or_else(|| anyhow!("the Job {name} has no creation time"))
}

/// Waits until no pod that read the config secret before `switched` (a backend pod, a matching
/// job's) is left, in the application's namespace and the matching jobs'.
async fn wait_for_old_pods(
    session: &Session,
    cloud: &Connected,
    state: &State,
    config_arn: &str,
    switched: k8s_openapi::jiff::Timestamp,
) -> Result<()> {
    let stack = &session.stack;
    let client = cluster_client(session, cloud, state).await?;
    // the k8s job runner starts matching jobs in their namespace (`default` for versions that
    // cannot be given one), with the config secret in their environment
    let mut namespaces = vec![stack.app.namespace.clone()];
    let jobs_in = if stack.app.tuva.job_namespace {
        stack.app.matching_job_namespace.as_str()
    } else {
        "default"
    };
    if stack.app.matching_job_runner == "k8s" && jobs_in != stack.app.namespace {
        namespaces.push(jobs_in.to_string());
    }
    let t0 = Instant::now();
    let mut said = Instant::now() - Duration::from_secs(3600);
    loop {
        let mut old = Vec::new();
        for ns in &namespaces {
            let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
            let list = pods
                .list(&ListParams::default())
                .await
                .map_err(|e| anyhow!("cannot list the pods of {ns}: {e}"))?;
            old.extend(
                list.items
                    .into_iter()
                    .filter(|p| reads_before(p, config_arn, switched))
                    .map(|p| format!("{ns}/{}", p.metadata.name.unwrap_or_default())),
            );
        }
        if old.is_empty() {
            return Ok(());
        }
        if t0.elapsed() > OLD_PODS_DEADLINE {
            return Err(anyhow!(
                "{} pod(s) that read the old credential are still there after {} minutes: {}",
                old.len(),
                OLD_PODS_DEADLINE.as_secs() / 60,
                old.join(", ")
            ));
        }
        if said.elapsed() > Duration::from_secs(30) {
            progress(&format!(
                "waiting for {} pod(s) that read the old credential to end: {}",
                old.len(),
                old.join(", ")
            ));
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Whether a pod reads the config secret (its environment names it) and was made before
/// `switched`, and has not ended.
fn reads_before(p: &Pod, config_arn: &str, switched: k8s_openapi::jiff::Timestamp) -> bool {
    let ended = matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded") | Some("Failed")
    );
    let made_before = p.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0 < switched);
    let admin = p.spec.as_ref().and_then(|s| s.service_account_name.as_deref())
        == Some(workloads::DATABASE_ADMIN_SERVICE_ACCOUNT);
    let reads = p.spec.iter().flat_map(|s| s.containers.iter()).any(|c| {
        c.env.iter().flatten().any(|e| {
            e.name == "TUVA_EMPI_CONFIG_AWS_SECRET_ARN" && e.value.as_deref() == Some(config_arn)
        })
    });
    !ended && made_before && !admin && reads
}
