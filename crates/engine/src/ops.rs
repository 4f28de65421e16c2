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
    /// A saved plan whose step does not follow from the stack and the state it claims to be made
    /// from (edited by hand or by a tool): nothing of it runs.
    #[error(
        "the saved plan cannot be applied: {address}: {why}; nothing was changed. Make the plan again with `empi-infra plan --out FILE`"
    )]
    UntrustedPlan { address: String, why: String },
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
        // (an object under a resource's name that is not provably this stack's fails the plan)
        if let Some(e) = plan::adopt(graph, registry, &part, &mut live, parallelism)
            .await?
            .refused
            .into_iter()
            .next()
        {
            return Err(PlanError::NotOurs(e).into());
        }
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

/// A state rebuilt from the cloud alone: every resource of `graph` found by its name and tags
/// and proven this stack's by them (`crate::ownership`), recorded as apply would have recorded it
/// (the stack's inputs, the outputs read live). Returns the state (a new lineage unless `previous`
/// is given), the addresses not found, and the objects found under a resource's name that are not
/// provably this stack's (left out: `state import` takes one over explicitly). Makes only read
/// calls.
pub async fn rebuild(
    graph: &ResourceGraph,
    registry: &Registry,
    stack: &str,
    previous: Option<&State>,
    facts: BTreeMap<String, Value>,
    parallelism: usize,
) -> Result<(State, Vec<String>, Vec<crate::ownership::NotOurs>), OpsError> {
    let empty = State::new(stack);
    let mut live = BTreeMap::new();
    let refused = plan::adopt(graph, registry, &empty, &mut live, parallelism).await?.refused;
    let mut state = match previous {
        // a readable previous state keeps its lineage (saved plans of it go stale on the next
        // serial) and its facts (past durations, zones chosen)
        Some(p) => State { resources: Default::default(), ..p.clone() },
        None => empty,
    };
    state.facts.extend(facts);
    let mut missing = Vec::new();
    for spec in graph.topological() {
        let Some(crate::plan::Live { id: Some(id), observed: Some(observed) }) =
            live.get(&spec.address)
        else {
            missing.push(spec.address.clone());
            continue;
        };
        let lookup = |addr: &str, out: &str| {
            live.get(addr)
                .and_then(|l| l.observed.as_ref())
                .and_then(|o| o.outputs.get(out))
                .cloned()
        };
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
    Ok((state, missing, refused))
}

/// A plan that deletes every recorded resource.
pub async fn make_destroy_plan(
    registry: &Registry,
    state: &State,
    parallelism: usize,
    digest: &str,
) -> Result<Plan, OpsError> {
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

/// Checks, before anything of a saved plan runs, that every step follows from the stack (its
/// `graph`) and the `state` the plan was made from: what a create, update or replace applies is
/// exactly the stack's spec; an update changes nothing its kind can only replace; statefulness is
/// the kind's; an update, replace or delete acts on the id state records; a delete removes only
/// what state records (and, unless the plan is a destroy, what the stack no longer has). The
/// executor checks each live object's ownership again before it touches it.
pub fn check_saved_plan(
    plan: &Plan,
    graph: &ResourceGraph,
    state: &State,
    registry: &Registry,
) -> Result<(), OpsError> {
    let refuse = |address: &str, why: String| {
        Err(OpsError::UntrustedPlan { address: address.to_string(), why })
    };
    let mut seen = std::collections::BTreeSet::new();
    for c in &plan.changes {
        if !seen.insert(c.address.as_str()) {
            return refuse(&c.address, "it appears twice".into());
        }
        if c.action == Action::NoOp {
            continue;
        }
        let Some(schema) = schema(registry, &c.kind) else {
            return refuse(&c.address, format!("its type {} is unknown", c.kind));
        };
        if c.stateful != schema.stateful {
            return refuse(
                &c.address,
                format!(
                    "it marks the resource as {}stateful, but {} is {}",
                    if c.stateful { "" } else { "not " },
                    c.kind,
                    if schema.stateful { "stateful" } else { "not stateful" }
                ),
            );
        }
        let recorded = state.resources.get(c.address.trim_end_matches("#deposed"));
        if c.action == Action::Delete {
            if let Some(address) = c.address.strip_suffix("#deposed") {
                if !state.facts.contains_key(&crate::plan::deposed_fact(address)) {
                    return refuse(
                        &c.address,
                        "it deletes a replaced object that state does not record".into(),
                    );
                }
                continue;
            }
            let Some(rs) = recorded else {
                return refuse(
                    &c.address,
                    "it deletes a resource that state does not record".into(),
                );
            };
            if rs.kind != c.kind {
                return refuse(
                    &c.address,
                    format!("it deletes it as type {}, but state records type {}", c.kind, rs.kind),
                );
            }
            if let (Some(want), Some(got)) = (&rs.id, &c.id) {
                if want != got {
                    return refuse(
                        &c.address,
                        format!("it deletes {got}, but state records {want} at that address"),
                    );
                }
            }
            if !plan.destroy && graph.get(&c.address).is_some() && !plan.is_targeted() {
                return refuse(&c.address, "it deletes a resource the stack still has (only a replace or a destroy does that)".into());
            }
            continue;
        }
        if plan.destroy {
            return refuse(
                &c.address,
                format!(
                    "a destroy plan only deletes, but it {}s",
                    format!("{:?}", c.action).to_lowercase()
                ),
            );
        }
        let (Some(spec), Some(want)) = (&c.spec, graph.get(&c.address)) else {
            return refuse(&c.address, "the stack has no such resource".into());
        };
        if spec != want || c.kind != want.kind {
            return refuse(
                &c.address,
                "what it applies differs from what the stack file says (its inputs were edited)"
                    .into(),
            );
        }
        // what `show` displays is what runs: every shown value of an input the stack writes as a
        // literal is that literal, and a plain create shows every input it sets
        for a in &c.attributes {
            if let (Some(crate::resource::Expr::Lit(want)), Some(shown), false) =
                (spec.inputs.get(&a.name), &a.after, a.after_unknown)
            {
                if shown != want {
                    return refuse(
                        &c.address,
                        format!("it shows {} as {shown}, but applies {want}", a.name),
                    );
                }
            }
        }
        if c.action == Action::Create && c.id.is_none() {
            if let Some(k) =
                spec.inputs.keys().find(|k| !c.attributes.iter().any(|a| &a.name == *k))
            {
                return refuse(
                    &c.address,
                    format!("it creates the resource without showing its {k}"),
                );
            }
        }
        let recorded_id = recorded
            .filter(|r| r.status == crate::state::Status::Created)
            .and_then(|r| r.id.as_ref());
        match c.action {
            Action::Update => {
                let Some(want) = recorded_id else {
                    return refuse(
                        &c.address,
                        "it updates a resource that state does not record".into(),
                    );
                };
                if c.id.as_ref() != Some(want) {
                    return refuse(
                        &c.address,
                        format!(
                            "it updates {}, but state records {want}",
                            c.id.as_deref().unwrap_or("nothing")
                        ),
                    );
                }
                if let Some(a) = c.attributes.iter().find(|a| {
                    a.forces_replacement || schema.attr(&a.name).is_some_and(|s| s.force_new)
                }) {
                    return refuse(
                        &c.address,
                        format!(
                            "it changes {} in place, but a change of {} forces replacement",
                            a.name, a.name
                        ),
                    );
                }
            }
            Action::Replace => {
                if let (Some(want), Some(got)) = (recorded_id, &c.id) {
                    if want != got {
                        return refuse(
                            &c.address,
                            format!("it replaces {got}, but state records {want}"),
                        );
                    }
                }
            }
            Action::Create => {
                if let Some(have) = recorded_id {
                    return refuse(
                        &c.address,
                        format!("it creates a resource that state records as {have}"),
                    );
                }
            }
            Action::NoOp | Action::Delete => unreachable!("handled above"),
        }
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
    // the lock may have been lost while planning or asking for confirmation
    writer.fence()?;
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
