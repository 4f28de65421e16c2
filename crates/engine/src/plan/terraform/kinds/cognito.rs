//! The Cognito kinds of `crate::kinds::cognito` in Terraform.

use super::*;

pub(super) fn user_pool(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cognito_user_pool",
        vec![
            ("name", s.name()),
            ("username_attributes", s.get("username_attributes")),
            ("auto_verified_attributes", s.get("auto_verified_attributes")),
            (
                "admin_create_user_config",
                block(vec![("allow_admin_create_user_only", s.get("admin_create_user_only"))]),
            ),
            ("mfa_configuration", s.get("mfa_configuration")),
            // the TOTP method is on whenever MFA is (terraform-provider-aws requires the block then)
            (
                "software_token_mfa_configuration",
                TfValue::Fn(Box::new(s.get("mfa_configuration")), |m| {
                    if m == "OFF" {
                        json!([])
                    } else {
                        json!([{"enabled": true}])
                    }
                }),
            ),
            ("password_policy", TfValue::Fn(Box::new(s.get("password_policy")), |p| json!([p]))),
            ("user_pool_tier", s.get("user_pool_tier")),
            (
                "user_pool_add_ons",
                block(vec![("advanced_security_mode", s.get("advanced_security_mode"))]),
            ),
            (
                "deletion_protection",
                TfValue::Fn(Box::new(s.get("deletion_protection")), |on| {
                    json!(if on == &json!(true) { "ACTIVE" } else { "INACTIVE" })
                }),
            ),
            tags(s),
        ],
    )]
}

pub(super) fn user_pool_domain(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cognito_user_pool_domain",
        vec![("domain", s.name()), ("user_pool_id", s.get("user_pool_id"))],
    )]
}

pub(super) fn user_pool_client(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cognito_user_pool_client",
        vec![
            ("name", s.name()),
            ("user_pool_id", s.get("user_pool_id")),
            ("generate_secret", s.get("generate_secret")),
            ("allowed_oauth_flows", s.get("allowed_oauth_flows")),
            ("allowed_oauth_flows_user_pool_client", lit(true)),
            ("allowed_oauth_scopes", s.get("allowed_oauth_scopes")),
            ("callback_urls", s.get("callback_urls")),
            ("supported_identity_providers", s.get("supported_identity_providers")),
            ("prevent_user_existence_errors", s.get("prevent_user_existence_errors")),
            // Cognito generates it; the ALB reads it, nothing else
            ("client_secret", TfValue::Computed(Box::new(TfValue::Sensitive))),
        ],
    )]
}

pub(super) fn cognito_user(s: &Src) -> Vec<TfResource> {
    let as_string: fn(&Value) -> Value = |v| match v {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    vec![one(
        "aws_cognito_user",
        vec![
            ("user_pool_id", s.get("user_pool_id")),
            ("username", s.get("email")),
            (
                "attributes",
                obj(vec![
                    ("email", s.get("email")),
                    ("email_verified", TfValue::Fn(Box::new(s.get("email_verified")), as_string)),
                ]),
            ),
        ],
    )]
}
