//! `plan` / `apply` / `destroy` of `stacks/local.toml` against a real moto server, checked through
//! the AWS API (not through empi-infra's own state).

use crate::common;

use crate::common::Workspace;
use serde_json::Value;

const SECRET: &str = "empi-local/tuva-empi-config";

#[tokio::test(flavor = "multi_thread")]
async fn apply_builds_the_stack_and_the_next_plan_is_a_no_op() {
    let w = Workspace::new(&[]);
    let plan = w.ok(&["plan"]);
    let n = w.resource_count();
    assert!(
        plan.stdout
            .contains(&format!("Plan: {n} to add, 0 to change, 0 to replace, 0 to destroy.")),
        "{plan:?}"
    );
    let apply = w.ok(&["apply", "--auto-approve"]);
    assert!(apply.stdout.contains("Apply complete"), "{apply:?}");
    assert!(apply.stdout.contains("url               = https://empi.local.test"), "{apply:?}");
    let aws = w.aws().await;

    // network: one VPC of this stack, two private subnets in two zones
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:empi-infra:stack")
                .values("empi-local")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vpcs.vpcs().len(), 1);
    let vpc = &vpcs.vpcs()[0];
    assert_eq!(vpc.cidr_block(), Some("10.40.0.0/16"));
    assert!(
        vpc.tags().iter().any(|t| t.key() == Some("environment") && t.value() == Some("local")),
        "stack tags reach resources"
    );
    let subnets = aws
        .ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc.vpc_id().unwrap())
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .values("empi-local-private-*")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut zones: Vec<_> =
        subnets.subnets().iter().map(|s| s.availability_zone().unwrap().to_string()).collect();
    zones.sort();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);
    assert!(subnets.subnets().iter().all(|s| s.map_public_ip_on_launch() == Some(false)));

    // the database accepts 5432 from the nodes' group only, and no CIDR
    let sgs = aws
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("empi-local-database")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let db_sg = &sgs.security_groups()[0];
    let nodes = aws
        .ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values("empi-local-nodes")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let nodes_id = nodes.security_groups()[0].group_id().unwrap();
    assert_eq!(db_sg.ip_permissions().len(), 1);
    let p = &db_sg.ip_permissions()[0];
    assert_eq!((p.from_port(), p.to_port()), (Some(5432), Some(5432)));
    assert!(p.ip_ranges().is_empty());
    assert_eq!(p.user_id_group_pairs()[0].group_id(), Some(nodes_id));

    // RDS PostgreSQL 16: encrypted, private, in the stack's subnet group and security group
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(db.engine(), Some("postgres"));
    assert!(db.engine_version().unwrap().starts_with("16"));
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_eq!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some("empi-local-db"));
    assert_eq!(db.vpc_security_groups()[0].vpc_security_group_id(), db_sg.group_id());

    // EKS in the private subnets with the cluster role
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap();
    let c = c.cluster().unwrap();
    // a new stack gets the newest EKS version
    assert_eq!(
        c.version(),
        Some(empi_engine::eks_versions::newest(&empi_engine::eks_versions::today()).version)
    );
    assert!(c.role_arn().unwrap().ends_with(":role/empi-local-eks-cluster"));
    let mut cluster_subnets = c.resources_vpc_config().unwrap().subnet_ids().to_vec();
    cluster_subnets.sort();
    let mut private: Vec<String> =
        subnets.subnets().iter().map(|s| s.subnet_id().unwrap().to_string()).collect();
    private.sort();
    assert_eq!(cluster_subnets, private);
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name("empi-local-eks-cluster")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_arn(),
        Some("arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    );

    // Cognito: email is the username
    let state = w.state();
    let pool_id = state["resources"]["identity.user_pool"]["id"].as_str().unwrap();
    let pool = aws.cognito.describe_user_pool().user_pool_id(pool_id).send().await.unwrap();
    let usernames: Vec<_> = pool
        .user_pool()
        .unwrap()
        .username_attributes()
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    assert_eq!(usernames, ["email"]);

    // the config secret is the Tuva EMPI document, wired to the real resources
    let cfg = common::config(&aws, SECRET).await;
    assert_eq!(cfg["env"], "empi-local");
    assert_eq!(cfg["db"]["host"], Value::from(db.endpoint().unwrap().address().unwrap()));
    assert_eq!(cfg["db"]["port"], "5432");
    assert_eq!(cfg["db"]["name"], "tuva_empi");
    assert_eq!(cfg["django"]["debug"], false);
    assert_eq!(cfg["django"]["allowed_hosts"][0], "empi.local.test");
    assert_eq!(cfg["idp"]["backend"], "aws-cognito");
    assert_eq!(cfg["idp"]["aws_cognito"]["cognito_user_pool_id"], pool_id);
    assert_eq!(cfg["idp"]["aws_cognito"]["jwt_header"], "X-Amzn-Oidc-Accesstoken");
    assert_eq!(
        cfg["idp"]["aws_cognito"]["jwks_url"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool_id}/.well-known/jwks.json")
    );
    let client_id = state["resources"]["identity.app_client"]["id"].as_str().unwrap();
    assert_eq!(cfg["idp"]["aws_cognito"]["client_id"], client_id);
    assert_eq!(cfg["initial_setup"]["admin_email"], "admin@example.org");
    assert_eq!(cfg["matching_service"]["job_runner"], "process");
    assert!(cfg["db"]["password"].as_str().unwrap().len() >= 32);
    assert!(cfg["django"]["secret_key"].as_str().unwrap().len() >= 50);

    let again = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "a second plan must be a no-op: {again:?}");
    assert!(again.stdout.contains("No changes."), "{again:?}");
    // and the generated secrets were not regenerated by the second plan
    assert_eq!(common::config(&aws, SECRET).await["db"]["password"], cfg["db"]["password"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_stack_plans_an_update_and_applies_it() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let before = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let arn_before = before.db_instances()[0].db_instance_arn().unwrap().to_string();

    w.write_stack(&[
        ("instance_class = \"db.t4g.micro\"", "instance_class = \"db.t4g.small\""),
        ("backup_retention_days = 1", "backup_retention_days = 3"),
        ("environment = \"local\"", "environment = \"staging\""),
        ("api_replicas = 1", "api_replicas = 2"),
    ]);
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    assert!(plan.stdout.contains("  ~ database.instance (aws_db_instance)"), "{plan:?}");
    assert!(
        plan.stdout.contains("instance_class          = \"db.t4g.micro\" -> \"db.t4g.small\""),
        "{plan:?}"
    );
    assert!(
        plan.stdout.contains("~ workloads.api (k8s_deployment)")
            && plan.stdout.contains("manifest.spec.replicas"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("tags.environment = \"local\" -> \"staging\""), "{plan:?}");
    assert!(!plan.stdout.contains("-/+"), "nothing is replaced: {plan:?}");

    w.ok(&["apply", "--auto-approve"]);
    let after = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &after.db_instances()[0];
    assert_eq!(db.db_instance_arn(), Some(arn_before.as_str()), "updated in place");
    assert_eq!(db.db_instance_class(), Some("db.t4g.small"));
    assert_eq!(db.backup_retention_period(), Some(3));
    assert!(db
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("environment") && t.value() == Some("staging")));
    let api = kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
        w.cluster.client().await,
        "tuva-empi",
    )
    .get("api")
    .await
    .unwrap();
    assert_eq!(api.spec.unwrap().replicas, Some(2));
    let again = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_leaves_nothing_behind() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let d = w.ok(&["destroy", "--auto-approve"]);
    assert!(d.stdout.contains(&format!("{} destroyed", w.resource_count())), "{d:?}");
    let aws = w.aws().await;
    let tagged = |k: &str| {
        aws_sdk_ec2::types::Filter::builder().name(format!("tag:{k}")).values("empi-local").build()
    };
    assert!(aws
        .ec2
        .describe_vpcs()
        .filters(tagged("empi-infra:stack"))
        .send()
        .await
        .unwrap()
        .vpcs()
        .is_empty());
    assert!(aws
        .ec2
        .describe_subnets()
        .filters(tagged("empi-infra:stack"))
        .send()
        .await
        .unwrap()
        .subnets()
        .is_empty());
    assert!(aws
        .ec2
        .describe_security_groups()
        .filters(tagged("empi-infra:stack"))
        .send()
        .await
        .unwrap()
        .security_groups()
        .is_empty());
    assert!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().is_empty());
    assert!(aws
        .rds
        .describe_db_subnet_groups()
        .send()
        .await
        .unwrap()
        .db_subnet_groups()
        .is_empty());
    assert!(aws.eks.list_clusters().send().await.unwrap().clusters().is_empty());
    assert!(aws
        .cognito
        .list_user_pools()
        .max_results(10)
        .send()
        .await
        .unwrap()
        .user_pools()
        .is_empty());
    assert!(aws.iam.get_role().role_name("empi-local-eks-cluster").send().await.is_err());
    // the secret is scheduled for deletion (recoverable for 7 days), not listed any more
    assert!(aws.secrets.list_secrets().send().await.unwrap().secret_list().is_empty());
    // the database left a final snapshot
    let snaps = aws.rds.describe_db_snapshots().send().await.unwrap();
    assert!(
        snaps
            .db_snapshots()
            .iter()
            .any(|s| s.db_snapshot_identifier().unwrap().starts_with("empi-local-db-final-")),
        "{snaps:?}"
    );
    assert_eq!(w.state()["resources"], serde_json::json!({}));

    // and the stack can be built again (the scheduled secret is restored, not a name clash)
    w.ok(&["apply", "--auto-approve"]);
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_secrets_appear_in_no_state_plan_log_or_json() {
    let w = Workspace::new(&[]);
    let first = w.ok(&["plan", "--verbose"]);
    assert!(
        first.stdout.contains("document.db.password") && first.stdout.contains("= (sensitive)"),
        "{first:?}"
    );
    let folded = w.ok(&["plan"]);
    assert!(
        folded.stdout.contains(", 2 sensitive} (--verbose shows them)"),
        "the folded config document says it holds secrets: {folded:?}"
    );
    let mut outputs = vec![first.all(), folded.all(), w.ok(&["apply", "--auto-approve"]).all()];
    let aws = w.aws().await;
    let cfg = common::config(&aws, SECRET).await;
    let secrets = [
        cfg["db"]["password"].as_str().unwrap().to_string(),
        cfg["django"]["secret_key"].as_str().unwrap().to_string(),
    ];

    // change something that rewrites the secret, so plan and apply handle the document
    w.write_stack(&[("hostname = \"empi.local.test\"", "hostname = \"empi2.local.test\"")]);
    let plan = w.run(&["plan", "--out", "saved.plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("document.django.allowed_hosts"), "{plan:?}");
    assert!(
        !plan.stdout.contains("document.db.password ="),
        "unchanged secret rows are not listed: {plan:?}"
    );
    outputs.push(plan.all());
    outputs.push(w.ok(&["plan", "--json"]).all());
    outputs.push(w.ok(&["apply", "saved.plan"]).all());
    outputs.push(w.ok(&["state", "show", "config.document"]).all());
    outputs.push(w.ok(&["state", "show", "database.instance"]).all());
    outputs.push(w.ok(&["output", "--json"]).all());
    let created = w.ok(&["plan"]).all();
    outputs.push(created);
    for f in ["state/empi-local.json", "state/empi-local.json.backup", "saved.plan"] {
        outputs.push(std::fs::read_to_string(w.dir.path().join(f)).unwrap());
    }
    assert!(outputs.iter().any(|o| o.contains("(sensitive)")), "placeholders are shown");
    for s in &secrets {
        for (i, o) in outputs.iter().enumerate() {
            assert!(!o.contains(s.as_str()), "a generated secret leaked into output #{i}");
        }
    }
    // the hostname change reached the config, and the secrets were kept
    let cfg2 = common::config(&aws, SECRET).await;
    assert_eq!(cfg2["django"]["allowed_hosts"][0], "empi2.local.test");
    assert_eq!(cfg2["db"]["password"], cfg["db"]["password"]);
    assert_eq!(cfg2["django"]["secret_key"], cfg["django"]["secret_key"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_saved_plan_is_refused() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    w.write_stack(&[("environment = \"local\"", "environment = \"a\"")]);
    w.ok(&["plan", "--out", "old.plan"]);
    w.write_stack(&[("environment = \"local\"", "environment = \"b\"")]);
    w.ok(&["apply", "--auto-approve"]);
    let r = w.run(&["apply", "old.plan"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the saved plan is stale"), "{r:?}");
    assert!(r.stderr.contains("run `empi-infra plan --out FILE` again"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_database_create_is_resumed_without_a_duplicate() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    // as if the process died after CreateDBInstance and before the id reached state
    let mut st: Value = serde_json::from_slice(&std::fs::read(w.state_file()).unwrap()).unwrap();
    st["resources"]["database.instance"]["status"] = "creating".into();
    st["resources"]["database.instance"]["id"] = Value::Null;
    // a hand-edited state must carry the checksum of its new content, or it is (rightly) refused
    // as damaged
    let st: empi_engine::state::State = serde_json::from_value(st).unwrap();
    std::fs::write(w.state_file(), st.to_bytes()).unwrap();
    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("resuming an interrupted create: found empi-local-db"),
        "{plan:?}"
    );
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    assert_eq!(aws.rds.describe_db_instances().send().await.unwrap().db_instances().len(), 1);
    assert_eq!(w.state()["resources"]["database.instance"]["status"], "created");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_resources_show_progress_and_are_waited_for() {
    let w = Workspace::new(&[]);
    w.moto.slow("rds::dbinstance", 3.0);
    w.moto.slow("eks::cluster", 2.0);
    let t0 = std::time::Instant::now();
    let o = w.ok(&["apply", "--auto-approve"]);
    assert!(t0.elapsed() >= std::time::Duration::from_secs(3), "apply waited for the database");
    // the config document needs the database's address, so it is written after it became available
    let pos = |s: &str| o.stderr.find(s).unwrap_or_else(|| panic!("no {s:?} in {o:?}"));
    assert!(pos("database.instance: creation complete") < pos("config.document: creating"));
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_endpoint_url_wins_over_the_stack_target() {
    // the stack points at a port nothing listens on; AWS_ENDPOINT_URL (set by the harness) wins
    let w = Workspace::new(&[("http://127.0.0.1:4566", "http://127.0.0.1:9")]);
    w.ok(&["plan"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_is_refused_while_the_lock_is_held() {
    let w = Workspace::new(&[]);
    std::fs::create_dir_all(w.dir.path().join("state")).unwrap();
    let lock = serde_json::json!({
        "id": "3f1c", "owner": "alice", "host": gethostname(), "pid": std::process::id(),
        "operation": "apply", "created": "2026-11-26T10:00:00Z"
    });
    std::fs::write(w.dir.path().join("state/empi-local.lock"), lock.to_string()).unwrap();
    let r = w.run(&["apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("the state is locked by alice@"), "{r:?}");
    assert!(r.stderr.contains("empi-infra state unlock 3f1c"), "{r:?}");
    w.ok(&["state", "unlock", "3f1c"]);
    w.ok(&["apply", "--auto-approve"]);
}

fn gethostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}
