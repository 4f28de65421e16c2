//! `[state]`: where the state file lives (a local file, or S3 with a conditional-write lock).

use super::*;

/// `backend` when the stack names none.
const DEFAULT_BACKEND: &str = "local";

/// Where the state lives (docs/STATE.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "State")]
pub(super) struct RawState {
    /// "local": a file `state/<name>.json` beside a lock file; "s3": an object in S3 (needs `bucket`
    /// and `key`), locked by a conditional write, shared by a team.
    #[schemars(with = "Option<String>", extend("enum" = ["local", "s3"], "default" = DEFAULT_BACKEND))]
    backend: Option<S<String>>,
    /// S3 only, required there: the bucket that holds the state object.
    #[schemars(with = "Option<String>")]
    bucket: Option<S<String>>,
    /// S3 only, required there: the state object's key, e.g. "tuva-empi/prod.json" (the backup is
    /// `<key>.backup`, the lock `<key>.lock`).
    #[schemars(with = "Option<String>")]
    key: Option<S<String>>,
    /// S3 only: the bucket's region. Default: the stack's `region`.
    #[schemars(with = "Option<String>")]
    region: Option<S<String>>,
    /// S3 only: the KMS key (id, ARN or alias, e.g. "alias/empi-state") the state object is
    /// encrypted with. Default: SSE-S3 (AES256).
    #[schemars(with = "Option<String>")]
    kms_key_id: Option<S<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StateConfig {
    Local,
    S3 { bucket: String, key: String, region: String, kms_key_id: Option<String> },
}

impl Validator<'_> {
    pub(super) fn state(&mut self, raw: Option<S<RawState>>, region: &str) -> StateConfig {
        let Some(raw) = raw else { return StateConfig::Local };
        let span = raw.span();
        let raw = raw.into_inner();
        let backend = raw.backend.as_ref().map(|b| b.get_ref().as_str()).unwrap_or(DEFAULT_BACKEND);
        match backend {
            "local" => StateConfig::Local,
            "s3" => {
                let mut need = |v: &Option<S<String>>, key: &str| -> String {
                    match v {
                        Some(s) if !s.get_ref().is_empty() => s.get_ref().clone(),
                        _ => {
                            self.errors.push(self.loc.at(
                                span.clone(),
                                format!("[state] backend = \"s3\" needs `{key}`"),
                                format!("add `{key} = \"...\"` under [state]"),
                            ));
                            String::new()
                        }
                    }
                };
                let bucket = need(&raw.bucket, "bucket");
                let key = need(&raw.key, "key");
                StateConfig::S3 {
                    bucket,
                    key,
                    region: raw
                        .region
                        .map(|r| r.into_inner())
                        .unwrap_or_else(|| region.to_string()),
                    kms_key_id: raw.kms_key_id.map(|k| {
                        // a key id, alias or ARN: none holds a control or invisible character
                        let id = k.get_ref();
                        let why = if id.starts_with("arn:") {
                            crate::arn::hostile(id)
                        } else {
                            crate::arn::hidden_char_problem(id)
                        };
                        if let Some(why) = why {
                            self.err(
                                &k,
                                format!("kms_key_id {} {why}", crate::arn::shown(id)),
                                "write the KMS key's id, alias or ARN, e.g. \"alias/empi-state\"",
                            );
                        }
                        k.into_inner()
                    }),
                }
            }
            other => {
                let b = raw.backend.as_ref().unwrap();
                self.err(
                    b,
                    format!("unknown state backend {other:?}"),
                    "use backend = \"local\" or backend = \"s3\"",
                );
                StateConfig::Local
            }
        }
    }
}
