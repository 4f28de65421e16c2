//! The commands that need no cloud (validate, graph, completions, schema, show), exit codes
//! (docs/CLI.md) and `--json` errors. Hostile input and the command line's limits are in `inputs`.

use std::process::Command;

use serde_json::{json, Value};

pub(crate) fn empi(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_empi-infra"))
        .args(args)
        .current_dir(dir)
        .env_remove("EMPI_INFRA_STACK")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

pub(crate) fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// How many resources the blueprint makes of a stack file: what the CLI must report.
fn resource_count(path: &str) -> usize {
    let stack = empi_engine::stack::Stack::parse(
        path,
        &std::fs::read_to_string(repo().join(path)).unwrap(),
    )
    .unwrap();
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
    assert!(out.contains("\"database.instance\" -> \"workloads.database_role\";"), "{out}");
    assert!(out.contains("\"workloads.database_role\" -> \"workloads.migrate\";"), "{out}");
}

/// The statements of a policy that allow `action`.
fn allowing<'a>(policy: &'a Value, action: &str) -> Vec<&'a Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["Action"].as_array().unwrap().iter().any(|a| a == action))
        .collect()
}

#[test]
fn iam_policy_prints_the_operator_policy_with_what_aws_checks_beside_the_calls() {
    let stack = repo().join("stacks/example-prod.toml");
    let s = stack.to_str().unwrap();
    let (code, out, err) = empi(&["iam-policy", "operator", "-s", s], &repo());
    assert_eq!(code, 0, "{err}");
    let policy: Value = serde_json::from_str(&out).unwrap();
    // the first EKS cluster, node group, ALB, RDS instance and Auto Scaling group of an account
    // make their service-linked roles with the caller's permission
    let slr = allowing(&policy, "iam:CreateServiceLinkedRole");
    assert_eq!(slr.len(), 1, "{out}");
    assert_eq!(slr[0]["Resource"], "arn:aws:iam::*:role/aws-service-role/*");
    let names = &slr[0]["Condition"]["StringLike"]["iam:AWSServiceName"];
    for service in [
        "eks.amazonaws.com",
        "eks-nodegroup.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "rds.amazonaws.com",
        "autoscaling.amazonaws.com",
    ] {
        assert!(names.as_array().unwrap().iter().any(|n| n == service), "{service}: {names}");
    }
    // AssociateWebACL and DisassociateWebACL on an ALB
    assert!(!allowing(&policy, "elasticloadbalancing:SetWebAcl").is_empty(), "{out}");
    // the master user secret RDS makes as the caller, outside the stack's own secrets
    for action in
        ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:RotateSecret"]
    {
        let rds = allowing(&policy, action);
        assert!(
            rds.iter()
                .any(|st| st["Resource"] == "arn:aws:secretsmanager:us-east-1:*:secret:rds!*"),
            "{action}: {out}"
        );
    }
    // the stack's roles only, never every role
    assert_eq!(
        allowing(&policy, "iam:CreateRole")[0]["Resource"],
        "arn:aws:iam::*:role/tuva-empi-prod-*"
    );
    // it fits an inline role policy (10,240 characters without whitespace), not a managed one
    let size = serde_json::to_string(&policy).unwrap().len();
    assert!(size < 10_240, "{size} characters");

    // `iam-policy drift` is `drift --print-iam-policy`
    let (_, drift, _) = empi(&["iam-policy", "drift", "-s", s], &repo());
    let (_, printed, _) = empi(&["drift", "--print-iam-policy", "-s", s], &repo());
    assert_eq!(drift, printed);
    assert!(
        allowing(&serde_json::from_str(&drift).unwrap(), "iam:CreateServiceLinkedRole").is_empty()
    );
}

#[test]
fn the_drift_policy_is_read_only_and_covers_every_aws_kind() {
    let (code, _, err) = empi(&["drift", "--print-iam-policy"], &repo());
    assert_eq!(code, 1, "the policy names the stack's resources, so it needs the stack");
    assert!(err.contains("no stack file given"), "{err}");
    let stack = repo().join("stacks/example-keycloak.toml");
    let (code, out, err) =
        empi(&["drift", "--print-iam-policy", "-s", stack.to_str().unwrap()], &repo());
    assert_eq!(code, 0, "{err}");
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kc = empi_engine::stack::Stack::load(&stack).unwrap();
    let kc_secret = kc.identity.keycloak().unwrap().client_secret_arn.clone();
    for st in policy["Statement"].as_array().unwrap() {
        let actions: Vec<&str> =
            st["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        if actions.iter().any(|a| a.starts_with("secretsmanager:")) {
            // the stack's own secrets and the Keycloak client secret it names; no other secret
            assert_eq!(
                st["Resource"],
                serde_json::json!([
                    format!("arn:aws:secretsmanager:{}:*:secret:{}/*", kc.region, kc.name),
                    kc_secret
                ])
            );
        }
        if actions.contains(&"iam:GetRole") {
            assert_eq!(st["Resource"], format!("arn:aws:iam::*:role/{}-*", kc.name));
        }
    }
    let actions: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    for k in empi_engine::kinds::aws() {
        for a in k.iam.read {
            assert!(actions.contains(a), "{} needs {a} to be read", k.kind);
        }
    }
    assert!(
        actions
            .iter()
            .all(|a| !a.contains(":Create") && !a.contains(":Delete") && !a.contains(":Put")),
        "{actions:?}"
    );
}

#[test]
fn output_before_apply_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    let (code, _, err) =
        empi(&["output", "cluster_name", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("not known yet; run `empi-infra apply` first"), "{err}");
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
    let src = std::fs::read_to_string(repo().join("stacks/local.toml")).unwrap().replace(
        "[database]",
        "[cluster.nodes]\ninstance_types = [\"m7g.large\", \"m6i.large\"]\n\n[database]",
    );
    std::fs::write(dir.path().join("mixed.toml"), &src).unwrap();
    let (code, out, err) = empi(&["validate", "-s", "mixed.toml"], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("`instance_types` mixes ARM (Graviton: m7g.large) and x86 (m6i.large) types"),
        "{err}"
    );
}

#[test]
fn show_prints_a_saved_plan_as_text_or_terraform_json_without_a_cloud() {
    let dir = tempfile::tempdir().unwrap();
    // a new stack's plan, as `plan --out` saves it
    let path = "stacks/example-prod.toml";
    let (_, plan) = prod_plan();
    std::fs::write(
        dir.path().join("saved.plan"),
        serde_json::to_vec(&plan.clone().sealed()).unwrap(),
    )
    .unwrap();

    // a plan file without its digest, or edited after it was sealed, is not shown
    std::fs::write(dir.path().join("unsealed.plan"), serde_json::to_vec(&plan).unwrap()).unwrap();
    let (code, _, err) = empi(&["show", "unsealed.plan"], dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("was changed after `empi-infra plan --out` wrote it (its content no longer matches its digest: it has none)"),
        "{err}"
    );

    let (code, out, err) = empi(&["show", "saved.plan"], dir.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("Plan: {} to add, 0 to change", resource_count(path))), "{out}");
    let prod = repo().join(path);
    let (code, out, err) = empi(
        &["show", "--json", "--format", "terraform", "saved.plan", "-s", prod.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format_version"], "1.2");
    assert_eq!(
        doc["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"],
        "us-east-1"
    );
    let (code, out, _) = empi(&["show", "--json", "saved.plan"], dir.path());
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["format_version"],
        "1",
        "--format empi is the default"
    );

    // what is not a plan, and a format without --json
    std::fs::write(dir.path().join("stack.toml"), "name = 1").unwrap();
    let (code, _, err) = empi(&["show", "stack.toml"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("is not a plan saved by `empi-infra plan --out`"), "{err}");
    let (code, _, err) =
        empi(&["plan", "--format", "terraform", "-s", prod.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "a usage error (docs/CLI.md): {err}");
    assert!(err.contains("--json"), "{err}");
}

// --- completions -----------------------------------------------------------------------------

/// The subcommands a completion script must offer.
const COMMANDS: &[&str] = &[
    "validate",
    "plan",
    "apply",
    "destroy",
    "output",
    "state",
    "graph",
    "drift",
    "completions",
    "schema",
    "iam-policy",
];

#[test]
fn completions_for_bash_zsh_and_fish_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = empi(&["completions", shell], &repo());
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.len() > 1000, "{shell}: {out}");
        for c in COMMANDS {
            assert!(out.contains(c), "the {shell} script does not offer `{c}`");
        }
        for flag in ["--stack", "--detailed-exitcode", "--every", "--auto-approve"] {
            assert!(
                out.contains(flag.trim_start_matches('-')),
                "the {shell} script does not offer {flag}"
            );
        }
    }
    let (code, _, err) = empi(&["completions", "tcsh"], &repo());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn the_bash_completion_loads_and_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("empi-infra.bash");
    let (code, out, _) = empi(&["completions", "bash"], &repo());
    assert_eq!(code, 0);
    std::fs::write(&script, out).unwrap();
    let check = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    // what bash does on TAB: the completion function registered for empi-infra fills COMPREPLY
    // `complete -p` names the function bash calls on TAB
    let registered = Command::new("bash")
        .arg("-c")
        .arg(format!("source {}\ncomplete -p empi-infra", script.display()))
        .output()
        .unwrap();
    let registered = String::from_utf8_lossy(&registered.stdout).trim().to_string();
    assert!(
        registered.starts_with("complete ") && registered.ends_with(" empi-infra"),
        "not registered: {registered:?}"
    );
    let words: Vec<&str> = registered.split(' ').collect();
    let function = words[words.iter().position(|w| *w == "-F").expect("a completion function") + 1];
    let complete = |line: &str| -> String {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {}\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n{function} empi-infra '{}' '{}'\necho \"${{COMPREPLY[*]}}\"",
            script.display(),
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let o = Command::new("bash").arg("-c").arg(program).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into()
    };
    assert_eq!(complete("empi-infra pl").trim(), "plan");
    assert_eq!(complete("empi-infra drift --ev").trim(), "--every");
    let shells = complete("empi-infra completions ");
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.split_whitespace().any(|w| w == s), "{shells}");
    }
}

// --- the stack file's JSON Schema ------------------------------------------------------------

#[test]
fn the_schema_command_prints_the_committed_schema() {
    let (code, out, err) = empi(&["schema"], &repo());
    assert_eq!(code, 0, "{err}");
    let committed =
        std::fs::read_to_string(repo().join("docs/generated/stack.schema.json")).unwrap();
    assert!(out == committed, "docs/generated/stack.schema.json is stale; run `EMPI_BLESS=1 cargo test -p empi-engine --test it docs::`");
    let schema: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
}

/// Validates TOML files with the Python `jsonschema` package (installed by `scripts/local-cloud
/// setup`) and Python's own TOML parser: a validator that shares no code with empi-infra.
/// Prints `{"file": ["message", ...]}`.
const VALIDATE_PY: &str = r#"
import json, sys, tomllib
import jsonschema
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema)
out = {}
for f in sys.argv[2:]:
    with open(f, "rb") as fh:
        out[f] = [e.message for e in v.iter_errors(tomllib.load(fh))]
print(json.dumps({"validator": cls.__name__, "results": out}))
"#;

fn python_validate(files: &[std::path::PathBuf]) -> Value {
    let python = repo().join(".local-cloud/venv/bin/python");
    assert!(python.exists(), "the local cloud's venv is missing: run `scripts/local-cloud setup`");
    let o = Command::new(&python)
        .arg("-c")
        .arg(VALIDATE_PY)
        .arg(repo().join("docs/generated/stack.schema.json"))
        .args(files)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("No module named 'jsonschema'"),
        "jsonschema is not in the local cloud's venv: run `scripts/local-cloud setup`"
    );
    assert!(o.status.success(), "{err}");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_schema_accepts_every_repo_stack_and_rejects_what_validate_rejects() {
    let mut stacks: Vec<_> = std::fs::read_dir(repo().join("stacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    stacks.sort();
    assert!(stacks.len() >= 3, "{stacks:?}");
    let dir = tempfile::tempdir().unwrap();
    let local = std::fs::read_to_string(repo().join("stacks/local.toml")).unwrap();
    // (file, edit, what jsonschema says)
    let bad = [
        (
            "unknown-top-key.toml",
            local.replace("region =", "colour = \"blue\"\nregion ="),
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            "unknown-nested-key.toml",
            local.replace("multi_az = false", "multi_az = false\nmultiaz = true"),
            "('multiaz' was unexpected)",
        ),
        (
            "wrong-type.toml",
            local.replace("multi_az = false", "multi_az = \"no\""),
            "'no' is not of type 'boolean'",
        ),
        (
            "out-of-range.toml",
            local.replace("backup_retention_days = 1", "backup_retention_days = 90"),
            "90 is greater than the maximum of 35",
        ),
        (
            "unknown-region.toml",
            local.replace("region = \"us-east-1\"", "region = \"mars-1\""),
            "'mars-1' is not one of",
        ),
    ];
    let mut files = stacks.clone();
    for (name, src, _) in &bad {
        assert_ne!(src, &local, "{name}: the edit did not apply");
        std::fs::write(dir.path().join(name), src).unwrap();
        files.push(dir.path().join(name));
    }
    let v = python_validate(&files);
    assert_eq!(v["validator"], "Draft7Validator");
    let results = &v["results"];
    for s in &stacks {
        assert_eq!(results[s.to_str().unwrap()], json!([]), "{} is a valid stack", s.display());
    }
    for (name, _, says) in &bad {
        let errors = results[dir.path().join(name).to_str().unwrap()].as_array().unwrap();
        assert!(errors.iter().any(|e| e.as_str().unwrap().contains(says)), "{name}: {errors:?}");
        // and the parser refuses it too: the schema describes the parser
        let (code, _, err) = empi(&["validate", "-s", name], dir.path());
        assert_eq!(code, 1, "{name}: {err}");
    }
}

// --- exit codes (docs/CLI.md) ------------------------------------------------------------------

#[test]
fn a_usage_error_exits_1_not_2_which_means_changes_or_drift() {
    for args in [&["plan", "--bogus"][..], &["drift", "--every", "soon"], &["state"], &[]] {
        let (code, out, err) = empi(args, &repo());
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains("error:") || err.contains("Usage:"), "{args:?}: {err}");
    }
    for args in [&["--help"][..], &["plan", "--help"], &["--version"]] {
        let (code, out, _) = empi(args, &repo());
        assert_eq!(code, 0, "{args:?}");
        assert!(!out.is_empty());
    }
}

#[test]
fn drift_with_no_state_exits_1_and_says_to_apply_first() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    let (code, _, err) = empi(&["drift", "-s", stack.to_str().unwrap()], dir.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing to compare; run `empi-infra apply` first"), "{err}");
}

// --- --json errors -----------------------------------------------------------------------------

/// The whole of stdout as one JSON value (fails when anything else is there).
pub(crate) fn one_json_object(stdout: &str) -> Value {
    let v: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {stdout}"));
    assert!(v.is_object(), "{stdout}");
    v
}

#[test]
fn plan_json_with_a_bad_stack_prints_one_json_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(repo().join("stacks/local.toml"))
        .unwrap()
        .replace("multi_az = false", "multi_az = false\nengine_version = \"14\"")
        .replace("allocated_storage_gb = 20", "allocated_storage_gb = 10");
    std::fs::write(dir.path().join("bad.toml"), &src).unwrap();
    let line = src.lines().position(|l| l.starts_with("engine_version")).unwrap() + 1;
    let storage = src.lines().position(|l| l.starts_with("allocated_storage_gb")).unwrap() + 1;
    let (code, out, err) = empi(&["plan", "--json", "-s", "bad.toml"], dir.path());
    assert_eq!(code, 1, "{out}{err}");
    let v = one_json_object(&out);
    assert_eq!(
        v["error"],
        json!({
            "message": "PostgreSQL 14 is too old: Tuva EMPI needs PostgreSQL 16 or newer",
            "fix": "set engine_version = \"16\"",
            "location": format!("bad.toml:{line}:18"),
        })
    );
    let all = v["errors"].as_array().unwrap();
    assert_eq!(all.len(), 2, "every problem of the file: {v}");
    assert_eq!(all[1]["location"], format!("bad.toml:{storage}:24"));
    assert_eq!(all[1]["fix"], "set `allocated_storage_gb` to a value from 20 to 65536");
    assert!(!err.contains("PostgreSQL 14"), "the error is not printed twice: {err}");

    // the same stack without --json: text on stderr, nothing on stdout
    let (code, out, err) = empi(&["plan", "-s", "bad.toml"], dir.path());
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains(&format!("bad.toml:{line}:18: PostgreSQL 14 is too old")), "{err}");
}

#[test]
fn json_errors_of_output_drift_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let stack = repo().join("stacks/local.toml");
    let stack = stack.to_str().unwrap();
    // output before any apply
    let (code, out, _) = empi(&["output", "cluster_name", "--json", "-s", stack], dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        one_json_object(&out)["error"],
        json!({"message": "output \"cluster_name\" is not known yet", "fix": "run `empi-infra apply` first", "location": null})
    );
    let (code, out, _) = empi(&["output", "nope", "--json", "-s", stack], dir.path());
    assert_eq!(code, 1);
    assert!(
        one_json_object(&out)["error"]["fix"].as_str().unwrap().starts_with("use one of: "),
        "{out}"
    );
    // drift with no state
    let (code, out, _) = empi(&["drift", "--json", "-s", stack], dir.path());
    assert_eq!(code, 1);
    let v = one_json_object(&out);
    assert_eq!(v["error"]["fix"], "run `empi-infra apply` first (or check --stack)");
    assert!(v["error"]["message"].as_str().unwrap().contains("nothing to compare"), "{v}");
    // a stack file that does not exist: its location is the file
    let (code, out, _) = empi(&["plan", "--json", "-s", "nope.toml"], dir.path());
    assert_eq!(code, 1);
    let v = one_json_object(&out);
    assert_eq!(v["error"]["location"], "nope.toml");
    assert!(
        v["error"]["message"].as_str().unwrap().starts_with("cannot read the stack file: "),
        "{v}"
    );
    // no stack at all
    let (code, out, _) = empi(&["plan", "--json"], dir.path());
    assert_eq!(code, 1);
    assert_eq!(
        one_json_object(&out)["error"],
        json!({"message": "no stack file given", "fix": "pass --stack stacks/<name>.toml or set EMPI_INFRA_STACK", "location": null})
    );
    // a command line that does not parse, with --json
    let (code, out, _) = empi(&["drift", "--json", "--every", "0s"], dir.path());
    assert_eq!(code, 1);
    let v = one_json_object(&out);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("the interval must be at least 1m"),
        "{v}"
    );
}

/// The first plan of `stacks/example-prod.toml` (a new stack: every resource created), made
/// without a cloud, and the number of its resources.
pub(crate) fn prod_plan() -> (usize, empi_engine::plan::Plan) {
    let path = "stacks/example-prod.toml";
    let stack = empi_engine::stack::Stack::parse(
        path,
        &std::fs::read_to_string(repo().join(path)).unwrap(),
    )
    .unwrap();
    let graph = empi_engine::graph::ResourceGraph::new(empi_engine::blueprint::expand(
        &stack,
        "123456789012",
    ))
    .unwrap();
    let state = empi_engine::state::State::new(&stack.name);
    let plan = empi_engine::plan::diff(
        &graph,
        &state,
        &Default::default(),
        &empi_engine::kinds::schema,
        "digest",
    );
    (graph.len(), plan)
}
