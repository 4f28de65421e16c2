//! Rendering: the plan as people read it (`plan` text: changes by area, tags and large documents
//! folded, unchanged attributes of updates counted; `--verbose` expands everything leaf by leaf)
//! and as `plan --json` prints it (the versioned schema of `docs/PLAN-JSON.md`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::Value;

use super::estimate::human;
use super::{leaves, Action, Plan, ResourceChange, PLAN_FORMAT_VERSION};
use crate::resource::{SENSITIVE, UNKNOWN};

/// Renders a value for the plan text; the sentinel for secrets shows as `(sensitive)`.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s == SENSITIVE || s == UNKNOWN => s.clone(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(xs) => format!("[{}]", xs.iter().map(show).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// How much of a plan the text shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Every leaf of every value (`--verbose`): tags one by one, documents and manifests whole.
    pub verbose: bool,
}

/// One line under a change's header: `name = value`, or a `# …` note.
enum Row {
    Attr { name: String, value: String, forces: bool },
    Note(String),
}

fn attr(name: impl Into<String>, value: impl Into<String>, forces: bool) -> Row {
    Row::Attr { name: name.into(), value: value.into(), forces }
}

/// What a new resource's header says of the values known only once it is made.
pub const UNKNOWN_AFTER: &str = "known after apply";

/// Objects and lists whose one-line form is longer than this are not shown on one line.
const INLINE_MAX: usize = 80;
/// Strings longer than this (or of several lines) fold to their beginning.
const STRING_MAX: usize = 200;
/// Objects with at most this many leaves are shown leaf by leaf when they do not fit one line.
const SMALL_OBJECT: usize = 3;

fn is_unknown(v: &Value) -> bool {
    v.as_str() == Some(UNKNOWN)
}

/// Whether nothing of `v` is known before apply (a reference, a list of references…).
fn fully_unknown(v: &Value) -> bool {
    match v {
        Value::Array(xs) => !xs.is_empty() && xs.iter().all(fully_unknown),
        Value::Object(m) => !m.is_empty() && m.values().all(fully_unknown),
        other => is_unknown(other),
    }
}

/// The leaves of `v` (objects and lists of objects flattened), keyed by dotted path under `name`.
fn leaves_of(name: &str, v: Option<&Value>) -> BTreeMap<String, Option<Value>> {
    let mut out = BTreeMap::new();
    leaves(name, v, &mut out);
    out
}

/// Attribute rows of one change, objects expanded leaf by leaf; only changed leaves for updates.
/// (`--verbose`, and what the plan showed before the readable form.)
fn verbose_rows(c: &ResourceChange) -> Vec<Row> {
    let mut out = Vec::new();
    for a in &c.attributes {
        let before = leaves_of(&a.name, a.before.as_ref());
        let after = leaves_of(&a.name, a.after.as_ref());
        // a partly known object or list of objects shows its known leaves
        let expands = after.keys().any(|k| *k != a.name);
        if a.after_unknown && !expands {
            let b = a.before.as_ref().map(|b| format!("{} -> ", show(b))).unwrap_or_default();
            out.push(attr(&a.name, format!("{b}(known after apply)"), a.forces_replacement));
            continue;
        }
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for k in keys {
            let b = before.get(k).cloned().flatten();
            let f = after.get(k).cloned().flatten();
            if c.action != Action::Create && c.action != Action::Delete && b == f {
                continue;
            }
            out.push(attr(
                k.clone(),
                change_text(c.action, b.as_ref(), f.as_ref()),
                a.forces_replacement,
            ));
        }
    }
    out
}

fn change_text(action: Action, b: Option<&Value>, f: Option<&Value>) -> String {
    match (action, b, f) {
        (Action::Delete, Some(b), _) => show(b),
        (Action::Create, None, Some(f)) => show(f),
        (_, Some(b), Some(f)) => format!("{} -> {}", show(b), show(f)),
        (_, None, Some(f)) => format!("(none) -> {}", show(f)),
        (_, Some(b), None) => format!("{} -> (none)", show(b)),
        (_, None, None) => "(none)".into(),
    }
}

/// A tag every tagged resource of a plan carries: with the same value everywhere, or with the
/// resource's own address or name as its value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shared {
    Value(String),
    Address,
    Name,
}

impl Shared {
    /// What a tag value of `c` may be shared as, the plainest first.
    fn of(c: &ResourceChange, v: &str) -> Vec<Shared> {
        let mut out = vec![Shared::Value(v.to_string())];
        if v == c.address {
            out.push(Shared::Address);
        }
        if c.spec.as_ref().is_some_and(|s| s.name == v) {
            out.push(Shared::Name);
        }
        out
    }
}

/// The tags every tagged resource of the plan carries (see [`Shared`]), said once above the
/// changes instead of on every one. `None` when fewer than two resources are tagged.
fn shared_tags(changes: &[&ResourceChange]) -> Option<BTreeMap<String, Shared>> {
    let mut shared: Option<BTreeMap<String, Vec<Shared>>> = None;
    let mut tagged = 0;
    for c in changes.iter().filter(|c| matches!(c.action, Action::Create | Action::Delete)) {
        let Some(tags) = c
            .attributes
            .iter()
            .find(|a| a.name == "tags")
            .and_then(|a| a.after.as_ref().or(a.before.as_ref()))
        else {
            continue;
        };
        let Some(tags) = tags.as_object() else { continue };
        tagged += 1;
        let mine: BTreeMap<&String, Vec<Shared>> =
            tags.iter().filter_map(|(k, v)| v.as_str().map(|v| (k, Shared::of(c, v)))).collect();
        shared = Some(match shared {
            None => mine.into_iter().map(|(k, v)| (k.clone(), v)).collect(),
            Some(s) => s
                .into_iter()
                .filter_map(|(k, ways)| {
                    let theirs = mine.get(&k)?;
                    let both: Vec<Shared> =
                        ways.into_iter().filter(|w| theirs.contains(w)).collect();
                    (!both.is_empty()).then_some((k, both))
                })
                .collect(),
        });
    }
    let shared: BTreeMap<String, Shared> =
        shared?.into_iter().map(|(k, mut ways)| (k, ways.swap_remove(0))).collect();
    (tagged >= 2 && !shared.is_empty()).then_some(shared)
}

/// The shared tags as the plan states them once.
fn shared_tags_line(shared: &BTreeMap<String, Shared>) -> String {
    let parts: Vec<String> = shared
        .iter()
        .map(|(k, v)| match v {
            Shared::Value(v) => format!("{k} = {v:?}"),
            Shared::Address => format!("{k} = its address"),
            Shared::Name => format!("{k} = its name"),
        })
        .collect();
    format!("Every tagged resource below carries the tags {}; its other tags are listed (--verbose lists all).", parts.join(", "))
}

/// A resource's tags on one line: those it does not share, and how many it shares.
fn folded_tags(
    c: &ResourceChange,
    tags: &Value,
    shared: Option<&BTreeMap<String, Shared>>,
) -> Option<String> {
    let Some(m) = tags.as_object() else { return Some(show(tags)) };
    let is_shared = |k: &str, v: &Value| {
        shared
            .and_then(|s| s.get(k))
            .zip(v.as_str())
            .is_some_and(|(want, v)| Shared::of(c, v).contains(want))
    };
    let own: serde_json::Map<String, Value> =
        m.iter().filter(|(k, v)| !is_shared(k, v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    match m.len() - own.len() {
        0 => Some(show(tags)),
        _ if own.is_empty() => None,
        n => Some(format!("{} + the {n} shared", show(&Value::Object(own)))),
    }
}

/// A large value in a few words: what it is, how many values it holds, and that `--verbose`
/// shows them.
fn folded(name: &str, v: &Value) -> String {
    let all = leaves_of(name, Some(v));
    let unknown = all.values().flatten().filter(|x| is_unknown(x)).count();
    let mut what = String::new();
    if let (Some(kind), Some(n)) =
        (v.get("kind").and_then(Value::as_str), v.pointer("/metadata/name").and_then(Value::as_str))
    {
        let _ = write!(what, "{kind} {n}: ");
    }
    if let Some(st) = v.get("Statement").and_then(Value::as_array) {
        let _ = write!(what, "{} statement{}, ", st.len(), if st.len() == 1 { "" } else { "s" });
    }
    let secret = all.values().flatten().filter(|x| x.as_str() == Some(SENSITIVE)).count();
    let mut counts = format!("{} values", all.len());
    if unknown > 0 {
        let _ = write!(counts, ", {unknown} known after apply");
    }
    if secret > 0 {
        let _ = write!(counts, ", {secret} sensitive");
    }
    format!("{{{what}{counts}}} (--verbose shows them)")
}

/// A long or multi-line string folded to its first line.
fn folded_string(s: &str) -> String {
    let first: String = s.lines().next().unwrap_or_default().chars().take(40).collect();
    format!(
        "{first:?}… ({} characters, {} lines; --verbose shows it)",
        s.chars().count(),
        s.lines().count()
    )
}

/// The rows of one whole value (a create's after, a delete's before), folded where large.
fn value_rows(name: &str, v: &Value, forces: bool, unknown: &mut Vec<String>, out: &mut Vec<Row>) {
    if fully_unknown(v) {
        unknown.push(name.to_string());
        return;
    }
    let all = leaves_of(name, Some(v));
    match v {
        Value::String(s) if s.contains('\n') || s.chars().count() > STRING_MAX => {
            out.push(attr(name, folded_string(s), forces))
        }
        Value::Object(_) | Value::Array(_) => {
            let inline = show(v);
            if inline.chars().count() <= INLINE_MAX {
                out.push(attr(name, inline, forces));
            } else if all.len() <= SMALL_OBJECT {
                out.extend(
                    all.into_iter()
                        .map(|(k, x)| attr(k, x.as_ref().map(show).unwrap_or_default(), forces)),
                );
            } else if let Some(xs) = v.as_array().filter(|xs| {
                xs.len() <= 4 && xs.iter().all(|x| show(x).chars().count() <= INLINE_MAX)
            }) {
                // a short list of small objects (ingress rules, listener actions): one line each
                out.extend(
                    xs.iter()
                        .enumerate()
                        .map(|(i, x)| attr(format!("{name}[{i}]"), show(x), forces)),
                );
            } else {
                out.push(attr(name, folded(name, v), forces));
            }
        }
        other => out.push(attr(name, show(other), forces)),
    }
}

/// The rows of one change as the readable plan shows it: a create or delete lists its values,
/// with tags on one line and large documents folded, and names apart what is known only after
/// apply (its header says them); an update or replace lists what changes, leaf by leaf, and
/// counts what it hides.
fn readable_rows(
    c: &ResourceChange,
    shared: Option<&BTreeMap<String, Shared>>,
) -> (Vec<Row>, Vec<String>) {
    if !matches!(c.action, Action::Create | Action::Delete) {
        return (changed_rows(c, verbose_rows(c)), vec![]);
    }
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for a in &c.attributes {
        let Some(v) =
            (if c.action == Action::Delete { a.before.as_ref() } else { a.after.as_ref() })
        else {
            continue;
        };
        if a.name == "tags" && v.is_object() {
            out.extend(folded_tags(c, v, shared).map(|t| attr("tags", t, a.forces_replacement)));
        } else {
            value_rows(&a.name, v, a.forces_replacement, &mut unknown, &mut out);
        }
    }
    (out, unknown)
}

/// An update's or replace's rows, followed by how much of the resource they leave out.
fn changed_rows(c: &ResourceChange, mut rows: Vec<Row>) -> Vec<Row> {
    if !matches!(c.action, Action::Update | Action::Replace) {
        return rows;
    }
    for a in &c.attributes {
        let (before, after) =
            (leaves_of(&a.name, a.before.as_ref()), leaves_of(&a.name, a.after.as_ref()));
        let same = before.iter().filter(|(k, v)| after.get(*k) == Some(v)).count();
        if same > 0 {
            let what =
                if a.name == "tags" { "tags".to_string() } else { format!("values of {}", a.name) };
            rows.push(Row::Note(format!("({same} unchanged {what} hidden)")));
        }
    }
    if let Some(spec) = &c.spec {
        let changed: BTreeSet<&str> = c.attributes.iter().map(|a| a.name.as_str()).collect();
        let n = spec.inputs.keys().filter(|k| !changed.contains(k.as_str())).count();
        if n > 0 {
            rows.push(Row::Note(format!(
                "({n} unchanged attribute{} hidden)",
                if n == 1 { "" } else { "s" }
            )));
        }
    }
    rows
}

/// The area of an address: `network` of `network.vpc`.
fn area(address: &str) -> &str {
    address.split(['.', '[']).next().unwrap_or(address)
}

/// The plan as people read it: tags folded, large documents folded, unchanged attributes of
/// updates counted, not shown; `--verbose` shows everything.
pub fn render_text(plan: &Plan) -> String {
    render_text_with(plan, &RenderOptions::default())
}

/// The plan as people read it, as `opts` says. The changes come grouped by area, then the
/// warnings; the last lines are the summary and the estimate.
pub fn render_text_with(plan: &Plan, opts: &RenderOptions) -> String {
    let mut out = String::new();
    let scope = if plan.is_targeted() {
        let ts: Vec<String> = plan.targets.iter().map(|t| format!("--target {t}")).collect();
        let along = match (plan.destroy, plan.targets.len()) {
            (true, 1) => "what depends on it",
            (true, _) => "what depends on them",
            (false, 1) => "what it depends on",
            (false, _) => "what they depend on",
        };
        format!(" (partial: only {} and {along})", ts.join(", "))
    } else {
        String::new()
    };
    if !plan.has_changes() {
        warnings(plan, &mut out);
        let what = if plan.is_targeted() { "the targeted part of the stack" } else { "the stack" };
        let _ = writeln!(
            out,
            "No changes. The cloud matches {what} {:?} ({} resources){scope}.",
            plan.stack,
            plan.changes.len()
        );
        return out;
    }
    let _ =
        writeln!(out, "empi-infra will perform these actions on stack {:?}{scope}:\n", plan.stack);
    let (shared, areas) = areas(plan, opts);
    if let Some(s) = shared {
        let _ = writeln!(out, "{s}\n");
    }
    for a in areas {
        let _ = writeln!(out, "# {}: {}", a.name, a.counts);
        out.push_str(&a.text);
        if !opts.verbose {
            out.push('\n');
        }
    }
    warnings(plan, &mut out);
    let _ = writeln!(out, "Plan: {}.", plan.summary());
    if let Some(e) = &plan.estimate {
        let path: Vec<String> = e
            .critical_path
            .iter()
            .filter(|(_, d)| *d >= 1.0)
            .map(|(a, d)| format!("{a} {}", human(*d)))
            .collect();
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
    if let Some(cost) = &plan.cost {
        cost_lines(cost, &mut out);
    }
    out
}

/// One area's changes as the text shows them.
pub(super) struct Area {
    /// `network`.
    pub name: String,
    /// `2 to add, 1 to change`.
    pub counts: String,
    /// Its changes, a header and rows each.
    pub text: String,
}

/// The plan's changes by area, and the line that says the tags every resource shares (which the
/// changes then leave out).
pub(super) fn areas(plan: &Plan, opts: &RenderOptions) -> (Option<String>, Vec<Area>) {
    let mut changes: Vec<&ResourceChange> =
        plan.changes.iter().filter(|c| c.action != Action::NoOp).collect();
    if plan.destroy {
        changes.reverse();
    }
    let shared = if opts.verbose { None } else { shared_tags(&changes) };
    let mut by_area: BTreeMap<&str, Vec<&ResourceChange>> = BTreeMap::new();
    for c in changes {
        by_area.entry(area(&c.address)).or_default().push(c);
    }
    let areas = by_area
        .into_iter()
        .map(|(name, changes)| {
            let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
            let counts: Vec<String> = [
                (Action::Create, "to add"),
                (Action::Update, "to change"),
                (Action::Replace, "to replace"),
                (Action::Delete, "to destroy"),
            ]
            .iter()
            .filter(|(a, _)| count(*a) > 0)
            .map(|(a, what)| format!("{} {what}", count(*a)))
            .collect();
            let mut text = String::new();
            for c in changes {
                change(c, opts, shared.as_ref(), &mut text);
            }
            Area { name: name.to_string(), counts: counts.join(", "), text }
        })
        .collect();
    (shared.as_ref().map(shared_tags_line), areas)
}

/// How many resources whose cost changes the text names; `plan --json` has them all.
const COST_LINES_SHOWN: usize = 8;

/// The cost the plan changes: for a stack that exists, each resource whose cost it changes (the
/// largest first), then the totals.
fn cost_lines(cost: &super::cost::Cost, out: &mut String) {
    if cost.monthly_before > 0.0 {
        let changed = cost.changed_largest_first();
        let width = changed.iter().take(COST_LINES_SHOWN).map(|l| l.address.len()).max();
        for l in changed.iter().take(COST_LINES_SHOWN) {
            let _ = writeln!(
                out,
                "  {:width$}  {:>10}  {}",
                l.address,
                super::cost::signed(l.monthly_after - l.monthly_before),
                l.what,
                width = width.unwrap_or(0)
            );
        }
        if changed.len() > COST_LINES_SHOWN {
            let _ = writeln!(
                out,
                "  … and {} more (`plan --json` lists them)",
                changed.len() - COST_LINES_SHOWN
            );
        }
    }
    let _ = writeln!(out, "{}", super::cost::summary(cost));
}

/// One change: its header and its rows.
fn change(
    c: &ResourceChange,
    opts: &RenderOptions,
    shared: Option<&BTreeMap<String, Shared>>,
    out: &mut String,
) {
    let symbol = if c.create_before_destroy { "+/-" } else { c.action.symbol() };
    match c.spec.as_ref().filter(|_| c.action == Action::Create) {
        // what the new resource is called in the cloud
        Some(spec) => {
            let _ = write!(out, "  {symbol} {} ({} {:?})", c.address, c.kind, spec.name);
        }
        None => {
            let _ = write!(out, "  {symbol} {} ({})", c.address, c.kind);
        }
    }
    let (mut rows, unknown) = if opts.verbose {
        (changed_rows(c, verbose_rows(c)), vec![])
    } else {
        readable_rows(c, shared)
    };
    // a new resource's few short values share its header line, and what is known only after
    // apply is named there: a new resource of a few values takes one line
    if !opts.verbose && c.action == Action::Create {
        if let Some(line) = one_line(&rows) {
            let _ = write!(out, "  {line}");
            rows.clear();
        }
    }
    if !unknown.is_empty() {
        let _ = write!(out, "  ({UNKNOWN_AFTER}: {})", unknown.join(", "));
    }
    if c.create_before_destroy {
        out.push_str("  # the new one is made first; the old one goes once nothing uses it");
    }
    if let Some(r) = &c.reason {
        let _ = write!(out, "  # {r}");
    }
    out.push('\n');
    if c.action == Action::Replace && c.stateful {
        let _ =
            writeln!(out, "      # WARNING: replacing {} destroys the data it holds", c.address);
    }
    let width = rows
        .iter()
        .filter_map(|r| match r {
            Row::Attr { name, .. } => Some(name.chars().count()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    for r in rows {
        match r {
            Row::Attr { name, value, forces } => {
                let _ = write!(out, "      {name:width$} = {value}");
                if forces {
                    out.push_str("  # forces replacement");
                }
            }
            Row::Note(n) => {
                let _ = write!(out, "      # {n}");
            }
        }
        out.push('\n');
    }
    if opts.verbose {
        // the long verbose listing reads better with room between resources
        out.push('\n');
    }
}

/// A new resource's few short values on one line (`a = 1, b = "x"`), when they fit in
/// [`ONE_LINE_MAX`] characters; the line of a value that forces replacement is never shared.
fn one_line(rows: &[Row]) -> Option<String> {
    if rows.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    for r in rows {
        match r {
            Row::Attr { name, value, forces: false } => parts.push(format!("{name} = {value}")),
            _ => return None,
        }
    }
    let line = parts.join(", ");
    (rows.len() == 1 || (rows.len() <= 3 && line.chars().count() <= ONE_LINE_MAX)).then_some(line)
}

/// The longest line of several short values a new resource's header takes.
const ONE_LINE_MAX: usize = 64;

/// The plan's warnings, the targeting one last.
pub(super) fn warnings(plan: &Plan, out: &mut String) {
    for w in &plan.warnings {
        let _ = writeln!(out, "Warning: {w}\n");
    }
    if plan.is_targeted() {
        let (covers, then) = if plan.destroy {
            ("the targets and what depends on them", "the rest of the stack may then need changes")
        } else {
            ("the targets and what they depend on", "it may not show every change the stack needs")
        };
        let _ = writeln!(
            out,
            "Warning: Resource targeting is in effect. This plan covers only {covers} ({}), so {then}. \
             Once it is applied, run `empi-infra plan` without --target for a full plan. Use --target to recover from a \
             mistake or to work around a limitation, not routinely.\n",
            plan.targets.join(", ")
        );
    }
}

/// The plan as `plan --json` prints it (schema: docs/PLAN-JSON.md).
pub fn render_json(plan: &Plan) -> Value {
    serde_json::json!({
        "format_version": PLAN_FORMAT_VERSION,
        // a saved plan's seal, else the digest it would be sealed with (`history` records it)
        "plan_sha256": plan.digest.clone().unwrap_or_else(|| plan.content_digest()),
        "stack": plan.stack,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "destroy": plan.destroy,
        "targets": plan.targets,
        "warnings": plan.warnings,
        "estimate": plan.estimate,
        "cost": plan.cost,
        "review": plan.review,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::network;
    use crate::plan::AttrChange;
    use crate::resource::{Expr, ResourceSpec};

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        crate::plan::test_plan(changes)
    }

    fn vpc_update(attributes: Vec<AttrChange>) -> ResourceChange {
        let mut spec = ResourceSpec::new("network.vpc", network::VPC.kind, "s-vpc");
        for k in ["cidr_block", "enable_dns_hostnames", "enable_dns_support", "tags"] {
            spec = spec.input(k, Expr::lit(1));
        }
        ResourceChange {
            address: "network.vpc".into(),
            kind: network::VPC.kind.into(),
            action: Action::Update,
            attributes,
            reason: None,
            stateful: false,
            spec: Some(spec),
            create_before_destroy: false,
            id: Some("vpc-1".into()),
            objects: Default::default(),
        }
    }

    fn change(name: &str, before: Value, after: Value) -> AttrChange {
        AttrChange {
            name: name.into(),
            before: Some(before),
            after: Some(after),
            after_unknown: false,
            forces_replacement: false,
        }
    }

    #[test]
    fn an_update_shows_only_the_changed_tags_and_counts_what_it_hides() {
        let tags = change(
            "tags",
            serde_json::json!({"Name": "s-vpc", "owner": "a", "env": "prod", "team": "x"}),
            serde_json::json!({"Name": "s-vpc", "owner": "b", "env": "prod", "team": "x"}),
        );
        let text = render_text(&plan(vec![vpc_update(vec![tags])]));
        assert!(
            text.contains("  ~ network.vpc (aws_vpc)\n      tags.owner = \"a\" -> \"b\"\n"),
            "{text}"
        );
        assert!(text.contains("      # (3 unchanged tags hidden)\n"), "{text}");
        assert!(text.contains("      # (3 unchanged attributes hidden)\n"), "{text}");
        assert!(!text.contains("env"), "{text}");
        let verbose = render_text_with(
            &plan(vec![vpc_update(vec![change("cidr_block", "a".into(), "b".into())])]),
            &RenderOptions { verbose: true },
        );
        assert!(
            verbose
                .contains("cidr_block = \"a\" -> \"b\"\n      # (3 unchanged attributes hidden)"),
            "{verbose}"
        );
    }

    #[test]
    fn a_new_resource_of_few_values_takes_one_line_with_its_reason_last() {
        let mut c = vpc_update(vec![AttrChange {
            name: "cidr_block".into(),
            before: None,
            after: Some("10.0.0.0/16".into()),
            after_unknown: false,
            forces_replacement: false,
        }]);
        c.action = Action::Create;
        c.reason = Some("adopting vpc-1: found by its name and tags".into());
        c.attributes.push(AttrChange {
            name: "vpc_id".into(),
            before: None,
            after: Some(UNKNOWN.into()),
            after_unknown: true,
            forces_replacement: false,
        });
        let text = render_text(&plan(vec![c.clone()]));
        assert!(
            text.contains("  + network.vpc (aws_vpc \"s-vpc\")  cidr_block = \"10.0.0.0/16\"  (known after apply: vpc_id)  # adopting vpc-1: found by its name and tags\n\n"),
            "{text}"
        );
        // nothing to say but what is known after apply: no trailing blanks
        c.attributes.remove(0);
        c.reason = None;
        let text = render_text(&plan(vec![c]));
        assert!(
            text.contains("  + network.vpc (aws_vpc \"s-vpc\")  (known after apply: vpc_id)\n"),
            "{text}"
        );
    }

    #[test]
    fn a_targeted_plan_says_it_is_partial_even_without_changes() {
        let mut p = plan(vec![]);
        p.targets = vec!["network.vpc".into(), "database".into()];
        let text = render_text(&p);
        assert!(text.contains("Warning: Resource targeting is in effect."), "{text}");
        assert!(text.ends_with("No changes. The cloud matches the targeted part of the stack \"s\" (0 resources) (partial: only --target network.vpc, --target database and what they depend on).\n"), "{text}");
        assert_eq!(render_json(&p)["targets"], serde_json::json!(["network.vpc", "database"]));
        assert_eq!(render_json(&plan(vec![]))["targets"], serde_json::json!([]));
    }

    #[test]
    fn long_strings_and_large_values_fold_and_small_ones_do_not() {
        let mut unknown = vec![];
        let mut rows = vec![];
        let conf = (0..40).map(|i| format!("line {i}")).collect::<Vec<_>>().join("\n");
        value_rows("conf", &Value::String(conf), false, &mut unknown, &mut rows);
        value_rows("small", &serde_json::json!({"a": 1}), false, &mut unknown, &mut rows);
        value_rows("refs", &serde_json::json!([UNKNOWN, UNKNOWN]), false, &mut unknown, &mut rows);
        let big: serde_json::Map<String, Value> = (0..10)
            .map(|i| (format!("key{i}"), Value::from(format!("a value of some length {i}"))))
            .collect();
        value_rows("big", &Value::Object(big), false, &mut unknown, &mut rows);
        let text: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Row::Attr { name, value, .. } => format!("{name} = {value}"),
                Row::Note(n) => n.clone(),
            })
            .collect();
        assert_eq!(
            text,
            [
                "conf = \"line 0\"… (309 characters, 40 lines; --verbose shows it)",
                "small = {a = 1}",
                "big = {10 values} (--verbose shows them)"
            ]
        );
        assert_eq!(unknown, ["refs"]);
    }
}
