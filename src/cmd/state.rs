//! `state`: list, show, locks, unlock, and migrate between backends.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use empi_engine::ops;
use empi_engine::state::{State, StateStore};

use crate::cli::StateCommand;
use crate::errors::fix;
use crate::session::{local_store, s3_store, Session, TUVA_FACT};

pub async fn run(path: &Option<PathBuf>, sc: StateCommand) -> Result<ExitCode> {
    let session = Session::open(path).await?;
    if let StateCommand::Rebuild { auto_approve } = sc {
        return rebuild(session, auto_approve).await;
    }
    if let StateCommand::Import { address, id, auto_approve } = sc {
        return import(session, &address, &id, auto_approve).await;
    }
    let (stack, backend) = (&session.stack, &session.backend);
    match sc {
        StateCommand::Rebuild { .. } | StateCommand::Import { .. } => unreachable!("handled above"),
        StateCommand::List => {
            for a in backend.load().await?.resources.keys() {
                outln!("{a}")?;
            }
        }
        StateCommand::Show { address } => {
            let state = backend.load().await?;
            let r = state.resources.get(&address).ok_or_else(|| {
                fix(
                    format!("state has no resource {address:?}"),
                    "`empi-infra state list` shows what it has",
                )
            })?;
            outln!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "address": address, "resource": r })
                )?
            )?;
        }
        StateCommand::Unlock { lock_id } => {
            let caller = crate::history::caller(stack).await;
            let id = format!(
                "unlock-{}-{}",
                std::process::id(),
                k8s_openapi::jiff::Timestamp::now().as_millisecond()
            );
            crate::history::start(
                backend.clone(),
                stack,
                &format!("state unlock {lock_id}"),
                &caller,
                &id,
            )
            .await;
            let held = backend.unlock(&lock_id).await?;
            outln!(
                "Broke lock {} held by {}@{} (pid {}, `{}`, since {}).",
                held.id,
                held.owner,
                held.host,
                held.pid,
                held.operation,
                held.created
            )?;
        }
        StateCommand::Locks => match backend.lock_holder().await? {
            None => outln!("No lock is held on {}.", backend.location())?,
            Some(h) => {
                outln!("{} is locked:", backend.location())?;
                outln!(
                    "  id        {}\n  holder    {}@{} (pid {})\n  operation {}\n  since     {}",
                    h.id,
                    h.owner,
                    h.host,
                    h.pid,
                    h.operation,
                    h.created
                )?;
                if let Some(l) = &h.lease_expires {
                    outln!("  lease     until {l} (renewed while the holder runs)")?;
                }
                outln!("If that run is gone: empi-infra state unlock {}", h.id)?;
            }
        },
        StateCommand::Migrate { to, bucket, key, region, kms_key_id } => {
            let dest: Arc<dyn StateStore> = match to.as_str() {
                "local" => local_store(stack),
                "s3" => {
                    let (Some(bucket), Some(key)) = (bucket, key) else {
                        return Err(fix(
                            "state migrate --to s3 needs --bucket and --key",
                            "add --bucket BUCKET --key KEY",
                        ));
                    };
                    let region = region.unwrap_or_else(|| stack.region.clone());
                    s3_store(stack, &bucket, &key, &region, kms_key_id).await
                }
                other => {
                    return Err(fix(
                        format!("unknown backend {other:?}"),
                        "use --to s3 or --to local",
                    ))
                }
            };
            if dest.location() == backend.location() {
                bail!("the state already lives in {}", dest.location());
            }
            let _from = backend.lock("state migrate").await?;
            let to = dest.lock("state migrate").await?;
            // the history goes on where the state goes
            let caller = crate::history::caller(stack).await;
            crate::history::start(
                dest.clone(),
                stack,
                &format!("state migrate from {}", backend.location()),
                &caller,
                to.id(),
            )
            .await;
            let state = backend.load().await?;
            let existing = dest.load().await?;
            if !existing.resources.is_empty() && existing.lineage != state.lineage {
                return Err(fix(
                    format!(
                        "{} already holds a different state (lineage {})",
                        dest.location(),
                        existing.lineage
                    ),
                    "move it aside first",
                ));
            }
            dest.save(&state).await?;
            if dest.load().await? != state {
                bail!(
                    "the state written to {} does not read back the same; the source is unchanged",
                    dest.location()
                );
            }
            outln!(
                "Moved the state of stack {:?} (lineage {}, serial {}, {} resources) from {} to {}.",
                stack.name,
                state.lineage,
                state.serial,
                state.resources.len(),
                backend.location(),
                dest.location()
            )?;
            outln!(
                "Now point [state] in {} at {}; the old copy can be removed once that works.",
                stack.path.display(),
                dest.location()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `state rebuild`: the state from the cloud's names and tags, written once confirmed.
async fn rebuild(mut session: Session, auto_approve: bool) -> Result<ExitCode> {
    let lock = session.backend.lock("state rebuild").await?;
    let previous = match session.backend.load().await {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!(
                "The current state cannot be read ({e}); the rebuilt state starts a new lineage."
            );
            None
        }
    };
    let cloud = session.connect().await?;
    crate::history::start(
        session.backend.clone(),
        &session.stack,
        "state rebuild",
        &cloud.caller,
        lock.id(),
    )
    .await;
    let blank = State::new(&session.stack.name);
    let mut placement = session.place(&cloud, previous.as_ref().unwrap_or(&blank), false).await?;
    if previous.as_ref().and_then(crate::session::secret_rotations).is_none() {
        crate::session::secret_rotations_by_name(&mut session, &cloud, &mut placement).await?;
    }
    let g = session.graph(&cloud.account)?;
    let stack = &session.stack;
    eprintln!(
        "Looking for the {} resources of stack {:?} by their names and tags (read-only)…",
        g.len(),
        stack.name
    );
    let (mut state, missing, refused) =
        ops::rebuild(&g, &cloud.registry, &stack.name, previous.as_ref(), placement.facts, 10)
            .await?;
    crate::session::secret_rotations_found(&cloud, previous.as_ref(), &mut state).await?;
    if state.resources.contains_key("workloads.migrate") {
        // the migrate job is named after the version it migrated to: found, it is this version
        state.facts.insert(TUVA_FACT.into(), serde_json::Value::String(stack.app.version.clone()));
    }
    let width = state.resources.keys().map(|a| a.len()).max().unwrap_or(0);
    outln!("Found {} of {} resources of stack {:?}:", state.resources.len(), g.len(), stack.name)?;
    for (address, r) in &state.resources {
        outln!("  {address:width$}  {}", r.id.as_deref().unwrap_or(""))?;
    }
    if !missing.is_empty() {
        outln!(
            "Not found ({}; the next apply creates them): {}",
            missing.len(),
            missing.join(", ")
        )?;
    }
    if !refused.is_empty() {
        outln!(
            "Found under the stack's names but not provably this stack's, so left out ({}):",
            refused.len()
        )?;
        for e in &refused {
            outln!("  {e}")?;
        }
    }
    if let Some(p) = &previous {
        let lost: Vec<&String> =
            p.resources.keys().filter(|a| !state.resources.contains_key(*a)).collect();
        let new: Vec<&String> =
            state.resources.keys().filter(|a| !p.resources.contains_key(*a)).collect();
        outln!(
            "The current state records {} resources; the rebuilt one adds {} and drops {}{}.",
            p.resources.len(),
            new.len(),
            lost.len(),
            if lost.is_empty() {
                String::new()
            } else {
                format!(" ({})", lost.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
            }
        )?;
    }
    if !auto_approve
        && !crate::cmd::apply::confirm(&format!(
            "\nWrite this as the state of stack {:?} ({})?",
            stack.name,
            session.backend.location()
        ))?
    {
        outln!("Nothing written.")?;
        return Ok(ExitCode::from(1));
    }
    state.serial = previous.as_ref().map(|p| p.serial + 1).unwrap_or(1);
    session.backend.save(&state).await?;
    outln!(
        "Wrote the rebuilt state (lineage {}, serial {}, {} resources). Run `empi-infra plan` to see how the cloud differs from the stack.",
        state.lineage,
        state.serial,
        state.resources.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `state import ADDRESS ID`: takes over an existing object explicitly. The object is read, its
/// differences from the stack are shown as the plan `apply` would make after the import, and it
/// is recorded (nothing in the cloud changes) once confirmed. An object that another stack's tags
/// claim is refused: that stack still manages it.
async fn import(
    mut session: Session,
    address: &str,
    id: &str,
    auto_approve: bool,
) -> Result<ExitCode> {
    let lock = session.backend.lock("state import").await?;
    let state = session.backend.load().await?;
    if let Some(r) = state.resources.get(address) {
        return Err(fix(
            format!("state already records {address} as {}", r.id.as_deref().unwrap_or("an interrupted create")),
            format!("`empi-infra state show {address}` shows it; to record another object there, destroy or forget this one first"),
        ));
    }
    let cloud = session.connect().await?;
    crate::history::start(
        session.backend.clone(),
        &session.stack,
        "state import",
        &cloud.caller,
        lock.id(),
    )
    .await;
    let placement = session.place(&cloud, &state, false).await?;
    let g = session.graph(&cloud.account)?;
    let stack = &session.stack;
    let Some(spec) = g.get(address) else {
        // one sentence naming the closest address
        let addresses: std::collections::BTreeSet<&str> = g.addresses().collect();
        empi_engine::target::select(&[address.to_string()], &addresses, "the stack")?;
        return Err(fix(
            format!("stack {:?} has no resource {address}", stack.name),
            "`empi-infra graph` lists every address",
        ));
    };
    let lookup = |a: &str, o: &str| state.resources.get(a).and_then(|r| r.outputs.get(o)).cloned();
    let inputs = empi_engine::plan::resolved_inputs(spec, &lookup);
    let missing: Vec<String> =
        spec.dependencies().into_iter().filter(|d| !state.resources.contains_key(d)).collect();
    if !missing.is_empty() {
        return Err(fix(
            format!("{address} refers to {}, which state does not record yet", missing.join(", ")),
            "import (or apply) those first",
        ));
    }
    let r = cloud
        .registry
        .get(&spec.kind)
        .ok_or_else(|| anyhow::anyhow!("no provider for type {}", spec.kind))?
        .clone();
    let observed = r
        .read(id, &inputs)
        .await
        .map_err(|e| anyhow::anyhow!("reading {id} failed: {e}"))?
        .ok_or_else(|| {
            fix(
                format!("there is no {} with the id {id:?}", spec.kind),
                format!(
                    "check the id; a {} is read by its id as `empi-infra state show` prints it",
                    spec.kind
                ),
            )
        })?;
    let region = empi_engine::ownership::expected_region(&inputs);
    empi_engine::ownership::check(
        r.schema(),
        &stack.name,
        region.as_deref(),
        address,
        id,
        &observed,
        empi_engine::ownership::Found::Recorded,
        empi_engine::ownership::FOUND_FIX,
    )?;
    let mut imported = state.clone();
    imported.facts.extend(placement.facts);
    imported.resources.insert(
        address.to_string(),
        empi_engine::state::ResourceState {
            kind: spec.kind.clone(),
            name: spec.name.clone(),
            id: Some(id.to_string()),
            status: empi_engine::state::Status::Created,
            attrs: inputs,
            outputs: observed.outputs.clone(),
            depends_on: spec.dependencies(),
        },
    );
    crate::session::secret_rotations_found(&cloud, Some(&state), &mut imported).await?;
    let plan = ops::make_targeted_plan(
        &g,
        &cloud.registry,
        &imported,
        true,
        10,
        &stack.digest,
        &[address.to_string()],
    )
    .await?;
    let change = plan.changes.iter().find(|c| c.address == address);
    outln!("Importing {address} ({} {id}) into the state of stack {:?}.", spec.kind, stack.name)?;
    match change {
        Some(c) if c.action != empi_engine::plan::Action::NoOp => {
            let only = empi_engine::plan::Plan {
                changes: vec![c.clone()],
                warnings: vec![],
                ..plan.clone()
            };
            outln!(
                "After the import, `empi-infra apply` would make this change to it (the stack's tags included):
"
            )?;
            out!("{}", empi_engine::plan::render_text(&only))?;
        }
        _ => outln!(
            "It matches the stack: after the import, `empi-infra apply` changes nothing on it."
        )?,
    }
    if !auto_approve
        && !crate::cmd::apply::confirm(&format!(
            "
Record {id} as {address} of stack {:?}?",
            stack.name
        ))?
    {
        outln!("Nothing recorded.")?;
        return Ok(ExitCode::from(1));
    }
    imported.serial = state.serial + 1;
    session.backend.save(&imported).await?;
    outln!(
        "Recorded {id} as {address} (serial {}). Nothing in the cloud was changed; `empi-infra plan` shows what apply will do.",
        imported.serial
    )?;
    Ok(ExitCode::SUCCESS)
}
