//! Edge: the internet-facing ALB, its target groups (instance targets on fixed node ports, attached
//! to the node group's Auto Scaling group), the HTTP→HTTPS redirect, and the HTTPS listener and rule
//! that authenticate (Cognito, or a Keycloak realm over OIDC) before forwarding.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, AuthenticateCognitoActionConfig, AuthenticateOidcActionConfig,
    Certificate, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
    PathPatternConditionConfig, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
    RuleCondition, RulePriorityPair, Tag, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use empi_engine::kinds;
use empi_engine::kinds::elb::{
    ASG_ATTACHMENT, LISTENER, LISTENER_RULE, LOAD_BALANCER, TARGET_GROUP,
};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, returned, AwsKind, AwsResult, Lifecycle, Tags};
use super::{attrs, input_bool, input_i32, input_str, sorted, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, LoadBalancer(c.elb.clone()));
    add(r, TargetGroup(c.elb.clone()));
    add(r, Listener(c.elb.clone(), c.secrets.clone()));
    add(r, ListenerRule(c.elb.clone(), c.secrets.clone()));
    add(r, AsgAttachment(c.autoscaling.clone()));
}

fn elb_tags(t: Tags) -> Vec<Tag> {
    t.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

async fn live_tags(c: &Client, arn: &str) -> AwsResult<Value> {
    let r = c.describe_tags().resource_arns(arn).send().await?;
    Ok(tags_value(r.tag_descriptions().iter().flat_map(|d| {
        d.tags().iter().map(|t| {
            (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
        })
    })))
}

/// Sets and removes tags of any ELB object.
async fn elb_retag(c: &Client, arn: &str, set: Tags, remove: Vec<String>) -> AwsResult<()> {
    if !remove.is_empty() {
        c.remove_tags().resource_arns(arn).set_tag_keys(Some(remove)).send().await?;
    }
    if !set.is_empty() {
        c.add_tags().resource_arns(arn).set_tags(Some(elb_tags(set))).send().await?;
    }
    Ok(())
}

/// The client secret of the `authenticate-oidc` action among `a`'s actions, read from the user's
/// secret (`client_secret_arn`); AWS wants it on every create and modify.
async fn oidc_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    a: &Attrs,
) -> AwsResult<Option<String>> {
    let list = a.get("actions").and_then(Value::as_array).cloned().unwrap_or_default();
    match list.iter().find_map(|x| x.get("client_secret_arn").and_then(Value::as_str)) {
        Some(arn) => Ok(Some(super::secrets::user_secret(secrets, arn).await?)),
        None => Ok(None),
    }
}

/// The stack's action objects as ELB actions, in order; `client_secret` completes an
/// `authenticate-oidc` action.
fn to_actions(a: &Attrs, client_secret: Option<&str>) -> Vec<Action> {
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
                "authenticate-oidc" => b.authenticate_oidc_config(
                    AuthenticateOidcActionConfig::builder()
                        .issuer(x["issuer"].as_str().unwrap_or_default())
                        .authorization_endpoint(
                            x["authorization_endpoint"].as_str().unwrap_or_default(),
                        )
                        .token_endpoint(x["token_endpoint"].as_str().unwrap_or_default())
                        .user_info_endpoint(x["user_info_endpoint"].as_str().unwrap_or_default())
                        .client_id(x["client_id"].as_str().unwrap_or_default())
                        .set_client_secret(client_secret.map(String::from))
                        .scope(x["scope"].as_str().unwrap_or("openid"))
                        .build(),
                ),
                "forward" => b.target_group_arn(x["target_group_arn"].as_str().unwrap_or_default()),
                "redirect" => b.redirect_config(
                    RedirectActionConfig::builder()
                        .protocol(x["protocol"].as_str().unwrap_or("HTTPS"))
                        .port(x["port"].as_str().unwrap_or("443"))
                        .status_code(RedirectActionStatusCodeEnum::from(
                            x["status_code"].as_str().unwrap_or("HTTP_301"),
                        ))
                        .build(),
                ),
                _ => b,
            }
            .build()
        })
        .collect()
}

/// Live actions in the stack's shape. AWS never returns an OIDC client secret: the action keeps the
/// `client_secret_arn` recorded for it.
fn from_actions(actions: &[Action], recorded: &Attrs) -> Value {
    let mut v: Vec<&Action> = actions.iter().collect();
    v.sort_by_key(|a| a.order().unwrap_or(0));
    // what AWS never shows of an OIDC action: where its secret came from, and which version
    let recorded_field = |k: &str| {
        recorded
            .get("actions")
            .and_then(Value::as_array)
            .and_then(|l| l.iter().find_map(|x| x.get(k).cloned()))
            .unwrap_or(Value::Null)
    };
    let (recorded_secret, recorded_version) =
        (recorded_field("client_secret_arn"), recorded_field("client_secret_version"));
    Value::Array(
        v.into_iter()
            .map(|a| match a.r#type() {
                Some(ActionTypeEnum::AuthenticateOidc) => {
                    let c = a.authenticate_oidc_config();
                    let mut a = json!({
                        "type": "authenticate-oidc",
                        "issuer": c.and_then(|c| c.issuer()),
                        "authorization_endpoint": c.and_then(|c| c.authorization_endpoint()),
                        "token_endpoint": c.and_then(|c| c.token_endpoint()),
                        "user_info_endpoint": c.and_then(|c| c.user_info_endpoint()),
                        "client_id": c.and_then(|c| c.client_id()),
                        "client_secret_arn": recorded_secret.clone(),
                        "scope": c.and_then(|c| c.scope()),
                    });
                    if !recorded_version.is_null() {
                        a["client_secret_version"] = recorded_version.clone();
                    }
                    a
                }
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

const DROP_INVALID: &str = "routing.http.drop_invalid_header_fields.enabled";
const DELETION_PROTECTION: &str = "deletion_protection.enabled";

const ACCESS_LOGS: &str = "access_logs.s3.enabled";
const ACCESS_LOGS_BUCKET: &str = "access_logs.s3.bucket";
const ACCESS_LOGS_PREFIX: &str = "access_logs.s3.prefix";

impl LoadBalancer {
    async fn set_attributes(&self, arn: &str, a: &Attrs) -> AwsResult<()> {
        let attr = |k: &str, v: String| LoadBalancerAttribute::builder().key(k).value(v).build();
        let bucket = input_str(a, kinds::elb::LoadBalancer::access_logs_bucket);
        let attributes = vec![
            attr(
                DROP_INVALID,
                input_bool(a, kinds::elb::LoadBalancer::drop_invalid_header_fields).to_string(),
            ),
            attr(
                DELETION_PROTECTION,
                input_bool(a, kinds::elb::LoadBalancer::deletion_protection).to_string(),
            ),
            attr(ACCESS_LOGS, (!bucket.is_empty()).to_string()),
            attr(ACCESS_LOGS_BUCKET, bucket.to_string()),
            attr(
                ACCESS_LOGS_PREFIX,
                input_str(a, kinds::elb::LoadBalancer::access_logs_prefix).to_string(),
            ),
        ];
        let r = self
            .0
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(attributes))
            .send()
            .await;
        r.map_err(|e| {
            super::adapter::aws(e).explain("InvalidConfigurationRequest", || {
                format!("the load balancer cannot write access logs to bucket {bucket}: its policy must let Elastic Load Balancing put objects under {}/AWSLogs/ and it must use SSE-S3 (AES256) encryption", input_str(a, kinds::elb::LoadBalancer::access_logs_prefix))
            })
        })?;
        Ok(())
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> AwsResult<Option<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>> {
        let r = self.0.describe_load_balancers().load_balancer_arns(arn).send().await?;
        Ok(r.load_balancers().first().cloned())
    }
}

#[async_trait]
impl AwsKind for LoadBalancer {
    const SCHEMA: &'static Schema = &LOAD_BALANCER;
    const NOT_FOUND: &'static [&'static str] = &["LoadBalancerNotFound"];
    const LIFECYCLE: Lifecycle = Lifecycle::Status { ready: &["active"], failed: &["failed"] };

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_load_balancers().names(name).send().await?;
        Ok(r.load_balancers().first().and_then(|l| l.load_balancer_arn()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(lb) = self.describe(id).await? else { return Ok(None) };
        let la = self.0.describe_load_balancer_attributes().load_balancer_arn(id).send().await?;
        let attr = |k: &str| {
            la.attributes()
                .iter()
                .find(|a| a.key() == Some(k))
                .and_then(|a| a.value())
                .unwrap_or_default()
                .to_string()
        };
        let (drop, protected) = (attr(DROP_INVALID) == "true", attr(DELETION_PROTECTION) == "true");
        let logs_on = attr(ACCESS_LOGS) == "true";
        Ok(Some(Observed {
            attrs: attrs([
                ("scheme", json!(lb.scheme().map(|s| s.as_str()))),
                (
                    "subnet_ids",
                    sorted(
                        lb.availability_zones()
                            .iter()
                            .filter_map(|z| z.subnet_id().map(String::from))
                            .collect(),
                    ),
                ),
                ("security_group_ids", sorted(lb.security_groups().to_vec())),
                ("drop_invalid_header_fields", json!(drop)),
                ("deletion_protection", json!(protected)),
                (
                    "access_logs_bucket",
                    if logs_on { json!(attr(ACCESS_LOGS_BUCKET)) } else { Value::Null },
                ),
                (
                    "access_logs_prefix",
                    if logs_on { json!(attr(ACCESS_LOGS_PREFIX)) } else { Value::Null },
                ),
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

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(input_str(a, kinds::elb::LoadBalancer::scheme)))
            .set_subnets(Some(strings(a, kinds::elb::LoadBalancer::subnet_ids)))
            .set_security_groups(Some(strings(a, kinds::elb::LoadBalancer::security_group_ids)))
            .set_tags(Some(elb_tags(tags(a))))
            .send()
            .await?;
        let arn = returned(
            r.load_balancers().first().and_then(|l| l.load_balancer_arn()),
            "CreateLoadBalancer",
        )?;
        self.set_attributes(&arn, a).await?;
        Ok(arn)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        if has("subnet_ids") {
            self.0
                .set_subnets()
                .load_balancer_arn(id)
                .set_subnets(Some(strings(new, kinds::elb::LoadBalancer::subnet_ids)))
                .send()
                .await?;
        }
        if has("security_group_ids") {
            self.0
                .set_security_groups()
                .load_balancer_arn(id)
                .set_security_groups(Some(strings(
                    new,
                    kinds::elb::LoadBalancer::security_group_ids,
                )))
                .send()
                .await?;
        }
        if has("drop_invalid_header_fields")
            || has("deletion_protection")
            || has("access_logs_bucket")
            || has("access_logs_prefix")
        {
            self.set_attributes(id, new).await?;
        }
        Ok(())
    }

    /// Deletion protection guards the load balancer against deletes from outside empi-infra (the
    /// console, another tool); `destroy` is the stack's own decision, so it lifts it first. The
    /// load balancer holds no data (unlike the database, which destroy never unprotects).
    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        let off = LoadBalancerAttribute::builder().key(DELETION_PROTECTION).value("false").build();
        self.0
            .modify_load_balancer_attributes()
            .load_balancer_arn(id)
            .attributes(off)
            .send()
            .await?;
        done(self.0.delete_load_balancer().load_balancer_arn(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        elb_retag(&self.0, id, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        Ok(self.describe(id).await?.map(|lb| {
            let state = lb.state();
            (
                state.and_then(|st| st.code()).map(|c| c.as_str().to_string()).unwrap_or_default(),
                state.and_then(|st| st.reason()).unwrap_or_default().to_string(),
            )
        }))
    }
}

// ── target group ─────────────────────────────────────────────────────────────────

pub struct TargetGroup(Client);

/// `HealthCheckPort`: the declared port, or the port traffic goes to.
fn health_check_port(a: &Attrs) -> String {
    a.get("health_check_port")
        .and_then(Value::as_i64)
        .map_or_else(|| "traffic-port".to_string(), |p| p.to_string())
}

#[async_trait]
impl AwsKind for TargetGroup {
    const SCHEMA: &'static Schema = &TARGET_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["TargetGroupNotFound"];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_target_groups().names(name).send().await?;
        Ok(r.target_groups().first().and_then(|t| t.target_group_arn()).map(String::from))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_target_groups().target_group_arns(id).send().await?;
        let Some(t) = r.target_groups().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(t.vpc_id())),
                ("port", json!(t.port())),
                ("protocol", json!(t.protocol().map(|p| p.as_str()))),
                ("target_type", json!(t.target_type().map(|p| p.as_str()))),
                ("health_check_path", json!(t.health_check_path())),
                ("health_check_matcher", json!(t.matcher().and_then(|m| m.http_code()))),
                // `traffic-port` is `port`
                (
                    "health_check_port",
                    json!(t.health_check_port().and_then(|p| p.parse::<i32>().ok()).or(t.port())),
                ),
                ("tags", live_tags(&self.0, id).await?),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("arn", json!(id)),
                ("name", json!(t.target_group_name())),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_target_group()
            .name(name)
            .vpc_id(input_str(a, kinds::elb::TargetGroup::vpc_id))
            .port(input_i32(a, kinds::elb::TargetGroup::port))
            .protocol(ProtocolEnum::from(input_str(a, kinds::elb::TargetGroup::protocol)))
            .target_type(TargetTypeEnum::from(input_str(a, kinds::elb::TargetGroup::target_type)))
            .health_check_path(input_str(a, kinds::elb::TargetGroup::health_check_path))
            .matcher(
                Matcher::builder()
                    .http_code(input_str(a, kinds::elb::TargetGroup::health_check_matcher))
                    .build(),
            )
            .health_check_port(health_check_port(a))
            .set_tags(Some(elb_tags(tags(a))))
            .send()
            .await?;
        returned(r.target_groups().first().and_then(|t| t.target_group_arn()), "CreateTargetGroup")
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c.starts_with("health_check")) {
            self.0
                .modify_target_group()
                .target_group_arn(id)
                .health_check_path(input_str(new, kinds::elb::TargetGroup::health_check_path))
                .matcher(
                    Matcher::builder()
                        .http_code(input_str(new, kinds::elb::TargetGroup::health_check_matcher))
                        .build(),
                )
                .health_check_port(health_check_port(new))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_target_group().target_group_arn(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        elb_retag(&self.0, id, set, remove).await
    }
}

// ── listener ─────────────────────────────────────────────────────────────────────

pub struct Listener(Client, aws_sdk_secretsmanager::Client);

#[async_trait]
impl AwsKind for Listener {
    const SCHEMA: &'static Schema = &LISTENER;
    /// `LoadBalancerNotFound`: find lists the listeners of a load balancer that may be gone.
    const NOT_FOUND: &'static [&'static str] = &["ListenerNotFound", "LoadBalancerNotFound"];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self
            .0
            .describe_listeners()
            .load_balancer_arn(input_str(inputs, kinds::elb::Listener::load_balancer_arn))
            .send()
            .await?;
        Ok(r.listeners()
            .iter()
            .find(|l| l.port() == Some(input_i32(inputs, kinds::elb::Listener::port)))
            .and_then(|l| l.listener_arn())
            .map(String::from))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_listeners().listener_arns(id).send().await?;
        let Some(l) = r.listeners().first() else { return Ok(None) };
        let mut a = attrs([
            ("load_balancer_arn", json!(l.load_balancer_arn())),
            ("port", json!(l.port())),
            ("protocol", json!(l.protocol().map(|p| p.as_str()))),
            ("actions", from_actions(l.default_actions(), recorded)),
        ]);
        if l.protocol() == Some(&ProtocolEnum::Https) {
            a.insert(
                "certificate_arn".into(),
                json!(l.certificates().first().and_then(|c| c.certificate_arn())),
            );
            a.insert("ssl_policy".into(), json!(l.ssl_policy()));
        }
        Ok(Some(Observed { attrs: a, outputs: attrs([("id", json!(id)), ("arn", json!(id))]) }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let secret = oidc_secret(&self.1, a).await?;
        let mut req = self
            .0
            .create_listener()
            .load_balancer_arn(input_str(a, kinds::elb::Listener::load_balancer_arn))
            .port(input_i32(a, kinds::elb::Listener::port))
            .protocol(ProtocolEnum::from(input_str(a, kinds::elb::Listener::protocol)))
            .set_default_actions(Some(to_actions(a, secret.as_deref())));
        if a.contains_key("certificate_arn") {
            req = req
                .certificates(
                    Certificate::builder()
                        .certificate_arn(input_str(a, kinds::elb::Listener::certificate_arn))
                        .build(),
                )
                .ssl_policy(input_str(a, kinds::elb::Listener::ssl_policy));
        }
        let r = req.send().await?;
        returned(r.listeners().first().and_then(|l| l.listener_arn()), "CreateListener")
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        let secret = oidc_secret(&self.1, new).await?;
        let mut req = self
            .0
            .modify_listener()
            .listener_arn(id)
            .port(input_i32(new, kinds::elb::Listener::port))
            .protocol(ProtocolEnum::from(input_str(new, kinds::elb::Listener::protocol)))
            .set_default_actions(Some(to_actions(new, secret.as_deref())));
        if new.contains_key("certificate_arn") {
            req = req
                .certificates(
                    Certificate::builder()
                        .certificate_arn(input_str(new, kinds::elb::Listener::certificate_arn))
                        .build(),
                )
                .ssl_policy(input_str(new, kinds::elb::Listener::ssl_policy));
        }
        done(req.send()).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_listener().listener_arn(id).send()).await
    }
}

// ── listener rule ────────────────────────────────────────────────────────────────

pub struct ListenerRule(Client, aws_sdk_secretsmanager::Client);

fn path_condition(a: &Attrs) -> RuleCondition {
    RuleCondition::builder()
        .field("path-pattern")
        .path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(Some(strings(a, kinds::elb::ListenerRule::path_patterns)))
                .build(),
        )
        .build()
}

#[async_trait]
impl AwsKind for ListenerRule {
    const SCHEMA: &'static Schema = &LISTENER_RULE;
    /// `ListenerNotFound`: find lists the rules of a listener that may be gone.
    const NOT_FOUND: &'static [&'static str] = &["RuleNotFound", "ListenerNotFound"];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self
            .0
            .describe_rules()
            .listener_arn(input_str(inputs, kinds::elb::ListenerRule::listener_arn))
            .send()
            .await?;
        Ok(r.rules()
            .iter()
            .find(|x| {
                x.priority()
                    == Some(&input_i32(inputs, kinds::elb::ListenerRule::priority).to_string())
            })
            .and_then(|x| x.rule_arn())
            .map(String::from))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_rules().rule_arns(id).send().await?;
        let Some(rule) = r.rules().first() else { return Ok(None) };
        let paths: Vec<String> = rule
            .conditions()
            .iter()
            .filter(|c| c.field() == Some("path-pattern"))
            .flat_map(|c| {
                c.path_pattern_config()
                    .map(|p| p.values().to_vec())
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| c.values().to_vec())
            })
            .collect();
        Ok(Some(Observed {
            attrs: attrs([
                (
                    "listener_arn",
                    json!(input_str(recorded, kinds::elb::ListenerRule::listener_arn)),
                ),
                ("priority", json!(rule.priority().and_then(|p| p.parse::<i64>().ok()))),
                ("path_patterns", sorted(paths)),
                ("actions", from_actions(rule.actions(), recorded)),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let secret = oidc_secret(&self.1, a).await?;
        let r = self
            .0
            .create_rule()
            .listener_arn(input_str(a, kinds::elb::ListenerRule::listener_arn))
            .priority(input_i32(a, kinds::elb::ListenerRule::priority))
            .conditions(path_condition(a))
            .set_actions(Some(to_actions(a, secret.as_deref())))
            .send()
            .await?;
        returned(r.rules().first().and_then(|x| x.rule_arn()), "CreateRule")
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c == "priority") {
            let pair = RulePriorityPair::builder()
                .rule_arn(id)
                .priority(input_i32(new, kinds::elb::ListenerRule::priority))
                .build();
            self.0.set_rule_priorities().rule_priorities(pair).send().await?;
        }
        if changed.iter().any(|c| c == "path_patterns" || c == "actions") {
            let secret = oidc_secret(&self.1, new).await?;
            let actions = to_actions(new, secret.as_deref());
            self.0
                .modify_rule()
                .rule_arn(id)
                .conditions(path_condition(new))
                .set_actions(Some(actions))
                .send()
                .await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_rule().rule_arn(id).send()).await
    }
}

// ── target group attached to the node group's Auto Scaling group ─────────────────

pub struct AsgAttachment(aws_sdk_autoscaling::Client);

impl AsgAttachment {
    async fn attached(&self, asg: &str, tg: &str) -> AwsResult<bool> {
        // the group itself may be gone (node group replaced or deleted): then nothing is attached
        let groups =
            self.0.describe_auto_scaling_groups().auto_scaling_group_names(asg).send().await?;
        if groups.auto_scaling_groups().is_empty() {
            return Ok(false);
        }
        let r = self
            .0
            .describe_load_balancer_target_groups()
            .auto_scaling_group_name(asg)
            .send()
            .await?;
        Ok(r.load_balancer_target_groups()
            .iter()
            .any(|t| t.load_balancer_target_group_arn() == Some(tg)))
    }
}

#[async_trait]
impl AwsKind for AsgAttachment {
    const SCHEMA: &'static Schema = &ASG_ATTACHMENT;
    /// Auto Scaling has no not-found code: a call naming a group that no longer exists fails with
    /// `ValidationError` (then nothing is attached, and there is nothing to detach).
    const NOT_FOUND: &'static [&'static str] = &["ValidationError"];

    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let tg = input_str(inputs, kinds::elb::AsgAttachment::target_group_arn);
        Ok(self
            .attached(input_str(inputs, kinds::elb::AsgAttachment::autoscaling_group_name), tg)
            .await?
            .then(|| tg.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let asg = input_str(recorded, kinds::elb::AsgAttachment::autoscaling_group_name);
        if !self.attached(asg, id).await? {
            return Ok(None);
        }
        Ok(Some(Observed {
            attrs: attrs([("autoscaling_group_name", json!(asg)), ("target_group_arn", json!(id))]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        if input_str(a, kinds::elb::AsgAttachment::autoscaling_group_name).is_empty() {
            return Err(ProviderError::coded(
                "NoAutoScalingGroup",
                "the node group reports no Auto Scaling group to attach the target group to",
            )
            .into());
        }
        self.0
            .attach_load_balancer_target_groups()
            .auto_scaling_group_name(input_str(
                a,
                kinds::elb::AsgAttachment::autoscaling_group_name,
            ))
            .target_group_arns(input_str(a, kinds::elb::AsgAttachment::target_group_arn))
            .send()
            .await?;
        Ok(input_str(a, kinds::elb::AsgAttachment::target_group_arn).to_string())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        // a detach already done (a destroy stopped by Ctrl-C while it waited) is success; moto's
        // detach is not idempotent (it deregisters the instances again and fails InvalidTarget)
        if !self
            .attached(input_str(recorded, kinds::elb::AsgAttachment::autoscaling_group_name), id)
            .await?
        {
            return Ok(());
        }
        self.0
            .detach_load_balancer_target_groups()
            .auto_scaling_group_name(input_str(
                recorded,
                kinds::elb::AsgAttachment::autoscaling_group_name,
            ))
            .target_group_arns(id)
            .send()
            .await?;
        Ok(())
    }
}
