//! The application's config secret and the config document upstream's `backend/main/config.py`
//! reads from it.

use super::*;
use crate::kinds::secrets;
use crate::stack::{TAG_DB_PASSWORD_SET, TAG_DJANGO_KEY_SET};

/// The config secret's name.
pub fn config_secret_name(stack: &Stack) -> String {
    format!("{}/tuva-empi-config", stack.name)
}

/// The config secret: it holds the generated secrets; the database reads its password from it.
pub(super) fn config_secret(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let secret = config_secret_name(stack);
    out.push(
        secrets::Secret {
            description: format!(
                "Tuva EMPI backend configuration of stack {} (managed by empi-infra)",
                stack.name
            )
            .into(),
            kms_key_id: kms_key_arn(stack),
            tags: secret_tags(stack, &secret),
        }
        .spec("config.secret", &secret),
    );
}

/// The config secret's tags, with when its generated values were set (none before the stack is
/// placed: no state yet).
fn secret_tags(stack: &Stack, secret: &str) -> Expr {
    let mut t = stack.resource_tags("config.secret", secret);
    let r = &stack.security.secrets;
    if !r.db_password_set.is_empty() {
        t.insert(TAG_DB_PASSWORD_SET.into(), r.db_password_set.clone());
    }
    if !r.django_key_set.is_empty() {
        t.insert(TAG_DJANGO_KEY_SET.into(), r.django_key_set.clone());
    }
    Expr::lit(serde_json::to_value(t).unwrap())
}

/// Where the config document holds the Keycloak client secret (copied from `client_secret_arn`).
pub const KEYCLOAK_SECRET_POINTER: &str = "/idp/keycloak/client_secret";

/// The config document's `idp` block (upstream's `IdpConfig`).
pub(super) fn idp_block(stack: &Stack) -> Expr {
    match stack.identity.keycloak() {
        None => obj(vec![
            ("backend", s("aws-cognito")),
            (
                "aws_cognito",
                obj(vec![
                    ("cognito_user_pool_id", r("identity.user_pool", "id")),
                    ("jwt_header", s(ALB_TOKEN_HEADER)),
                    ("client_id", r("identity.app_client", "id")),
                    (
                        "jwks_url",
                        cat(vec![
                            s(&format!("https://cognito-idp.{}.amazonaws.com/", stack.region)),
                            r("identity.user_pool", "id"),
                            s("/.well-known/jwks.json"),
                        ]),
                    ),
                ]),
            ),
        ]),
        Some(kc) => obj(vec![
            ("backend", s("keycloak")),
            (
                "keycloak",
                obj(vec![
                    ("server_url", s(&kc.server_url)),
                    ("realm", s(&kc.realm)),
                    ("jwt_header", s(ALB_TOKEN_HEADER)),
                    ("jwks_url", s(&kc.endpoints.jwks_uri)),
                    ("client_id", s(&kc.client_id)),
                    ("client_secret", s(SENSITIVE)),
                    ("jwt_aud", s(&kc.jwt_aud)),
                ]),
            ),
        ]),
    }
}

/// The config's `matching_service` block. The `k8s_job_runner` block only with the k8s runner:
/// upstream requires `job_image` (from the environment) whenever the block is present.
pub(super) fn matching_service(stack: &Stack) -> Expr {
    let mut block = vec![("job_runner", s(&stack.app.matching_job_runner))];
    if stack.app.matching_job_runner == "k8s" {
        let mut runner = vec![
            ("job_image_pull_policy", s("IfNotPresent")),
            ("job_service_account_name", s(super::workloads::MATCHING_JOB_SERVICE_ACCOUNT)),
        ];
        if stack.app.tuva.job_namespace {
            runner.push(("job_namespace", s(&stack.app.matching_job_namespace)));
        }
        block.push(("k8s_job_runner", obj(runner)));
    }
    obj(block)
}

/// The config document, composed from the other resources' outputs.
pub(super) fn config_document(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let document = obj(vec![
        ("env", s(n)),
        (
            "db",
            obj(vec![
                ("user", s(db_login(stack))),
                ("password", s(SENSITIVE)),
                ("name", s(DB_NAME)),
                ("host", r("database.instance", "address")),
                // a string: upstream's validated config (main from 4b81767) rejects a JSON number
                ("port", cat(vec![r("database.instance", "port")])),
            ]),
        ),
        (
            "django",
            obj(vec![
                ("debug", Expr::lit(false)),
                ("secret_key", s(SENSITIVE)),
                ("allowed_hosts", Expr::lit(json!(allowed_hosts(stack)))),
                ("cors_allowed_origins", Expr::lit(json!([]))),
            ]),
        ),
        ("idp", idp_block(stack)),
        ("initial_setup", obj(vec![("admin_email", s(&stack.identity.admin_email))])),
        ("matching_service", matching_service(stack)),
    ]);
    // secrets the document copies from the user's own secrets, by where they go in it
    let copied = stack
        .identity
        .keycloak()
        .map(|kc| Expr::lit(json!({KEYCLOAK_SECRET_POINTER: kc.client_secret_arn})));
    out.push(
        secrets::SecretValue {
            secret_id: r("config.secret", "arn"),
            document,
            copied_secrets: copied,
        }
        .spec("config.document", &config_secret_name(stack)),
    );
}

/// Hosts Django accepts: the public hostname, plus the names health probes use.
pub fn allowed_hosts(stack: &Stack) -> Vec<String> {
    vec![stack.app.hostname.clone(), "localhost".into(), "127.0.0.1".into()]
}
