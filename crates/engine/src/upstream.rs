//! Facts about upstream Tuva EMPI (github.com/tuva-health/EMPI) that empi-infra relies on, kept as
//! data with the upstream commit they were read from, so a newer upstream is checked against them
//! rather than assumed.

use serde_json::Value;

/// The upstream commit the facts below were read from (main, 2026-01-17).
pub const COMMIT: &str = "301608c7ac2f5fc422ec210cd5613a0496d468ba";

/// `backend/main/urls.py` and `backend/main/views/person_records.py`: the person-records import,
/// which takes either a JSON `s3_uri` or a multipart `file` upload (`MultiPartParser`) of any size.
pub const IMPORT_PATH: &str = "/api/v1/person-records/import";

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

/// The PostgreSQL extensions upstream's migrations create (`backend/main/migrations/0001_initial.py`:
/// pgcrypto; `0003_add_indexes.py`: pg_trgm), with `create extension if not exists`. Creating an
/// extension takes more than the application's role has; an existing one is a no-op for it.
pub const MIGRATION_EXTENSIONS: &[&str] = &["pgcrypto", "pg_trgm"];

/// The PostgreSQL driver in the backend image (`backend/requirements.txt`): psycopg 3, with boto3
/// 1.35.74 beside it; the image's Debian base (`python:3.13.1-bookworm`) has libpq.
pub const BACKEND_PSYCOPG: &str = "psycopg==3.2.3";

/// How upstream's Django connects (`backend/tuva_empi/settings.py`, `DATABASES`): the config
/// document's `db.name`, `db.user`, `db.password`, `db.host`, `db.port`, nothing else; the user is
/// whatever `db.user` names.
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
