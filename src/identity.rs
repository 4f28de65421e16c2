//! Identity checks that catch a broken sign-in before users do. For a Keycloak realm, `plan` reads
//! (never writes) the realm the way the ALB and Tuva EMPI will use it: the discovery document, the
//! signing keys, the client's credentials and the admin API that Tuva's `bootstrap` pages through.
//! For Cognito, the pool the stack made must hold exactly one user with the admin's email after
//! `apply`, and a warning says when it outgrows the one page Tuva reads.

use std::time::Duration;

use aws_sdk_cognitoidentityprovider::Client as Cognito;
use empi_engine::stack::{KeycloakConfig, OidcEndpoints};
use serde_json::Value;

/// A check that failed: one sentence, and what to change.
#[derive(Debug, thiserror::Error)]
#[error("{message}\n  fix: {fix}")]
pub struct IdentityError {
    pub message: String,
    pub fix: String,
}

fn fail<T>(message: impl Into<String>, fix: impl Into<String>) -> Result<T, IdentityError> {
    Err(IdentityError { message: message.into(), fix: fix.into() })
}

/// Each request to Keycloak gives up after this long (upstream's own client uses 10 s too).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Users per admin-API page, as upstream's `KeycloakClient.list_users` asks.
const PAGE: usize = 100;
/// Upstream's Cognito client calls ListUsers once, without a token: one page of at most 60 users.
pub const COGNITO_PAGE: usize = 60;

/// What the Keycloak checks found: the realm's endpoints (the ALB uses them) and its user count.
pub struct KeycloakFindings {
    pub endpoints: OidcEndpoints,
    pub users: usize,
}

/// Checks a Keycloak realm, in the order a sign-in and Tuva's bootstrap depend on it.
pub async fn check_keycloak(
    kc: &KeycloakConfig,
    admin_email: &str,
    client_secret: &str,
) -> Result<KeycloakFindings, IdentityError> {
    let http =
        reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| IdentityError {
            message: format!("cannot start an HTTP client: {e}"),
            fix: "report this as a bug".into(),
        })?;
    let endpoints = discovery(&http, kc).await?;
    signing_key(&http, kc, &endpoints.jwks_uri).await?;
    let token = client_token(&http, kc, client_secret).await?;
    let users = admin_users(&http, kc, &token).await?;
    admin_match(kc, admin_email, &users)?;
    Ok(KeycloakFindings { endpoints, users: users.len() })
}

/// A GET or POST answered with JSON, or the sentence saying why not.
async fn json(
    req: reqwest::RequestBuilder,
    what: &str,
    url: &str,
) -> Result<(u16, Value), IdentityError> {
    let resp = req.send().await.map_err(|e| {
        let why = if e.is_timeout() { format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()) } else { root_cause(&e) };
        IdentityError {
            message: format!("cannot reach Keycloak's {what} at {url}: {why}"),
            fix: "check [identity] server_url, and that this machine (and the cluster) can reach the Keycloak server".into(),
        }
    })?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The realm's discovery document: reachable, JSON, its issuer this realm, every endpoint there.
async fn discovery(
    http: &reqwest::Client,
    kc: &KeycloakConfig,
) -> Result<OidcEndpoints, IdentityError> {
    let url = format!("{}/realms/{}/.well-known/openid-configuration", kc.server_url, kc.realm);
    let (status, doc) = json(http.get(&url), "discovery document", &url).await?;
    if status == 404 {
        return fail(
            format!("Keycloak at {} has no realm {:?} (its discovery document {url} answers 404)", kc.server_url, kc.realm),
            "set [identity] realm to the realm's name exactly as Keycloak shows it (names are case-sensitive)",
        );
    }
    if status != 200 || !doc.is_object() {
        return fail(
            format!("Keycloak's discovery document {url} answered HTTP {status}, not an OpenID configuration"),
            "check that [identity] server_url is the Keycloak server's base address (without /realms/...)",
        );
    }
    let field = |k: &str| doc.get(k).and_then(Value::as_str).map(String::from);
    let issuer = field("issuer").unwrap_or_default();
    if !issuer.trim_end_matches('/').ends_with(&format!("/realms/{}", kc.realm)) {
        return fail(
            format!(
                "the discovery document {url} names issuer {issuer:?}, which is not realm {:?}",
                kc.realm
            ),
            "point [identity] server_url and realm at the realm Tuva EMPI's users sign in to",
        );
    }
    let mut missing = vec![];
    let mut get = |k: &str| {
        field(k).unwrap_or_else(|| {
            missing.push(k.to_string());
            String::new()
        })
    };
    let endpoints = OidcEndpoints {
        authorization_endpoint: get("authorization_endpoint"),
        token_endpoint: get("token_endpoint"),
        userinfo_endpoint: get("userinfo_endpoint"),
        jwks_uri: get("jwks_uri"),
        issuer,
    };
    if !missing.is_empty() {
        return fail(
            format!("the discovery document {url} lacks {} that the ALB needs", missing.join(", ")),
            "use a Keycloak realm with the OpenID Connect protocol enabled",
        );
    }
    Ok(endpoints)
}

/// The realm publishes an RS256 signing key: Tuva EMPI verifies tokens with RS256 only.
async fn signing_key(
    http: &reqwest::Client,
    kc: &KeycloakConfig,
    jwks_uri: &str,
) -> Result<(), IdentityError> {
    let (status, jwks) = json(http.get(jwks_uri), "signing keys (JWKS)", jwks_uri).await?;
    let keys = jwks.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    if status != 200 {
        return fail(
            format!("the realm's JWKS {jwks_uri} answered HTTP {status}"),
            "check that the realm is enabled",
        );
    }
    let rs256 = keys.iter().any(|k| {
        k.get("kty").and_then(Value::as_str) == Some("RSA")
            && k.get("alg").and_then(Value::as_str).is_none_or(|a| a == "RS256")
            && k.get("use").and_then(Value::as_str) != Some("enc")
    });
    if !rs256 {
        let algs: Vec<&str> =
            keys.iter().filter_map(|k| k.get("alg").and_then(Value::as_str)).collect();
        let has = if algs.is_empty() { "none".to_string() } else { algs.join(", ") };
        return fail(
            format!("realm {:?} publishes no RS256 signing key (its JWKS has: {has}), and Tuva EMPI accepts only RS256 tokens", kc.realm),
            format!("add an RSA key provider (rsa-generated, algorithm RS256) to realm {:?} under Realm settings → Keys, and keep RS256 as its default signature algorithm", kc.realm),
        );
    }
    Ok(())
}

/// A client-credentials token, requested the way upstream's `KeycloakClient` does.
async fn client_token(
    http: &reqwest::Client,
    kc: &KeycloakConfig,
    secret: &str,
) -> Result<String, IdentityError> {
    let url = format!("{}/realms/{}/protocol/openid-connect/token", kc.server_url, kc.realm);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", kc.client_id.as_str()),
        ("client_secret", secret),
    ];
    let (status, body) = json(http.post(&url).form(&form), "token endpoint", &url).await?;
    if let (200, Some(token)) = (status, body.get("access_token").and_then(Value::as_str)) {
        return Ok(token.to_string());
    }
    // Keycloak's error and its description name the cause; neither repeats the secret
    let error = body.get("error").and_then(Value::as_str).unwrap_or("no error code");
    let description = body.get("error_description").and_then(Value::as_str).unwrap_or("");
    fail(
        format!("Keycloak refused a client-credentials token for client {:?} (HTTP {status}, {error}: {description})", kc.client_id),
        format!(
            "check that client_secret_arn holds the current secret of client {:?} (Clients → {} → Credentials) and that the client has Client authentication and Service accounts roles turned on",
            kc.client_id, kc.client_id
        ),
    )
}

/// One user as the admin API lists it.
struct RealmUser {
    username: String,
    email: Option<String>,
}

/// Every user of the realm, paged as upstream's `list_users` pages (`first`, `max=100`, until an
/// empty page).
async fn admin_users(
    http: &reqwest::Client,
    kc: &KeycloakConfig,
    token: &str,
) -> Result<Vec<RealmUser>, IdentityError> {
    let url = format!("{}/admin/realms/{}/users", kc.server_url, kc.realm);
    let mut users = vec![];
    loop {
        let req = http
            .get(&url)
            .bearer_auth(token)
            .query(&[("first", users.len().to_string()), ("max", PAGE.to_string())]);
        let (status, page) = json(req, "admin API", &url).await?;
        match status {
            200 => {}
            401 | 403 => {
                return fail(
                    format!("the service account of client {:?} may not list the users of realm {:?} (HTTP {status}), and Tuva's bootstrap lists them with it", kc.client_id, kc.realm),
                    format!("assign the realm-management roles view-users and query-users to client {:?} (Clients → {} → Service accounts roles)", kc.client_id, kc.client_id),
                );
            }
            _ => {
                return fail(
                    format!("Keycloak's admin API {url} answered HTTP {status}"),
                    "check the Keycloak server's logs",
                )
            }
        }
        let batch = page.as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            return Ok(users);
        }
        users.extend(batch.iter().map(|u| RealmUser {
            username: u.get("username").and_then(Value::as_str).unwrap_or("?").to_string(),
            email: u.get("email").and_then(Value::as_str).map(String::from),
        }));
    }
}

/// Tuva's bootstrap reads every user's `email` and needs exactly one equal (case-sensitively) to
/// the admin's.
fn admin_match(
    kc: &KeycloakConfig,
    admin_email: &str,
    users: &[RealmUser],
) -> Result<(), IdentityError> {
    if let Some(u) = users.iter().find(|u| u.email.is_none()) {
        return fail(
            format!(
                "user {:?} of realm {:?} has no email address, and Tuva's bootstrap stops at the first user without one",
                u.username, kc.realm
            ),
            "give every user of the realm an email address (Tuva EMPI uses the email as the username)",
        );
    }
    let exact = users.iter().filter(|u| u.email.as_deref() == Some(admin_email)).count();
    match exact {
        1 => Ok(()),
        0 => {
            let folded: Vec<&str> =
                users.iter().filter_map(|u| u.email.as_deref()).filter(|e| e.eq_ignore_ascii_case(admin_email)).collect();
            match folded.first() {
                Some(stored) => fail(
                    format!("realm {:?} holds the admin as {stored:?}, not {admin_email:?}, and Tuva's bootstrap compares emails exactly", kc.realm),
                    format!("set [identity] admin_email = {stored:?}"),
                ),
                None => fail(
                    format!("no user of realm {:?} has the email {admin_email:?} ({} users checked)", kc.realm, users.len()),
                    format!("create the user in Keycloak first, with email {admin_email:?}; Tuva's bootstrap makes that user the first admin"),
                ),
            }
        }
        n => fail(
            format!("{n} users of realm {:?} have the email {admin_email:?}", kc.realm),
            "Tuva's bootstrap needs exactly one: remove or change the others' email, or turn on \"Duplicate emails: off\" in the realm's login settings",
        ),
    }
}

/// How many users of the Cognito pool have `email`.
pub async fn cognito_users_with_email(
    c: &Cognito,
    pool_id: &str,
    email: &str,
) -> Result<usize, String> {
    let filter = format!("email = \"{}\"", email.replace('"', "\\\""));
    let r = c
        .list_users()
        .user_pool_id(pool_id)
        .filter(filter)
        .send()
        .await
        .map_err(|e| crate::aws::aws_err(e).to_string())?;
    Ok(r.users().len())
}

/// How many users the Cognito pool holds, counting no further than `stop_after` when given (the
/// pages are read until then).
pub async fn cognito_user_count(
    c: &Cognito,
    pool_id: &str,
    stop_after: Option<usize>,
) -> Result<usize, String> {
    let mut n = 0;
    let mut token: Option<String> = None;
    loop {
        let r = c
            .list_users()
            .user_pool_id(pool_id)
            .limit(COGNITO_PAGE as i32)
            .set_pagination_token(token)
            .send()
            .await;
        let r = r.map_err(|e| crate::aws::aws_err(e).to_string())?;
        n += r.users().len();
        token = r.pagination_token().map(String::from);
        if token.is_none() || stop_after.is_some_and(|s| n > s) {
            return Ok(n);
        }
    }
}

/// The warning `plan` shows when the stack changes identity provider: the users' Tuva permissions
/// are keyed by the old provider's user ids.
pub fn switch_warning(
    stack: &empi_engine::stack::Stack,
    state: &empi_engine::state::State,
) -> Option<String> {
    let had_pool = state.resources.contains_key("identity.user_pool");
    let had_keycloak = state
        .resources
        .get("config.document")
        .and_then(|r| r.attrs.get("document"))
        .and_then(|d| d.pointer("/idp/backend"))
        .and_then(Value::as_str)
        == Some("keycloak");
    match (stack.identity.provider_name(), had_pool, had_keycloak) {
        ("keycloak", true, _) => Some(
            "the identity provider changes from Cognito to Keycloak: the user pool, its domain, client and admin are deleted, and Tuva EMPI's users (keyed by their Cognito ids) lose their permissions; give them their roles again after the switch"
                .into(),
        ),
        ("cognito", false, true) => Some(
            "the identity provider changes from Keycloak to Cognito: a new user pool is made, and Tuva EMPI's users (keyed by their Keycloak ids) lose their permissions; give them their roles again after the switch"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kc() -> KeycloakConfig {
        KeycloakConfig {
            server_url: "https://sso.example.org".into(),
            realm: "tuva".into(),
            client_id: "empi".into(),
            client_secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x".into(),
            jwt_aud: "account".into(),
            endpoints: OidcEndpoints::keycloak("https://sso.example.org", "tuva"),
            client_secret_version: None,
        }
    }

    fn user(name: &str, email: Option<&str>) -> RealmUser {
        RealmUser { username: name.into(), email: email.map(String::from) }
    }

    #[test]
    fn the_admin_must_match_exactly_once_as_bootstrap_compares() {
        let one = [user("a", Some("admin@example.org")), user("b", Some("b@example.org"))];
        assert!(admin_match(&kc(), "admin@example.org", &one).is_ok());
        let e = admin_match(&kc(), "boss@example.org", &one).unwrap_err();
        assert!(e.fix.contains("create the user in Keycloak first"), "{e}");
        let two = [user("a", Some("admin@example.org")), user("c", Some("admin@example.org"))];
        assert!(admin_match(&kc(), "admin@example.org", &two)
            .unwrap_err()
            .fix
            .contains("needs exactly one"));
        let e = admin_match(&kc(), "Admin@Example.org", &one).unwrap_err();
        assert!(e.fix.contains(r#"admin_email = "admin@example.org""#), "{e}");
        let e = admin_match(
            &kc(),
            "admin@example.org",
            &[user("svc", None), user("a", Some("admin@example.org"))],
        )
        .unwrap_err();
        assert!(e.message.contains(r#"user "svc""#), "{e}");
    }
}
