//! IAM roles with attached managed policies.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::{json, Value};

use super::{attrs, aws_err, code_of, sorted, strings, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(Role(c.iam.clone())));
    r.register(Arc::new(OidcProvider(c.iam.clone())));
}

pub struct Role(Client);

static ROLE: Schema = Schema {
    kind: "aws_iam_role",
    attrs: &[
        AttrSchema::updatable("assume_role_policy"),
        AttrSchema::updatable("managed_policy_arns").set(),
        AttrSchema::updatable("inline_policies"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

fn missing<E: aws_sdk_iam::error::ProvideErrorMetadata, R>(e: &aws_sdk_iam::error::SdkError<E, R>) -> bool {
    code_of(e) == Some("NoSuchEntity")
}

/// IAM returns policy documents URL-encoded; compare them as JSON.
pub fn decode_policy(doc: &str) -> Value {
    let decoded = urlencoding::decode(doc).map(|c| c.into_owned()).unwrap_or_else(|_| doc.to_string());
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

impl Role {
    async fn attached(&self, name: &str) -> ProviderResult<Vec<String>> {
        let r = self.0.list_attached_role_policies().role_name(name).send().await.map_err(aws_err)?;
        Ok(r.attached_policies().iter().filter_map(|p| p.policy_arn().map(String::from)).collect())
    }

    async fn inline(&self, name: &str) -> ProviderResult<Value> {
        let names = self.0.list_role_policies().role_name(name).send().await.map_err(aws_err)?;
        let mut out = serde_json::Map::new();
        for p in names.policy_names() {
            let doc = self.0.get_role_policy().role_name(name).policy_name(p).send().await.map_err(aws_err)?;
            out.insert(p.clone(), decode_policy(doc.policy_document()));
        }
        Ok(Value::Object(out))
    }

    async fn sync_inline(&self, name: &str, want: &Value) -> ProviderResult<()> {
        let have = self.inline(name).await?;
        let want = want.as_object().cloned().unwrap_or_default();
        for (p, doc) in &want {
            if have.get(p) != Some(doc) {
                self.0.put_role_policy().role_name(name).policy_name(p).policy_document(doc.to_string()).send().await.map_err(aws_err)?;
            }
        }
        for p in have.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            if !want.contains_key(&p) {
                self.0.delete_role_policy().role_name(name).policy_name(&p).send().await.map_err(aws_err)?;
            }
        }
        Ok(())
    }

    async fn sync_policies(&self, name: &str, want: &[String]) -> ProviderResult<()> {
        let have = self.attached(name).await?;
        for arn in have.iter().filter(|a| !want.contains(a)) {
            self.0.detach_role_policy().role_name(name).policy_arn(arn).send().await.map_err(aws_err)?;
        }
        for arn in want.iter().filter(|a| !have.contains(a)) {
            self.0.attach_role_policy().role_name(name).policy_arn(arn).send().await.map_err(aws_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for Role {
    fn schema(&self) -> &'static Schema {
        &ROLE
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.get_role().role_name(name).send().await {
            Ok(_) => Ok(Some(name.to_string())),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.get_role().role_name(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(role) = r.role() else { return Ok(None) };
        let policies = self.attached(id).await?;
        let inline = self.inline(id).await?;
        Ok(Some(Observed {
            attrs: attrs([
                ("assume_role_policy", role.assume_role_policy_document().map(decode_policy).unwrap_or(Value::Null)),
                ("managed_policy_arns", sorted(policies)),
                ("inline_policies", inline),
                ("tags", tags_value(role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())))),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(role.arn()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let t: Vec<Tag> = tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
        match self
            .0
            .create_role()
            .role_name(name)
            .assume_role_policy_document(a["assume_role_policy"].to_string())
            .set_tags(Some(t))
            .send()
            .await
        {
            Ok(_) => {}
            // a create retried after a crash: the role is ours (find would have found it)
            Err(e) if code_of(&e) == Some("EntityAlreadyExists") => {
                return Err(ProviderError::coded("EntityAlreadyExists", format!("an IAM role named {name} already exists and is not recorded in this stack's state; delete it or choose another stack name")));
            }
            Err(e) => return Err(aws_err(e)),
        }
        self.sync_policies(name, &strings(a, "managed_policy_arns")).await?;
        self.sync_inline(name, a.get("inline_policies").unwrap_or(&Value::Null)).await?;
        Ok(name.to_string())
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        for c in changed {
            match c.as_str() {
                "assume_role_policy" => {
                    self.0
                        .update_assume_role_policy()
                        .role_name(id)
                        .policy_document(new["assume_role_policy"].to_string())
                        .send()
                        .await
                        .map_err(aws_err)?;
                }
                "managed_policy_arns" => self.sync_policies(id, &strings(new, "managed_policy_arns")).await?,
                "inline_policies" => self.sync_inline(id, new.get("inline_policies").unwrap_or(&Value::Null)).await?,
                "tags" => {
                    let (set, remove) = tag_delta(&tags(old), &tags(new));
                    if !remove.is_empty() {
                        self.0.untag_role().role_name(id).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
                    }
                    if !set.is_empty() {
                        let t: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
                        self.0.tag_role().role_name(id).set_tags(Some(t)).send().await.map_err(aws_err)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.attached(id).await {
            Ok(arns) => {
                for arn in arns {
                    self.0.detach_role_policy().role_name(id).policy_arn(arn).send().await.map_err(aws_err)?;
                }
            }
            Err(e) if e.code.as_deref() == Some("NoSuchEntity") => return Ok(()),
            Err(e) => return Err(e),
        }
        if let Ok(Value::Object(m)) = self.inline(id).await {
            for p in m.keys() {
                self.0.delete_role_policy().role_name(id).policy_name(p).send().await.map_err(aws_err)?;
            }
        }
        match self.0.delete_role().role_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── OIDC provider (IRSA) ─────────────────────────────────────────────────────────

pub struct OidcProvider(Client);

static OIDC: Schema = Schema {
    kind: "aws_iam_openid_connect_provider",
    attrs: &[
        AttrSchema::force_new("url"),
        AttrSchema::updatable("client_ids").set(),
        AttrSchema::updatable("thumbprints").set(),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

fn host_of(url: &str) -> &str {
    url.trim_start_matches("https://")
}

#[async_trait]
impl Resource for OidcProvider {
    fn schema(&self) -> &'static Schema {
        &OIDC
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let host = host_of(super::s(inputs, "url")).to_string();
        let r = self.0.list_open_id_connect_providers().send().await.map_err(aws_err)?;
        Ok(r.open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&format!("oidc-provider/{host}")))
            .map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.get_open_id_connect_provider().open_id_connect_provider_arn(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let host = host_of(r.url().unwrap_or_default()).to_string();
        Ok(Some(Observed {
            attrs: attrs([
                ("url", json!(format!("https://{host}"))),
                ("client_ids", sorted(r.client_id_list().to_vec())),
                ("thumbprints", sorted(r.thumbprint_list().to_vec())),
                ("tags", tags_value(r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())))),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id)), ("issuer_host", json!(host))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let t: Vec<Tag> = tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
        let r = self
            .0
            .create_open_id_connect_provider()
            .url(super::s(a, "url"))
            .set_client_id_list(Some(strings(a, "client_ids")))
            .set_thumbprint_list(Some(strings(a, "thumbprints")))
            .set_tags(Some(t))
            .send()
            .await
            .map_err(aws_err)?;
        r.open_id_connect_provider_arn().map(String::from).ok_or_else(|| ProviderError::new("CreateOpenIDConnectProvider returned no ARN"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        for c in changed {
            match c.as_str() {
                "thumbprints" => {
                    self.0
                        .update_open_id_connect_provider_thumbprint()
                        .open_id_connect_provider_arn(id)
                        .set_thumbprint_list(Some(strings(new, "thumbprints")))
                        .send()
                        .await
                        .map_err(aws_err)?;
                }
                "client_ids" => {
                    let (want, have) = (strings(new, "client_ids"), strings(old, "client_ids"));
                    for cid in want.iter().filter(|c| !have.contains(c)) {
                        self.0
                            .add_client_id_to_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .client_id(cid)
                            .send()
                            .await
                            .map_err(aws_err)?;
                    }
                    for cid in have.iter().filter(|c| !want.contains(c)) {
                        self.0
                            .remove_client_id_from_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .client_id(cid)
                            .send()
                            .await
                            .map_err(aws_err)?;
                    }
                }
                "tags" => {
                    let (set, remove) = tag_delta(&tags(old), &tags(new));
                    if !remove.is_empty() {
                        self.0
                            .untag_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .set_tag_keys(Some(remove))
                            .send()
                            .await
                            .map_err(aws_err)?;
                    }
                    if !set.is_empty() {
                        let t: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
                        self.0
                            .tag_open_id_connect_provider()
                            .open_id_connect_provider_arn(id)
                            .set_tags(Some(t))
                            .send()
                            .await
                            .map_err(aws_err)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_open_id_connect_provider().open_id_connect_provider_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}
