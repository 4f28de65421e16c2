//! Audit controls (#16, §164.312(b)) against moto (realistic mode on), read back through the AWS
//! API: the EKS control plane's log types, the database's PostgreSQL log export and connection
//! logging, the ALB's access logs to the log bucket, the VPC's flow log, the log groups' retention
//! and KMS key, WAF logging, the log bucket itself, and the CloudTrail trail when the stack asks
//! for one. The next plan is a no-op (every attribute read back as written).

use crate::common::{filter, Workspace};
use serde_json::Value;

const LOG_BUCKET: &str = "empi-local-logs-123456789012";
const DATA_BUCKET: &str = "empi-local-data-123456789012";

#[tokio::test(flavor = "multi_thread")]
async fn audit_logs_are_built_as_the_stack_says_and_the_next_plan_is_a_no_op() {
    let w = Workspace::new(&[(
        "force_destroy_logs = true",
        "force_destroy_logs = true\ncloudtrail = true",
    )]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let st = w.state();
    let out = |addr: &str, o: &str| {
        st["resources"][addr]["outputs"][o]
            .as_str()
            .unwrap_or_else(|| panic!("{addr}.{o}"))
            .to_string()
    };
    let key = out("security.kms_key", "arn");

    // EKS: api, audit and authenticator (and the rest) logged from creation. (moto keeps the
    // logging a cluster is created with; this checks it, not a later UpdateClusterConfig.)
    let c = aws.eks.describe_cluster().name("empi-local").send().await.unwrap();
    let enabled: Vec<String> = c
        .cluster()
        .and_then(|c| c.logging())
        .map(|l| l.cluster_logging())
        .unwrap_or_default()
        .iter()
        .filter(|s| s.enabled() == Some(true))
        .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
        .collect();
    for t in ["api", "audit", "authenticator"] {
        assert!(enabled.iter().any(|e| e == t), "{t} is not logged: {enabled:?}");
    }

    // RDS: the PostgreSQL log exported, connections and disconnections logged
    let db = aws
        .rds
        .describe_db_instances()
        .db_instance_identifier("empi-local-db")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    assert_eq!(db.enabled_cloudwatch_logs_exports(), ["postgresql"]);
    let pg = db.db_parameter_groups()[0].db_parameter_group_name().unwrap().to_string();
    let params = aws
        .rds
        .describe_db_parameters()
        .db_parameter_group_name(&pg)
        .source("user")
        .send()
        .await
        .unwrap();
    let value = |name: &str| {
        params
            .parameters()
            .iter()
            .find(|p| p.parameter_name() == Some(name))
            .and_then(|p| p.parameter_value())
            .map(String::from)
    };
    assert_eq!(value("log_connections").as_deref(), Some("1"), "{params:?}");
    assert_eq!(value("log_disconnections").as_deref(), Some("1"), "{params:?}");

    // ALB: access logs on, to the log bucket under alb/
    let la = aws
        .elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(out("edge.alb", "arn"))
        .send()
        .await
        .unwrap();
    let attr = |k: &str| {
        la.attributes()
            .iter()
            .find(|a| a.key() == Some(k))
            .and_then(|a| a.value())
            .map(String::from)
    };
    assert_eq!(attr("access_logs.s3.enabled").as_deref(), Some("true"), "{la:?}");
    assert_eq!(attr("access_logs.s3.bucket").as_deref(), Some(LOG_BUCKET));
    assert_eq!(attr("access_logs.s3.prefix").as_deref(), Some("alb"));

    // the VPC's flow log: all traffic, to its log group, delivered with its role
    let vpc = out("network.vpc", "id");
    let fl = aws.ec2.describe_flow_logs().filter(filter("resource-id", &vpc)).send().await.unwrap();
    assert_eq!(fl.flow_logs().len(), 1, "{fl:?}");
    let f = &fl.flow_logs()[0];
    assert_eq!(f.traffic_type().map(|t| t.as_str()), Some("ALL"));
    assert_eq!(f.log_destination(), Some(out("audit.flow_log_group", "arn").as_str()));
    assert_eq!(f.deliver_logs_permission_arn(), Some(out("audit.flow_log_role", "arn").as_str()));

    // every log group: the stack's retention (a week in stacks/local.toml) and the stack's key
    let groups = [
        "/aws/eks/empi-local/cluster",
        "/aws/rds/instance/empi-local-db/postgresql",
        "/empi-infra/empi-local/vpc-flow-logs",
        "aws-waf-logs-empi-local",
    ];
    for g in groups {
        let r = aws.logs.describe_log_groups().log_group_name_prefix(g).send().await.unwrap();
        let lg = r
            .log_groups()
            .iter()
            .find(|x| x.log_group_name() == Some(g))
            .unwrap_or_else(|| panic!("no log group {g}"));
        assert_eq!(lg.retention_in_days(), Some(7), "{g}");
        assert_eq!(lg.kms_key_id(), Some(key.as_str()), "{g}");
    }
    // the key lets CloudWatch Logs use it for exactly these groups
    let kp = aws.kms.get_key_policy().key_id(&key).policy_name("default").send().await.unwrap();
    let kp: Value = serde_json::from_str(kp.policy().unwrap()).unwrap();
    let logs = kp["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "CloudWatchLogs")
        .expect("a CloudWatchLogs statement");
    assert_eq!(logs["Principal"]["Service"], "logs.us-east-1.amazonaws.com");
    let arns =
        logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].as_array().unwrap();
    for g in groups {
        let arn = format!("arn:aws:logs:us-east-1:123456789012:log-group:{g}");
        assert!(
            arns.iter().any(|p| glob(p.as_str().unwrap(), &arn)),
            "{arn} is not covered by {arns:?}"
        );
    }

    // WAF: the web ACL logs to its log group
    let wl = aws
        .wafv2
        .get_logging_configuration()
        .resource_arn(out("edge.waf", "arn"))
        .send()
        .await
        .unwrap();
    let dest = wl.logging_configuration().unwrap().log_destination_configs();
    assert_eq!(dest, [out("audit.waf_log_group", "arn")]);

    // the log bucket: SSE-S3 (ALB access logs require it), TLS only, logs expire after the
    // retention; the data bucket's server access logs go to it
    let e = aws.s3.get_bucket_encryption().bucket(LOG_BUCKET).send().await.unwrap();
    let d = e.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .clone();
    assert_eq!(d.sse_algorithm().as_str(), "AES256");
    let p: Value = serde_json::from_str(
        aws.s3.get_bucket_policy().bucket(LOG_BUCKET).send().await.unwrap().policy().unwrap(),
    )
    .unwrap();
    let deny = p["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "DenyInsecureTransport")
        .expect("TLS only");
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let sids: Vec<&str> =
        p["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert!(sids.contains(&"CloudTrailWrite") && sids.contains(&"AlbAccessLogs"), "{sids:?}");
    let lc = aws.s3.get_bucket_lifecycle_configuration().bucket(LOG_BUCKET).send().await.unwrap();
    let rule = &lc.rules()[0];
    assert_eq!(rule.expiration().and_then(|x| x.days()), Some(7));
    assert_eq!(rule.noncurrent_version_expiration().and_then(|x| x.noncurrent_days()), Some(7));
    let lg = aws.s3.get_bucket_logging().bucket(DATA_BUCKET).send().await.unwrap();
    let le = lg.logging_enabled().expect("the data bucket's access logging");
    assert_eq!((le.target_bucket(), le.target_prefix()), (LOG_BUCKET, "s3-access/"));

    // CloudTrail (asked for by `cloudtrail = true`): every region, log file validation, logging
    let t = aws.cloudtrail.get_trail().name("empi-local-trail").send().await.unwrap();
    let t = t.trail().unwrap();
    assert_eq!(t.s3_bucket_name(), Some(LOG_BUCKET));
    assert_eq!(t.s3_key_prefix(), Some("cloudtrail"));
    assert_eq!(t.is_multi_region_trail(), Some(true));
    assert_eq!(t.log_file_validation_enabled(), Some(true));
    assert!(aws
        .cloudtrail
        .get_trail_status()
        .name("empi-local-trail")
        .send()
        .await
        .unwrap()
        .is_logging()
        .unwrap_or(false));

    // everything was read back as written
    let again = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "a second plan must be a no-op: {again:?}");

    // the baseline's audit rules pass on the live cloud (audit.log-retention aside: the local stack
    // keeps a week, which that rule fails; tests/it/security.rs holds the prod-like stack to a year)
    let c = w.run(&["check", "--json"]);
    let v: Value = serde_json::from_str(&c.stdout).unwrap_or_else(|e| panic!("{e}: {c:?}"));
    for rule in [
        "audit.cluster-logs",
        "audit.database-logs",
        "audit.database-connections-logged",
        "audit.vpc-flow-logs",
        "audit.load-balancer-access-logs",
        "audit.bucket-access-logs",
        "audit.waf-logs",
        "audit.cloudtrail",
        "encryption.log-groups",
    ] {
        let fs: Vec<&Value> = v["live"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .collect();
        assert!(!fs.is_empty(), "no live finding for {rule}");
        for f in fs {
            assert_eq!(f["status"], "pass", "{f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_cloudtrail_no_trail_is_made_and_the_bucket_policy_grants_cloudtrail_nothing() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    assert!(aws.cloudtrail.describe_trails().send().await.unwrap().trail_list().is_empty());
    let p: Value = serde_json::from_str(
        aws.s3.get_bucket_policy().bucket(LOG_BUCKET).send().await.unwrap().policy().unwrap(),
    )
    .unwrap();
    assert!(!p.to_string().contains("cloudtrail.amazonaws.com"), "{p}");
    assert!(w.state()["resources"].get("audit.trail").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_empties_the_log_bucket_when_asked_and_stops_at_once_when_s3_refuses_a_delete() {
    // stacks/local.toml sets force_destroy_logs = true; moto writes the data bucket's server
    // access logs into the log bucket, so it holds objects by the time destroy comes
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let count = || async {
        let v = aws.s3.list_object_versions().bucket(LOG_BUCKET).send().await.unwrap();
        v.versions().len() + v.delete_markers().len()
    };
    // one object of our own, in case the local cloud wrote none
    aws.s3
        .put_object()
        .bucket(LOG_BUCKET)
        .key("alb/AWSLogs/123456789012/test.log")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(count().await > 0);

    // a policy that denies deleting objects: DeleteObjects answers 200 with every key in its
    // Errors; destroy fails at once naming the bucket and S3's reason instead of listing forever
    let deny = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": format!("arn:aws:s3:::{LOG_BUCKET}/*")
    }]});
    aws.s3.put_bucket_policy().bucket(LOG_BUCKET).policy(deny.to_string()).send().await.unwrap();
    let started = std::time::Instant::now();
    let d = w.run(&["destroy", "--auto-approve"]);
    assert_eq!(d.code, 1, "{d:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "destroy took {:?}",
        started.elapsed()
    );
    assert!(
        d.stderr.contains(&format!("bucket {LOG_BUCKET} could not be emptied"))
            && d.stderr.contains("AccessDenied"),
        "{d:?}"
    );
    assert!(count().await > 0, "nothing was deleted");

    // apply restores the TLS-only policy; then destroy empties the bucket and deletes it
    w.ok(&["apply", "--auto-approve"]);
    w.ok(&["destroy", "--auto-approve"]);
    let buckets = aws.s3.list_buckets().send().await.unwrap();
    assert!(buckets.buckets().iter().all(|b| b.name() != Some(LOG_BUCKET)), "{buckets:?}");
    let groups = aws.logs.describe_log_groups().send().await.unwrap();
    assert!(groups.log_groups().is_empty(), "{groups:?}");
}

/// IAM's `ArnLike`: `*` matches any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            s.starts_with(head)
                && (0..=s.len() - head.len()).any(|i| glob(tail, &s[head.len() + i..]))
        }
    }
}
