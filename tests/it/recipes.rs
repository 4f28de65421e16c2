//! The recipes a user copies out of the repository (issue #31): the GitHub Actions workflows of
//! `examples/github-actions/` pass actionlint and their `run:` scripts shellcheck, and they record
//! `drift`'s and `plan`'s exit codes under `bash -e` as GitHub runs them; the `Dockerfile` passes
//! hadolint; the drift CronJob of `examples/kubernetes/drift-cronjob.yaml` and its service account,
//! RBAC and ConfigMap are accepted by a real kube-apiserver in a server-side dry run (`dryRun=All`:
//! none of them is created; only the namespace they go into is, as the server admits nothing into a
//! namespace that does not exist, and deleted again), every field they set kept by the server, and
//! its ClusterRole grants exactly the reads a drift run makes. Each linter is also
//! shown a deliberate error, so that no test passes because a linter checked nothing.
//!
//! The tools come from `scripts/local-cloud setup`: actionlint 1.7.7 (WebAssembly, run by node,
//! `.local-cloud/actionlint/lint.js`; `EMPI_ACTIONLINT` names another, e.g. a native actionlint),
//! hadolint 2.14.0 (`.local-cloud/hadolint-venv`; `EMPI_HADOLINT`) and Debian's shellcheck
//! (`EMPI_SHELLCHECK`, else the PATH).
//!
//! The local kube-apiserver is 1.20.2, which serves CronJob only as `batch/v1beta1` (`batch/v1`
//! came in 1.21): the manifest says `batch/v1`, for real clusters, and the dry run sends it as
//! `batch/v1beta1` to a server without `batch/v1` CronJobs (the fields it uses are the same).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::common::cluster::Cluster;
use crate::common::repo;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use serde_json::{json, Value};

/// `EMPI_<VAR>` when set, else `default`; asserted to exist, saying how to install it.
fn tool(var: &str, default: PathBuf, what: &str) -> PathBuf {
    let bin = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    assert!(
        bin.exists(),
        "{what} is not installed ({} is missing): run `scripts/local-cloud setup` (scripts/test does it for you), or set {var}",
        bin.display()
    );
    bin
}

/// actionlint: a command taking workflow files, printing `file:line:column: message [kind]`,
/// exiting 1 when a file has an error.
fn actionlint() -> PathBuf {
    tool("EMPI_ACTIONLINT", repo().join(".local-cloud/actionlint/lint.js"), "actionlint")
}

fn hadolint() -> PathBuf {
    tool("EMPI_HADOLINT", repo().join(".local-cloud/hadolint-venv/bin/hadolint"), "hadolint")
}

fn shellcheck() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("shellcheck")).find(|f| f.exists()))
        .unwrap_or_default()
        .unwrap_or_else(|| PathBuf::from("/usr/bin/shellcheck"));
    tool("EMPI_SHELLCHECK", on_path, "shellcheck")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The workflow files of `examples/github-actions/`, by name.
fn workflows() -> Vec<PathBuf> {
    let dir = repo().join("examples/github-actions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let names: Vec<String> =
        files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for wanted in ["empi-infra-apply.yml", "empi-infra-drift.yml", "empi-infra-plan.yml"] {
        assert!(
            names.iter().any(|n| n == wanted),
            "examples/github-actions/ has no {wanted}: {names:?}"
        );
    }
    files
}

fn yaml_documents(src: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(src)
        .unwrap_or_else(|e| panic!("not YAML: {e}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn run_actionlint(files: &[PathBuf]) -> Output {
    Command::new(actionlint()).args(files).output().expect("actionlint runs")
}

#[test]
fn the_github_actions_workflows_pass_actionlint_and_a_broken_one_does_not() {
    let files = workflows();
    let t0 = std::time::Instant::now();
    let out = run_actionlint(&files);
    assert_eq!(out.status.code(), Some(0), "actionlint finds errors in {files:?}:\n{}", text(&out));
    eprintln!("actionlint: {} workflows in {:.1} s", files.len(), t0.elapsed().as_secs_f64());

    // the same plan workflow with a step's id misspelt where a later step reads its output, and an
    // input the cache action does not have: both are reported
    let dir = tempfile::tempdir().unwrap();
    let plan = std::fs::read_to_string(repo().join("examples/github-actions/empi-infra-plan.yml"))
        .unwrap();
    let broken = plan
        .replacen("steps.plan.outputs.code != '0'", "steps.plna.outputs.code != '0'", 1)
        .replacen("path: ~/.empi-infra", "paths: ~/.empi-infra", 1);
    assert_ne!(broken, plan);
    let copy = dir.path().join("broken.yml");
    std::fs::write(&copy, &broken).unwrap();
    let out = run_actionlint(&[copy]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a broken workflow passed actionlint:\n{}", text(&out));
    assert!(report.contains(r#"property "plna" is not defined"#), "{}", text(&out));
    assert!(
        report.contains(r#"input "paths" is not defined in action "actions/cache/restore@v4""#),
        "{}",
        text(&out)
    );
}

/// Each `run:` script of the workflows, as GitHub hands it to bash: `(file, step, script)`.
fn run_scripts() -> Vec<(String, String, String)> {
    let mut scripts = Vec::new();
    for file in workflows() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let doc = &yaml_documents(&std::fs::read_to_string(&file).unwrap())[0];
        for (job, j) in doc["jobs"].as_object().expect("jobs") {
            for (i, step) in j["steps"].as_array().expect("steps").iter().enumerate() {
                let Some(run) = step["run"].as_str() else { continue };
                // only bash here (GitHub's default on Linux)
                let shell = step["shell"].as_str().or(j["defaults"]["run"]["shell"].as_str());
                assert!(
                    shell.is_none_or(|s| s == "bash"),
                    "{name} {job} step {i}: shell {shell:?}"
                );
                let label = step["name"].as_str().map(String::from).unwrap_or(format!("step {i}"));
                scripts.push((name.clone(), format!("{job}: {label}"), run.to_string()));
            }
        }
    }
    scripts
}

/// A script with its `${{ … }}` expressions replaced by underscores of the same length, as
/// actionlint hands it to shellcheck (GitHub substitutes them before bash reads the script).
fn without_expressions(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(i) = rest.find("${{") {
        let end = rest[i..].find("}}").map(|j| i + j + 2).expect("an expression ends");
        out.push_str(&rest[..i]);
        out.push_str(&"_".repeat(end - i));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// shellcheck as actionlint runs it on a `run:` script (bash, the checks it turns off).
fn run_shellcheck(script: &str) -> Output {
    let mut child = Command::new(shellcheck())
        .args([
            "--norc",
            "--shell=bash",
            "--format=gcc",
            "--exclude=SC1091,SC2194,SC2050,SC2154,SC2157",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shellcheck runs");
    child.stdin.take().unwrap().write_all(without_expressions(script).as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The WebAssembly actionlint cannot run shellcheck on the scripts (native actionlint does): this
/// does it the same way.
#[test]
fn every_run_script_of_the_workflows_passes_shellcheck() {
    let scripts = run_scripts();
    assert!(scripts.len() >= 10, "only {} run: scripts found", scripts.len());
    let mut failures = Vec::new();
    for (file, step, script) in &scripts {
        let out = run_shellcheck(script);
        if !out.status.success() {
            failures.push(format!("{file} ({step}):\n{}", text(&out)));
        }
    }
    assert!(failures.is_empty(), "shellcheck finds problems:\n{}", failures.join("\n"));

    // the recipe docs/DRIFT.md had before issue #31, which shellcheck faults for its unquoted
    // $GITHUB_OUTPUT (its other fault, the lost exit code, is the next test's)
    let old = r#"empi-infra drift --stack stacks/prod.toml --json > drift.json; echo "code=$?" >> $GITHUB_OUTPUT"#;
    let out = run_shellcheck(old);
    assert!(!out.status.success(), "shellcheck passed a script it should fault:\n{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SC2086"), "{}", text(&out));
}

/// Runs a workflow's `run:` script as GitHub does (`bash -e FILE`), with a fake `empi-infra`
/// exiting `code`; returns bash's status and what the script wrote to `$GITHUB_OUTPUT`.
fn run_step_with_fake_empi_infra(script: &str, code: i32) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("empi-infra");
    std::fs::write(&fake, format!("#!/bin/sh\necho '{{\"fake\": true}}'\nexit {code}\n")).unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let step = dir.path().join("step.sh");
    std::fs::write(&step, without_expressions(script)).unwrap();
    let output = dir.path().join("github_output");
    std::fs::write(&output, "").unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-e", step.to_str().unwrap()])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("GITHUB_OUTPUT", &output)
        .env("STACK", "stacks/prod.toml")
        .env("WEBHOOK", "")
        .output()
        .unwrap();
    (out.status.code(), std::fs::read_to_string(&output).unwrap())
}

/// GitHub runs `run:` with `bash -e`: the recipe must record `drift`'s 0, 1 and 2 (and `plan`'s
/// 0 and 1) as the step's output `code` instead of ending the step, or the steps that act on the
/// code never run. The recipe docs/DRIFT.md had before issue #31 records nothing on exit 2.
#[test]
fn the_drift_and_plan_steps_record_every_exit_code_under_bash_e() {
    let scripts = run_scripts();
    let step = |file: &str, name: &str| {
        scripts
            .iter()
            .find(|(f, s, _)| f == file && s.ends_with(&format!(": {name}")))
            .unwrap_or_else(|| panic!("{file} has no step {name:?}"))
            .2
            .clone()
    };
    let drift = step("empi-infra-drift.yml", "Drift");
    assert!(drift.contains("empi-infra drift") && drift.contains("--record"), "{drift}");
    for code in [0, 1, 2] {
        let (status, output) = run_step_with_fake_empi_infra(&drift, code);
        assert_eq!(status, Some(0), "the drift step ended with the exit code {code}");
        assert_eq!(output, format!("code={code}\n"), "drift exiting {code}");
    }
    let plan = step("empi-infra-plan.yml", "Plan");
    assert!(plan.contains("empi-infra plan") && plan.contains("--out plan.bin"), "{plan}");
    for code in [0, 1] {
        let (status, output) = run_step_with_fake_empi_infra(&plan, code);
        assert_eq!(status, Some(0), "the plan step ended with the exit code {code}");
        assert_eq!(output, format!("code={code}\n"), "plan exiting {code}");
    }
    let old = r#"empi-infra drift --stack stacks/prod.toml --json > drift.json; echo "code=$?" >> "$GITHUB_OUTPUT""#;
    let (status, output) = run_step_with_fake_empi_infra(old, 2);
    assert_eq!((status, output.as_str()), (Some(2), ""), "the old recipe under bash -e");
}

#[test]
fn the_dockerfile_passes_hadolint_and_a_careless_one_does_not() {
    let dockerfile = repo().join("Dockerfile");
    let src = std::fs::read_to_string(&dockerfile).unwrap();
    let out = Command::new(hadolint()).arg("--no-color").arg(&dockerfile).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "hadolint faults the Dockerfile:\n{}", text(&out));

    // what the image is: a release build from the lock file, then the binary alone, run as a
    // numeric non-root user
    let from: Vec<&str> = src.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(from.len(), 2, "a build stage and a run stage: {from:?}");
    assert!(src.contains("cargo build --release --locked --bin empi-infra"), "{src}");
    let run_stage = &src[src.rfind("\nFROM ").unwrap()..];
    let copies: Vec<&str> = run_stage.lines().filter(|l| l.starts_with("COPY")).collect();
    assert_eq!(
        copies,
        ["COPY --from=build /src/target/release/empi-infra /usr/local/bin/empi-infra"]
    );
    let user = run_stage.lines().find_map(|l| l.strip_prefix("USER ")).expect("a USER");
    let uid: u32 = user.split(':').next().unwrap().parse().expect("a numeric USER");
    assert_ne!(uid, 0);
    assert!(run_stage.contains(r#"ENTRYPOINT ["/usr/local/bin/empi-infra"]"#), "{run_stage}");
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for dir in ["target/", ".local-cloud/", "state/"] {
        assert!(ignore.lines().any(|l| l == dir), ".dockerignore does not keep {dir} out");
    }

    // the same Dockerfile with `latest`, recommended packages and unpinned versions not explained
    let careless = src
        .replace("FROM docker.io/library/debian:bookworm-slim", "FROM debian:latest")
        .replace("apt-get install -y --no-install-recommends", "apt-get install -y")
        .replace("# hadolint ignore=DL3008\n", "");
    assert_ne!(careless, src);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), careless).unwrap();
    let out = Command::new(hadolint())
        .arg("--no-color")
        .arg(dir.path().join("Dockerfile"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "hadolint passed a careless Dockerfile:\n{}",
        text(&out)
    );
    for rule in ["DL3007", "DL3008", "DL3015"] {
        assert!(report.contains(rule), "hadolint did not report {rule}:\n{}", text(&out));
    }
}

fn manifest() -> Vec<Value> {
    let src =
        std::fs::read_to_string(repo().join("examples/kubernetes/drift-cronjob.yaml")).unwrap();
    yaml_documents(&src)
}

/// A manifest's `apiVersion` or `kind`: a literal in every manifest the blueprint makes.
fn manifest_str(manifest: &empi_engine::resource::Expr, key: &str) -> Option<String> {
    use empi_engine::resource::Expr;
    match manifest {
        Expr::Lit(v) => v[key].as_str().map(String::from),
        Expr::Object(m) => match m.get(key)? {
            Expr::Lit(Value::String(s)) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// A Tuva EMPI version with the Kubernetes matching-job runner (upstream's main, as
/// tests/it/k8s_workloads.rs uses it): v0.1.0 has none.
const K8S_RUNNER_VERSION: &str = "301608c7ac2f5fc422ec210cd5613a0496d468ba";

/// `(API group, resource)` of every Kubernetes object a drift run reads: the manifests of every
/// Kubernetes kind in every stack of `stacks/`, each also with the Kubernetes matching-job runner
/// (its namespace, Role and RoleBinding). Every Kubernetes kind with a manifest must occur, so that
/// a new kind cannot pass unnoticed.
fn kubernetes_reads() -> BTreeSet<(String, String)> {
    let mut reads = BTreeSet::new();
    let mut kinds_seen = BTreeSet::new();
    let mut stacks: Vec<PathBuf> = std::fs::read_dir(repo().join("stacks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    stacks.sort();
    assert!(!stacks.is_empty());
    for path in &stacks {
        let src = std::fs::read_to_string(path).unwrap();
        let k8s_runner = src
            .replace(r#"matching_job_runner = "process""#, r#"matching_job_runner = "k8s""#)
            .replace(r#"version = "v0.1.0""#, &format!(r#"version = "{K8S_RUNNER_VERSION}""#));
        assert!(k8s_runner.contains(K8S_RUNNER_VERSION), "{} is not at v0.1.0", path.display());
        assert!(k8s_runner.contains(r#""k8s""#), "{} sets no matching_job_runner", path.display());
        for src in [src.clone(), k8s_runner] {
            let stack = empi_engine::stack::Stack::parse(&path.display().to_string(), &src)
                .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            for spec in empi_engine::blueprint::expand(&stack, "123456789012") {
                let Some(manifest) = spec.inputs.get("manifest") else { continue };
                if !spec.kind.starts_with("k8s_") {
                    continue;
                }
                kinds_seen.insert(spec.kind.clone());
                let field = |key| {
                    manifest_str(manifest, key)
                        .unwrap_or_else(|| panic!("{}: no literal {key}", spec.address))
                };
                let (api_version, kind) = (field("apiVersion"), field("kind"));
                let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
                let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
                reads.insert((group.to_string(), ar.plural));
            }
        }
    }
    for schema in empi_engine::kinds::ALL.iter().filter(|s| s.kind.starts_with("k8s_")) {
        if schema.attr("manifest").is_some() {
            assert!(
                kinds_seen.contains(schema.kind),
                "no stack of stacks/ has a {} resource: add one to a stack, so that this test knows what it reads",
                schema.kind
            );
        }
    }
    reads
}

/// What drift reads of a Kubernetes object is `get` by name (`src/k8s/mod.rs`: `K8sObject::read`);
/// `k8s_scale` reads nothing back (an action, compared as recorded). The ClusterRole must grant
/// exactly that: `get` on each resource, no other verb, no other resource, no wildcard.
#[test]
fn the_drift_cluster_role_grants_get_on_every_kubernetes_object_drift_reads_and_nothing_more() {
    let needed = kubernetes_reads();
    eprintln!("drift reads (API group, resource): {needed:?}");
    for r in [
        ("", "namespaces"),
        ("apps", "deployments"),
        ("batch", "jobs"),
        ("policy", "poddisruptionbudgets"),
    ] {
        assert!(needed.contains(&(r.0.to_string(), r.1.to_string())), "{needed:?} lacks {r:?}");
    }
    let role = manifest().into_iter().find(|d| d["kind"] == "ClusterRole").expect("a ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap_or(&vec![])
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        let verbs = list("verbs");
        assert_eq!(verbs, ["get"], "a rule grants more than get: {rule}");
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "{rule}"
        );
        for group in list("apiGroups") {
            for resource in list("resources") {
                assert!(group != "*" && resource != "*", "a wildcard: {rule}");
                granted.insert((group.clone(), resource));
            }
        }
    }
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(missing.is_empty(), "the ClusterRole does not let drift read {missing:?}");
    assert!(extra.is_empty(), "the ClusterRole grants reads drift never makes: {extra:?}");
    // bound to the CronJob's service account (and the group of an outside run's access entry)
    let binding = manifest()
        .into_iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .expect("a ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert!(binding["subjects"].as_array().unwrap().iter().any(|s| s["kind"] == "ServiceAccount"
        && s["name"] == "empi-drift"
        && s["namespace"] == "ops"));
}

/// The CronJob's pieces fit together: the kubeconfig in the ConfigMap is a kubeconfig of the
/// pod's service account, mounted where `EMPI_INFRA_KUBECONFIG` says; the stack is where `--stack`
/// says; the pod runs as the Dockerfile's user.
fn check_cronjob_wiring(docs: &[Value]) {
    let of =
        |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
    let cronjob = of("CronJob");
    let pod = &cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let mount_of = |volume: &str| -> String {
        let mounts = container["volumeMounts"].as_array().unwrap();
        let mount = mounts.iter().find(|m| m["name"] == volume).unwrap();
        mount["mountPath"].as_str().unwrap().to_string()
    };
    let env = container["env"].as_array().unwrap();
    let kubeconfig_path =
        env.iter().find(|e| e["name"] == "EMPI_INFRA_KUBECONFIG").expect("EMPI_INFRA_KUBECONFIG")
            ["value"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(kubeconfig_path, format!("{}/kubeconfig", mount_of("kubeconfig")));
    let config_map = of("ConfigMap");
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(config_map["data"]["kubeconfig"].as_str().unwrap())
            .expect("the ConfigMap's kubeconfig is a kubeconfig");
    let user = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
    assert_eq!(
        user.token_file.as_deref(),
        Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
    );
    let args: Vec<&str> =
        container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(args[0], "drift");
    let stack = args[args.iter().position(|a| *a == "--stack").unwrap() + 1];
    assert!(stack.starts_with(&format!("{}/", mount_of("stack"))), "{stack}");
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let user = dockerfile.lines().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert_eq!(
        user,
        format!("{}:{}", pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"])
    );
    assert_eq!(pod["serviceAccountName"], of("ServiceAccount")["metadata"]["name"]);
    assert!(
        of("ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].is_string()
    );
}

/// `Err(path)` of the first value of `sent` that `stored` does not hold as sent.
fn kept(sent: &Value, stored: &Value, path: &str) -> Result<(), String> {
    match (sent, stored) {
        (Value::Object(s), Value::Object(t)) => s.iter().try_for_each(|(k, v)| {
            let at = format!("{path}.{k}");
            kept(v, t.get(k).ok_or_else(|| at.clone())?, &at)
        }),
        (Value::Array(s), Value::Array(t)) if s.len() == t.len() => s
            .iter()
            .zip(t)
            .enumerate()
            .try_for_each(|(i, (a, b))| kept(a, b, &format!("{path}[{i}]"))),
        (s, t) if s == t => Ok(()),
        _ => Err(format!("{path} ({sent} → {stored})")),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drift_cronjob_manifest_is_accepted_by_the_kube_apiserver_in_a_dry_run_and_creates_nothing(
) {
    let mut docs = manifest();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "CronJob"
        ]
    );
    check_cronjob_wiring(&docs);
    let cronjob = docs.iter_mut().find(|d| d["kind"] == "CronJob").unwrap();
    assert_eq!(cronjob["apiVersion"], "batch/v1");
    assert_eq!(cronjob["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"], 0);

    let cluster = Cluster::start();
    let client = cluster.client().await;
    let t0 = std::time::Instant::now();
    let batch_v1 = client.list_api_group_resources("batch/v1").await.unwrap();
    if !batch_v1.resources.iter().any(|r| r.kind == "CronJob") {
        cronjob["apiVersion"] = json!("batch/v1beta1"); // Kubernetes 1.20: see the module's doc
    }

    let dry_run = PostParams { dry_run: true, ..Default::default() };
    let mut namespace_made = None;
    for doc in &docs {
        let (api_version, kind) =
            (doc["apiVersion"].as_str().unwrap(), doc["kind"].as_str().unwrap());
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (ar, caps) =
            kube::discovery::pinned_kind(&client, &GroupVersionKind::gvk(group, version, kind))
                .await
                .unwrap_or_else(|e| panic!("the server does not serve {api_version} {kind}: {e}"));
        let name = doc["metadata"]["name"].as_str().unwrap();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Cluster => Api::all_with(client.clone(), &ar),
            Scope::Namespaced => {
                let ns = doc["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{kind} {name} names no namespace"));
                // a namespaced object is admitted, even in a dry run, only into a namespace that
                // exists: the manifest's own Namespace, made for real once its dry run passed (as
                // `kubectl apply -f` makes it first), and deleted at the end
                if namespace_made.is_none() {
                    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
                        Api::all(client.clone());
                    let ns_doc = docs
                        .iter()
                        .find(|d| d["kind"] == "Namespace" && d["metadata"]["name"] == ns)
                        .unwrap();
                    namespaces
                        .create(
                            &PostParams::default(),
                            &serde_json::from_value(ns_doc.clone()).unwrap(),
                        )
                        .await
                        .unwrap();
                    namespace_made = Some(ns.to_string());
                }
                Api::namespaced_with(client.clone(), ns, &ar)
            }
        };
        let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let answer = api
            .create(&dry_run, &object)
            .await
            .unwrap_or_else(|e| panic!("the kube-apiserver refuses {kind} {name}: {e}"));
        assert_eq!(answer.metadata.name.as_deref(), Some(name));
        assert!(
            answer.metadata.uid.is_some(),
            "{kind} {name}: the dry run's answer is not the object as stored"
        );
        // every field the manifest sets is kept as it set it: Kubernetes 1.20 drops a field it
        // does not know (a misspelt `readOnlyRootFilesytem`) without an error
        let stored = serde_json::to_value(&answer).unwrap();
        if let Err(dropped) = kept(doc, &stored, "") {
            panic!("the kube-apiserver dropped or changed {kind} {name}'s {dropped}");
        }
        assert!(
            api.get_opt(name).await.unwrap().is_none(),
            "the dry run of {kind} {name} created it"
        );
    }
    eprintln!("{} objects dry-run in {:.1} s", docs.len(), t0.elapsed().as_secs_f64());
    if let Some(ns) = namespace_made {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
        namespaces.delete(&ns, &DeleteParams::default()).await.unwrap();
    }
}
