//! Drift detection: reads every recorded resource and compares it, leaf by leaf,
//! with what empi-infra last applied. Strictly read-only: it writes neither the cloud nor state.
//!
//! Normalisation happens where AWS normalises: providers report tags without AWS's own, sets
//! sorted, PostgreSQL minor versions within the recorded major; policy documents compare
//! semantically (`plan::normalize`). What is not ours to compare (Kubernetes server defaults) is
//! projected away by the provider.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{self, leaves, normalize, Live, PlanError};
use crate::resource::{Registry, Schema};
use crate::state::State;

/// Version of `drift --json`.
pub const DRIFT_FORMAT_VERSION: &str = "1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Changed,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub address: String,
    /// The attribute path (`ingress`, `tags.owner`, `manifest.spec.replicas`); none for `deleted`.
    pub attribute: Option<String>,
    pub kind: Kind,
    pub expected: Option<Value>,
    pub actual: Option<Value>,
    /// What to do about it.
    pub remedy: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub format_version: String,
    pub stack: String,
    pub checked_at: String,
    pub resources_checked: usize,
    pub findings: Vec<Finding>,
    /// Changes in the stack file that were never applied (not drift: `plan` shows them).
    pub unapplied_stack_changes: usize,
}

impl Report {
    pub fn drifted(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// Stack keys people write in `[drift] ignore`, and the attributes they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("cluster.nodes.desired", "cluster.node_group.desired_size"),
    ("cluster.nodes.min", "cluster.node_group.min_size"),
    ("cluster.nodes.max", "cluster.node_group.max_size"),
    ("app.api_replicas", "workloads.api.manifest.spec.replicas"),
    ("app.frontend_replicas", "workloads.frontend.manifest.spec.replicas"),
];

/// Whether `address` + `attribute` is covered by one of the ignore patterns (an address, or an
/// address followed by an attribute path prefix; stack keys from `ALIASES` work too).
pub fn ignored(patterns: &[String], address: &str, attribute: Option<&str>) -> bool {
    let full = match attribute {
        Some(a) => format!("{address}.{a}"),
        None => address.to_string(),
    };
    patterns.iter().any(|p| {
        let p = ALIASES
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| p.clone());
        full == p || full.starts_with(&format!("{p}.")) || full.starts_with(&format!("{p}["))
    })
}

/// Compares what a refresh found with what state records.
pub fn compare(
    state: &State,
    live: &BTreeMap<String, Live>,
    schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
    ignore: &[String],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (address, rs) in &state.resources {
        let Some(l) = live.get(address) else { continue };
        let Some(obs) = &l.observed else {
            if !ignored(ignore, address, None) {
                out.push(Finding {
                    address: address.clone(),
                    attribute: None,
                    kind: Kind::Deleted,
                    expected: rs.id.clone().map(Value::String),
                    actual: None,
                    remedy: "`empi-infra apply` creates it again".into(),
                });
            }
            continue;
        };
        let schema = schema_of(&rs.kind);
        for (attr, recorded) in &rs.attrs {
            let a = schema.and_then(|s| s.attr(attr));
            if a.is_some_and(|a| a.write_only) {
                continue; // cannot be read back; nothing to compare
            }
            let Some(actual) = obs.attrs.get(attr) else { continue };
            let (want, have) = (normalize(a, recorded), normalize(a, actual));
            if want == have {
                continue;
            }
            // report leaf by leaf
            let (mut w, mut h) = (BTreeMap::new(), BTreeMap::new());
            leaves(attr, Some(&want), &mut w);
            leaves(attr, Some(&have), &mut h);
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(h.keys()).collect();
            for k in keys {
                let (e, g) = (w.get(k).cloned().flatten(), h.get(k).cloned().flatten());
                if e == g || ignored(ignore, address, Some(k)) {
                    continue;
                }
                out.push(Finding {
                    address: address.clone(),
                    attribute: Some(k.clone()),
                    kind: Kind::Changed,
                    expected: e,
                    actual: g,
                    remedy: format!("`empi-infra apply` restores it; or, if the change should stay, change the stack so that it wants it (and add `{address}.{k}` to [drift] ignore if something else owns it)"),
                });
            }
        }
    }
    out
}

/// Refreshes everything recorded and compares (read-only).
pub async fn detect(
    registry: &Registry,
    state: &State,
    graph: &crate::graph::ResourceGraph,
    ignore: &[String],
    parallelism: usize,
    digest: &str,
) -> Result<Report, PlanError> {
    let live = plan::refresh(registry, state, parallelism).await?;
    let schema_of = |k: &str| registry.get(k).map(|r| r.schema());
    let findings = compare(state, &live, &schema_of, ignore);
    let pending = plan::diff(graph, state, &live, &schema_of, digest);
    // stack changes = planned changes that are not explained by drift
    let drifted: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.address.as_str()).collect();
    let unapplied = pending
        .changes
        .iter()
        .filter(|c| c.action != plan::Action::NoOp && !drifted.contains(c.address.as_str()))
        .count();
    Ok(Report {
        format_version: DRIFT_FORMAT_VERSION.into(),
        stack: state.stack.clone(),
        checked_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        resources_checked: state.resources.len(),
        findings,
        unapplied_stack_changes: unapplied,
    })
}

/// The report as people read it.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if !r.drifted() {
        let _ = writeln!(
            out,
            "No drift: the {} resources of stack {:?} are as empi-infra left them.",
            r.resources_checked, r.stack
        );
    } else {
        let n = r
            .findings
            .iter()
            .map(|f| f.address.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let _ = writeln!(
            out,
            "Drift in stack {:?}: {} finding(s) in {n} of {} resources.\n",
            r.stack,
            r.findings.len(),
            r.resources_checked
        );
        for f in &r.findings {
            match f.kind {
                Kind::Deleted => {
                    let _ = writeln!(
                        out,
                        "  - {} deleted (was {})",
                        f.address,
                        f.expected.as_ref().map(plan::show).unwrap_or_default()
                    );
                }
                Kind::Changed => {
                    let show = |v: &Option<Value>| {
                        v.as_ref().map(plan::show).unwrap_or_else(|| "(none)".into())
                    };
                    let _ = writeln!(
                        out,
                        "  ~ {}  {}: expected {}, actual {}",
                        f.address,
                        f.attribute.as_deref().unwrap_or(""),
                        show(&f.expected),
                        show(&f.actual)
                    );
                }
            }
            let _ = writeln!(out, "      fix: {}", f.remedy);
        }
    }
    if r.unapplied_stack_changes > 0 {
        let _ = writeln!(
            out,
            "\nNote: the stack file has {} change(s) that were never applied (not drift); `empi-infra plan` shows them.",
            r.unapplied_stack_changes
        );
    }
    out
}

/// A Slack-compatible summary (`text`) with the findings, for `--notify`.
pub fn notification(r: &Report) -> Value {
    let mut lines =
        vec![format!("empi-infra: drift in stack `{}`: {} finding(s)", r.stack, r.findings.len())];
    for f in r.findings.iter().take(20) {
        lines.push(match f.kind {
            Kind::Deleted => format!("• `{}` deleted", f.address),
            Kind::Changed => {
                format!("• `{}` `{}` changed", f.address, f.attribute.as_deref().unwrap_or(""))
            }
        });
    }
    if r.findings.len() > 20 {
        lines.push(format!("… and {} more", r.findings.len() - 20));
    }
    serde_json::json!({"text": lines.join("\n"), "stack": r.stack, "checked_at": r.checked_at, "findings": r.findings})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_patterns_cover_addresses_paths_and_stack_keys() {
        let p = vec![
            "cluster.nodes.desired".to_string(),
            "network.vpc".to_string(),
            "workloads.api.manifest.spec".to_string(),
        ];
        assert!(ignored(&p, "cluster.node_group", Some("desired_size")));
        assert!(!ignored(&p, "cluster.node_group", Some("min_size")));
        assert!(ignored(&p, "network.vpc", Some("tags.owner")));
        assert!(ignored(&p, "workloads.api", Some("manifest.spec.replicas")));
        assert!(!ignored(&p, "workloads.api", Some("manifest.metadata.labels.x")));
        assert!(!ignored(&p, "network.vpcx", None));
    }

    #[test]
    fn policies_compare_semantically() {
        let a = serde_json::json!({"Statement": [{"Action": ["s3:GetObject"], "Resource": "x"}, {"Action": "a", "Resource": "y"}]});
        let b = serde_json::json!({"Statement": [{"Action": "a", "Resource": "y"}, {"Action": "s3:GetObject", "Resource": ["x"]}]});
        let policy = crate::kinds::iam::ROLE.attr("inline_policies");
        assert_eq!(normalize(policy, &a), normalize(policy, &b));
        let c = serde_json::json!({"Statement": [{"Action": "s3:*", "Resource": "x"}]});
        assert_ne!(normalize(policy, &a), normalize(policy, &c));
    }

    #[test]
    fn a_set_of_objects_compares_whatever_order_their_keys_come_in() {
        // as the stack writes rules (keys in order) and as a read builds them (keys as written)
        let stack: serde_json::Value = serde_json::from_str(
            r#"[{"cidr_block": "0.0.0.0/0", "from_port": 443, "protocol": "tcp", "to_port": 443},
                {"cidr_block": "10.0.4.0/24", "from_port": 30080, "protocol": "tcp", "to_port": 30080}]"#,
        )
        .unwrap();
        let live: serde_json::Value = serde_json::from_str(
            r#"[{"protocol": "tcp", "from_port": 30080, "to_port": 30080, "cidr_block": "10.0.4.0/24"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_block": "0.0.0.0/0"}]"#,
        )
        .unwrap();
        let egress = crate::kinds::network::SECURITY_GROUP.attr("egress");
        assert_eq!(normalize(egress, &stack), normalize(egress, &live));
    }
}
