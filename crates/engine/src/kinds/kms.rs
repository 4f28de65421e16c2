//! Security kinds: the stack's customer-managed KMS key, which encrypts the cluster's Kubernetes
//! secrets, the database (storage and Performance Insights), the config secret and the bucket.

use super::MIN;
use crate::resource::Propagation;
use crate::{iam, kind};

kind! {
    /// The stack's customer-managed key: symmetric, rotated every year by KMS, its key policy
    /// scoped to the account and the services and roles that use it, and its alias
    /// (`alias/<stack>`). Destroy removes the alias and schedules the key's deletion after
    /// `deletion_window_in_days` (KMS deletes no key at once).
    Key, KEY = "aws_kms_key" {
        description: Str,
        enable_key_rotation: Bool,
        policy: Object [policy],
        alias: Str,
        deletion_window_in_days: Int [write_only],
        tags: Tags,
    }
    optional {
        // another region than the stack's (the database's backup replica's key)
        region: Str [force_new],
    }
    outputs: [id, arn, key_id, alias_arn],
    schema: .stateful().typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags"],
        create: ["kms:CreateKey", "kms:EnableKeyRotation", "kms:CreateAlias", "kms:TagResource"],
        update: [
            "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:UpdateKeyDescription", "kms:CreateAlias",
            "kms:UpdateAlias", "kms:DeleteAlias", "kms:TagResource", "kms:UntagResource",
        ],
        delete: ["kms:DeleteAlias", "kms:ScheduleKeyDeletion"],
    })
    // a key policy naming a role IAM has not propagated yet (terraform-provider-aws
    // internal/service/kms/key.go retries CreateKey and PutKeyPolicy on this for 2 minutes)
    .propagation(&[Propagation {
        code: "MalformedPolicyDocumentException",
        message: "invalid principals",
        waiting_for: "IAM role not yet visible to KMS",
    }]),
}
