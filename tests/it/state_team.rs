//! Team state against moto's S3: the state object and its lock, two applies at
//! once, a killed run's lock broken with `state unlock`, local ↔ S3 migration keeping lineage and
//! serial, stale saved plans, a clean stop on SIGINT, and an audit that no generated secret
//! reaches any file or output the runs produce.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::Workspace;
use serde_json::Value;

const STATE_BUCKET: &str = "empi-state";

fn s3_stack() -> [(&'static str, &'static str); 1] {
    [("[tags]", "[state]\nbackend = \"s3\"\nbucket = \"empi-state\"\nkey = \"stacks/empi-local.json\"\n\n[tags]")]
}

async fn state_bucket(w: &Workspace) -> common::Aws {
    let aws = w.aws().await;
    aws.s3.create_bucket().bucket(STATE_BUCKET).send().await.unwrap();
    aws
}

async fn s3_json(aws: &common::Aws, key: &str) -> Option<Value> {
    let o = aws.s3.get_object().bucket(STATE_BUCKET).key(key).send().await.ok()?;
    Some(serde_json::from_slice(&o.body.collect().await.unwrap().into_bytes()).unwrap())
}

fn spawn(w: &Workspace, args: &[&str]) -> std::process::Child {
    w.command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn state_and_its_lock_live_in_s3_and_two_applies_never_interleave() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    w.moto.slow("rds::dbinstance", 4.0);
    // two applies at once: one works, the other fails fast naming the holder
    let (a, b) = (spawn(&w, &["apply", "--auto-approve"]), spawn(&w, &["apply", "--auto-approve"]));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ok, refused) = if a.status.success() { (a, b) } else { (b, a) };
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("the state is locked by")
            && err.contains("`apply`")
            && err.contains("empi-infra state unlock"),
        "{err}"
    );

    // the state object, encrypted, and no lock left behind
    let head = aws
        .s3
        .head_object()
        .bucket(STATE_BUCKET)
        .key("stacks/empi-local.json")
        .send()
        .await
        .unwrap();
    assert!(head.server_side_encryption().is_some(), "the state object is encrypted");
    let st = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    assert_eq!(st["resources"].as_object().unwrap().len(), w.resource_count());
    assert!(s3_json(&aws, "stacks/empi-local.json.lock").await.is_none(), "the lock is released");
    assert!(!w.dir.path().join("state").exists(), "nothing was written locally");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "consistent state");
    let locks = w.ok(&["state", "locks"]);
    assert!(
        locks.stdout.contains("No lock is held on s3://empi-state/stacks/empi-local.json"),
        "{locks:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_runs_lock_is_found_and_broken_with_state_unlock() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    w.moto.slow("rds::dbinstance", 30.0);
    let mut run = spawn(&w, &["apply", "--auto-approve"]);
    // wait until the run holds the lock and has started the database
    let t0 = Instant::now();
    loop {
        let st = s3_json(&aws, "stacks/empi-local.json").await;
        if st.is_some_and(|s| s["resources"]["database.instance"]["id"].is_string()) {
            break;
        }
        assert!(t0.elapsed() < common::PROGRESS_GUARD, "the apply did not get to the database");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.kill().unwrap(); // SIGKILL: no chance to release anything
    run.wait().unwrap();
    let lock = s3_json(&aws, "stacks/empi-local.json.lock")
        .await
        .expect("the killed run's lock is still there");
    let id = lock["id"].as_str().unwrap().to_string();
    assert_eq!(lock["operation"], "apply");
    assert!(lock["lease_expires"].is_string());

    let locks = w.ok(&["state", "locks"]);
    assert!(
        locks.stdout.contains(&format!("id        {id}"))
            && locks.stdout.contains("operation apply"),
        "{locks:?}"
    );
    let refused = w.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains(&format!("empi-infra state unlock {id}")), "{refused:?}");
    let broke = w.ok(&["state", "unlock", &id]);
    assert!(broke.stdout.contains(&format!("Broke lock {id}")), "{broke:?}");
    w.moto.slow("rds::dbinstance", 0.0);
    w.ok(&["apply", "--auto-approve"]);
    assert_eq!(
        aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(),
        1,
        "no duplicate database"
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_migrates_local_to_s3_and_back_keeping_lineage_and_serial() {
    let w = Workspace::new(&[]);
    let aws = state_bucket(&w).await;
    w.ok(&["apply", "--auto-approve"]);
    let local = w.state();
    let m = w.ok(&[
        "state",
        "migrate",
        "--to",
        "s3",
        "--bucket",
        STATE_BUCKET,
        "--key",
        "stacks/empi-local.json",
    ]);
    assert!(m.stdout.contains("to s3://empi-state/stacks/empi-local.json"), "{m:?}");
    let remote = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    assert_eq!(
        (remote["lineage"].clone(), remote["serial"].clone()),
        (local["lineage"].clone(), local["serial"].clone())
    );
    assert_eq!(remote["resources"], local["resources"]);

    // the stack now says s3: plans read it from there; then back to local
    w.write_stack(&s3_stack());
    std::fs::remove_dir_all(w.dir.path().join("state")).unwrap();
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "the migrated state is complete");
    w.ok(&["state", "migrate", "--to", "local"]);
    w.write_stack(&[]);
    let back = w.state();
    assert_eq!(
        (back["lineage"].clone(), back["serial"].clone()),
        (local["lineage"].clone(), local["serial"].clone())
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_when_the_stack_file_changed() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    w.write_stack(&[("environment = \"local\"", "environment = \"a\"")]);
    w.ok(&["plan", "--out", "p.plan"]);
    w.write_stack(&[("environment = \"local\"", "environment = \"b\"")]);
    let r = w.run(&["apply", "p.plan"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("the saved plan is stale: the stack file")
            && r.stderr.contains("changed since the plan was made"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_cleanly_and_the_next_apply_converges() {
    let w = Workspace::new(&[]);
    w.moto.slow("rds::dbinstance", 30.0);
    let run = spawn(&w, &["apply", "--auto-approve"]);
    let t0 = Instant::now();
    loop {
        if w.state_file().exists() && w.state()["resources"]["database.instance"]["id"].is_string()
        {
            break;
        }
        assert!(t0.elapsed() < common::PROGRESS_GUARD, "the apply did not get to the database");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Stopping: no new operations start"), "{err}");
    assert!(err.contains("database.instance: interrupted while waiting"), "{err}");
    assert!(!w.dir.path().join("state/empi-local.lock").exists(), "the lock is released");
    let st = w.state();
    assert_eq!(
        st["resources"]["database.instance"]["status"], "creating",
        "recorded, to be resumed"
    );
    w.moto.slow("rds::dbinstance", 0.0);
    let again = w.ok(&["apply", "--auto-approve"]);
    assert!(again.stdout.contains("resuming an interrupted create"), "{again:?}");
    let aws = w.aws().await;
    assert_eq!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(), 1);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_audit_no_generated_secret_in_any_file_log_or_output() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    let mut outputs = Vec::new();
    let mut run = |args: &[&str], ok: bool| {
        let o = w.run(args);
        if ok {
            assert!(o.code == 0 || o.code == 2, "{args:?}: {o:?}");
        }
        outputs.push(format!("{args:?}\n{}", o.all()));
    };
    run(&["plan"], true);
    run(&["plan", "--json", "--out", "first.plan"], true);
    run(&["apply", "--auto-approve"], true);
    // a change that rewrites the config document
    w.write_stack(&[
        ("hostname = \"empi.local.test\"", "hostname = \"empi2.local.test\""),
        ("[tags]", "[state]\nbackend = \"s3\"\nbucket = \"empi-state\"\nkey = \"stacks/empi-local.json\"\n\n[tags]"),
    ]);
    run(&["plan", "--out", "second.plan"], true);
    run(&["apply", "second.plan"], true);
    run(&["drift", "--json"], true);
    run(&["drift"], true);
    run(&["output", "--json"], true);
    run(&["state", "list"], true);
    for a in ["config.document", "config.secret", "database.instance", "identity.app_client"] {
        run(&["state", "show", a], true);
    }
    // with debug logging on
    std::env::set_var("EMPI_INFRA_LOG", "debug");
    let dbg = w.run(&["plan"]);
    std::env::remove_var("EMPI_INFRA_LOG");
    outputs.push(dbg.all());

    for key in ["stacks/empi-local.json", "stacks/empi-local.json.backup"] {
        let o = aws.s3.get_object().bucket(STATE_BUCKET).key(key).send().await.unwrap();
        outputs.push(
            String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap(),
        );
    }
    for f in ["first.plan", "second.plan"] {
        outputs.push(std::fs::read_to_string(w.dir.path().join(f)).unwrap());
    }

    // the secrets themselves, read from where they live
    let cfg = common::config(&aws, "empi-local/tuva-empi-config").await;
    let state = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    let pool = state["resources"]["identity.user_pool"]["id"].as_str().unwrap();
    let client = state["resources"]["identity.app_client"]["id"].as_str().unwrap();
    let c = aws
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool)
        .client_id(client)
        .send()
        .await
        .unwrap();
    let secrets = [
        ("database password", cfg["db"]["password"].as_str().unwrap().to_string()),
        ("Django secret key", cfg["django"]["secret_key"].as_str().unwrap().to_string()),
        ("app client secret", c.user_pool_client().unwrap().client_secret().unwrap().to_string()),
    ];
    assert!(outputs.len() > 15);
    for (what, secret) in &secrets {
        assert!(secret.len() >= 20, "{what} is a real secret");
        for o in &outputs {
            assert!(
                !o.contains(secret.as_str()),
                "the {what} leaked into: {}",
                &o[..o.len().min(200)]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_whose_lease_ran_out_is_reported_with_how_to_break_it() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    let lock = serde_json::json!({"id": "77aa", "owner": "ci", "host": "runner-3", "pid": 99, "operation": "apply",
        "created": "2026-11-26T09:00:00Z", "lease_expires": "2026-11-26T09:01:00Z"});
    aws.s3
        .put_object()
        .bucket(STATE_BUCKET)
        .key("stacks/empi-local.json.lock")
        .body(lock.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let r = w.run(&["plan"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("expired") && r.stderr.contains("empi-infra state unlock 77aa"),
        "{r:?}"
    );
    w.ok(&["state", "unlock", "77aa"]);
    w.ok(&["plan"]);
}

/// A spawned run whose stderr is read line by line as it comes, so that what it said after a
/// given moment is known.
struct Watched {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Watched {
    fn spawn(mut c: std::process::Command) -> Watched {
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (err, sink) = (child.stderr.take().unwrap(), lines.clone());
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Watched { child, lines, reader }
    }

    fn said(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits for the run to end: its exit code and what it said from line `from` on.
    fn finish(mut self, from: usize) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap();
        (status.code(), lines[from.min(lines.len())..].join("\n"))
    }
}

/// Whether process `pid` is stopped (by SIGSTOP).
fn stopped(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // the state follows the command name, which is in parentheses
    stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) == Some("T")
}

async fn non_default_vpcs(aws: &common::Aws) -> usize {
    aws.ec2
        .describe_vpcs()
        .send()
        .await
        .unwrap()
        .vpcs()
        .iter()
        .filter(|v| v.is_default() != Some(true))
        .count()
}

/// Waits (at most `secs`) until the state in S3 records the database instance's id: its create
/// was sent.
async fn until_the_database_create_is_recorded(aws: &common::Aws, secs: u64) {
    let t0 = Instant::now();
    loop {
        let st = s3_json(aws, "stacks/empi-local.json").await;
        if st.is_some_and(|s| s["resources"]["database.instance"]["id"].is_string()) {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "the apply did not get to the database");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// #24's done-when for fenced state: an apply paused past its lease (a laptop lid: SIGSTOP), its
/// lock broken as the refusal advises and the same change applied by another run, then resumed
/// (SIGCONT). It stops before its next cloud call, without another create; the newer state is
/// kept (serial never goes back); there is one VPC.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_paused_past_its_lease_and_its_lock_broken_stops_before_its_next_cloud_call() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    // a lease that is not one is refused before anything is done
    let mut bad = w.command(&["plan"]);
    let bad = bad.env("EMPI_INFRA_LOCK_LEASE", "1s").output().unwrap();
    let said = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{said}");
    assert!(
        said.contains(
            "EMPI_INFRA_LOCK_LEASE=\"1s\" is shorter than 2s; fix: set a duration from 2s to 1h"
        ),
        "{said}"
    );
    assert!(s3_json(&aws, "stacks/empi-local.json.lock").await.is_none());

    w.moto.slow("rds::dbinstance", 120.0);
    let mut c = w.command(&["apply", "--auto-approve"]);
    c.env("EMPI_INFRA_LOCK_LEASE", "5s");
    let paused = Watched::spawn(c);
    let pid = paused.child.id();
    until_the_database_create_is_recorded(&aws, 120).await;
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let t0 = Instant::now();
    while !stopped(pid) {
        assert!(t0.elapsed() < Duration::from_secs(10), "the run did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let said_before = paused.said();
    let serial_before =
        s3_json(&aws, "stacks/empi-local.json").await.unwrap()["serial"].as_u64().unwrap();

    // the lease runs out, visibly: the lock object says so, and another run is refused naming it
    let t0 = Instant::now();
    let id = loop {
        let lock =
            s3_json(&aws, "stacks/empi-local.json.lock").await.expect("the paused run's lock");
        let until = humantime::parse_rfc3339(lock["lease_expires"].as_str().unwrap()).unwrap();
        if until < std::time::SystemTime::now() {
            break lock["id"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "the lease did not run out: {lock}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let refused = w.run(&["plan"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("expired")
            && refused.stderr.contains(&format!("empi-infra state unlock {id}")),
        "{refused:?}"
    );
    w.ok(&["state", "unlock", &id]);
    w.moto.slow("rds::dbinstance", 0.0);
    w.ok(&["apply", "--auto-approve"]);
    let newer = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    assert!(newer["serial"].as_u64().unwrap() > serial_before);
    assert_eq!(non_default_vpcs(&aws).await, 1);

    // resumed: it notices at once that its lease passed, and stops
    w.moto.record();
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    let (code, after) = paused.finish(said_before);
    assert_eq!(code, Some(1), "{after}");
    assert!(
        after.contains(&format!(
            "this run no longer holds the state lock {id} (its lease ran out at"
        )),
        "{after}"
    );
    assert!(after.contains("stopped before its next cloud call"), "{after}");
    // no AWS request after the resume but to the state bucket: releasing its own lock (which is
    // not there any more), and at most a state write the pause caught half-way, which its
    // condition refused (the newer state is kept, below). (A step the pause caught between its
    // intent and its create may still say "creating…": its create is not sent.)
    // A call that passed the fence just before the pause may reach moto only after the resume
    // (the pause caught it between the check and its send; seen once in CI as a
    // DescribeVpcEndpoints poll): no fence can recall a call already under way. So: no write,
    // and no more reads than calls can be in flight at once (--parallelism, 10 by default).
    let sent: Vec<String> = w.moto.operations();
    let others: Vec<&String> = sent
        .iter()
        .filter(|o| !o.contains(&format!(" /{STATE_BUCKET}/stacks/empi-local.json")))
        .collect();
    // a query or JSON API's action, or a REST API's method and path
    let read =
        |o: &str| ["Describe", "Get", "List", "GET ", "HEAD "].iter().any(|p| o.starts_with(p));
    assert!(
        others.len() <= 10 && others.iter().all(|o| read(o)),
        "requests after the resume: {others:?}"
    );

    let kept = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    assert_eq!(
        (&kept["lineage"], &kept["serial"]),
        (&newer["lineage"], &newer["serial"]),
        "the newer state is kept"
    );
    assert!(s3_json(&aws, "stacks/empi-local.json.lock").await.is_none());
    assert_eq!(non_default_vpcs(&aws).await, 1);
    assert_eq!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(), 1);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "converged: nothing left over");
}

/// A state object replaced behind a run's back (another run's, of another lineage) is not written
/// over: the run's next write is refused by its ETag condition, and it stops there.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_replaced_during_an_apply_is_kept_and_the_apply_stops() {
    let w = Workspace::new(&s3_stack());
    let aws = state_bucket(&w).await;
    w.moto.slow("rds::dbinstance", 4.0);
    let run = Watched::spawn(w.command(&["apply", "--auto-approve"]));
    until_the_database_create_is_recorded(&aws, 120).await;
    let ours: empi_engine::state::State =
        serde_json::from_value(s3_json(&aws, "stacks/empi-local.json").await.unwrap()).unwrap();
    let theirs = empi_engine::state::State {
        lineage: "another-lineage".into(),
        serial: ours.serial + 100,
        ..ours.clone()
    };
    aws.s3
        .put_object()
        .bucket(STATE_BUCKET)
        .key("stacks/empi-local.json")
        .body(theirs.to_bytes().into())
        .send()
        .await
        .unwrap();

    let (code, said) = run.finish(0);
    assert_eq!(code, Some(1), "{said}");
    let refusal =
        said.find("was changed by another run").unwrap_or_else(|| panic!("no refusal in:\n{said}"));
    assert!(
        said.contains(&format!("it now holds serial {} of lineage another-lineage", theirs.serial)),
        "{said}"
    );
    assert!(!said[refusal..].contains("creating…"), "nothing created after the refusal:\n{said}");
    let kept = s3_json(&aws, "stacks/empi-local.json").await.unwrap();
    assert_eq!(
        (kept["lineage"].as_str(), kept["serial"].as_u64()),
        (Some("another-lineage"), Some(theirs.serial))
    );
    let backup = s3_json(&aws, "stacks/empi-local.json.backup").await.unwrap();
    assert_eq!(
        backup["lineage"].as_str(),
        Some(ours.lineage.as_str()),
        "the backup is this run's, not a copy of theirs"
    );
    assert!(s3_json(&aws, "stacks/empi-local.json.lock").await.is_none(), "the lock is released");
}
