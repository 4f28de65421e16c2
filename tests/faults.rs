//! Faults between empi-infra and AWS (docs/RELIABILITY.md): with 10% of requests failing
//! transiently (HTTP 500/503, throttling, connection resets, slow answers), apply and destroy
//! still converge; an error that will not go away stops only its branch of the graph, with one
//! message naming the resource and the AWS error code.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo, Workspace};
use serde_json::Value;

struct Proxy {
    child: Child,
    url: String,
    stats: std::path::PathBuf,
}

impl Proxy {
    fn start(target: &str, extra: &[&str], dir: &std::path::Path) -> Proxy {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let stats = dir.join("faults.json");
        let child = Command::new(repo().join(".local-cloud/venv/bin/python"))
            .arg(repo().join("scripts/local_cloud/fault_proxy.py"))
            .arg(port.to_string())
            .arg(target)
            .arg("--stats")
            .arg(&stats)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "the fault proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, url: format!("http://127.0.0.1:{port}"), stats }
    }

    fn stats(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.stats).unwrap_or_else(|_| b"{}".to_vec())).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn through(w: &Workspace, proxy: &Proxy, args: &[&str]) -> common::Output {
    common::run_in(w.dir.path(), &proxy.url, &w.cluster.kubeconfig, &w.stack(), args)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_and_destroy_converge_with_ten_percent_transient_faults() {
    let w = Workspace::new(&[]);
    let proxy = Proxy::start(&w.moto.url, &["--rate", "0.1", "--seed", "11"], w.dir.path());
    let apply = through(&w, &proxy, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{apply:?}");
    let plan = through(&w, &proxy, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let destroy = through(&w, &proxy, &["destroy", "--auto-approve"]);
    assert_eq!(destroy.code, 0, "{destroy:?}");
    let s = proxy.stats();
    let injected: u64 = ["http500", "http503", "throttle", "reset", "slow"].iter().map(|k| s[k].as_u64().unwrap_or(0)).sum();
    eprintln!("transient faults: {s}");
    assert!(s["requests"].as_u64().unwrap() > 200, "{s}");
    assert!(injected as f64 > 0.05 * s["requests"].as_u64().unwrap() as f64, "faults were injected: {s}");
    for k in ["http500", "http503", "throttle", "reset", "slow"] {
        assert!(s[k].as_u64().unwrap_or(0) > 0, "no {k} fault injected: {s}");
    }
    // nothing left behind (checked directly against moto)
    let aws = w.aws().await;
    assert!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().is_empty());
    assert!(aws.eks.list_clusters().send().await.unwrap().clusters().is_empty());
    let _ = std::fs::write(repo().join("target/faults-report.json"), s.to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_fault_stops_only_its_branch() {
    let w = Workspace::new(&[]);
    let proxy = Proxy::start(&w.moto.url, &["--rate", "0", "--deny", "CreateDBInstance"], w.dir.path());
    let apply = through(&w, &proxy, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    let errors: Vec<&str> = apply.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(
        errors,
        ["error: database.instance: create failed: AccessDenied: User is not authorized to perform CreateDBInstance"],
        "{apply:?}"
    );
    assert!(apply.stderr.contains("not attempted because something they depend on failed: config.document"), "{apply:?}");
    // independent branches finished and are recorded
    let st = w.state();
    for a in [
        "cluster.eks",
        "cluster.node_group",
        "edge.alb",
        "edge.https_listener",
        "identity.user_pool",
        "storage.bucket",
        "workloads.namespace",
    ] {
        assert_eq!(st["resources"][a]["status"], "created", "{a}");
    }
    assert!(st["resources"].get("config.document").is_none());
    // once the permission is there, the next apply finishes the rest
    let ok = common::run_in(w.dir.path(), &w.moto.url, &w.cluster.kubeconfig, &w.stack(), &["apply", "--auto-approve"]);
    assert_eq!(ok.code, 0, "{ok:?}");
}

/// An endpoint that accepts connections and never answers (a paused process, a black-holed
/// network path), for as long as the test runs.
fn silent_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    url
}

#[test]
fn finding_4_a_silent_endpoint_fails_plan_in_bounded_time_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack.toml");
    std::fs::copy(repo().join("stacks/local.toml"), &stack).unwrap();
    let url = silent_endpoint();
    let t0 = Instant::now();
    let out = Command::new(common::bin())
        .args(["plan", "--stack"])
        .arg(&stack)
        .current_dir(dir.path())
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("EMPI_INFRA_REQUEST_TIMEOUT", "2s")
        .env("EMPI_INFRA_KUBECONFIG", dir.path().join("none"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // 2 s per attempt, at most 4 of them, plus start-up: well under a minute
    assert!(took < Duration::from_secs(20), "plan against a silent endpoint took {took:?}");
    assert!(stderr.contains("did not answer within 2s"), "one sentence naming the deadline: {stderr}");
    let locks = Command::new(common::bin()).args(["state", "locks", "--stack"]).arg(&stack).current_dir(dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&locks.stdout).contains("No lock is held"), "{locks:?}");
}
