//! The WAF kinds of `crate::kinds::waf` in Terraform.

use super::*;

pub(super) fn visibility(metric: TfValue) -> TfValue {
    block(vec![
        ("cloudwatch_metrics_enabled", lit(true)),
        ("metric_name", metric),
        ("sampled_requests_enabled", lit(true)),
    ])
}

pub(super) fn web_acl(s: &Src) -> Vec<TfResource> {
    // one rule per AWS managed rule group, in order, counting nothing out (override `none`)
    let rules = elems(&s.expr("managed_rule_groups"))
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            obj(vec![
                ("name", TfValue::E(g.clone())),
                ("priority", lit(i)),
                ("override_action", block(vec![("none", block(vec![]))])),
                (
                    "statement",
                    block(vec![(
                        "managed_rule_group_statement",
                        block(vec![("name", TfValue::E(g.clone())), ("vendor_name", lit("AWS"))]),
                    )]),
                ),
                ("visibility_config", visibility(TfValue::E(g))),
            ])
        })
        .collect();
    vec![one(
        "aws_wafv2_web_acl",
        vec![
            ("name", s.name()),
            ("scope", lit("REGIONAL")),
            ("default_action", block(vec![("allow", block(vec![]))])),
            ("rule", TfValue::List(rules)),
            ("visibility_config", visibility(s.name())),
            tags(s),
        ],
    )]
}

pub(super) fn web_acl_association(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_wafv2_web_acl_association",
        vec![("resource_arn", s.get("resource_arn")), ("web_acl_arn", s.get("web_acl_arn"))],
    )]
}

pub(super) fn web_acl_logging(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_wafv2_web_acl_logging_configuration",
        vec![
            ("resource_arn", s.get("resource_arn")),
            ("log_destination_configs", TfValue::List(vec![s.get("log_destination_arn")])),
        ],
    )]
}
