//! Storage: the S3 bucket for Tuva EMPI imports and exports — encrypted, public access blocked,
//! versioned. A bucket that still holds objects is never deleted.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::json;

use super::{attrs, aws_err, b, code_of, s, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(Bucket { s3: c.s3.clone(), region: c.region.clone() }));
}

pub struct Bucket {
    s3: Client,
    region: String,
}

static BUCKET: Schema = Schema {
    kind: "aws_s3_bucket",
    attrs: &[
        AttrSchema::updatable("versioning"),
        AttrSchema::updatable("encryption"),
        AttrSchema::updatable("block_public_access"),
        AttrSchema::updatable("tags"),
    ],
    stateful: true,
    run_once: false,
    typical_create_secs: 3,
};

impl Bucket {
    async fn exists(&self, name: &str) -> ProviderResult<bool> {
        match self.s3.head_bucket().bucket(name).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if code_of(&e) == Some("NotFound")
                    || code_of(&e) == Some("NoSuchBucket")
                    || e.raw_response().map(|r| r.status().as_u16()) == Some(404) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn configure(&self, name: &str, a: &Attrs, changed: Option<&[String]>) -> ProviderResult<()> {
        let want = |k: &str| changed.is_none_or(|c| c.iter().any(|x| x == k));
        if want("encryption") {
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::from(s(a, "encryption")))
                        .build()
                        .map_err(|e| ProviderError::new(e.to_string()))?,
                )
                .build();
            let conf = ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(|e| ProviderError::new(e.to_string()))?;
            self.s3.put_bucket_encryption().bucket(name).server_side_encryption_configuration(conf).send().await.map_err(aws_err)?;
        }
        if want("block_public_access") {
            let on = b(a, "block_public_access");
            let conf = PublicAccessBlockConfiguration::builder()
                .block_public_acls(on)
                .ignore_public_acls(on)
                .block_public_policy(on)
                .restrict_public_buckets(on)
                .build();
            self.s3.put_public_access_block().bucket(name).public_access_block_configuration(conf).send().await.map_err(aws_err)?;
        }
        if want("versioning") {
            let status = if b(a, "versioning") { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
            self.s3
                .put_bucket_versioning()
                .bucket(name)
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        if want("tags") {
            let t: Vec<Tag> = tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
            self.s3
                .put_bucket_tagging()
                .bucket(name)
                .tagging(Tagging::builder().set_tag_set(Some(t)).build().map_err(|e| ProviderError::new(e.to_string()))?)
                .send()
                .await
                .map_err(aws_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Bucket {
    fn schema(&self) -> &'static Schema {
        &BUCKET
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.exists(name).await?.then(|| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        if !self.exists(id).await? {
            return Ok(None);
        }
        let enc = match self.s3.get_bucket_encryption().bucket(id).send().await {
            Ok(r) => r
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| d.sse_algorithm().as_str().to_string()),
            Err(e) if code_of(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => None,
            Err(e) => return Err(aws_err(e)),
        };
        let pab = match self.s3.get_public_access_block().bucket(id).send().await {
            Ok(r) => r.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => false,
            Err(e) => return Err(aws_err(e)),
        };
        let versioning =
            self.s3.get_bucket_versioning().bucket(id).send().await.map_err(aws_err)?.status() == Some(&BucketVersioningStatus::Enabled);
        let tag_set = match self.s3.get_bucket_tagging().bucket(id).send().await {
            Ok(r) => r.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
            Err(e) if code_of(&e) == Some("NoSuchTagSet") => vec![],
            Err(e) => return Err(aws_err(e)),
        };
        Ok(Some(Observed {
            attrs: attrs([
                ("versioning", json!(versioning)),
                ("encryption", json!(enc)),
                ("block_public_access", json!(pab)),
                ("tags", tags_value(tag_set)),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(format!("arn:aws:s3:::{id}")))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let mut req = self.s3.create_bucket().bucket(name);
        if self.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(self.region.as_str())).build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => {}
            Err(e) if code_of(&e) == Some("BucketAlreadyExists") => {
                return Err(ProviderError::coded(
                    "BucketAlreadyExists",
                    format!("the bucket name {name} is taken by another AWS account; choose another stack name"),
                ));
            }
            Err(e) => return Err(aws_err(e)),
        }
        self.configure(name, a, None).await?;
        Ok(name.to_string())
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        self.configure(id, new, Some(changed)).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        if !self.exists(id).await? {
            return Ok(());
        }
        let versions = self.s3.list_object_versions().bucket(id).max_keys(1).send().await.map_err(aws_err)?;
        if !versions.versions().is_empty() || !versions.delete_markers().is_empty() {
            return Err(ProviderError::coded(
                "BucketNotEmpty",
                format!("bucket {id} still holds Tuva EMPI imports or exports, so it was not deleted; copy what you need, empty it (all versions), then run `empi-infra destroy` again"),
            ));
        }
        self.s3.delete_bucket().bucket(id).send().await.map_err(aws_err)?;
        Ok(())
    }
}
