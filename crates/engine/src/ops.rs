//! The commands' shared workflow: plan (refresh + diff), check a saved plan against state, apply
//! under the state lock, and resolve the stack's outputs. The CLI is a thin layer over this.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::exec::{self, ApplyReport, ExecOptions, Progress};
use crate::graph::{GraphError, ResourceGraph};
use crate::plan::{self, Action, Plan, PlanError};
use crate::resource::{Expr, Registry, Schema};
use crate::state::{State, StateError, StateStore, StateWriter};
use crate::target::{self, TargetError};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the saved plan is stale: it was made from state serial {plan_serial} (lineage {plan_lineage}), but the state is now at serial {serial} (lineage {lineage}); run `empi-infra plan --out FILE` again and apply the new plan")]
    StalePlan { plan_serial: u64, plan_lineage: String, serial: u64, lineage: String },
    #[error("the saved plan is for stack {plan:?}, not {stack:?}; pass the matching --stack")]
    WrongStack { plan: String, stack: String },
    #[error(
        "the plan replaces {0}, which holds data that replacement destroys; if that is intended, run apply again with --allow-replace {0}"
    )]
    StatefulReplace(String),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("the targeted part of the graph is not whole (a bug in empi-infra): {0}")]
    Graph(#[from] GraphError),
}

/// Refreshes (unless `refresh` is false) and diffs.
pub async fn make_plan(
    graph: &ResourceGraph,
    registry: &Registry,
    state: &State,
    refresh: bool,
    parallelism: usize,
    digest: &str,
) -> Result<Plan, OpsError> {
    make_targeted_plan(graph, registry, state, refresh, parallelism, digest, &[]).await
}

/// Like [`make_plan`], limited to `targets` (none: the whole stack) and what they depend on
/// ([`target::plan_scope`]): nothing else is read or planned.
pub async fn make_targeted_plan(
    graph: &ResourceGraph,
    registry: &Registry,
    state: &State,
    refresh: bool,
    parallelism: usize,
    digest: &str,
    targets: &[String],
) -> Result<Plan, OpsError> {
    let scoped;
    let (graph, part) = if targets.is_empty() {
        (graph, Cow::Borrowed(state))
    } else {
        let scope = target::plan_scope(graph, state, targets)?;
        scoped = graph.subgraph(&scope)?;
        (&scoped, Cow::Owned(target::restrict(state, &scope)))
    };
    let live = if refresh {
        let mut live = plan::refresh(registry, &part, parallelism).await?;
        // what state does not record is looked for in the cloud before it is planned as a create
        plan::adopt(graph, registry, &part, &mut live, parallelism).await?;
        live
    } else {
        plan::recorded(&part)
    };
    let schema_of = |k: &str| schema(registry, k);
    let mut p = plan::diff(graph, &part, &live, &schema_of, digest);
    p.targets = targets.to_vec();
    p.estimate = plan::estimate(&p, state, &schema_of);
    Ok(p)
}

/// A state rebuilt from the cloud alone: every resource of `graph` found by its name and
/// `empi-infra:address` tag, recorded as apply would have recorded it (the stack's inputs, the
/// outputs read live). Returns the state (a new lineage unless `previous` is given) and the
/// addresses not found. Makes only read calls.
pub async fn rebuild(
    graph: &ResourceGraph,
    registry: &Registry,
    stack: &str,
    previous: Option<&State>,
    facts: BTreeMap<String, Value>,
    parallelism: usize,
) -> Result<(State, Vec<String>), OpsError> {
    let empty = State::new(stack);
    let mut live = BTreeMap::new();
    plan::adopt(graph, registry, &empty, &mut live, parallelism).await?;
    let mut state = match previous {
        // a readable previous state keeps its lineage (saved plans of it go stale on the next
        // serial) and its facts (past durations, zones chosen)
        Some(p) => State { resources: Default::default(), ..p.clone() },
        None => empty,
    };
    state.facts.extend(facts);
    let mut missing = Vec::new();
    for spec in graph.topological() {
        let Some(crate::plan::Live { id: Some(id), observed: Some(observed) }) = live.get(&spec.address) else {
            missing.push(spec.address.clone());
            continue;
        };
        let lookup = |addr: &str, out: &str| live.get(addr).and_then(|l| l.observed.as_ref()).and_then(|o| o.outputs.get(out)).cloned();
        state.resources.insert(
            spec.address.clone(),
            crate::state::ResourceState {
                kind: spec.kind.clone(),
                name: spec.name.clone(),
                id: Some(id.clone()),
                status: crate::state::Status::Created,
                attrs: plan::resolved_inputs(spec, &lookup),
                outputs: observed.outputs.clone(),
                depends_on: spec.dependencies(),
            },
        );
    }
    Ok((state, missing))
}

/// A plan that deletes every recorded resource.
pub async fn make_destroy_plan(registry: &Registry, state: &State, parallelism: usize, digest: &str) -> Result<Plan, OpsError> {
    make_targeted_destroy_plan(registry, state, parallelism, digest, &[]).await
}

/// Like [`make_destroy_plan`], limited to `targets` (none: everything) and what depends on them
/// ([`target::destroy_scope`]).
pub async fn make_targeted_destroy_plan(
    registry: &Registry,
    state: &State,
    parallelism: usize,
    digest: &str,
    targets: &[String],
) -> Result<Plan, OpsError> {
    let part = if targets.is_empty() {
        Cow::Borrowed(state)
    } else {
        Cow::Owned(target::restrict(state, &target::destroy_scope(state, targets)?))
    };
    let live = plan::refresh(registry, &part, parallelism).await?;
    let schema_of = |k: &str| schema(registry, k);
    let mut p = plan::destroy_plan(&part, &live, &schema_of, digest);
    p.targets = targets.to_vec();
    p.estimate = plan::estimate(&p, state, &schema_of);
    Ok(p)
}

fn schema(registry: &Registry, kind: &str) -> Option<&'static Schema> {
    registry.get(kind).map(|r| r.schema())
}

/// Refuses a plan made from another stack or from a state that has moved since.
pub fn check_current(plan: &Plan, state: &State) -> Result<(), OpsError> {
    if plan.stack != state.stack {
        return Err(OpsError::WrongStack { plan: plan.stack.clone(), stack: state.stack.clone() });
    }
    if plan.lineage != state.lineage || plan.serial != state.serial {
        return Err(OpsError::StalePlan {
            plan_serial: plan.serial,
            plan_lineage: plan.lineage.clone(),
            serial: state.serial,
            lineage: state.lineage.clone(),
        });
    }
    Ok(())
}

/// Refuses to replace a stateful resource unless its address is in `allowed`.
pub fn check_stateful(plan: &Plan, allowed: &[String]) -> Result<(), OpsError> {
    for c in &plan.changes {
        if c.action == Action::Replace && c.stateful && !allowed.contains(&c.address) {
            return Err(OpsError::StatefulReplace(c.address.clone()));
        }
    }
    Ok(())
}

/// Applies `plan` to the state it was made from, writing state after every operation.
pub async fn apply(
    plan: &Plan,
    registry: &Registry,
    store: Arc<dyn StateStore>,
    mut state: State,
    opts: ExecOptions,
    progress: Arc<dyn Progress>,
) -> Result<(ApplyReport, State), OpsError> {
    if state.serial == 0 && plan.serial == 0 && state.resources.is_empty() {
        // a state never written yet: the plan's lineage becomes the state's
        state.lineage = plan.lineage.clone();
    }
    check_current(plan, &state)?;
    // facts the plan was made with (the zones it placed subnets in) hold from now on
    state.facts.extend(plan.facts.iter().map(|(k, v)| (k.clone(), v.clone())));
    let writer = Arc::new(StateWriter::new(state, store));
    let report = exec::apply(plan, registry, writer.clone(), opts, progress).await;
    // one complete document at the end of every run (the journal folds into it)
    writer.flush().await?;
    Ok((report, writer.snapshot().await))
}

/// The stack's outputs from state; `None` where the resource does not exist yet.
pub fn outputs(defs: &[(&'static str, Expr)], state: &State) -> BTreeMap<String, Option<Value>> {
    let lookup = |a: &str, o: &str| state.resources.get(a).and_then(|r| r.outputs.get(o)).cloned();
    defs.iter().map(|(k, e)| (k.to_string(), e.resolve(&lookup))).collect()
}
