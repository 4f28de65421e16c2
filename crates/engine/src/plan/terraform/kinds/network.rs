//! The VPC, subnet and security group kinds of `crate::kinds::network` in Terraform.

use super::*;

pub(super) fn vpc(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_vpc",
        vec![
            ("cidr_block", s.get("cidr_block")),
            ("enable_dns_hostnames", s.get("enable_dns_hostnames")),
            ("enable_dns_support", s.get("enable_dns_support")),
            tags(s),
        ],
    )]
}

pub(super) fn subnet(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_subnet",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("cidr_block", s.get("cidr_block")),
            ("availability_zone", s.get("availability_zone")),
            ("map_public_ip_on_launch", s.get("map_public_ip_on_launch")),
            tags(s),
        ],
    )]
}

/// A security group rule block (`ingress`/`egress`): every attribute present, as the provider's
/// set elements are.
pub(super) fn sg_rule(
    protocol: TfValue,
    from: TfValue,
    to: TfValue,
    cidr_blocks: TfValue,
    security_groups: TfValue,
    myself: bool,
) -> TfValue {
    obj(vec![
        ("protocol", protocol),
        ("from_port", from),
        ("to_port", to),
        ("cidr_blocks", cidr_blocks),
        ("security_groups", security_groups),
        ("ipv6_cidr_blocks", lit(json!([]))),
        ("prefix_list_ids", lit(json!([]))),
        ("self", lit(myself)),
        ("description", lit(Value::Null)),
    ])
}

/// The rule blocks of one direction: one rule per peer (`cidr_block`, `source_security_group_id` or
/// `self`).
pub(super) fn sg_rules(s: &Src, direction: &str) -> TfValue {
    TfValue::List(
        elems(&s.expr(direction))
            .iter()
            .map(|r| {
                let one_of = |k: &str| match members(r).into_iter().find(|(key, _)| key == k) {
                    Some((_, e)) => TfValue::List(vec![TfValue::E(e)]),
                    None => lit(json!([])),
                };
                sg_rule(
                    field(r, "protocol"),
                    field(r, "from_port"),
                    field(r, "to_port"),
                    one_of("cidr_block"),
                    one_of("source_security_group_id"),
                    members(r).into_iter().any(|(k, _)| k == "self"),
                )
            })
            .collect(),
    )
}

pub(super) fn security_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_security_group",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("vpc_id", s.get("vpc_id")),
            ("ingress", sg_rules(s, "ingress")),
            ("egress", sg_rules(s, "egress")),
            tags(s),
        ],
    )]
}

pub(super) fn default_security_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_default_security_group",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("ingress", sg_rules(s, "ingress")),
            ("egress", sg_rules(s, "egress")),
            tags(s),
        ],
    )]
}
