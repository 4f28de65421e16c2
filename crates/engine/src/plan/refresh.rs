//! Refresh: reads every resource state records from the cloud before a diff, `parallelism` cloud
//! calls at a time, and finds interrupted creates (intent recorded, no id) again by name. As in
//! the executor, a slot of `--parallelism` is held only while a cloud call is in flight, never
//! while waiting.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Live, PlanError};
use crate::ownership::{self, Found};
use crate::resource::{Observed, Registry};
use crate::state::State;

/// How long recovery waits before a second look for an interrupted create.
pub const FIND_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads every recorded resource, `parallelism` cloud calls at a time. An interrupted create
/// (intent recorded, no id) is looked for by its deterministic name.
pub async fn refresh(
    registry: &Registry,
    state: &State,
    parallelism: usize,
) -> Result<BTreeMap<String, Live>, PlanError> {
    let slots = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (address, rs) in &state.resources {
        let r = registry
            .get(&rs.kind)
            .ok_or_else(|| PlanError::UnknownKind {
                address: address.clone(),
                kind: rs.kind.clone(),
            })?
            .clone();
        let (address, rs, slots, stack) =
            (address.clone(), rs.clone(), slots.clone(), state.stack.clone());
        tasks.spawn(async move {
            let err = |source| PlanError::Read { address: address.clone(), source };
            let id = match &rs.id {
                Some(id) => Some(id.clone()),
                // an object another stack owns under that name is not this interrupted create's
                None => match in_slot(&slots, r.find(&rs.name, &address, &rs.attrs))
                    .await
                    .or_else(not_ours)
                    .map_err(err)?
                {
                    Some(id) => Some(id),
                    None => {
                        // a create call sent just before a crash may not be visible yet (the
                        // cloud's eventual consistency): look once more before creating it again.
                        // No slot is held while waiting.
                        tokio::time::sleep(FIND_AGAIN_AFTER).await;
                        in_slot(&slots, r.find(&rs.name, &address, &rs.attrs))
                            .await
                            .or_else(not_ours)
                            .map_err(err)?
                    }
                },
            };
            let observed = match &id {
                Some(id) => in_slot(&slots, r.read(id, &rs.attrs)).await.map_err(err)?,
                None => None,
            };
            match (&id, &observed, rs.id.is_some()) {
                (Some(id), Some(o), true) => super::adopt::owned(
                    r.schema(),
                    &stack,
                    &rs.attrs,
                    &address,
                    id,
                    o,
                    Found::Recorded,
                    ownership::RECORDED_FIX,
                )?,
                (Some(found), Some(o), false) => {
                    // an interrupted create found by name is this run's unless its tags name
                    // another stack or region (`Found::Intent`): such an object is not this
                    // stack's to finish, change or delete
                    if let Err(e) = super::adopt::owned(
                        r.schema(),
                        &stack,
                        &rs.attrs,
                        &address,
                        found,
                        o,
                        Found::Intent,
                        ownership::FOUND_FIX,
                    ) {
                        tracing::warn!("{e}");
                        return Ok::<_, PlanError>((
                            address.clone(),
                            Live { id: None, observed: None },
                        ));
                    }
                }
                _ => {}
            }
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

/// A find that met another stack's object found nothing of this stack's.
fn not_ours(
    e: crate::resource::ProviderError,
) -> Result<Option<String>, crate::resource::ProviderError> {
    if e.class == crate::resource::ErrorClass::NotOurs {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Makes one cloud call holding a slot of `--parallelism`: the slot is taken when the call
/// starts and given back as soon as it returns.
async fn in_slot<T>(slots: &Semaphore, call: impl Future<Output = T>) -> T {
    let _slot = slots.acquire().await.expect("semaphore open");
    call.await
}

/// Lives as recorded in state, for `--refresh=false`.
pub fn recorded(state: &State) -> BTreeMap<String, Live> {
    state
        .resources
        .iter()
        .map(|(a, rs)| {
            let observed = rs
                .id
                .as_ref()
                .map(|_| Observed { attrs: rs.attrs.clone(), outputs: rs.outputs.clone() });
            (a.clone(), Live { id: rs.id.clone(), observed })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::resource::Resource;
    use crate::state::{ResourceState, Status};
    use crate::testing::{MemoryCloud, KIND};

    fn recorded_as(name: &str, id: Option<String>, status: Status) -> ResourceState {
        ResourceState {
            kind: KIND.into(),
            name: name.into(),
            id,
            status,
            attrs: Default::default(),
            outputs: Default::default(),
            depends_on: vec![],
        }
    }

    #[tokio::test]
    async fn a_slot_is_not_held_while_waiting_to_find_again() {
        // one slot, two interrupted creates that left nothing behind: each waits FIND_AGAIN_AFTER
        // before its second look, and with the slot free during the wait both waits overlap
        let cloud = MemoryCloud::new(Duration::from_millis(10), Duration::ZERO);
        let mut state = State::new("s");
        for a in ["a", "b"] {
            state
                .resources
                .insert(a.into(), recorded_as(&format!("name-{a}"), None, Status::Creating));
        }
        let t0 = Instant::now();
        let live = refresh(&cloud.registry(), &state, 1).await.unwrap();
        let took = t0.elapsed();
        assert!(
            took < FIND_AGAIN_AFTER * 3 / 2,
            "took {took:?}: the waits were serialised behind one slot"
        );
        assert_eq!(live.len(), 2);
        assert!(live.values().all(|l| l.id.is_none() && l.observed.is_none()));
        assert_eq!(cloud.calls().iter().filter(|c| c.op == "find").count(), 4, "each looked twice");
        assert_eq!(cloud.max_in_flight(), 1, "still one cloud call at a time");
    }

    #[tokio::test]
    async fn an_interrupted_creates_name_finding_another_stacks_object_finds_nothing() {
        // issue #24: another stack's object under the name (why the create failed) is not this
        // stack's to finish or to delete
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        let theirs = serde_json::json!({"empi-infra:stack": "other", "empi-infra:region": "r"});
        cloud
            .create("name-a", "a", &[("tags".to_string(), theirs)].into_iter().collect())
            .await
            .unwrap();
        let tags = serde_json::json!({"empi-infra:stack": "s", "empi-infra:region": "r"});
        let mut state = State::new("s");
        let attrs: crate::resource::Attrs = [("tags".to_string(), tags)].into_iter().collect();
        state.resources.insert(
            "a".into(),
            ResourceState { attrs, ..recorded_as("name-a", None, Status::Creating) },
        );
        let live = refresh(&cloud.registry(), &state, 1).await.unwrap();
        assert!(live["a"].id.is_none() && live["a"].observed.is_none(), "{:?}", live["a"]);
    }

    #[tokio::test]
    async fn parallelism_bounds_refresh_calls_in_flight() {
        let cloud = MemoryCloud::new(Duration::from_millis(20), Duration::ZERO);
        let mut state = State::new("s");
        for i in 0..8 {
            let name = format!("name-t{i}");
            // tagged as this stack's: an interrupted create found by name must prove it is ours
            let tags = serde_json::json!({"empi-infra:stack": "s", "empi-infra:region": "r"});
            let inputs: crate::resource::Attrs = [("tags".to_string(), tags)].into_iter().collect();
            let id = cloud.create(&name, &format!("t{i}"), &inputs).await.unwrap();
            // half recorded with their id, half interrupted creates found by name
            let id = (i % 2 == 0).then_some(id);
            let status = if id.is_some() { Status::Created } else { Status::Creating };
            state.resources.insert(
                format!("t{i}"),
                ResourceState { attrs: inputs.clone(), ..recorded_as(&name, id, status) },
            );
        }
        let live = refresh(&cloud.registry(), &state, 3).await.unwrap();
        assert_eq!(live.len(), 8);
        assert!(live.values().all(|l| l.id.is_some() && l.observed.is_some()));
        assert_eq!(cloud.max_in_flight(), 3);
    }
}
