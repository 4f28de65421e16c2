//! Encryption with a key the organisation controls, and transmission security, against moto
//! (realistic mode on): the stack's customer-managed KMS key, read back on every resource it
//! encrypts through the AWS API; TLS-only bucket policy, bucket lifecycle, ALB attributes; what
//! destroy does to the key and the ALB's deletion protection; and a key the stack brings.

use crate::common;

use crate::common::Workspace;
use serde_json::Value;

const BUCKET: &str = "empi-local-data-123456789012";

/// Every resource the stack's key must encrypt, checked through the AWS API against `arn`.
async fn encrypted_with(aws: &common::Aws, arn: &str) {
    // EKS: Kubernetes secrets envelope-encrypted with the key
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap();
    let enc = c.cluster().unwrap().encryption_config();
    assert_eq!(enc.len(), 1, "{enc:?}");
    #[allow(deprecated)]
    // EKS now encrypts all API data by default; `secrets` still names the CMK's scope
    let resources = enc[0].resources();
    assert_eq!(resources, ["secrets"]);
    assert_eq!(enc[0].provider().and_then(|p| p.key_arn()), Some(arn));

    // RDS: storage and Performance Insights
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(db.storage_encrypted(), Some(true));
    assert_eq!(db.kms_key_id(), Some(arn));
    assert_eq!(db.performance_insights_enabled(), Some(true));
    assert_eq!(db.performance_insights_kms_key_id(), Some(arn));
    assert_eq!(db.performance_insights_retention_period(), Some(7));

    // Secrets Manager: the config secret
    let s = aws
        .secrets
        .describe_secret()
        .secret_id("empi-local/tuva-empi-config")
        .send()
        .await
        .unwrap();
    assert_eq!(s.kms_key_id(), Some(arn));

    // S3: SSE-KMS with the key and a bucket key
    let e = aws.s3.get_bucket_encryption().bucket(BUCKET).send().await.unwrap();
    let rule = &e.server_side_encryption_configuration().unwrap().rules()[0];
    let d = rule.apply_server_side_encryption_by_default().unwrap();
    assert_eq!(d.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(d.kms_master_key_id(), Some(arn));
    assert_eq!(rule.bucket_key_enabled(), Some(true));

    // CloudWatch Logs: every log group of the stack (EKS, PostgreSQL, flow logs, WAF)
    let groups = aws.logs.describe_log_groups().send().await.unwrap();
    assert_eq!(groups.log_groups().len(), 4, "{groups:?}");
    for g in groups.log_groups() {
        assert_eq!(g.kms_key_id(), Some(arn), "{:?}", g.log_group_name());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stacks_own_key_encrypts_everything_and_destroy_schedules_its_deletion() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;

    // one customer-managed key, found by its alias, rotation on
    let k = aws.kms.describe_key().key_id("alias/empi-local").send().await.unwrap();
    let k = k.key_metadata().unwrap();
    let (arn, key_id) = (k.arn().unwrap().to_string(), k.key_id().to_string());
    assert_eq!(k.key_manager().map(|m| m.as_str()), Some("CUSTOMER"));
    assert_eq!(k.key_state().map(|s| s.as_str()), Some("Enabled"));
    assert_eq!(
        aws.kms
            .get_key_rotation_status()
            .key_id(&key_id)
            .send()
            .await
            .unwrap()
            .key_rotation_enabled(),
        true
    );
    assert_eq!(aws.kms.list_keys().send().await.unwrap().keys().len(), 1);

    // the key policy: the account, the stack's services, the cluster role, CloudWatch Logs for the stack's groups
    let p = aws.kms.get_key_policy().key_id(&key_id).policy_name("default").send().await.unwrap();
    let p: Value = serde_json::from_str(p.policy().unwrap()).unwrap();
    let sid = |s: &str| {
        p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["Sid"] == s)
            .cloned()
            .unwrap_or_else(|| panic!("no {s}: {p}"))
    };
    assert_eq!(sid("AccountAdministers")["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
    let role = aws.iam.get_role().role_name("empi-local-eks-cluster").send().await.unwrap();
    assert_eq!(sid("ClusterSecrets")["Principal"]["AWS"], role.role().unwrap().arn());
    let via = &sid("StackServices")["Condition"]["StringEquals"]["kms:ViaService"];
    for s in ["eks", "rds", "secretsmanager", "s3"] {
        assert!(
            via.as_array().unwrap().iter().any(|v| v == &format!("{s}.us-east-1.amazonaws.com")),
            "{via}"
        );
    }
    let logs = sid("CloudWatchLogs");
    assert_eq!(logs["Principal"]["Service"], "logs.us-east-1.amazonaws.com");
    let groups = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        groups.contains(&Value::from(
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/empi-local/cluster"
        )),
        "{groups:?}"
    );

    encrypted_with(&aws, &arn).await;

    // the application's roles may use the key (the secret and the bucket's objects need it)
    let pol = aws
        .iam
        .get_role_policy()
        .role_name("empi-local-api")
        .policy_name("tuva-empi")
        .send()
        .await
        .unwrap();
    let doc = common::policy(pol.policy_document());
    let use_key = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "UseKey")
        .cloned()
        .unwrap();
    assert_eq!(use_key["Resource"], arn.as_str());

    // transmission security: the bucket refuses plain HTTP; old versions and unfinished uploads expire
    let bp = aws.s3.get_bucket_policy().bucket(BUCKET).send().await.unwrap();
    let bp: Value = serde_json::from_str(bp.policy().unwrap()).unwrap();
    let deny = &bp["Statement"][0];
    assert_eq!(
        (deny["Effect"].as_str(), deny["Principal"].as_str(), deny["Action"].as_str()),
        (Some("Deny"), Some("*"), Some("s3:*"))
    );
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(
        deny["Resource"],
        serde_json::json!([format!("arn:aws:s3:::{BUCKET}"), format!("arn:aws:s3:::{BUCKET}/*")])
    );
    let lc = aws.s3.get_bucket_lifecycle_configuration().bucket(BUCKET).send().await.unwrap();
    let r = &lc.rules()[0];
    assert_eq!(r.status().as_str(), "Enabled");
    assert_eq!(r.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()), Some(90));
    assert_eq!(
        r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
        Some(7)
    );

    // the ALB drops invalid header fields and is protected from deletion
    let lb = aws.elb.describe_load_balancers().names("empi-local-alb").send().await.unwrap();
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let attrs = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .unwrap();
    let attr = |k: &str| {
        attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some(k))
            .and_then(|a| a.value())
            .map(String::from)
    };
    assert_eq!(attr("routing.http.drop_invalid_header_fields.enabled").as_deref(), Some("true"));
    assert_eq!(attr("deletion_protection.enabled").as_deref(), Some("true"));
    let refused =
        aws.elb.delete_load_balancer().load_balancer_arn(&lb_arn).send().await.unwrap_err();
    assert_eq!(
        aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata::code(&refused),
        Some("OperationNotPermitted"),
        "{refused:?}"
    );

    // the key's ARN is an output (what log groups and other stacks reference), and a second plan changes nothing
    let outs: Value = serde_json::from_str(&w.ok(&["output", "--json"]).stdout).unwrap();
    assert_eq!(outs["kms_key_arn"], arn.as_str());
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "everything read back as applied: {plan:?}");

    // destroy lifts the ALB's deletion protection, removes the alias and schedules the key's deletion
    w.ok(&["destroy", "--auto-approve"]);
    assert!(aws.elb.describe_load_balancers().send().await.unwrap().load_balancers().is_empty());
    let k = aws.kms.describe_key().key_id(&key_id).send().await.unwrap();
    let k = k.key_metadata().unwrap();
    assert_eq!(k.key_state().map(|s| s.as_str()), Some("PendingDeletion"));
    let days = (k.deletion_date().unwrap().secs()
        - std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            as i64)
        / 86400;
    assert!((29..=30).contains(&days), "30 days pending, not {days}");
    let aliases = aws.kms.list_aliases().send().await.unwrap();
    assert!(
        !aliases.aliases().iter().any(|a| a.alias_name() == Some("alias/empi-local")),
        "the alias is free for the next key"
    );
    assert!(w.state()["resources"].as_object().unwrap().is_empty(), "{}", w.state());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_brought_key_is_used_everywhere_and_none_is_created() {
    let w = Workspace::new(&[]);
    let aws = w.aws().await;
    // what the key's policy must hold (docs/STACK.md): the account, so that IAM policies decide
    // (the cluster role's among them), and CloudWatch Logs for the stack's log groups
    let root = r#"{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"kms:*","Resource":"*"}"#;
    let logs = r#"{"Sid":"Logs","Effect":"Allow","Principal":{"Service":"logs.us-east-1.amazonaws.com"},"Action":["kms:Encrypt*","kms:Decrypt*","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Describe*"],"Resource":"*"}"#;
    let k = aws
        .kms
        .create_key()
        .description("the organisation's key")
        .policy(format!(r#"{{"Version":"2012-10-17","Statement":[{root},{logs}]}}"#))
        .send()
        .await
        .unwrap();
    let (arn, key_id) = (
        k.key_metadata().unwrap().arn().unwrap().to_string(),
        k.key_metadata().unwrap().key_id().to_string(),
    );
    // issue #27: a key whose policy leaves CloudWatch Logs out is refused before anything is made
    let without_logs = aws
        .kms
        .create_key()
        .policy(format!(r#"{{"Version":"2012-10-17","Statement":[{root}]}}"#))
        .send()
        .await
        .unwrap();
    let bad = without_logs.key_metadata().unwrap().arn().unwrap().to_string();
    w.write_stack(&[("[security]", &format!("[security]\nkms_key_arn = \"{bad}\""))]);
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr.contains(&format!("the KMS key {bad} ([security] kms_key_arn) cannot serve the stack: its key policy does not allow logs.us-east-1.amazonaws.com")),
        "{plan:?}"
    );

    let edit = format!("[security]\nkms_key_arn = \"{arn}\"");
    w.write_stack(&[("[security]", &edit)]);
    w.ok(&["apply", "--auto-approve"]);
    // EKS encrypts Kubernetes secrets as the cluster role: it may use the brought key
    let inline = aws
        .iam
        .get_role_policy()
        .role_name("empi-local-eks-cluster")
        .policy_name("UseBroughtKey")
        .send()
        .await
        .unwrap();
    let doc = urlencoding::decode(inline.policy_document()).unwrap().into_owned();
    assert!(doc.contains(&arn) && doc.contains("kms:CreateGrant"), "{doc}");

    assert_eq!(
        aws.kms.list_keys().send().await.unwrap().keys().len(),
        2,
        "the brought key and the refused one, no key of the stack's own"
    );
    assert!(!aws
        .kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .any(|a| a.alias_name() == Some("alias/empi-local")));
    assert!(w.state()["resources"].get("security.kms_key").is_none());
    encrypted_with(&aws, &arn).await;
    let outs: Value = serde_json::from_str(&w.ok(&["output", "--json"]).stdout).unwrap();
    assert_eq!(outs["kms_key_arn"], arn.as_str());

    // going back to a key of the stack's own: what AWS cannot change in place is replaced, and the
    // plan says so (a database's storage key is fixed; EKS never swaps a secrets key)
    w.write_stack(&[]);
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let out = &plan.stdout;
    assert!(out.contains("  + security.kms_key (aws_kms_key"), "{out}");
    assert!(
        out.contains("  -/+ cluster.eks (aws_eks_cluster)")
            && out.contains("-/+ database.instance (aws_db_instance)"),
        "{out}"
    );
    let line = |attr: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(attr) && l.contains("forces replacement"))
            .map(String::from)
    };
    let eks = line("encryption_key_arn").unwrap_or_else(|| panic!("{out}"));
    assert!(eks.contains(&arn) && eks.contains("(known after apply)"), "{eks}");
    let db = line("kms_key_id").unwrap_or_else(|| panic!("{out}"));
    assert!(db.contains(&arn), "{db}");
    assert!(line("performance_insights_kms_key_id").is_some(), "{out}");
    assert!(
        out.contains("# WARNING: replacing database.instance destroys the data it holds"),
        "{out}"
    );
    assert!(
        out.contains("  ~ config.secret (aws_secretsmanager_secret)")
            && out.contains("  ~ storage.bucket (aws_s3_bucket)"),
        "{out}"
    );
    w.write_stack(&[("[security]", &edit)]);

    // a key pending deletion encrypts nothing: AWS refuses a new secret value with it, and plan
    // says so before any apply
    aws.kms.schedule_key_deletion().key_id(&key_id).pending_window_in_days(7).send().await.unwrap();
    let put = aws
        .secrets
        .put_secret_value()
        .secret_id("empi-local/tuva-empi-config")
        .secret_string("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&put),
        Some("EncryptionFailure"),
        "{put:?}"
    );
    let plan = w.run(&["plan"]);
    assert_eq!(plan.code, 1, "{plan:?}");
    assert!(
        plan.stderr
            .contains(&format!("the KMS key {arn} ([security] kms_key_arn) is pending deletion")),
        "{plan:?}"
    );
    assert!(plan.stderr.contains("cancel-key-deletion"), "{plan:?}");
}
