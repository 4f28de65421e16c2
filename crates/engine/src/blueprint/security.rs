//! The stack's KMS key and its key policy.

use super::*;
use crate::kinds::kms;

/// The address of the stack's own KMS key (absent when the stack brings one).
pub const KMS_KEY: &str = "security.kms_key";

/// Days KMS waits before it deletes the stack's key after `destroy`: AWS's maximum (and its
/// default). Destroy leaves a final database snapshot encrypted with this key, readable only
/// while the key exists; the longest window gives the most time to keep it (`CancelKeyDeletion`).
pub const KMS_DELETION_WINDOW_DAYS: u32 = 30;

/// The ARN of the key that encrypts the stack: the one it brings (`[security] kms_key_arn`) or
/// its own (`security.kms_key`). Whatever else should be encrypted with the stack's key (log
/// groups' `kms_key_id`) takes it from here.
pub fn kms_key_arn(stack: &Stack) -> Expr {
    match &stack.security.kms_key_arn {
        Some(arn) => Expr::lit(arn.as_str()),
        None => r(KMS_KEY, "arn"),
    }
}

/// The key policy of the stack's own key: the account (so IAM policies, such as the operator's,
/// govern its use and administration: KMS's default), the account's principals through the
/// services that encrypt the stack's data, the cluster role (EKS encrypts Kubernetes secrets
/// with it), and CloudWatch Logs for the stack's log groups only.
pub(super) fn key_policy(stack: &Stack, account: &str) -> Expr {
    let (p, region) = (crate::arn::partition_of(&stack.region), &stack.region);
    let via: Vec<String> = ["eks", "rds", "secretsmanager", "s3"]
        .iter()
        .map(|s| format!("{s}.{region}.amazonaws.com"))
        .collect();
    let usage =
        ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"];
    let head = json!([
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{p}:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        },
        {
            "Sid": "StackServices",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{p}:iam::{account}:root")},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}}
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": format!("logs.{region}.amazonaws.com")},
            "Action": usage,
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns(stack, account)}}
        }
    ]);
    let Value::Array(head) = head else { unreachable!() };
    let mut statements: Vec<Expr> = head.into_iter().map(Expr::lit).collect();
    statements.insert(
        2,
        obj(vec![
            ("Sid", s("ClusterSecrets")),
            ("Effect", s("Allow")),
            ("Principal", obj(vec![("AWS", r("iam.cluster_role", "arn"))])),
            (
                "Action",
                strings(&["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"]),
            ),
            ("Resource", s("*")),
        ]),
    );
    obj(vec![("Version", s("2012-10-17")), ("Statement", list(statements))])
}

/// The stack's customer-managed KMS key, unless it brings one.
pub(super) fn security_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    if stack.security.kms_key_arn.is_some() {
        return;
    }
    let n = &stack.name;
    out.push(
        kms::Key {
            description: format!(
                "Encrypts Tuva EMPI stack {n}: Kubernetes secrets, database, config secret, bucket, logs (managed by empi-infra)"
            )
            .into(),
            enable_key_rotation: true.into(),
            policy: key_policy(stack, account),
            alias: format!("alias/{n}").into(),
            deletion_window_in_days: KMS_DELETION_WINDOW_DAYS.into(),
            tags: tags(stack, KMS_KEY, n),
            region: None,
        }
        .spec(KMS_KEY, n),
    );
}
