//! Edge: the internet-facing ALB, its target groups (instance targets on fixed node ports, attached
//! to the node group's Auto Scaling group), the HTTP→HTTPS redirect, and the HTTPS listener and rule
//! that authenticate with Cognito before forwarding.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, AuthenticateCognitoActionConfig, Certificate, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, Matcher, PathPatternConditionConfig, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
    RuleCondition, Tag, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, ProviderError, ProviderResult, Registry, Resource, Schema};
use serde_json::{json, Value};

use super::{attrs, aws_err, b, code_of, n, s, sorted, strings, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(LoadBalancer(c.elb.clone())));
    r.register(Arc::new(TargetGroup(c.elb.clone())));
    r.register(Arc::new(Listener(c.elb.clone())));
    r.register(Arc::new(ListenerRule(c.elb.clone())));
    r.register(Arc::new(AsgAttachment(c.autoscaling.clone())));
}

fn elb_tags(a: &Attrs) -> Vec<Tag> {
    tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn live_tags(c: &Client, arn: &str) -> ProviderResult<Value> {
    let r = c.describe_tags().resource_arns(arn).send().await.map_err(aws_err)?;
    Ok(tags_value(
        r.tag_descriptions()
            .iter()
            .flat_map(|d| d.tags().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))),
    ))
}

async fn retag(c: &Client, arn: &str, old: &Attrs, new: &Attrs) -> ProviderResult<()> {
    let (set, remove) = tag_delta(&tags(old), &tags(new));
    if !remove.is_empty() {
        c.remove_tags().resource_arns(arn).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
    }
    if !set.is_empty() {
        let t = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        c.add_tags().resource_arns(arn).set_tags(Some(t)).send().await.map_err(aws_err)?;
    }
    Ok(())
}

fn gone(code: Option<&str>) -> bool {
    matches!(code, Some("LoadBalancerNotFound" | "TargetGroupNotFound" | "ListenerNotFound" | "RuleNotFound"))
}

/// The stack's action objects as ELB actions, in order.
fn to_actions(a: &Attrs) -> Vec<Action> {
    let list = a.get("actions").and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
        .enumerate()
        .map(|(i, x)| {
            let order = i as i32 + 1;
            let t = x["type"].as_str().unwrap_or_default();
            let b = Action::builder().r#type(ActionTypeEnum::from(t)).order(order);
            match t {
                "authenticate-cognito" => b.authenticate_cognito_config(
                    AuthenticateCognitoActionConfig::builder()
                        .user_pool_arn(x["user_pool_arn"].as_str().unwrap_or_default())
                        .user_pool_client_id(x["user_pool_client_id"].as_str().unwrap_or_default())
                        .user_pool_domain(x["user_pool_domain"].as_str().unwrap_or_default())
                        .build(),
                ),
                "forward" => b.target_group_arn(x["target_group_arn"].as_str().unwrap_or_default()),
                "redirect" => b.redirect_config(
                    RedirectActionConfig::builder()
                        .protocol(x["protocol"].as_str().unwrap_or("HTTPS"))
                        .port(x["port"].as_str().unwrap_or("443"))
                        .status_code(RedirectActionStatusCodeEnum::from(x["status_code"].as_str().unwrap_or("HTTP_301")))
                        .build(),
                ),
                _ => b,
            }
            .build()
        })
        .collect()
}

/// Live actions in the stack's shape.
fn from_actions(actions: &[Action]) -> Value {
    let mut v: Vec<&Action> = actions.iter().collect();
    v.sort_by_key(|a| a.order().unwrap_or(0));
    Value::Array(
        v.into_iter()
            .map(|a| match a.r#type() {
                Some(ActionTypeEnum::AuthenticateCognito) => {
                    let c = a.authenticate_cognito_config();
                    json!({"type": "authenticate-cognito", "user_pool_arn": c.map(|c| c.user_pool_arn()), "user_pool_client_id": c.map(|c| c.user_pool_client_id()), "user_pool_domain": c.map(|c| c.user_pool_domain())})
                }
                Some(ActionTypeEnum::Forward) => {
                    let tg = a.target_group_arn().map(String::from).or_else(|| a.forward_config().and_then(|f| f.target_groups().first()).and_then(|t| t.target_group_arn()).map(String::from));
                    json!({"type": "forward", "target_group_arn": tg})
                }
                Some(ActionTypeEnum::Redirect) => {
                    let r = a.redirect_config();
                    json!({"type": "redirect", "protocol": r.and_then(|r| r.protocol()), "port": r.and_then(|r| r.port()), "status_code": r.and_then(|r| r.status_code()).map(|c| c.as_str())})
                }
                other => json!({"type": other.map(|t| t.as_str())}),
            })
            .collect(),
    )
}

// ── load balancer ────────────────────────────────────────────────────────────────

pub struct LoadBalancer(Client);

static LB: Schema = Schema {
    kind: "aws_lb",
    attrs: &[
        AttrSchema::force_new("scheme"),
        AttrSchema::updatable("subnet_ids").set(),
        AttrSchema::updatable("security_group_ids").set(),
        AttrSchema::updatable("drop_invalid_header_fields"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 180,
};

const DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";

impl LoadBalancer {
    async fn set_attributes(&self, arn: &str, a: &Attrs) -> ProviderResult<()> {
        let attr = LoadBalancerAttribute::builder().key(DROP_INVALID).value(b(a, "drop_invalid_header_fields").to_string()).build();
        self.0.modify_load_balancer_attributes().load_balancer_arn(arn).attributes(attr).send().await.map_err(aws_err)?;
        Ok(())
    }
}

#[async_trait]
impl Resource for LoadBalancer {
    fn schema(&self) -> &'static Schema {
        &LB
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_load_balancers().names(name).send().await {
            Ok(r) => Ok(r.load_balancers().first().and_then(|l| l.load_balancer_arn()).map(String::from)),
            Err(e) if gone(code_of(&e)) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_load_balancers().load_balancer_arns(id).send().await {
            Ok(r) => r,
            Err(e) if gone(code_of(&e)) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(lb) = r.load_balancers().first() else { return Ok(None) };
        let la = self.0.describe_load_balancer_attributes().load_balancer_arn(id).send().await.map_err(aws_err)?;
        let drop = la.attributes().iter().find(|a| a.key() == Some(DROP_INVALID)).and_then(|a| a.value()) == Some("true");
        Ok(Some(Observed {
            attrs: attrs([
                ("scheme", json!(lb.scheme().map(|s| s.as_str()))),
                ("subnet_ids", sorted(lb.availability_zones().iter().filter_map(|z| z.subnet_id().map(String::from)).collect())),
                ("security_group_ids", sorted(lb.security_groups().to_vec())),
                ("drop_invalid_header_fields", json!(drop)),
                ("tags", live_tags(&self.0, id).await?),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("arn", json!(id)),
                ("dns_name", json!(lb.dns_name())),
                ("zone_id", json!(lb.canonical_hosted_zone_id())),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(s(a, "scheme")))
            .set_subnets(Some(strings(a, "subnet_ids")))
            .set_security_groups(Some(strings(a, "security_group_ids")))
            .set_tags(Some(elb_tags(a)))
            .send()
            .await
            .map_err(aws_err)?;
        let arn = r
            .load_balancers()
            .first()
            .and_then(|l| l.load_balancer_arn())
            .ok_or_else(|| ProviderError::new("CreateLoadBalancer returned no ARN"))?
            .to_string();
        self.set_attributes(&arn, a).await?;
        Ok(arn)
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        if has("subnet_ids") {
            self.0.set_subnets().load_balancer_arn(id).set_subnets(Some(strings(new, "subnet_ids"))).send().await.map_err(aws_err)?;
        }
        if has("security_group_ids") {
            self.0
                .set_security_groups()
                .load_balancer_arn(id)
                .set_security_groups(Some(strings(new, "security_group_ids")))
                .send()
                .await
                .map_err(aws_err)?;
        }
        if has("drop_invalid_header_fields") {
            self.set_attributes(id, new).await?;
        }
        if has("tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_load_balancer().load_balancer_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── target group ─────────────────────────────────────────────────────────────────

pub struct TargetGroup(Client);

static TG: Schema = Schema {
    kind: "aws_lb_target_group",
    attrs: &[
        AttrSchema::force_new("vpc_id"),
        AttrSchema::force_new("port"),
        AttrSchema::force_new("protocol"),
        AttrSchema::force_new("target_type"),
        AttrSchema::updatable("health_check_path"),
        AttrSchema::updatable("health_check_matcher"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for TargetGroup {
    fn schema(&self) -> &'static Schema {
        &TG
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_target_groups().names(name).send().await {
            Ok(r) => Ok(r.target_groups().first().and_then(|t| t.target_group_arn()).map(String::from)),
            Err(e) if gone(code_of(&e)) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_target_groups().target_group_arns(id).send().await {
            Ok(r) => r,
            Err(e) if gone(code_of(&e)) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(t) = r.target_groups().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(t.vpc_id())),
                ("port", json!(t.port())),
                ("protocol", json!(t.protocol().map(|p| p.as_str()))),
                ("target_type", json!(t.target_type().map(|p| p.as_str()))),
                ("health_check_path", json!(t.health_check_path())),
                ("health_check_matcher", json!(t.matcher().and_then(|m| m.http_code()))),
                ("tags", live_tags(&self.0, id).await?),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id)), ("name", json!(t.target_group_name()))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_target_group()
            .name(name)
            .vpc_id(s(a, "vpc_id"))
            .port(n(a, "port"))
            .protocol(ProtocolEnum::from(s(a, "protocol")))
            .target_type(TargetTypeEnum::from(s(a, "target_type")))
            .health_check_path(s(a, "health_check_path"))
            .matcher(Matcher::builder().http_code(s(a, "health_check_matcher")).build())
            .set_tags(Some(elb_tags(a)))
            .send()
            .await
            .map_err(aws_err)?;
        r.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateTargetGroup returned no ARN"))
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c.starts_with("health_check")) {
            self.0
                .modify_target_group()
                .target_group_arn(id)
                .health_check_path(s(new, "health_check_path"))
                .matcher(Matcher::builder().http_code(s(new, "health_check_matcher")).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            retag(&self.0, id, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_target_group().target_group_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── listener ─────────────────────────────────────────────────────────────────────

pub struct Listener(Client);

static LISTENER: Schema = Schema {
    kind: "aws_lb_listener",
    attrs: &[
        AttrSchema::force_new("load_balancer_arn"),
        AttrSchema::updatable("port"),
        AttrSchema::updatable("protocol"),
        AttrSchema::updatable("certificate_arn"),
        AttrSchema::updatable("ssl_policy"),
        AttrSchema::updatable("actions"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

#[async_trait]
impl Resource for Listener {
    fn schema(&self) -> &'static Schema {
        &LISTENER
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_listeners().load_balancer_arn(s(inputs, "load_balancer_arn")).send().await {
            Ok(r) => {
                Ok(r.listeners().iter().find(|l| l.port() == Some(n(inputs, "port"))).and_then(|l| l.listener_arn()).map(String::from))
            }
            Err(e) if gone(code_of(&e)) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_listeners().listener_arns(id).send().await {
            Ok(r) => r,
            Err(e) if gone(code_of(&e)) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(l) = r.listeners().first() else { return Ok(None) };
        let mut a = attrs([
            ("load_balancer_arn", json!(l.load_balancer_arn())),
            ("port", json!(l.port())),
            ("protocol", json!(l.protocol().map(|p| p.as_str()))),
            ("actions", from_actions(l.default_actions())),
        ]);
        if l.protocol() == Some(&ProtocolEnum::Https) {
            a.insert("certificate_arn".into(), json!(l.certificates().first().and_then(|c| c.certificate_arn())));
            a.insert("ssl_policy".into(), json!(l.ssl_policy()));
        }
        Ok(Some(Observed { attrs: a, outputs: attrs([("id", json!(id)), ("arn", json!(id))]) }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let mut req = self
            .0
            .create_listener()
            .load_balancer_arn(s(a, "load_balancer_arn"))
            .port(n(a, "port"))
            .protocol(ProtocolEnum::from(s(a, "protocol")))
            .set_default_actions(Some(to_actions(a)));
        if a.contains_key("certificate_arn") {
            req = req.certificates(Certificate::builder().certificate_arn(s(a, "certificate_arn")).build()).ssl_policy(s(a, "ssl_policy"));
        }
        let r = req.send().await.map_err(aws_err)?;
        r.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(String::from)
            .ok_or_else(|| ProviderError::new("CreateListener returned no ARN"))
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        let mut req = self
            .0
            .modify_listener()
            .listener_arn(id)
            .port(n(new, "port"))
            .protocol(ProtocolEnum::from(s(new, "protocol")))
            .set_default_actions(Some(to_actions(new)));
        if new.contains_key("certificate_arn") {
            req = req
                .certificates(Certificate::builder().certificate_arn(s(new, "certificate_arn")).build())
                .ssl_policy(s(new, "ssl_policy"));
        }
        req.send().await.map_err(aws_err)?;
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_listener().listener_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── listener rule ────────────────────────────────────────────────────────────────

pub struct ListenerRule(Client);

static RULE: Schema = Schema {
    kind: "aws_lb_listener_rule",
    attrs: &[
        AttrSchema::force_new("listener_arn"),
        AttrSchema::updatable("priority"),
        AttrSchema::updatable("path_patterns").set(),
        AttrSchema::updatable("actions"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

fn path_condition(a: &Attrs) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(PathPatternConditionConfig::builder().set_values(Some(strings(a, "path_patterns"))).build())
        .build()
}

#[async_trait]
impl Resource for ListenerRule {
    fn schema(&self) -> &'static Schema {
        &RULE
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        match self.0.describe_rules().listener_arn(s(inputs, "listener_arn")).send().await {
            Ok(r) => Ok(r
                .rules()
                .iter()
                .find(|x| x.priority() == Some(&n(inputs, "priority").to_string()))
                .and_then(|x| x.rule_arn())
                .map(String::from)),
            Err(e) if gone(code_of(&e)) => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let r = match self.0.describe_rules().rule_arns(id).send().await {
            Ok(r) => r,
            Err(e) if gone(code_of(&e)) => return Ok(None),
            Err(e) => return Err(aws_err(e)),
        };
        let Some(rule) = r.rules().first() else { return Ok(None) };
        let paths: Vec<String> = rule
            .conditions()
            .iter()
            .filter(|c| c.field() == Some("path-pattern"))
            .flat_map(|c| {
                c.path_pattern_config().map(|p| p.values().to_vec()).filter(|v| !v.is_empty()).unwrap_or_else(|| c.values().to_vec())
            })
            .collect();
        Ok(Some(Observed {
            attrs: attrs([
                ("listener_arn", json!(s(recorded, "listener_arn"))),
                ("priority", json!(rule.priority().and_then(|p| p.parse::<i64>().ok()))),
                ("path_patterns", sorted(paths)),
                ("actions", from_actions(rule.actions())),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let r = self
            .0
            .create_rule()
            .listener_arn(s(a, "listener_arn"))
            .priority(n(a, "priority"))
            .conditions(path_condition(a))
            .set_actions(Some(to_actions(a)))
            .send()
            .await
            .map_err(aws_err)?;
        r.rules().first().and_then(|x| x.rule_arn()).map(String::from).ok_or_else(|| ProviderError::new("CreateRule returned no ARN"))
    }

    async fn update(&self, id: &str, _old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "priority") {
            use aws_sdk_elasticloadbalancingv2::types::RulePriorityPair;
            self.0
                .set_rule_priorities()
                .rule_priorities(RulePriorityPair::builder().rule_arn(id).priority(n(new, "priority")).build())
                .send()
                .await
                .map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "path_patterns" || c == "actions") {
            self.0
                .modify_rule()
                .rule_arn(id)
                .conditions(path_condition(new))
                .set_actions(Some(to_actions(new)))
                .send()
                .await
                .map_err(aws_err)?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_rule().rule_arn(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if gone(code_of(&e)) => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── target group attached to the node group's Auto Scaling group ─────────────────

pub struct AsgAttachment(aws_sdk_autoscaling::Client);

static ATTACHMENT: Schema = Schema {
    kind: "aws_autoscaling_attachment",
    attrs: &[AttrSchema::force_new("autoscaling_group_name"), AttrSchema::force_new("target_group_arn")],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

impl AsgAttachment {
    async fn attached(&self, asg: &str, tg: &str) -> ProviderResult<bool> {
        // the group itself may be gone (node group replaced or deleted): then nothing is attached
        let groups = self.0.describe_auto_scaling_groups().auto_scaling_group_names(asg).send().await.map_err(aws_err)?;
        if groups.auto_scaling_groups().is_empty() {
            return Ok(false);
        }
        let r = match self.0.describe_load_balancer_target_groups().auto_scaling_group_name(asg).send().await {
            Ok(r) => r,
            Err(e) if code_of(&e) == Some("ValidationError") => return Ok(false), // no such group
            Err(e) => return Err(aws_err(e)),
        };
        Ok(r.load_balancer_target_groups().iter().any(|t| t.load_balancer_target_group_arn() == Some(tg)))
    }
}

#[async_trait]
impl Resource for AsgAttachment {
    fn schema(&self) -> &'static Schema {
        &ATTACHMENT
    }

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> ProviderResult<Option<String>> {
        let tg = s(inputs, "target_group_arn");
        Ok(self.attached(s(inputs, "autoscaling_group_name"), tg).await?.then(|| tg.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let asg = s(recorded, "autoscaling_group_name");
        if !self.attached(asg, id).await? {
            return Ok(None);
        }
        Ok(Some(Observed {
            attrs: attrs([("autoscaling_group_name", json!(asg)), ("target_group_arn", json!(id))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        if s(a, "autoscaling_group_name").is_empty() {
            return Err(ProviderError::coded(
                "NoAutoScalingGroup",
                "the node group reports no Auto Scaling group to attach the target group to",
            ));
        }
        self.0
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(s(a, "autoscaling_group_name"))
            .target_group_arns(s(a, "target_group_arn"))
            .send()
            .await
            .map_err(aws_err)?;
        Ok(s(a, "target_group_arn").to_string())
    }

    async fn update(&self, _id: &str, _old: &Attrs, _new: &Attrs, _changed: &[String]) -> ProviderResult<()> {
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> ProviderResult<()> {
        match self
            .0
            .detach_load_balancer_target_groups()
            .auto_scaling_group_name(s(recorded, "autoscaling_group_name"))
            .target_group_arns(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ValidationError") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}
