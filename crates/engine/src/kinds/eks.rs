//! EKS kinds: the cluster (control plane), the nodes' launch template and the managed node group.

use super::MIN;
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
        tags: Tags,
    }
    outputs: [id, name, arn, endpoint, certificate_authority, oidc_issuer, cluster_security_group_id],
    schema: .typical(600).timeouts(30 * MIN, 60 * MIN, 15 * MIN).iam(iam! {
        read: ["eks:DescribeCluster"],
        create: ["eks:CreateCluster", "eks:TagResource", "iam:PassRole"],
        update: ["eks:UpdateClusterConfig", "eks:UpdateClusterVersion", "eks:TagResource", "eks:UntagResource"],
        delete: ["eks:DeleteCluster"],
    }),
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
        tags: Tags,
    }
    outputs: [id, name, arn, autoscaling_group_name],
    schema: .typical(180).timeouts(60 * MIN, 60 * MIN, 60 * MIN).iam(iam! {
        read: ["eks:DescribeNodegroup"],
        create: ["eks:CreateNodegroup", "eks:TagResource", "iam:PassRole"],
        update: ["eks:UpdateNodegroupConfig", "eks:UpdateNodegroupVersion", "eks:TagResource", "eks:UntagResource"],
        delete: ["eks:DeleteNodegroup"],
    }),
}
