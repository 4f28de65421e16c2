//! #16 access control: the application connects to PostgreSQL as its own role, not the RDS master
//! user. Checked through the AWS API (RDS keeps the master password in a secret of its own,
//! encrypted with the stack's key; the config secret names the application's role; only the
//! database-admin IRSA role may read the master secret) and the Kubernetes API (the database-role
//! Job's manifest, before migrate). The local cloud has no container runtime, so the Job's pod
//! never runs there: its script, as read back from the API server, is run here with the backend
//! image's driver (psycopg 3.2.3) against a real PostgreSQL 16 set up as RDS sets up an instance
//! (a master user that may create roles and databases but is no superuser, owning the database;
//! TLS only; SCRAM passwords). What RDS adds and this lacks: `rds_superuser` membership.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use crate::common::postgres::{python, Postgres};
use crate::common::Workspace;
use empi_engine::blueprint::workloads::{database_role_job_name, DATABASE_ADMIN_SERVICE_ACCOUNT};
use empi_engine::blueprint::{DB_APP_USER, DB_USER};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::Api;
use serde_json::{json, Value};

const NS: &str = "tuva-empi";

async fn secret_json(w: &Workspace, arn: &str) -> Value {
    let s = w.aws().await.secrets.get_secret_value().secret_id(arn).send().await.unwrap();
    serde_json::from_str(s.secret_string().unwrap()).unwrap()
}

/// Runs the Job's container command with the Job's environment, against moto for Secrets Manager.
fn run_job(w: &Workspace, command: &[String], env: &BTreeMap<String, String>) -> (bool, String) {
    assert_eq!(command[..2], ["python".to_string(), "-c".to_string()], "{command:?}");
    let o = Command::new(python())
        .args(&command[1..])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .env("AWS_ENDPOINT_URL", &w.moto.url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    (
        o.status.success(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_application_connects_as_its_own_role_which_the_database_role_job_makes_from_the_master_secret(
) {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();
    let out = |a: &str, o: &str| {
        st["resources"][a]["outputs"][o].as_str().unwrap_or_else(|| panic!("{a}.{o}")).to_string()
    };
    let (key, config_arn) = (out("security.kms_key", "arn"), out("config.secret", "arn"));

    // RDS keeps the master password in its own secret, encrypted with the stack's key
    let dbs = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &dbs.db_instances()[0];
    let ms = db.master_user_secret().expect("RDS manages the master password");
    assert_eq!(
        ms.kms_key_id(),
        Some(key.as_str()),
        "the master secret is encrypted with the stack's key"
    );
    let master_arn = ms.secret_arn().unwrap().to_string();
    assert_eq!(out("database.instance", "master_user_secret_arn"), master_arn);
    let master = secret_json(&w, &master_arn).await;
    assert_eq!(master["username"], DB_USER);
    // the config secret names the application's role, with a password of its own
    let config = secret_json(&w, &config_arn).await;
    assert_eq!(config["db"]["user"], DB_APP_USER);
    assert_eq!(db.master_username(), Some(DB_USER));
    assert_ne!(
        config["db"]["password"], master["password"],
        "the application's password is not the master's"
    );
    let state_text =
        std::fs::read_to_string(w.dir.path().join("state/empi-local.json")).unwrap_or_default();
    assert!(
        !state_text.contains(master["password"].as_str().unwrap()),
        "the master password is not in state"
    );

    // only the database-admin role may read the master secret
    let roles = aws.iam.list_roles().send().await.unwrap();
    let mut readers = Vec::new();
    for r in roles.roles().iter().filter(|r| r.role_name().starts_with("empi-local-")) {
        for p in aws
            .iam
            .list_role_policies()
            .role_name(r.role_name())
            .send()
            .await
            .unwrap()
            .policy_names()
        {
            let doc = aws
                .iam
                .get_role_policy()
                .role_name(r.role_name())
                .policy_name(p)
                .send()
                .await
                .unwrap();
            if common::policy(doc.policy_document()).to_string().contains(&master_arn) {
                readers.push(r.role_name().to_string());
            }
        }
    }
    assert_eq!(readers, ["empi-local-database-admin"]);

    // the Job, read back from the API server: the backend image, the database-admin service
    // account (IRSA to that role), the secrets' ARNs, hardened as every pod; done before migrate
    let c = w.cluster.client().await;
    let job = Api::<Job>::namespaced(c.clone(), NS)
        .get(&database_role_job_name(&w.parsed_stack()))
        .await
        .unwrap();
    let pod = job.spec.as_ref().unwrap().template.spec.clone().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some(DATABASE_ADMIN_SERVICE_ACCOUNT));
    let sa = Api::<ServiceAccount>::namespaced(c.clone(), NS)
        .get(DATABASE_ADMIN_SERVICE_ACCOUNT)
        .await
        .unwrap();
    assert_eq!(
        sa.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"],
        out("iam.database_admin_role", "arn")
    );
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("ghcr.io/tuva-health/tuva-empi-backend:v0.1.0"));
    let env: BTreeMap<String, String> = container
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert_eq!(env["DATABASE_MASTER_SECRET_ARN"], master_arn);
    assert_eq!(env["TUVA_EMPI_CONFIG_AWS_SECRET_ARN"], config_arn);
    assert_eq!(
        env["DATABASE_EXTENSIONS"], "pgcrypto,pg_trgm",
        "the extensions upstream's migrations create"
    );
    assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    assert_eq!(container.security_context.as_ref().unwrap().read_only_root_filesystem, Some(true));
    let done =
        job.status.as_ref().and_then(|s| s.completion_time.as_ref()).expect("the Job completed").0;
    let migrate = Api::<Job>::namespaced(c.clone(), NS).get("migrate-v0-1-0").await.unwrap();
    assert!(
        done <= migrate.metadata.creation_timestamp.unwrap().0,
        "migrate started before the role was made"
    );
    let command = container.command.clone().unwrap();

    // the script against a real PostgreSQL 16: the master user as RDS makes it, with a table an
    // earlier version's migrations made as the master user
    let master_password = master["password"].as_str().unwrap();
    let pg = Postgres::start(DB_USER, master_password, "tuva_empi");
    pg.ok(
        DB_USER,
        master_password,
        "create table legacy_person (id serial primary key, name text)",
    );
    // the config document as the Job reads it, but naming this server (RDS's address is moto's)
    let mut local = config.clone();
    local["db"]["host"] = json!("127.0.0.1");
    local["db"]["port"] = json!(pg.port.to_string());
    let local_arn = aws
        .secrets
        .create_secret()
        .name("test/config-naming-the-local-postgres")
        .secret_string(local.to_string())
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let mut job_env = env.clone();
    job_env.insert("TUVA_EMPI_CONFIG_AWS_SECRET_ARN".into(), local_arn.clone());
    let (ok, printed) = run_job(&w, &command, &job_env);
    assert!(ok, "the Job's script failed: {printed}");
    assert!(printed.contains(&format!("role {DB_APP_USER} created")), "{printed}");
    assert!(
        printed.contains(&format!(
            "1 objects the master user owned in public handed to {DB_APP_USER}"
        )),
        "{printed}"
    );
    let app_password = config["db"]["password"].as_str().unwrap();
    for secret in [app_password, master_password] {
        assert!(!printed.contains(secret), "a password in the Job's output");
        assert!(
            !std::fs::read_to_string(&pg.log).unwrap().contains(secret),
            "a password in PostgreSQL's log"
        );
    }

    // as the application: none of the master's powers; migrations work (a new table, upstream's
    // extensions, the old tables now its own)
    let powers = pg.ok(
        DB_APP_USER,
        app_password,
        "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user",
    );
    assert_eq!(powers, json!([[false, false, false]]));
    pg.ok(DB_APP_USER, app_password, "create table main_job (id bigserial primary key)");
    pg.ok(DB_APP_USER, app_password, "create extension if not exists pgcrypto");
    pg.ok(DB_APP_USER, app_password, "create extension if not exists pg_trgm");
    pg.ok(DB_APP_USER, app_password, "insert into legacy_person (name) values ('x')");
    let owners = pg.ok(
        DB_APP_USER,
        app_password,
        "select relname, pg_get_userbyid(relowner) from pg_class where relname in ('legacy_person', 'legacy_person_id_seq') order by 1",
    );
    assert_eq!(
        owners,
        json!([["legacy_person", DB_APP_USER], ["legacy_person_id_seq", DB_APP_USER]])
    );
    let refused = pg.query(DB_APP_USER, app_password, "create role intruder").unwrap_err();
    assert!(refused.contains("42501"), "the application may not make roles: {refused}");
    assert!(pg.query(DB_APP_USER, "wrong", "select 1").is_err(), "the password is checked");

    // idempotent: a second run changes nothing the application relies on
    let (ok, printed) = run_job(&w, &command, &job_env);
    assert!(ok && printed.contains(&format!("role {DB_APP_USER} updated")), "{printed}");
    pg.ok(DB_APP_USER, app_password, "select count(*) from legacy_person");

    // a version whose migrations create unaccent (upstream PR #113's
    // 0015_enable_unaccent_extension): as the application's role, migrate would fail exactly so;
    // that version's Job (its extensions are data of the version table) creates it first, and
    // then every extension upstream's recorded migrations create is there for the role
    let refused =
        pg.query(DB_APP_USER, app_password, "create extension if not exists unaccent").unwrap_err();
    // (PostgreSQL's words, as the JSON of the query helper quotes them)
    assert!(refused.contains(r#"permission denied to create extension \"unaccent\""#), "{refused}");
    let newer = empi_engine::tuva::classify("4abdf6bc1c853dc197424a05d9dc96f601eb9709").unwrap();
    let mut newer_env = job_env.clone();
    newer_env.insert("DATABASE_EXTENSIONS".into(), newer.extensions.join(","));
    let (ok, printed) = run_job(&w, &command, &newer_env);
    assert!(ok && printed.contains("extensions present: pgcrypto, pg_trgm, unaccent"), "{printed}");
    for m in empi_engine::tuva::migration_extensions() {
        for ext in empi_engine::upstream::extensions_created_by(&m.operation) {
            pg.ok(DB_APP_USER, app_password, &format!("create extension if not exists {ext}"));
        }
    }

    // after a PostgreSQL major upgrade (issue #28) the database-analyze Job rebuilds the planner's
    // statistics the upgrade dropped: as the master user, who owns the database, every table of it
    let never = pg.ok(
        DB_USER,
        master_password,
        "select count(*) from pg_stat_user_tables where last_analyze is not null",
    );
    assert_eq!(never, json!([[0]]), "nothing analyzed before the Job");
    let analyze = vec![
        "python".to_string(),
        "-c".to_string(),
        empi_engine::blueprint::workloads::DATABASE_ANALYZE_SCRIPT.to_string(),
    ];
    let (ok, printed) = run_job(&w, &analyze, &job_env);
    assert!(
        ok && printed.contains("database-analyze: ANALYZE of tuva_empi on PostgreSQL 16"),
        "{printed}"
    );
    let analyzed = pg.ok(
        DB_USER,
        master_password,
        "select relname from pg_stat_user_tables where last_analyze is not null order by 1",
    );
    assert_eq!(analyzed, json!([["legacy_person"], ["main_job"]]), "every table, whoever owns it");
    assert!(!printed.contains(master_password), "a password in the Job's output");

    // the restore drill's validation (issue #29), against this database as a restored copy: as
    // the application's role, over TLS, the newest migration, the main tables' rows, the query
    // upstream's matching service makes at start-up; its report where Kubernetes reads it
    for (table, rows) in
        [("main_job", 3), ("main_person", 2), ("main_personrecord", 4), ("main_matchgroup", 1)]
    {
        pg.ok(
            DB_APP_USER,
            app_password,
            &format!("create table if not exists {table} (id serial primary key)"),
        );
        pg.ok(
            DB_APP_USER,
            app_password,
            &format!("alter table {table} add column if not exists status text"),
        );
        pg.ok(
            DB_APP_USER,
            app_password,
            &format!("insert into {table} (status) select 'done' from generate_series(1, {rows})"),
        );
    }
    pg.ok(DB_APP_USER, app_password, "insert into main_job (status) values ('new')");
    pg.ok(
        DB_APP_USER,
        app_password,
        "create table django_migrations (id serial primary key, app text, name text)",
    );
    pg.ok(
        DB_APP_USER,
        app_password,
        "insert into django_migrations (app, name) values ('main', '0001_initial'), ('main', '0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more')",
    );
    let validate = vec![
        "python".to_string(),
        "-c".to_string(),
        empi_engine::blueprint::workloads::RESTORE_VALIDATE_SCRIPT.to_string(),
    ];
    let termination = w.dir.path().join("termination-log");
    let mut drill_env = BTreeMap::from([
        ("TUVA_EMPI_CONFIG_AWS_SECRET_ARN".to_string(), local_arn.clone()),
        ("DRILL_HOST".to_string(), "127.0.0.1".to_string()),
        ("DRILL_PORT".to_string(), pg.port.to_string()),
        (
            "EXPECTED_MIGRATION".to_string(),
            "0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more".to_string(),
        ),
        ("TERMINATION_LOG".to_string(), termination.display().to_string()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_DEFAULT_REGION".to_string(), "us-east-1".to_string()),
    ]);
    let (ok, printed) = run_job(&w, &validate, &drill_env);
    assert!(ok, "{printed}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    let by_name = |r: &Value, n: &str| {
        r["checks"].as_array().unwrap().iter().find(|c| c["name"] == n).cloned().unwrap()
    };
    for name in ["connect", "migrations", "rows", "startup query"] {
        assert_eq!(by_name(&report, name)["ok"], true, "{name}: {report}");
    }
    assert!(
        by_name(&report, "connect")["detail"].as_str().unwrap().contains("over TLS"),
        "{report}"
    );
    assert_eq!(
        by_name(&report, "rows")["detail"],
        "main_job 4, main_person 2, main_personrecord 4, main_matchgroup 1"
    );
    assert_eq!(by_name(&report, "startup query")["detail"], "1 new jobs waiting");
    assert!(!printed.contains(app_password), "a password in the Job's output");
    // a copy from before the stack's version's migrations fails the check, and the Job
    drill_env.insert("EXPECTED_MIGRATION".into(), "0014_allow_null_text_fields".into());
    let (ok, _) = run_job(&w, &validate, &drill_env);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert!(!ok && by_name(&report, "migrations")["ok"] == false, "{report}");

    // a new password in the config secret is the role's after the next run, the old one refused
    let mut rotated = local.clone();
    rotated["db"]["password"] = json!("RotatedPassword0123456789abcdefABCDEF");
    aws.secrets
        .put_secret_value()
        .secret_id(&local_arn)
        .secret_string(rotated.to_string())
        .send()
        .await
        .unwrap();
    let (ok, printed) = run_job(&w, &command, &job_env);
    assert!(ok, "{printed}");
    pg.ok(DB_APP_USER, "RotatedPassword0123456789abcdefABCDEF", "select 1");
    assert!(
        pg.query(DB_APP_USER, app_password, "select 1").is_err(),
        "the old password no longer works"
    );

    // a config that names the master user as the application's is refused, in one sentence
    let mut as_master = local.clone();
    as_master["db"]["user"] = json!(DB_USER);
    aws.secrets
        .put_secret_value()
        .secret_id(&local_arn)
        .secret_string(as_master.to_string())
        .send()
        .await
        .unwrap();
    let (ok, printed) = run_job(&w, &command, &job_env);
    assert!(!ok, "{printed}");
    assert!(
        printed
            .contains("db.user is the master user tuva_empi; the application needs its own role"),
        "{printed}"
    );

    // a database whose master password RDS does not keep (a stack from before, or turned off
    // behind the stack's back): the plan says so, and apply has RDS take it over again, with a
    // new secret the Job is then given
    aws.rds
        .modify_db_instance()
        .db_instance_identifier("empi-local-db")
        .manage_master_user_password(false)
        .master_user_password("LegacyMasterPassword0123456789")
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let check = w.run(&["check"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(
        check.stdout.contains("FAIL access.database-master-password-managed on database.instance"),
        "{check:?}"
    );
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(
        plan.stdout
            .lines()
            .any(|l| l.contains("manage_master_user_password") && l.ends_with("= false -> true")),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains("-> \"\""),
        "nothing is planned with an empty secret ARN: {}",
        plan.stdout
    );
    assert!(!plan.all().contains("LegacyMasterPassword"), "a password in the plan");
    w.ok(&["apply", "--auto-approve"]);
    let dbs = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let new_arn = dbs.db_instances()[0]
        .master_user_secret()
        .and_then(|m| m.secret_arn())
        .expect("RDS keeps it again")
        .to_string();
    let job = Api::<Job>::namespaced(c.clone(), NS)
        .get(&database_role_job_name(&w.parsed_stack()))
        .await
        .unwrap();
    let env = job.spec.unwrap().template.spec.unwrap().containers[0].env.clone().unwrap();
    assert!(
        env.iter().any(|e| e.name == "DATABASE_MASTER_SECRET_ARN"
            && e.value.as_deref() == Some(new_arn.as_str())),
        "{env:?}"
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");
}
