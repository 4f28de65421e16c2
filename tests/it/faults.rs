//! Faults between empi-infra and AWS (docs/RELIABILITY.md): with 10% of requests failing
//! transiently (HTTP 500/503, throttling, connection resets, slow answers), apply and destroy
//! still converge; an error that will not go away stops only its branch of the graph, with one
//! message naming the resource and the AWS error code.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::proxy::Proxy;
use crate::common::{repo, Workspace};

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
    let injected: u64 = ["http500", "http503", "throttle", "reset", "slow"]
        .iter()
        .map(|k| s[k].as_u64().unwrap_or(0))
        .sum();
    eprintln!("transient faults: {s}");
    assert!(s["requests"].as_u64().unwrap() > 200, "{s}");
    assert!(
        injected as f64 > 0.05 * s["requests"].as_u64().unwrap() as f64,
        "faults were injected: {s}"
    );
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
    let proxy =
        Proxy::start(&w.moto.url, &["--rate", "0", "--deny", "CreateDBInstance"], w.dir.path());
    let apply = through(&w, &proxy, &["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{apply:?}");
    let errors: Vec<&str> = apply.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(
        errors,
        ["error: database.instance: create failed: AccessDenied: User is not authorized to perform CreateDBInstance"],
        "{apply:?}"
    );
    assert!(
        apply
            .stderr
            .contains("not attempted because something they depend on failed: config.document"),
        "{apply:?}"
    );
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
    let ok = common::run_in(
        w.dir.path(),
        &w.moto.url,
        &w.cluster.kubeconfig,
        &w.stack(),
        &["apply", "--auto-approve"],
    );
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
    assert!(
        stderr.contains("did not answer within 2s"),
        "one sentence naming the deadline: {stderr}"
    );
    let locks = Command::new(common::bin())
        .args(["state", "locks", "--stack"])
        .arg(&stack)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&locks.stdout).contains("No lock is held"), "{locks:?}");
}

/// Finding 4 of #17: destroy hung for more than 300 s because every `*.NotFound` error counted as
/// "already gone". A detach answered with `InvalidRoute.NotFound` (not one of the three codes that
/// mean the gateway or its attachment is gone) must fail the destroy of that branch at once, with
/// AWS's code, and leave the gateway recorded; it must not go on to delete a gateway that is still
/// attached (which AWS refuses with DependencyViolation until the kind's 20-minute deadline).
#[tokio::test(flavor = "multi_thread")]
async fn finding_4_destroy_does_not_take_an_invalid_route_error_for_a_detached_gateway() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve", "--target", "network.internet_gateway"]);
    let aws = w.aws().await;
    let attached = || async {
        let igws = aws.ec2.describe_internet_gateways().send().await.unwrap();
        igws.internet_gateways()
            .iter()
            .flat_map(|g| g.attachments())
            .filter(|a| a.vpc_id().is_some())
            .count()
    };
    assert_eq!(attached().await, 1);
    let proxy = Proxy::start(
        &w.moto.url,
        &["--rate", "0", "--fail", "DetachInternetGateway=InvalidRoute.NotFound"],
        w.dir.path(),
    );
    let t0 = Instant::now();
    let out = through(&w, &proxy, &["destroy", "--auto-approve"]);
    let took = t0.elapsed();
    assert_eq!(out.code, 1, "{out:?}");
    assert!(took < Duration::from_secs(60), "destroy took {took:?}: {out:?}");
    assert!(
        out.stderr.contains("network.internet_gateway")
            && out.stderr.contains("InvalidRoute.NotFound"),
        "{out:?}"
    );
    assert!(
        proxy.stats()["failed"].as_u64().unwrap_or(0) >= 1,
        "the detach went through the proxy"
    );
    // nothing was lost: the gateway is still attached, state still records it (and its VPC)
    assert_eq!(attached().await, 1);
    let st = w.state();
    assert!(st["resources"].get("network.internet_gateway").is_some(), "{st}");
    assert!(st["resources"].get("network.vpc").is_some(), "{st}");
    // with the fault gone, destroy finishes
    w.ok(&["destroy", "--auto-approve"]);
    assert_eq!(attached().await, 0);
}

/// Starts `script` in the background, detached from this test (so that the system, not the test,
/// reaps it), and returns its pid.
fn detached(script: &str) -> u32 {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("({script}) >/dev/null 2>&1 </dev/null & echo $!"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn alive(pid: u32) -> bool {
    // a zombie has exited: /proc/PID/stat's state is Z
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
}

/// Finding 4 of #17: `scripts/local-cloud down` waited 5 s, then removed the pid file of a
/// kube-apiserver that was still stopping, and forgot it. `kube-up.sh --down` (what `down` runs for
/// the cluster) now waits for a slow stop, SIGKILLs what ignores SIGTERM after 20 s, and removes the
/// pid file only when every process is gone.
#[test]
fn finding_4_local_cloud_down_waits_for_a_slow_stop_and_kills_what_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // etcd first in the file (stopped last), as kube-up.sh writes it
    let stubborn = detached("trap '' TERM; while :; do sleep 0.2; done");
    let slow = detached("trap 'sleep 7; exit 0' TERM; while :; do sleep 0.2; done");
    std::fs::write(dir.path().join("pids"), format!("{stubborn}\n{slow}\n")).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // the traps are set
    let t0 = Instant::now();
    let out = Command::new(repo().join("scripts/local_cloud/kube-up.sh"))
        .arg("--down")
        .arg(dir.path())
        .output()
        .unwrap();
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!alive(slow), "the slowly stopping process was forgotten while it still ran");
    assert!(!alive(stubborn), "the process that ignores SIGTERM still runs");
    assert!(stderr.contains(&format!("killing {stubborn}")), "says what it killed: {stderr}");
    assert!(!dir.path().join("pids").exists(), "the pid file goes once every process is gone");
    // 20 s for the stop, then the kill; the bound leaves room for a loaded machine, where each
    // `kill -0` round takes longer
    assert!(took >= Duration::from_secs(19) && took < Duration::from_secs(40), "{took:?}");
}
