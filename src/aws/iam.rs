//! IAM roles with attached managed policies.

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use empi_engine::kinds;
use empi_engine::kinds::iam::{OIDC_PROVIDER, ROLE};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, aws, done, AwsKind, AwsResult, Tags};
use super::{attrs, sorted, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, Role(c.iam.clone()));
    add(r, OidcProvider(c.iam.clone()));
}

/// What every IAM call answers for an object that does not exist.
const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity"];

fn iam_tags(t: Tags) -> Vec<Tag> {
    t.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect()
}

/// IAM returns policy documents URL-encoded; compare them as JSON.
pub fn decode_policy(doc: &str) -> Value {
    let decoded =
        urlencoding::decode(doc).map(|c| c.into_owned()).unwrap_or_else(|_| doc.to_string());
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

pub struct Role(Client);

impl Role {
    async fn attached(&self, name: &str) -> AwsResult<Vec<String>> {
        let r = self.0.list_attached_role_policies().role_name(name).send().await?;
        Ok(r.attached_policies().iter().filter_map(|p| p.policy_arn().map(String::from)).collect())
    }

    async fn inline(&self, name: &str) -> AwsResult<Value> {
        let names = self.0.list_role_policies().role_name(name).send().await?;
        let mut out = serde_json::Map::new();
        for p in names.policy_names() {
            let doc = self.0.get_role_policy().role_name(name).policy_name(p).send().await?;
            out.insert(p.clone(), decode_policy(doc.policy_document()));
        }
        Ok(Value::Object(out))
    }

    async fn sync_inline(&self, name: &str, want: &Value) -> AwsResult<()> {
        let have = self.inline(name).await?;
        let want = want.as_object().cloned().unwrap_or_default();
        for (p, doc) in &want {
            if have.get(p) != Some(doc) {
                self.0
                    .put_role_policy()
                    .role_name(name)
                    .policy_name(p)
                    .policy_document(doc.to_string())
                    .send()
                    .await?;
            }
        }
        for p in have.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
        {
            if !want.contains_key(&p) {
                self.0.delete_role_policy().role_name(name).policy_name(&p).send().await?;
            }
        }
        Ok(())
    }

    async fn sync_policies(&self, name: &str, want: &[String]) -> AwsResult<()> {
        let have = self.attached(name).await?;
        for arn in have.iter().filter(|a| !want.contains(a)) {
            self.0.detach_role_policy().role_name(name).policy_arn(arn).send().await?;
        }
        for arn in want.iter().filter(|a| !have.contains(a)) {
            self.0.attach_role_policy().role_name(name).policy_arn(arn).send().await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AwsKind for Role {
    const SCHEMA: &'static Schema = &ROLE;
    const NOT_FOUND: &'static [&'static str] = NO_SUCH_ENTITY;

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        self.0.get_role().role_name(name).send().await?;
        Ok(Some(name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.get_role().role_name(id).send().await?;
        let Some(role) = r.role() else { return Ok(None) };
        let policies = self.attached(id).await?;
        let inline = self.inline(id).await?;
        Ok(Some(Observed {
            attrs: attrs([
                (
                    "assume_role_policy",
                    role.assume_role_policy_document().map(decode_policy).unwrap_or(Value::Null),
                ),
                ("managed_policy_arns", sorted(policies)),
                ("inline_policies", inline),
                (
                    "tags",
                    tags_value(
                        role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())),
                    ),
                ),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(role.arn()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        // a create retried after a crash finds its role with `find` first: one that exists now is not ours
        self.0
            .create_role()
            .role_name(name)
            .assume_role_policy_document(a["assume_role_policy"].to_string())
            .set_tags(Some(iam_tags(tags(a))))
            .send()
            .await
            .map_err(|e| {
                aws(e).explain("EntityAlreadyExists", || {
                    format!("an IAM role named {name} already exists and is not recorded in this stack's state; delete it or choose another stack name")
                })
            })?;
        self.sync_policies(name, &strings(a, kinds::iam::Role::managed_policy_arns)).await?;
        self.sync_inline(name, a.get(kinds::iam::Role::inline_policies).unwrap_or(&Value::Null))
            .await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        for c in changed {
            match c.as_str() {
                "assume_role_policy" => {
                    self.0
                        .update_assume_role_policy()
                        .role_name(id)
                        .policy_document(new["assume_role_policy"].to_string())
                        .send()
                        .await?;
                }
                "managed_policy_arns" => {
                    self.sync_policies(id, &strings(new, kinds::iam::Role::managed_policy_arns))
                        .await?
                }
                "inline_policies" => {
                    self.sync_inline(
                        id,
                        new.get(kinds::iam::Role::inline_policies).unwrap_or(&Value::Null),
                    )
                    .await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        for arn in self.attached(id).await? {
            self.0.detach_role_policy().role_name(id).policy_arn(arn).send().await?;
        }
        if let Ok(Value::Object(m)) = self.inline(id).await {
            for p in m.keys() {
                self.0.delete_role_policy().role_name(id).policy_name(p).send().await?;
            }
        }
        done(self.0.delete_role().role_name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        if !remove.is_empty() {
            self.0.untag_role().role_name(id).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            self.0.tag_role().role_name(id).set_tags(Some(iam_tags(set))).send().await?;
        }
        Ok(())
    }
}

// ── OIDC provider (IRSA) ─────────────────────────────────────────────────────────

pub struct OidcProvider(Client);

fn host_of(url: &str) -> &str {
    url.trim_start_matches("https://")
}

#[async_trait]
impl AwsKind for OidcProvider {
    const SCHEMA: &'static Schema = &OIDC_PROVIDER;
    const NOT_FOUND: &'static [&'static str] = NO_SUCH_ENTITY;

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let host = host_of(super::input_str(inputs, kinds::iam::OidcProvider::url)).to_string();
        let r = self.0.list_open_id_connect_providers().send().await?;
        Ok(r.open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&format!("oidc-provider/{host}")))
            .map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r =
            self.0.get_open_id_connect_provider().open_id_connect_provider_arn(id).send().await?;
        let host = host_of(r.url().unwrap_or_default()).to_string();
        Ok(Some(Observed {
            attrs: attrs([
                ("url", json!(format!("https://{host}"))),
                ("client_ids", sorted(r.client_id_list().to_vec())),
                ("thumbprints", sorted(r.thumbprint_list().to_vec())),
                (
                    "tags",
                    tags_value(
                        r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())),
                    ),
                ),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id)), ("issuer_host", json!(host))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_open_id_connect_provider()
            .url(super::input_str(a, kinds::iam::OidcProvider::url))
            .set_client_id_list(Some(strings(a, kinds::iam::OidcProvider::client_ids)))
            .set_thumbprint_list(Some(strings(a, kinds::iam::OidcProvider::thumbprints)))
            .set_tags(Some(iam_tags(tags(a))))
            .send()
            .await?;
        Ok(r.open_id_connect_provider_arn()
            .ok_or_else(|| ProviderError::new("CreateOpenIDConnectProvider returned no ARN"))?
            .to_string())
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        for c in changed {
            match c.as_str() {
                "thumbprints" => {
                    self.0
                        .update_open_id_connect_provider_thumbprint()
                        .open_id_connect_provider_arn(id)
                        .set_thumbprint_list(Some(strings(
                            new,
                            kinds::iam::OidcProvider::thumbprints,
                        )))
                        .send()
                        .await?;
                }
                "client_ids" => {
                    let (want, have) = (
                        strings(new, kinds::iam::OidcProvider::client_ids),
                        strings(old, kinds::iam::OidcProvider::client_ids),
                    );
                    for cid in want.iter().filter(|c| !have.contains(c)) {
                        self.0
                            .add_client_id_to_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .client_id(cid)
                            .send()
                            .await?;
                    }
                    for cid in have.iter().filter(|c| !want.contains(c)) {
                        self.0
                            .remove_client_id_from_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .client_id(cid)
                            .send()
                            .await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_open_id_connect_provider().open_id_connect_provider_arn(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        if !remove.is_empty() {
            self.0
                .untag_open_id_connect_provider()
                .open_id_connect_provider_arn(id)
                .set_tag_keys(Some(remove))
                .send()
                .await?;
        }
        if !set.is_empty() {
            self.0
                .tag_open_id_connect_provider()
                .open_id_connect_provider_arn(id)
                .set_tags(Some(iam_tags(set)))
                .send()
                .await?;
        }
        Ok(())
    }
}
