//! `apply`: plan (or load a saved plan), confirm, execute with progress, stop cleanly
//! on the first signal (`crate::signals`: while executing, it starts nothing new; before, it drops the
//! command, releasing the lock). A closed stdout does not stop them (`crate::out::keep_going`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use empi_engine::exec::{ExecOptions, Progress, StderrProgress};
use empi_engine::kinds::k8s;
use empi_engine::ops;
use empi_engine::plan::{render_text_with, Action, Plan, RenderOptions};
use empi_engine::resource::Registry;
use empi_engine::state::State;

use crate::cli::ApplyArgs;
use crate::cmd::output::print_outputs;
use crate::errors::fix;
use crate::out::keep_going;
use crate::session::{Begun, Session};

pub async fn run(path: &Option<PathBuf>, args: ApplyArgs) -> Result<ExitCode> {
    let ApplyArgs { planfile, auto_approve, parallelism, allow_replace, versions, scope } = args;
    if let (Some(f), false) = (&planfile, scope.targets.is_empty()) {
        return Err(fix(
            format!("--target cannot be combined with a saved plan: {} applies exactly what it was planned with", f.display()),
            "make a targeted plan with `empi-infra plan --target ADDR --out FILE` instead",
        ));
    }
    // a saved plan is read (limits, digest) before the lock, the cloud or any long work
    let saved = planfile.as_deref().map(crate::cmd::plan::load).transpose()?;
    let Begun { mut session, lock, state, cloud, mut placement } =
        Session::begin(path, "apply", versions).await?;
    // a new stack's secrets are made at the time its plan says (placement chose now): taken from
    // a saved plan only for a stack that has no config secret yet, and only as such a plan has it
    if let (Some(plan), None) = (&saved, crate::session::secret_rotations(&state)) {
        let planned = plan.facts.get(crate::session::SECRET_ROTATIONS_FACT).and_then(|v| {
            serde_json::from_value::<empi_engine::stack::SecretRotations>(v.clone()).ok()
        });
        let now = crate::session::now_rfc3339();
        if let Some(r) = planned.filter(|r| {
            !state.resources.contains_key("config.secret")
                && r.db_login.is_empty()
                && r.db_password_set == r.django_key_set
                && r.db_password_set.as_str() <= now.as_str()
        }) {
            placement
                .facts
                .insert(crate::session::SECRET_ROTATIONS_FACT.into(), serde_json::to_value(&r)?);
            session.stack.security.secrets = r;
        }
    }
    let stack = &session.stack;
    crate::history::start(session.backend.clone(), stack, "apply", &cloud.caller, lock.id()).await;
    let g = session.graph(&cloud.account)?;
    let plan = match saved {
        // ops::apply refuses it if the state moved since
        Some(plan) => {
            if plan.stack_digest != stack.digest {
                return Err(fix(
                    format!("the saved plan is stale: the stack file {} changed since the plan was made", stack.path.display()),
                    "run `empi-infra plan --out FILE` again",
                ));
            }
            // every step must follow from the stack and the state, and the facts it records from
            // the placement made now: a plan file edited to do something else runs nothing
            ops::check_saved_plan(&plan, &g, &state, &cloud.registry)?;
            if let Some((k, _)) =
                plan.facts.iter().find(|(k, v)| placement.facts.get(*k) != Some(*v))
            {
                return Err(fix(
                    format!("the saved plan records the fact {k:?} differently from what empi-infra finds now, so it was edited or the account changed"),
                    "run `empi-infra plan --out FILE` again",
                ));
            }
            plan
        }
        None => {
            let mut plan = ops::make_targeted_plan(
                &g,
                &cloud.registry,
                &state,
                true,
                parallelism as usize,
                &stack.digest,
                &scope.targets,
            )
            .await?;
            crate::cmd::plan::review(&mut plan, &g, &state, stack, placement);
            plan
        }
    };
    crate::history::note_plan(&plan);
    keep_going(out!(
        "{}",
        empi_engine::redact::values(&render_text_with(
            &plan,
            &RenderOptions { verbose: scope.verbose }
        ))
    ))?;
    if !plan.has_changes() {
        keep_going(print_outputs(stack, &state))?;
        return Ok(ExitCode::SUCCESS);
    }
    ops::check_stateful(&plan, &allow_replace)?;
    refuse_losing_users(&plan, &state, &cloud, &allow_replace).await?;
    if planfile.is_none() && !auto_approve && !confirm("\nDo you want to perform these actions?")? {
        keep_going(outln!("Apply cancelled."))?;
        return Ok(ExitCode::from(1));
    }
    let code = execute(&session, &plan, &cloud.registry, state, parallelism, "Apply").await?;
    // a targeted apply that leaves identity alone does not look at its users
    let identity_applied =
        !plan.is_targeted() || plan.changes.iter().any(|c| c.address.starts_with("identity."));
    if code == ExitCode::SUCCESS && identity_applied {
        let state = session.backend.load().await?;
        check_admin(stack, &state, &cloud).await?;
    }
    Ok(code)
}

/// The user pool address whose deletion loses users.
const USER_POOL: &str = "identity.user_pool";

/// Refuses a plan that deletes a Cognito user pool holding users (a switch to Keycloak) unless
/// `--allow-replace identity.user_pool` says so: Tuva EMPI keys its users by the pool's ids.
async fn refuse_losing_users(
    plan: &Plan,
    state: &State,
    cloud: &crate::session::Connected,
    allowed: &[String],
) -> Result<()> {
    let deletes_pool =
        plan.changes.iter().any(|c| c.address == USER_POOL && c.action == Action::Delete);
    let Some(pool) = state.resources.get(USER_POOL).and_then(|r| r.id.clone()) else {
        return Ok(());
    };
    if !deletes_pool || allowed.iter().any(|a| a == USER_POOL) {
        return Ok(());
    }
    let users = crate::identity::cognito_user_count(&cloud.clients.cognito, &pool, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if users > 0 {
        return Err(fix(
            format!(
                "the plan deletes the Cognito user pool {pool} ({USER_POOL}), which holds {users} user{}; Tuva EMPI keys users by the pool's ids, so their permissions would be orphaned",
                if users == 1 { "" } else { "s" }
            ),
            format!("if that is intended, run apply again with --allow-replace {USER_POOL}"),
        ));
    }
    Ok(())
}

/// After a Cognito apply: Tuva's bootstrap needs exactly one user with the admin's email.
async fn check_admin(
    stack: &empi_engine::stack::Stack,
    state: &State,
    cloud: &crate::session::Connected,
) -> Result<()> {
    if stack.identity.cognito_domain_prefix().is_none() {
        return Ok(());
    }
    let Some(pool) = state.resources.get(USER_POOL).and_then(|r| r.id.clone()) else {
        return Ok(());
    };
    let email = &stack.identity.admin_email;
    let n = crate::identity::cognito_users_with_email(&cloud.clients.cognito, &pool, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match n {
        1 => Ok(()),
        0 => Err(fix(
            format!("the user pool {pool} holds no user with the email {email}, so Tuva's bootstrap will find no admin"),
            "run apply again to create them",
        )),
        n => Err(fix(
            format!("the user pool {pool} holds {n} users with the email {email}, and Tuva's bootstrap needs exactly one"),
            "delete the others in the Cognito console",
        )),
    }
}

/// The stack's timeouts by kind: its `[timeouts]`, and for rollouts and jobs `app.rollout_timeout`
/// plus a minute (Kubernetes itself fails them at the rollout timeout; this is the backstop).
fn timeouts(
    stack: &empi_engine::stack::Stack,
) -> std::collections::HashMap<String, empi_engine::resource::Timeouts> {
    let mut t: std::collections::HashMap<_, _> = stack.timeouts.clone().into_iter().collect();
    let rollout = stack.app.rollout_timeout_secs + 60;
    for kind in [k8s::DEPLOYMENT.kind, k8s::JOB.kind, k8s::JOB_ONCE.kind] {
        t.entry(kind.to_string()).or_insert(empi_engine::resource::Timeouts {
            create: rollout,
            update: rollout,
            delete: 300,
        });
    }
    t
}

/// Asks `question` on the terminal; only `yes` is yes. Without a terminal it is an error naming
/// `--auto-approve`.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(fix(
            "this needs confirmation, but there is no terminal to ask on",
            "review what it prints and pass --auto-approve",
        ));
    }
    keep_going(out!("{question}\n  Only 'yes' will be accepted: "))?;
    keep_going(crate::out::flush())?;
    // read beside, so that a signal at the prompt ends the command (and releases its lock) at once
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = tx.send(std::io::stdin().read_line(&mut answer).map(|_| answer));
    });
    loop {
        if let Some(s) = crate::signals::cancelled() {
            return Err(s.into());
        }
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(answer) => return Ok(answer?.trim() == "yes"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}

pub(super) async fn execute(
    session: &Session,
    plan: &Plan,
    registry: &Registry,
    state: State,
    parallelism: u16,
    verb: &str,
) -> Result<ExitCode> {
    let opts = ExecOptions {
        parallelism: parallelism as usize,
        timeouts: timeouts(&session.stack),
        ..ExecOptions::default()
    };
    // the first signal now stops the executor instead of the command (crate::signals)
    let executing = crate::signals::executing(opts.stop.clone());
    let (report, state) = ops::apply(
        plan,
        registry,
        session.backend.clone(),
        state,
        opts,
        Arc::new(RedactedProgress),
    )
    .await?;
    drop(executing);
    let count = |a: Action| report.done.iter().filter(|(_, x)| *x == a).count();
    let summary = format!(
        "{} added, {} changed, {} replaced, {} destroyed",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete)
    );
    if report.ok() {
        keep_going(outln!(
            "\n{verb} complete after {}. Resources: {summary}.",
            empi_engine::plan::format_duration(report.elapsed)
        ))?;
        if plan.is_targeted() {
            keep_going(outln!(
                "Resource targeting was in effect ({}): the rest of the stack was neither read nor changed; run `empi-infra plan` for a full plan.",
                plan.targets.join(", ")
            ))?;
        }
        if !plan.destroy {
            keep_going(print_outputs(&session.stack, &state))?;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "\n{verb} failed after {}. Resources: {summary}.",
            empi_engine::plan::format_duration(report.elapsed)
        );
        for e in &report.failed {
            eprintln!("error: {}", empi_engine::redact::message(&e.to_string()));
        }
        if let Some(e) = report.failed.first() {
            crate::history::note_error(&e.to_string());
        }
        if !report.skipped.is_empty() {
            let why = if report.interrupted {
                "interrupted"
            } else {
                "not attempted because something they depend on failed"
            };
            eprintln!("{why}: {}", report.skipped.join(", "));
        }
        if report.interrupted {
            eprintln!("Stopped by a signal. State records everything that was started; run the command again to continue.");
            return Ok(ExitCode::from(130));
        }
        eprintln!("State records everything that finished; fix the cause and run the command again to continue.");
        Ok(ExitCode::from(1))
    }
}

/// The executor's progress lines on stderr, through `empi_engine::redact::message`.
struct RedactedProgress;

impl Progress for RedactedProgress {
    fn line(&self, text: &str) {
        StderrProgress.line(&empi_engine::redact::message(text));
    }
}
