//! The diff: compares the stack's desired resources with what state records and refresh found,
//! attribute by attribute (values normalised the way AWS compares them), and decides create /
//! update / replace / delete / no-op for each; also the destroy plan and the leaf-by-leaf
//! flattening that diffs of nested documents (plan text, drift) share.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Action, AttrChange, Live, Objects, Plan, ResourceChange, PLAN_FORMAT_VERSION};
use crate::graph::ResourceGraph;
use crate::resource::{AttrSchema, Attrs, Schema};
use crate::state::{ResourceState, State, Status};

/// Normalises a value for comparison the way AWS does: sets sorted, and IAM policy documents
/// compared semantically (a one-element list is the same as its element, list order does not matter).
pub fn normalize(attr: Option<&AttrSchema>, v: &Value) -> Value {
    if attr.is_some_and(|a| a.policy) {
        return canonical_policy(v);
    }
    match v {
        Value::Array(xs) if attr.is_some_and(|a| a.set) => {
            let mut xs: Vec<Value> = xs.clone();
            // by the value with its keys in order: a set read back from the cloud may name an
            // element's keys in another order than the stack's (security group rules)
            xs.sort_by_key(set_order);
            xs.dedup();
            Value::Array(xs)
        }
        other => other.clone(),
    }
}

/// The sort key of a set element: its JSON text with every object's keys in order.
fn set_order(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
            }
            Value::Array(xs) => Value::Array(xs.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

fn canonical_policy(v: &Value) -> Value {
    match v {
        Value::Array(xs) if xs.len() == 1 && !xs[0].is_object() => canonical_policy(&xs[0]),
        Value::Array(xs) => {
            let mut xs: Vec<Value> = xs.iter().map(canonical_policy).collect();
            xs.sort_by_key(|x| x.to_string());
            Value::Array(xs)
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), canonical_policy(x))).collect())
        }
        other => other.clone(),
    }
}

/// Decides what to do with every resource. `schemas` gives each kind's schema.
pub fn diff(
    graph: &ResourceGraph,
    state: &State,
    live: &BTreeMap<String, Live>,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
    stack_digest: &str,
) -> Plan {
    let mut changes = Vec::new();
    // outputs known at plan time; None = will be known after apply
    let mut known: HashMap<String, Option<Attrs>> = HashMap::new();
    for spec in graph.topological() {
        let schema = schema_of(&spec.kind);
        let stateful = schema.map(|s| s.stateful).unwrap_or(false);
        let lookup = |addr: &str, out: &str| {
            known.get(addr).and_then(|o| o.as_ref()).and_then(|o| o.get(out)).cloned()
        };
        let desired: BTreeMap<&str, Option<Value>> =
            spec.inputs.iter().map(|(k, e)| (k.as_str(), e.resolve(&lookup))).collect();
        // what the plan shows: known parts of partly known values
        let shown: BTreeMap<&str, Value> =
            spec.inputs.iter().map(|(k, e)| (k.as_str(), e.resolve_partial(&lookup).0)).collect();
        let rs = state.resources.get(&spec.address);
        let l = live.get(&spec.address);
        let observed = l.and_then(|l| l.observed.as_ref());

        let create_attrs = || {
            desired
                .iter()
                .map(|(k, v)| AttrChange {
                    name: k.to_string(),
                    before: None,
                    after: Some(shown[k].clone()),
                    after_unknown: v.is_none(),
                    forces_replacement: false,
                })
                .collect::<Vec<_>>()
        };
        // the attributes whose live (or, write-only, recorded) value differs from the desired one,
        // and whether one of them forces replacement
        let compare = |recorded: &Attrs, obs: &crate::resource::Observed| {
            let mut attrs = Vec::new();
            let mut replace = false;
            for (k, want) in &desired {
                let a = schema.and_then(|s| s.attr(k));
                let force = a.map(|a| a.force_new).unwrap_or(false);
                let write_only = a.map(|a| a.write_only).unwrap_or(false);
                let have = if write_only {
                    recorded.get(*k)
                } else {
                    obs.attrs.get(*k).or(recorded.get(*k))
                };
                let same = match (want, have) {
                    (Some(w), Some(h)) => normalize(a, w) == normalize(a, h),
                    (Some(_), None) => false,
                    (None, _) => false,
                };
                // set once: in place from nothing, a replacement from anything else
                let force = force
                    || (a.is_some_and(|a| a.set_once)
                        && have.is_some_and(|h| !(h.is_null() || h.as_str() == Some(""))));
                if !same {
                    replace |= force;
                    attrs.push(AttrChange {
                        name: k.to_string(),
                        before: have.cloned(),
                        after: Some(shown[k].clone()),
                        after_unknown: want.is_none(),
                        forces_replacement: force,
                    });
                }
            }
            (attrs, replace)
        };
        let run_once = schema.map(|s| s.run_once).unwrap_or(false);
        // the whole object before: as the diff compares it (write-only inputs as recorded)
        let before = match (rs, observed) {
            (Some(rs), Some(obs)) => Some(
                desired
                    .keys()
                    .filter_map(|k| {
                        let write_only =
                            schema.and_then(|s| s.attr(k)).is_some_and(|a| a.write_only);
                        let have = if write_only {
                            rs.attrs.get(*k)
                        } else {
                            obs.attrs.get(*k).or(rs.attrs.get(*k))
                        };
                        have.map(|v| (k.to_string(), v.clone()))
                    })
                    .collect(),
            ),
            (Some(rs), None) if run_once && rs.status == Status::Created => Some(rs.attrs.clone()),
            _ => None,
        };
        let before_outputs = observed
            .map(|o| o.outputs.clone())
            .or_else(|| rs.map(|r| r.outputs.clone()))
            .unwrap_or_default();
        let (action, attributes, reason, id) = match (rs, observed) {
            (None, Some(obs)) => {
                // not in state, but found by its name and address tag: adopt it, and change what
                // differs (a lost, stale or restored state never creates a second one)
                let (attrs, replace) = compare(&Attrs::new(), obs);
                let id = l.and_then(|l| l.id.clone());
                let found = id.clone().unwrap_or_default();
                if replace {
                    (
                        Action::Replace,
                        attrs,
                        Some(format!(
                            "found {found} by its name and tags, unrecorded in state, and it differs where a change forces replacement"
                        )),
                        id,
                    )
                } else {
                    (
                        Action::Create,
                        attrs,
                        Some(format!(
                            "adopting {found}: found by its name and tags; state did not record it"
                        )),
                        id,
                    )
                }
            }
            (None, _) => (Action::Create, create_attrs(), None, None),
            (Some(rs), _) if run_once && rs.status == Status::Created => {
                (Action::NoOp, vec![], None, rs.id.clone())
            }
            (Some(rs), None) => {
                let reason = match rs.status {
                    Status::Creating => "an interrupted create left nothing behind; creating it",
                    Status::Deleting => "an interrupted delete finished; creating it again",
                    Status::Created => "it was deleted outside empi-infra; creating it again",
                };
                (Action::Create, create_attrs(), Some(reason.to_string()), None)
            }
            (Some(rs), Some(obs)) => {
                let (mut attrs, mut replace) = compare(&rs.attrs, obs);
                if rs.name != spec.name {
                    // the deterministic name is part of the identity: a new name is a new resource
                    replace = true;
                    attrs.push(AttrChange {
                        name: "name".into(),
                        before: Some(Value::String(rs.name.clone())),
                        after: Some(Value::String(spec.name.clone())),
                        after_unknown: false,
                        forces_replacement: true,
                    });
                }
                let id = l.and_then(|l| l.id.clone());
                match rs.status {
                    Status::Deleting => (
                        Action::Replace,
                        attrs,
                        Some("an interrupted delete left it behind; replacing it".into()),
                        id,
                    ),
                    Status::Creating if replace => (
                        Action::Replace,
                        attrs,
                        Some("an interrupted create was found; replacing it".into()),
                        id,
                    ),
                    Status::Creating => (
                        Action::Create,
                        attrs,
                        Some(format!(
                            "resuming an interrupted create: found {}",
                            id.clone().unwrap_or_default()
                        )),
                        id,
                    ),
                    Status::Created if replace => (Action::Replace, attrs, None, id),
                    Status::Created if !attrs.is_empty() => (Action::Update, attrs, None, id),
                    Status::Created => (Action::NoOp, attrs, None, id),
                }
            }
        };
        let outputs = match action {
            Action::Create if id.is_none() => None,
            Action::Replace => None,
            _ => observed.map(|o| o.outputs.clone()).or_else(|| rs.map(|r| r.outputs.clone())),
        };
        known.insert(spec.address.clone(), outputs.clone());
        let objects = Objects {
            name: spec.name.clone(),
            before: if action == Action::Create { None } else { before },
            before_outputs: if action == Action::Create {
                Default::default()
            } else {
                before_outputs
            },
            outputs,
        };
        changes.push(ResourceChange {
            address: spec.address.clone(),
            kind: spec.kind.clone(),
            action,
            attributes,
            reason,
            stateful,
            create_before_destroy: action == Action::Replace
                && schema.is_some_and(|s| s.create_before_destroy),
            spec: Some(spec.clone()),
            id,
            objects,
        });
    }
    // recorded resources the stack no longer has
    for (address, rs) in &state.resources {
        if graph.get(address).is_some() {
            continue;
        }
        changes.push(delete_change(address, rs, live.get(address), schema_of));
    }
    changes.extend(deposed_changes(state, schema_of));
    plan_of(state, stack_digest, false, changes)
}

/// A plan of `changes`, bound to the state it was made from.
fn plan_of(state: &State, stack_digest: &str, destroy: bool, changes: Vec<ResourceChange>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        stack: state.stack.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        stack_digest: stack_digest.into(),
        destroy,
        changes,
        warnings: Vec::new(),
        facts: BTreeMap::new(),
        estimate: None,
        targets: Vec::new(),
        digest: None,
        cost: None,
        review: Default::default(),
    }
}

fn delete_change(
    address: &str,
    rs: &ResourceState,
    live: Option<&Live>,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
) -> ResourceChange {
    let id = live.and_then(|l| l.id.clone()).or(rs.id.clone());
    let gone = live.map(|l| l.observed.is_none()).unwrap_or(false);
    ResourceChange {
        address: address.into(),
        kind: rs.kind.clone(),
        action: Action::Delete,
        attributes: rs
            .attrs
            .iter()
            .map(|(k, v)| AttrChange {
                name: k.clone(),
                before: Some(v.clone()),
                after: None,
                after_unknown: false,
                forces_replacement: false,
            })
            .collect(),
        reason: if gone {
            Some("already gone; only the state entry is removed".into())
        } else {
            None
        },
        stateful: schema_of(&rs.kind).map(|s| s.stateful).unwrap_or(false),
        create_before_destroy: false,
        spec: None,
        id: if gone { None } else { id },
        objects: Objects {
            name: rs.name.clone(),
            before: Some(rs.attrs.clone()),
            before_outputs: rs.outputs.clone(),
            outputs: None,
        },
    }
}

/// The state fact that records the old object of a create-before-destroy replacement until it is
/// deleted (`deposed:<address>`): a crash between the two leaves it for the next plan to delete.
pub fn deposed_fact(address: &str) -> String {
    format!("deposed:{address}")
}

/// The address under which a deposed object is deleted.
pub fn deposed_address(address: &str) -> String {
    format!("{address}#deposed")
}

/// Deletes of the old objects that interrupted create-before-destroy replacements left.
fn deposed_changes(
    state: &State,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
) -> Vec<ResourceChange> {
    let mut out = Vec::new();
    for (key, v) in &state.facts {
        let Some(address) = key.strip_prefix("deposed:") else { continue };
        let Ok(rs) = serde_json::from_value::<ResourceState>(v.clone()) else { continue };
        let mut c = delete_change(&deposed_address(address), &rs, None, schema_of);
        c.reason =
            Some("the old object of an interrupted create-before-destroy replacement".into());
        out.push(c);
    }
    out
}

/// A plan that deletes everything recorded.
pub fn destroy_plan(
    state: &State,
    live: &BTreeMap<String, Live>,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
    stack_digest: &str,
) -> Plan {
    let changes = state
        .resources
        .iter()
        .map(|(a, rs)| delete_change(a, rs, live.get(a), schema_of))
        .chain(deposed_changes(state, schema_of))
        .collect();
    plan_of(state, stack_digest, true, changes)
}

/// Flattens objects into dotted paths so that nested documents diff leaf by leaf.
pub fn leaves(prefix: &str, v: Option<&Value>, out: &mut BTreeMap<String, Option<Value>>) {
    match v {
        Some(Value::Object(m)) if !m.is_empty() => {
            for (k, x) in m {
                leaves(&format!("{prefix}.{k}"), Some(x), out);
            }
        }
        // lists of objects (containers, ports, env…) diff element by element
        Some(Value::Array(xs)) if !xs.is_empty() && xs.iter().all(Value::is_object) => {
            for (i, x) in xs.iter().enumerate() {
                leaves(&format!("{prefix}[{i}]"), Some(x), out);
            }
        }
        Some(v) => {
            out.insert(prefix.to_string(), Some(v.clone()));
        }
        None => {}
    }
}
