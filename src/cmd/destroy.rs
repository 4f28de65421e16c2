//! `destroy`: deletes everything the stack created (or the targeted part), dependents first, after
//! showing what and asking; executed as `apply` executes (`super::apply::execute`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use empi_engine::ops;
use empi_engine::plan::{render_text_with, Action, RenderOptions};

use super::apply::{confirm, execute};
use crate::cli::DestroyArgs;
use crate::out::keep_going;
use crate::session::Session;

/// Runs `destroy`.
pub async fn run(path: &Option<PathBuf>, args: DestroyArgs) -> Result<ExitCode> {
    let DestroyArgs { auto_approve, parallelism, scope } = args;
    let session = Session::open(path).await?;
    let stack = &session.stack;
    let lock = session.backend.lock("destroy").await?;
    let state = session.backend.load().await?;
    if state.resources.is_empty() {
        keep_going(outln!(
            "Nothing to destroy: state records no resources for stack {:?}.",
            stack.name
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    if let (Some(r), true) = (crate::session::replaced_database(&state), scope.targets.is_empty()) {
        // it uses the stack's subnet and security groups, and holds data from before the restore
        return Err(crate::errors::fix(
            format!(
                "the database instance {} that `db restore` replaced (with {}, at {}) is still kept, with deletion protection",
                r.instance, r.replaced_by, r.at
            ),
            "run `empi-infra db restore --finalize` first (it takes a final snapshot of it and deletes it)",
        ));
    }
    let cloud = session.connect().await?;
    crate::history::start(session.backend.clone(), stack, "destroy", &cloud.caller, lock.id())
        .await;
    let plan = ops::make_targeted_destroy_plan(
        &cloud.registry,
        &state,
        parallelism as usize,
        &stack.digest,
        &scope.targets,
    )
    .await?;
    crate::history::note_plan(&plan);
    keep_going(out!(
        "{}",
        empi_engine::redact::values(&render_text_with(
            &plan,
            &RenderOptions { verbose: scope.verbose }
        ))
    ))?;
    let what = if plan.is_targeted() {
        format!(
            "Destroy the {} resources above of stack {:?}?",
            plan.count(Action::Delete),
            stack.name
        )
    } else {
        format!("Destroy every resource of stack {:?}?", stack.name)
    };
    // restore-drill instances a cut-short drill left use the stack's subnet and security groups:
    // they go first (found by their drill tag, never by name)
    let owner = format!("{}/{}", stack.name, stack.region);
    let drills = if plan.is_targeted() {
        Vec::new()
    } else {
        let recorded = state
            .resources
            .get(empi_engine::blueprint::DATABASE_INSTANCE)
            .and_then(|r| r.id.clone())
            .unwrap_or_default();
        crate::aws::restore::drills_of(&cloud.clients.rds, &owner, &recorded)
            .await
            .map_err(|e| anyhow::anyhow!("cannot look for restore-drill instances: {e}"))?
    };
    if !drills.is_empty() {
        let names: Vec<&str> = drills.iter().map(|(d, _)| d.as_str()).collect();
        keep_going(outln!(
            "Also: the restore-drill instance(s) {} that a cut-short `db restore-drill` left (tagged {} = {owner}).",
            names.join(", "),
            crate::aws::restore::DRILL_TAG
        ))?;
    }
    if !auto_approve && !confirm(&format!("\n{what} This cannot be undone."))? {
        keep_going(outln!("Destroy cancelled."))?;
        return Ok(ExitCode::from(1));
    }
    // one being deleted already still uses the stack's groups: waited for as well
    for (d, deleting) in &drills {
        eprintln!("destroy: deleting the restore-drill instance {d}");
        if !deleting {
            crate::aws::restore::delete(&cloud.clients.rds, d).await.map_err(|e| {
                anyhow::anyhow!("cannot delete the restore-drill instance {d}: {e}")
            })?;
        }
        crate::aws::restore::wait(
            &cloud.clients.rds,
            d,
            true,
            std::time::Duration::from_secs(30 * 60),
            &|m| eprintln!("destroy: {m}"),
        )
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    }
    execute(&session, &plan, &cloud.registry, state, parallelism, "Destroy").await
}
