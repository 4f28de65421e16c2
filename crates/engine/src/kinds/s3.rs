//! Storage kinds: the S3 bucket for imports and exports.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The bucket: versioned, encrypted (SSE-KMS with a bucket key, or SSE-S3), public access
    /// blocked, TLS only (its bucket policy), old versions expired (its lifecycle).
    Bucket, BUCKET = "aws_s3_bucket" {
        versioning: Bool,
        // "aws:kms" (with `kms_key_arn`) or "AES256"
        encryption: Str,
        kms_key_arn: Str,
        bucket_key: Bool,
        block_public_access: Bool,
        policy: Object [policy],
        // days a version stays once replaced or deleted; days before an unfinished upload is aborted
        noncurrent_version_expiration_days: Int,
        abort_incomplete_multipart_upload_days: Int,
        tags: Tags,
    }
    outputs: [id, name, arn],
    schema: .stateful().typical(3).timeouts(20 * MIN, 20 * MIN, 60 * MIN).iam(iam! {
        read: [
            "s3:ListBucket", "s3:GetEncryptionConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
            "s3:GetBucketTagging", "s3:GetBucketPolicy", "s3:GetLifecycleConfiguration",
        ],
        create: [
            "s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning",
            "s3:PutBucketTagging", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration",
        ],
        update: [
            "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutBucketTagging",
            "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration",
        ],
        delete: ["s3:ListBucketVersions", "s3:DeleteBucket"],
    }),
}
