//! Edge kinds: the ALB, its target groups, listeners and rule, and the node group's attachment
//! to the target groups.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The internet-facing Application Load Balancer.
    LoadBalancer, LOAD_BALANCER = "aws_lb" {
        scheme: Str [force_new],
        subnet_ids: Strings [set],
        security_group_ids: Strings [set],
        drop_invalid_header_fields: Bool,
        // on by default; destroy turns it off just before it deletes the load balancer
        deletion_protection: Bool,
        tags: Tags,
    }
    optional {
        // access logs to this bucket (SSE-S3 only: ALB cannot write to an SSE-KMS bucket), under the prefix
        access_logs_bucket: Str,
        access_logs_prefix: Str,
    }
    outputs: [id, arn, dns_name, zone_id],
    schema: .typical(180).timeouts(10 * MIN, 10 * MIN, 10 * MIN).iam(iam! {
        read: ["elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DescribeTags"],
        create: ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:AddTags"],
        update: [
            "elasticloadbalancing:SetSubnets", "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
        ],
        delete: ["elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:DeleteLoadBalancer"],
    }),
}

kind! {
    /// A target group (the node port of the api or the frontend).
    TargetGroup, TARGET_GROUP = "aws_lb_target_group" {
        vpc_id: Str [force_new],
        port: Int [force_new],
        protocol: Str [force_new],
        target_type: Str [force_new],
        health_check_path: Str,
        health_check_matcher: Str,
        tags: Tags,
    }
    optional {
        // where health checks go when not to `port` (AWS's default, `traffic-port`)
        health_check_port: Int,
    }
    outputs: [id, arn, name],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"],
        create: ["elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags"],
        update: ["elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
        delete: ["elasticloadbalancing:DeleteTargetGroup"],
    }),
}

kind! {
    /// A listener (HTTP redirect, or HTTPS with authentication and forwarding).
    Listener, LISTENER = "aws_lb_listener" {
        load_balancer_arn: Str [force_new],
        port: Int,
        protocol: Str,
        actions: List,
    }
    optional {
        certificate_arn: Str,
        ssl_policy: Str,
    }
    outputs: [id, arn],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        // plan checks the certificate the listener will serve before anything is made
        read: ["elasticloadbalancing:DescribeListeners", "acm:DescribeCertificate"],
        create: ["elasticloadbalancing:CreateListener", "cognito-idp:DescribeUserPoolClient", "secretsmanager:GetSecretValue"],
        update: ["elasticloadbalancing:ModifyListener", "cognito-idp:DescribeUserPoolClient", "secretsmanager:GetSecretValue"],
        delete: ["elasticloadbalancing:DeleteListener"],
    }),
}

kind! {
    /// A listener rule (path patterns to a target group).
    ListenerRule, LISTENER_RULE = "aws_lb_listener_rule" {
        listener_arn: Str [force_new],
        priority: Int,
        path_patterns: Strings [set],
        actions: List,
    }
    outputs: [id, arn],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["elasticloadbalancing:DescribeRules"],
        create: ["elasticloadbalancing:CreateRule", "cognito-idp:DescribeUserPoolClient", "secretsmanager:GetSecretValue"],
        update: ["elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities", "cognito-idp:DescribeUserPoolClient", "secretsmanager:GetSecretValue"],
        delete: ["elasticloadbalancing:DeleteRule"],
    }),
}

kind! {
    /// The node group's Auto Scaling group registered with a target group.
    AsgAttachment, ASG_ATTACHMENT = "aws_autoscaling_attachment" {
        autoscaling_group_name: Str [force_new],
        target_group_arn: Str [force_new],
    }
    outputs: [id],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLoadBalancerTargetGroups"],
        create: ["autoscaling:AttachLoadBalancerTargetGroups"],
        update: [],
        delete: ["autoscaling:DetachLoadBalancerTargetGroups"],
    }),
}
