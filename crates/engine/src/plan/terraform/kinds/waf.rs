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
    let large: Vec<_> = elems(&s.expr("large_body_paths"));
    let groups = elems(&s.expr("managed_rule_groups"));
    let core = |g: &Expr| {
        super::super::literal(g).and_then(|v| v.as_str().map(String::from)).as_deref()
            == Some("AWSManagedRulesCommonRuleSet")
    };
    // one rule per AWS managed rule group, in order, counting nothing out (override `none`) but
    // the core rule set's body size rule where large bodies are allowed
    let mut rules: Vec<TfValue> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut statement = vec![("name", TfValue::E(g.clone())), ("vendor_name", lit("AWS"))];
            if core(g) && !large.is_empty() {
                statement.push((
                    "rule_action_override",
                    block(vec![
                        ("name", lit("SizeRestrictions_BODY")),
                        ("action_to_use", block(vec![("count", block(vec![]))])),
                    ]),
                ));
            }
            obj(vec![
                ("name", TfValue::E(g.clone())),
                ("priority", lit(i)),
                ("override_action", block(vec![("none", block(vec![]))])),
                ("statement", block(vec![("managed_rule_group_statement", block(statement))])),
                ("visibility_config", visibility(TfValue::E(g.clone()))),
            ])
        })
        .collect();
    if !large.is_empty() && groups.iter().any(core) {
        // what that rule labels is blocked outside the large-body paths
        let on_a_path: Vec<TfValue> = large
            .iter()
            .map(|p| {
                obj(vec![(
                    "byte_match_statement",
                    block(vec![
                        ("search_string", TfValue::E(p.clone())),
                        ("positional_constraint", lit("STARTS_WITH")),
                        ("field_to_match", block(vec![("uri_path", block(vec![]))])),
                        (
                            "text_transformation",
                            block(vec![("priority", lit(0)), ("type", lit("NONE"))]),
                        ),
                    ]),
                )])
            })
            .collect();
        let label = obj(vec![(
            "label_match_statement",
            block(vec![
                ("scope", lit("LABEL")),
                ("key", lit("awswaf:managed:aws:core-rule-set:SizeRestrictions_Body")),
            ]),
        )]);
        let not =
            obj(vec![("not_statement", block(vec![("statement", TfValue::List(on_a_path))]))]);
        rules.push(obj(vec![
            ("name", lit("BodySizeOutsideLargeBodyPaths")),
            ("priority", lit(groups.len())),
            ("action", block(vec![("block", block(vec![]))])),
            (
                "statement",
                block(vec![(
                    "and_statement",
                    block(vec![("statement", TfValue::List(vec![label, not]))]),
                )]),
            ),
            ("visibility_config", visibility(lit("BodySizeOutsideLargeBodyPaths"))),
        ]));
    }
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
