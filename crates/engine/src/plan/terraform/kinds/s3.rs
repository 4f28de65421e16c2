//! The S3 kinds of `crate::kinds::s3` in Terraform.

use super::*;

/// The bucket and the resources Terraform splits its settings into (logging only where the
/// bucket has it).
pub(super) fn bucket(s: &Src) -> Vec<TfResource> {
    let bucket = || TfValue::Own("id", Box::new(s.name()));
    let status: fn(&Value) -> Value =
        |v| json!(if v.as_bool() == Some(true) { "Enabled" } else { "Suspended" });
    // an SSE-S3 bucket names no key
    let key: fn(&Value) -> Value = |v| if v.as_str() == Some("") { Value::Null } else { v.clone() };
    let block_public = s.get("block_public_access");
    let mut rule = vec![
        ("id", lit("expire-noncurrent-versions")),
        ("status", lit("Enabled")),
        ("filter", block(vec![("prefix", lit(""))])),
    ];
    if s.inputs.contains_key("expiration_days") {
        rule.push(("expiration", block(vec![("days", s.get("expiration_days"))])));
    }
    rule.push((
        "noncurrent_version_expiration",
        block(vec![("noncurrent_days", s.get("noncurrent_version_expiration_days"))]),
    ));
    rule.push((
        "abort_incomplete_multipart_upload",
        block(vec![("days_after_initiation", s.get("abort_incomplete_multipart_upload_days"))]),
    ));
    let mut v = vec![
        one(
            "aws_s3_bucket",
            vec![
                ("bucket", s.name()),
                (
                    "force_destroy",
                    if s.inputs.contains_key("force_destroy") {
                        s.get("force_destroy")
                    } else {
                        lit(false)
                    },
                ),
                tags(s),
            ],
        ),
        one(
            "aws_s3_bucket_versioning",
            vec![
                ("bucket", bucket()),
                (
                    "versioning_configuration",
                    block(vec![("status", TfValue::Fn(Box::new(s.get("versioning")), status))]),
                ),
            ],
        ),
        one(
            "aws_s3_bucket_server_side_encryption_configuration",
            vec![
                ("bucket", bucket()),
                (
                    "rule",
                    block(vec![
                        (
                            "apply_server_side_encryption_by_default",
                            block(vec![
                                ("sse_algorithm", s.get("encryption")),
                                (
                                    "kms_master_key_id",
                                    TfValue::Fn(Box::new(s.get("kms_key_arn")), key),
                                ),
                            ]),
                        ),
                        ("bucket_key_enabled", s.get("bucket_key")),
                    ]),
                ),
            ],
        ),
        one(
            "aws_s3_bucket_public_access_block",
            vec![
                ("bucket", bucket()),
                ("block_public_acls", block_public.clone()),
                ("block_public_policy", block_public.clone()),
                ("ignore_public_acls", block_public.clone()),
                ("restrict_public_buckets", block_public),
            ],
        ),
        one(
            "aws_s3_bucket_policy",
            vec![("bucket", bucket()), ("policy", TfValue::Json(Box::new(s.get("policy"))))],
        ),
        one(
            "aws_s3_bucket_lifecycle_configuration",
            vec![("bucket", bucket()), ("rule", block(rule))],
        ),
    ];
    if s.inputs.contains_key("access_log_bucket") {
        v.push(one(
            "aws_s3_bucket_logging",
            vec![
                ("bucket", bucket()),
                ("target_bucket", s.get("access_log_bucket")),
                ("target_prefix", s.get("access_log_prefix")),
            ],
        ));
    }
    v
}
