//! Network kinds: VPC, subnets, security groups.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The stack's VPC.
    Vpc, VPC = "aws_vpc" {
        cidr_block: Str [force_new],
        enable_dns_hostnames: Bool,
        enable_dns_support: Bool,
        tags: Tags,
    }
    outputs: [id, cidr_block],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 10 * MIN).iam(iam! {
        read: ["ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"],
        create: ["ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:CreateTags"],
        update: ["ec2:ModifyVpcAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteVpc"],
    }),
}

kind! {
    /// A public or private subnet of one zone.
    Subnet, SUBNET = "aws_subnet" {
        vpc_id: Str [force_new],
        cidr_block: Str [force_new],
        availability_zone: Str [force_new],
        map_public_ip_on_launch: Bool,
        tags: Tags,
    }
    outputs: [id, availability_zone],
    schema: .typical(2).timeouts(10 * MIN, 10 * MIN, 20 * MIN).iam(iam! {
        read: ["ec2:DescribeSubnets"],
        create: ["ec2:CreateSubnet", "ec2:ModifySubnetAttribute", "ec2:CreateTags"],
        update: ["ec2:ModifySubnetAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteSubnet"],
    }),
}

kind! {
    /// A security group with its ingress and egress rules (one rule per peer: a `cidr_block`, a
    /// `source_security_group_id` (ingress only) or `self: true`). AWS gives a new group an
    /// allow-all egress rule; the create revokes it, so the group allows only the egress it declares.
    SecurityGroup, SECURITY_GROUP = "aws_security_group" {
        vpc_id: Str [force_new],
        description: Str [force_new],
        ingress: List [set],
        egress: List [set],
        tags: Tags,
    }
    outputs: [id, name],
    schema: .typical(2).timeouts(10 * MIN, 10 * MIN, 15 * MIN).iam(iam! {
        read: ["ec2:DescribeSecurityGroups"],
        create: [
            "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags",
        ],
        update: [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags", "ec2:DeleteTags",
        ],
        delete: ["ec2:DeleteSecurityGroup"],
    }),
}

kind! {
    /// The VPC's default security group, taken over: AWS creates it with the VPC (ingress from
    /// itself, egress anywhere) and any instance or endpoint launched without a group lands in it;
    /// empi-infra keeps it without rules. It cannot be deleted (it goes with the VPC), so a destroy
    /// leaves it alone.
    DefaultSecurityGroup, DEFAULT_SECURITY_GROUP = "aws_default_security_group" {
        vpc_id: Str [force_new],
        ingress: List [set],
        egress: List [set],
        tags: Tags,
    }
    outputs: [id],
    schema: .typical(1).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeSecurityGroups"],
        create: ["ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags"],
        update: [
            "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags", "ec2:DeleteTags",
        ],
        delete: ["ec2:DescribeSecurityGroups"],
    }),
}
