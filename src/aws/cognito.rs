//! Identity: the Cognito user pool (email is the username, as Tuva EMPI requires) and the ALB's
//! app client. The client secret is never read into state.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{AdminCreateUserConfigType, OAuthFlowType, UsernameAttributeType, VerifiedAttributeType};
use aws_sdk_cognitoidentityprovider::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::json;

use super::{attrs, aws_err, b, code_of, s, sorted, strings, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(UserPool(c.cognito.clone())));
    r.register(Arc::new(AppClient(c.cognito.clone())));
    r.register(Arc::new(Domain(c.cognito.clone())));
    r.register(Arc::new(User(c.cognito.clone())));
}

fn missing<E: aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_cognitoidentityprovider::error::SdkError<E, R>,
) -> bool {
    code_of(e) == Some("ResourceNotFoundException")
}

// ── user pool ────────────────────────────────────────────────────────────────────

pub struct UserPool(Client);

static POOL: Schema = Schema {
    kind: "aws_cognito_user_pool",
    attrs: &[
        AttrSchema::force_new("username_attributes").set(),
        AttrSchema::updatable("auto_verified_attributes").set(),
        AttrSchema::updatable("admin_create_user_only"),
        AttrSchema::updatable("tags"),
    ],
    stateful: true,
    run_once: false,
    typical_create_secs: 3,
};

#[async_trait]
impl Resource for UserPool {
    fn schema(&self) -> &'static Schema {
        &POOL
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let mut pages = self.0.list_user_pools().max_results(60).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err)?;
            if let Some(p) = page.user_pools().iter().find(|p| p.name() == Some(name)) {
                return Ok(p.id().map(String::from));
            }
        }
        Ok(None)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_user_pool().user_pool_id(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(p) = r.user_pool() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("username_attributes", sorted(p.username_attributes().iter().map(|a| a.as_str().to_string()).collect())),
                ("auto_verified_attributes", sorted(p.auto_verified_attributes().iter().map(|a| a.as_str().to_string()).collect())),
                ("admin_create_user_only", json!(p.admin_create_user_config().map(|c| c.allow_admin_create_user_only()).unwrap_or(false))),
                ("tags", tags_value(p.user_pool_tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(p.arn())), ("name", json!(p.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_user_pool()
            .pool_name(name)
            .set_username_attributes(Some(
                strings(a, "username_attributes").iter().map(|x| UsernameAttributeType::from(x.as_str())).collect(),
            ))
            .set_auto_verified_attributes(Some(
                strings(a, "auto_verified_attributes").iter().map(|x| VerifiedAttributeType::from(x.as_str())).collect(),
            ))
            .admin_create_user_config(
                AdminCreateUserConfigType::builder().allow_admin_create_user_only(b(a, "admin_create_user_only")).build(),
            )
            .set_user_pool_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await
            .map_err(aws_err)?;
        r.user_pool().and_then(|p| p.id()).map(String::from).ok_or_else(|| ProviderError::new("CreateUserPool returned no id"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "auto_verified_attributes" || c == "admin_create_user_only") {
            // UpdateUserPool resets every setting it is not given: always send the whole configuration
            self.0
                .update_user_pool()
                .user_pool_id(id)
                .set_auto_verified_attributes(Some(
                    strings(new, "auto_verified_attributes").iter().map(|x| VerifiedAttributeType::from(x.as_str())).collect(),
                ))
                .admin_create_user_config(
                    AdminCreateUserConfigType::builder().allow_admin_create_user_only(b(new, "admin_create_user_only")).build(),
                )
                .set_user_pool_tags(Some(tags(new).into_iter().collect()))
                .send()
                .await
                .map_err(aws_err)?;
        } else if changed.iter().any(|c| c == "tags") {
            let arn =
                self.read(id, old).await?.and_then(|o| o.outputs.get("arn").and_then(|v| v.as_str().map(String::from))).unwrap_or_default();
            let (set, remove) = tag_delta(&tags(old), &tags(new));
            if !remove.is_empty() {
                self.0.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
            }
            if !set.is_empty() {
                self.0.tag_resource().resource_arn(&arn).set_tags(Some(set.into_iter().collect())).send().await.map_err(aws_err)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_user_pool().user_pool_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── app client ───────────────────────────────────────────────────────────────────

pub struct AppClient(Client);

static CLIENT: Schema = Schema {
    kind: "aws_cognito_user_pool_client",
    attrs: &[
        AttrSchema::force_new("user_pool_id"),
        AttrSchema::force_new("generate_secret"),
        AttrSchema::updatable("allowed_oauth_flows").set(),
        AttrSchema::updatable("allowed_oauth_scopes").set(),
        AttrSchema::updatable("callback_urls").set(),
        AttrSchema::updatable("supported_identity_providers").set(),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for AppClient {
    fn schema(&self) -> &'static Schema {
        &CLIENT
    }

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let pool = s(inputs, "user_pool_id");
        let mut pages = self.0.list_user_pool_clients().user_pool_id(pool).max_results(60).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if missing(&e) => return Ok(None),
                Err(e) => return Err(aws_err(e)),
            };
            if let Some(c) = page.user_pool_clients().iter().find(|c| c.client_name() == Some(name)) {
                return Ok(c.client_id().map(String::from));
            }
        }
        Ok(None)
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let pool = s(recorded, "user_pool_id");
        let r = match self.0.describe_user_pool_client().user_pool_id(pool).client_id(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(c) = r.user_pool_client() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("user_pool_id", json!(c.user_pool_id())),
                ("generate_secret", json!(c.client_secret().is_some())),
                ("allowed_oauth_flows", sorted(c.allowed_o_auth_flows().iter().map(|f| f.as_str().to_string()).collect())),
                ("allowed_oauth_scopes", sorted(c.allowed_o_auth_scopes().to_vec())),
                ("callback_urls", sorted(c.callback_urls().to_vec())),
                ("supported_identity_providers", sorted(c.supported_identity_providers().to_vec())),
            ]),
            outputs: attrs([("id", json!(id)), ("user_pool_id", json!(c.user_pool_id()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_user_pool_client()
            .user_pool_id(s(a, "user_pool_id"))
            .client_name(name)
            .generate_secret(b(a, "generate_secret"))
            .set_allowed_o_auth_flows(Some(strings(a, "allowed_oauth_flows").iter().map(|f| OAuthFlowType::from(f.as_str())).collect()))
            .set_allowed_o_auth_scopes(Some(strings(a, "allowed_oauth_scopes")))
            .set_callback_urls(Some(strings(a, "callback_urls")))
            .set_supported_identity_providers(Some(strings(a, "supported_identity_providers")))
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await
            .map_err(aws_err)?;
        r.user_pool_client()
            .and_then(|c| c.client_id())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateUserPoolClient returned no id"))
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        // like UpdateUserPool, UpdateUserPoolClient resets what it is not given
        self.0
            .update_user_pool_client()
            .user_pool_id(s(new, "user_pool_id"))
            .client_id(id)
            .set_allowed_o_auth_flows(Some(strings(new, "allowed_oauth_flows").iter().map(|f| OAuthFlowType::from(f.as_str())).collect()))
            .set_allowed_o_auth_scopes(Some(strings(new, "allowed_oauth_scopes")))
            .set_callback_urls(Some(strings(new, "callback_urls")))
            .set_supported_identity_providers(Some(strings(new, "supported_identity_providers")))
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await
            .map_err(aws_err)?;
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_user_pool_client().user_pool_id(s(recorded, "user_pool_id")).client_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── hosted-UI domain ─────────────────────────────────────────────────────────────

pub struct Domain(Client);

static DOMAIN: Schema = Schema {
    kind: "aws_cognito_user_pool_domain",
    attrs: &[AttrSchema::force_new("user_pool_id")],
    stateful: false,
    run_once: false,
    typical_create_secs: 5,
};

#[async_trait]
impl Resource for Domain {
    fn schema(&self) -> &'static Schema {
        &DOMAIN
    }

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.read(name, inputs).await?.filter(|o| o.attrs.get("user_pool_id") == inputs.get("user_pool_id")).map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_user_pool_domain().domain(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        // an unknown domain is an empty description, not an error
        let Some(d) = r.domain_description().filter(|d| d.user_pool_id().is_some()) else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("user_pool_id", json!(d.user_pool_id()))]),
            outputs: attrs([("id", json!(id)), ("domain", json!(id))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        match self.0.create_user_pool_domain().domain(name).user_pool_id(s(a, "user_pool_id")).send().await {
            Ok(_) => Ok(name.to_string()),
            Err(e) if code_of(&e) == Some("InvalidParameterException") => Err(ProviderError::coded(
                "InvalidParameterException",
                format!(
                    "the Cognito domain prefix {name:?} is taken or invalid ({}); set another [identity] domain_prefix",
                    aws_err(e).message
                ),
            )),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn update(&self, _id: &str, _old: &Attrs, _new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_user_pool_domain().domain(id).user_pool_id(s(recorded, "user_pool_id")).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── the initial administrator ────────────────────────────────────────────────────

pub struct User(Client);

static USER: Schema = Schema {
    kind: "aws_cognito_user",
    attrs: &[AttrSchema::force_new("user_pool_id"), AttrSchema::force_new("email"), AttrSchema::updatable("email_verified")],
    stateful: true,
    run_once: false,
    typical_create_secs: 1,
};

#[async_trait]
impl Resource for User {
    fn schema(&self) -> &'static Schema {
        &USER
    }

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.read(name, inputs).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.admin_get_user().user_pool_id(s(recorded, "user_pool_id")).username(id).send().await {
            Ok(r) => r,
            Err(e) if missing(&e) || code_of(&e) == Some("UserNotFoundException") => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let attr = |k: &str| r.user_attributes().iter().find(|a| a.name() == k).and_then(|a| a.value()).map(String::from);
        Ok(Some(Observed {
            attrs: attrs([
                ("user_pool_id", json!(s(recorded, "user_pool_id"))),
                ("email", json!(attr("email"))),
                ("email_verified", json!(attr("email_verified").as_deref() == Some("true"))),
            ]),
            outputs: attrs([("id", json!(id)), ("username", json!(r.username())), ("sub", json!(attr("sub")))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        use aws_sdk_cognitoidentityprovider::types::{AttributeType, DeliveryMediumType};
        let attr = |k: &str, v: &str| AttributeType::builder().name(k).value(v).build().expect("attribute");
        let r = self
            .0
            .admin_create_user()
            .user_pool_id(s(a, "user_pool_id"))
            .username(name)
            .user_attributes(attr("email", s(a, "email")))
            .user_attributes(attr("email_verified", if b(a, "email_verified") { "true" } else { "false" }))
            .desired_delivery_mediums(DeliveryMediumType::Email)
            .send()
            .await;
        match r {
            Ok(_) => Ok(name.to_string()),
            Err(e) if code_of(&e) == Some("UsernameExistsException") => Ok(name.to_string()),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        use aws_sdk_cognitoidentityprovider::types::AttributeType;
        let v = if b(new, "email_verified") { "true" } else { "false" };
        self.0
            .admin_update_user_attributes()
            .user_pool_id(s(new, "user_pool_id"))
            .username(id)
            .user_attributes(AttributeType::builder().name("email_verified").value(v).build().expect("attribute"))
            .send()
            .await
            .map_err(aws_err)?;
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self.0.admin_delete_user().user_pool_id(s(recorded, "user_pool_id")).username(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(&e) || code_of(&e) == Some("UserNotFoundException") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}
