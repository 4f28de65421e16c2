//! `empi-infra check`: the security baseline as named rules (`rules::RULES`), each mapped to the
//! HIPAA Security Rule's technical safeguard (45 CFR §164.312) and to CIS AWS Foundations / AWS
//! Foundational Security Best Practices control ids, evaluated on the planned values of the stack
//! and on the live cloud; waivers from the stack; a report that is the evidence a reviewer keeps.
//!
//! A rule reads one resource's attributes (its spec's inputs when planned, what a refresh read when
//! live) and says pass or fail with the evidence: the values it looked at. Rules that need a
//! resource to exist (flow logs) fail when the stack or the cloud has none.

pub mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::graph::ResourceGraph;
use crate::plan::Live;
use crate::resource::{Attrs, UNKNOWN};
use crate::state::State;

pub use rules::{Rule, RULES};

/// Version of `check --json`.
pub const CHECK_FORMAT_VERSION: &str = "1";

/// Where the attributes a rule reads come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The stack's planned values (what `apply` will make).
    Planned,
    /// What the cloud holds now, read through the AWS and Kubernetes APIs.
    Live,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Failed, and a waiver in the stack that has not expired accepts it.
    Waived,
}

/// A waiver from the stack (`[[security.waive]]`), declared with the stack file's other tables.
pub use crate::stack::Waiver;

/// One rule's verdict on one resource: a line of the evidence report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    /// The §164.312 standard or implementation specification the rule serves.
    pub safeguard: String,
    /// CIS AWS Foundations Benchmark v3.0.0 and AWS Foundational Security Best Practices ids.
    pub controls: Vec<String>,
    /// The resource address (`database.instance`), or the kind a missing resource would have.
    pub resource: String,
    pub status: Status,
    /// What was looked at, in values: `storage_encrypted = true, kms_key_id = arn:aws:kms:…`.
    pub evidence: String,
    /// What to do about a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The waiver that accepts a failure (or that expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<Waiver>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: String,
    pub stack: String,
    pub source: Source,
    pub checked_at: String,
    pub rules: usize,
    pub passed: usize,
    pub failed: usize,
    pub waived: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.failed > 0
    }
}

/// One resource as a rule sees it.
pub struct Object<'a> {
    pub address: &'a str,
    pub kind: &'a str,
    pub attrs: &'a Attrs,
    /// The stack's limits the rules hold values to, and the day they are checked on.
    pub policy: &'a Policy,
}

/// What rules measure against besides a resource's own values.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `YYYY-MM-DD`.
    pub today: String,
    /// `[security] max_secret_age_days`.
    pub max_secret_age_days: u32,
}

impl Object<'_> {
    /// The value at a dotted path (`manifest.metadata.labels.app`); keys holding dots are matched
    /// whole first (`pod-security.kubernetes.io/enforce` as one label key).
    pub fn get(&self, path: &str) -> Option<&Value> {
        lookup(self.attrs.get(path.split('.').next()?)?, path.split_once('.').map(|(_, r)| r))
    }
}

fn lookup<'v>(v: &'v Value, rest: Option<&str>) -> Option<&'v Value> {
    let Some(rest) = rest else { return Some(v) };
    let obj = v.as_object()?;
    if let Some(whole) = obj.get(rest) {
        return Some(whole);
    }
    let mut parts = rest.splitn(2, '.');
    let head = parts.next()?;
    lookup(obj.get(head)?, parts.next())
}

/// Whether a planned value is known only after apply (a reference to another resource's output).
pub fn unknown(v: &Value) -> bool {
    v.as_str() == Some(UNKNOWN)
}

/// The planned objects: each spec's inputs with references resolved from state where it knows them.
pub fn planned(graph: &ResourceGraph, state: &State) -> Vec<(String, String, Attrs)> {
    let outputs = |a: &str, o: &str| state.resources.get(a).and_then(|r| r.outputs.get(o).cloned());
    graph
        .topological()
        .into_iter()
        .map(|s| {
            let attrs =
                s.inputs.iter().map(|(k, e)| (k.clone(), e.resolve_partial(&outputs).0)).collect();
            (s.address.clone(), s.kind.clone(), attrs)
        })
        .collect()
}

/// The live objects: what a refresh read, over what state recorded for what a refresh cannot read
/// back (write-only inputs). A resource the refresh found gone holds only the [`GONE`] attribute:
/// every rule that reads its kind fails on it.
pub fn live(state: &State, live: &BTreeMap<String, Live>) -> Vec<(String, String, Attrs)> {
    state
        .resources
        .iter()
        .filter_map(|(address, rs)| {
            let l = live.get(address)?;
            let mut attrs = rs.attrs.clone();
            match &l.observed {
                Some(obs) => {
                    for (k, v) in &obs.attrs {
                        attrs.insert(k.clone(), v.clone());
                    }
                }
                None => attrs = Attrs::from([(GONE.to_string(), Value::Bool(true))]),
            }
            Some((address.clone(), rs.kind.clone(), attrs))
        })
        .collect()
}

/// Marks a recorded object the cloud no longer has (see [`live`]).
pub const GONE: &str = "(gone)";

/// Evaluates every rule on `objects` with the stack's `[security]` limits, and applies its waivers,
/// as of `today` (`YYYY-MM-DD`).
pub fn evaluate(
    stack: &str,
    source: Source,
    objects: &[(String, String, Attrs)],
    security: &crate::stack::SecurityConfig,
    today: &str,
) -> Report {
    let waivers = &security.waivers;
    let policy =
        Policy { today: today.to_string(), max_secret_age_days: security.max_secret_age_days };
    let mut findings = Vec::new();
    for rule in RULES {
        let matching: Vec<_> =
            objects.iter().filter(|(a, k, _)| k == rule.kind && (rule.applies)(a)).collect();
        if matching.is_empty() {
            if rule.required {
                findings.push(finding(
                    rule,
                    rule.kind.to_string(),
                    Err(format!(
                        "no {} {} {}",
                        rule.kind,
                        if source == Source::Planned {
                            "is in the stack's plan"
                        } else {
                            "exists in the cloud"
                        },
                        rule.required_for
                    )),
                ));
            }
            continue;
        }
        for (address, kind, attrs) in matching {
            let o = Object { address, kind, attrs, policy: &policy };
            let verdict = if attrs.contains_key(GONE) {
                Err(format!("state records {address}, but it is gone from the cloud (deleted behind empi-infra's back)"))
            } else {
                (rule.test)(&o, source)
            };
            findings.push(finding(rule, address.clone(), verdict));
        }
    }
    for f in &mut findings {
        if f.status != Status::Fail {
            continue;
        }
        let w = waivers
            .iter()
            .find(|w| w.rule == f.rule && w.resource.as_deref().is_none_or(|r| r == f.resource));
        if let Some(w) = w {
            if w.expires.as_str() >= today {
                f.status = Status::Waived;
            } else {
                f.evidence = format!("{}; the waiver expired on {}", f.evidence, w.expires);
                f.fix = Some(format!(
                    "{}; or renew the waiver in [[security.waive]] (rule = \"{}\") with a new expires date, if a reviewer accepts it again",
                    f.fix.clone().unwrap_or_default(),
                    f.rule
                ));
            }
            f.waiver = Some(w.clone());
        }
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    Report {
        format_version: CHECK_FORMAT_VERSION.into(),
        stack: stack.into(),
        source,
        checked_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        rules: RULES.len(),
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        waived: count(Status::Waived),
        findings,
    }
}

fn finding(rule: &Rule, resource: String, verdict: Result<String, String>) -> Finding {
    let (status, evidence) = match verdict {
        Ok(e) => (Status::Pass, e),
        Err(e) => (Status::Fail, e),
    };
    Finding {
        rule: rule.id.into(),
        title: rule.title.into(),
        safeguard: rule.safeguard.into(),
        controls: rule.controls.iter().map(|c| c.to_string()).collect(),
        resource,
        fix: (status == Status::Fail).then(|| rule.fix.to_string()),
        status,
        evidence,
        waiver: None,
    }
}

/// Rules that pass in the plan but fail live: the cloud was changed behind empi-infra's back.
pub fn regressions<'a>(planned: &'a Report, live: &'a Report) -> Vec<&'a Finding> {
    live.findings
        .iter()
        .filter(|l| l.status == Status::Fail)
        .filter(|l| {
            planned
                .findings
                .iter()
                .any(|p| p.rule == l.rule && p.resource == l.resource && p.status != Status::Fail)
        })
        .collect()
}

/// The report as people read it: failures first, each with its controls, evidence and fix.
pub fn render_text(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let what = match r.source {
        Source::Planned => "the stack's planned values",
        Source::Live => "the live cloud",
    };
    let _ = writeln!(
        out,
        "Security baseline on {what} of stack {:?}: {} passed, {} failed, {} waived ({} rules).",
        r.stack, r.passed, r.failed, r.waived, r.rules
    );
    for status in [Status::Fail, Status::Waived] {
        for f in r.findings.iter().filter(|f| f.status == status) {
            let mark = if status == Status::Fail { "FAIL" } else { "waived" };
            let _ = writeln!(out, "\n  {mark} {} on {}: {}", f.rule, f.resource, f.title);
            let _ = writeln!(out, "       {}; {}", f.safeguard, f.controls.join(", "));
            let _ = writeln!(out, "       evidence: {}", f.evidence);
            if let Some(w) = &f.waiver {
                let _ = writeln!(out, "       waiver: {} (until {})", w.reason, w.expires);
            }
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "       fix: {fix}");
            }
        }
    }
    out
}

/// The planned check as `plan` and `apply` run it: its warning, if a rule fails, and the rules
/// that fail (`rule on resource`), which a plan's review lists.
pub fn baseline_findings(
    graph: &ResourceGraph,
    state: &State,
    stack: &crate::stack::Stack,
) -> (Option<String>, Vec<String>) {
    let r = evaluate(
        &stack.name,
        Source::Planned,
        &planned(graph, state),
        &stack.security,
        &crate::eks_versions::today(),
    );
    (plan_warning(&r), failures(&r))
}

/// The rules a report fails, as `rule on resource`.
fn failures(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| format!("{} on {}", f.rule, f.resource))
        .collect()
}

/// `plan`'s warning: which rules the planned values fail (none: `None`).
pub fn plan_warning(r: &Report) -> Option<String> {
    let failed = failures(r);
    (!failed.is_empty()).then(|| {
        format!(
            "{} {} rule(s) on the planned values: {}. `empi-infra check` shows each rule's HIPAA safeguard, controls, evidence and fix; a reviewer-accepted failure goes in [[security.waive]]",
            crate::plan::BASELINE_WARNING_START,
            failed.len(),
            failed.join(", ")
        )
    })
}

#[cfg(test)]
mod tests;
