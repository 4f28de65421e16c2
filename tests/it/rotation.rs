//! Issue #30's secret rotations, with the application running. The local cloud has no container
//! runtime, so the application is played here as upstream behaves (its settings have no
//! `CONN_MAX_AGE`): a backend pod reads the config secret's AWSCURRENT version once, when it
//! starts, and opens a new PostgreSQL connection with that credential for every request until it is
//! gone; a pod may start at any moment (a scale-up, a restart). Each is a real connection to a real
//! PostgreSQL 16 set up as RDS sets up an instance, and the rotation's Jobs really run their script
//! against it (`common::cluster::ScriptRunner`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use empi_engine::blueprint::{DB_APP_LOGINS, DB_USER};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

use crate::common::cluster::{Node, ScriptRunner};
use crate::common::postgres::{python, Postgres};
use crate::common::Workspace;

const NS: &str = "tuva-empi";

/// Connects as a user with a password, over TLS, once per line asked: `ok`, or PostgreSQL's refusal.
const PROBE: &str = r#"
import sys, psycopg
port = int(sys.argv[1])
for line in sys.stdin:
    user, password = line.rstrip("\n").split("\t")
    try:
        psycopg.connect(host="127.0.0.1", port=port, dbname="tuva_empi", user=user, password=password,
                        sslmode="require", connect_timeout=5).close()
        print("ok", flush=True)
    except Exception as e:
        print("refused " + str(e).replace("\n", " "), flush=True)
"#;

/// What the played application saw.
#[derive(Default, Debug)]
struct Seen {
    /// Connections PostgreSQL accepted, by login role.
    accepted: HashMap<String, usize>,
    /// Connections it refused: who, and why.
    refused: Vec<String>,
}

/// The config secret's AWSCURRENT `db.user` and `db.password`.
async fn credential(w: &Workspace, arn: &str) -> (String, String) {
    let v = config_version(w, arn, "AWSCURRENT").await;
    (v["db"]["user"].as_str().unwrap().into(), v["db"]["password"].as_str().unwrap().into())
}

async fn config_version(w: &Workspace, arn: &str, stage: &str) -> Value {
    let s = w
        .aws()
        .await
        .secrets
        .get_secret_value()
        .secret_id(arn)
        .version_stage(stage)
        .send()
        .await
        .unwrap();
    serde_json::from_str(s.secret_string().unwrap()).unwrap()
}

/// Plays the application until `stop`: every backend pod connects with the credential it read
/// when it was first seen, and a pod starting now connects with the current one.
async fn play_application(
    w: Arc<Workspace>,
    arn: String,
    port: u16,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
) {
    let mut probe = Command::new(python())
        .args(["-c", PROBE, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to = probe.stdin.take().unwrap();
    let mut from = BufReader::new(probe.stdout.take().unwrap());
    let pods: Api<Pod> = Api::namespaced(w.cluster.client().await, NS);
    let mut read_at_start: HashMap<String, (String, String)> = HashMap::new();
    while !stop.load(Ordering::SeqCst) {
        let mut connecting = vec![("a pod starting now".to_string(), credential(&w, &arn).await)];
        let list = pods.list(&ListParams::default()).await.unwrap();
        for p in list.items {
            let backend = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/name"))
                .is_some_and(|n| n == "api" || n == "matching-service");
            if !backend || p.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let name = p.metadata.name.unwrap();
            if !read_at_start.contains_key(&name) {
                read_at_start.insert(name.clone(), credential(&w, &arn).await);
            }
            connecting.push((format!("pod {name}"), read_at_start[&name].clone()));
        }
        for (who, (user, password)) in connecting {
            let answer = tokio::task::block_in_place(|| {
                writeln!(to, "{user}\t{password}").unwrap();
                let mut line = String::new();
                from.read_line(&mut line).unwrap();
                line
            });
            let mut s = seen.lock().unwrap();
            if answer.starts_with("ok") {
                *s.accepted.entry(user).or_default() += 1;
            } else {
                s.refused.push(format!("{who} as {user}: {}", answer.trim()));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = probe.kill();
    let _ = probe.wait();
}

fn annotation(d: &Deployment, key: &str) -> Option<String> {
    d.spec.as_ref()?.template.metadata.as_ref()?.annotations.as_ref()?.get(key).cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_db_password_refuses_no_connection_and_the_old_password_stops_working() {
    let scripts = Arc::new(Mutex::new(None));
    let w = Arc::new(Workspace::with_node(
        &[],
        Node { runs_scripts: Some(scripts.clone()), ..Node::default() },
    ));
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();
    let arn = st["resources"]["config.secret"]["outputs"]["arn"].as_str().unwrap().to_string();
    let master_arn = st["resources"]["database.instance"]["outputs"]["master_user_secret_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let master: Value = serde_json::from_str(
        aws.secrets
            .get_secret_value()
            .secret_id(&master_arn)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    let master_password = master["password"].as_str().unwrap().to_string();
    // the stack's database, as the first apply's database-role Job left it (run here again)
    let pg = Postgres::start(DB_USER, &master_password, "tuva_empi");
    *scripts.lock().unwrap() =
        Some(ScriptRunner { moto_url: w.moto.url.clone(), postgres_port: pg.port });
    let c = w.cluster.client().await;
    let role_job = empi_engine::blueprint::workloads::database_role_job_name(&w.parsed_stack());
    let job = Api::<k8s_openapi::api::batch::v1::Job>::namespaced(c.clone(), NS)
        .get(&role_job)
        .await
        .unwrap();
    let pod = Pod { spec: job.spec.unwrap().template.spec, ..Pod::default() };
    let (ok, said) = scripts.lock().unwrap().clone().unwrap().run(&pod).unwrap();
    assert!(ok, "{said}");
    let (old_user, old_password) = credential(&w, &arn).await;
    assert_eq!(old_user, DB_APP_LOGINS[0]);
    pg.ok(&old_user, &old_password, "create table main_person (id serial primary key)");
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let before = deployments.get("api").await.unwrap();

    // the application runs throughout the rotation
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let app =
        tokio::spawn(play_application(w.clone(), arn.clone(), pg.port, seen.clone(), stop.clone()));
    while seen.lock().unwrap().accepted.get(&old_user).copied().unwrap_or(0) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // a matching job that read the old credential and runs on after the backend has rolled: its
    // credential must keep working until it ends
    let job_pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "matching-job-long", "labels": {"app.kubernetes.io/name": "matching-service"}},
        "spec": {"containers": [{"name": "job", "image": "ghcr.io/tuva-health/tuva-empi-backend:v0.1.0",
                 "env": [{"name": "TUVA_EMPI_CONFIG_AWS_SECRET_ARN", "value": arn}]}]},
    }))
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(c.clone(), NS);
    pods.create(&Default::default(), &job_pod).await.unwrap();
    let mut child = w
        .command(&["rotate", "db-password", "--auto-approve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut err = String::new();
    let waiting = tokio::task::block_in_place(|| loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break false;
        }
        err.push_str(&line);
        if line.contains(
            "waiting for 1 pod(s) that read the old credential to end: tuva-empi/matching-job-long",
        ) {
            break true;
        }
    });
    assert!(waiting, "the rotation did not wait for the job's pod: {err}");
    // the backend rolled, the job still connects with the old credential; then it ends
    let connected = seen.lock().unwrap().accepted.get(&old_user).copied().unwrap_or(0);
    while seen.lock().unwrap().accepted.get(&old_user).copied().unwrap_or(0) < connected + 3 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pods.delete("matching-job-long", &Default::default()).await.unwrap();
    let status = tokio::task::block_in_place(|| {
        err.push_str(&std::io::read_to_string(stderr).unwrap());
        child.wait().unwrap()
    });
    let rotated = crate::common::Output {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err,
    };
    stop.store(true, Ordering::SeqCst);
    app.await.unwrap();
    assert_eq!(rotated.code, 0, "{rotated:?}");
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.refused.is_empty(),
        "connections refused during the rotation: {:#?}",
        seen.refused
    );
    assert!(seen.accepted[&old_user] >= 3, "{seen:?}");

    // the plan it showed, then what it did, in words a user reads
    for said in [
        "The rotation of the database password, in order (no downtime)",
        "a new password for the login role tuva_empi_app_b, staged in the config secret as AWSPENDING",
        "Rotated: the application connects as tuva_empi_app_b with a new password",
    ] {
        assert!(rotated.stdout.contains(said), "{said:?} not in {rotated:?}");
    }
    assert!(
        rotated.stdout.contains("workloads.api"),
        "the plan names the api's rollout: {rotated:?}"
    );

    // the config secret: a new version names the other login with a new password, the old one
    // stays as AWSPREVIOUS; nothing prints either password
    let (new_user, new_password) = credential(&w, &arn).await;
    assert_eq!(new_user, DB_APP_LOGINS[1]);
    assert_ne!(new_password, old_password);
    let previous = config_version(&w, &arn, "AWSPREVIOUS").await;
    assert_eq!(previous["db"]["password"], old_password.as_str());
    let history_dir = w.dir.path().join("state/empi-local.history");
    let mut written = std::fs::read_to_string(w.state_file()).unwrap();
    for e in std::fs::read_dir(&history_dir).unwrap() {
        written.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    for secret in [&old_password, &new_password] {
        assert!(!rotated.all().contains(secret.as_str()), "a password in the output");
        assert!(!written.contains(secret.as_str()), "a password in state or history");
        assert!(
            !std::fs::read_to_string(&pg.log).unwrap().contains(secret.as_str()),
            "a password in PostgreSQL's log"
        );
    }

    // PostgreSQL: the new login works and acts as the role that owns the application's objects;
    // the old password is refused
    assert_eq!(
        pg.ok(
            &new_user,
            &new_password,
            "select session_user, current_user, count(*) from main_person"
        ),
        serde_json::json!([[DB_APP_LOGINS[1], DB_APP_LOGINS[0], 0]])
    );
    pg.ok(&new_user, &new_password, "create table main_job (id serial primary key)");
    assert_eq!(
        pg.ok(
            &new_user,
            &new_password,
            "select pg_get_userbyid(relowner) from pg_class where relname = 'main_job'"
        ),
        serde_json::json!([[DB_APP_LOGINS[0]]])
    );
    let refused = pg.query(&old_user, &old_password, "select 1").unwrap_err();
    assert!(refused.contains("password authentication failed"), "{refused}");
    assert!(seen.accepted.get(&new_user).copied().unwrap_or(0) > 0, "{seen:?}");

    // the api rolled onto the new role; a plan is a no-op and drift finds nothing
    let after = deployments.get("api").await.unwrap();
    assert_ne!(
        annotation(&before, "empi-infra/database-role"),
        annotation(&after, "empi-infra/database-role"),
        "the api's pods did not roll"
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");
    assert_eq!(w.run(&["drift"]).code, 0);
    let h = w.ok(&["history", "--json"]);
    let entries: Value = serde_json::from_str(&h.stdout).unwrap();
    let last = entries["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["command"], "rotate db-password", "{last}");
    assert_eq!(last["outcome"], "succeeded", "{last}");
    assert_eq!(last["plan_sha256"].as_str().unwrap().len(), 64, "{last}");

    // the next rotation goes back to the first login, and retires the second
    let again = w.run(&["rotate", "db-password", "--auto-approve"]);
    assert_eq!(again.code, 0, "{again:?}");
    let (third_user, third_password) = credential(&w, &arn).await;
    assert_eq!(third_user, DB_APP_LOGINS[0]);
    pg.ok(&third_user, &third_password, "select count(*) from main_job");
    assert!(pg.query(&new_user, &new_password, "select 1").is_err(), "the second login is retired");
}

#[tokio::test(flavor = "multi_thread")]
async fn rotating_the_django_key_rolls_the_backend_and_secret_age_follows_the_dates() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let arn =
        w.state()["resources"]["config.secret"]["outputs"]["arn"].as_str().unwrap().to_string();
    let old = config_version(&w, &arn, "AWSCURRENT").await;
    // the secret's tags say when its values were made: the rule passes today (the local stack
    // fails other rules, which the local cloud lacks)
    let check = w.run(&["check", "--json"]);
    let report: Value = serde_json::from_str(&check.stdout).unwrap();
    let age = |r: &Value, side: &str| {
        r[side]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule"] == "access.secret-age")
            .cloned()
            .unwrap()
    };
    assert_eq!(age(&report, "live")["status"], "pass", "{report}");
    // 91 days later, it fails (live and planned), naming the fix
    let later =
        Output::of(w.command(&["check"]).env("EMPI_INFRA_TODAY", in_days(91)).output().unwrap());
    assert_eq!(later.code, 2, "{later:?}");
    assert!(later.stdout.contains("FAIL access.secret-age on config.secret"), "{later:?}");
    assert!(later.stdout.contains("empi-infra rotate db-password"), "{later:?}");

    let c = w.cluster.client().await;
    let deployments: Api<Deployment> = Api::namespaced(c, NS);
    let key_annotation =
        |d: &Deployment| annotation(d, empi_engine::blueprint::workloads::DJANGO_KEY_ANNOTATION);
    let before: Vec<Option<String>> = backend_annotations(&deployments, &key_annotation).await;
    let rotated = w.run(&["rotate", "django-key", "--auto-approve"]);
    assert_eq!(rotated.code, 0, "{rotated:?}");
    assert!(rotated.stdout.contains("nobody is signed out"), "{rotated:?}");
    assert!(rotated.stdout.contains("no secret_key_fallbacks"), "{rotated:?}");
    let new = config_version(&w, &arn, "AWSCURRENT").await;
    let previous = config_version(&w, &arn, "AWSPREVIOUS").await;
    assert_ne!(new["django"]["secret_key"], old["django"]["secret_key"]);
    assert_eq!(previous["django"]["secret_key"], old["django"]["secret_key"]);
    assert_eq!(new["db"], old["db"], "the database credential is left alone");
    for v in [&new, &old] {
        assert!(
            !rotated.all().contains(v["django"]["secret_key"].as_str().unwrap()),
            "a key in the output"
        );
    }
    let after: Vec<Option<String>> = backend_annotations(&deployments, &key_annotation).await;
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");
    // the secret's tags: the key's date is the rotation's, the password's still the making's
    let d = w.aws().await.secrets.describe_secret().secret_id(&arn).send().await.unwrap();
    let tag = |k: &str| {
        d.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).unwrap().to_string()
    };
    let (key_set, password_set) =
        (tag(empi_engine::stack::TAG_DJANGO_KEY_SET), tag(empi_engine::stack::TAG_DB_PASSWORD_SET));
    assert!(key_set > password_set, "{key_set} {password_set}");
    // the backend rolled onto the new key: its pods are marked with when the key was set
    for (was, is) in before.iter().zip(&after) {
        assert!(was.is_some() && was != is, "{before:?} {after:?}");
        assert_eq!(is.as_deref(), Some(key_set.as_str()));
    }
    let now: Value = serde_json::from_str(&w.run(&["check", "--json"]).stdout).unwrap();
    let f = age(&now, "live");
    assert_eq!(f["status"], "pass", "{f}");
    assert!(
        f["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("django.secret_key set {key_set}, 0 days ago")),
        "{f}"
    );
}

use crate::common::Output;

/// The api's and the matching-service's value of `read`.
async fn backend_annotations(
    deployments: &Api<Deployment>,
    read: &dyn Fn(&Deployment) -> Option<String>,
) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for name in ["api", "matching-service"] {
        out.push(read(&deployments.get(name).await.unwrap()));
    }
    out
}

/// The date `n` days from today, as `EMPI_INFRA_TODAY` takes it.
fn in_days(n: u64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    empi_engine::eks_versions::civil_date(now / 86_400 + n)
}
