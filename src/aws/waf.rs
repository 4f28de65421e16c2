//! The optional WAF web ACL (AWS managed rule groups) and its association with the ALB.

use async_trait::async_trait;
use aws_sdk_wafv2::operation::get_web_acl::GetWebAclOutput;
use aws_sdk_wafv2::types::{
    AllowAction, AndStatement, BlockAction, ByteMatchStatement, CountAction, DefaultAction,
    FieldToMatch, LabelMatchScope, LabelMatchStatement, ManagedRuleGroupStatement, NoneAction,
    NotStatement, OrStatement, OverrideAction, PositionalConstraint, Rule, RuleAction,
    RuleActionOverride, Scope, Statement, Tag, TextTransformation, TextTransformationType, UriPath,
    VisibilityConfig,
};
use aws_sdk_wafv2::Client;
use empi_engine::kinds;
use empi_engine::kinds::waf::{WEB_ACL, WEB_ACL_ASSOCIATION, WEB_ACL_LOGGING};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::json;

use super::adapter::{add, done, AwsKind, AwsResult, Tags};
use super::{attrs, input_str, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, WebAcl(c.wafv2.clone()));
    add(r, Association(c.wafv2.clone()));
    add(r, Logging(c.wafv2.clone()));
}

/// What WAFv2 answers for any object that does not exist.
const GONE: &str = "WAFNonexistentItemException";

fn visibility(metric: &str) -> VisibilityConfig {
    VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric)
        .build()
        .expect("visibility")
}

fn allow() -> DefaultAction {
    DefaultAction::builder().allow(AllowAction::builder().build()).build()
}

/// The core rule set, whose `SizeRestrictions_BODY` blocks every body over 8 KB.
const CORE_RULE_SET: &str = "AWSManagedRulesCommonRuleSet";
/// That rule, and the label it puts on what it matches (AWS managed rules' documentation).
const BODY_SIZE_RULE: &str = "SizeRestrictions_BODY";
const BODY_SIZE_LABEL: &str = "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body";
/// The rule that blocks what `SizeRestrictions_BODY` labels outside the large-body paths.
const BODY_SIZE_ELSEWHERE: &str = "BodySizeOutsideLargeBodyPaths";

/// `path` is a prefix of the request's URI path.
fn path_starts_with(path: &str) -> Statement {
    let m = ByteMatchStatement::builder()
        .search_string(aws_sdk_wafv2::primitives::Blob::new(path.as_bytes()))
        .field_to_match(FieldToMatch::builder().uri_path(UriPath::builder().build()).build())
        .positional_constraint(PositionalConstraint::StartsWith)
        .text_transformations(
            TextTransformation::builder()
                .priority(0)
                .r#type(TextTransformationType::None)
                .build()
                .expect("transformation"),
        )
        .build()
        .expect("byte match");
    Statement::builder().byte_match_statement(m).build()
}

/// Blocks a request `SizeRestrictions_BODY` labelled unless its path starts with one of `paths`.
fn body_size_elsewhere(paths: &[String], priority: i32) -> Rule {
    let labelled = Statement::builder()
        .label_match_statement(
            LabelMatchStatement::builder()
                .scope(LabelMatchScope::Label)
                .key(BODY_SIZE_LABEL)
                .build()
                .expect("label match"),
        )
        .build();
    let on_a_path = match paths {
        [one] => path_starts_with(one),
        _ => Statement::builder()
            .or_statement(
                OrStatement::builder()
                    .set_statements(Some(paths.iter().map(|p| path_starts_with(p)).collect()))
                    .build()
                    .expect("or"),
            )
            .build(),
    };
    let elsewhere = Statement::builder()
        .not_statement(NotStatement::builder().statement(on_a_path).build())
        .build();
    Rule::builder()
        .name(BODY_SIZE_ELSEWHERE)
        .priority(priority)
        .statement(
            Statement::builder()
                .and_statement(
                    AndStatement::builder()
                        .statements(labelled)
                        .statements(elsewhere)
                        .build()
                        .expect("and"),
                )
                .build(),
        )
        .action(RuleAction::builder().block(BlockAction::builder().build()).build())
        .visibility_config(visibility(BODY_SIZE_ELSEWHERE))
        .build()
        .expect("rule")
}

/// The large-body paths of a live web ACL: those its `BodySizeOutsideLargeBodyPaths` rule lets
/// through.
fn large_body_paths(acl: &aws_sdk_wafv2::types::WebAcl) -> Vec<String> {
    fn paths(s: &Statement, out: &mut Vec<String>) {
        if let Some(m) = s.byte_match_statement() {
            out.push(String::from_utf8_lossy(m.search_string().as_ref()).into_owned());
        }
        if let Some(n) = s.not_statement() {
            if let Some(inner) = n.statement() {
                paths(inner, out);
            }
        }
        for inner in s.and_statement().map(|a| a.statements()).into_iter().flatten() {
            paths(inner, out);
        }
        for inner in s.or_statement().map(|o| o.statements()).into_iter().flatten() {
            paths(inner, out);
        }
    }
    let mut out = vec![];
    for r in acl.rules().iter().filter(|r| r.name() == BODY_SIZE_ELSEWHERE) {
        if let Some(s) = r.statement() {
            paths(s, &mut out);
        }
    }
    out
}

fn rules(a: &Attrs) -> Vec<Rule> {
    let large = strings(a, kinds::waf::WebAcl::large_body_paths);
    let groups = strings(a, kinds::waf::WebAcl::managed_rule_groups);
    let mut rules: Vec<Rule> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut group = ManagedRuleGroupStatement::builder().vendor_name("AWS").name(g);
            if g == CORE_RULE_SET && !large.is_empty() {
                // counted, not blocked: the rule after the groups blocks it outside the paths
                group = group.rule_action_overrides(
                    RuleActionOverride::builder()
                        .name(BODY_SIZE_RULE)
                        .action_to_use(
                            RuleAction::builder().count(CountAction::builder().build()).build(),
                        )
                        .build()
                        .expect("override"),
                );
            }
            let group = group.build().expect("statement");
            Rule::builder()
                .name(g)
                .priority(i as i32)
                .statement(Statement::builder().managed_rule_group_statement(group).build())
                .override_action(
                    OverrideAction::builder().none(NoneAction::builder().build()).build(),
                )
                .visibility_config(visibility(g))
                .build()
                .expect("rule")
        })
        .collect();
    if !large.is_empty() && groups.iter().any(|g| g == CORE_RULE_SET) {
        rules.push(body_size_elsewhere(&large, groups.len() as i32));
    }
    rules
}

fn waf_tags(t: Tags) -> Vec<Tag> {
    t.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("tag")).collect()
}

/// `arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>` → (name, id)
fn name_and_id(arn: &str) -> (String, String) {
    let mut parts = arn.rsplit('/');
    let id = parts.next().unwrap_or_default().to_string();
    let name = parts.next().unwrap_or_default().to_string();
    (name, id)
}

pub struct WebAcl(Client);

impl WebAcl {
    async fn get(&self, arn: &str) -> AwsResult<GetWebAclOutput> {
        let (name, id) = name_and_id(arn);
        Ok(self.0.get_web_acl().name(name).id(id).scope(Scope::Regional).send().await?)
    }
}

#[async_trait]
impl AwsKind for WebAcl {
    const SCHEMA: &'static Schema = &WEB_ACL;
    const NOT_FOUND: &'static [&'static str] = &[GONE];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.list_web_acls().scope(Scope::Regional).send().await?;
        Ok(r.web_acls()
            .iter()
            .find(|a| a.name() == Some(name))
            .and_then(|a| a.arn())
            .map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.get(id).await?;
        let Some(acl) = r.web_acl() else { return Ok(None) };
        let groups: Vec<String> = acl
            .rules()
            .iter()
            .filter_map(|r| {
                r.statement()
                    .and_then(|s| s.managed_rule_group_statement())
                    .map(|m| m.name().to_string())
            })
            .collect();
        let t = self.0.list_tags_for_resource().resource_arn(id).send().await?;
        let tag_list = t
            .tag_info_for_resource()
            .map(|i| {
                i.tag_list()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([
                (kinds::waf::WebAcl::managed_rule_groups, json!(groups)),
                (kinds::waf::WebAcl::large_body_paths, json!(large_body_paths(acl))),
                (kinds::waf::WebAcl::tags, tags_value(tag_list)),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id)), ("name", json!(acl.name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_web_acl()
            .name(name)
            .scope(Scope::Regional)
            .default_action(allow())
            .set_rules(Some(rules(a)))
            .visibility_config(visibility(name))
            .set_tags(Some(waf_tags(tags(a))))
            .send()
            .await?;
        Ok(r.summary()
            .and_then(|s| s.arn())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateWebACL returned no ARN"))?)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| {
            c == kinds::waf::WebAcl::managed_rule_groups
                || c == kinds::waf::WebAcl::large_body_paths
        }) {
            let cur = self.get(id).await.map_err(|e| match e.code() {
                Some(GONE) => ProviderError::coded(GONE, format!("web ACL {id} is gone")).into(),
                _ => e,
            })?;
            let (name, acl_id) = name_and_id(id);
            self.0
                .update_web_acl()
                .name(&name)
                .id(acl_id)
                .scope(Scope::Regional)
                .lock_token(cur.lock_token().unwrap_or_default())
                .default_action(allow())
                .set_rules(Some(rules(new)))
                .visibility_config(visibility(&name))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        let cur = self.get(id).await?;
        let (name, acl_id) = name_and_id(id);
        self.0
            .delete_web_acl()
            .name(name)
            .id(acl_id)
            .scope(Scope::Regional)
            .lock_token(cur.lock_token().unwrap_or_default())
            .send()
            .await?;
        Ok(())
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        if !remove.is_empty() {
            self.0.untag_resource().resource_arn(id).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            self.0.tag_resource().resource_arn(id).set_tags(Some(waf_tags(set))).send().await?;
        }
        Ok(())
    }
}

pub struct Association(Client);

#[async_trait]
impl AwsKind for Association {
    const SCHEMA: &'static Schema = &WEB_ACL_ASSOCIATION;
    const NOT_FOUND: &'static [&'static str] = &[GONE];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let resource = input_str(inputs, kinds::waf::WebAclAssociation::resource_arn);
        Ok(self.read(resource, inputs).await?.map(|_| resource.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.get_web_acl_for_resource().resource_arn(id).send().await?;
        let Some(acl) = r.web_acl() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([("web_acl_arn", json!(acl.arn())), ("resource_arn", json!(id))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .associate_web_acl()
            .web_acl_arn(input_str(a, kinds::waf::WebAclAssociation::web_acl_arn))
            .resource_arn(input_str(a, kinds::waf::WebAclAssociation::resource_arn))
            .send()
            .await?;
        Ok(input_str(a, kinds::waf::WebAclAssociation::resource_arn).to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        done(
            self.0
                .associate_web_acl()
                .web_acl_arn(input_str(new, kinds::waf::WebAclAssociation::web_acl_arn))
                .resource_arn(id)
                .send(),
        )
        .await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.disassociate_web_acl().resource_arn(id).send()).await
    }
}

/// The web ACL's logging configuration, keyed by the web ACL's ARN.
pub struct Logging(Client);

impl Logging {
    async fn put(&self, a: &Attrs) -> AwsResult<()> {
        let conf = aws_sdk_wafv2::types::LoggingConfiguration::builder()
            .resource_arn(input_str(a, "resource_arn"))
            .log_destination_configs(input_str(a, kinds::waf::WebAclLogging::log_destination_arn))
            .build()
            .map_err(|e| ProviderError::new(e.to_string()))?;
        self.0.put_logging_configuration().logging_configuration(conf).send().await.map_err(|e| {
            super::adapter::aws(e).explain("WAFInvalidParameterException", || {
                format!(
                    "WAF refused the log destination {}: it must be a CloudWatch log group whose name starts with `aws-waf-logs-`",
                    input_str(a, kinds::waf::WebAclLogging::log_destination_arn)
                )
            })
        })?;
        Ok(())
    }
}

#[async_trait]
impl AwsKind for Logging {
    const SCHEMA: &'static Schema = &WEB_ACL_LOGGING;
    const NOT_FOUND: &'static [&'static str] = &[GONE];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let acl = input_str(inputs, kinds::waf::WebAclLogging::resource_arn);
        Ok(self.read(acl, inputs).await?.map(|_| acl.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.get_logging_configuration().resource_arn(id).send().await?;
        let Some(c) = r.logging_configuration() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("resource_arn", json!(id)),
                ("log_destination_arn", json!(c.log_destination_configs().first())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.put(a).await?;
        Ok(input_str(a, kinds::waf::WebAclLogging::resource_arn).to_string())
    }

    async fn update(
        &self,
        _id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        self.put(new).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_logging_configuration().resource_arn(id).send()).await
    }
}
