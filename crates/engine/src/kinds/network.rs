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
    /// A security group with its ingress rules (one rule per source).
    SecurityGroup, SECURITY_GROUP = "aws_security_group" {
        vpc_id: Str [force_new],
        description: Str [force_new],
        ingress: List [set],
        tags: Tags,
    }
    outputs: [id, name],
    schema: .typical(2).timeouts(10 * MIN, 10 * MIN, 15 * MIN).iam(iam! {
        read: ["ec2:DescribeSecurityGroups"],
        create: ["ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags"],
        update: ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteSecurityGroup"],
    }),
}
