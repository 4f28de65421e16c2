//! Issue #29: backups proven by restores. `db restore-drill` against the realistic local cloud,
//! whose RDS restores the way AWS does (what the restore call does not name gets AWS's defaults,
//! not the source's) and a real kube-apiserver. The local cloud has no container runtime: the test
//! node gives the validation Job's pod the report its script writes (the script itself is checked
//! against a real PostgreSQL 16 in `database_role`).

use std::time::Duration;

use serde_json::Value;

use crate::common::cluster::Node;
use crate::common::Workspace;

/// What the validation script reports for a copy whose checks pass.
const VALIDATED: &str = r#"{"checks": [{"name": "connect", "ok": true, "detail": "as tuva_empi_app over TLS, PostgreSQL 16.10"}, {"name": "migrations", "ok": true, "detail": "the newest applied migration of main is 0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more; the stack's version has 0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more"}, {"name": "rows", "ok": true, "detail": "main_job 3, main_person 120, main_personrecord 180, main_matchgroup 7"}, {"name": "startup query", "ok": true, "detail": "0 new jobs waiting"}]}"#;

fn drill_node(report: &str) -> Node {
    Node {
        job_messages: vec![
            ("restore-drill-".into(), report.into()),
            ("restore-validate-".into(), report.into()),
        ],
        ..Node::default()
    }
}

/// Now, to the second, as `--to` takes it.
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The RDS instance `id`, if it exists.
async fn instance(w: &Workspace, id: &str) -> Option<aws_sdk_rds::types::DbInstance> {
    let r = w.aws().await.rds.describe_db_instances().db_instance_identifier(id).send().await;
    r.ok().and_then(|r| r.db_instances().first().cloned())
}

fn tag<'a>(d: &'a aws_sdk_rds::types::DbInstance, key: &str) -> Option<&'a str> {
    d.tag_list().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// The RDS instances whose identifier holds `-drill-`.
async fn drill_instances(w: &Workspace) -> Vec<String> {
    let aws = w.aws().await;
    let r = aws.rds.describe_db_instances().send().await.unwrap();
    r.db_instances()
        .iter()
        .filter_map(|d| d.db_instance_identifier())
        .filter(|i| i.contains("-drill-"))
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_drill_checks_a_hardened_copy_from_the_cluster_and_changes_nothing_of_the_stack()
{
    let w = Workspace::with_node(&[], drill_node(VALIDATED));
    w.ok(&["apply", "--auto-approve"]);
    let before = std::fs::read(w.state_file()).unwrap();

    let drill = w.ok(&["db", "restore-drill", "--json"]);
    let r: Value = serde_json::from_str(&drill.stdout).unwrap_or_else(|e| panic!("{e}: {drill:?}"));
    let id = r["drill_instance"].as_str().unwrap();
    assert!(id.starts_with("empi-local-db-drill-"), "{r}");
    assert!(r["rto_seconds"].as_f64().unwrap() > 0.0, "{r}");
    eprintln!("restore drill on the realistic local cloud: rto_seconds = {}", r["rto_seconds"]);
    let checks: Vec<(&str, bool)> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    // hardened exactly as the stack's own (read back from RDS), then checked from the cluster
    for name in [
        "subnet group",
        "security groups",
        "parameter group",
        "encryption",
        "not public",
        "connect",
        "migrations",
        "rows",
        "startup query",
    ] {
        assert!(checks.contains(&(name, true)), "{name}: {r}");
    }
    assert_eq!(r["deleted"], true, "{r}");
    assert!(drill_instances(&w).await.is_empty(), "the drill instance is gone");
    // the report is kept beside the state; the state itself is untouched and nothing drifted
    let kept = w.state_file().with_file_name("empi-local.drills").join(format!("{id}.json"));
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    assert_eq!(on_disk["drill_instance"], id);
    assert_eq!(
        std::fs::read(w.state_file()).unwrap(),
        before,
        "the state document is byte-identical"
    );
    assert_eq!(w.run(&["drift"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_check_exits_2_and_a_kept_copy_is_removed_by_the_next_drill_found_by_its_tag() {
    let failing =
        VALIDATED.replacen(r#""name": "rows", "ok": true"#, r#""name": "rows", "ok": false"#, 1);
    let w = Workspace::with_node(&[], drill_node(&failing));
    w.ok(&["apply", "--auto-approve"]);
    let drill = w.run(&["db", "restore-drill", "--keep"]);
    assert_eq!(drill.code, 2, "{drill:?}");
    assert!(drill.stdout.contains("FAIL rows"), "{drill:?}");
    assert!(drill.stdout.contains("the copy is kept"), "{drill:?}");
    let kept = drill_instances(&w).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    // an instance named like a drill but not tagged as this stack's is not touched
    let aws = w.aws().await;
    let source = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let stranger = "empi-local-db-drill-19990101000000";
    aws.rds
        .restore_db_instance_to_point_in_time()
        .source_db_instance_identifier(source.db_instances()[0].db_instance_identifier().unwrap())
        .target_db_instance_identifier(stranger)
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    // the next drill deletes what the earlier one kept, first
    let next = w.run(&["db", "restore-drill"]);
    assert_eq!(next.code, 2, "{next:?}");
    assert!(
        next.stderr.contains(&format!("deleting {}, left by an earlier drill", kept[0])),
        "{next:?}"
    );
    let mut left = drill_instances(&w).await;
    for _ in 0..50 {
        if left == [stranger] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = drill_instances(&w).await;
    }
    assert_eq!(left, [stranger], "only the untagged look-alike is left");

    // destroy removes a kept copy too (it uses the stack's subnet and security groups), and still
    // never the look-alike
    assert_eq!(w.run(&["db", "restore-drill", "--keep"]).code, 2);
    let destroy = w.ok(&["destroy", "--auto-approve"]);
    assert!(destroy.stdout.contains("that a cut-short `db restore-drill` left"), "{destroy:?}");
    assert_eq!(drill_instances(&w).await, [stranger]);
}

/// Issue #29's point-in-time case: the stack's database is a real PostgreSQL 16 (the local cloud's
/// knob `rds_postgres`), so a drill's restore to a time is PostgreSQL's own recovery from the base
/// backup and the archived WAL: the copy holds exactly the rows committed by then.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_to_a_time_holds_exactly_the_rows_committed_by_then() {
    use crate::common::postgres::{query_at, Postgres};
    use empi_engine::blueprint::DB_USER;
    const PW: &str = "MasterPassword0123456789abcdefAB";
    let w = Workspace::with_node(&[], drill_node(VALIDATED));
    w.ok(&["apply", "--auto-approve"]);
    let pg = Postgres::start(DB_USER, PW, "tuva_empi");
    w.moto
        .realism(&serde_json::json!({"rds_postgres": {"empi-local-db": pg.backing()}}).to_string());
    pg.ok(DB_USER, PW, "create table main_person (id integer primary key)");
    pg.ok(DB_USER, PW, "insert into main_person select generate_series(1, 5)");
    // T a second after those commits and a second before the next ones, to the second (RDS's
    // RestoreTime as the drill sends it)
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = pg.ok(
        DB_USER,
        PW,
        r#"select to_char(date_trunc('second', now() at time zone 'utc'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#,
    )[0][0]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pg.ok(DB_USER, PW, "insert into main_person select generate_series(6, 9)");

    let drill = w.ok(&["db", "restore-drill", "--to", &t, "--keep", "--json"]);
    let r: Value = serde_json::from_str(&drill.stdout).unwrap();
    assert_eq!(r["restored_to_time"], t.as_str(), "{r}");
    let aws = w.aws().await;
    let id = r["drill_instance"].as_str().unwrap();
    let d = aws.rds.describe_db_instances().db_instance_identifier(id).send().await.unwrap();
    let port = d.db_instances()[0].endpoint().unwrap().port().unwrap() as u16;
    let count = |p: u16| query_at(p, DB_USER, PW, "select count(*), max(id) from main_person");
    assert_eq!(count(port).unwrap(), serde_json::json!([[5, 5]]), "the copy holds the rows of {t}");
    assert_eq!(count(pg.port).unwrap(), serde_json::json!([[9, 9]]), "the source is untouched");
    // the next drill deletes the kept copy: its server stops
    let next = w.run(&["db", "restore-drill"]);
    assert_eq!(next.code, 0, "{next:?}");
    assert!(count(port).is_err(), "the kept copy's server still answers");
    assert!(drill_instances(&w).await.is_empty());
}

/// Issue #29's recovery: `db restore --to T` restores a checked copy, switches the application to
/// it (config secret, database-role Job, backend pods), keeps the old instance protected, and a
/// plan afterwards is a no-op; `--finalize` snapshots and deletes the old one.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_switches_the_application_to_a_checked_copy_and_finalize_deletes_the_old_one() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::batch::v1::Job;
    use kube::api::Api;
    let w = Workspace::with_node(&[], drill_node(VALIDATED));
    w.ok(&["apply", "--auto-approve"]);
    // an upgrade first: the stack keeps the snapshot taken of its database before v0.2.0's
    // migrations, which stays the snapshot of that instance after the switch
    const V2: (&str, &str) = ("version = \"v0.1.0\"", "version = \"v0.2.0\"");
    w.write_stack(&[V2]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let before = crate::common::config(&aws, "empi-local/tuva-empi-config").await;
    let kube = w.cluster.client().await;
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), "tuva-empi");
    let template = |d: &Deployment| {
        d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap().annotations.clone()
    };
    let api_before = template(&deployments.get("api").await.unwrap());

    // with the stack file ahead of what is applied, nothing is restored
    w.write_stack(&[V2, ("api_replicas = 1", "api_replicas = 2")]);
    let ahead = w.run(&["db", "restore", "--to", &now(), "--auto-approve"]);
    assert_eq!(ahead.code, 1, "{ahead:?}");
    assert!(ahead.stderr.contains("changes not applied yet (workloads.api"), "{ahead:?}");
    assert!(drill_instances(&w).await.is_empty());
    w.write_stack(&[V2]);

    let restored = w.ok(&["db", "restore", "--to", &now(), "--auto-approve"]);
    let state = w.state();
    let db = &state["resources"]["database.instance"];
    let id = db["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("empi-local-db-restored-"), "{db}");
    assert!(restored.stdout.contains(&format!("The application now uses {id}")), "{restored:?}");
    // the copy is the stack's database now: hardened, protected as the stack says, no drill tag
    let copy = instance(&w, &id).await.expect("the restored instance");
    assert_eq!(tag(&copy, "empi-infra:drill-of"), None);
    assert_eq!(tag(&copy, "empi-infra:address"), Some("database.instance"));
    assert_eq!(copy.publicly_accessible(), Some(false));
    // the application is switched: the config secret names it, and the backend pods rolled onto
    // it after the database-role Job ran against it
    let after = crate::common::config(&aws, "empi-local/tuva-empi-config").await;
    assert_eq!(after["db"]["host"], copy.endpoint().unwrap().address().unwrap(), "{after}");
    assert_ne!(after["db"]["host"], before["db"]["host"]);
    let api_after = template(&deployments.get("api").await.unwrap());
    assert_ne!(api_after, api_before, "the api pods did not roll");
    let role_job = api_after.unwrap()["empi-infra/database-role"].clone();
    let jobs: Api<Job> = Api::namespaced(kube.clone(), "tuva-empi");
    let job = jobs.get(&role_job).await.unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1), "the database-role Job ran");
    // its log group follows it; the old one is kept (state no longer records it)
    let groups = aws.logs.describe_log_groups().send().await.unwrap();
    let names: Vec<&str> = groups.log_groups().iter().filter_map(|g| g.log_group_name()).collect();
    assert!(names.contains(&format!("/aws/rds/instance/{id}/postgresql").as_str()), "{names:?}");
    assert!(names.contains(&"/aws/rds/instance/empi-local-db/postgresql"), "{names:?}");
    // and the stack's key still lets CloudWatch Logs use it for both
    let key = state["resources"]["security.kms_key"]["id"].as_str().unwrap();
    let policy = aws.kms.get_key_policy().key_id(key).policy_name("default").send().await.unwrap();
    let policy = policy.policy().unwrap();
    assert!(policy.contains("log-group:/aws/rds/instance/empi-local-db/*"), "{policy}");
    assert!(policy.contains("log-group:/aws/rds/instance/empi-local-db-restored-*"), "{policy}");
    // the old instance is kept, protected, tagged with what replaced it
    let old = instance(&w, "empi-local-db").await.expect("the old instance is kept");
    assert_eq!(old.deletion_protection(), Some(true));
    assert!(tag(&old, "empi-infra:replaced-by-restore").unwrap().starts_with(&id));
    let snapshot = &w.state()["resources"]["database.upgrade_snapshot[v0.2.0]"];
    assert_eq!(snapshot["attrs"]["db_instance_identifier"], "empi-local-db", "{snapshot}");
    // a plan is a no-op, and nothing drifted
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("is kept (deletion protection on) until"), "{plan:?}");
    assert_eq!(w.run(&["drift"]).code, 0);
    // a drill of the new database works, and never takes it for a leftover copy
    w.ok(&["db", "restore-drill"]);
    assert!(instance(&w, &id).await.is_some());
    // destroy waits for the old one to be dealt with
    let destroy = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(destroy.code, 1, "{destroy:?}");
    assert!(destroy.stderr.contains("db restore --finalize"), "{destroy:?}");

    let fin = w.ok(&["db", "restore", "--finalize", "--auto-approve"]);
    assert!(fin.stdout.contains("Finalized: empi-local-db is deleted"), "{fin:?}");
    assert!(instance(&w, "empi-local-db").await.is_none());
    let snaps = aws.rds.describe_db_snapshots().send().await.unwrap();
    assert!(
        snaps
            .db_snapshots()
            .iter()
            .any(|s| s.db_snapshot_identifier().unwrap().starts_with("empi-local-db-final-")),
        "no final snapshot"
    );
    assert!(w.state()["facts"].get("database_replaced").is_none());
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
    w.ok(&["destroy", "--auto-approve"]);
}

/// A copy that fails a check is not switched to: the state document is byte-identical, the
/// application's config untouched, and the copy deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_whose_copy_fails_a_check_switches_nothing() {
    let failing = VALIDATED.replacen(
        r#""name": "migrations", "ok": true"#,
        r#""name": "migrations", "ok": false"#,
        1,
    );
    let w = Workspace::with_node(&[], drill_node(&failing));
    w.ok(&["apply", "--auto-approve"]);
    let before = std::fs::read(w.state_file()).unwrap();
    let aws = w.aws().await;
    let config = crate::common::config(&aws, "empi-local/tuva-empi-config").await;
    let r = w.run(&["db", "restore", "--to", &now(), "--auto-approve"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("FAIL migrations"), "{r:?}");
    assert!(r.stdout.contains("nothing switched"), "{r:?}");
    assert_eq!(std::fs::read(w.state_file()).unwrap(), before, "state changed");
    assert_eq!(crate::common::config(&aws, "empi-local/tuva-empi-config").await, config);
    assert!(drill_instances(&w).await.is_empty(), "the copy is left");
    let restores: Vec<String> = aws
        .rds
        .describe_db_instances()
        .send()
        .await
        .unwrap()
        .db_instances()
        .iter()
        .filter_map(|d| d.db_instance_identifier().map(String::from))
        .filter(|i| i.contains("-restored-"))
        .collect();
    assert!(restores.is_empty(), "{restores:?}");
}

/// `[database] backup_replica_region`: RDS replicates the automated backups to the region, under a
/// key the stack makes there; the apply waits until they replicate (the local cloud keeps them
/// `pending` a while first, as AWS does); leaving the setting out again stops the replication.
#[tokio::test(flavor = "multi_thread")]
async fn backups_replicate_to_a_second_region_under_a_key_there_until_the_setting_goes() {
    const REPLICA: &str = "backup_retention_days = 1\nbackup_replica_region = \"us-west-2\"";
    let w = Workspace::new(&[("backup_retention_days = 1", REPLICA)]);
    // pending for the first three reads: the apply must wait them out
    w.moto.realism(r#"{"rds_backup_replication_looks": 3}"#);
    w.ok(&["apply", "--auto-approve"]);
    let source = instance(&w, "empi-local-db").await.unwrap();
    let listed: Vec<&str> = source
        .db_instance_automated_backups_replications()
        .iter()
        .filter_map(|r| r.db_instance_automated_backups_arn())
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].starts_with("arn:aws:rds:us-west-2:"), "{listed:?}");
    let west = crate::common::aws_in(&w.moto.url, "us-west-2").await;
    let b = west
        .rds
        .describe_db_instance_automated_backups()
        .db_instance_automated_backups_arn(listed[0])
        .send()
        .await
        .unwrap();
    let b = &b.db_instance_automated_backups()[0];
    assert_eq!(b.status(), Some("replicating"), "the apply ended before RDS replicated");
    assert_eq!(b.backup_retention_period(), Some(1));
    // encrypted there with the stack's key of that region
    let key = b.kms_key_id().unwrap();
    assert!(key.starts_with("arn:aws:kms:us-west-2:"), "{key}");
    let tags = west.kms.list_resource_tags().key_id(key).send().await.unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.tag_key() == "empi-infra:stack" && t.tag_value() == "empi-local"),
        "the key is not tagged as the stack's"
    );
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(w.run(&["drift"]).code, 0);

    // the setting gone: the replication stops (the copies made so far are kept); the key there is
    // scheduled for deletion
    w.write_stack(&[]);
    let plan = w.ok(&["plan"]);
    assert!(plan.stdout.contains("- database.backup_replication"), "{plan:?}");
    w.ok(&["apply", "--auto-approve"]);
    let source = instance(&w, "empi-local-db").await.unwrap();
    assert!(source.db_instance_automated_backups_replications().is_empty());
    let meta = west.kms.describe_key().key_id(key).send().await.unwrap();
    assert_eq!(meta.key_metadata().unwrap().key_state().unwrap().as_str(), "PendingDeletion");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

/// A drill killed half-way (SIGKILL: nothing of it runs after) leaves its copy behind; the next
/// drill finds it by its tag and deletes it before restoring its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_killed_half_way_leaves_a_copy_the_next_drill_removes() {
    // the validation Job's pod takes a few seconds: the drill waits on it with its copy made
    let node = Node { delay: Duration::from_secs(4), ..drill_node(VALIDATED) };
    let w = Workspace::with_node(&[], node);
    w.ok(&["apply", "--auto-approve"]);
    let mut drill = w.command(&["db", "restore-drill"]).spawn().unwrap();
    let mut left = Vec::new();
    for _ in 0..600 {
        left = drill_instances(&w).await;
        if !left.is_empty() {
            break;
        }
        assert!(drill.try_wait().unwrap().is_none(), "the drill ended before its copy was seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left.len(), 1, "no drill copy appeared");
    drill.kill().unwrap();
    drill.wait().unwrap();
    assert_eq!(drill_instances(&w).await, left, "the killed drill's copy is still there");

    let next = w.ok(&["db", "restore-drill", "--json"]);
    assert!(
        next.stderr.contains(&format!("deleting {}, left by an earlier drill", left[0])),
        "{next:?}"
    );
    let r: Value = serde_json::from_str(&next.stdout).unwrap();
    assert_eq!(r["deleted"], true, "{r}");
    let mut now = drill_instances(&w).await;
    for _ in 0..50 {
        if now.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        now = drill_instances(&w).await;
    }
    assert!(now.is_empty(), "left: {now:?}");
}
