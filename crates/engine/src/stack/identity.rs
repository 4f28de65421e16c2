//! `[identity]`: who signs users in, a Cognito user pool the stack builds or an existing Keycloak
//! realm, and the OIDC endpoints either gives the application.

use super::*;

/// `provider` when the stack names none.
const DEFAULT_PROVIDER: &str = "cognito";
/// `mfa` when the stack names none.
const DEFAULT_MFA: Mfa = Mfa::Required;

/// Who signs users in (docs/IDENTITY.md). The keys of the provider not chosen are errors.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Identity")]
pub(super) struct RawIdentity {
    /// "cognito": a Cognito user pool the stack builds, with its hosted UI; "keycloak": an existing
    /// Keycloak realm (needs `server_url`, `realm`, `client_id`, `client_secret_arn`).
    #[schemars(with = "Option<String>", extend("enum" = ["cognito", "keycloak"], "default" = DEFAULT_PROVIDER))]
    provider: Option<S<String>>,
    /// The initial administrator's email address, e.g. "admin@example.org". Cognito: created in the
    /// pool; Keycloak: must be exactly one user's email (`plan` checks). Required.
    #[schemars(with = "String")]
    admin_email: S<String>,
    // cognito
    /// Cognito only: the hosted-UI domain prefix: a-z, 0-9 and '-', at most 63 characters, without
    /// "aws" or "cognito". Default: the stack's name.
    #[schemars(with = "Option<String>")]
    domain_prefix: Option<S<String>>,
    /// Cognito only: multi-factor sign-in with an authenticator app (TOTP). "required": every user
    /// sets one up at first sign-in; "optional": users may; "off": passwords alone. By default required: a
    /// system holding PHI.
    #[schemars(with = "Option<String>", extend("enum" = ["off", "optional", "required"], "default" = DEFAULT_MFA.name()))]
    mfa: Option<S<String>>,
    // keycloak
    /// Keycloak only, required there: the server's https:// base address, without /realms/...,
    /// e.g. "https://sso.example.org" (http:// only on a loopback address).
    #[schemars(with = "Option<String>")]
    server_url: Option<S<String>>,
    /// Keycloak only, required there: the realm's name, e.g. "tuva".
    #[schemars(with = "Option<String>")]
    realm: Option<S<String>>,
    /// Keycloak only, required there: the id of the realm's confidential client that Tuva EMPI and
    /// the ALB use, e.g. "tuva-empi".
    #[schemars(with = "Option<String>")]
    client_id: Option<S<String>>,
    /// Keycloak only, required there: the ARN of the Secrets Manager secret holding the client's
    /// secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>); the secret itself never
    /// reaches the stack, state or plan.
    #[schemars(with = "Option<String>")]
    client_secret_arn: Option<S<String>>,
    /// Keycloak only: the audience Tuva EMPI requires in access tokens; by default what
    /// Keycloak puts there without an audience mapper.
    #[schemars(with = "Option<String>", length(min = 1), extend("default" = KEYCLOAK_DEFAULT_AUD))]
    jwt_aud: Option<S<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IdentityConfig {
    /// The initial administrator; Tuva's bootstrap looks them up by this address.
    pub admin_email: String,
    pub provider: IdentityProvider,
}

/// Who signs users in: a Cognito user pool the stack builds, or the organisation's Keycloak realm.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum IdentityProvider {
    Cognito { domain_prefix: String, mfa: Mfa },
    Keycloak(KeycloakConfig),
}

/// Whether a Cognito pool's users sign in with a second factor (an authenticator app's TOTP code).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mfa {
    Off,
    Optional,
    Required,
}

impl Mfa {
    /// As the stack file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Mfa::Off => "off",
            Mfa::Optional => "optional",
            Mfa::Required => "required",
        }
    }

    /// Cognito's `MfaConfiguration`.
    pub fn cognito(self) -> &'static str {
        match self {
            Mfa::Off => "OFF",
            Mfa::Optional => "OPTIONAL",
            Mfa::Required => "ON",
        }
    }
}

/// A Keycloak realm and the confidential client Tuva EMPI and the ALB use.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeycloakConfig {
    /// Without a trailing slash.
    pub server_url: String,
    pub realm: String,
    pub client_id: String,
    /// The Secrets Manager secret (owned by the user) holding the client secret.
    pub client_secret_arn: String,
    /// The audience Tuva requires in access tokens.
    pub jwt_aud: String,
    /// The realm's OpenID endpoints: Keycloak's standard paths until the discovery document is read
    /// (`plan` and `apply` read it and use what it says).
    pub endpoints: OidcEndpoints,
    /// The Secrets Manager version id of the client secret (not the secret): once known, a rotated
    /// secret is a change of the ALB's action, which AWS never shows.
    pub client_secret_version: Option<String>,
}

/// The endpoints of an OpenID Connect discovery document that the ALB and Tuva use.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OidcEndpoints {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub jwks_uri: String,
}

/// What Keycloak puts in `aud` of an access token when the client has no audience mapper: its
/// default client scopes map the `account` client's roles, so `aud` is `"account"` (upstream's own
/// Keycloak example config uses it).
pub const KEYCLOAK_DEFAULT_AUD: &str = "account";

impl OidcEndpoints {
    /// Keycloak's standard endpoints of `realm` on `server_url`.
    pub fn keycloak(server_url: &str, realm: &str) -> OidcEndpoints {
        let issuer = format!("{}/realms/{realm}", server_url.trim_end_matches('/'));
        let p = |x: &str| format!("{issuer}/protocol/openid-connect/{x}");
        OidcEndpoints {
            authorization_endpoint: p("auth"),
            token_endpoint: p("token"),
            userinfo_endpoint: p("userinfo"),
            jwks_uri: p("certs"),
            issuer,
        }
    }
}

impl IdentityConfig {
    /// The Cognito pool's MFA setting (`None` with Keycloak, whose realm decides).
    pub fn cognito_mfa(&self) -> Option<Mfa> {
        match &self.provider {
            IdentityProvider::Cognito { mfa, .. } => Some(*mfa),
            IdentityProvider::Keycloak(_) => None,
        }
    }

    pub fn cognito_domain_prefix(&self) -> Option<&str> {
        match &self.provider {
            IdentityProvider::Cognito { domain_prefix, .. } => Some(domain_prefix),
            IdentityProvider::Keycloak(_) => None,
        }
    }

    pub fn keycloak(&self) -> Option<&KeycloakConfig> {
        match &self.provider {
            IdentityProvider::Keycloak(k) => Some(k),
            IdentityProvider::Cognito { .. } => None,
        }
    }

    /// `"cognito"` or `"keycloak"`.
    pub fn provider_name(&self) -> &'static str {
        match &self.provider {
            IdentityProvider::Cognito { .. } => "cognito",
            IdentityProvider::Keycloak(_) => "keycloak",
        }
    }
}

/// Why a Keycloak server URL is not acceptable: it must be `https://`, except on a loopback
/// address (the local cloud and tests), and name no path under `/realms`.
pub(super) fn check_server_url(url: &str) -> Result<(), &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("is not a URL")?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Err("names no host");
    }
    if rest.contains("/realms/") || rest.ends_with("/realms") {
        return Err("includes the realm path; the realm goes in `realm`");
    }
    let loopback = host == "localhost"
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false);
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => {
            Err("is not https://; the ALB and Tuva EMPI exchange tokens and client secrets with it")
        }
        _ => Err("is not an https:// URL"),
    }
}

/// Why Cognito would refuse `prefix` as a hosted UI domain prefix, if it would: a DNS label of
/// a-z, 0-9 and '-', without the reserved words "aws", "amazon" and "cognito".
pub(super) fn domain_prefix_problem(prefix: &str) -> Option<&'static str> {
    if !is_dns_label(prefix) {
        Some("must be 1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'")
    } else if ["aws", "amazon", "cognito"].iter().any(|w| prefix.contains(w)) {
        Some("contains one of the words Cognito reserves (\"aws\", \"amazon\", \"cognito\")")
    } else {
        None
    }
}

impl Validator<'_> {
    pub(super) fn identity(
        &mut self,
        raw: S<RawIdentity>,
        stack_name: &str,
        region: &str,
    ) -> IdentityConfig {
        let identity_span = S::new(raw.span(), ());
        let raw = raw.into_inner();
        let admin_email = raw.admin_email.get_ref().clone();
        if let Some(why) = crate::arn::hidden_char_problem(&admin_email) {
            // is_email would let it pass in the local part; Cognito and Keycloak store it, and
            // people read it
            self.err(
                &raw.admin_email,
                format!("admin_email {} {why}", crate::arn::shown(&admin_email)),
                "type the initial administrator's address again by hand, e.g. \"admin@example.org\"",
            );
        } else if !is_email(&admin_email) {
            self.err(
                &raw.admin_email,
                format!("{admin_email:?} is not an email address"),
                "write the initial administrator's address, e.g. \"admin@example.org\"",
            );
        }
        let provider = match raw.provider.as_ref().map(|p| p.get_ref().as_str()) {
            None => DEFAULT_PROVIDER,
            Some("cognito") => "cognito",
            Some("keycloak") => "keycloak",
            Some(other) => {
                let p = raw.provider.as_ref().unwrap();
                self.err(
                    p,
                    format!("identity provider {other:?} is not known"),
                    "use \"cognito\" (the default) or \"keycloak\"",
                );
                "cognito"
            }
        };
        let keycloak_keys = [
            ("server_url", &raw.server_url),
            ("realm", &raw.realm),
            ("client_id", &raw.client_id),
            ("client_secret_arn", &raw.client_secret_arn),
            ("jwt_aud", &raw.jwt_aud),
        ];
        if provider == "cognito" {
            for (key, v) in keycloak_keys {
                if let Some(v) = v {
                    self.err(
                        v,
                        format!(
                            "`{key}` is a Keycloak setting, but the identity provider is Cognito"
                        ),
                        "remove it, or set provider = \"keycloak\"",
                    );
                }
            }
            let (domain_prefix, dp) = self.string(raw.domain_prefix, stack_name);
            if let Some(why) = domain_prefix_problem(&domain_prefix) {
                match &dp {
                    Some(s) => {
                        self.err(s, format!("Cognito domain prefix {domain_prefix:?} {why}"), "choose a prefix like \"tuva-empi-prod\"")
                    }
                    // the prefix defaults to the stack's name: Cognito would refuse it at apply
                    None => self.err(
                        &identity_span,
                        format!("the Cognito domain prefix defaults to the stack name {domain_prefix:?}, which Cognito refuses: it {why}"),
                        "set `domain_prefix = \"...\"` under [identity], e.g. \"tuva-empi-prod\"",
                    ),
                }
            }
            let mfa = match raw.mfa.as_ref().map(|m| m.get_ref().as_str()) {
                None => DEFAULT_MFA,
                Some("required") => Mfa::Required,
                Some("optional") => Mfa::Optional,
                Some("off") => Mfa::Off,
                Some(other) => {
                    self.err(
                        raw.mfa.as_ref().unwrap(),
                        format!("mfa {other:?} is not known"),
                        "use \"required\" (the default), \"optional\" or \"off\"",
                    );
                    Mfa::Required
                }
            };
            return IdentityConfig {
                admin_email,
                provider: IdentityProvider::Cognito { domain_prefix, mfa },
            };
        }
        if let Some(v) = &raw.domain_prefix {
            self.err(
                v,
                "`domain_prefix` is a Cognito setting, but the identity provider is Keycloak",
                "remove it; Keycloak signs users in on its own host",
            );
        }
        if let Some(v) = &raw.mfa {
            self.err(
                v,
                "`mfa` is a Cognito setting, but the identity provider is Keycloak",
                "remove it; require MFA in the Keycloak realm (an OTP required action or a conditional-OTP flow)",
            );
        }
        let keycloak = self.keycloak(raw, &identity_span, region);
        IdentityConfig { admin_email, provider: IdentityProvider::Keycloak(keycloak) }
    }

    /// The `[identity]` settings of a Keycloak realm; `at` locates errors about missing keys.
    pub(super) fn keycloak(
        &mut self,
        raw: RawIdentity,
        at: &S<()>,
        region: &str,
    ) -> KeycloakConfig {
        let mut required = |v: &Option<S<String>>, key: &str, example: &str| -> String {
            match v {
                Some(s) if !s.get_ref().trim().is_empty() => s.get_ref().trim().to_string(),
                Some(s) => {
                    self.err(
                        s,
                        format!("`{key}` is empty"),
                        format!("set it, e.g. {key} = {example:?}"),
                    );
                    String::new()
                }
                None => {
                    self.err(
                        at,
                        format!("a Keycloak identity provider needs `{key}`"),
                        format!("add {key} = {example:?} to [identity]"),
                    );
                    String::new()
                }
            }
        };
        let server_url = required(&raw.server_url, "server_url", "https://sso.example.org")
            .trim_end_matches('/')
            .to_string();
        let realm = required(&raw.realm, "realm", "tuva");
        let client_id = required(&raw.client_id, "client_id", "tuva-empi");
        let client_secret_arn = required(
            &raw.client_secret_arn,
            "client_secret_arn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:tuva-empi-keycloak-client-AbCdEf",
        );
        if let (Some(s), false) = (&raw.server_url, server_url.is_empty()) {
            if let Err(why) = check_server_url(&server_url) {
                self.err(
                    s,
                    format!("server_url {server_url:?} {why}"),
                    "use the https:// address of the Keycloak server, e.g. \"https://sso.example.org\" (without /realms/...)",
                );
            }
        }
        if let (Some(s), false) = (&raw.realm, realm.is_empty()) {
            if realm.contains(['/', '?', '#', ' ']) {
                self.err(
                    s,
                    format!("realm {realm:?} is not a realm name"),
                    "write the realm's name as Keycloak shows it, e.g. \"tuva\"",
                );
            }
        }
        if let (Some(s), false) = (&raw.client_secret_arn, client_secret_arn.is_empty()) {
            if let Err(why) = crate::arn::Arn::check(
                &client_secret_arn,
                "secretsmanager",
                Some(region),
                crate::arn::partition_of(region),
                "secret:",
            ) {
                self.err(
                    s,
                    format!("client_secret_arn {} {why}", crate::arn::shown(&client_secret_arn)),
                    format!("store the client secret in Secrets Manager in {region} and use its ARN: arn:{}:secretsmanager:{region}:<account>:secret:<name>", crate::arn::partition_of(region)),
                );
            }
        }
        let jwt_aud = match &raw.jwt_aud {
            None => KEYCLOAK_DEFAULT_AUD.to_string(),
            Some(s) if s.get_ref().trim().is_empty() => {
                self.err(
                    s,
                    "`jwt_aud` is empty, but Tuva EMPI requires an audience",
                    format!("leave it out for Keycloak's default {KEYCLOAK_DEFAULT_AUD:?}, or name the audience your client's mapper adds"),
                );
                String::new()
            }
            Some(s) => s.get_ref().clone(),
        };
        let endpoints = OidcEndpoints::keycloak(&server_url, &realm);
        KeycloakConfig {
            server_url,
            realm,
            client_id,
            client_secret_arn,
            jwt_aud,
            endpoints,
            client_secret_version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::tests::*;

    #[test]
    fn a_keycloak_realm_gets_its_standard_endpoints_and_the_default_audience() {
        let s = Stack::parse("s.toml", KEYCLOAK).unwrap();
        let kc = s.identity.keycloak().expect("keycloak");
        assert_eq!(kc.server_url, "https://sso.example.org");
        assert_eq!(kc.jwt_aud, "account");
        assert_eq!(kc.endpoints.issuer, "https://sso.example.org/realms/tuva");
        assert_eq!(
            kc.endpoints.jwks_uri,
            "https://sso.example.org/realms/tuva/protocol/openid-connect/certs"
        );
        assert_eq!(
            kc.endpoints.token_endpoint,
            "https://sso.example.org/realms/tuva/protocol/openid-connect/token"
        );
        assert_eq!(s.identity.cognito_domain_prefix(), None);
        assert_eq!(Stack::parse("s.toml", MINIMAL).unwrap().identity.provider_name(), "cognito");
    }

    #[test]
    fn cognito_mfa_is_required_unless_the_stack_says_otherwise() {
        use super::Mfa;
        assert_eq!(
            Stack::parse("s.toml", MINIMAL).unwrap().identity.cognito_mfa(),
            Some(Mfa::Required)
        );
        for (v, want) in
            [("off", Mfa::Off), ("optional", Mfa::Optional), ("required", Mfa::Required)]
        {
            let s = Stack::parse(
                "s.toml",
                &MINIMAL.replace("[identity]\n", &format!("[identity]\nmfa = \"{v}\"\n")),
            )
            .unwrap();
            assert_eq!(s.identity.cognito_mfa(), Some(want), "{v}");
        }
        let e = err(&MINIMAL.replace("[identity]\n", "[identity]\nmfa = \"sms\"\n"));
        assert!(e.message.contains("mfa \"sms\" is not known"), "{e}");
        assert_eq!(
            (e.line, e.column),
            (MINIMAL.lines().position(|l| l == "[identity]").unwrap() + 2, 7),
            "{e}"
        );
        let e = err(&KEYCLOAK.replace("realm = \"tuva\"\n", "realm = \"tuva\"\nmfa = \"off\"\n"));
        assert!(e.message.contains("`mfa` is a Cognito setting"), "{e}");
        assert_eq!(Stack::parse("s.toml", KEYCLOAK).unwrap().identity.cognito_mfa(), None);
    }

    #[test]
    fn keys_of_the_other_provider_are_errors_where_they_are() {
        let e =
            err(&KEYCLOAK
                .replace("realm = \"tuva\"\n", "realm = \"tuva\"\ndomain_prefix = \"x\"\n"));
        assert_eq!((e.line, e.column), (8, 17), "{e}");
        assert!(e.message.contains("`domain_prefix` is a Cognito setting"), "{e}");
        let e = err(&MINIMAL.replace("admin_email", "realm = \"tuva\"\nadmin_email"));
        assert_eq!((e.line, e.column), (4, 9), "{e}");
        assert!(e.message.contains("`realm` is a Keycloak setting"), "{e}");
        assert!(e.help.unwrap().contains("provider = \"keycloak\""));
    }

    #[test]
    fn a_keycloak_server_must_be_https_except_on_loopback() {
        let with_url = |u: &str| KEYCLOAK.replace("https://sso.example.org/", u);
        let e = err(&with_url("http://sso.example.org"));
        assert!(e.message.contains("is not https://"), "{e}");
        assert_eq!(e.line, 6);
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:9000",
            "http://[::1]:8080",
            "https://sso.example.org/auth",
        ] {
            assert!(Stack::parse("s.toml", &with_url(ok)).is_ok(), "{ok}");
        }
        assert!(err(&with_url("https://sso.example.org/realms/tuva"))
            .message
            .contains("realm path"));
        assert!(err(&with_url("ftp://sso.example.org")).message.contains("not an https:// URL"));
    }

    #[test]
    fn a_keycloak_provider_names_what_it_lacks() {
        let e = err(&KEYCLOAK.replace("client_id = \"tuva-empi\"\n", ""));
        assert!(e.message.contains("needs `client_id`"), "{e}");
        assert_eq!(e.line, 3, "the [identity] table: {e}");
        let e = err(&KEYCLOAK.replace(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:kc-client-AbCdEf",
            "kc-client",
        ));
        assert!(e.message.contains("\"kc-client\" is not an ARN"), "{e}");
        let e = err(&KEYCLOAK.replace("provider = \"keycloak\"", "provider = \"okta\""));
        assert!(e.message.contains("\"okta\" is not known"), "{e}");
        let e = err(&KEYCLOAK.replace("realm = \"tuva\"", "realm = \"tuva\"\njwt_aud = \"\""));
        assert!(e.message.contains("requires an audience"), "{e}");
    }

    #[test]
    fn finding_6_a_stack_name_cognito_refuses_as_the_default_domain_prefix_is_refused() {
        let e = err(&MINIMAL.replace("tuva-empi-prod", "aws-empi"));
        assert!(e.message.contains("defaults to the stack name \"aws-empi\""), "{e}");
        assert_eq!(e.line, 3, "at [identity]: {e}");
        assert!(e.help.as_deref().unwrap().contains("domain_prefix"), "{e}");
        // an explicit prefix makes the name fine
        assert!(Stack::parse(
            "s.toml",
            &MINIMAL
                .replace("tuva-empi-prod", "aws-empi")
                .replace("[identity]\n", "[identity]\ndomain_prefix = \"empi-login\"\n")
        )
        .is_ok());
        let e =
            err(&MINIMAL.replace("[identity]\n", "[identity]\ndomain_prefix = \"amazon-login\"\n"));
        assert!(e.message.contains("reserves"), "{e}");
    }
}
