//! Rendering: the plan as people read it (`plan` text, objects expanded leaf by leaf) and as
//! `plan --json` prints it (the versioned schema of `docs/PLAN-JSON.md`).

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
        Value::Object(m) => format!("{{{}}}", m.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
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
        let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
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
    for w in &plan.warnings {
        let _ = writeln!(out, "Warning: {w}\n");
    }
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
        let symbol = if c.create_before_destroy { "+/-" } else { c.action.symbol() };
        let _ = write!(out, "  {symbol} {} ({})", c.address, c.kind);
        if c.create_before_destroy {
            out.push_str("  # the new one is made first; the old one goes once nothing uses it");
        }
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
        "warnings": plan.warnings,
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
