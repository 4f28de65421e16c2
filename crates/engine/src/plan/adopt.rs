//! Adoption: before planning a create, look for the object in the cloud by its deterministic name
//! and `empi-infra:address` tag. State is a cache; the cloud's names and tags are the truth. A
//! lost, stale, restored or truncated state then never makes apply create a second VPC, database
//! or load balancer: what is found is adopted (recorded, then diffed like any other resource) when
//! its tags prove it is this stack's (`crate::ownership`); anything else found under the name
//! fails the plan, naming the object and `state import`.
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
use crate::ownership::{self, Found};
use crate::resource::{Attrs, Registry};
use crate::state::State;

/// What adoption found.
#[derive(Debug, Default)]
pub struct Adoption {
    /// The addresses adopted, in dependency order.
    pub adopted: Vec<String>,
    /// Objects found under a resource's name that are not provably this stack's: never adopted.
    pub refused: Vec<ownership::NotOurs>,
}

/// Looks for every resource of `graph` that `state` does not record, and adds what it finds and
/// proves this stack's to `live` (the id and the object as read).
pub async fn adopt(
    graph: &ResourceGraph,
    registry: &Registry,
    state: &State,
    live: &mut BTreeMap<String, Live>,
    parallelism: usize,
) -> Result<Adoption, PlanError> {
    // what is known of each address so far: Some(outputs) exists, None does not (or not yet)
    let mut known: HashMap<String, Option<Attrs>> = HashMap::new();
    for (address, rs) in &state.resources {
        let outputs =
            live.get(address).and_then(|l| l.observed.as_ref()).map(|o| o.outputs.clone());
        known.insert(
            address.clone(),
            outputs.or_else(|| rs.id.as_ref().map(|_| rs.outputs.clone())),
        );
    }
    let mut pending: Vec<_> = graph
        .topological()
        .into_iter()
        .filter(|s| !state.resources.contains_key(&s.address))
        .collect();
    let mut adoption = Adoption::default();
    let slots = Arc::new(Semaphore::new(parallelism.max(1)));
    while !pending.is_empty() {
        let (wave, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|s| s.dependencies().iter().all(|d| known.contains_key(d)));
        pending = rest;
        if wave.is_empty() {
            // a dependency outside the graph (cannot happen for a checked graph): nothing to find
            break;
        }
        let mut tasks = tokio::task::JoinSet::new();
        for spec in wave {
            let lookup = |addr: &str, out: &str| {
                known.get(addr).and_then(|o| o.as_ref()).and_then(|o| o.get(out)).cloned()
            };
            let inputs: Option<Attrs> = spec
                .inputs
                .iter()
                .map(|(k, e)| e.resolve(&lookup).map(|v| (k.clone(), v)))
                .collect();
            let (Some(inputs), Some(r)) = (inputs, registry.get(&spec.kind).cloned()) else {
                // a parent that does not exist: neither does this
                known.insert(spec.address.clone(), None);
                continue;
            };
            let (address, name, slots, stack) =
                (spec.address.clone(), spec.name.clone(), slots.clone(), state.stack.clone());
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
                    // found by name: adopted only when its tags prove it is this stack's
                    let region = ownership::expected_region(&inputs);
                    if let Err(e) = ownership::check(
                        r.schema(),
                        &stack,
                        region.as_deref(),
                        &address,
                        id,
                        o,
                        Found::ByName,
                        ownership::FOUND_FIX,
                    ) {
                        return Ok::<_, PlanError>((address.clone(), None, None, Some(e)));
                    }
                }
                Ok::<_, PlanError>((address.clone(), id, observed, None))
            });
        }
        let mut found = Vec::new();
        while let Some(res) = tasks.join_next().await {
            let (address, id, observed, refused) = res.expect("adoption task panicked")?;
            // a refused object is not this stack's: what depends on it is not looked for either
            adoption.refused.extend(refused);
            known.insert(address.clone(), observed.as_ref().map(|o| o.outputs.clone()));
            if let (Some(id), Some(observed)) = (id, observed) {
                tracing::info!(address = %address, id = %id, "found in the cloud by its name and tags; adopting it");
                live.insert(address.clone(), Live { id: Some(id), observed: Some(observed) });
                found.push(address);
            }
        }
        found.sort();
        adoption.adopted.extend(found);
    }
    adoption.refused.sort_by(|a, b| a.address().cmp(b.address()));
    Ok(adoption)
}

/// [`ownership::check`] as a plan error.
pub(super) fn owned(
    schema: &crate::resource::Schema,
    stack: &str,
    expected: &Attrs,
    address: &str,
    id: &str,
    observed: &crate::resource::Observed,
    found: Found,
    fix: &'static str,
) -> Result<(), PlanError> {
    ownership::check(
        schema,
        stack,
        ownership::expected_region(expected).as_deref(),
        address,
        id,
        observed,
        found,
        fix,
    )
    .map_err(PlanError::NotOurs)
}

/// The value an adopted resource's attribute is recorded with: what the stack asks for, with the
/// outputs of the resources found so far (what apply would have recorded).
pub fn resolved_inputs(
    spec: &crate::resource::ResourceSpec,
    outputs: &dyn Fn(&str, &str) -> Option<Value>,
) -> Attrs {
    spec.inputs.iter().filter_map(|(k, e)| e.resolve(outputs).map(|v| (k.clone(), v))).collect()
}
