//! The commands that need no cloud: validate, graph, and what bad input gets.

use std::process::Command;

fn empi(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_empi-infra")).args(args).current_dir(dir).env_remove("EMPI_INFRA_STACK").output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_repo_stacks() {
    for (s, n) in [("stacks/local.toml", 63), ("stacks/example-prod.toml", 63)] {
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
fn output_before_apply_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    let (code, _, err) = empi(&["output", "cluster_name", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("not known yet: run `empi-infra apply` first"), "{err}");
}
