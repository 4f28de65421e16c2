//! Facts about upstream Tuva EMPI (github.com/tuva-health/EMPI) that empi-infra relies on, kept as
//! data with the upstream commit they were read from, so a newer upstream is checked against them
//! rather than assumed.

use serde_json::Value;

/// The upstream commit the facts below were read from (main, 2026-01-17).
pub const COMMIT: &str = "301608c7ac2f5fc422ec210cd5613a0496d468ba";

/// `backend/main/urls.py` and `backend/main/views/person_records.py`: the person-records import,
/// which takes either a JSON `s3_uri` or a multipart `file` upload (`MultiPartParser`) of any size.
pub const IMPORT_PATH: &str = "/api/v1/person-records/import";

/// `backend/main/config.py`'s `DjangoConfig`: the config document's `django` block. It has no
/// `secret_key_fallbacks`, and `backend/tuva_empi/settings.py` sets `SECRET_KEY` alone (no
/// `SECRET_KEY_FALLBACKS`): a rotated key cannot keep the old one as a fallback.
pub const DJANGO_CONFIG_FIELDS: &[&str] =
    &["debug", "secret_key", "allowed_hosts", "cors_allowed_origins"];

/// What the Django secret key signs in upstream (`backend/tuva_empi/settings.py`): the session and
/// authentication middleware are commented out, requests are authenticated by the identity
/// provider's JWT (`main.views.auth.jwt.JwtAuthentication`), and no module uses `django.core.signing`.
/// So a new key signs nobody out; what it invalidates is only a value signed with the old key.
pub const DJANGO_KEY_SIGNS: &str = "no sessions (SessionMiddleware is off; sign-in is the identity provider's JWT) and nothing upstream keeps signed (no django.core.signing)";

/// Whether the version's config can keep the old Django key as a fallback.
pub fn django_key_fallbacks() -> bool {
    DJANGO_CONFIG_FIELDS.contains(&"secret_key_fallbacks")
}

/// `backend/main/config.py`: `IdpBackend` values and, for each, the block `IdpConfig` requires and
/// that block's fields (pydantic `BaseModel`s of required `str` fields; unknown keys are ignored).
pub const IDP_BACKENDS: &[(&str, &str, &[&str])] = &[
    (
        "aws-cognito",
        "aws_cognito",
        &["cognito_user_pool_id", "jwt_header", "jwks_url", "client_id"],
    ),
    (
        "keycloak",
        "keycloak",
        &["server_url", "realm", "jwt_header", "jwks_url", "client_id", "client_secret", "jwt_aud"],
    ),
];

/// Django's named `CreateExtension` subclasses (`django.contrib.postgres.operations`) and the
/// extension each creates.
const DJANGO_EXTENSION_OPERATIONS: &[(&str, &str)] = &[
    ("BloomExtension", "bloom"),
    ("BtreeGinExtension", "btree_gin"),
    ("BtreeGistExtension", "btree_gist"),
    ("CITextExtension", "citext"),
    ("CryptoExtension", "pgcrypto"),
    ("HStoreExtension", "hstore"),
    ("TrigramExtension", "pg_trgm"),
    ("UnaccentExtension", "unaccent"),
];

/// The PostgreSQL extensions a Django migration's source creates, in the three ways upstream's
/// migrations could: raw SQL (`RunSQL("create extension if not exists pgcrypto")`),
/// `CreateExtension("unaccent")`, or one of Django's named subclasses (`TrigramExtension()`).
/// What the tuva-versions table records is checked with it, and so is a new upstream migration.
pub fn extensions_created_by(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lower = source.to_ascii_lowercase();
    let name_at = |text: &str, from: usize| -> String {
        text[from..]
            .trim_start_matches([' ', '"', '\'', '('])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect()
    };
    let mut rest = 0;
    while let Some(i) = lower[rest..].find("create extension") {
        let mut at = rest + i + "create extension".len();
        let tail = lower[at..].trim_start();
        if tail.starts_with("if not exists") {
            at = lower.len() - tail.len() + "if not exists".len();
        }
        let name = name_at(&lower, at);
        if !name.is_empty() {
            found.push(name);
        }
        rest = at;
    }
    let mut rest = 0;
    while let Some(i) = source[rest..].find("CreateExtension(") {
        let at = rest + i + "CreateExtension(".len();
        let name = name_at(source, at);
        if !name.is_empty() {
            found.push(name);
        }
        rest = at;
    }
    for (op, ext) in DJANGO_EXTENSION_OPERATIONS {
        if source.contains(&format!("{op}(")) {
            found.push(ext.to_string());
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The PostgreSQL driver in the backend image (`backend/requirements.txt`): psycopg 3, with boto3
/// 1.35.74 beside it; the image's Debian base (`python:3.13.1-bookworm`) has libpq.
pub const BACKEND_PSYCOPG: &str = "psycopg==3.2.3";

/// How upstream's Django connects (`backend/tuva_empi/settings.py`, `DATABASES`): the config
/// document's `db.name`, `db.user`, `db.password`, `db.host`, `db.port`, nothing else; the user is
/// whatever `db.user` names. No `CONN_MAX_AGE`: every request opens a connection, with the
/// credential the process read at start, so a credential must keep working until the last pod that
/// read it is gone (what `rotate db-password` waits for before it retires one).
pub const DB_CONFIG_FIELDS: &[&str] = &["name", "user", "password", "host", "port"];

/// Checks an `idp` block the way upstream's `IdpConfig` validates it; every problem, in upstream's
/// terms (`idp.keycloak.jwt_aud: missing`).
pub fn check_idp(idp: &Value) -> Result<(), Vec<String>> {
    let mut errors = vec![];
    let backend = idp.get("backend").and_then(Value::as_str).unwrap_or_default();
    match IDP_BACKENDS.iter().find(|(b, _, _)| *b == backend) {
        None => {
            errors.push(format!("idp.backend: {backend:?} is not one of aws-cognito, keycloak"))
        }
        Some((_, block, fields)) => match idp.get(*block) {
            Some(Value::Object(o)) => {
                for f in *fields {
                    match o.get(*f) {
                        Some(Value::String(_)) => {}
                        None => errors.push(format!("idp.{block}.{f}: missing")),
                        Some(_) => errors.push(format!("idp.{block}.{f}: not a string")),
                    }
                }
            }
            _ => errors
                .push(format!("idp.{block}: {block} config is required when backend is {backend}")),
        },
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_extensions_a_migration_creates_are_read_in_each_form_upstream_could_write() {
        // the shapes of upstream's 0001 and 0003 (RunSQL) and of PR #113's 0015 (CreateExtension)
        let src = r#"
operations = [
    migrations.RunSQL("create extension if not exists pgcrypto", migrations.RunSQL.noop),
    migrations.RunSQL('CREATE EXTENSION "pg_trgm";'),
    CreateExtension("unaccent"),
    TrigramExtension(),
    BtreeGinExtension(),
]"#;
        assert_eq!(extensions_created_by(src), ["btree_gin", "pg_trgm", "pgcrypto", "unaccent"]);
        assert!(extensions_created_by("migrations.AddField(model_name='job')").is_empty());
        // each operation the tuva-versions table records reads as the extension it records: a
        // migration upstream writes in a new form is caught here, not by a failed migrate
        for e in crate::tuva::migration_extensions() {
            assert_eq!(extensions_created_by(&e.operation), [e.extension.clone()], "{e:?}");
        }
    }

    #[test]
    fn an_idp_block_is_checked_as_upstream_checks_it() {
        let kc = json!({"backend": "keycloak", "keycloak": {"server_url": "s", "realm": "r", "jwt_header": "h", "jwks_url": "j", "client_id": "c", "client_secret": "x", "jwt_aud": "account"}});
        assert_eq!(check_idp(&kc), Ok(()));
        let mut no_aud = kc.clone();
        no_aud["keycloak"].as_object_mut().unwrap().remove("jwt_aud");
        assert_eq!(check_idp(&no_aud), Err(vec!["idp.keycloak.jwt_aud: missing".to_string()]));
        assert!(check_idp(&json!({"backend": "keycloak", "aws_cognito": {}})).unwrap_err()[0]
            .contains("keycloak config is required"));
        assert!(check_idp(&json!({"backend": "okta"})).is_err());
    }
}
