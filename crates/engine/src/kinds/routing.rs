//! Routing kinds: internet gateway, Elastic IPs, NAT gateways, route tables and their
//! associations, VPC endpoints.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The internet gateway, attached to the VPC.
    InternetGateway, INTERNET_GATEWAY = "aws_internet_gateway" {
        vpc_id: Str,
        tags: Tags,
    }
    outputs: [id],
    schema: .typical(3).timeouts(20 * MIN, 20 * MIN, 20 * MIN).iam(iam! {
        read: ["ec2:DescribeInternetGateways"],
        create: ["ec2:CreateInternetGateway", "ec2:AttachInternetGateway", "ec2:CreateTags"],
        update: ["ec2:AttachInternetGateway", "ec2:DetachInternetGateway", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DetachInternetGateway", "ec2:DeleteInternetGateway"],
    }),
}

kind! {
    /// The Elastic IP of a NAT gateway.
    Eip, EIP = "aws_eip" {
        tags: Tags,
    }
    outputs: [id, public_ip],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeAddresses"],
        create: ["ec2:AllocateAddress", "ec2:CreateTags"],
        update: ["ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:ReleaseAddress"],
    }),
}

kind! {
    /// A NAT gateway in a public subnet.
    NatGateway, NAT_GATEWAY = "aws_nat_gateway" {
        subnet_id: Str [force_new],
        allocation_id: Str [force_new],
        tags: Tags,
    }
    outputs: [id],
    schema: .typical(120).timeouts(10 * MIN, 10 * MIN, 30 * MIN).iam(iam! {
        read: ["ec2:DescribeNatGateways"],
        create: ["ec2:CreateNatGateway", "ec2:CreateTags"],
        update: ["ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteNatGateway"],
    }),
}

kind! {
    /// A route table with its default route.
    RouteTable, ROUTE_TABLE = "aws_route_table" {
        vpc_id: Str [force_new],
        routes: List [set],
        tags: Tags,
    }
    outputs: [id],
    schema: .typical(2).timeouts(5 * MIN, 2 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeRouteTables"],
        create: ["ec2:CreateRouteTable", "ec2:CreateRoute", "ec2:CreateTags"],
        update: ["ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteRouteTable"],
    }),
}

kind! {
    /// A subnet's association with a route table.
    RouteTableAssociation, ROUTE_TABLE_ASSOCIATION = "aws_route_table_association" {
        subnet_id: Str [force_new],
        route_table_id: Str,
    }
    outputs: [id],
    schema: .typical(1).timeouts(5 * MIN, 2 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeRouteTables"],
        create: ["ec2:AssociateRouteTable"],
        update: ["ec2:ReplaceRouteTableAssociation"],
        delete: ["ec2:DisassociateRouteTable"],
    }),
}

kind! {
    /// A VPC endpoint: interface (subnets, security groups, private DNS) or gateway (route tables).
    VpcEndpoint, VPC_ENDPOINT = "aws_vpc_endpoint" {
        vpc_id: Str [force_new],
        service_name: Str [force_new],
        vpc_endpoint_type: Str [force_new],
        tags: Tags,
    }
    optional {
        subnet_ids: Strings [set],
        security_group_ids: Strings [set],
        route_table_ids: Strings [set],
        private_dns_enabled: Bool,
    }
    outputs: [id],
    schema: .typical(60).timeouts(10 * MIN, 10 * MIN, 10 * MIN).iam(iam! {
        read: ["ec2:DescribeVpcEndpoints"],
        create: ["ec2:CreateVpcEndpoint", "ec2:CreateTags"],
        update: ["ec2:ModifyVpcEndpoint", "ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteVpcEndpoints"],
    }),
}
