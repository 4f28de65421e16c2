//! Checkov, a policy tool that reads Terraform plans, on `plan --json --format terraform` of
//! `stacks/example-prod.toml` planned against a private moto: it parses every resource, reports on
//! every kind it has checks for, and each failed check is documented in docs/SECURITY-CHECKS.md.
//! Secrets never reach the document.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::{repo, run_in, Moto, Output};
use empi_engine::plan::terraform::MAPPINGS;
use serde_json::Value;

fn checkov() -> PathBuf {
    // EMPI_CHECKOV: another Checkov 3.3.30 (e.g. when the venv was made in a checkout since moved)
    let bin = std::env::var_os("EMPI_CHECKOV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".local-cloud/checkov-venv/bin/checkov"));
    assert!(
        bin.exists(),
        "Checkov is not installed: run `scripts/local-cloud setup` (scripts/test does it for you)"
    );
    bin
}

/// A working directory holding `stacks/example-prod.toml` as `stack.toml`.
struct Prod {
    dir: tempfile::TempDir,
    moto: Moto,
}

impl Prod {
    fn new() -> Prod {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo().join("stacks/example-prod.toml"), dir.path().join("stack.toml"))
            .unwrap();
        Prod { dir, moto: Moto::start() }
    }

    /// `empi-infra ARGS` with no Kubernetes cluster: planning a new stack reads no Kubernetes object.
    fn run(&self, args: &[&str]) -> Output {
        let stack = self.dir.path().join("stack.toml");
        run_in(
            self.dir.path(),
            &self.moto.url,
            &self.dir.path().join("no-cluster.kubeconfig"),
            &stack,
            args,
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(out.code, 0, "empi-infra {args:?}: {out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    }
}

/// docs/SECURITY-CHECKS.md: the documented failed checks (id, resource address), and the
/// Terraform types Checkov has no check for.
fn documented() -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let doc = std::fs::read_to_string(repo().join("docs/SECURITY-CHECKS.md")).unwrap();
    let mut failed = BTreeSet::new();
    let mut unchecked = BTreeSet::new();
    let mut section = "";
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section =
                if h.starts_with("Resources Checkov has no check for") { "unchecked" } else { "" };
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() > 3 && cols[1].starts_with("CKV") {
            for resource in cols[2].split(',') {
                failed.insert((cols[1].to_string(), resource.trim().trim_matches('`').to_string()));
            }
        }
        if section == "unchecked" {
            for (i, part) in line.split('`').enumerate() {
                if i % 2 == 1 && part.starts_with("aws_") {
                    unchecked.insert(part.to_string());
                }
            }
        }
    }
    (failed, unchecked)
}

fn run_checkov(plan: &Path) -> (Value, f64) {
    let t0 = Instant::now();
    let out = Command::new(checkov())
        .args([
            "-f",
            plan.to_str().unwrap(),
            "--framework",
            "terraform_plan",
            "-o",
            "json",
            "--skip-download",
        ])
        .current_dir(plan.parent().unwrap())
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    // 0: every check passed, 1: some failed; anything else is Checkov's own failure
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "checkov failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (report, secs)
}

#[test]
fn checkov_parses_every_resource_of_the_prod_plan_and_every_failure_is_documented() {
    let p = Prod::new();
    let doc = p.json(&["plan", "--json", "--format", "terraform", "--out", "saved.plan"]);
    assert_eq!(doc["format_version"], "1.2");
    // a saved plan shows the same document
    let shown = p.json(&["show", "--json", "--format", "terraform", "saved.plan"]);
    assert_eq!(shown, doc, "show --json --format terraform of the saved plan differs from plan's");
    let path = p.dir.path().join("plan.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();

    let (report, secs) = run_checkov(&path);
    let summary = &report["summary"];
    let planned = doc["planned_values"]["root_module"]["resources"].as_array().unwrap();
    eprintln!(
        "checkov {}: {} resources, {} passed, {} failed, in {secs:.1} s",
        summary["checkov_version"], summary["resource_count"], summary["passed"], summary["failed"]
    );
    assert_eq!(summary["parsing_errors"], 0, "{summary}");
    assert_eq!(
        summary["resource_count"],
        planned.len(),
        "Checkov parsed every resource of the plan: {summary}"
    );

    // every kind is reported on, unless Checkov has no check for any of its types (documented)
    let results = &report["results"];
    let checks: Vec<&Value> = ["passed_checks", "failed_checks"]
        .iter()
        .flat_map(|k| results[*k].as_array().unwrap())
        .collect();
    let reported: BTreeSet<&str> =
        checks.iter().filter_map(|c| c["resource"].as_str()?.split('.').next()).collect();
    let (documented_failures, unchecked) = documented();
    let planned_types: BTreeSet<&str> =
        planned.iter().map(|r| r["type"].as_str().unwrap()).collect();
    for (kind, m) in MAPPINGS {
        if !m.types.iter().any(|t| planned_types.contains(t)) {
            continue;
        }
        let seen = m.types.iter().any(|t| reported.contains(t));
        let not_checkable =
            m.types.iter().filter(|t| planned_types.contains(*t)).all(|t| unchecked.contains(*t));
        assert!(
            seen || not_checkable,
            "Checkov reported nothing on {kind} ({:?}), and docs/SECURITY-CHECKS.md does not say it has no check for it",
            m.types
        );
    }
    for t in &unchecked {
        assert!(
            !reported.contains(t.as_str()),
            "docs/SECURITY-CHECKS.md says Checkov has no check for {t}, but it reported on one"
        );
        assert!(
            planned_types.contains(t.as_str()),
            "docs/SECURITY-CHECKS.md lists {t}, which the plan does not hold"
        );
    }

    // every failed check is documented, and every documented failure still fails
    let failed: BTreeSet<(String, String)> = results["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check_id"].as_str().unwrap().to_string(),
                c["resource"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let undocumented: Vec<_> = failed.difference(&documented_failures).collect();
    assert!(
        undocumented.is_empty(),
        "failed checks missing from docs/SECURITY-CHECKS.md: {undocumented:?}"
    );
    let fixed: Vec<_> = documented_failures.difference(&failed).collect();
    assert!(
        fixed.is_empty(),
        "docs/SECURITY-CHECKS.md lists checks that no longer fail (update it): {fixed:?}"
    );
    assert_eq!(summary["failed"], failed.len(), "one failure per check and resource");
}

/// Every value in a JSON document, as text.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(xs) => xs.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        other => out.push(other.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_secrets_are_in_no_terraform_plan() {
    let p = Prod::new();
    // what the example stack assumes of its account: the admins' role (its certificate is one the
    // local cloud holds, scripts/local_cloud/aws/acm.py)
    let aws = common::aws(&p.moto.url).await;
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    aws.iam
        .create_role()
        .role_name("platform-admins")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    // apply builds the AWS part (the workloads fail: there is no cluster), generating the secrets
    let apply = p.run(&["apply", "--auto-approve"]);
    assert!(
        apply.stderr.contains("cannot read the kubeconfig"),
        "only the workloads fail: {apply:?}"
    );
    assert!(
        !apply.all().contains("CertificateNotFound") && !apply.all().contains("principalArn"),
        "{apply:?}"
    );
    let cfg = common::config(&aws, "tuva-empi-prod/tuva-empi-config").await;
    let secrets: Vec<String> = [&cfg["db"]["password"], &cfg["django"]["secret_key"]]
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("no generated secret: {apply:?}")).to_string())
        .collect();
    assert!(secrets.iter().all(|s| s.len() >= 16), "{secrets:?}");

    // the next plan, from state (no Kubernetes to read), and the same plan saved and shown
    let doc = p.json(&[
        "plan",
        "--json",
        "--format",
        "terraform",
        "--refresh=false",
        "--out",
        "next.plan",
    ]);
    let shown = p.json(&["show", "--json", "--format", "terraform", "next.plan"]);
    let text = format!(
        "{doc}\n{shown}\n{}",
        std::fs::read_to_string(p.dir.path().join("next.plan")).unwrap()
    );
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a generated secret is in the Terraform plan JSON or the saved plan"
        );
    }
    assert!(!text.contains("(known after apply)"));

    let changes: BTreeMap<&str, &Value> = doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["address"].as_str().unwrap(), c))
        .collect();
    let db = changes["aws_db_instance.database_instance"];
    assert_eq!(db["change"]["actions"], serde_json::json!(["no-op"]), "{db}");
    assert_eq!(db["change"]["before_sensitive"]["password"], true);
    assert_eq!(db["change"]["after_sensitive"]["password"], true);
    assert!(
        db["change"]["after"].get("password").is_none()
            && db["change"]["before"].get("password").is_none()
    );
    let version = changes["aws_secretsmanager_secret_version.config_document"];
    assert_eq!(version["change"]["after_sensitive"]["secret_string"], true);
    assert!(version["change"]["after"].get("secret_string").is_none());
    // the values of resources that exist are known: ids from the cloud
    let vpc = changes["aws_vpc.network_vpc"];
    assert!(
        vpc["change"]["after"]["id"].as_str().is_some_and(|id| id.starts_with("vpc-")),
        "{vpc}"
    );
    let mut all = Vec::new();
    strings(&doc, &mut all);
    assert!(!all.iter().any(|s| s == "(sensitive)"), "no placeholder stands in for a value");
}
