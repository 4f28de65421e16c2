//! Adoption: before planning a create, look for the object in the cloud by its deterministic name
//! and `empi-infra:address` tag. State is a cache; the cloud's names and tags are the truth. A
//! lost, stale, restored or truncated state then never makes apply create a second VPC, database
//! or load balancer: what is found is adopted (recorded, then diffed like any other resource).
//!
//! Lookups go in waves down the dependency graph, `parallelism` calls at a time: a resource's
//! lookup needs its parents' ids (a subnet is looked for in its VPC), so it waits for them; a
//! resource whose parent was not found cannot exist and is not looked for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::{Live, PlanError};
use crate::graph::ResourceGraph;
use crate::resource::{Attrs, Registry};
use crate::state::State;

/// Looks for every resource of `graph` that `state` does not record, and adds what it finds to
/// `live` (the id and the object as read). Returns the addresses adopted, in dependency order.
pub async fn adopt(
    graph: &ResourceGraph,
    registry: &Registry,
    state: &State,
    live: &mut BTreeMap<String, Live>,
    parallelism: usize,
) -> Result<Vec<String>, PlanError> {
    // what is known of each address so far: Some(outputs) exists, None does not (or not yet)
    let mut known: HashMap<String, Option<Attrs>> = HashMap::new();
    for (address, rs) in &state.resources {
        let outputs = live.get(address).and_then(|l| l.observed.as_ref()).map(|o| o.outputs.clone());
        known.insert(address.clone(), outputs.or_else(|| rs.id.as_ref().map(|_| rs.outputs.clone())));
    }
    let mut pending: Vec<_> = graph.topological().into_iter().filter(|s| !state.resources.contains_key(&s.address)).collect();
    let mut adopted = Vec::new();
    let slots = Arc::new(Semaphore::new(parallelism.max(1)));
    while !pending.is_empty() {
        let (wave, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|s| s.dependencies().iter().all(|d| known.contains_key(d)));
        pending = rest;
        if wave.is_empty() {
            // a dependency outside the graph (cannot happen for a checked graph): nothing to find
            break;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for spec in wave {
            let lookup = |addr: &str, out: &str| known.get(addr).and_then(|o| o.as_ref()).and_then(|o| o.get(out)).cloned();
            let inputs: Option<Attrs> = spec.inputs.iter().map(|(k, e)| e.resolve(&lookup).map(|v| (k.clone(), v))).collect();
            let (Some(inputs), Some(r)) = (inputs, registry.get(&spec.kind).cloned()) else {
                // a parent that does not exist: neither does this
                known.insert(spec.address.clone(), None);
                continue;
            };
            let (address, name, slots, stack) = (spec.address.clone(), spec.name.clone(), slots.clone(), state.stack.clone());
            tasks.spawn(async move {
                let err = |source| PlanError::Read { address: address.clone(), source };
                let id = {
                    let _slot = slots.acquire().await.expect("semaphore open");
                    r.find(&name, &address, &inputs).await.map_err(err)?
                };
                let observed = match &id {
                    Some(id) => {
                        let _slot = slots.acquire().await.expect("semaphore open");
                        r.read(id, &inputs).await.map_err(err)?
                    }
                    None => None,
                };
                if let (Some(id), Some(o)) = (&id, &observed) {
                    owned(&stack, &address, id, o, ADOPT_FIX)?;
                }
                Ok::<_, PlanError>((address.clone(), id, observed))
            });
        }
        let mut found = Vec::new();
        while let Some(res) = tasks.join_next().await {
            let (address, id, observed) = res.expect("adoption task panicked")?;
            known.insert(address.clone(), observed.as_ref().map(|o| o.outputs.clone()));
            if let (Some(id), Some(observed)) = (id, observed) {
                tracing::info!(address = %address, id = %id, "found in the cloud by its name and tags; adopting it");
                live.insert(address.clone(), Live { id: Some(id), observed: Some(observed) });
                found.push(address);
            }
        }
        found.sort();
        adopted.extend(found);
    }
    Ok(adopted)
}

/// What to do about another stack's object found by this stack's name.
pub(super) const ADOPT_FIX: &str = "Give one of the two stacks another name, or destroy that object with its own stack first.";

/// What to do about a recorded id whose object is another stack's.
pub(super) const RECORDED_FIX: &str =
    "This state was not written for this stack's objects (copied from another stack?): move it away and run `empi-infra state rebuild`.";

/// Refuses an object whose `empi-infra:stack` tag names another stack. An object without the tag
/// (one made before the tag, or a kind AWS does not tag) is judged by its name and address alone.
pub(super) fn owned(
    stack: &str,
    address: &str,
    id: &str,
    observed: &crate::resource::Observed,
    fix: &'static str,
) -> Result<(), PlanError> {
    let owner = observed.attrs.get("tags").and_then(|t| t.get(crate::stack::TAG_STACK)).and_then(Value::as_str);
    match owner {
        Some(owner) if owner != stack => Err(PlanError::NotOurs {
            address: address.to_string(),
            id: id.to_string(),
            owner: owner.to_string(),
            stack: stack.to_string(),
            fix,
        }),
        _ => Ok(()),
    }
}

/// The value an adopted resource's attribute is recorded with: what the stack asks for, with the
/// outputs of the resources found so far (what apply would have recorded).
pub fn resolved_inputs(spec: &crate::resource::ResourceSpec, outputs: &dyn Fn(&str, &str) -> Option<Value>) -> Attrs {
    spec.inputs.iter().filter_map(|(k, e)| e.resolve(outputs).map(|v| (k.clone(), v))).collect()
}
