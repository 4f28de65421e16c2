//! Audit: the log bucket, log groups, the ALB's and S3's access logs, and the optional CloudTrail.

use super::*;
use crate::kinds::{iam, logs, s3, waf};

/// The CloudWatch log groups the stack's key may encrypt (the key policy's encryption-context
/// condition for the CloudWatch Logs service): EKS's control-plane group, RDS's PostgreSQL
/// export groups (and those of instances `db restore` switched to), WAF's (AWS requires the `aws-waf-logs-` prefix), and the stack's own under
/// `/empi-infra/<name>/`.
pub fn log_group_arns(stack: &Stack, account: &str) -> Vec<String> {
    let (p, region, n) = (crate::arn::partition_of(&stack.region), &stack.region, &stack.name);
    let group = |name: String| format!("arn:{p}:logs:{region}:{account}:log-group:{name}");
    let mut groups = vec![
        group(format!("/aws/eks/{n}/cluster")),
        group(format!("/aws/rds/instance/{n}-db/*")),
        group(format!("aws-waf-logs-{n}*")),
        group(format!("/empi-infra/{n}/*")),
    ];
    // once `db restore` switched to a restored instance: its group, and those of earlier restores,
    // whose logs (kept for their retention) must stay readable
    if !stack.database.restored_identifier.is_empty() {
        groups
            .insert(2, group(format!("/aws/rds/instance/{n}{}*", super::database::RESTORED_INFIX)));
    }
    groups
}

/// Key prefixes in the log bucket: ALB access logs, the storage bucket's server access logs, the trail.
pub const ALB_LOG_PREFIX: &str = "alb";

pub const S3_ACCESS_LOG_PREFIX: &str = "s3-access/";

pub const TRAIL_LOG_PREFIX: &str = "cloudtrail";

/// PostgreSQL logs RDS publishes to CloudWatch Logs (the server log: connections, disconnections,
/// errors; `upgrade` is only written during major version upgrades).
pub const DB_LOG_EXPORTS: &[&str] = &["postgresql"];

/// The log bucket's name: global, so it carries the account id.
pub fn log_bucket_name(stack: &Stack, account: &str) -> String {
    format!("{}-logs-{account}", stack.name)
}

/// The CloudWatch log groups of the stack: (address, name). Each service writes to a group of a
/// name it decides (EKS, RDS) or that we give it (flow logs; WAF's must start `aws-waf-logs-`).
pub fn log_groups(stack: &Stack) -> Vec<(&'static str, String)> {
    let n = &stack.name;
    let mut v = vec![
        ("audit.eks_log_group", format!("/aws/eks/{n}/cluster")),
        (
            "audit.database_log_group",
            format!("/aws/rds/instance/{}/postgresql", stack.database_identifier()),
        ),
        ("audit.flow_log_group", format!("/empi-infra/{n}/vpc-flow-logs")),
    ];
    if stack.edge.waf {
        v.push(("audit.waf_log_group", format!("aws-waf-logs-{n}")));
    }
    v
}

/// The Elastic Load Balancing account that writes ALB access logs in the regions opened before
/// August 2022 (Elastic Load Balancing User Guide, "Enable access logs for your Application Load
/// Balancer", step 2). Regions opened since accept only the log delivery service principal
/// `logdelivery.elasticloadbalancing.amazonaws.com`, which the policy always grants as well.
pub fn elb_log_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "127311923021",
        "us-east-2" => "033677994240",
        "us-west-1" => "027434742980",
        "us-west-2" => "797873946194",
        "af-south-1" => "098369216593",
        "ap-east-1" => "754344448648",
        "ap-south-1" => "718504428378",
        "ap-northeast-1" => "582318560864",
        "ap-northeast-2" => "600734575887",
        "ap-northeast-3" => "383597477331",
        "ap-southeast-1" => "114774131450",
        "ap-southeast-2" => "783225319266",
        "ca-central-1" => "985666609251",
        "eu-central-1" => "054676820928",
        "eu-west-1" => "156460612806",
        "eu-west-2" => "652711504416",
        "eu-west-3" => "009996457667",
        "eu-south-1" => "635631232127",
        "eu-north-1" => "897822967062",
        "me-south-1" => "076674570225",
        "sa-east-1" => "507241528517",
        _ => return None,
    })
}

/// The trail's name and ARN (known before it exists: the log bucket's policy names it).
pub fn trail(stack: &Stack, account: &str) -> (String, String) {
    let name = format!("{}-trail", stack.name);
    let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{name}", stack.region);
    (name, arn)
}

/// The log bucket's policy: TLS only, and writes by the services that deliver logs to it, each
/// to its own prefix and (where AWS supports the condition) only for this account's resources.
pub fn log_bucket_policy(stack: &Stack, account: &str) -> Value {
    let bucket = log_bucket_name(stack, account);
    let arn = format!("arn:aws:s3:::{bucket}");
    let alb_logs = format!("{arn}/{ALB_LOG_PREFIX}/AWSLogs/{account}/*");
    let mut statements = vec![
        json!({
            // `{"AWS": "*"}` is IAM's spelling of every principal, as `"*"` is (moto 5.2.5's bucket
            // logging check fails on a bare `"*"`)
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": [arn, format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "AlbAccessLogs", "Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": alb_logs
        }),
    ];
    if let Some(elb) = elb_log_account(&stack.region) {
        statements.push(json!({
            "Sid": "AlbAccessLogsRegionalAccount", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{elb}:root")},
            "Action": "s3:PutObject", "Resource": alb_logs
        }));
    }
    statements.push(json!({
        "Sid": "S3ServerAccessLogs", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": format!("{arn}/{S3_ACCESS_LOG_PREFIX}*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{}", bucket_name(stack, account))},
            "StringEquals": {"aws:SourceAccount": account}
        }
    }));
    if stack.security.cloudtrail {
        let (_, trail_arn) = trail(stack, account);
        statements.push(json!({
            "Sid": "CloudTrailAclCheck", "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl", "Resource": arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
        }));
        statements.push(json!({
            "Sid": "CloudTrailWrite", "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": format!("{arn}/{TRAIL_LOG_PREFIX}/AWSLogs/{account}/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}}
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// Audit controls: the log groups (before the services that write to them), the VPC flow log and
/// its role, the log bucket, WAF logging and the optional trail.
pub(super) fn audit_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let days = stack.security.log_retention_days;
    for (addr, name) in log_groups(stack) {
        out.push(
            logs::LogGroup {
                retention_in_days: days.into(),
                tags: tags(stack, addr, &name),
                // the stack's key: its policy lets CloudWatch Logs use it for these groups only
                // (`log_group_arns`, the `kms:EncryptionContext:aws:logs:arn` condition)
                kms_key_id: Some(kms_key_arn(stack)),
                force_destroy: Some(stack.security.force_destroy_logs.into()),
            }
            .spec(addr, &name),
        );
    }
    let role = format!("{n}-vpc-flow-logs");
    let (_, flow_group) = log_groups(stack)
        .into_iter()
        .find(|(a, _)| *a == "audit.flow_log_group")
        .expect("flow log group");
    let region = &stack.region;
    let group_arn = format!("arn:aws:logs:{region}:{account}:log-group:{flow_group}");
    out.push(
        iam::Role {
            // the flow-logs service, only for this account's flow logs (AWS's confused-deputy guidance)
            assume_role_policy: Expr::lit(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": format!("arn:aws:ec2:{region}:{account}:vpc-flow-log/*")}
                    }
                }]
            })),
            managed_policy_arns: Expr::lit(json!([])),
            inline_policies: Expr::lit(json!({"flow-logs": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Deliver", "Effect": "Allow",
                     "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                     "Resource": [group_arn.clone(), format!("{group_arn}:*")]},
                    {"Sid": "FindGroup", "Effect": "Allow", "Action": "logs:DescribeLogGroups",
                     "Resource": format!("arn:aws:logs:{region}:{account}:log-group:*")}
                ]
            }})),
            tags: tags(stack, "audit.flow_log_role", &role),
        }
        .spec("audit.flow_log_role", &role),
    );
    let flow = format!("{n}-vpc");
    out.push(
        logs::FlowLog {
            vpc_id: r("network.vpc", "id"),
            traffic_type: "ALL".into(),
            log_destination: r("audit.flow_log_group", "arn"),
            iam_role_arn: r("audit.flow_log_role", "arn"),
            tags: tags(stack, "audit.flow_log", &flow),
        }
        .spec("audit.flow_log", &flow),
    );
    let bucket = log_bucket_name(stack, account);
    out.push(
        s3::Bucket {
            versioning: true.into(),
            // ALB access logs can only be delivered to a bucket encrypted with SSE-S3 (Elastic
            // Load Balancing User Guide, "Access logs for your Application Load Balancer": SSE-KMS
            // is not supported for the access logs bucket), so this bucket is not under the stack's key
            encryption: "AES256".into(),
            kms_key_arn: "".into(),
            bucket_key: false.into(),
            block_public_access: true.into(),
            // TLS only, and the log delivery services' writes
            policy: Expr::lit(log_bucket_policy(stack, account)),
            // a log and its replaced versions are kept the stack's retention, then expire
            noncurrent_version_expiration_days: days.into(),
            abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS.into(),
            tags: tags(stack, "audit.log_bucket", &bucket),
            expiration_days: Some(days.into()),
            access_log_bucket: None,
            access_log_prefix: None,
            force_destroy: Some(stack.security.force_destroy_logs.into()),
        }
        .spec("audit.log_bucket", &bucket),
    );
    if stack.edge.waf {
        out.push(
            waf::WebAclLogging {
                resource_arn: r("edge.waf", "arn"),
                log_destination_arn: r("audit.waf_log_group", "arn"),
            }
            .spec("audit.waf_logging", &format!("{n}-waf")),
        );
    }
    if stack.security.cloudtrail {
        let (name, _) = trail(stack, account);
        out.push(
            logs::Trail {
                s3_bucket_name: r("audit.log_bucket", "id"),
                s3_key_prefix: TRAIL_LOG_PREFIX.into(),
                is_multi_region_trail: true.into(),
                include_global_service_events: true.into(),
                enable_log_file_validation: true.into(),
                enable_logging: true.into(),
                tags: tags(stack, "audit.trail", &name),
                // the stack's KMS key (issue #16, its own part) is wired here
                kms_key_id: None,
            }
            .spec("audit.trail", &name),
        );
    }
}
