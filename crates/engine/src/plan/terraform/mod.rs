//! The plan as Terraform's plan representation (`terraform show -json`, format version 1.2), so
//! that tools that read Terraform plans (Checkov, OPA/conftest, Infracost…) read empi-infra's:
//! `plan --json --format terraform` and `show --json --format terraform PLANFILE`.
//!
//! What each kind becomes (resource types and attribute names as terraform-provider-aws names
//! them) is declared once per kind in [`kinds`]; this module turns a [`Plan`] into the document:
//! addresses, `planned_values`, `resource_changes` (actions, before/after, unknown and sensitive
//! trees) and `configuration` (expressions with `references`). docs/PLAN-JSON.md describes it.
//!
//! Values only known after apply are left out of `after`/`values` and marked `true` in
//! `after_unknown`; secrets never have a value here: they are left out and marked `true` in
//! `*_sensitive` (Terraform itself would print them).

pub mod kinds;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{Action, Plan, ResourceChange};
use crate::resource::{Attrs, Expr, SENSITIVE, UNKNOWN};
pub use kinds::{mapping, Mapping, MAPPINGS, NO_EQUIVALENT};

/// The plan representation's format version (Terraform 1.5 and later write it).
pub const FORMAT_VERSION: &str = "1.2";

/// What `terraform_version` says: the oldest Terraform release that writes format 1.2, with
/// semver build metadata naming what really wrote it (tools that compare versions see 1.5.0).
pub fn terraform_version() -> String {
    format!("1.5.0+empi-infra.{}", env!("CARGO_PKG_VERSION"))
}

/// The provider every mapped resource belongs to.
pub const AWS_PROVIDER: &str = "registry.terraform.io/hashicorp/aws";

/// A Terraform attribute's value, built from a resource's inputs by its kind's mapping.
#[derive(Debug, Clone)]
pub enum TfValue {
    /// An input (or part of one) as the stack wrote it: a literal or references.
    E(Expr),
    /// A list (of values, or of blocks when its elements are objects).
    List(Vec<TfValue>),
    /// An object: a block's attributes, or a map.
    Obj(Vec<(String, TfValue)>),
    /// A JSON document written as a string (IAM policies are strings in Terraform).
    Json(Box<TfValue>),
    /// A value computed from another once it is known (e.g. `scheme` → `internal`).
    Fn(Box<TfValue>, fn(&Value) -> Value),
    /// A value Terraform computes (not part of the configuration).
    Computed(Box<TfValue>),
    /// A value of the primary resource of the same object: its configuration refers to it.
    Own(&'static str, Box<TfValue>),
    /// A secret: never a value, marked sensitive.
    Sensitive,
}

/// One Terraform resource an empi-infra resource becomes.
#[derive(Debug, Clone)]
pub struct TfResource {
    pub ty: &'static str,
    /// `for_each` key of a resource made once per element (a role's policy attachments).
    pub key: Option<String>,
    pub attrs: Vec<(&'static str, TfValue)>,
}

/// The Terraform (name, index) of an empi-infra address, flat in the root module:
/// `network.public_subnet[0]` → (`network_public_subnet`, 0), `iam.api_role` → (`iam_api_role`, none).
pub fn tf_name(address: &str) -> (String, Option<Value>) {
    let address = address.trim_end_matches("#deposed");
    let (base, index) = match address.split_once('[') {
        Some((b, rest)) => {
            let i = rest.trim_end_matches(']');
            (
                b,
                Some(
                    i.parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(i.to_string())),
                ),
            )
        }
        None => (address, None),
    };
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    (name, index)
}

fn index_suffix(index: &Option<Value>) -> String {
    match index {
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        Some(i) => format!("[{i}]"),
        None => String::new(),
    }
}

/// A Terraform resource instance's place: type, name, index.
#[derive(Debug, Clone, PartialEq)]
struct Place {
    ty: &'static str,
    name: String,
    index: Option<Value>,
}

impl Place {
    fn resource(&self) -> String {
        format!("{}.{}", self.ty, self.name)
    }
    fn address(&self) -> String {
        format!("{}{}", self.resource(), index_suffix(&self.index))
    }
}

/// The places of an object's Terraform resources: the primary keeps the address's index; each
/// per-element secondary is indexed by its key (its name carries the primary's index, if any).
fn places(address: &str, resources: &[TfResource]) -> Vec<Place> {
    let (name, index) = tf_name(address);
    resources
        .iter()
        .map(|r| match &r.key {
            None => Place { ty: r.ty, name: name.clone(), index: index.clone() },
            Some(k) => {
                let name = match &index {
                    Some(Value::String(i)) => format!("{name}_{}", tf_name(i).0),
                    Some(i) => format!("{name}_{i}"),
                    None => name.clone(),
                };
                Place { ty: r.ty, name, index: Some(Value::String(k.clone())) }
            }
        })
        .collect()
}

/// Resolves a mapped value with the outputs known at plan time; unknown parts hold
/// [`UNKNOWN`], secrets [`SENSITIVE`].
fn resolve(x: &TfValue, lookup: &dyn Fn(&str, &str) -> Option<Value>) -> Value {
    match x {
        TfValue::E(e) => e.resolve_partial(lookup).0,
        TfValue::List(xs) => Value::Array(xs.iter().map(|x| resolve(x, lookup)).collect()),
        TfValue::Obj(fs) => {
            Value::Object(fs.iter().map(|(k, x)| (k.clone(), resolve(x, lookup))).collect())
        }
        TfValue::Json(x) => {
            let v = resolve(x, lookup);
            if holds(&v, SENSITIVE) {
                Value::String(SENSITIVE.into())
            } else if holds(&v, UNKNOWN) {
                Value::String(UNKNOWN.into())
            } else {
                Value::String(v.to_string())
            }
        }
        TfValue::Fn(x, f) => match resolve(x, lookup) {
            v if is_marker(&v) => v,
            v => f(&v),
        },
        TfValue::Computed(x) | TfValue::Own(_, x) => resolve(x, lookup),
        TfValue::Sensitive => Value::String(SENSITIVE.into()),
    }
}

fn is_marker(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == SENSITIVE || s == UNKNOWN)
}

/// Whether `v` holds `marker` anywhere.
fn holds(v: &Value, marker: &str) -> bool {
    match v {
        Value::String(s) => s == marker,
        Value::Array(xs) => xs.iter().any(|x| holds(x, marker)),
        Value::Object(m) => m.values().any(|x| holds(x, marker)),
        _ => false,
    }
}

/// The value without its unknown and secret parts: object keys left out, list elements null
/// (as Terraform writes `after`).
fn known(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(_, x)| !is_marker(x)).map(|(k, x)| (k.clone(), known(x))).collect(),
        ),
        Value::Array(xs) => Value::Array(
            xs.iter().map(|x| if is_marker(x) { Value::Null } else { known(x) }).collect(),
        ),
        other => other.clone(),
    }
}

/// Terraform's `after_unknown` / `*_sensitive` shape: `true` where `marker` is, objects without
/// their `false` members, lists element by element.
fn marked(v: &Value, marker: &str) -> Value {
    match v {
        Value::String(s) if s == marker => Value::Bool(true),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), marked(x, marker)))
                .filter(|(_, x)| *x != Value::Bool(false))
                .collect(),
        ),
        Value::Array(xs) => Value::Array(xs.iter().map(|x| marked(x, marker)).collect()),
        _ => Value::Bool(false),
    }
}

/// The mapped attributes of one Terraform resource, resolved.
fn values(r: &TfResource, lookup: &dyn Fn(&str, &str) -> Option<Value>) -> Value {
    let mut m: Map<String, Value> =
        r.attrs.iter().map(|(k, x)| (k.to_string(), resolve(x, lookup))).collect();
    if let Some(t) = m.get("tags").cloned() {
        // no provider default_tags: every tag is the resource's own
        m.entry("tags_all").or_insert(t);
    }
    Value::Object(m)
}

/// One Terraform resource of an object, before and after the change.
struct Entry {
    place: Place,
    before: Option<Value>,
    after: Option<Value>,
    /// Its configuration (from the object's spec, when it has one).
    config: Option<TfResource>,
}

/// Maps one change; nothing for a kind with no Terraform equivalent.
fn map_change(c: &ResourceChange, lookup: &dyn Fn(&str, &str) -> Option<Value>) -> Vec<Entry> {
    let Ok(m) = mapping(&c.kind) else { return vec![] };
    let name = if !c.objects.name.is_empty() {
        c.objects.name.clone()
    } else {
        c.spec.as_ref().map(|s| s.name.clone()).unwrap_or_default()
    };
    let computed = |outputs: &dyn Fn(&str) -> TfValue| -> Vec<(&'static str, TfValue)> {
        m.computed
            .iter()
            .map(|(attr, out)| (*attr, TfValue::Computed(Box::new(outputs(out)))))
            .collect()
    };
    // before: the recorded inputs (older saved plans: the changed attributes' before values)
    let before_inputs: Option<Attrs> = match (&c.objects.before, c.action) {
        (_, Action::Create) => None,
        (Some(b), _) => Some(b.clone()),
        (None, _) => Some(
            c.attributes
                .iter()
                .filter_map(|a| a.before.clone().map(|v| (a.name.clone(), v)))
                .collect(),
        ),
    };
    let before: Vec<TfResource> = before_inputs
        .map(|attrs| {
            let inputs: BTreeMap<String, Expr> =
                attrs.into_iter().map(|(k, v)| (k, Expr::Lit(v))).collect();
            let mut rs = (m.map)(&Src { inputs: &inputs, name: &name });
            let outs = &c.objects.before_outputs;
            rs[0].attrs.extend(computed(&|o| {
                TfValue::E(Expr::Lit(outs.get(o).cloned().unwrap_or(Value::Null)))
            }));
            rs
        })
        .unwrap_or_default();
    let after: Vec<TfResource> = match (&c.spec, c.action) {
        (_, Action::Delete) | (None, _) => vec![],
        (Some(spec), _) => {
            let mut rs = (m.map)(&Src { inputs: &spec.inputs, name: &name });
            let address = c.address.clone();
            rs[0].attrs.extend(computed(&|o| TfValue::E(Expr::r(&address, o))));
            rs
        }
    };
    // pair them by type and key: an update may add or remove a per-element resource
    let all: Vec<&TfResource> = after
        .iter()
        .chain(before.iter().filter(|b| !after.iter().any(|a| a.ty == b.ty && a.key == b.key)))
        .collect();
    let owned: Vec<TfResource> = all.iter().map(|r| (*r).clone()).collect();
    let places = places(&c.address, &owned);
    owned
        .iter()
        .zip(places)
        .map(|(r, place)| {
            let find =
                |rs: &[TfResource]| rs.iter().find(|x| x.ty == r.ty && x.key == r.key).cloned();
            let config = find(&after);
            Entry {
                place,
                before: find(&before).map(|b| values(&b, lookup)),
                after: config.as_ref().map(|a| values(a, lookup)),
                config,
            }
        })
        .collect()
}

/// The configuration expression of a mapped value: `references` where it refers to other
/// resources, else its `constant_value`; nothing for a secret or a computed value.
fn expression(x: &TfValue, refs: &dyn Fn(&str, &str) -> Vec<String>, own: &str) -> Option<Value> {
    let references = |x: &TfValue| {
        let mut out = Vec::new();
        collect_refs(x, refs, own, &mut out);
        out
    };
    match x {
        TfValue::Sensitive | TfValue::Computed(_) => None,
        TfValue::List(xs) if !xs.is_empty() && xs.iter().all(|x| matches!(x, TfValue::Obj(_))) => {
            Some(Value::Array(
                xs.iter()
                    .map(|x| match x {
                        TfValue::Obj(fs) => Value::Object(
                            fs.iter()
                                .filter_map(|(k, x)| Some((k.clone(), expression(x, refs, own)?)))
                                .collect(),
                        ),
                        _ => unreachable!(),
                    })
                    .collect(),
            ))
        }
        _ => {
            let r = references(x);
            if !r.is_empty() {
                return Some(json!({ "references": r }));
            }
            let v = resolve(x, &|_: &str, _: &str| None);
            (!holds(&v, SENSITIVE) && !holds(&v, UNKNOWN)).then(|| json!({ "constant_value": v }))
        }
    }
}

fn collect_refs(
    x: &TfValue,
    refs: &dyn Fn(&str, &str) -> Vec<String>,
    own: &str,
    out: &mut Vec<String>,
) {
    let mut push = |r: Vec<String>| {
        for s in r {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    };
    match x {
        TfValue::E(e) => push(expr_refs(e).into_iter().flat_map(|(a, o)| refs(&a, &o)).collect()),
        TfValue::List(xs) => xs.iter().for_each(|x| collect_refs(x, refs, own, out)),
        TfValue::Obj(fs) => fs.iter().for_each(|(_, x)| collect_refs(x, refs, own, out)),
        TfValue::Json(x) | TfValue::Fn(x, _) => collect_refs(x, refs, own, out),
        TfValue::Own(attr, _) => push(vec![format!("{own}.{attr}"), own.to_string()]),
        TfValue::Computed(_) | TfValue::Sensitive => {}
    }
}

fn expr_refs(e: &Expr) -> Vec<(String, String)> {
    match e {
        Expr::Lit(_) => vec![],
        Expr::Ref { address, output } => vec![(address.clone(), output.clone())],
        Expr::Concat(xs) | Expr::List(xs) => xs.iter().flat_map(expr_refs).collect(),
        Expr::Object(m) => m.values().flat_map(expr_refs).collect(),
        Expr::Json(x) => expr_refs(x),
    }
}

fn actions(c: &ResourceChange, before: Option<&Value>, after: Option<&Value>) -> Vec<&'static str> {
    match c.action {
        Action::Create => vec!["create"],
        Action::Delete => vec!["delete"],
        Action::Replace if c.create_before_destroy => vec!["create", "delete"],
        Action::Replace => vec!["delete", "create"],
        // an object's update changes only those of its Terraform resources whose values change
        Action::Update | Action::NoOp => match (before, after) {
            (None, Some(_)) => vec!["create"],
            (Some(_), None) => vec!["delete"],
            (Some(b), Some(a))
                if c.action == Action::Update && (known(b) != known(a) || holds(a, UNKNOWN)) =>
            {
                vec!["update"]
            }
            _ => vec!["no-op"],
        },
    }
}

/// The Terraform provider's settings the document records.
#[derive(Debug, Clone, Default)]
pub struct Provider {
    /// The AWS region (the stack's `region`), when known.
    pub region: Option<String>,
}

/// The plan as Terraform's plan representation (format version 1.2).
pub fn render_terraform(plan: &Plan, provider: &Provider) -> Value {
    let outputs: BTreeMap<&str, &Option<Attrs>> =
        plan.changes.iter().map(|c| (c.address.as_str(), &c.objects.outputs)).collect();
    let lookup = |address: &str, output: &str| -> Option<Value> {
        outputs.get(address)?.as_ref()?.get(output).cloned()
    };
    let kinds: BTreeMap<&str, &str> =
        plan.changes.iter().map(|c| (c.address.as_str(), c.kind.as_str())).collect();
    // a reference to `address.output` as Terraform writes it: the attribute, then the resource
    let refs = |address: &str, output: &str| -> Vec<String> {
        let Some(m) = kinds.get(address).and_then(|k| mapping(k).ok()) else { return vec![] };
        let (name, index) = tf_name(address);
        let resource = format!("{}.{name}", m.types[0]);
        let instance = format!("{resource}{}", index_suffix(&index));
        let attr = m.outputs.iter().find(|(o, _)| *o == output).map(|(_, a)| *a).unwrap_or(output);
        let mut v = vec![format!("{instance}.{attr}"), instance.clone()];
        if instance != resource {
            v.push(resource);
        }
        v
    };

    let mut planned = Vec::new();
    let mut changes = Vec::new();
    let mut config: BTreeMap<String, (Value, usize)> = BTreeMap::new();
    for c in &plan.changes {
        let entries = map_change(c, &lookup);
        let deposed = c.address.ends_with("#deposed");
        let own = entries.first().map(|e| e.place.address()).unwrap_or_default();
        for Entry { place, before, after, config: conf } in &entries {
            let mut rc = json!({
                "address": place.address(),
                "mode": "managed",
                "type": place.ty,
                "name": place.name,
                "provider_name": AWS_PROVIDER,
                "change": {
                    "actions": actions(c, before.as_ref(), after.as_ref()),
                    "before": before.as_ref().map(known).unwrap_or(Value::Null),
                    "after": after.as_ref().map(known).unwrap_or(Value::Null),
                    "after_unknown": after.as_ref().map(|a| marked(a, UNKNOWN)).unwrap_or(json!({})),
                    "before_sensitive": before.as_ref().map(|b| marked(b, SENSITIVE)).unwrap_or(Value::Bool(false)),
                    "after_sensitive": after.as_ref().map(|a| marked(a, SENSITIVE)).unwrap_or(Value::Bool(false)),
                },
            });
            if let Some(ix) = &place.index {
                rc["index"] = ix.clone();
            }
            if deposed {
                rc["deposed"] = json!("00000001");
            }
            match c.action {
                Action::Replace => rc["action_reason"] = json!("replace_because_cannot_update"),
                Action::Delete if c.spec.is_none() && !deposed => {
                    rc["action_reason"] = json!("delete_because_no_resource_config")
                }
                _ => {}
            }
            changes.push(rc);
            let (Some(after), Some(r)) = (after, conf) else { continue };
            let mut pv = json!({
                "address": place.address(),
                "mode": "managed",
                "type": place.ty,
                "name": place.name,
                "provider_name": AWS_PROVIDER,
                "schema_version": kinds::schema_version(place.ty),
                "values": known(after),
                "sensitive_values": marked(after, SENSITIVE),
            });
            if let Some(ix) = &place.index {
                pv["index"] = ix.clone();
            }
            planned.push(pv);
            let entry = config.entry(place.resource()).or_insert_with(|| {
                let expressions: Map<String, Value> = r
                    .attrs
                    .iter()
                    .filter_map(|(k, x)| Some((k.to_string(), expression(x, &refs, &own)?)))
                    .collect();
                (
                    json!({
                        "address": place.resource(),
                        "mode": "managed",
                        "type": place.ty,
                        "name": place.name,
                        "provider_config_key": "aws",
                        "expressions": expressions,
                        "schema_version": kinds::schema_version(place.ty),
                    }),
                    0,
                )
            });
            entry.1 += 1;
            if place.index.as_ref().is_some_and(Value::is_u64) {
                entry.0["count_expression"] = json!({ "constant_value": entry.1 });
            }
        }
    }
    let mut provider_config = json!({ "aws": { "name": "aws", "full_name": AWS_PROVIDER } });
    if let Some(region) = &provider.region {
        provider_config["aws"]["expressions"] = json!({ "region": { "constant_value": region } });
    }
    let resources: Vec<Value> = config.into_values().map(|(v, _)| v).collect();
    json!({
        "format_version": FORMAT_VERSION,
        "terraform_version": terraform_version(),
        "planned_values": { "root_module": { "resources": planned } },
        "resource_changes": changes,
        "configuration": { "provider_config": provider_config, "root_module": { "resources": resources } },
        "applyable": plan.has_changes(),
        "complete": plan.targets.is_empty(),
        "errored": false,
    })
}

/// A kind's view of one object's inputs, for its mapping.
pub struct Src<'a> {
    pub inputs: &'a BTreeMap<String, Expr>,
    /// The deterministic cloud name.
    pub name: &'a str,
}

impl Src<'_> {
    /// The input `k` (null when the spec leaves it out).
    pub fn get(&self, k: &str) -> TfValue {
        TfValue::E(self.expr(k))
    }
    pub fn expr(&self, k: &str) -> Expr {
        self.inputs.get(k).cloned().unwrap_or(Expr::Lit(Value::Null))
    }
    /// The cloud name, as a literal.
    pub fn name(&self) -> TfValue {
        TfValue::E(Expr::Lit(Value::String(self.name.to_string())))
    }
    /// A literal input's value (e.g. a type that decides a block's shape).
    pub fn literal(&self, k: &str) -> Option<Value> {
        literal(&self.expr(k))
    }
}

/// A literal expression's value.
pub fn literal(e: &Expr) -> Option<Value> {
    e.resolve(&|_: &str, _: &str| None)
}

/// The elements of a list input (built, or a literal list).
pub fn elems(e: &Expr) -> Vec<Expr> {
    match e {
        Expr::List(xs) => xs.clone(),
        Expr::Lit(Value::Array(xs)) => xs.iter().cloned().map(Expr::Lit).collect(),
        _ => vec![],
    }
}

/// The members of an object input (built, or a literal object), by key.
pub fn members(e: &Expr) -> Vec<(String, Expr)> {
    match e {
        Expr::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Expr::Lit(Value::Object(m)) => {
            m.iter().map(|(k, v)| (k.clone(), Expr::Lit(v.clone()))).collect()
        }
        _ => vec![],
    }
}

/// The member `k` of an object input (null when absent).
pub fn field(e: &Expr, k: &str) -> TfValue {
    TfValue::E(
        members(e)
            .into_iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v)
            .unwrap_or(Expr::Lit(Value::Null)),
    )
}

pub fn lit(v: impl Into<Value>) -> TfValue {
    TfValue::E(Expr::Lit(v.into()))
}

/// A nested block (Terraform writes a block as a list of one object).
pub fn block(fields: Vec<(&str, TfValue)>) -> TfValue {
    TfValue::List(vec![obj(fields)])
}

pub fn obj(fields: Vec<(&str, TfValue)>) -> TfValue {
    TfValue::Obj(fields.into_iter().map(|(k, x)| (k.to_string(), x)).collect())
}

/// Every Terraform type the mappings produce, sorted.
pub fn types() -> BTreeSet<&'static str> {
    MAPPINGS.iter().flat_map(|(_, m)| m.types.iter().copied()).collect()
}

#[cfg(test)]
mod tests;
