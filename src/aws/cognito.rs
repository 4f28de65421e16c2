//! Identity: the Cognito user pool (email is the username, as Tuva EMPI requires) and the ALB's
//! app client. The client secret is never read into state.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, AdvancedSecurityModeType, AttributeType, DeletionProtectionType,
    DeliveryMediumType, OAuthFlowType, PasswordPolicyType, PreventUserExistenceErrorTypes,
    SoftwareTokenMfaConfigType, UserPoolAddOnsType, UserPoolMfaType, UserPoolPolicyType,
    UserPoolTierType, UserPoolType, UsernameAttributeType, VerifiedAttributeType,
};
use aws_sdk_cognitoidentityprovider::Client;
use empi_engine::kinds;
use empi_engine::kinds::cognito::{CLIENT, DOMAIN, USER, USER_POOL};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, returned, AwsError, AwsKind, AwsResult, Tags};
use super::{attrs, input_bool, input_str, sorted, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, UserPool(c.cognito.clone()));
    add(r, AppClient(c.cognito.clone()));
    add(r, Domain(c.cognito.clone()));
    add(r, User(c.cognito.clone()));
}

/// What Cognito answers for a pool, client or domain that does not exist.
const RESOURCE_NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// A boolean user attribute as Cognito writes it.
fn flag(on: bool) -> &'static str {
    if on {
        "true"
    } else {
        "false"
    }
}

fn user_attribute(k: &str, v: &str) -> AttributeType {
    AttributeType::builder().name(k).value(v).build().expect("attribute")
}

// ── user pool ────────────────────────────────────────────────────────────────────

pub struct UserPool(Client);

impl UserPool {
    async fn describe(&self, id: &str) -> AwsResult<Option<UserPoolType>> {
        Ok(self.0.describe_user_pool().user_pool_id(id).send().await?.user_pool().cloned())
    }

    /// The MFA mode, with an authenticator app (TOTP) as the method unless it is off.
    async fn set_mfa(&self, id: &str, a: &Attrs) -> AwsResult<()> {
        let mode = UserPoolMfaType::from(input_str(a, kinds::cognito::UserPool::mfa_configuration));
        let totp =
            SoftwareTokenMfaConfigType::builder().enabled(mode != UserPoolMfaType::Off).build();
        self.0
            .set_user_pool_mfa_config()
            .user_pool_id(id)
            .mfa_configuration(mode)
            .software_token_mfa_configuration(totp)
            .send()
            .await?;
        Ok(())
    }

    /// UpdateUserPool resets every setting it is not given: it always gets the whole configuration
    /// (the tags too; `retag` then finds nothing left to do).
    async fn update_pool(
        &self,
        id: &str,
        a: &Attrs,
        protection: DeletionProtectionType,
    ) -> AwsResult<()> {
        self.0
            .update_user_pool()
            .user_pool_id(id)
            .set_auto_verified_attributes(Some(
                strings(a, kinds::cognito::UserPool::auto_verified_attributes)
                    .iter()
                    .map(|x| VerifiedAttributeType::from(x.as_str()))
                    .collect(),
            ))
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(input_bool(
                        a,
                        kinds::cognito::UserPool::admin_create_user_only,
                    ))
                    .build(),
            )
            .mfa_configuration(UserPoolMfaType::from(input_str(
                a,
                kinds::cognito::UserPool::mfa_configuration,
            )))
            .policies(policies(a))
            .user_pool_tier(UserPoolTierType::from(input_str(
                a,
                kinds::cognito::UserPool::user_pool_tier,
            )))
            .user_pool_add_ons(add_ons(a)?)
            .deletion_protection(protection)
            .set_user_pool_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await?;
        Ok(())
    }
}

fn deletion_protection(on: bool) -> DeletionProtectionType {
    if on {
        DeletionProtectionType::Active
    } else {
        DeletionProtectionType::Inactive
    }
}

fn add_ons(a: &Attrs) -> AwsResult<UserPoolAddOnsType> {
    UserPoolAddOnsType::builder()
        .advanced_security_mode(AdvancedSecurityModeType::from(input_str(
            a,
            "advanced_security_mode",
        )))
        .build()
        .map_err(|e| ProviderError::new(e.to_string()).into())
}

/// The pool's password policy from the stack's `password_policy` object.
fn policies(a: &Attrs) -> UserPoolPolicyType {
    let p = a.get("password_policy").cloned().unwrap_or(Value::Null);
    let n = |k: &str| p[k].as_i64().unwrap_or(0) as i32;
    let f = |k: &str| p[k].as_bool().unwrap_or(false);
    let mut b = PasswordPolicyType::builder()
        .minimum_length(n("minimum_length"))
        .require_lowercase(f("require_lowercase"))
        .require_uppercase(f("require_uppercase"))
        .require_numbers(f("require_numbers"))
        .require_symbols(f("require_symbols"))
        .temporary_password_validity_days(n("temporary_password_validity_days"));
    if p.get("password_history_size").is_some() {
        b = b.password_history_size(n("password_history_size"));
    }
    UserPoolPolicyType::builder().password_policy(b.build()).build()
}

/// A live password policy as the stack writes it.
fn policy_value(p: &PasswordPolicyType) -> Value {
    json!({
        "minimum_length": p.minimum_length(),
        "require_lowercase": p.require_lowercase(),
        "require_uppercase": p.require_uppercase(),
        "require_numbers": p.require_numbers(),
        "require_symbols": p.require_symbols(),
        "temporary_password_validity_days": p.temporary_password_validity_days(),
        "password_history_size": p.password_history_size().unwrap_or(0),
    })
}

#[async_trait]
impl AwsKind for UserPool {
    const SCHEMA: &'static Schema = &USER_POOL;
    const NOT_FOUND: &'static [&'static str] = RESOURCE_NOT_FOUND;

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let mut pages = self.0.list_user_pools().max_results(60).into_paginator().send();
        while let Some(page) = pages.next().await {
            if let Some(p) = page?.user_pools().iter().find(|p| p.name() == Some(name)) {
                return Ok(p.id().map(String::from));
            }
        }
        Ok(None)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(p) = self.describe(id).await? else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                (
                    "username_attributes",
                    sorted(
                        p.username_attributes().iter().map(|a| a.as_str().to_string()).collect(),
                    ),
                ),
                (
                    "auto_verified_attributes",
                    sorted(
                        p.auto_verified_attributes()
                            .iter()
                            .map(|a| a.as_str().to_string())
                            .collect(),
                    ),
                ),
                (
                    "admin_create_user_only",
                    json!(p
                        .admin_create_user_config()
                        .map(|c| c.allow_admin_create_user_only())
                        .unwrap_or(false)),
                ),
                ("mfa_configuration", json!(p.mfa_configuration().map(|m| m.as_str()))),
                (
                    "password_policy",
                    p.policies()
                        .and_then(|x| x.password_policy())
                        .map(policy_value)
                        .unwrap_or(Value::Null),
                ),
                ("user_pool_tier", json!(p.user_pool_tier().map(|x| x.as_str()))),
                (
                    "advanced_security_mode",
                    json!(p
                        .user_pool_add_ons()
                        .map(|x| x.advanced_security_mode().as_str())
                        .unwrap_or("OFF")),
                ),
                (
                    "deletion_protection",
                    json!(p.deletion_protection() == Some(&DeletionProtectionType::Active)),
                ),
                ("tags", tags_value(p.user_pool_tags().cloned().unwrap_or_default())),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(p.arn())), ("name", json!(p.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_user_pool()
            .pool_name(name)
            .set_username_attributes(Some(
                strings(a, kinds::cognito::UserPool::username_attributes)
                    .iter()
                    .map(|x| UsernameAttributeType::from(x.as_str()))
                    .collect(),
            ))
            .set_auto_verified_attributes(Some(
                strings(a, kinds::cognito::UserPool::auto_verified_attributes)
                    .iter()
                    .map(|x| VerifiedAttributeType::from(x.as_str()))
                    .collect(),
            ))
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(input_bool(
                        a,
                        kinds::cognito::UserPool::admin_create_user_only,
                    ))
                    .build(),
            )
            .policies(policies(a))
            .user_pool_tier(UserPoolTierType::from(input_str(
                a,
                kinds::cognito::UserPool::user_pool_tier,
            )))
            .user_pool_add_ons(add_ons(a)?)
            .deletion_protection(deletion_protection(input_bool(
                a,
                kinds::cognito::UserPool::deletion_protection,
            )))
            .set_user_pool_tags(Some(tags(a).into_iter().collect()))
            .send()
            .await?;
        let id = r
            .user_pool()
            .and_then(|p| p.id())
            .ok_or_else(|| ProviderError::new("CreateUserPool returned no id"))?
            .to_string();
        // MFA by authenticator app is set on the pool once it exists (CreateUserPool takes the mode
        // but not the TOTP method, and refuses ON without a method)
        self.set_mfa(&id, a).await?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c == "mfa_configuration") {
            // first: UpdateUserPool may only name a mode whose method is already on
            self.set_mfa(id, new).await?;
        }
        if changed.iter().any(|c| c != "mfa_configuration" && c != "tags") {
            self.update_pool(
                id,
                new,
                deletion_protection(input_bool(new, kinds::cognito::UserPool::deletion_protection)),
            )
            .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        // `destroy` lifts the pool's deletion protection (which guards it against deletion by
        // anything else), keeping every other setting
        if self
            .describe(id)
            .await?
            .is_some_and(|p| p.deletion_protection() == Some(&DeletionProtectionType::Active))
        {
            self.update_pool(id, recorded, DeletionProtectionType::Inactive).await?;
        }
        done(self.0.delete_user_pool().user_pool_id(id).send()).await
    }

    async fn retag(&self, id: &str, new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        // tagging needs the pool's ARN
        let pool = self.describe(id).await?;
        let live: Tags = pool
            .as_ref()
            .and_then(|p| p.user_pool_tags())
            .into_iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with("aws:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if live == tags(new) {
            // an UpdateUserPool of this same change already set them
            return Ok(());
        }
        let arn = pool.as_ref().and_then(|p| p.arn()).unwrap_or_default();
        if !remove.is_empty() {
            self.0.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            self.0
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(set.into_iter().collect()))
                .send()
                .await?;
        }
        Ok(())
    }
}

// ── app client ───────────────────────────────────────────────────────────────────

pub struct AppClient(Client);

#[async_trait]
impl AwsKind for AppClient {
    const SCHEMA: &'static Schema = &CLIENT;
    const NOT_FOUND: &'static [&'static str] = RESOURCE_NOT_FOUND;

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let pool = input_str(inputs, kinds::cognito::Client::user_pool_id);
        let mut pages = self
            .0
            .list_user_pool_clients()
            .user_pool_id(pool)
            .max_results(60)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            if let Some(c) =
                page?.user_pool_clients().iter().find(|c| c.client_name() == Some(name))
            {
                return Ok(c.client_id().map(String::from));
            }
        }
        Ok(None)
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self
            .0
            .describe_user_pool_client()
            .user_pool_id(input_str(recorded, kinds::cognito::Client::user_pool_id))
            .client_id(id)
            .send()
            .await?;
        let Some(c) = r.user_pool_client() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("user_pool_id", json!(c.user_pool_id())),
                ("generate_secret", json!(c.client_secret().is_some())),
                (
                    "allowed_oauth_flows",
                    sorted(
                        c.allowed_o_auth_flows().iter().map(|f| f.as_str().to_string()).collect(),
                    ),
                ),
                ("allowed_oauth_scopes", sorted(c.allowed_o_auth_scopes().to_vec())),
                ("callback_urls", sorted(c.callback_urls().to_vec())),
                ("supported_identity_providers", sorted(c.supported_identity_providers().to_vec())),
                (
                    "prevent_user_existence_errors",
                    // AWS's answer for a client created without it: the legacy behaviour
                    json!(c
                        .prevent_user_existence_errors()
                        .map(|x| x.as_str())
                        .unwrap_or("LEGACY")),
                ),
            ]),
            outputs: attrs([("id", json!(id)), ("user_pool_id", json!(c.user_pool_id()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_user_pool_client()
            .user_pool_id(input_str(a, kinds::cognito::Client::user_pool_id))
            .client_name(name)
            .generate_secret(input_bool(a, kinds::cognito::Client::generate_secret))
            .set_allowed_o_auth_flows(Some(
                strings(a, kinds::cognito::Client::allowed_oauth_flows)
                    .iter()
                    .map(|f| OAuthFlowType::from(f.as_str()))
                    .collect(),
            ))
            .set_allowed_o_auth_scopes(Some(strings(
                a,
                kinds::cognito::Client::allowed_oauth_scopes,
            )))
            .set_callback_urls(Some(strings(a, kinds::cognito::Client::callback_urls)))
            .set_supported_identity_providers(Some(strings(
                a,
                kinds::cognito::Client::supported_identity_providers,
            )))
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::from(input_str(
                a,
                "prevent_user_existence_errors",
            )))
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await?;
        returned(r.user_pool_client().and_then(|c| c.client_id()), "CreateUserPoolClient")
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        // like UpdateUserPool, UpdateUserPoolClient resets what it is not given
        self.0
            .update_user_pool_client()
            .user_pool_id(input_str(new, kinds::cognito::Client::user_pool_id))
            .client_id(id)
            .set_allowed_o_auth_flows(Some(
                strings(new, kinds::cognito::Client::allowed_oauth_flows)
                    .iter()
                    .map(|f| OAuthFlowType::from(f.as_str()))
                    .collect(),
            ))
            .set_allowed_o_auth_scopes(Some(strings(
                new,
                kinds::cognito::Client::allowed_oauth_scopes,
            )))
            .set_callback_urls(Some(strings(new, kinds::cognito::Client::callback_urls)))
            .set_supported_identity_providers(Some(strings(
                new,
                kinds::cognito::Client::supported_identity_providers,
            )))
            .prevent_user_existence_errors(PreventUserExistenceErrorTypes::from(input_str(
                new,
                "prevent_user_existence_errors",
            )))
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        done(
            self.0
                .delete_user_pool_client()
                .user_pool_id(input_str(recorded, kinds::cognito::Client::user_pool_id))
                .client_id(id)
                .send(),
        )
        .await
    }
}

// ── hosted-UI domain ─────────────────────────────────────────────────────────────

pub struct Domain(Client);

#[async_trait]
impl AwsKind for Domain {
    const SCHEMA: &'static Schema = &DOMAIN;
    const NOT_FOUND: &'static [&'static str] = RESOURCE_NOT_FOUND;

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self
            .read(name, inputs)
            .await?
            .filter(|o| {
                o.attrs.get(kinds::cognito::Domain::user_pool_id)
                    == inputs.get(kinds::cognito::Domain::user_pool_id)
            })
            .map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_user_pool_domain().domain(id).send().await?;
        // an unknown domain is an empty description, not an error
        let Some(d) = r.domain_description().filter(|d| d.user_pool_id().is_some()) else {
            return Ok(None);
        };
        Ok(Some(Observed {
            attrs: attrs([("user_pool_id", json!(d.user_pool_id()))]),
            outputs: attrs([("id", json!(id)), ("domain", json!(id))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        match self.0.create_user_pool_domain().domain(name).user_pool_id(input_str(a, kinds::cognito::Domain::user_pool_id)).send().await.map_err(AwsError::from)
        {
            Ok(_) => Ok(name.to_string()),
            Err(e) if e.code() == Some("InvalidParameterException") => Err(ProviderError::coded(
                "InvalidParameterException",
                format!("the Cognito domain prefix {name:?} is taken or invalid ({}); set another [identity] domain_prefix", e.0.message),
            )
            .into()),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        done(
            self.0
                .delete_user_pool_domain()
                .domain(id)
                .user_pool_id(input_str(recorded, kinds::cognito::Domain::user_pool_id))
                .send(),
        )
        .await
    }
}

// ── the initial administrator ────────────────────────────────────────────────────

pub struct User(Client);

#[async_trait]
impl AwsKind for User {
    const SCHEMA: &'static Schema = &USER;
    /// `ResourceNotFoundException`: the user's pool is gone.
    const NOT_FOUND: &'static [&'static str] =
        &["UserNotFoundException", "ResourceNotFoundException"];

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.read(name, inputs).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self
            .0
            .admin_get_user()
            .user_pool_id(input_str(recorded, kinds::cognito::User::user_pool_id))
            .username(id)
            .send()
            .await?;
        let attr = |k: &str| {
            r.user_attributes()
                .iter()
                .find(|a| a.name() == k)
                .and_then(|a| a.value())
                .map(String::from)
        };
        Ok(Some(Observed {
            attrs: attrs([
                ("user_pool_id", json!(input_str(recorded, kinds::cognito::User::user_pool_id))),
                ("email", json!(attr("email"))),
                ("email_verified", json!(attr("email_verified").as_deref() == Some("true"))),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("username", json!(r.username())),
                ("sub", json!(attr("sub"))),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .admin_create_user()
            .user_pool_id(input_str(a, kinds::cognito::User::user_pool_id))
            .username(name)
            .user_attributes(user_attribute("email", input_str(a, kinds::cognito::User::email)))
            .user_attributes(user_attribute(
                "email_verified",
                flag(input_bool(a, kinds::cognito::User::email_verified)),
            ))
            .desired_delivery_mediums(DeliveryMediumType::Email)
            .send()
            .await
            .map_err(AwsError::from);
        match r {
            Err(e) if e.code() != Some("UsernameExistsException") => Err(e),
            _ => Ok(name.to_string()),
        }
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        self.0
            .admin_update_user_attributes()
            .user_pool_id(input_str(new, kinds::cognito::User::user_pool_id))
            .username(id)
            .user_attributes(user_attribute(
                "email_verified",
                flag(input_bool(new, kinds::cognito::User::email_verified)),
            ))
            .send()
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        done(
            self.0
                .admin_delete_user()
                .user_pool_id(input_str(recorded, kinds::cognito::User::user_pool_id))
                .username(id)
                .send(),
        )
        .await
    }
}
