//! Storage kinds: the S3 buckets (imports and exports; the stack's log bucket).

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The bucket: versioned, encrypted, public access blocked.
    Bucket, BUCKET = "aws_s3_bucket" {
        versioning: Bool,
        encryption: Str,
        block_public_access: Bool,
        tags: Tags,
    }
    optional {
        // the bucket policy (the log bucket's: TLS only, and the log delivery services' writes)
        policy: Object [policy],
        // current and noncurrent objects expire this many days after they are written
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
            "s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning",
            "s3:PutBucketTagging", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketLogging",
        ],
        update: [
            "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutBucketTagging",
            "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketLogging",
        ],
        delete: ["s3:ListBucketVersions", "s3:DeleteBucket", "s3:DeleteObject", "s3:DeleteObjectVersion"],
    }),
}
