//! SIGTERM and SIGINT release the state lock in every phase (#24 finding 9, docs/STATE.md
//! "Stopping a run"): `plan`, and `apply` while it is still planning, used to exit 143 leaving the
//! lock, so that on S3 the next run was refused until someone ran `state unlock`. Each run here is
//! held in its refresh by an AWS call that never answers (the fault proxy's `--hang`), then signalled.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::proxy::Proxy;
use crate::common::{self, Workspace};

/// `empi-infra ARGS` through `proxy`, in the background.
fn spawn(w: &Workspace, proxy: &Proxy, args: &[&str]) -> Child {
    w.command(args)
        .env("AWS_ENDPOINT_URL", &proxy.url)
        // the hung call must outlast the test's signal by far
        .env("EMPI_INFRA_REQUEST_TIMEOUT", "120s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run is held in the hung call, signals it, and returns its exit code and stderr
/// (and how long it took to end after the signal).
fn signal_when_hung(mut run: Child, proxy: &Proxy, signal: i32) -> (Option<i32>, String, Duration) {
    let t0 = Instant::now();
    while proxy.count("hung") == 0 {
        if let Some(status) = run.try_wait().unwrap() {
            let out = run.wait_with_output().unwrap();
            panic!(
                "the run ended ({status}) before its refresh reached the hung call: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(t0.elapsed() < common::PROGRESS_GUARD, "the run never reached the hung call");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(run.id() as i32, signal) };
    let sent = Instant::now();
    let out = run.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), sent.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_plan_or_during_apply_s_planning_releases_the_local_lock() {
    let w = Workspace::new(&[]);
    let lock = w.dir.path().join("state/empi-local.lock");
    for args in [&["plan"][..], &["apply", "--auto-approve"], &["plan", "--json"]] {
        let proxy = Proxy::start(&w.moto.url, &["--hang", "DescribeVpcs"], w.dir.path());
        let run = spawn(&w, &proxy, args);
        let (code, stderr, took) = signal_when_hung(run, &proxy, libc::SIGTERM);
        assert_eq!(code, Some(143), "{args:?}: {stderr}");
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?} to stop");
        assert!(
            stderr.contains("Stopped by SIGTERM; no state lock is left behind."),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !lock.exists(),
            "{args:?} left its lock: {}",
            std::fs::read_to_string(&lock).unwrap_or_default()
        );
        let locks = w.ok(&["state", "locks"]);
        assert!(locks.stdout.contains("No lock is held"), "{locks:?}");
    }
    // the next run is not refused, and nothing was created by the stopped apply
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(!plan.stderr.contains("lock"), "{plan:?}");
    let aws = w.aws().await;
    assert!(
        aws.ec2
            .describe_vpcs()
            .send()
            .await
            .unwrap()
            .vpcs()
            .iter()
            .all(|v| v.is_default() == Some(true)),
        "no VPC was made"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_plan_releases_the_s3_lock_and_the_next_run_is_not_refused() {
    let w = Workspace::new(&[("[tags]", "[state]\nbackend = \"s3\"\nbucket = \"empi-state\"\nkey = \"stacks/empi-local.json\"\n\n[tags]")]);
    let aws = w.aws().await;
    aws.s3.create_bucket().bucket("empi-state").send().await.unwrap();
    let proxy = Proxy::start(&w.moto.url, &["--hang", "DescribeVpcs"], w.dir.path());
    let run = spawn(&w, &proxy, &["plan"]);
    let (code, stderr, took) = signal_when_hung(run, &proxy, libc::SIGINT);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?} to stop");
    assert!(stderr.contains("Stopped by SIGINT; no state lock is left behind."), "{stderr}");
    assert!(
        aws.s3
            .head_object()
            .bucket("empi-state")
            .key("stacks/empi-local.json.lock")
            .send()
            .await
            .is_err(),
        "the lock object is gone"
    );
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "the next run is not refused: {plan:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_while_apply_executes_stops_it_at_once_and_releases_the_lock() {
    let w = Workspace::new(&[]);
    let lock = w.dir.path().join("state/empi-local.lock");
    // the database's create never answers: the first signal lets it finish, which it never does
    let proxy = Proxy::start(&w.moto.url, &["--hang", "CreateDBInstance"], w.dir.path());
    let mut run = spawn(&w, &proxy, &["apply", "--auto-approve"]);
    let t0 = Instant::now();
    while proxy.count("hung") == 0 {
        assert!(
            run.try_wait().unwrap().is_none(),
            "the apply ended before it created the database"
        );
        assert!(t0.elapsed() < common::PROGRESS_GUARD, "the apply never got to the database");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_secs(2));
    assert!(run.try_wait().unwrap().is_none(), "the first signal waits for what is in flight");
    assert!(lock.exists(), "and holds the lock meanwhile");
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let sent = Instant::now();
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(sent.elapsed() < Duration::from_secs(10), "took {:?} to stop", sent.elapsed());
    assert!(stderr.contains("Stopping: no new operations start"), "{stderr}");
    assert!(stderr.contains("Stopped at once by SIGTERM. State records everything that was started and its lock is released"), "{stderr}");
    assert!(
        !lock.exists(),
        "the lock is released: {}",
        std::fs::read_to_string(&lock).unwrap_or_default()
    );
    assert_eq!(
        w.state()["resources"]["database.instance"]["status"],
        "creating",
        "its intent is recorded"
    );
    // the next run is not refused and converges: one database
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    assert_eq!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(), 1);
}
