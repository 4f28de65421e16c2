//! Plan-time estimate of how long an apply takes: each change costs what its kind took in this
//! stack's past applies (a state fact written by the executor), or its schema's typical time, and
//! independent changes run in parallel, so the estimate is the longest chain of dependent changes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Action, Estimate, Plan};
use crate::resource::Schema;
use crate::state::State;

/// The state fact that holds the measured duration of `kind`'s `op` (seconds, a moving average).
pub fn duration_fact(kind: &str, op: &str) -> String {
    format!("duration:{kind}:{op}")
}

/// Estimates `plan`'s apply time: each change takes what this kind took before (state facts), or
/// its schema's typical time; changes run in parallel except along dependencies.
pub fn estimate(
    plan: &Plan,
    state: &State,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
) -> Option<Estimate> {
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
        let d = match state
            .facts
            .get(&duration_fact(&c.kind, if op == "replace" { "create" } else { op }))
            .and_then(Value::as_f64)
        {
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

pub(super) fn human(secs: f64) -> String {
    format_duration(std::time::Duration::from_secs_f64(secs.max(0.0)))
}

/// `1m10s`, `9s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
