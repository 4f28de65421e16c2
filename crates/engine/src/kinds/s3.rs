//! Storage kinds: the S3 bucket for imports and exports.

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
    outputs: [id, name, arn],
    schema: .stateful().typical(3).timeouts(20 * MIN, 20 * MIN, 60 * MIN).iam(iam! {
        read: [
            "s3:ListBucket", "s3:GetEncryptionConfiguration", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
            "s3:GetBucketTagging",
        ],
        create: [
            "s3:CreateBucket", "s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning",
            "s3:PutBucketTagging",
        ],
        update: ["s3:PutEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutBucketTagging"],
        delete: ["s3:ListBucketVersions", "s3:DeleteBucket"],
    }),
}
