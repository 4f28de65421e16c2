//! The Cognito user pool, its domain, app client and first admin (none with Keycloak).

use super::*;
use crate::kinds::cognito;

/// The Cognito pool's password policy: CIS AWS Foundations Benchmark's account password policy
/// (recommendations 1.8 and 1.9: at least 14 characters, the last 24 passwords not reused) with
/// every character class, and the invitation's temporary password valid 7 days (Cognito's default).
pub fn password_policy() -> Value {
    json!({
        "minimum_length": 14,
        "require_lowercase": true,
        "require_uppercase": true,
        "require_numbers": true,
        "require_symbols": true,
        "temporary_password_validity_days": 7,
        "password_history_size": 24,
    })
}

/// Cognito: the user pool, its domain, the ALB's client and the initial admin. Keycloak: nothing
/// here (the realm, client and users are the organisation's; `plan` checks them first).
pub(super) fn identity_area(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let Some(domain_prefix) = stack.identity.cognito_domain_prefix() else { return };
    let n = &stack.name;
    let pool = format!("{n}-users");
    out.push(
        cognito::UserPool {
            username_attributes: strings(&["email"]),
            auto_verified_attributes: strings(&["email"]),
            admin_create_user_only: true.into(),
            mfa_configuration: stack
                .identity
                .cognito_mfa()
                .unwrap_or(crate::stack::Mfa::Required)
                .cognito()
                .into(),
            password_policy: Expr::lit(password_policy()),
            // threat protection (compromised credentials, adaptive authentication) needs the Plus
            // feature plan, priced per monthly active user (docs/IDENTITY.md)
            user_pool_tier: "PLUS".into(),
            advanced_security_mode: "ENFORCED".into(),
            deletion_protection: true.into(),
            tags: tags(stack, "identity.user_pool", &pool),
        }
        .spec("identity.user_pool", &pool),
    );
    out.push(
        cognito::Domain { user_pool_id: r("identity.user_pool", "id") }
            .spec("identity.domain", domain_prefix),
    );
    let client = format!("{n}-alb");
    out.push(
        cognito::Client {
            user_pool_id: r("identity.user_pool", "id"),
            generate_secret: true.into(),
            allowed_oauth_flows: strings(&["code"]),
            allowed_oauth_scopes: strings(&["openid", "email"]),
            callback_urls: Expr::lit(json!([format!(
                "https://{}/oauth2/idpresponse",
                stack.app.hostname
            )])),
            supported_identity_providers: strings(&["COGNITO"]),
            prevent_user_existence_errors: "ENABLED".into(),
        }
        .spec("identity.app_client", &client),
    );
    out.push(
        cognito::User {
            user_pool_id: r("identity.user_pool", "id"),
            email: stack.identity.admin_email.as_str().into(),
            email_verified: true.into(),
        }
        .spec("identity.admin_user", &stack.identity.admin_email),
    );
}
