//! The step generator: refreshes what state records (in parallel), diffs the stack's desired
//! resources against it attribute by attribute, and decides create / update / replace / delete /
//! no-op. Also renders plans as text and as the versioned JSON of `docs/PLAN-JSON.md`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::graph::ResourceGraph;
use crate::resource::{Attrs, Observed, ProviderError, Registry, ResourceSpec, Schema, SENSITIVE, UNKNOWN};
use crate::state::{State, Status};

/// Version of the plan file and of `plan --json`.
pub const PLAN_FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One attribute's change. Parts of `after` not known before apply hold the `resource::UNKNOWN`
/// marker, and `after_unknown` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    #[serde(default)]
    pub after_unknown: bool,
    #[serde(default)]
    pub forces_replacement: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    pub address: String,
    pub kind: String,
    pub action: Action,
    pub attributes: Vec<AttrChange>,
    /// Why, when it is not plain (an interrupted create found again, deleted outside empi-infra…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The resource holds data a replacement or delete would lose.
    #[serde(default)]
    pub stateful: bool,
    /// What to apply (create, update, replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ResourceSpec>,
    /// The cloud id the change acts on (update, replace, delete), or an interrupted create's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// A plan: what apply will do, bound to the state it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: String,
    pub stack: String,
    pub lineage: String,
    pub serial: u64,
    pub stack_digest: String,
    pub destroy: bool,
    pub changes: Vec<ResourceChange>,
    /// How long applying it should take, from past applies (or AWS-typical figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

/// The expected apply time: the longest chain of dependent changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub seconds: f64,
    /// (address, seconds) along the critical path, first to last.
    pub critical_path: Vec<(String, f64)>,
    /// How many of the durations come from this stack's own past applies.
    pub measured: usize,
}

/// The state fact that holds the measured duration of `kind`'s `op` (seconds, a moving average).
pub fn duration_fact(kind: &str, op: &str) -> String {
    format!("duration:{kind}:{op}")
}

/// Estimates `plan`'s apply time: each change takes what this kind took before (state facts), or
/// its schema's typical time; changes run in parallel except along dependencies.
pub fn estimate(plan: &Plan, state: &State, schema_of: &dyn Fn(&str) -> Option<&'static Schema>) -> Option<Estimate> {
    let mut dur: BTreeMap<&str, f64> = BTreeMap::new();
    let mut measured = 0;
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        let typical = schema_of(&c.kind).map(|s| s.typical_create_secs as f64).unwrap_or(5.0);
        let (op, default) = match c.action {
            Action::Update => ("update", (typical / 3.0).max(1.0)),
            Action::Delete => ("delete", (typical / 2.0).max(1.0)),
            Action::Replace => ("replace", typical * 1.5),
            _ => ("create", typical),
        };
        let d = match state.facts.get(&duration_fact(&c.kind, if op == "replace" { "create" } else { op })).and_then(Value::as_f64) {
            Some(x) => {
                measured += 1;
                if op == "replace" {
                    x * 1.5
                } else {
                    x
                }
            }
            None => default,
        };
        dur.insert(c.address.as_str(), d);
    }
    if dur.is_empty() {
        return None;
    }
    // longest path, in the plan's (topological) order
    let mut finish: BTreeMap<&str, (f64, Option<&str>)> = BTreeMap::new();
    for c in &plan.changes {
        let Some(d) = dur.get(c.address.as_str()) else { continue };
        let mut best: (f64, Option<&str>) = (0.0, None);
        if let Some(spec) = &c.spec {
            for dep in spec.dependencies() {
                if let Some((f, _)) = finish.get(dep.as_str()) {
                    if *f > best.0 {
                        let key = finish.get_key_value(dep.as_str()).map(|(k, _)| *k);
                        best = (*f, key);
                    }
                }
            }
        }
        finish.insert(c.address.as_str(), (best.0 + d, best.1));
    }
    let (last, (total, _)) = finish.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))?;
    let mut path = vec![];
    let mut at = Some(*last);
    while let Some(a) = at {
        path.push((a.to_string(), dur[a]));
        at = finish[a].1;
    }
    path.reverse();
    Some(Estimate { seconds: *total, critical_path: path, measured })
}

fn human(secs: f64) -> String {
    crate::exec::format_duration(std::time::Duration::from_secs_f64(secs.max(0.0)))
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    pub fn count(&self, a: Action) -> usize {
        self.changes.iter().filter(|c| c.action == a).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} to add, {} to change, {} to replace, {} to destroy",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Replace),
            self.count(Action::Delete)
        )
    }
}

/// What a refresh found for one recorded resource.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The id: recorded, or found again for an interrupted create.
    pub id: Option<String>,
    /// `None` when the object does not exist.
    pub observed: Option<Observed>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("state records {address} of type {kind}, which this empi-infra does not know; use the release that created it")]
    UnknownKind { address: String, kind: String },
    #[error("reading {address} failed: {source}")]
    Read { address: String, source: ProviderError },
}

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

/// Normalises a value for comparison the way AWS does: sets sorted, and IAM policy documents
/// compared semantically (a one-element list is the same as its element, list order does not matter).
pub fn normalize(attribute: &str, v: &Value, set: bool) -> Value {
    if attribute.contains("policy") || attribute.contains("policies") {
        return canonical_policy(v);
    }
    match v {
        Value::Array(xs) if set => {
            let mut xs: Vec<Value> = xs.clone();
            xs.sort_by_key(|x| x.to_string());
            xs.dedup();
            Value::Array(xs)
        }
        other => other.clone(),
    }
}

fn canonical_policy(v: &Value) -> Value {
    match v {
        Value::Array(xs) if xs.len() == 1 && !xs[0].is_object() => canonical_policy(&xs[0]),
        Value::Array(xs) => {
            let mut xs: Vec<Value> = xs.iter().map(canonical_policy).collect();
            xs.sort_by_key(|x| x.to_string());
            Value::Array(xs)
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), canonical_policy(x))).collect()),
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
        let lookup = |addr: &str, out: &str| known.get(addr).and_then(|o| o.as_ref()).and_then(|o| o.get(out)).cloned();
        let desired: BTreeMap<&str, Option<Value>> = spec.inputs.iter().map(|(k, e)| (k.as_str(), e.resolve(&lookup))).collect();
        // what the plan shows: known parts of partly known values
        let shown: BTreeMap<&str, Value> = spec.inputs.iter().map(|(k, e)| (k.as_str(), e.resolve_partial(&lookup).0)).collect();
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
        let run_once = schema.map(|s| s.run_once).unwrap_or(false);
        let (action, attributes, reason, id) = match (rs, observed) {
            (None, _) => (Action::Create, create_attrs(), None, None),
            (Some(rs), _) if run_once && rs.status == Status::Created => (Action::NoOp, vec![], None, rs.id.clone()),
            (Some(rs), None) => {
                let reason = match rs.status {
                    Status::Creating => "an interrupted create left nothing behind; creating it",
                    Status::Deleting => "an interrupted delete finished; creating it again",
                    Status::Created => "it was deleted outside empi-infra; creating it again",
                };
                (Action::Create, create_attrs(), Some(reason.to_string()), None)
            }
            (Some(rs), Some(obs)) => {
                let mut attrs = Vec::new();
                let mut replace = false;
                for (k, want) in &desired {
                    let a = schema.and_then(|s| s.attr(k));
                    let set = a.map(|a| a.set).unwrap_or(false);
                    let force = a.map(|a| a.force_new).unwrap_or(false);
                    let write_only = a.map(|a| a.write_only).unwrap_or(false);
                    let have = if write_only { rs.attrs.get(*k) } else { obs.attrs.get(*k).or(rs.attrs.get(*k)) };
                    let same = match (want, have) {
                        (Some(w), Some(h)) => normalize(k, w, set) == normalize(k, h, set),
                        (Some(_), None) => false,
                        (None, _) => false,
                    };
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
                    Status::Deleting => (Action::Replace, attrs, Some("an interrupted delete left it behind; replacing it".into()), id),
                    Status::Creating if replace => {
                        (Action::Replace, attrs, Some("an interrupted create was found; replacing it".into()), id)
                    }
                    Status::Creating => (
                        Action::Create,
                        attrs,
                        Some(format!("resuming an interrupted create: found {}", id.clone().unwrap_or_default())),
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
        known.insert(spec.address.clone(), outputs);
        changes.push(ResourceChange {
            address: spec.address.clone(),
            kind: spec.kind.clone(),
            action,
            attributes,
            reason,
            stateful,
            spec: Some(spec.clone()),
            id,
        });
    }
    // recorded resources the stack no longer has
    for (address, rs) in &state.resources {
        if graph.get(address).is_some() {
            continue;
        }
        changes.push(delete_change(address, rs, live.get(address), schema_of));
    }
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        stack: state.stack.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        stack_digest: stack_digest.into(),
        destroy: false,
        changes,
        estimate: None,
    }
}

fn delete_change(
    address: &str,
    rs: &crate::state::ResourceState,
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
        reason: if gone { Some("already gone; only the state entry is removed".into()) } else { None },
        stateful: schema_of(&rs.kind).map(|s| s.stateful).unwrap_or(false),
        spec: None,
        id: if gone { None } else { id },
    }
}

/// A plan that deletes everything recorded.
pub fn destroy_plan(
    state: &State,
    live: &BTreeMap<String, Live>,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
    stack_digest: &str,
) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        stack: state.stack.clone(),
        lineage: state.lineage.clone(),
        serial: state.serial,
        stack_digest: stack_digest.into(),
        destroy: true,
        changes: state.resources.iter().map(|(a, rs)| delete_change(a, rs, live.get(a), schema_of)).collect(),
        estimate: None,
    }
}

/// Renders a value for the plan text; the sentinel for secrets shows as `(sensitive)`.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == SENSITIVE || s == UNKNOWN => s.clone(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(xs) => format!("[{}]", xs.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!("{{{}}}", m.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
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

/// Attribute rows of one change, objects expanded leaf by leaf; only changed leaves for updates.
fn rows(c: &ResourceChange) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for a in &c.attributes {
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        leaves(&a.name, a.before.as_ref(), &mut before);
        leaves(&a.name, a.after.as_ref(), &mut after);
        if a.after_unknown && !matches!(a.after, Some(Value::Object(_))) {
            let b = a.before.as_ref().map(|b| format!("{} -> ", show(b))).unwrap_or_default();
            out.push((a.name.clone(), format!("{b}(known after apply)"), a.forces_replacement));
            continue;
        }
        let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for k in keys {
            let b = before.get(k).cloned().flatten();
            let f = after.get(k).cloned().flatten();
            if c.action != Action::Create && c.action != Action::Delete && b == f {
                continue;
            }
            let text = match (c.action, &b, &f) {
                (Action::Delete, Some(b), _) => show(b),
                (_, None, Some(f)) if c.action == Action::Create => show(f),
                (_, Some(b), Some(f)) => format!("{} -> {}", show(b), show(f)),
                (_, None, Some(f)) => format!("(none) -> {}", show(f)),
                (_, Some(b), None) => format!("{} -> (none)", show(b)),
                (_, None, None) => "(none)".into(),
            };
            out.push((k.clone(), text, a.forces_replacement));
        }
    }
    out
}

/// The plan as people read it.
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let _ = writeln!(out, "No changes. The cloud matches the stack {:?} ({} resources).", plan.stack, plan.changes.len());
        return out;
    }
    let _ = writeln!(out, "empi-infra will perform these actions on stack {:?}:\n", plan.stack);
    let mut changes: Vec<&ResourceChange> = plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if plan.destroy {
        changes.reverse();
    }
    for c in changes {
        let _ = write!(out, "  {} {} ({})", c.action.symbol(), c.address, c.kind);
        if let Some(r) = &c.reason {
            let _ = write!(out, "  # {r}");
        }
        out.push('\n');
        if c.action == Action::Replace && c.stateful {
            let _ = writeln!(out, "      # WARNING: replacing {} destroys the data it holds", c.address);
        }
        let rows = rows(c);
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (k, v, force) in rows {
            let _ = write!(out, "      {k:width$} = {v}");
            if force {
                out.push_str("  # forces replacement");
            }
            out.push('\n');
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Plan: {}.", plan.summary());
    if let Some(e) = &plan.estimate {
        let path: Vec<String> = e.critical_path.iter().filter(|(_, d)| *d >= 1.0).map(|(a, d)| format!("{a} {}", human(*d))).collect();
        let basis = if e.measured > 0 {
            format!("{} of the durations measured in this stack's past applies", e.measured)
        } else {
            "AWS-typical durations".to_string()
        };
        let _ = writeln!(out, "Estimated apply time: ~{} ({basis}).", human(e.seconds));
        if !path.is_empty() {
            let _ = writeln!(out, "Critical path: {}.", path.join(" → "));
        }
    }
    out
}

/// The plan as `plan --json` prints it (schema: docs/PLAN-JSON.md).
pub fn render_json(plan: &Plan) -> Value {
    serde_json::json!({
        "format_version": PLAN_FORMAT_VERSION,
        "stack": plan.stack,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "destroy": plan.destroy,
        "estimate": plan.estimate,
        "summary": {
            "create": plan.count(Action::Create),
            "update": plan.count(Action::Update),
            "replace": plan.count(Action::Replace),
            "delete": plan.count(Action::Delete),
            "no_op": plan.count(Action::NoOp),
        },
        "resource_changes": plan.changes.iter().map(|c| serde_json::json!({
            "address": c.address,
            "type": c.kind,
            "action": c.action,
            "reason": c.reason,
            "stateful": c.stateful,
            "attributes": c.attributes.iter().map(|a| serde_json::json!({
                "name": a.name,
                "before": a.before,
                "after": a.after,
                "after_unknown": a.after_unknown,
                "forces_replacement": a.forces_replacement,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
