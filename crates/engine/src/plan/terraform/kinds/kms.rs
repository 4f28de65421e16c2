//! The KMS kinds of `crate::kinds::kms` in Terraform.

use super::*;

/// The key and its alias (Terraform's `aws_kms_alias`, whose target is the key's id).
pub(super) fn kms_key(s: &Src) -> Vec<TfResource> {
    // a key of another region (provider 6's per-resource `region`)
    let region: Vec<(&str, TfValue)> =
        if s.inputs.contains_key("region") { vec![("region", s.get("region"))] } else { vec![] };
    let mut key = vec![
        ("description", s.get("description")),
        ("key_usage", lit("ENCRYPT_DECRYPT")),
        ("customer_master_key_spec", lit("SYMMETRIC_DEFAULT")),
        ("is_enabled", lit(true)),
        ("enable_key_rotation", s.get("enable_key_rotation")),
        ("deletion_window_in_days", s.get("deletion_window_in_days")),
        ("policy", TfValue::Json(Box::new(s.get("policy")))),
        tags(s),
    ];
    key.extend(region.iter().cloned());
    let mut alias = vec![
        ("name", s.get("alias")),
        ("target_key_id", TfValue::Own("key_id", Box::new(lit(UNKNOWN)))),
    ];
    alias.extend(region);
    vec![one("aws_kms_key", key), one("aws_kms_alias", alias)]
}
