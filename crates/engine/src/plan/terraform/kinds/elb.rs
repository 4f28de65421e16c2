//! The load balancer kinds of `crate::kinds::elb` in Terraform.

use super::*;

pub(super) fn load_balancer(s: &Src) -> Vec<TfResource> {
    let internal: fn(&Value) -> Value = |v| Value::Bool(v.as_str() == Some("internal"));
    vec![one(
        "aws_lb",
        vec![
            ("name", s.name()),
            ("internal", TfValue::Fn(Box::new(s.get("scheme")), internal)),
            ("load_balancer_type", lit("application")),
            ("subnets", s.get("subnet_ids")),
            ("security_groups", s.get("security_group_ids")),
            ("drop_invalid_header_fields", s.get("drop_invalid_header_fields")),
            ("enable_deletion_protection", s.get("deletion_protection")),
            (
                "access_logs",
                if s.inputs.contains_key("access_logs_bucket") {
                    block(vec![
                        ("bucket", s.get("access_logs_bucket")),
                        ("prefix", s.get("access_logs_prefix")),
                        ("enabled", lit(true)),
                    ])
                } else {
                    TfValue::List(vec![])
                },
            ),
            tags(s),
        ],
    )]
}

pub(super) fn target_group(s: &Src) -> Vec<TfResource> {
    let port: fn(&Value) -> Value = |v| match v {
        Value::Null => json!("traffic-port"),
        other => Value::String(other.to_string()),
    };
    vec![one(
        "aws_lb_target_group",
        vec![
            ("name", s.name()),
            ("port", s.get("port")),
            ("protocol", s.get("protocol")),
            ("target_type", s.get("target_type")),
            ("vpc_id", s.get("vpc_id")),
            (
                "health_check",
                block(vec![
                    ("enabled", lit(true)),
                    ("path", s.get("health_check_path")),
                    ("matcher", s.get("health_check_matcher")),
                    ("port", TfValue::Fn(Box::new(s.get("health_check_port")), port)),
                    ("protocol", lit("HTTP")),
                ]),
            ),
            tags(s),
        ],
    )]
}

/// A listener's or rule's actions as `default_action`/`action` blocks, in order.
pub(super) fn actions(e: &Expr) -> TfValue {
    TfValue::List(
        elems(e)
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let ty = super::super::literal(
                    &members(a)
                        .into_iter()
                        .find(|(k, _)| k == "type")
                        .map(|(_, v)| v)
                        .unwrap_or(Expr::Lit(Value::Null)),
                )
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
                let when = |t: &str, x: TfValue| {
                    if ty == t {
                        TfValue::List(vec![x])
                    } else {
                        lit(json!([]))
                    }
                };
                obj(vec![
                    ("type", lit(ty.clone())),
                    ("order", lit(i + 1)),
                    (
                        "target_group_arn",
                        if ty == "forward" {
                            field(a, "target_group_arn")
                        } else {
                            lit(Value::Null)
                        },
                    ),
                    (
                        "redirect",
                        when(
                            "redirect",
                            obj(vec![
                                ("port", field(a, "port")),
                                ("protocol", field(a, "protocol")),
                                ("status_code", field(a, "status_code")),
                            ]),
                        ),
                    ),
                    (
                        "authenticate_cognito",
                        when(
                            "authenticate-cognito",
                            obj(vec![
                                ("user_pool_arn", field(a, "user_pool_arn")),
                                ("user_pool_client_id", field(a, "user_pool_client_id")),
                                ("user_pool_domain", field(a, "user_pool_domain")),
                            ]),
                        ),
                    ),
                    (
                        "authenticate_oidc",
                        when(
                            "authenticate-oidc",
                            obj(vec![
                                ("issuer", field(a, "issuer")),
                                ("authorization_endpoint", field(a, "authorization_endpoint")),
                                ("token_endpoint", field(a, "token_endpoint")),
                                ("user_info_endpoint", field(a, "user_info_endpoint")),
                                ("client_id", field(a, "client_id")),
                                // read from the organisation's own secret when the listener is written
                                ("client_secret", TfValue::Sensitive),
                                ("scope", field(a, "scope")),
                            ]),
                        ),
                    ),
                ])
            })
            .collect(),
    )
}

pub(super) fn listener(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_lb_listener",
        vec![
            ("load_balancer_arn", s.get("load_balancer_arn")),
            ("port", s.get("port")),
            ("protocol", s.get("protocol")),
            ("ssl_policy", s.get("ssl_policy")),
            ("certificate_arn", s.get("certificate_arn")),
            ("default_action", actions(&s.expr("actions"))),
        ],
    )]
}

pub(super) fn listener_rule(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_lb_listener_rule",
        vec![
            ("listener_arn", s.get("listener_arn")),
            ("priority", s.get("priority")),
            ("action", actions(&s.expr("actions"))),
            (
                "condition",
                block(vec![("path_pattern", block(vec![("values", s.get("path_patterns"))]))]),
            ),
        ],
    )]
}

pub(super) fn asg_attachment(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_autoscaling_attachment",
        vec![
            ("autoscaling_group_name", s.get("autoscaling_group_name")),
            ("lb_target_group_arn", s.get("target_group_arn")),
        ],
    )]
}
