//! Storage: the S3 buckets — Tuva EMPI's imports and exports (SSE-KMS with the stack's key and a
//! bucket key) and the stack's log bucket (SSE-S3, as ALB access logs require) — public access
//! blocked, versioned, TLS only (bucket policy), old versions expired and, for logs, objects too
//! (lifecycle), server access logging where the spec asks. A bucket that still holds objects is
//! never deleted unless its spec says `force_destroy`.

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketLoggingStatus, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, LoggingEnabled,
    NoncurrentVersionExpiration, ObjectIdentifier, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use empi_engine::kinds;
use empi_engine::kinds::s3::BUCKET;
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, AwsError, AwsKind, AwsResult, Tags};
use super::{attrs, input_bool, input_i32, input_str, tags, tags_value, Clients};

/// The id of the bucket's one lifecycle rule.
const LIFECYCLE_RULE: &str = "expire-noncurrent-versions";

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, Bucket { s3: c.s3.clone(), region: c.region.clone() });
}

pub struct Bucket {
    s3: Client,
    region: String,
}

/// `None` when the call failed with `code` (a setting the bucket does not have).
fn unless<T>(r: Result<T, impl Into<AwsError>>, code: &str) -> AwsResult<Option<T>> {
    match r.map_err(Into::into) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code() == Some(code) => Ok(None),
        Err(e) => Err(e),
    }
}

fn builder_err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(e.to_string())
}

impl Bucket {
    /// Whether the bucket exists: HeadBucket answers a bare 404 for a missing bucket.
    async fn exists(&self, name: &str) -> AwsResult<bool> {
        match self.s3.head_bucket().bucket(name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(false),
            Err(e) => {
                let e = AwsError::from(e);
                if e.code().is_some_and(|c| Self::NOT_FOUND.contains(&c)) {
                    return Ok(false);
                }
                Err(e)
            }
        }
    }

    /// Sets encryption, public access block and versioning (those in `changed`, or all).
    async fn configure(&self, name: &str, a: &Attrs, changed: Option<&[String]>) -> AwsResult<()> {
        let want = |k: &str| changed.is_none_or(|c| c.iter().any(|x| x == k));
        if want("encryption") || want("kms_key_arn") || want("bucket_key") {
            let key = Some(input_str(a, kinds::s3::Bucket::kms_key_arn))
                .filter(|k| !k.is_empty())
                .map(String::from);
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(input_str(
                    a,
                    kinds::s3::Bucket::encryption,
                )))
                .set_kms_master_key_id(key)
                .build()
                .map_err(builder_err)?;
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .bucket_key_enabled(input_bool(a, kinds::s3::Bucket::bucket_key))
                .build();
            let conf = ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(builder_err)?;
            self.s3
                .put_bucket_encryption()
                .bucket(name)
                .server_side_encryption_configuration(conf)
                .send()
                .await?;
        }
        if want("block_public_access") {
            let on = input_bool(a, kinds::s3::Bucket::block_public_access);
            let conf = PublicAccessBlockConfiguration::builder()
                .block_public_acls(on)
                .ignore_public_acls(on)
                .block_public_policy(on)
                .restrict_public_buckets(on)
                .build();
            self.s3
                .put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(conf)
                .send()
                .await?;
        }
        if want("versioning") {
            let status = if input_bool(a, kinds::s3::Bucket::versioning) {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            let conf = VersioningConfiguration::builder().status(status).build();
            self.s3
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(conf)
                .send()
                .await?;
        }
        if want("policy") {
            let policy = serde_json::to_string(&a["policy"]).unwrap_or_default();
            self.s3.put_bucket_policy().bucket(name).policy(policy).send().await?;
        }
        if want("noncurrent_version_expiration_days")
            || want("abort_incomplete_multipart_upload_days")
            || want("expiration_days")
        {
            // current objects expire only where the spec says (the log bucket's retention)
            let expiration = a
                .get("expiration_days")
                .and_then(Value::as_i64)
                .map(|d| LifecycleExpiration::builder().days(d as i32).build());
            let rule = LifecycleRule::builder()
                .id(LIFECYCLE_RULE)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .set_expiration(expiration)
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(input_i32(
                            a,
                            kinds::s3::Bucket::noncurrent_version_expiration_days,
                        ))
                        .build(),
                )
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(input_i32(
                            a,
                            "abort_incomplete_multipart_upload_days",
                        ))
                        .build(),
                )
                .build()
                .map_err(builder_err)?;
            let conf =
                BucketLifecycleConfiguration::builder().rules(rule).build().map_err(builder_err)?;
            self.s3
                .put_bucket_lifecycle_configuration()
                .bucket(name)
                .lifecycle_configuration(conf)
                .send()
                .await?;
        }
        if let (true, Some(target)) = (
            want("access_log_bucket") || want("access_log_prefix"),
            a.get("access_log_bucket").and_then(Value::as_str),
        ) {
            let enabled = LoggingEnabled::builder()
                .target_bucket(target)
                .target_prefix(input_str(a, kinds::s3::Bucket::access_log_prefix))
                .build()
                .map_err(builder_err)?;
            let status = BucketLoggingStatus::builder().logging_enabled(enabled).build();
            self.s3.put_bucket_logging().bucket(name).bucket_logging_status(status).send().await.map_err(|e| {
                AwsError::from(e).explain("InvalidTargetBucketForLogging", || {
                    format!("bucket {name} cannot send its access logs to {target}: the log bucket's policy must let logging.s3.amazonaws.com put objects under {}", input_str(a, kinds::s3::Bucket::access_log_prefix))
                })
            })?;
        }
        Ok(())
    }

    /// Deletes every object version and delete marker (a `force_destroy` bucket's destroy).
    /// DeleteObjects answers 200 even when it deleted nothing: each key it could not delete (a
    /// policy that denies it, object lock) is in its `Errors`, which end the emptying at once:
    /// listing the same objects again would never finish.
    async fn empty(&self, name: &str) -> AwsResult<()> {
        loop {
            let page = self.s3.list_object_versions().bucket(name).max_keys(1000).send().await?;
            let ids: Vec<ObjectIdentifier> = page
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(page.delete_markers().iter().map(|m| (m.key(), m.version_id())))
                .filter_map(|(k, v)| {
                    ObjectIdentifier::builder()
                        .key(k?)
                        .set_version_id(v.map(String::from))
                        .build()
                        .ok()
                })
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(builder_err)?;
            let r = self.s3.delete_objects().bucket(name).delete(delete).send().await?;
            if let Some(e) = r.errors().first() {
                return Err(ProviderError::coded(
                    e.code().unwrap_or("DeleteObjectsFailed"),
                    format!(
                        "bucket {name} could not be emptied: {} object version(s) were not deleted, e.g. {} ({}: {}); check the bucket policy and object lock, then run `empi-infra destroy` again",
                        r.errors().len(),
                        e.key().unwrap_or_default(),
                        e.code().unwrap_or_default(),
                        e.message().unwrap_or_default()
                    ),
                )
                .into());
            }
        }
    }

    /// Sets the bucket's whole tag set to `a`'s tags.
    async fn put_tags(&self, name: &str, a: &Attrs) -> AwsResult<()> {
        let t: Vec<Tag> = tags(a)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag"))
            .collect();
        let tagging = Tagging::builder().set_tag_set(Some(t)).build().map_err(builder_err)?;
        done(self.s3.put_bucket_tagging().bucket(name).tagging(tagging).send()).await
    }
}

#[async_trait]
impl AwsKind for Bucket {
    const SCHEMA: &'static Schema = &BUCKET;
    const NOT_FOUND: &'static [&'static str] = &["NoSuchBucket", "NotFound"];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.exists(name).await?.then(|| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        if !self.exists(id).await? {
            return Ok(None);
        }
        let enc = unless(
            self.s3.get_bucket_encryption().bucket(id).send().await,
            "ServerSideEncryptionConfigurationNotFoundError",
        )?;
        let rule = enc
            .as_ref()
            .and_then(|r| r.server_side_encryption_configuration())
            .and_then(|c| c.rules().first());
        let by_default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
        let sse = by_default.map(|d| d.sse_algorithm().as_str().to_string());
        let key = by_default.and_then(|d| d.kms_master_key_id()).unwrap_or_default().to_string();
        let bucket_key = rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false);
        let policy =
            unless(self.s3.get_bucket_policy().bucket(id).send().await, "NoSuchBucketPolicy")?
                .and_then(|r| {
                    r.policy().and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
                })
                .unwrap_or(serde_json::Value::Null);
        let lifecycle = unless(
            self.s3.get_bucket_lifecycle_configuration().bucket(id).send().await,
            "NoSuchLifecycleConfiguration",
        )?;
        let rule = lifecycle.as_ref().and_then(|l| {
            l.rules().iter().find(|r| {
                r.id() == Some(LIFECYCLE_RULE) && r.status() == &ExpirationStatus::Enabled
            })
        });
        let noncurrent_days =
            rule.and_then(|r| r.noncurrent_version_expiration()).and_then(|e| e.noncurrent_days());
        let expiration_days = rule.and_then(|r| r.expiration()).and_then(|e| e.days());
        let abort_days = rule
            .and_then(|r| r.abort_incomplete_multipart_upload())
            .and_then(|e| e.days_after_initiation());
        let pab = unless(
            self.s3.get_public_access_block().bucket(id).send().await,
            "NoSuchPublicAccessBlockConfiguration",
        )?
        .is_some_and(|r| {
            r.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })
        });
        let versioning = self.s3.get_bucket_versioning().bucket(id).send().await?.status()
            == Some(&BucketVersioningStatus::Enabled);
        let tag_set = unless(self.s3.get_bucket_tagging().bucket(id).send().await, "NoSuchTagSet")?
            .map(|r| {
                r.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let logging = self.s3.get_bucket_logging().bucket(id).send().await?;
        let log_target = logging.logging_enabled();
        Ok(Some(Observed {
            attrs: attrs([
                ("versioning", json!(versioning)),
                ("encryption", json!(sse)),
                ("kms_key_arn", json!(key)),
                ("bucket_key", json!(bucket_key)),
                ("policy", policy),
                ("noncurrent_version_expiration_days", json!(noncurrent_days)),
                ("abort_incomplete_multipart_upload_days", json!(abort_days)),
                ("block_public_access", json!(pab)),
                ("tags", tags_value(tag_set)),
                ("expiration_days", json!(expiration_days)),
                ("access_log_bucket", json!(log_target.map(|l| l.target_bucket()))),
                ("access_log_prefix", json!(log_target.map(|l| l.target_prefix()))),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("name", json!(id)),
                ("arn", json!(format!("arn:aws:s3:::{id}"))),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        // the tags come with the bucket, in the same call: a bucket never exists without the tags
        // that prove it is this stack's (a crash between two calls would leave it unprovable)
        let tag_set: Vec<Tag> = tags(a)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag"))
            .collect();
        let mut conf = CreateBucketConfiguration::builder().set_tags(Some(tag_set));
        if self.region != "us-east-1" {
            conf = conf.location_constraint(BucketLocationConstraint::from(self.region.as_str()));
        }
        let req = self.s3.create_bucket().bucket(name).create_bucket_configuration(conf.build());
        unless(req.send().await, "BucketAlreadyOwnedByYou").map_err(|e| {
            e.explain("BucketAlreadyExists", || {
                format!("the bucket name {name} is taken by another AWS account; choose another stack name")
            })
        })?;
        self.configure(name, a, None).await?;
        self.put_tags(name, a).await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        self.configure(id, new, Some(changed)).await
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        if !self.exists(id).await? {
            return Ok(());
        }
        if input_bool(recorded, kinds::s3::Bucket::force_destroy) {
            self.empty(id).await?;
        }
        let versions = self.s3.list_object_versions().bucket(id).max_keys(1).send().await?;
        if !versions.versions().is_empty() || !versions.delete_markers().is_empty() {
            // the log bucket holds audit evidence (the ALB's and the storage bucket's access logs,
            // the trail): it is kept like the data until the operator has archived and emptied it,
            // or its lifecycle has expired every log
            let message = if recorded.contains_key("expiration_days") {
                format!("bucket {id} still holds the stack's audit logs (load balancer and S3 access logs, the CloudTrail trail), so it was not deleted; archive what you must keep and empty it (all versions), or set `force_destroy_logs = true` under [security] and run `empi-infra apply`, then run `empi-infra destroy` again")
            } else {
                format!("bucket {id} still holds Tuva EMPI imports or exports, so it was not deleted; copy what you need, empty it (all versions), then run `empi-infra destroy` again")
            };
            return Err(ProviderError::coded("BucketNotEmpty", message).into());
        }
        done(self.s3.delete_bucket().bucket(id).send()).await
    }

    /// S3 sets a bucket's tags as a whole.
    async fn retag(
        &self,
        id: &str,
        new: &Attrs,
        _set: Tags,
        _remove: Vec<String>,
    ) -> AwsResult<()> {
        self.put_tags(id, new).await
    }
}
