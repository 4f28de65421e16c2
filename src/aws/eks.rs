//! EKS kinds: the cluster (control plane), the worker nodes' launch template, the managed node
//! group and the access entries of `cluster.admins`; and the one-update-at-a-time rule EKS imposes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AmiTypes, AuthenticationMode, ClusterStatus,
    CreateAccessConfigRequest, EncryptionConfig, LaunchTemplateSpecification, LogSetup, LogType,
    Logging, NodegroupScalingConfig, Provider, Update, UpdateAccessConfigRequest, UpdateStatus,
    VpcConfigRequest,
};
use aws_sdk_eks::Client;
use empi_engine::kinds;
use empi_engine::kinds::eks::{ACCESS_ENTRY, ADDON, CLUSTER, LAUNCH_TEMPLATE, NODE_GROUP};
use empi_engine::resource::{Attrs, ErrorClass, Observed, ProviderError, Registry, Schema};
use serde_json::json;

use super::adapter::{add, aws, done, AwsKind, AwsResult, Lifecycle, Tags};
use super::network::{ec2_retag, ec2_tags, tag_spec};
use super::{attrs, input_bool, input_i32, input_str, sorted, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    let updates = Arc::new(Updates::default());
    add(r, Cluster(c.eks.clone(), updates.clone()));
    add(r, NodeGroup(c.eks.clone(), updates.clone()));
    add(r, Addon(c.eks.clone(), updates));
    add(r, LaunchTemplate(c.ec2.clone()));
    add(r, AccessEntry(c.eks.clone()));
}

// ── one update at a time ─────────────────────────────────────────────────────────

/// The EKS updates this run started, by cluster and node group. EKS runs one update of a cluster
/// (or node group) at a time and refuses another meanwhile (`ResourceInUseException`), so each
/// update waits its turn: [`Updates::turn`] fails with an error the executor retries (a
/// propagation-class error, without holding a parallelism slot) until `DescribeUpdate` says the
/// previous one finished, and a failed update fails the resource with EKS's errors.
#[derive(Default)]
struct Updates(Mutex<HashMap<(String, String), String>>);

/// What of a cluster an EKS update is of.
#[derive(Clone, Copy)]
enum Part<'a> {
    Control,
    Nodegroup(&'a str),
    Addon(&'a str),
}

impl Part<'_> {
    fn key(self, cluster: &str) -> (String, String) {
        let part = match self {
            Part::Control => String::new(),
            Part::Nodegroup(n) => format!("nodegroup/{n}"),
            Part::Addon(a) => format!("addon/{a}"),
        };
        (cluster.to_string(), part)
    }

    fn nodegroup(self) -> Option<String> {
        match self {
            Part::Nodegroup(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn addon(self) -> Option<String> {
        match self {
            Part::Addon(a) => Some(a.to_string()),
            _ => None,
        }
    }

    /// How EKS's messages name it.
    fn shown(self, cluster: &str) -> String {
        match self {
            Part::Control => format!("cluster {cluster}"),
            Part::Nodegroup(n) => format!("node group {n}"),
            Part::Addon(a) => format!("add-on {a} of {cluster}"),
        }
    }
}

/// How an update this run started stands.
enum Turn {
    Free,
    Busy(String),
    Failed(String),
}

impl Updates {
    fn started(&self, cluster: &str, part: Part<'_>, update: Option<&Update>) {
        if let Some(id) = update.and_then(|u| u.id()) {
            self.0.lock().unwrap().insert(part.key(cluster), id.to_string());
        }
    }

    async fn check(&self, eks: &Client, cluster: &str, part: Part<'_>) -> AwsResult<Turn> {
        let key = part.key(cluster);
        let Some(id) = self.0.lock().unwrap().get(&key).cloned() else { return Ok(Turn::Free) };
        let u = eks
            .describe_update()
            .name(cluster)
            .update_id(&id)
            .set_nodegroup_name(part.nodegroup())
            .set_addon_name(part.addon())
            .send()
            .await?;
        let Some(u) = u.update else { return Ok(Turn::Free) };
        let what = format!(
            "{} {id} of {}",
            u.r#type().map(|t| t.as_str()).unwrap_or("update"),
            part.shown(cluster)
        );
        Ok(match u.status() {
            Some(UpdateStatus::InProgress) => Turn::Busy(what),
            Some(UpdateStatus::Failed | UpdateStatus::Cancelled) => {
                self.0.lock().unwrap().remove(&key);
                let errors: Vec<String> = u
                    .errors()
                    .iter()
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.error_code().map(|c| c.as_str()).unwrap_or(""),
                            e.error_message().unwrap_or("")
                        )
                    })
                    .collect();
                Turn::Failed(format!(
                    "EKS {what} ended {}: {}",
                    u.status().map(|s| s.as_str()).unwrap_or(""),
                    errors.join("; ")
                ))
            }
            _ => {
                self.0.lock().unwrap().remove(&key);
                Turn::Free
            }
        })
    }

    /// Ok when no update this run started is still in progress here.
    async fn turn(&self, eks: &Client, cluster: &str, part: Part<'_>) -> AwsResult<()> {
        match self.check(eks, cluster, part).await? {
            Turn::Free => Ok(()),
            Turn::Busy(what) => Err(ProviderError::coded(
                "ResourceInUseException",
                format!("Cannot update because cluster {cluster} currently has update ({what}) in progress"),
            )
            .with_class(ErrorClass::Propagation)
            .into()),
            Turn::Failed(why) => Err(ProviderError::coded("UpdateFailed", why).into()),
        }
    }

    /// The status a wait sees: an update in progress is `UPDATING`, a failed one `UPDATE_FAILED`.
    async fn status(
        &self,
        eks: &Client,
        cluster: &str,
        part: Part<'_>,
        live: Option<(String, String)>,
    ) -> AwsResult<Option<(String, String)>> {
        Ok(match (self.check(eks, cluster, part).await?, live) {
            (_, None) => None,
            (Turn::Busy(what), Some(_)) => Some(("UPDATING".into(), what)),
            (Turn::Failed(why), Some(_)) => Some(("UPDATE_FAILED".into(), why)),
            (Turn::Free, live) => live,
        })
    }
}

/// EKS's health issues of a node group or an add-on (`code`, `message`), as one line for a wait's
/// message: `Code: message; …`.
fn health_line<'a>(issues: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    issues.map(|(code, message)| format!("{code}: {message}")).collect::<Vec<_>>().join("; ")
}

/// Sets and removes tags of any EKS object, by ARN.
async fn eks_retag(eks: &Client, arn: &str, set: Tags, remove: Vec<String>) -> AwsResult<()> {
    if !remove.is_empty() {
        eks.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await?;
    }
    if !set.is_empty() {
        eks.tag_resource()
            .resource_arn(arn)
            .set_tags(Some(set.into_iter().collect()))
            .send()
            .await?;
    }
    Ok(())
}

// ── cluster ──────────────────────────────────────────────────────────────────────

pub struct Cluster(Client, Arc<Updates>);

fn vpc_config(a: &Attrs) -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .set_subnet_ids(Some(strings(a, "subnet_ids")))
        .set_security_group_ids(Some(strings(a, "security_group_ids")))
        .endpoint_private_access(input_bool(a, kinds::eks::Cluster::endpoint_private_access))
        .endpoint_public_access(input_bool(a, kinds::eks::Cluster::endpoint_public_access))
        .set_public_access_cidrs(Some(strings(a, kinds::eks::Cluster::public_access_cidrs)))
        .build()
}

/// Envelope encryption of Kubernetes secrets with the stack's key (none without a key). The SDK
/// marks `resources` deprecated (EKS now encrypts all Kubernetes API data with its own key by
/// default), but the API still takes `["secrets"]` for a customer-managed key, as
/// terraform-provider-aws sends it.
#[allow(deprecated)]
fn encryption(a: &Attrs) -> Option<Vec<EncryptionConfig>> {
    let key = input_str(a, kinds::eks::Cluster::encryption_key_arn);
    (!key.is_empty()).then(|| {
        vec![EncryptionConfig::builder()
            .resources("secrets")
            .provider(Provider::builder().key_arn(key).build())
            .build()]
    })
}

/// The customer-managed key that encrypts the cluster's Kubernetes data ("" for none).
fn encryption_key(c: &aws_sdk_eks::types::Cluster) -> String {
    c.encryption_config()
        .iter()
        .find_map(|e| e.provider())
        .and_then(|p| p.key_arn())
        .unwrap_or_default()
        .to_string()
}

fn logging(a: &Attrs) -> Logging {
    let on: Vec<LogType> = strings(a, kinds::eks::Cluster::enabled_log_types)
        .iter()
        .map(|t| LogType::from(t.as_str()))
        .collect();
    let all = ["api", "audit", "authenticator", "controllerManager", "scheduler"];
    let off: Vec<LogType> = all
        .iter()
        .filter(|t| !strings(a, kinds::eks::Cluster::enabled_log_types).iter().any(|x| x == *t))
        .map(|t| LogType::from(*t))
        .collect();
    let mut l = Logging::builder()
        .cluster_logging(LogSetup::builder().enabled(true).set_types(Some(on)).build());
    if !off.is_empty() {
        l = l.cluster_logging(LogSetup::builder().enabled(false).set_types(Some(off)).build());
    }
    l.build()
}

impl Cluster {
    async fn describe(&self, name: &str) -> AwsResult<Option<aws_sdk_eks::types::Cluster>> {
        Ok(self.0.describe_cluster().name(name).send().await?.cluster)
    }
}

#[async_trait]
impl AwsKind for Cluster {
    const SCHEMA: &'static Schema = &CLUSTER;
    const NOT_FOUND: &'static [&'static str] = &["ResourceNotFoundException"];
    const LIFECYCLE: Lifecycle =
        Lifecycle::Status { ready: &["ACTIVE"], failed: &["FAILED", "UPDATE_FAILED"] };

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
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
                (
                    "security_group_ids",
                    sorted(vpc.map(|v| v.security_group_ids().to_vec()).unwrap_or_default()),
                ),
                (
                    "endpoint_private_access",
                    json!(vpc.map(|v| v.endpoint_private_access()).unwrap_or(false)),
                ),
                (
                    "endpoint_public_access",
                    json!(vpc.map(|v| v.endpoint_public_access()).unwrap_or(false)),
                ),
                (
                    "public_access_cidrs",
                    sorted(vpc.map(|v| v.public_access_cidrs().to_vec()).unwrap_or_default()),
                ),
                ("enabled_log_types", sorted(log_types)),
                ("authentication_mode", json!(authentication_mode(&c))),
                ("encryption_key_arn", json!(encryption_key(&c))),
                ("tags", tags_value(c.tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("name", json!(id)),
                ("arn", json!(c.arn())),
                ("endpoint", json!(c.endpoint())),
                (
                    "certificate_authority",
                    json!(c.certificate_authority().and_then(|ca| ca.data())),
                ),
                (
                    "oidc_issuer",
                    json!(c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer())),
                ),
                (
                    "cluster_security_group_id",
                    json!(vpc.and_then(|v| v.cluster_security_group_id())),
                ),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_cluster()
            .name(name)
            .version(input_str(a, kinds::eks::Cluster::version))
            .role_arn(input_str(a, kinds::eks::Cluster::role_arn))
            .resources_vpc_config(vpc_config(a))
            .logging(logging(a))
            .set_encryption_config(encryption(a))
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::from(input_str(a, kinds::eks::Cluster::authentication_mode)))
                    .bootstrap_cluster_creator_admin_permissions(true)
                    .build(),
            )
            .set_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws(e).explain("ResourceInUseException", || format!("an EKS cluster named {name} already exists and is not recorded in this stack's state; import or delete it, or choose another stack name")))?;
        Ok(name.to_string())
    }

    /// One kind of change per EKS update, version first (as EKS wants), each after the previous
    /// finished: a change already live is skipped, so that a retry continues where it stopped.
    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        // an update this run started must have finished before the cluster is read: read while it
        // was in progress, the cluster would not show it yet, and the same change be sent again
        self.1.turn(&self.0, id, Part::Control).await?;
        let live = self.describe(id).await?.ok_or_else(|| {
            ProviderError::coded("ResourceNotFoundException", format!("cluster {id} is gone"))
        })?;
        let vpc = live.resources_vpc_config();
        if has("version") && live.version() != Some(input_str(new, kinds::eks::Cluster::version)) {
            self.1.turn(&self.0, id, Part::Control).await?;
            let r = self
                .0
                .update_cluster_version()
                .name(id)
                .version(input_str(new, kinds::eks::Cluster::version))
                .send()
                .await?;
            self.1.started(id, Part::Control, r.update());
        }
        let mut cidrs: Vec<String> =
            vpc.map(|v| v.public_access_cidrs().to_vec()).unwrap_or_default();
        cidrs.sort();
        let endpoint_live = vpc.map(|v| (v.endpoint_private_access(), v.endpoint_public_access()));
        let endpoint_changed = endpoint_live
            != Some((
                input_bool(new, kinds::eks::Cluster::endpoint_private_access),
                input_bool(new, kinds::eks::Cluster::endpoint_public_access),
            ))
            || sorted(cidrs) != sorted(strings(new, kinds::eks::Cluster::public_access_cidrs));
        if (has("endpoint_private_access")
            || has("endpoint_public_access")
            || has("public_access_cidrs"))
            && endpoint_changed
        {
            self.1.turn(&self.0, id, Part::Control).await?;
            // endpoint access only: subnets or security groups in the same call are a second kind of update
            let endpoint = VpcConfigRequest::builder()
                .endpoint_private_access(input_bool(
                    new,
                    kinds::eks::Cluster::endpoint_private_access,
                ))
                .endpoint_public_access(input_bool(
                    new,
                    kinds::eks::Cluster::endpoint_public_access,
                ))
                .set_public_access_cidrs(Some(strings(
                    new,
                    kinds::eks::Cluster::public_access_cidrs,
                )))
                .build();
            let r = self
                .0
                .update_cluster_config()
                .name(id)
                .resources_vpc_config(endpoint)
                .send()
                .await?;
            self.1.started(id, Part::Control, r.update());
        }
        if has("enabled_log_types") {
            self.1.turn(&self.0, id, Part::Control).await?;
            let r = self.0.update_cluster_config().name(id).logging(logging(new)).send().await?;
            self.1.started(id, Part::Control, r.update());
        }
        if has("authentication_mode")
            && authentication_mode(&live)
                != input_str(new, kinds::eks::Cluster::authentication_mode)
        {
            self.1.turn(&self.0, id, Part::Control).await?;
            let mode = UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(input_str(
                    new,
                    "authentication_mode",
                )))
                .build();
            let r = self.0.update_cluster_config().name(id).access_config(mode).send().await?;
            self.1.started(id, Part::Control, r.update());
        }
        // only from none (the diff replaces a cluster whose key changes: EKS never removes or
        // swaps one), an update of its own
        if has("encryption_key_arn") && encryption_key(&live).is_empty() {
            if let Some(config) = encryption(new) {
                self.1.turn(&self.0, id, Part::Control).await?;
                let r = self
                    .0
                    .associate_encryption_config()
                    .cluster_name(id)
                    .set_encryption_config(Some(config))
                    .send()
                    .await?;
                self.1.started(id, Part::Control, r.update());
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_cluster().name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self.describe(id).await?.and_then(|c| c.arn).ok_or_else(|| {
            ProviderError::coded("ResourceNotFoundException", format!("cluster {id} is gone"))
        })?;
        eks_retag(&self.0, &arn, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        let c = self.describe(id).await?;
        let live = c.and_then(|c| c.status).map(|s| {
            (s.as_str().to_string(), "see its health issues in the EKS console".to_string())
        });
        self.1.status(&self.0, id, Part::Control, live).await
    }
}

// ── launch template of the worker nodes ──────────────────────────────────────────

pub struct LaunchTemplate(aws_sdk_ec2::Client);

fn template_data(a: &Attrs) -> aws_sdk_ec2::types::RequestLaunchTemplateData {
    use aws_sdk_ec2::types::{
        LaunchTemplateHttpTokensState, LaunchTemplateInstanceMetadataEndpointState,
        LaunchTemplateInstanceMetadataOptionsRequest, RequestLaunchTemplateData,
    };
    RequestLaunchTemplateData::builder()
        .set_security_group_ids(Some(strings(a, "security_group_ids")))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .http_tokens(LaunchTemplateHttpTokensState::from(input_str(
                    a,
                    kinds::eks::LaunchTemplate::http_tokens,
                )))
                .http_put_response_hop_limit(super::input_i32(
                    a,
                    kinds::eks::LaunchTemplate::http_put_response_hop_limit,
                ))
                .build(),
        )
        .build()
}

#[async_trait]
impl AwsKind for LaunchTemplate {
    const SCHEMA: &'static Schema = &LAUNCH_TEMPLATE;
    const NOT_FOUND: &'static [&'static str] = &[
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.Malformed",
    ];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_launch_templates().launch_template_names(name).send().await?;
        Ok(r.launch_templates().first().and_then(|t| t.launch_template_id()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_launch_templates().launch_template_ids(id).send().await?;
        let Some(t) = r.launch_templates().first() else { return Ok(None) };
        let latest = t.latest_version_number().unwrap_or(1).to_string();
        let v = self
            .0
            .describe_launch_template_versions()
            .launch_template_id(id)
            .versions(&latest)
            .send()
            .await?;
        let data = v.launch_template_versions().first().and_then(|v| v.launch_template_data());
        let md = data.and_then(|d| d.metadata_options());
        Ok(Some(Observed {
            attrs: attrs([
                (
                    "security_group_ids",
                    sorted(data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default()),
                ),
                ("http_tokens", json!(md.and_then(|m| m.http_tokens()).map(|t| t.as_str()))),
                (
                    "http_put_response_hop_limit",
                    json!(md.and_then(|m| m.http_put_response_hop_limit())),
                ),
                ("tags", ec2_tags(t.tags())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("name", json!(t.launch_template_name())),
                ("latest_version", json!(latest)),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(template_data(a))
            .tag_specifications(tag_spec(aws_sdk_ec2::types::ResourceType::LaunchTemplate, a))
            .send()
            .await?;
        let id = r.launch_template().and_then(|t| t.launch_template_id());
        Ok(id.ok_or_else(|| ProviderError::new("CreateLaunchTemplate returned no id"))?.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        let v = self
            .0
            .create_launch_template_version()
            .launch_template_id(id)
            .launch_template_data(template_data(new))
            .send()
            .await?;
        let version = v.launch_template_version().and_then(|v| v.version_number()).unwrap_or(1);
        done(
            self.0
                .modify_launch_template()
                .launch_template_id(id)
                .default_version(version.to_string())
                .send(),
        )
        .await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_launch_template().launch_template_id(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── managed node group ───────────────────────────────────────────────────────────

pub struct NodeGroup(Client, Arc<Updates>);

impl NodeGroup {
    async fn describe(
        &self,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_eks::types::Nodegroup>> {
        Ok(self
            .0
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await?
            .nodegroup)
    }
}

fn scaling(a: &Attrs) -> NodegroupScalingConfig {
    NodegroupScalingConfig::builder()
        .min_size(input_i32(a, kinds::eks::NodeGroup::min_size))
        .max_size(input_i32(a, kinds::eks::NodeGroup::max_size))
        .desired_size(input_i32(a, kinds::eks::NodeGroup::desired_size))
        .build()
}

fn launch_template(a: &Attrs) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .id(input_str(a, kinds::eks::NodeGroup::launch_template_id))
        .version(input_str(a, kinds::eks::NodeGroup::launch_template_version))
        .build()
}

#[async_trait]
impl AwsKind for NodeGroup {
    const SCHEMA: &'static Schema = &NODE_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["ResourceNotFoundException"];
    const LIFECYCLE: Lifecycle = Lifecycle::Status {
        ready: &["ACTIVE"],
        failed: &["CREATE_FAILED", "DEGRADED", "DELETE_FAILED", "UPDATE_FAILED"],
    };

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self
            .describe(input_str(inputs, kinds::eks::NodeGroup::cluster_name), name)
            .await?
            .map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(g) =
            self.describe(input_str(recorded, kinds::eks::NodeGroup::cluster_name), id).await?
        else {
            return Ok(None);
        };
        if g.status() == Some(&aws_sdk_eks::types::NodegroupStatus::Deleting) {
            return Ok(None);
        }
        let sc = g.scaling_config();
        let lt = g.launch_template();
        let asg = g
            .resources()
            .and_then(|r| r.auto_scaling_groups().first())
            .and_then(|a| a.name())
            .map(String::from);
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
                ("ami_type", json!(g.ami_type().map(|t| t.as_str()))),
                ("version", json!(g.version())),
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

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_nodegroup()
            .cluster_name(input_str(a, kinds::eks::NodeGroup::cluster_name))
            .nodegroup_name(name)
            .node_role(input_str(a, kinds::eks::NodeGroup::node_role_arn))
            .set_subnets(Some(strings(a, kinds::eks::NodeGroup::subnet_ids)))
            .set_instance_types(Some(strings(a, kinds::eks::NodeGroup::instance_types)))
            .scaling_config(scaling(a))
            .launch_template(launch_template(a))
            .ami_type(AmiTypes::from(input_str(a, kinds::eks::NodeGroup::ami_type)))
            .version(input_str(a, kinds::eks::NodeGroup::version))
            .set_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                aws(e).explain("ResourceInUseException", || {
                    format!("a node group named {name} already exists in the cluster and is not recorded in this stack's state")
                })
            })?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        let cluster = input_str(new, kinds::eks::NodeGroup::cluster_name);
        // as for the cluster: the group is read only once no update this run started is in progress
        self.1.turn(&self.0, cluster, Part::Nodegroup(id)).await?;
        let live = self.describe(cluster, id).await?.ok_or_else(|| {
            ProviderError::coded("ResourceNotFoundException", format!("node group {id} is gone"))
        })?;
        // the version (Kubernetes minor, launch template) first, then the scaling, each after the
        // previous finished; one UpdateNodegroupVersion carries both kinds of version
        let live_lt = live.launch_template().and_then(|l| l.version());
        let want_lt = input_str(new, kinds::eks::NodeGroup::launch_template_version);
        let want_k8s = input_str(new, kinds::eks::NodeGroup::version);
        let lt_changed = has("launch_template_version") && live_lt != Some(want_lt);
        let k8s_changed =
            has("version") && !want_k8s.is_empty() && live.version() != Some(want_k8s);
        if lt_changed || k8s_changed {
            self.1.turn(&self.0, cluster, Part::Nodegroup(id)).await?;
            let mut call =
                self.0.update_nodegroup_version().cluster_name(cluster).nodegroup_name(id);
            if k8s_changed {
                call = call.version(want_k8s);
            }
            if lt_changed {
                call = call.launch_template(launch_template(new));
            }
            let r = call.send().await?;
            self.1.started(cluster, Part::Nodegroup(id), r.update());
        }
        let sc = live.scaling_config();
        let live_scaling = sc.map(|c| (c.min_size(), c.max_size(), c.desired_size()));
        let want = (
            Some(input_i32(new, kinds::eks::NodeGroup::min_size)),
            Some(input_i32(new, kinds::eks::NodeGroup::max_size)),
            Some(input_i32(new, kinds::eks::NodeGroup::desired_size)),
        );
        if (has("min_size") || has("max_size") || has("desired_size")) && live_scaling != Some(want)
        {
            self.1.turn(&self.0, cluster, Part::Nodegroup(id)).await?;
            let r = self
                .0
                .update_nodegroup_config()
                .cluster_name(cluster)
                .nodegroup_name(id)
                .scaling_config(scaling(new))
                .send()
                .await?;
            self.1.started(cluster, Part::Nodegroup(id), r.update());
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        done(
            self.0
                .delete_nodegroup()
                .cluster_name(input_str(recorded, kinds::eks::NodeGroup::cluster_name))
                .nodegroup_name(id)
                .send(),
        )
        .await
    }

    async fn retag(&self, id: &str, new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self
            .describe(input_str(new, kinds::eks::NodeGroup::cluster_name), id)
            .await?
            .and_then(|g| g.nodegroup_arn)
            .unwrap_or_default();
        eks_retag(&self.0, &arn, set, remove).await
    }

    async fn status(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        let Some(g) =
            self.describe(input_str(recorded, kinds::eks::NodeGroup::cluster_name), id).await?
        else {
            return Ok(None);
        };
        let issues =
            health_line(
                g.health().map(|h| h.issues()).unwrap_or_default().iter().map(|i| {
                    (i.code().map(|c| c.as_str()).unwrap_or(""), i.message().unwrap_or(""))
                }),
            );
        let live = g.status().map(|st| (st.as_str().to_string(), issues));
        self.1
            .status(
                &self.0,
                input_str(recorded, kinds::eks::NodeGroup::cluster_name),
                Part::Nodegroup(id),
                live,
            )
            .await
    }
}

// ── access entries (cluster.admins) ──────────────────────────────────────────────

pub struct AccessEntry(Client);

/// An access entry's id: `<cluster>/<principal ARN>`.
fn entry_id(a: &Attrs) -> String {
    format!(
        "{}/{}",
        input_str(a, "cluster_name"),
        input_str(a, kinds::eks::AccessEntry::principal_arn)
    )
}

fn split_entry_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

impl AccessEntry {
    async fn associate(&self, cluster: &str, principal: &str, policy: &str) -> AwsResult<()> {
        let scope = AccessScope::builder().r#type(AccessScopeType::Cluster).build();
        self.0
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(policy)
            .access_scope(scope)
            .send()
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AwsKind for AccessEntry {
    const SCHEMA: &'static Schema = &ACCESS_ENTRY;
    const NOT_FOUND: &'static [&'static str] = &["ResourceNotFoundException"];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let (cluster, principal) = (
            input_str(inputs, kinds::eks::AccessEntry::cluster_name),
            input_str(inputs, kinds::eks::AccessEntry::principal_arn),
        );
        let r = self
            .0
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await?;
        Ok(r.access_entry.map(|_| entry_id(inputs)))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let (cluster, principal) = split_entry_id(id);
        let Some(e) = self
            .0
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await?
            .access_entry
        else {
            return Ok(None);
        };
        let policies = self
            .0
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await?;
        let policy = policies
            .associated_access_policies()
            .first()
            .and_then(|p| p.policy_arn())
            .unwrap_or_default()
            .to_string();
        Ok(Some(Observed {
            attrs: attrs([
                ("cluster_name", json!(cluster)),
                ("principal_arn", json!(principal)),
                ("policy_arn", json!(policy)),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(e.access_entry_arn()))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let (cluster, principal) = (
            input_str(a, kinds::eks::AccessEntry::cluster_name),
            input_str(a, kinds::eks::AccessEntry::principal_arn),
        );
        self.0.create_access_entry().cluster_name(cluster).principal_arn(principal).send().await?;
        self.associate(cluster, principal, input_str(a, kinds::eks::AccessEntry::policy_arn))
            .await?;
        Ok(entry_id(a))
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        let (cluster, principal) = split_entry_id(id);
        self.associate(cluster, principal, input_str(new, kinds::eks::AccessEntry::policy_arn))
            .await?;
        let before = input_str(old, kinds::eks::AccessEntry::policy_arn);
        if !before.is_empty() && before != input_str(new, kinds::eks::AccessEntry::policy_arn) {
            self.0
                .disassociate_access_policy()
                .cluster_name(cluster)
                .principal_arn(principal)
                .policy_arn(before)
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        let (cluster, principal) = split_entry_id(id);
        done(self.0.delete_access_entry().cluster_name(cluster).principal_arn(principal).send())
            .await
    }
}

// ── managed add-ons (vpc-cni, coredns, kube-proxy) ───────────────────────────────

/// An EKS managed add-on; its id is `<cluster>:<add-on>` (as Terraform's).
pub struct Addon(Client, Arc<Updates>);

fn split_addon_id(id: &str) -> (&str, &str) {
    id.split_once(':').unwrap_or((id, ""))
}

impl Addon {
    async fn describe(
        &self,
        cluster: &str,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_eks::types::Addon>> {
        match self.0.describe_addon().cluster_name(cluster).addon_name(name).send().await {
            Ok(r) => Ok(r.addon),
            Err(e) => {
                use aws_sdk_eks::error::ProvideErrorMetadata;
                if e.code() == Some("ResourceNotFoundException") {
                    return Ok(None);
                }
                Err(aws(e))
            }
        }
    }
}

#[async_trait]
impl AwsKind for Addon {
    const SCHEMA: &'static Schema = &ADDON;
    const NOT_FOUND: &'static [&'static str] = &["ResourceNotFoundException"];
    // DEGRADED is a phase while its pods schedule (Terraform's waiter waits through it too); the
    // wait's deadline names EKS's health issues if it stays so
    const LIFECYCLE: Lifecycle = Lifecycle::Status {
        ready: &["ACTIVE"],
        failed: &["CREATE_FAILED", "DELETE_FAILED", "UPDATE_FAILED"],
    };

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let cluster = input_str(inputs, kinds::eks::Addon::cluster_name);
        Ok(self.describe(cluster, name).await?.map(|_| format!("{cluster}:{name}")))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let (cluster, name) = split_addon_id(id);
        let Some(a) = self.describe(cluster, name).await? else { return Ok(None) };
        if a.status() == Some(&aws_sdk_eks::types::AddonStatus::Deleting) {
            return Ok(None);
        }
        Ok(Some(Observed {
            attrs: attrs([
                ("cluster_name", json!(cluster)),
                ("addon_version", json!(a.addon_version())),
                ("tags", tags_value(a.tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(a.addon_arn()))]),
        }))
    }

    /// Takes over the self-managed add-on EKS installed with the cluster: OVERWRITE puts EKS's
    /// configuration of the version asked for in place of the one EKS itself installed (the same
    /// objects; their pods roll where the version differs), where NONE would fail on the fields it
    /// finds set.
    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let cluster = input_str(a, kinds::eks::Addon::cluster_name);
        let version = input_str(a, kinds::eks::Addon::addon_version);
        self.0
            .create_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .set_addon_version((!version.is_empty()).then(|| version.to_string()))
            .resolve_conflicts(aws_sdk_eks::types::ResolveConflicts::Overwrite)
            .set_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                let e = aws(e);
                // a busy cluster's 409 ("in progress") stays as EKS said it, for the retry
                if e.0.message.contains("already exists") {
                    e.explain("ResourceInUseException", || {
                        format!("the cluster {cluster} already has a managed {name} add-on that this stack's state does not record")
                    })
                } else {
                    e
                }
            })?;
        Ok(format!("{cluster}:{name}"))
    }

    /// A new version after the cluster's and node group's updates (the graph orders them),
    /// keeping configuration someone set on the add-on since (PRESERVE).
    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let (cluster, name) = split_addon_id(id);
        let want = input_str(new, kinds::eks::Addon::addon_version);
        if !changed.iter().any(|c| c == "addon_version") || want.is_empty() {
            return Ok(());
        }
        self.1.turn(&self.0, cluster, Part::Addon(name)).await?;
        let live = self.describe(cluster, name).await?;
        if live.as_ref().and_then(|a| a.addon_version()) == Some(want) {
            return Ok(());
        }
        let r = self
            .0
            .update_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .addon_version(want)
            .resolve_conflicts(aws_sdk_eks::types::ResolveConflicts::Preserve)
            .send()
            .await?;
        self.1.started(cluster, Part::Addon(name), r.update());
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        let (cluster, name) = split_addon_id(id);
        // the software stays (the cluster's deletion, which follows, removes it): workloads being
        // deleted meanwhile keep their DNS and pod networking
        done(self.0.delete_addon().cluster_name(cluster).addon_name(name).preserve(true).send())
            .await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let (cluster, name) = split_addon_id(id);
        let arn = self.describe(cluster, name).await?.and_then(|a| a.addon_arn).unwrap_or_default();
        eks_retag(&self.0, &arn, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        let (cluster, name) = split_addon_id(id);
        let Some(a) = self.describe(cluster, name).await? else { return Ok(None) };
        let issues =
            health_line(
                a.health().map(|h| h.issues()).unwrap_or_default().iter().map(|i| {
                    (i.code().map(|c| c.as_str()).unwrap_or(""), i.message().unwrap_or(""))
                }),
            );
        let live = a.status().map(|st| (st.as_str().to_string(), issues));
        self.1.status(&self.0, cluster, Part::Addon(name), live).await
    }
}

/// The versions of add-on `name` EKS lists for Kubernetes `version` (`DescribeAddonVersions`),
/// newest first, with the one EKS marks as the default for it; `None` where the endpoint does not
/// answer that call.
pub async fn addon_versions(
    eks: &Client,
    name: &str,
    version: &str,
) -> Result<Option<(Vec<String>, Option<String>)>, ProviderError> {
    let mut listed = Vec::new();
    let mut default = None;
    let mut next = None;
    loop {
        let r = match eks
            .describe_addon_versions()
            .addon_name(name)
            .kubernetes_version(version)
            .set_next_token(next)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if super::unanswered(&e) => return Ok(None),
            Err(e) => return Err(super::aws_err(e)),
        };
        for info in r.addons().iter().filter(|a| a.addon_name() == Some(name)) {
            for v in info.addon_versions() {
                let Some(av) = v.addon_version() else { continue };
                let here: Vec<_> = v
                    .compatibilities()
                    .iter()
                    .filter(|c| c.cluster_version() == Some(version))
                    .collect();
                if here.is_empty() {
                    continue;
                }
                if here.iter().any(|c| c.default_version()) {
                    default = Some(av.to_string());
                }
                listed.push(av.to_string());
            }
        }
        next = r.next_token().map(String::from);
        if next.is_none() {
            return Ok(Some((listed, default)));
        }
    }
}

/// The cluster's authentication mode (`CONFIG_MAP` when EKS says nothing: its API's default).
fn authentication_mode(c: &aws_sdk_eks::types::Cluster) -> String {
    c.access_config()
        .and_then(|a| a.authentication_mode())
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "CONFIG_MAP".into())
}

/// One of EKS's upgrade insights for a cluster: what it checked, and its verdict.
pub struct Insight {
    pub id: String,
    pub name: String,
    /// `PASSING`, `WARNING`, `ERROR` or `UNKNOWN`.
    pub status: String,
    pub reason: String,
}

/// EKS's upgrade-readiness insights of `cluster` for Kubernetes `version` (`ListInsights`), or
/// `None` where the endpoint does not answer that call (older partitions).
pub async fn upgrade_insights(
    eks: &Client,
    cluster: &str,
    version: &str,
) -> Result<Option<Vec<Insight>>, ProviderError> {
    use aws_sdk_eks::types::{Category, InsightsFilter};
    let filter = InsightsFilter::builder()
        .categories(Category::UpgradeReadiness)
        .kubernetes_versions(version)
        .build();
    let mut out = Vec::new();
    let mut next = None;
    loop {
        let r = match eks
            .list_insights()
            .cluster_name(cluster)
            .filter(filter.clone())
            .set_next_token(next)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if super::unanswered(&e) => return Ok(None),
            Err(e) => return Err(super::aws_err(e)),
        };
        out.extend(r.insights().iter().map(|i| {
            Insight {
                id: i.id().unwrap_or_default().to_string(),
                name: i.name().unwrap_or_default().to_string(),
                status: i
                    .insight_status()
                    .and_then(|s| s.status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                reason: i.insight_status().and_then(|s| s.reason()).unwrap_or_default().to_string(),
            }
        }));
        next = r.next_token().map(String::from);
        if next.is_none() {
            return Ok(Some(out));
        }
    }
}
