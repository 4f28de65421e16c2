//! The config secret. `aws_secretsmanager_secret` creates the secret holding the generated values
//! (DB password, Django secret key) once; `aws_secretsmanager_secret_value` writes the Tuva EMPI
//! config document into it, keeping those values. What goes to state and plans is the document
//! with every generated value replaced by the `(sensitive)` placeholder.

use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use empi_engine::kinds;
use empi_engine::kinds::secrets::{SECRET, SECRET_VALUE};
use empi_engine::redact;
use empi_engine::resource::{
    Attrs, Observed, ProviderError, ProviderResult, Registry, Schema, SENSITIVE,
};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};

use super::adapter::{add, done, AwsError, AwsKind, AwsResult, Lifecycle, Tags};
use super::{attrs, input_str, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, Secret(c.secrets.clone()));
    add(r, SecretValue(c.secrets.clone()));
}

/// JSON pointers of the generated values in the config document.
pub const GENERATED: &[&str] = &["/db/password", "/django/secret_key"];

/// The generated values kept in the secret.
pub struct Generated {
    pub db_password: String,
    pub django_secret_key: String,
}

fn generate() -> Generated {
    let mut rng = rand::rng();
    let g = Generated {
        db_password: Alphanumeric.sample_string(&mut rng, 40),
        django_secret_key: Alphanumeric.sample_string(&mut rng, 64),
    };
    g.register();
    g
}

impl Generated {
    /// Makes both values redacted from every output and error message from now on
    /// (`empi_engine::redact`), before any request carries them.
    fn register(&self) {
        redact::register(&self.db_password);
        redact::register(&self.django_secret_key);
    }
}

/// The error code of every Secrets Manager call on a missing secret.
const MISSING: &str = "ResourceNotFoundException";

/// The secret, unless it is missing or scheduled for deletion (the adapter takes a missing one
/// for gone).
async fn describe(c: &Client, id: &str) -> AwsResult<Option<DescribeSecretOutput>> {
    Ok(Some(c.describe_secret().secret_id(id).send().await?).filter(|r| r.deleted_date().is_none()))
}

/// The document in the secret; `None` when the secret is missing or holds no JSON.
async fn current(c: &Client, arn: &str) -> AwsResult<Option<Value>> {
    match c.get_secret_value().secret_id(arn).send().await.map_err(AwsError::from) {
        Ok(r) => Ok(r.secret_string().and_then(|s| serde_json::from_str(s).ok())),
        Err(e) if e.code() == Some(MISSING) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The generated values in the secret `arn`.
pub async fn generated(c: &Client, arn: &str) -> ProviderResult<Generated> {
    let doc = current(c, arn).await.map_err(|e| e.0)?.ok_or_else(|| {
        ProviderError::coded(MISSING, format!("the config secret {arn} holds no value"))
    })?;
    let get = |p: &str| {
        doc.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != SENSITIVE)
            .map(String::from)
    };
    match (get(GENERATED[0]), get(GENERATED[1])) {
        (Some(db_password), Some(django_secret_key)) => {
            let g = Generated { db_password, django_secret_key };
            g.register();
            Ok(g)
        }
        _ => Err(ProviderError::coded(
            "MissingGeneratedValues",
            format!(
                "the config secret {arn} lacks the generated db.password or django.secret_key; restore a previous version of the secret"
            ),
        )),
    }
}

/// The value of one of the user's own secrets (the Keycloak client secret): its secret string, or
/// the `client_secret` field when the string is a JSON object. Only ever held in memory.
pub async fn user_secret(c: &Client, arn: &str) -> AwsResult<String> {
    Ok(user_secret_version(c, arn).await?.0)
}

/// [`user_secret`] and the Secrets Manager version id it was read from.
pub async fn user_secret_version(c: &Client, arn: &str) -> AwsResult<(String, Option<String>)> {
    let r = c.get_secret_value().secret_id(arn).send().await.map_err(AwsError::from).map_err(|e| match e.code() {
        Some(MISSING) => AwsError(ProviderError::coded(
            "UserSecretMissing",
            format!("the secret {arn} (client_secret_arn) does not exist or holds no value; store the client secret in it"),
        )),
        _ => e,
    })?;
    let raw = r.secret_string().unwrap_or_default();
    let value = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(o)) => o.get("client_secret").and_then(Value::as_str).map(String::from).ok_or_else(|| {
            ProviderError::coded(
                "UserSecretShape",
                format!("the secret {arn} holds a JSON object without a \"client_secret\" string; store the client secret as plain text or as {{\"client_secret\": \"...\"}}"),
            )
        })?,
        _ => raw.trim().to_string(),
    };
    redact::register(&value);
    if value.is_empty() {
        return Err(ProviderError::coded(
            "UserSecretEmpty",
            format!("the secret {arn} (client_secret_arn) is empty; store the client secret in it"),
        )
        .into());
    }
    Ok((value, r.version_id().map(String::from)))
}

/// The document's copied secrets: JSON pointer → the user's secret ARN.
fn copied(a: &Attrs) -> Vec<(String, String)> {
    a.get("copied_secrets")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter().filter_map(|(p, arn)| Some((p.clone(), arn.as_str()?.to_string()))).collect()
        })
        .unwrap_or_default()
}

/// What state and plans hold for a copied secret that no longer matches its source: still no
/// value, but a difference `plan` shows and `apply` repairs.
pub const STALE_COPY: &str = "(sensitive, differs from its source secret)";

/// Replaces the generated values with the placeholder.
pub fn redact(mut doc: Value) -> Value {
    for p in GENERATED {
        if let Some(v) = doc.pointer_mut(p) {
            *v = Value::String(SENSITIVE.into());
        }
    }
    doc
}

/// Keys whose values are secrets whatever they hold (as AWS rotation templates, Django and OIDC
/// clients name them).
const SECRET_KEYS: &[&str] =
    &["password", "passwd", "secret", "token", "private_key", "api_key", "apikey", "credential"];

/// Replaces, at any key and any depth, every string that holds one of `secrets` in any form
/// `empi_engine::redact` knows (the value, cased, reversed, a piece of it, its base64, hex or
/// percent-encoding), or that sits under a key named like a secret, with the placeholder: a secret
/// copied under another key, as a rotation template writes `{"password": …}` next to Tuva's
/// `db.password`, or encoded into a note, never leaves here. `secrets` and the strings under
/// secret-named keys are registered for redaction everywhere else too.
pub fn redact_values(doc: &mut Value, secrets: &[String]) {
    fn keyed(v: &Value, secret_key: bool, out: &mut Vec<String>) {
        match v {
            Value::String(s) if secret_key && s != SENSITIVE && s != STALE_COPY => {
                out.push(s.clone())
            }
            Value::Array(xs) => xs.iter().for_each(|x| keyed(x, secret_key, out)),
            // only keys that name a secret themselves (`client_secret`, not `secret_name`): what is
            // registered is redacted from every output
            Value::Object(m) => {
                m.iter().for_each(|(k, x)| keyed(x, secret_key || redact::secret_key(k), out))
            }
            _ => {}
        }
    }
    fn walk(v: &mut Value, secrets: &[String], known: &redact::Secrets, secret_key: bool) {
        match v {
            Value::String(s) if s != SENSITIVE && s != STALE_COPY => {
                if secret_key
                    || secrets.iter().any(|x| !x.is_empty() && s.contains(x.as_str()))
                    || known.contains(s)
                    || redact::contains(s)
                {
                    *v = Value::String(SENSITIVE.into());
                }
            }
            Value::Array(xs) => xs.iter_mut().for_each(|x| walk(x, secrets, known, secret_key)),
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let secret_key = secret_key || is_secret_key(k);
                    walk(x, secrets, known, secret_key);
                }
            }
            _ => {}
        }
    }
    let mut all = secrets.to_vec();
    keyed(doc, false, &mut all);
    for s in &all {
        redact::register(s);
    }
    let known = redact::Secrets::of(&all);
    walk(doc, secrets, &known, false);
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|w| k.contains(w))
}

// ── the secret ───────────────────────────────────────────────────────────────────

pub struct Secret(Client);

impl Secret {
    /// A document of freshly generated values.
    fn fresh() -> String {
        let g = generate();
        json!({"db": {"password": g.db_password}, "django": {"secret_key": g.django_secret_key}})
            .to_string()
    }
}

#[async_trait]
impl AwsKind for Secret {
    const SCHEMA: &'static Schema = &SECRET;
    const NOT_FOUND: &'static [&'static str] = &[MISSING];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(describe(&self.0, name).await?.and_then(|r| r.arn().map(String::from)))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(r) = describe(&self.0, id).await? else { return Ok(None) };
        let tags = r.tags().iter().map(|t| {
            (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
        });
        Ok(Some(Observed {
            attrs: attrs([
                ("description", json!(r.description())),
                // absent: the AWS managed key (aws/secretsmanager)
                ("kms_key_id", json!(r.kms_key_id().unwrap_or_default())),
                ("tags", tags_value(tags)),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(r.arn())), ("name", json!(r.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        // a secret of this name scheduled for deletion (an earlier destroy) is restored, with its
        // generated values, rather than failing until the recovery window ends
        if let Ok(r) = self.0.describe_secret().secret_id(name).send().await {
            if r.deleted_date().is_some() {
                // only this stack's own: restoring another's scheduled secret would take it over
                let want = tags(a);
                let tag = |k: &str| {
                    r.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .map(String::from)
                };
                let (stack, region) =
                    (empi_engine::stack::TAG_STACK, empi_engine::stack::TAG_REGION);
                let theirs = tag(stack).as_ref() != want.get(stack)
                    || tag(region).is_some_and(|r| Some(&r) != want.get(region));
                if theirs {
                    return Err(ProviderError::coded(
                        "ResourceExistsException",
                        format!(
                            "a secret named {name} is scheduled for deletion and is not this stack's (its tags name {}); empi-infra neither restores nor takes it over: delete it for good (aws secretsmanager delete-secret --force-delete-without-recovery) or give this stack another name",
                            tag(stack).map(|s| format!("stack {s:?}")).unwrap_or_else(|| "no stack".into())
                        ),
                    )
                    .into());
                }
                self.0.restore_secret().secret_id(name).send().await?;
                let arn = r.arn().unwrap_or(name).to_string();
                self.update(&arn, &Attrs::new(), a, &["description".into(), "kms_key_id".into()])
                    .await?;
                self.retag(&arn, a, tags(a), vec![]).await?;
                if generated(&self.0, &arn).await.is_err() {
                    self.0
                        .put_secret_value()
                        .secret_id(&arn)
                        .secret_string(Self::fresh())
                        .send()
                        .await?;
                }
                return Ok(arn);
            }
        }
        let t: Vec<Tag> =
            tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let r = self
            .0
            .create_secret()
            .name(name)
            .description(input_str(a, kinds::secrets::Secret::description))
            .set_kms_key_id(
                Some(input_str(a, kinds::secrets::Secret::kms_key_id))
                    .filter(|k| !k.is_empty())
                    .map(String::from),
            )
            .secret_string(Self::fresh())
            .set_tags(Some(t))
            .send()
            .await?;
        Ok(r.arn()
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateSecret returned no ARN"))?)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        if has("description") || has("kms_key_id") {
            // with a new key Secrets Manager re-encrypts the current versions under it
            self.0
                .update_secret()
                .secret_id(id)
                .description(input_str(new, kinds::secrets::Secret::description))
                .set_kms_key_id(
                    Some(input_str(new, kinds::secrets::Secret::kms_key_id))
                        .filter(|k| !k.is_empty())
                        .map(String::from),
                )
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        // a recovery window, not a forced delete: the generated DB password stays recoverable
        match self
            .0
            .delete_secret()
            .secret_id(id)
            .recovery_window_in_days(7)
            .send()
            .await
            .map_err(AwsError::from)
        {
            Err(e) if e.code() == Some("InvalidRequestException") => Ok(()), // already scheduled
            r => r.map(|_| ()),
        }
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        if !remove.is_empty() {
            self.0.untag_resource().secret_id(id).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            let t: Vec<Tag> =
                set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            self.0.tag_resource().secret_id(id).set_tags(Some(t)).send().await?;
        }
        Ok(())
    }
}

// ── the config document ──────────────────────────────────────────────────────────

pub struct SecretValue(Client);

impl SecretValue {
    async fn put(&self, arn: &str, a: &Attrs) -> AwsResult<()> {
        // never regenerated: the database was created with this password
        let g = generated(&self.0, arn).await?;
        let mut doc = a["document"].clone();
        for (p, v) in GENERATED.iter().zip([g.db_password, g.django_secret_key]) {
            if let Some(slot) = doc.pointer_mut(p) {
                *slot = Value::String(v);
            }
        }
        // copied afresh on every write: a rotated source secret reaches the config with the next apply
        for (p, source) in copied(a) {
            let value = user_secret(&self.0, &source).await?;
            if let Some(slot) = doc.pointer_mut(&p) {
                *slot = Value::String(value);
            }
        }
        done(self.0.put_secret_value().secret_id(arn).secret_string(doc.to_string()).send()).await
    }
}

#[async_trait]
impl AwsKind for SecretValue {
    const SCHEMA: &'static Schema = &SECRET_VALUE;
    const NOT_FOUND: &'static [&'static str] = &[MISSING];
    // deleting the value leaves the document in place until the secret itself goes
    const LIFECYCLE: Lifecycle = Lifecycle::Detached;

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let arn = input_str(inputs, kinds::secrets::SecretValue::secret_id);
        Ok(current(&self.0, arn).await?.filter(|d| d.get("env").is_some()).map(|_| arn.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        if describe(&self.0, id).await?.is_none() {
            return Ok(None);
        }
        let Some(mut doc) = current(&self.0, id).await? else { return Ok(None) };
        if doc.get("env").is_none() {
            return Ok(None); // only the generated values: the document was never written
        }
        // the secret values this document holds: the generated ones and the copies of user secrets
        let mut values: Vec<String> = GENERATED
            .iter()
            .filter_map(|p| doc.pointer(p).and_then(Value::as_str).map(String::from))
            .collect();
        // a copy is compared with its source here and only its verdict leaves this function
        for (p, source) in copied(recorded) {
            let live = doc.pointer(&p).and_then(Value::as_str).map(String::from);
            let expected = user_secret(&self.0, &source).await;
            if let Ok(v) = &expected {
                values.push(v.clone());
            }
            let matches = match (live, expected) {
                (Some(live), Ok(expected)) => live == expected,
                (Some(_), Err(_)) => true, // the source is unreadable now: nothing to compare with
                (None, _) => false,
            };
            if let Some(slot) = doc.pointer_mut(&p) {
                if let Some(v) = slot.as_str() {
                    values.push(v.to_string());
                }
                *slot = Value::String(if matches { SENSITIVE } else { STALE_COPY }.into());
            }
        }
        let mut doc = redact(doc);
        redact_values(&mut doc, &values);
        let mut a = attrs([("secret_id", json!(id)), ("document", doc)]);
        if let Some(c) = recorded.get(kinds::secrets::SecretValue::copied_secrets) {
            a.insert("copied_secrets".into(), c.clone());
        }
        Ok(Some(Observed { attrs: a, outputs: attrs([("id", json!(id)), ("arn", json!(id))]) }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let arn = input_str(a, kinds::secrets::SecretValue::secret_id).to_string();
        self.put(&arn, a).await?;
        Ok(arn)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        self.put(id, new).await
    }

    async fn delete(&self, _id: &str, _recorded: &Attrs) -> AwsResult<()> {
        // the value goes with the secret (config.secret), which keeps the generated values
        Ok(())
    }
}

// ── rotation (`empi-infra rotate`) ───────────────────────────────────────────────

/// The staging labels Secrets Manager gives a secret's versions.
pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

/// A new database password, redacted from every output from now on.
pub fn new_db_password() -> String {
    let v = Alphanumeric.sample_string(&mut rand::rng(), 40);
    redact::register(&v);
    v
}

/// A new Django secret key, redacted from every output from now on.
pub fn new_django_key() -> String {
    let v = Alphanumeric.sample_string(&mut rand::rng(), 64);
    redact::register(&v);
    v
}

/// The current document of the config secret `arn` and its version id; its generated values
/// are redacted from every output from now on.
async fn current_version(c: &Client, arn: &str) -> ProviderResult<(Value, String)> {
    generated(c, arn).await?;
    let r = c
        .get_secret_value()
        .secret_id(arn)
        .version_stage(CURRENT)
        .send()
        .await
        .map_err(|e| AwsError::from(e).0)?;
    let doc = r.secret_string().and_then(|s| serde_json::from_str(s).ok()).ok_or_else(|| {
        ProviderError::coded(MISSING, format!("the config secret {arn} holds no JSON document"))
    })?;
    Ok((doc, r.version_id().unwrap_or_default().to_string()))
}

/// Writes the current document with `edit` applied as a new version labelled only AWSPENDING
/// (pods keep reading AWSCURRENT); returns the new version's id and the current one's.
pub async fn stage_pending(
    c: &Client,
    arn: &str,
    edit: impl FnOnce(&mut Value),
) -> ProviderResult<(String, String)> {
    let (mut doc, current) = current_version(c, arn).await?;
    edit(&mut doc);
    let r = c
        .put_secret_value()
        .secret_id(arn)
        .secret_string(doc.to_string())
        .version_stages(PENDING)
        .send()
        .await
        .map_err(|e| AwsError::from(e).0)?;
    Ok((r.version_id().unwrap_or_default().to_string(), current))
}

/// Makes the staged `version` the current one (Secrets Manager labels the one it replaces
/// AWSPREVIOUS); its AWSPENDING label is the caller's to take off ([`unstage`]).
pub async fn promote(c: &Client, arn: &str, version: &str, current: &str) -> ProviderResult<()> {
    c.update_secret_version_stage()
        .secret_id(arn)
        .version_stage(CURRENT)
        .move_to_version_id(version)
        .remove_from_version_id(current)
        .send()
        .await
        .map_err(|e| AwsError::from(e).0)?;
    Ok(())
}

/// Takes the AWSPENDING label off `version` (a staged value that is not used, or was promoted).
pub async fn unstage(c: &Client, arn: &str, version: &str) -> ProviderResult<()> {
    c.update_secret_version_stage()
        .secret_id(arn)
        .version_stage(PENDING)
        .remove_from_version_id(version)
        .send()
        .await
        .map_err(|e| AwsError::from(e).0)?;
    Ok(())
}

/// Writes the current document with `edit` applied as the new current version (the one it
/// replaces becomes AWSPREVIOUS).
pub async fn put_current(
    c: &Client,
    arn: &str,
    edit: impl FnOnce(&mut Value),
) -> ProviderResult<()> {
    let (mut doc, _) = current_version(c, arn).await?;
    edit(&mut doc);
    c.put_secret_value()
        .secret_id(arn)
        .secret_string(doc.to_string())
        .send()
        .await
        .map_err(|e| AwsError::from(e).0)?;
    Ok(())
}
