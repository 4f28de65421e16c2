//! `empi-infra drift` against moto and a real kube-apiserver: out-of-band changes of many kinds are
//! found with the right address and attribute; a clean stack reports nothing, run after run; state
//! is never written; a held lock, notifications and the `--every` loop behave as a scheduler needs.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use crate::common::{filter, Workspace};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{json, Value};

const NS: &str = "tuva-empi";

fn findings(out: &str) -> Vec<(String, String, String)> {
    let v: Value = serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("drift --json is not JSON ({e}): {out}"));
    assert_eq!(v["format_version"], "1");
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["address"].as_str().unwrap().to_string(),
                f["attribute"].as_str().unwrap_or("").to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_out_of_band_change_is_found_with_address_and_attribute() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let clean = w.run(&["drift"]);
    assert_eq!(clean.code, 0, "{clean:?}");
    let aws = w.aws().await;
    let st = w.state();
    let id = |a: &str| st["resources"][a]["id"].as_str().unwrap().to_string();
    let out = |a: &str, o: &str| st["resources"][a]["outputs"][o].as_str().unwrap().to_string();

    // 1. an extra ingress rule: SSH from anywhere onto the nodes
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(id("network.node_security_group"))
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 2. an extra policy on an IRSA role
    aws.iam
        .attach_role_policy()
        .role_name("empi-local-api")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    // 3 + 4. the database resized and its backups shortened by hand
    aws.rds
        .modify_db_instance()
        .db_instance_identifier("empi-local-db")
        .db_instance_class("db.t4g.large")
        .backup_retention_period(0)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    // 5. a tag on the VPC
    aws.ec2
        .create_tags()
        .resources(id("network.vpc"))
        .tags(aws_sdk_ec2::types::Tag::builder().key("owner").value("mallory").build())
        .send()
        .await
        .unwrap();
    // 6. bucket versioning suspended
    aws.s3
        .put_bucket_versioning()
        .bucket("empi-local-data-123456789012")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 7. a weaker TLS policy on the HTTPS listener
    aws.elb
        .modify_listener()
        .listener_arn(id("edge.https_listener"))
        .ssl_policy("ELBSecurityPolicy-2016-08")
        .send()
        .await
        .unwrap();
    // 8. the api's health check moved
    aws.elb
        .modify_target_group()
        .target_group_arn(id("edge.api_target_group"))
        .health_check_path("/")
        .send()
        .await
        .unwrap();
    // 9. self sign-up opened on the user pool (all other settings sent again, as UpdateUserPool requires)
    aws.cognito
        .update_user_pool()
        .user_pool_id(id("identity.user_pool"))
        .auto_verified_attributes(
            aws_sdk_cognitoidentityprovider::types::VerifiedAttributeType::Email,
        )
        .admin_create_user_config(
            aws_sdk_cognitoidentityprovider::types::AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(false)
                .build(),
        )
        .user_pool_tags("Name", "empi-local-users")
        .user_pool_tags("empi-infra:stack", "empi-local")
        .user_pool_tags("empi-infra:region", "us-east-1")
        .user_pool_tags("empi-infra:address", "identity.user_pool")
        .user_pool_tags("environment", "local")
        .send()
        .await
        .unwrap();
    // 10. the node group scaled by hand (an EKS update: it takes effect once it succeeded)
    let scaled = aws
        .eks
        .update_nodegroup_config()
        .cluster_name("empi-local")
        .nodegroup_name("empi-local-nodes")
        .scaling_config(
            aws_sdk_eks::types::NodegroupScalingConfig::builder()
                .min_size(2)
                .max_size(4)
                .desired_size(3)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let update = scaled.update().and_then(|u| u.id()).unwrap().to_string();
    for _ in 0..100 {
        let u = aws
            .eks
            .describe_update()
            .name("empi-local")
            .nodegroup_name("empi-local-nodes")
            .update_id(&update)
            .send()
            .await
            .unwrap();
        if u.update().and_then(|u| u.status())
            == Some(&aws_sdk_eks::types::UpdateStatus::Successful)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // 11. the config secret deleted
    aws.secrets
        .delete_secret()
        .secret_id(out("config.secret", "arn"))
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // 12 + 13. Kubernetes: the api's image and the frontend's replicas changed by hand (another field manager)
    let c = w.cluster.client().await;
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let by_hand = PatchParams::apply("kubectl").force();
    deployments
        .patch("api", &by_hand, &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": {"template": {"spec": {"containers": [{"name": "api", "image": "ghcr.io/evil/backend:latest"}]}}}})))
        .await
        .unwrap();
    deployments
        .patch("frontend", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}})))
        .await
        .unwrap();
    // 14. a Service deleted
    Api::<Service>::namespaced(c.clone(), NS)
        .delete("frontend", &DeleteParams::default())
        .await
        .unwrap();

    let before = std::fs::read(w.state_file()).unwrap();
    let r = w.run(&["drift", "--json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(std::fs::read(w.state_file()).unwrap(), before, "drift never writes state");
    let got = findings(&r.stdout);
    let has = |address: &str, attribute: &str, kind: &str| {
        assert!(
            got.iter().any(|(a, at, k)| a == address && at.starts_with(attribute) && k == kind),
            "no {kind} finding for {address} {attribute}; got {got:#?}"
        );
    };
    has("network.node_security_group", "ingress", "changed");
    has("iam.api_role", "managed_policy_arns", "changed");
    has("database.instance", "instance_class", "changed");
    has("database.instance", "backup_retention_period", "changed");
    has("network.vpc", "tags.owner", "changed");
    has("storage.bucket", "versioning", "changed");
    has("edge.https_listener", "ssl_policy", "changed");
    has("edge.api_target_group", "health_check_path", "changed");
    has("identity.user_pool", "admin_create_user_only", "changed");
    has("cluster.node_group", "desired_size", "changed");
    has("config.secret", "", "deleted");
    has("workloads.api", "manifest.spec.template.spec.containers[0].image", "changed");
    has("workloads.frontend", "manifest.spec.replicas", "changed");
    has("workloads.frontend_service", "", "deleted");
    // nothing else: every finding is one of the injected changes (and what follows from them)
    let expected_addresses = [
        "network.node_security_group",
        "iam.api_role",
        "database.instance",
        "network.vpc",
        "storage.bucket",
        "edge.https_listener",
        "edge.api_target_group",
        "identity.user_pool",
        "cluster.node_group",
        "config.secret",
        "config.document",
        "workloads.api",
        "workloads.frontend",
        "workloads.frontend_service",
    ];
    for (a, at, _) in &got {
        assert!(expected_addresses.contains(&a.as_str()), "unexpected finding {a} {at}");
    }

    // the text report says what and how to fix it
    let text = w.run(&["drift"]);
    assert_eq!(text.code, 2);
    assert!(text.stdout.contains("~ database.instance  instance_class: expected \"db.t4g.micro\", actual \"db.t4g.large\""), "{text:?}");
    assert!(text.stdout.contains("- config.secret deleted"), "{text:?}");
    assert!(text.stdout.contains("fix: `empi-infra apply` restores it"), "{text:?}");

    // ignoring: the stack key of [drift] ignore and --ignore
    let ignored = w.run(&[
        "drift",
        "--json",
        "--ignore",
        "cluster.nodes.desired",
        "--ignore",
        "workloads.frontend",
    ]);
    let got = findings(&ignored.stdout);
    assert!(
        !got.iter().any(|(a, _, _)| a == "cluster.node_group" || a == "workloads.frontend"),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clean_stack_reports_nothing_twenty_times_and_state_is_untouched() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let before = std::fs::read(w.state_file()).unwrap();
    let files = || {
        let mut v: Vec<String> = std::fs::read_dir(w.dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    let listing = files();
    for i in 0..20 {
        let r = w.run(&["drift"]);
        assert_eq!(r.code, 0, "run {i}: {r:?}");
        assert!(
            r.stdout.starts_with(&format!("No drift: the {} resources", w.resource_count())),
            "run {i}: {r:?}"
        );
    }
    assert_eq!(std::fs::read(w.state_file()).unwrap(), before, "byte-identical state");
    assert_eq!(files(), listing, "no lock or temp file left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_lock_stops_drift_and_notifications_reach_a_webhook() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;

    // an apply in progress
    let lock = json!({"id": "9a9a", "owner": "ci", "host": "runner-7", "pid": 4242, "operation": "apply", "created": "2026-11-26T10:00:00Z"});
    std::fs::write(w.dir.path().join("state/empi-local.lock"), lock.to_string()).unwrap();
    let r = w.run(&["drift"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("`apply` by ci@runner-7 (pid 4242")
            && r.stderr.contains("drift did not run"),
        "{r:?}"
    );
    std::fs::remove_file(w.dir.path().join("state/empi-local.lock")).unwrap();

    // drift → a POST with a Slack-compatible text
    let vpc = w.state()["resources"]["network.vpc"]["id"].as_str().unwrap().to_string();
    aws.ec2
        .create_tags()
        .resources(&vpc)
        .tags(aws_sdk_ec2::types::Tag::builder().key("cost-center").value("x").build())
        .send()
        .await
        .unwrap();
    let (url, server) = common::webhook();
    let r = w.run(&["drift", "--notify", &url]);
    assert_eq!(r.code, 2, "{r:?}");
    let body: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
    assert!(body["text"].as_str().unwrap().contains("drift in stack `empi-local`"), "{body}");
    assert!(
        body["text"].as_str().unwrap().contains("`network.vpc` `tags.cost-center` changed"),
        "{body}"
    );
    let _ = filter; // (shared helper)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_keeps_running_after_a_failed_run() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let lock_path = w.dir.path().join("state/empi-local.lock");
    let lock = json!({"id": "1", "owner": "ci", "host": "elsewhere", "pid": 1, "operation": "apply", "created": "2026-11-26T10:00:00Z"});
    std::fs::write(&lock_path, lock.to_string()).unwrap();
    let mut child = w
        .command(&["drift", "--every", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::remove_file(&lock_path).unwrap();
    let t0 = Instant::now();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut clean_runs = 0;
    while clean_runs < 2 && t0.elapsed() < Duration::from_secs(60) {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("No drift") {
            clean_runs += 1;
        }
    }
    child.kill().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(err.contains("error: drift run failed") && err.contains("trying again in 1s"), "{err}");
    assert_eq!(clean_runs, 2, "the loop went on after the failed run");
}

#[tokio::test(flavor = "multi_thread")]
async fn finding_5_a_secret_copied_under_another_key_is_redacted_by_value_everywhere() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let name = "empi-local/tuva-empi-config";
    let mut cfg = common::config(&aws, name).await;
    let password = cfg["db"]["password"].as_str().unwrap().to_string();
    // as an AWS rotation template writes it, and once more somewhere deeper under a harmless key
    cfg["username"] = json!("tuva");
    cfg["password"] = json!(password.clone());
    cfg["engine"] = json!("postgres");
    cfg["notes"] = json!({"copy": format!("postgres://tuva:{password}@db:5432/tuva")});
    aws.secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(cfg.to_string())
        .send()
        .await
        .unwrap();

    let mut seen = Vec::new();
    let plan = w.run(&["plan", "--out", "saved.plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("config.document"), "the extra keys are a change: {plan:?}");
    seen.push(plan.all());
    seen.push(std::fs::read_to_string(w.dir.path().join("saved.plan")).unwrap());
    seen.push(w.ok(&["plan", "--json"]).all());
    let drift = w.run(&["drift", "--json"]);
    assert_eq!(drift.code, 2, "{drift:?}");
    assert!(
        findings(&drift.stdout)
            .iter()
            .any(|(a, attr, _)| a == "config.document" && attr.contains("password")),
        "{drift:?}"
    );
    assert!(drift.stdout.contains("(sensitive)"), "reported as a sensitive attribute: {drift:?}");
    seen.push(drift.all());
    let (url, server) = common::webhook();
    let r = w.run(&["drift", "--notify", &url]);
    assert_eq!(r.code, 2, "{r:?}");
    seen.push(r.all());
    seen.push(server.join().unwrap());
    seen.push(w.run(&["plan"]).all());
    let logged = w.command(&["plan"]).env("EMPI_INFRA_LOG", "trace").output().unwrap();
    seen.push(
        String::from_utf8_lossy(&logged.stdout).into_owned()
            + &String::from_utf8_lossy(&logged.stderr),
    );
    for (i, o) in seen.iter().enumerate() {
        assert!(!o.contains(&password), "the password leaked into output #{i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_policy_weakened_in_the_console_is_drift() {
    use aws_sdk_cognitoidentityprovider::types::{
        AdminCreateUserConfigType, AdvancedSecurityModeType, DeletionProtectionType,
        PasswordPolicyType, UserPoolAddOnsType, UserPoolMfaType, UserPoolPolicyType,
        UserPoolTierType, VerifiedAttributeType,
    };
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let pool = w.state()["resources"]["identity.user_pool"]["id"].as_str().unwrap().to_string();
    let live = aws.cognito.describe_user_pool().user_pool_id(&pool).send().await.unwrap();
    let p = live.user_pool().unwrap().policies().unwrap().password_policy().unwrap();
    assert_eq!(
        (p.minimum_length(), p.require_symbols(), p.password_history_size()),
        (Some(14), true, Some(24)),
        "as applied"
    );

    // what the console sends when only the password policy is edited: every other setting as it is
    aws.cognito
        .update_user_pool()
        .user_pool_id(&pool)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .admin_create_user_config(
            AdminCreateUserConfigType::builder().allow_admin_create_user_only(true).build(),
        )
        .mfa_configuration(UserPoolMfaType::On)
        .user_pool_tier(UserPoolTierType::Plus)
        .user_pool_add_ons(
            UserPoolAddOnsType::builder()
                .advanced_security_mode(AdvancedSecurityModeType::Enforced)
                .build()
                .unwrap(),
        )
        .deletion_protection(DeletionProtectionType::Active)
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(8)
                        .require_lowercase(true)
                        .require_uppercase(true)
                        .require_numbers(true)
                        .require_symbols(false)
                        .temporary_password_validity_days(7)
                        .password_history_size(24)
                        .build(),
                )
                .build(),
        )
        .set_user_pool_tags(live.user_pool().unwrap().user_pool_tags().cloned())
        .send()
        .await
        .unwrap();

    let r = w.run(&["drift", "--json"]);
    assert_eq!(r.code, 2, "{r:?}");
    let got = findings(&r.stdout);
    assert!(
        got.iter().any(|(a, at, k)| a == "identity.user_pool"
            && at.starts_with("password_policy")
            && k == "changed"),
        "the weaker password policy is not reported: {got:#?}"
    );
    assert!(
        got.iter().all(|(a, at, _)| a == "identity.user_pool" && at.starts_with("password_policy")),
        "only it: {got:#?}"
    );
    let text = w.run(&["drift"]);
    assert!(text.stdout.contains("minimum_length"), "{text:?}");

    // apply puts it back
    w.ok(&["apply", "--auto-approve"]);
    let p = aws.cognito.describe_user_pool().user_pool_id(&pool).send().await.unwrap();
    let p = p.user_pool().unwrap().policies().unwrap().password_policy().unwrap().clone();
    assert_eq!((p.minimum_length(), p.require_symbols()), (Some(14), true));
    assert_eq!(w.run(&["drift"]).code, 0);
}
