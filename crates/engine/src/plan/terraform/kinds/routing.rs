//! The gateway, route table and VPC endpoint kinds of `crate::kinds::routing` in Terraform.

use super::*;

pub(super) fn internet_gateway(s: &Src) -> Vec<TfResource> {
    vec![one("aws_internet_gateway", vec![("vpc_id", s.get("vpc_id")), tags(s)])]
}

pub(super) fn eip(s: &Src) -> Vec<TfResource> {
    vec![one("aws_eip", vec![("domain", lit("vpc")), tags(s)])]
}

pub(super) fn nat_gateway(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_nat_gateway",
        vec![
            ("allocation_id", s.get("allocation_id")),
            ("subnet_id", s.get("subnet_id")),
            ("connectivity_type", lit("public")),
            tags(s),
        ],
    )]
}

pub(super) fn route_table(s: &Src) -> Vec<TfResource> {
    let routes = elems(&s.expr("routes"))
        .iter()
        .map(|r| {
            obj(vec![
                ("cidr_block", field(r, "destination_cidr_block")),
                ("gateway_id", field(r, "gateway_id")),
                ("nat_gateway_id", field(r, "nat_gateway_id")),
            ])
        })
        .collect();
    vec![one(
        "aws_route_table",
        vec![("vpc_id", s.get("vpc_id")), ("route", TfValue::List(routes)), tags(s)],
    )]
}

pub(super) fn route_table_association(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_route_table_association",
        vec![("subnet_id", s.get("subnet_id")), ("route_table_id", s.get("route_table_id"))],
    )]
}

pub(super) fn vpc_endpoint(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_vpc_endpoint",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("service_name", s.get("service_name")),
            ("vpc_endpoint_type", s.get("vpc_endpoint_type")),
            ("subnet_ids", s.get("subnet_ids")),
            ("security_group_ids", s.get("security_group_ids")),
            ("route_table_ids", s.get("route_table_ids")),
            ("private_dns_enabled", s.get("private_dns_enabled")),
            tags(s),
        ],
    )]
}
