//! The commands that need no cloud: validate, graph, and what bad input gets.

use std::process::Command;

fn empi(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_empi-infra")).args(args).current_dir(dir).env_remove("EMPI_INFRA_STACK").output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How many resources the blueprint makes of a stack file: what the CLI must report.
fn resource_count(path: &str) -> usize {
    let stack = empi_engine::stack::Stack::parse(path, &std::fs::read_to_string(repo().join(path)).unwrap()).unwrap();
    empi_engine::blueprint::expand(&stack, "ACCOUNT").len()
}

#[test]
fn validate_accepts_the_repo_stacks() {
    for s in ["stacks/local.toml", "stacks/example-prod.toml", "stacks/example-keycloak.toml"] {
        let n = resource_count(s);
        assert!(n > 50, "{s}: {n} resources");
        let (code, out, err) = empi(&["validate", "--stack", s], &repo());
        assert_eq!(code, 0, "{s}: {out}{err}");
        assert!(out.contains(&format!("is valid ({n} resources")), "{out}");
    }
}

#[test]
fn validate_names_file_line_and_column_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo().join("stacks/local.toml"))
        .unwrap()
        .replace("multi_az = false", "multi_az = false\nengine_version = \"14\"");
    std::fs::write(dir.path().join("bad.toml"), &src).unwrap();
    let (code, out, err) = empi(&["validate", "-s", "bad.toml"], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    let line = src.lines().position(|l| l.starts_with("engine_version")).unwrap() + 1;
    assert!(err.contains(&format!("bad.toml:{line}:18: PostgreSQL 14 is too old")), "{err}");
    assert!(err.contains("fix: set engine_version = \"16\""), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn a_missing_stack_is_one_clear_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = empi(&["plan"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("no stack file given; pass --stack"), "{err}");
    let (code, _, err) = empi(&["validate", "-s", "nope.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("nope.toml:0:0: cannot read the stack file"), "{err}");
}

#[test]
fn graph_prints_dot_with_the_dependencies() {
    let (code, out, _) = empi(&["graph", "-s", "stacks/local.toml"], &repo());
    assert_eq!(code, 0);
    assert!(out.starts_with("digraph empi_infra {"));
    assert!(out.contains("\"network.vpc\" -> \"network.private_subnet[0]\";"), "{out}");
    assert!(out.contains("\"database.instance\" -> \"config.document\";"), "{out}");
    assert!(out.contains("\"config.secret\" -> \"database.instance\";"), "{out}");
}

#[test]
fn the_drift_policy_is_read_only_and_covers_every_aws_kind() {
    let (code, out, err) = empi(&["drift", "--print-iam-policy"], &repo());
    assert_eq!(code, 0, "{err}");
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<&str> =
        policy["Statement"].as_array().unwrap().iter().flat_map(|s| s["Action"].as_array().unwrap()).map(|a| a.as_str().unwrap()).collect();
    for k in empi_engine::kinds::aws() {
        for a in k.iam.read {
            assert!(actions.contains(a), "{} needs {a} to be read", k.kind);
        }
    }
    assert!(actions.iter().all(|a| !a.contains(":Create") && !a.contains(":Delete") && !a.contains(":Put")), "{actions:?}");
}

#[test]
fn output_before_apply_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    let (code, _, err) = empi(&["output", "cluster_name", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("not known yet: run `empi-infra apply` first"), "{err}");
}

#[test]
fn validate_refuses_a_kubernetes_version_past_eks_support_with_the_dates() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo().join("stacks/local.toml"))
        .unwrap()
        .replace("[database]", "[cluster]\nkubernetes_version = \"1.29\"\n\n[database]");
    std::fs::write(dir.path().join("old.toml"), &src).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_empi-infra"))
        .args(["validate", "-s", "old.toml"])
        .current_dir(dir.path())
        .env("EMPI_INFRA_TODAY", "2026-11-27")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let line = src.lines().position(|l| l.starts_with("kubernetes_version")).unwrap() + 1;
    assert!(
        err.contains(&format!(
            "old.toml:{line}:22: Kubernetes 1.29 is past EKS support: standard support ended 2025-03-23, extended support ended 2026-03-23"
        )),
        "{err}"
    );
    assert!(err.contains("fix: set kubernetes_version = \"1.36\""), "{err}");
}

#[test]
fn validate_refuses_a_node_group_that_mixes_arm_and_x86() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo().join("stacks/local.toml"))
        .unwrap()
        .replace("[database]", "[cluster.nodes]\ninstance_types = [\"m7g.large\", \"m6i.large\"]\n\n[database]");
    std::fs::write(dir.path().join("mixed.toml"), &src).unwrap();
    let (code, out, err) = empi(&["validate", "-s", "mixed.toml"], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("`instance_types` mixes ARM (Graviton: m7g.large) and x86 (m6i.large) types"), "{err}");
}

#[test]
fn show_prints_a_saved_plan_as_text_or_terraform_json_without_a_cloud() {
    let dir = tempfile::tempdir().unwrap();
    // a new stack's plan, as `plan --out` saves it
    let path = "stacks/example-prod.toml";
    let stack = empi_engine::stack::Stack::parse(path, &std::fs::read_to_string(repo().join(path)).unwrap()).unwrap();
    let graph = empi_engine::graph::ResourceGraph::new(empi_engine::blueprint::expand(&stack, "123456789012")).unwrap();
    let state = empi_engine::state::State::new(&stack.name);
    let plan = empi_engine::plan::diff(&graph, &state, &Default::default(), &empi_engine::kinds::schema, "digest");
    std::fs::write(dir.path().join("saved.plan"), serde_json::to_vec(&plan).unwrap()).unwrap();

    let (code, out, err) = empi(&["show", "saved.plan"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Plan: {} to add, 0 to change", resource_count(path))), "{out}");
    let prod = repo().join(path);
    let (code, out, err) = empi(&["show", "--json", "--format", "terraform", "saved.plan", "-s", prod.to_str().unwrap()], dir.path());
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format_version"], "1.2");
    assert_eq!(doc["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"], "us-east-1");
    let (code, out, _) = empi(&["show", "--json", "saved.plan"], dir.path());
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["format_version"], "1", "--format empi is the default");

    // what is not a plan, and a format without --json
    std::fs::write(dir.path().join("stack.toml"), "name = 1").unwrap();
    let (code, _, err) = empi(&["show", "stack.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("is not a plan saved by `empi-infra plan --out`"), "{err}");
    let (code, _, err) = empi(&["plan", "--format", "terraform", "-s", prod.to_str().unwrap()], dir.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--json"), "{err}");
}
