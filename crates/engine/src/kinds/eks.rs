//! EKS kinds: the cluster (control plane), the nodes' launch template and the managed node group.

use super::MIN;
use crate::resource::Propagation;
use crate::{iam, kind};

kind! {
    /// The EKS cluster, in the private subnets, with control-plane logging.
    Cluster, CLUSTER = "aws_eks_cluster" {
        version: Str,
        role_arn: Str [force_new],
        subnet_ids: Strings [force_new set],
        security_group_ids: Strings [force_new set],
        endpoint_private_access: Bool,
        endpoint_public_access: Bool,
        public_access_cidrs: Strings [set],
        enabled_log_types: Strings [set],
        // API_AND_CONFIG_MAP: access entries (cluster.admins) as well as the aws-auth ConfigMap
        authentication_mode: Str,
        // envelope encryption of Kubernetes secrets: EKS associates a key once and never removes it
        encryption_key_arn: Str [set_once],
        tags: Tags,
    }
    outputs: [id, name, arn, endpoint, certificate_authority, oidc_issuer, cluster_security_group_id],
    schema: .typical(600).timeouts(30 * MIN, 60 * MIN, 15 * MIN).iam(iam! {
        // plan reads the upgrade insights before a version change
        read: ["eks:DescribeCluster", "eks:DescribeUpdate", "eks:ListUpdates", "eks:DescribeClusterVersions", "eks:ListInsights"],
        create: ["eks:CreateCluster", "eks:TagResource", "iam:PassRole", "kms:DescribeKey", "kms:CreateGrant"],
        update: [
            "eks:UpdateClusterConfig", "eks:UpdateClusterVersion", "eks:AssociateEncryptionConfig", "eks:TagResource", "eks:UntagResource",
            "kms:DescribeKey", "kms:CreateGrant",
        ],
        delete: ["eks:DeleteCluster"],
    })
    // IAM is eventually consistent: a role created a moment ago is not yet assumable by EKS
    // (terraform-provider-aws internal/service/eks/cluster.go retries these for 2 minutes)
    .propagation(&[
        Propagation { code: "InvalidParameterException", message: "could not be assumed", waiting_for: "IAM role not yet assumable" },
        Propagation { code: "InvalidParameterException", message: "Error in role params", waiting_for: "IAM role not yet assumable" },
        Propagation {
            code: "InvalidParameterException",
            message: "doesn't have the Amazon EKS Managed Policies",
            waiting_for: "IAM role policies not yet visible to EKS",
        },
        // one EKS update at a time: the next waits for the one in progress
        Propagation { code: "ResourceInUseException", message: "currently has update", waiting_for: "the previous EKS update to finish" },
    ]),
}

kind! {
    /// The worker nodes' launch template (security groups, IMDSv2).
    LaunchTemplate, LAUNCH_TEMPLATE = "aws_launch_template" {
        security_group_ids: Strings [set],
        http_tokens: Str,
        http_put_response_hop_limit: Int,
        tags: Tags,
    }
    outputs: [id, name, latest_version],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
        create: ["ec2:CreateLaunchTemplate", "ec2:CreateTags"],
        update: ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteLaunchTemplate"],
    }),
}

kind! {
    /// The managed node group (its Auto Scaling group carries the ALB's targets).
    NodeGroup, NODE_GROUP = "aws_eks_node_group" {
        cluster_name: Str [force_new],
        node_role_arn: Str [force_new],
        subnet_ids: Strings [force_new set],
        instance_types: Strings [force_new],
        min_size: Int,
        max_size: Int,
        desired_size: Int,
        launch_template_id: Str [force_new],
        launch_template_version: Str,
        // AL2023 for the instance types' architecture (Graviton: ARM)
        ami_type: Str [force_new],
        // the nodes' Kubernetes minor: the control plane's, updated after it (UpdateNodegroupVersion
        // replaces the nodes, respecting PodDisruptionBudgets)
        version: Str,
        tags: Tags,
    }
    outputs: [id, name, arn, autoscaling_group_name],
    schema: .typical(180).timeouts(60 * MIN, 60 * MIN, 60 * MIN).iam(iam! {
        read: ["eks:DescribeNodegroup", "eks:DescribeUpdate"],
        create: ["eks:CreateNodegroup", "eks:TagResource", "iam:PassRole"],
        update: ["eks:UpdateNodegroupConfig", "eks:UpdateNodegroupVersion", "eks:TagResource", "eks:UntagResource"],
        delete: ["eks:DeleteNodegroup"],
    })
    .propagation(&[
        Propagation { code: "ResourceInUseException", message: "currently has update", waiting_for: "the previous EKS update to finish" },
    ]),
}

kind! {
    /// An IAM principal's access to the cluster (EKS access entry) with a cluster-scoped access
    /// policy: how `cluster.admins` reach Kubernetes without sharing the creator's identity.
    AccessEntry, ACCESS_ENTRY = "aws_eks_access_entry" {
        cluster_name: Str [force_new],
        principal_arn: Str [force_new],
        policy_arn: Str,
    }
    outputs: [id, arn],
    schema: .typical(2).timeouts(10 * MIN, 10 * MIN, 10 * MIN).iam(iam! {
        read: ["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"],
        create: ["eks:CreateAccessEntry", "eks:AssociateAccessPolicy"],
        update: ["eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy"],
        delete: ["eks:DeleteAccessEntry"],
    })
    // terraform-provider-aws internal/service/eks/access_entry.go: a new principal is not valid yet
    .propagation(&[
        Propagation { code: "InvalidParameterException", message: "principalArn is invalid", waiting_for: "IAM principal not yet visible to EKS" },
        Propagation { code: "ResourceNotFoundException", message: "principalArn could not be found", waiting_for: "IAM principal not yet visible to EKS" },
    ]),
}

kind! {
    /// One of the cluster's networking add-ons (vpc-cni, coredns, kube-proxy) as an EKS managed
    /// add-on, at the version EKS lists for the cluster's Kubernetes minor: EKS installs them
    /// self-managed at creation and never updates them after a cluster upgrade.
    Addon, ADDON = "aws_eks_addon" {
        cluster_name: Str [force_new],
        addon_version: Str,
        tags: Tags,
    }
    outputs: [id, arn],
    schema: .typical(60).timeouts(20 * MIN, 20 * MIN, 40 * MIN).iam(iam! {
        read: ["eks:DescribeAddon", "eks:DescribeAddonVersions", "eks:DescribeUpdate"],
        create: ["eks:CreateAddon", "eks:TagResource"],
        update: ["eks:UpdateAddon", "eks:TagResource", "eks:UntagResource"],
        delete: ["eks:DeleteAddon"],
    })
    .propagation(&[
        // EKS takes one add-on update at a time, and none while the cluster itself updates
        Propagation { code: "ResourceInUseException", message: "in progress", waiting_for: "the previous EKS update to finish" },
    ]),
}
