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
    r.register(Arc::new(NodeGroup(c.eks.clone())));
    r.register(Arc::new(LaunchTemplate(c.ec2.clone())));
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
    run_once: false,
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
    let off: Vec<LogType> =
        all.iter().filter(|t| !strings(a, "enabled_log_types").iter().any(|x| x == *t)).map(|t| LogType::from(*t)).collect();
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
            .map(|l| {
                l.cluster_logging()
                    .iter()
                    .filter(|s| s.enabled() == Some(true))
                    .flat_map(|s| s.types().iter().map(|t| t.as_str().to_string()))
                    .collect()
            })
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
            let arn = self
                .describe(id)
                .await?
                .and_then(|c| c.arn)
                .ok_or_else(|| ProviderError::coded("ResourceNotFoundException", format!("cluster {id} is gone")))?;
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
            (_, Some(ClusterStatus::Failed)) => {
                return Err(ProviderError::coded(
                    "ClusterFailed",
                    format!("EKS cluster {id} went to FAILED; see its health issues in the EKS console"),
                ))
            }
            (_, Some(s)) => Readiness::Pending(s.as_str().to_lowercase()),
            (_, None) => {
                return Err(ProviderError::coded(
                    "ResourceNotFoundException",
                    format!("EKS cluster {id} disappeared while {}", op.progressive()),
                ))
            }
        })
    }
}

// ── launch template of the worker nodes ──────────────────────────────────────────

pub struct LaunchTemplate(aws_sdk_ec2::Client);

static LAUNCH_TEMPLATE: Schema = Schema {
    kind: "aws_launch_template",
    attrs: &[
        AttrSchema::updatable("security_group_ids").set(),
        AttrSchema::updatable("http_tokens"),
        AttrSchema::updatable("http_put_response_hop_limit"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

fn template_data(a: &Attrs) -> aws_sdk_ec2::types::RequestLaunchTemplateData {
    use aws_sdk_ec2::types::{
        LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
        RequestLaunchTemplateData,
    };
    RequestLaunchTemplateData::builder()
        .set_security_group_ids(Some(strings(a, "security_group_ids")))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(LaunchTemplateHttpTokensState::from(s(a, "http_tokens")))
                .http_put_response_hop_limit(super::n(a, "http_put_response_hop_limit"))
                .build(),
        )
        .build()
}

#[async_trait]
impl Resource for LaunchTemplate {
    fn schema(&self) -> &'static Schema {
        &LAUNCH_TEMPLATE
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_launch_templates().launch_template_names(name).send().await {
            Ok(r) => Ok(r.launch_templates().first().and_then(|t| t.launch_template_id()).map(String::from)),
            Err(e) if super::network::not_found(&e) || code_of(&e).is_some_and(|c| c.contains("NotFound")) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_launch_templates().launch_template_ids(id).send().await {
            Ok(r) => r,
            Err(e) if super::network::not_found(&e) || code_of(&e).is_some_and(|c| c.contains("NotFound")) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(t) = r.launch_templates().first() else { return Ok(None) };
        let latest = t.latest_version_number().unwrap_or(1).to_string();
        let v = self.0.describe_launch_template_versions().launch_template_id(id).versions(&latest).send().await.map_err(aws_err)?;
        let data = v.launch_template_versions().first().and_then(|v| v.launch_template_data());
        let md = data.and_then(|d| d.metadata_options());
        Ok(Some(Observed {
            attrs: attrs([
                ("security_group_ids", sorted(data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default())),
                ("http_tokens", json!(md.and_then(|m| m.http_tokens()).map(|t| t.as_str()))),
                ("http_put_response_hop_limit", json!(md.and_then(|m| m.http_put_response_hop_limit()))),
                ("tags", super::network::ec2_tags(t.tags())),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(t.launch_template_name())), ("latest_version", json!(latest))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(template_data(a))
            .tag_specifications(super::network::tag_spec(aws_sdk_ec2::types::ResourceType::LaunchTemplate, a))
            .send()
            .await
            .map_err(aws_err)?;
        r.launch_template()
            .and_then(|t| t.launch_template_id())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateLaunchTemplate returned no id"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c != "tags") {
            let v = self
                .0
                .create_launch_template_version()
                .launch_template_id(id)
                .launch_template_data(template_data(new))
                .send()
                .await
                .map_err(aws_err)?;
            let version = v.launch_template_version().and_then(|v| v.version_number()).unwrap_or(1);
            self.0.modify_launch_template().launch_template_id(id).default_version(version.to_string()).send().await.map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            super::network::retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_launch_template().launch_template_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if super::network::not_found(&e) || code_of(&e).is_some_and(|c| c.contains("NotFound")) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── managed node group ───────────────────────────────────────────────────────────

pub struct NodeGroup(Client);

static NODE_GROUP: Schema = Schema {
    kind: "aws_eks_node_group",
    attrs: &[
        AttrSchema::force_new("cluster_name"),
        AttrSchema::force_new("node_role_arn"),
        AttrSchema::force_new("subnet_ids").set(),
        AttrSchema::force_new("instance_types"),
        AttrSchema::updatable("min_size"),
        AttrSchema::updatable("max_size"),
        AttrSchema::updatable("desired_size"),
        AttrSchema::force_new("launch_template_id"),
        AttrSchema::updatable("launch_template_version"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 180,
};

impl NodeGroup {
    async fn describe(&self, cluster: &str, name: &str) -> ProviderResult<Option<aws_sdk_eks::types::Nodegroup>> {
        match self.0.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await {
            Ok(r) => Ok(r.nodegroup),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

fn scaling(a: &Attrs) -> aws_sdk_eks::types::NodegroupScalingConfig {
    aws_sdk_eks::types::NodegroupScalingConfig::builder()
        .min_size(super::n(a, "min_size"))
        .max_size(super::n(a, "max_size"))
        .desired_size(super::n(a, "desired_size"))
        .build()
}

#[async_trait]
impl Resource for NodeGroup {
    fn schema(&self) -> &'static Schema {
        &NODE_GROUP
    }

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.describe(s(inputs, "cluster_name"), name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(g) = self.describe(s(recorded, "cluster_name"), id).await? else { return Ok(None) };
        if g.status() == Some(&aws_sdk_eks::types::NodegroupStatus::Deleting) {
            return Ok(None);
        }
        let sc = g.scaling_config();
        let lt = g.launch_template();
        let asg = g.resources().and_then(|r| r.auto_scaling_groups().first()).and_then(|a| a.name()).map(String::from);
        Ok(Some(Observed {
            attrs: attrs([
                ("cluster_name", json!(g.cluster_name())),
                ("node_role_arn", json!(g.node_role())),
                ("subnet_ids", sorted(g.subnets().to_vec())),
                ("instance_types", json!(g.instance_types())),
                ("min_size", json!(sc.and_then(|s| s.min_size()))),
                ("max_size", json!(sc.and_then(|s| s.max_size()))),
                ("desired_size", json!(sc.and_then(|s| s.desired_size()))),
                ("launch_template_id", json!(lt.and_then(|l| l.id()))),
                ("launch_template_version", json!(lt.and_then(|l| l.version()))),
                ("tags", tags_value(g.tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("name", json!(id)),
                ("arn", json!(g.nodegroup_arn())),
                ("autoscaling_group_name", json!(asg)),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_nodegroup()
            .cluster_name(s(a, "cluster_name"))
            .nodegroup_name(name)
            .node_role(s(a, "node_role_arn"))
            .set_subnets(Some(strings(a, "subnet_ids")))
            .set_instance_types(Some(strings(a, "instance_types")))
            .scaling_config(scaling(a))
            .launch_template(
                aws_sdk_eks::types::LaunchTemplateSpecification::builder()
                    .id(s(a, "launch_template_id"))
                    .version(s(a, "launch_template_version"))
                    .build(),
            )
            .set_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await;
        match r {
            Ok(_) => Ok(name.to_string()),
            Err(e) if code_of(&e) == Some("ResourceInUseException") => Err(ProviderError::coded(
                "ResourceInUseException",
                format!("a node group named {name} already exists in the cluster and is not recorded in this stack's state"),
            )),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        let cluster = s(new, "cluster_name");
        if has("min_size") || has("max_size") || has("desired_size") {
            self.0
                .update_nodegroup_config()
                .cluster_name(cluster)
                .nodegroup_name(id)
                .scaling_config(scaling(new))
                .send()
                .await
                .map_err(aws_err)?;
        }
        if has("launch_template_version") {
            self.0
                .update_nodegroup_version()
                .cluster_name(cluster)
                .nodegroup_name(id)
                .launch_template(
                    aws_sdk_eks::types::LaunchTemplateSpecification::builder()
                        .id(s(new, "launch_template_id"))
                        .version(s(new, "launch_template_version"))
                        .build(),
                )
                .send()
                .await
                .map_err(aws_err)?;
        }
        if has("tags") {
            let arn = self.describe(cluster, id).await?.and_then(|g| g.nodegroup_arn).unwrap_or_default();
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

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_nodegroup().cluster_name(s(recorded, "cluster_name")).nodegroup_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn wait(&self, id: &str, op: Operation, recorded: &Attrs) -> ProviderResult<Readiness> {
        use aws_sdk_eks::types::NodegroupStatus;
        let g = self.describe(s(recorded, "cluster_name"), id).await?;
        let status = g.as_ref().and_then(|g| g.status().cloned());
        Ok(match (op, status) {
            (Operation::Delete, None) => Readiness::Ready,
            (Operation::Delete, Some(s)) => Readiness::Pending(s.as_str().to_lowercase()),
            (_, Some(NodegroupStatus::Active)) => Readiness::Ready,
            (_, Some(s @ (NodegroupStatus::CreateFailed | NodegroupStatus::Degraded))) => {
                let issues: Vec<String> = g
                    .and_then(|g| g.health)
                    .map(|h| {
                        h.issues()
                            .iter()
                            .map(|i| format!("{}: {}", i.code().map(|c| c.as_str()).unwrap_or(""), i.message().unwrap_or("")))
                            .collect()
                    })
                    .unwrap_or_default();
                return Err(ProviderError::coded("NodegroupFailed", format!("node group {id} is {}: {}", s.as_str(), issues.join("; "))));
            }
            (_, Some(s)) => Readiness::Pending(s.as_str().to_lowercase()),
            (_, None) => {
                return Err(ProviderError::coded(
                    "ResourceNotFoundException",
                    format!("node group {id} disappeared while {}", op.progressive()),
                ))
            }
        })
    }
}
