//! The EKS cluster (control plane).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::types::{ClusterStatus, LogSetup, LogType, Logging, VpcConfigRequest};
use aws_sdk_eks::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry, Resource, Schema};
use serde_json::json;

use super::{attrs, aws_err, b, code_of, s, sorted, strings, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(Cluster(c.eks.clone())));
}

pub struct Cluster(Client);

static CLUSTER: Schema = Schema {
    kind: "aws_eks_cluster",
    attrs: &[
        AttrSchema::updatable("version"),
        AttrSchema::force_new("role_arn"),
        AttrSchema::force_new("subnet_ids").set(),
        AttrSchema::force_new("security_group_ids").set(),
        AttrSchema::updatable("endpoint_private_access"),
        AttrSchema::updatable("endpoint_public_access"),
        AttrSchema::updatable("public_access_cidrs").set(),
        AttrSchema::updatable("enabled_log_types").set(),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    typical_create_secs: 600,
};

fn missing<E: aws_sdk_eks::error::ProvideErrorMetadata, R>(e: &aws_sdk_eks::error::SdkError<E, R>) -> bool {
    code_of(e) == Some("ResourceNotFoundException")
}

fn vpc_config(a: &Attrs) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_subnet_ids(Some(strings(a, "subnet_ids")))
        .set_security_group_ids(Some(strings(a, "security_group_ids")))
        .endpoint_private_access(b(a, "endpoint_private_access"))
        .endpoint_public_access(b(a, "endpoint_public_access"))
        .set_public_access_cidrs(Some(strings(a, "public_access_cidrs")))
        .build()
}

fn logging(a: &Attrs) -> Logging {
    let on: Vec<LogType> = strings(a, "enabled_log_types").iter().map(|t| LogType::from(t.as_str())).collect();
    let all = ["api", "audit", "authenticator", "controllerManager", "scheduler"];
    let off: Vec<LogType> = all.iter().filter(|t| !strings(a, "enabled_log_types").iter().any(|x| x == *t)).map(|t| LogType::from(*t)).collect();
    let mut l = Logging::builder().cluster_logging(LogSetup::builder().enabled(true).set_types(Some(on)).build());
    if !off.is_empty() {
        l = l.cluster_logging(LogSetup::builder().enabled(false).set_types(Some(off)).build());
    }
    l.build()
}

impl Cluster {
    async fn describe(&self, name: &str) -> ProviderResult<Option<aws_sdk_eks::types::Cluster>> {
        match self.0.describe_cluster().name(name).send().await {
            Ok(r) => Ok(r.cluster),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

#[async_trait]
impl Resource for Cluster {
    fn schema(&self) -> &'static Schema {
        &CLUSTER
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(c) = self.describe(id).await? else { return Ok(None) };
        if c.status() == Some(&ClusterStatus::Deleting) {
            return Ok(None);
        }
        let vpc = c.resources_vpc_config();
        let log_types: Vec<String> = c
            .logging()
            .map(|l| l.cluster_logging().iter().filter(|s| s.enabled() == Some(true)).flat_map(|s| s.types().iter().map(|t| t.as_str().to_string())).collect())
            .unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([
                ("version", json!(c.version())),
                ("role_arn", json!(c.role_arn())),
                ("subnet_ids", sorted(vpc.map(|v| v.subnet_ids().to_vec()).unwrap_or_default())),
                ("security_group_ids", sorted(vpc.map(|v| v.security_group_ids().to_vec()).unwrap_or_default())),
                ("endpoint_private_access", json!(vpc.map(|v| v.endpoint_private_access()).unwrap_or(false))),
                ("endpoint_public_access", json!(vpc.map(|v| v.endpoint_public_access()).unwrap_or(false))),
                ("public_access_cidrs", sorted(vpc.map(|v| v.public_access_cidrs().to_vec()).unwrap_or_default())),
                ("enabled_log_types", sorted(log_types)),
                ("tags", tags_value(c.tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("name", json!(id)),
                ("arn", json!(c.arn())),
                ("endpoint", json!(c.endpoint())),
                ("certificate_authority", json!(c.certificate_authority().and_then(|ca| ca.data()))),
                ("oidc_issuer", json!(c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()))),
                ("cluster_security_group_id", json!(vpc.and_then(|v| v.cluster_security_group_id()))),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_cluster()
            .name(name)
            .version(s(a, "version"))
            .role_arn(s(a, "role_arn"))
            .resources_vpc_config(vpc_config(a))
            .logging(logging(a))
            .set_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(name.to_string()),
            Err(e) if code_of(&e) == Some("ResourceInUseException") => Err(ProviderError::coded(
                "ResourceInUseException",
                format!("an EKS cluster named {name} already exists and is not recorded in this stack's state; import or delete it, or choose another stack name"),
            )),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        if has("version") {
            self.0.update_cluster_version().name(id).version(s(new, "version")).send().await.map_err(aws_err)?;
        }
        // EKS takes one kind of config update per call
        if has("endpoint_private_access") || has("endpoint_public_access") || has("public_access_cidrs") {
            self.0.update_cluster_config().name(id).resources_vpc_config(vpc_config(new)).send().await.map_err(aws_err)?;
        }
        if has("enabled_log_types") {
            self.0.update_cluster_config().name(id).logging(logging(new)).send().await.map_err(aws_err)?;
        }
        if has("tags") {
            let arn = self.describe(id).await?.and_then(|c| c.arn).ok_or_else(|| ProviderError::coded("ResourceNotFoundException", format!("cluster {id} is gone")))?;
            let (set, remove) = tag_delta(&tags(old), &tags(new));
            if !remove.is_empty() {
                self.0.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
            }
            if !set.is_empty() {
                self.0.tag_resource().resource_arn(&arn).set_tags(Some(set.into_iter().collect())).send().await.map_err(aws_err)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_cluster().name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn wait(&self, id: &str, op: Operation, _recorded: &Attrs) -> ProviderResult<Readiness> {
        let c = self.describe(id).await?;
        let status = c.as_ref().and_then(|c| c.status().cloned());
        Ok(match (op, status) {
            (Operation::Delete, None) => Readiness::Ready,
            (Operation::Delete, Some(s)) => Readiness::Pending(s.as_str().to_lowercase()),
            (_, Some(ClusterStatus::Active)) => Readiness::Ready,
            (_, Some(ClusterStatus::Failed)) => return Err(ProviderError::coded("ClusterFailed", format!("EKS cluster {id} went to FAILED; see its health issues in the EKS console"))),
            (_, Some(s)) => Readiness::Pending(s.as_str().to_lowercase()),
            (_, None) => return Err(ProviderError::coded("ResourceNotFoundException", format!("EKS cluster {id} disappeared while {}", op.progressive()))),
        })
    }
}
