//! The stack's S3 bucket.

use super::*;
use crate::kinds::s3;

/// Days a replaced or deleted version of an import/export file is kept in the versioned bucket
/// before S3 expires it: long enough to recover a mistaken overwrite or delete, short enough
/// that deleted PHI does not stay forever. Fixed, not the stack's log retention: these are
/// working files, the database is the system of record.
pub const NONCURRENT_VERSION_DAYS: u32 = 90;

/// Days after which S3 aborts an unfinished multipart upload (and drops its parts).
pub const ABORT_MULTIPART_DAYS: u32 = 7;

/// The S3 bucket's name: global, so it carries the account id.
pub fn bucket_name(stack: &Stack, account: &str) -> String {
    format!("{}-data-{account}", stack.name)
}

pub(super) fn storage_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let bucket = bucket_name(stack, account);
    let arn = format!("arn:{}:s3:::{bucket}", crate::arn::partition_of(&stack.region));
    // TLS only: any request over plain HTTP is denied, whoever makes it
    let tls_only = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    });
    out.push(
        s3::Bucket {
            versioning: true.into(),
            encryption: "aws:kms".into(),
            kms_key_arn: kms_key_arn(stack),
            bucket_key: true.into(),
            block_public_access: true.into(),
            policy: Expr::lit(tls_only),
            noncurrent_version_expiration_days: NONCURRENT_VERSION_DAYS.into(),
            abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS.into(),
            tags: tags(stack, "storage.bucket", &bucket),
            expiration_days: None,
            access_log_bucket: Some(r("audit.log_bucket", "id")),
            access_log_prefix: Some(S3_ACCESS_LOG_PREFIX.into()),
            force_destroy: None,
        }
        .spec("storage.bucket", &bucket),
    );
}
