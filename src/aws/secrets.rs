//! The config secret (PRODUCT.md §5). `aws_secretsmanager_secret` creates the secret holding the
//! generated values (DB password, Django secret key) once; `aws_secretsmanager_secret_value` writes
//! the Tuva EMPI config document into it, keeping those values. What goes to state and plans is
//! the document with every generated value replaced by the `(sensitive)` placeholder.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use empi_engine::resource::{
    AttrSchema, Attrs, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry, Resource, Schema, SENSITIVE,
};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};

use super::{attrs, aws_err, code_of, s, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(Secret(c.secrets.clone())));
    r.register(Arc::new(SecretValue(c.secrets.clone())));
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
    Generated { db_password: Alphanumeric.sample_string(&mut rng, 40), django_secret_key: Alphanumeric.sample_string(&mut rng, 64) }
}

fn missing<E: aws_sdk_secretsmanager::error::ProvideErrorMetadata, R>(e: &aws_sdk_secretsmanager::error::SdkError<E, R>) -> bool {
    code_of(e) == Some("ResourceNotFoundException")
}

async fn current(c: &Client, arn: &str) -> ProviderResult<Option<Value>> {
    match c.get_secret_value().secret_id(arn).send().await {
        Ok(r) => Ok(r.secret_string().and_then(|s| serde_json::from_str(s).ok())),
        Err(e) if missing(&e) => Ok(None),
        Err(e) => Err(aws_err(e)),
    }
}

/// The generated values in the secret `arn`.
pub async fn generated(c: &Client, arn: &str) -> ProviderResult<Generated> {
    let doc = current(c, arn)
        .await?
        .ok_or_else(|| ProviderError::coded("ResourceNotFoundException", format!("the config secret {arn} holds no value")))?;
    let get = |p: &str| doc.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty() && *s != SENSITIVE).map(String::from);
    match (get(GENERATED[0]), get(GENERATED[1])) {
        (Some(db_password), Some(django_secret_key)) => Ok(Generated { db_password, django_secret_key }),
        _ => Err(ProviderError::coded(
            "MissingGeneratedValues",
            format!(
                "the config secret {arn} lacks the generated db.password or django.secret_key; restore a previous version of the secret"
            ),
        )),
    }
}

/// Replaces the generated values with the placeholder.
pub fn redact(mut doc: Value) -> Value {
    for p in GENERATED {
        if let Some(v) = doc.pointer_mut(p) {
            *v = Value::String(SENSITIVE.into());
        }
    }
    doc
}

// ── the secret ───────────────────────────────────────────────────────────────────

pub struct Secret(Client);

static SECRET: Schema = Schema {
    kind: "aws_secretsmanager_secret",
    attrs: &[AttrSchema::updatable("description"), AttrSchema::updatable("tags")],
    stateful: true,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for Secret {
    fn schema(&self) -> &'static Schema {
        &SECRET
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_secret().secret_id(name).send().await {
            Ok(r) if r.deleted_date().is_none() => Ok(r.arn().map(String::from)),
            Ok(_) => Ok(None),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_secret().secret_id(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        if r.deleted_date().is_some() {
            return Ok(None);
        }
        Ok(Some(Observed {
            attrs: attrs([
                ("description", json!(r.description())),
                (
                    "tags",
                    tags_value(
                        r.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())),
                    ),
                ),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(r.arn())), ("name", json!(r.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        // a secret of this name scheduled for deletion (an earlier destroy) is restored, with its
        // generated values, rather than failing until the recovery window ends
        if let Ok(r) = self.0.describe_secret().secret_id(name).send().await {
            if r.deleted_date().is_some() {
                self.0.restore_secret().secret_id(name).send().await.map_err(aws_err)?;
                let arn = r.arn().unwrap_or(name).to_string();
                self.update(&arn, &Attrs::new(), a, &["description".into(), "tags".into()]).await?;
                if generated(&self.0, &arn).await.is_err() {
                    let g = generate();
                    let doc = json!({"db": {"password": g.db_password}, "django": {"secret_key": g.django_secret_key}});
                    self.0.put_secret_value().secret_id(&arn).secret_string(doc.to_string()).send().await.map_err(aws_err)?;
                }
                return Ok(arn);
            }
        }
        let g = generate();
        let doc = json!({"db": {"password": g.db_password}, "django": {"secret_key": g.django_secret_key}});
        let t: Vec<Tag> = tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let r = self
            .0
            .create_secret()
            .name(name)
            .description(s(a, "description"))
            .secret_string(doc.to_string())
            .set_tags(Some(t))
            .send()
            .await
            .map_err(aws_err)?;
        r.arn().map(String::from).ok_or_else(|| ProviderError::new("CreateSecret returned no ARN"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "description") {
            self.0.update_secret().secret_id(id).description(s(new, "description")).send().await.map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (set, remove) = tag_delta(&tags(old), &tags(new));
            if !remove.is_empty() {
                self.0.untag_resource().secret_id(id).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
            }
            if !set.is_empty() {
                let t: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
                self.0.tag_resource().secret_id(id).set_tags(Some(t)).send().await.map_err(aws_err)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        // a recovery window, not a forced delete: the generated DB password stays recoverable
        match self.0.delete_secret().secret_id(id).recovery_window_in_days(7).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) if code_of(&e) == Some("InvalidRequestException") => Ok(()), // already scheduled
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── the config document ──────────────────────────────────────────────────────────

pub struct SecretValue(Client);

static VALUE: Schema = Schema {
    kind: "aws_secretsmanager_secret_value",
    attrs: &[AttrSchema::force_new("secret_id"), AttrSchema::updatable("document")],
    stateful: false,
    run_once: false,
    typical_create_secs: 1,
};

impl SecretValue {
    async fn put(&self, arn: &str, desired: &Value) -> ProviderResult<()> {
        // never regenerated: the database was created with this password
        let g = generated(&self.0, arn).await?;
        let mut doc = desired.clone();
        for (p, v) in GENERATED.iter().zip([g.db_password, g.django_secret_key]) {
            if let Some(slot) = doc.pointer_mut(p) {
                *slot = Value::String(v);
            }
        }
        self.0.put_secret_value().secret_id(arn).secret_string(doc.to_string()).send().await.map_err(aws_err)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for SecretValue {
    fn schema(&self) -> &'static Schema {
        &VALUE
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let arn = s(inputs, "secret_id");
        Ok(current(&self.0, arn).await?.filter(|d| d.get("env").is_some()).map(|_| arn.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        match self.0.describe_secret().secret_id(id).send().await {
            Ok(r) if r.deleted_date().is_none() => {}
            Ok(_) => return Ok(None),
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        }
        let Some(doc) = current(&self.0, id).await? else { return Ok(None) };
        if doc.get("env").is_none() {
            return Ok(None); // only the generated values: the document was never written
        }
        Ok(Some(Observed {
            attrs: attrs([("secret_id", json!(id)), ("document", redact(doc))]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let arn = s(a, "secret_id").to_string();
        self.put(&arn, &a["document"]).await?;
        Ok(arn)
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        self.put(id, &new["document"]).await
    }

    async fn delete(&self, _id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        // the value goes with the secret (config.secret), which keeps the generated values
        Ok(())
    }

    async fn wait(&self, _id: &str, _op: Operation, _recorded: &Attrs) -> ProviderResult<Readiness> {
        Ok(Readiness::Ready)
    }
}
