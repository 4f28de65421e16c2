//! The EKS cluster, its OIDC provider, its admins' access entries and its managed node group.

use super::*;
use crate::kinds::eks;

/// The EKS cluster's address: the Kubernetes objects and the config document read its outputs.
pub const EKS_CLUSTER: &str = "cluster.eks";

/// How the cluster authenticates IAM principals: access entries (for `cluster.admins`) and the
/// aws-auth ConfigMap (which EKS managed node groups still use).
pub const AUTHENTICATION_MODE: &str = "API_AND_CONFIG_MAP";

/// The EKS access policy given to `cluster.admins`, scoped to the whole cluster.
pub const CLUSTER_ADMIN_POLICY: &str =
    "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

/// Control-plane log types sent to CloudWatch.
pub const EKS_LOG_TYPES: &[&str] =
    &["api", "audit", "authenticator", "controllerManager", "scheduler"];

/// The address of the EKS add-on `name` (`cluster.addon_vpc_cni`, …).
pub fn addon_address(name: &str) -> String {
    format!("cluster.addon_{}", name.replace('-', "_"))
}

pub(super) fn cluster_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    out.push(
        eks::Cluster {
            version: stack.cluster.kubernetes_version.as_str().into(),
            role_arn: r("iam.cluster_role", "arn"),
            subnet_ids: list(net.private_subnets.clone()),
            security_group_ids: list(vec![r("network.node_security_group", "id")]),
            endpoint_private_access: true.into(),
            endpoint_public_access: true.into(),
            public_access_cidrs: Expr::lit(json!(stack.cluster.public_access_cidrs)),
            enabled_log_types: strings(EKS_LOG_TYPES),
            authentication_mode: AUTHENTICATION_MODE.into(),
            encryption_key_arn: kms_key_arn(stack),
            tags: tags(stack, EKS_CLUSTER, n),
        }
        .spec(EKS_CLUSTER, n)
        // EKS writes to its log group as soon as the control plane starts: it must be ours first
        .after("audit.eks_log_group"),
    );
    let lt = format!("{n}-nodes");
    out.push(
        eks::LaunchTemplate {
            // the nodes' group only: EKS's cluster security group allows all egress, and a node in
            // both groups could reach anything. The control plane's interfaces carry the nodes'
            // group too (`cluster.eks` `security_group_ids`), which admits itself both ways.
            security_group_ids: list(vec![r("network.node_security_group", "id")]),
            http_tokens: "required".into(),
            // one hop: the node's own processes (kubelet, the VPC CNI on the host network) reach
            // IMDS, pods behind their own network namespace do not (they use IRSA, never the node role)
            http_put_response_hop_limit: 1u32.into(),
            tags: tags(stack, "cluster.node_launch_template", &lt),
        }
        .spec("cluster.node_launch_template", &lt),
    );
    let nodes = &stack.cluster.nodes;
    let ng = format!("{n}-nodes");
    out.push(
        eks::NodeGroup {
            cluster_name: r(EKS_CLUSTER, "name"),
            node_role_arn: r("iam.node_role", "arn"),
            subnet_ids: list(net.private_subnets.clone()),
            instance_types: Expr::lit(json!(nodes.instance_types)),
            min_size: nodes.min.into(),
            max_size: nodes.max.into(),
            desired_size: nodes.desired.into(),
            launch_template_id: r("cluster.node_launch_template", "id"),
            launch_template_version: r("cluster.node_launch_template", "latest_version"),
            ami_type: nodes.ami_type.as_str().into(),
            // after the control plane's own update (the group depends on the cluster): EKS
            // refuses the next control-plane update while a node group is a minor behind
            version: stack.cluster.kubernetes_version.as_str().into(),
            tags: tags(stack, "cluster.node_group", &ng),
        }
        .spec("cluster.node_group", &ng),
    );
    // the managed add-ons, after the node group: on a Kubernetes upgrade EKS wants the control
    // plane, then the nodes, then the add-ons at versions listed for the new minor
    for addon in &stack.cluster.addons {
        let address = addon_address(&addon.name);
        out.push(
            eks::Addon {
                cluster_name: r(EKS_CLUSTER, "name"),
                addon_version: addon.version.as_str().into(),
                tags: tags(stack, &address, &addon.name),
            }
            .spec(&address, &addon.name)
            .after("cluster.node_group"),
        );
    }
    for (i, principal) in stack.cluster.admins.iter().enumerate() {
        out.push(
            eks::AccessEntry {
                cluster_name: r(EKS_CLUSTER, "name"),
                principal_arn: principal.as_str().into(),
                policy_arn: CLUSTER_ADMIN_POLICY.into(),
            }
            .spec(&format!("cluster.admin[{i}]"), principal),
        );
    }
}
