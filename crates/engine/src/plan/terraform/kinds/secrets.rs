//! The Secrets Manager kinds of `crate::kinds::secrets` in Terraform.

use super::*;

pub(super) fn secret(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_secretsmanager_secret",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("kms_key_id", s.get("kms_key_id")),
            // what destroy asks for (DeleteSecret's RecoveryWindowInDays)
            ("recovery_window_in_days", lit(7)),
            tags(s),
        ],
    )]
}

/// The config document: a secret as a whole (it holds the generated database password and
/// Django key), so `secret_string` never has a value here.
pub(super) fn secret_version(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_secretsmanager_secret_version",
        vec![("secret_id", s.get("secret_id")), ("secret_string", TfValue::Sensitive)],
    )]
}
