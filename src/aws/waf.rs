//! The optional WAF web ACL (AWS managed rule groups) and its association with the ALB.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_wafv2::types::{DefaultAction, ManagedRuleGroupStatement, OverrideAction, Rule, Scope, Statement, Tag, VisibilityConfig};
use aws_sdk_wafv2::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::json;

use super::{attrs, aws_err, code_of, s, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(WebAcl(c.wafv2.clone())));
    r.register(Arc::new(Association(c.wafv2.clone())));
}

fn visibility(metric: &str) -> VisibilityConfig {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric)
        .build()
        .expect("visibility")
}

fn rules(a: &Attrs) -> Vec<Rule> {
    strings(a, "managed_rule_groups")
        .iter()
        .enumerate()
        .map(|(i, g)| {
            Rule::builder()
                .name(g)
                .priority(i as i32)
                .statement(
                    Statement::builder()
                        .managed_rule_group_statement(
                            ManagedRuleGroupStatement::builder().vendor_name("AWS").name(g).build().expect("statement"),
                        )
                        .build(),
                )
                .override_action(OverrideAction::builder().none(aws_sdk_wafv2::types::NoneAction::builder().build()).build())
                .visibility_config(visibility(g))
                .build()
                .expect("rule")
        })
        .collect()
}

/// `arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>` → (name, id)
fn name_and_id(arn: &str) -> (String, String) {
    let mut parts = arn.rsplit('/');
    let id = parts.next().unwrap_or_default().to_string();
    let name = parts.next().unwrap_or_default().to_string();
    (name, id)
}

fn gone(code: Option<&str>) -> bool {
    code == Some("WAFNonexistentItemException")
}

pub struct WebAcl(Client);

static ACL: Schema = Schema {
    kind: "aws_wafv2_web_acl",
    attrs: &[AttrSchema::updatable("managed_rule_groups"), AttrSchema::updatable("tags")],
    stateful: false,
    run_once: false,
    typical_create_secs: 3,
};

impl WebAcl {
    async fn get(&self, arn: &str) -> ProviderResult<Option<aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput>> {
        let (name, id) = name_and_id(arn);
        match self.0.get_web_acl().name(name).id(id).scope(Scope::Regional).send().await {
            Ok(r) => Ok(Some(r)),
            Err(e) if gone(code_of(&e)) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

#[async_trait]
impl Resource for WebAcl {
    fn schema(&self) -> &'static Schema {
        &ACL
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        let r = self.0.list_web_acls().scope(Scope::Regional).send().await.map_err(aws_err)?;
        Ok(r.web_acls().iter().find(|a| a.name() == Some(name)).and_then(|a| a.arn()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(r) = self.get(id).await? else { return Ok(None) };
        let Some(acl) = r.web_acl() else { return Ok(None) };
        let groups: Vec<String> = acl
            .rules()
            .iter()
            .filter_map(|r| r.statement().and_then(|s| s.managed_rule_group_statement()).map(|m| m.name().to_string()))
            .collect();
        let t = self.0.list_tags_for_resource().resource_arn(id).send().await.map_err(aws_err)?;
        let tag_list = t
            .tag_info_for_resource()
            .map(|i| i.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect::<Vec<_>>())
            .unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([("managed_rule_groups", json!(groups)), ("tags", tags_value(tag_list))]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id)), ("name", json!(acl.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let t: Vec<Tag> = tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
        let r = self
            .0
            .create_web_acl()
            .name(name)
            .scope(Scope::Regional)
            .default_action(DefaultAction::builder().allow(aws_sdk_wafv2::types::AllowAction::builder().build()).build())
            .set_rules(Some(rules(a)))
            .visibility_config(visibility(name))
            .set_tags(Some(t))
            .send()
            .await
            .map_err(aws_err)?;
        r.summary().and_then(|s| s.arn()).map(String::from).ok_or_else(|| ProviderError::new("CreateWebACL returned no ARN"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "managed_rule_groups") {
            let cur =
                self.get(id).await?.ok_or_else(|| ProviderError::coded("WAFNonexistentItemException", format!("web ACL {id} is gone")))?;
            let (name, acl_id) = name_and_id(id);
            self.0
                .update_web_acl()
                .name(&name)
                .id(acl_id)
                .scope(Scope::Regional)
                .lock_token(cur.lock_token().unwrap_or_default())
                .default_action(DefaultAction::builder().allow(aws_sdk_wafv2::types::AllowAction::builder().build()).build())
                .set_rules(Some(rules(new)))
                .visibility_config(visibility(&name))
                .send()
                .await
                .map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (set, remove) = super::tag_delta(&tags(old), &tags(new));
            if !remove.is_empty() {
                self.0.untag_resource().resource_arn(id).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
            }
            if !set.is_empty() {
                let t: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect();
                self.0.tag_resource().resource_arn(id).set_tags(Some(t)).send().await.map_err(aws_err)?;
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        let Some(cur) = self.get(id).await? else { return Ok(()) };
        let (name, acl_id) = name_and_id(id);
        match self
            .0
            .delete_web_acl()
            .name(name)
            .id(acl_id)
            .scope(Scope::Regional)
            .lock_token(cur.lock_token().unwrap_or_default())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

pub struct Association(Client);

static ASSOC: Schema = Schema {
    kind: "aws_wafv2_web_acl_association",
    attrs: &[AttrSchema::updatable("web_acl_arn"), AttrSchema::force_new("resource_arn")],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for Association {
    fn schema(&self) -> &'static Schema {
        &ASSOC
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let resource = s(inputs, "resource_arn");
        Ok(self.read(resource, inputs).await?.map(|_| resource.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.get_web_acl_for_resource().resource_arn(id).send().await {
            Ok(r) => r,
            Err(e) if gone(code_of(&e)) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(acl) = r.web_acl() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("web_acl_arn", json!(acl.arn())), ("resource_arn", json!(id))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        self.0.associate_web_acl().web_acl_arn(s(a, "web_acl_arn")).resource_arn(s(a, "resource_arn")).send().await.map_err(aws_err)?;
        Ok(s(a, "resource_arn").to_string())
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        self.0.associate_web_acl().web_acl_arn(s(new, "web_acl_arn")).resource_arn(id).send().await.map_err(aws_err)?;
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.disassociate_web_acl().resource_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}
