//! Storage kinds: the S3 buckets (imports and exports; the stack's log bucket).

use super::MIN;
use crate::{iam, kind};

kind! {
    /// A bucket: versioned, encrypted (SSE-KMS with a bucket key, or SSE-S3), public access
    /// blocked, TLS only (its bucket policy), old versions expired (its lifecycle). The import and
    /// export bucket, and the stack's log bucket (SSE-S3: ALB access logs cannot be delivered to
    /// an SSE-KMS bucket; its objects expire after the stack's log retention).
    Bucket, BUCKET = "aws_s3_bucket" {
        versioning: Bool,
        // "aws:kms" (with `kms_key_arn`) or "AES256" (with `kms_key_arn` empty)
        encryption: Str,
        kms_key_arn: Str,
        bucket_key: Bool,
        block_public_access: Bool,
        // TLS only, and (the log bucket's) the log delivery services' writes
        policy: Object [policy],
        // days a version stays once replaced or deleted; days before an unfinished upload is aborted
        noncurrent_version_expiration_days: Int,
        abort_incomplete_multipart_upload_days: Int,
        tags: Tags,
    }
    optional {
        // current objects expire this many days after they are written (the log bucket's retention)
        expiration_days: Int,
        // server access logs go to this bucket, under `access_log_prefix`
        access_log_bucket: Str,
        access_log_prefix: Str,
        // destroy empties the bucket (every version) first; without it, a bucket holding objects is kept
        force_destroy: Bool,
    }
    outputs: [id, name, arn],
    schema: .stateful().typical(3).timeouts(20 * MIN, 20 * MIN, 60 * MIN).iam(iam! {
        read: [
            "s3:ListBucket", "s3:GetEncryptionConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
            "s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:GetLifecycleConfiguration", "s3:GetBucketLogging",
        ],
        create: [
            "s3:CreateBucket", "s3:TagResource", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning",
            "s3:PutBucketTagging", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketLogging",
        ],
        update: [
            "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutBucketTagging",
            "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketLogging",
        ],
        delete: ["s3:ListBucketVersions", "s3:DeleteBucket", "s3:DeleteObject", "s3:DeleteObjectVersion"],
    }),
}
