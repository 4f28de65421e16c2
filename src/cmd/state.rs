//! `state`: list, show, locks, unlock, and migrate between backends.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use empi_engine::state::StateStore;

use crate::cli::StateCommand;
use crate::errors::fix;
use crate::session::{local_store, s3_store, Session};

pub async fn run(path: &Option<PathBuf>, sc: StateCommand) -> Result<ExitCode> {
    let session = Session::open(path).await?;
    let (stack, backend) = (&session.stack, &session.backend);
    match sc {
        StateCommand::List => {
            for a in backend.load().await?.resources.keys() {
                outln!("{a}")?;
            }
        }
        StateCommand::Show { address } => {
            let state = backend.load().await?;
            let r = state
                .resources
                .get(&address)
                .ok_or_else(|| fix(format!("state has no resource {address:?}"), "`empi-infra state list` shows what it has"))?;
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "address": address, "resource": r }))?)?;
        }
        StateCommand::Unlock { lock_id } => {
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
                        return Err(fix("state migrate --to s3 needs --bucket and --key", "add --bucket BUCKET --key KEY"));
                    };
                    let region = region.unwrap_or_else(|| stack.region.clone());
                    s3_store(stack, &bucket, &key, &region, kms_key_id).await
                }
                other => return Err(fix(format!("unknown backend {other:?}"), "use --to s3 or --to local")),
            };
            if dest.location() == backend.location() {
                bail!("the state already lives in {}", dest.location());
            }
            let _from = backend.lock("state migrate").await?;
            let _to = dest.lock("state migrate").await?;
            let state = backend.load().await?;
            let existing = dest.load().await?;
            if !existing.resources.is_empty() && existing.lineage != state.lineage {
                return Err(fix(
                    format!("{} already holds a different state (lineage {})", dest.location(), existing.lineage),
                    "move it aside first",
                ));
            }
            dest.save(&state).await?;
            if dest.load().await? != state {
                bail!("the state written to {} does not read back the same; the source is unchanged", dest.location());
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
            outln!("Now point [state] in {} at {}; the old copy can be removed once that works.", stack.path.display(), dest.location())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
