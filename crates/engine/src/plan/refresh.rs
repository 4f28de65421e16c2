//! Refresh: reads every resource state records from the cloud before a diff, `parallelism` cloud
//! calls at a time, and finds interrupted creates (intent recorded, no id) again by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Live, PlanError};
use crate::resource::{Observed, Registry};
use crate::state::State;

/// How long recovery waits before a second look for an interrupted create.
pub const FIND_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads every recorded resource, `parallelism` at a time. An interrupted create (intent recorded,
/// no id) is looked for by its deterministic name.
pub async fn refresh(registry: &Registry, state: &State, parallelism: usize) -> Result<BTreeMap<String, Live>, PlanError> {
    let sem = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (address, rs) in &state.resources {
        let r = registry.get(&rs.kind).ok_or_else(|| PlanError::UnknownKind { address: address.clone(), kind: rs.kind.clone() })?.clone();
        let (address, rs, sem) = (address.clone(), rs.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore open");
            let err = |source| PlanError::Read { address: address.clone(), source };
            let id = match &rs.id {
                Some(id) => Some(id.clone()),
                None => match r.find(&rs.name, &address, &rs.attrs).await.map_err(err)? {
                    Some(id) => Some(id),
                    None => {
                        // a create call sent just before a crash may not be visible yet (the
                        // cloud's eventual consistency): look once more before creating it again
                        tokio::time::sleep(FIND_AGAIN_AFTER).await;
                        r.find(&rs.name, &address, &rs.attrs).await.map_err(err)?
                    }
                },
            };
            let observed = match &id {
                Some(id) => r.read(id, &rs.attrs).await.map_err(err)?,
                None => None,
            };
            Ok::<_, PlanError>((address.clone(), Live { id, observed }))
        });
    }
    let mut out = BTreeMap::new();
    while let Some(res) = tasks.join_next().await {
        let (addr, live) = res.expect("refresh task panicked")?;
        out.insert(addr, live);
    }
    Ok(out)
}

/// Lives as recorded in state, for `--refresh=false`.
pub fn recorded(state: &State) -> BTreeMap<String, Live> {
    state
        .resources
        .iter()
        .map(|(a, rs)| {
            let observed = rs.id.as_ref().map(|_| Observed { attrs: rs.attrs.clone(), outputs: rs.outputs.clone() });
            (a.clone(), Live { id: rs.id.clone(), observed })
        })
        .collect()
}
