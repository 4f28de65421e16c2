//! Config kinds: the Secrets Manager secret that holds the Tuva EMPI backend configuration, and its
//! value (the document, with the generated secrets kept only in the cloud).

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The config secret.
    Secret, SECRET = "aws_secretsmanager_secret" {
        description: Str,
        kms_key_id: Str,
        tags: Tags,
    }
    outputs: [id, arn, name],
    schema: .stateful().typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["secretsmanager:DescribeSecret"],
        // the generated values are written (and, for a restored secret, read) under the stack's key
        create: [
            "secretsmanager:CreateSecret", "secretsmanager:RestoreSecret", "secretsmanager:TagResource", "kms:GenerateDataKey", "kms:Decrypt",
        ],
        // a new key re-encrypts the secret's current versions
        update: [
            "secretsmanager:UpdateSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource", "kms:GenerateDataKey", "kms:Decrypt",
        ],
        delete: ["secretsmanager:DeleteSecret"],
    }),
}

kind! {
    /// The config document stored in the secret (generated secrets stay as they are in the cloud).
    SecretValue, SECRET_VALUE = "aws_secretsmanager_secret_value" {
        secret_id: Str [force_new],
        document: Object,
    }
    optional {
        // values copied into the document from the user's own secrets: JSON pointer → secret ARN
        copied_secrets: Object,
    }
    outputs: [id, arn],
    schema: .typical(1).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["secretsmanager:GetSecretValue", "kms:Decrypt"],
        create: ["secretsmanager:PutSecretValue", "kms:GenerateDataKey"],
        update: ["secretsmanager:PutSecretValue", "kms:GenerateDataKey"],
        delete: ["secretsmanager:PutSecretValue"],
    }),
}
