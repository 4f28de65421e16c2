//! The edge: the internet-facing ALB, its TLS listener and Keycloak sign-in, its target groups
//! and the WAF web ACL in front of it.

use super::*;
use crate::kinds::{elb, waf};

/// The AWS managed rule groups of the web ACL, in priority order: the common rule set (OWASP top
/// ten), known bad inputs (Log4Shell lookups, Java deserialisation, localhost host headers) and SQL
/// injection in the query string, body, cookies and URI.
pub const WAF_RULE_GROUPS: &[&str] = &[
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
];

/// TLS policy of the HTTPS listener.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// The port of an `https://` URL (443 unless it names one).
pub(super) fn https_port(url: &str) -> u32 {
    let host =
        url.split("://").nth(1).unwrap_or(url).split(['/', '?', '#']).next().unwrap_or_default();
    host.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(443)
}

pub(super) fn edge_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let alb = format!("{n}-alb");
    out.push(
        elb::LoadBalancer {
            scheme: "internet-facing".into(),
            subnet_ids: list(net.public_subnets.clone()),
            security_group_ids: list(vec![r("network.alb_security_group", "id")]),
            drop_invalid_header_fields: true.into(),
            deletion_protection: true.into(),
            tags: tags(stack, "edge.alb", &alb),
            access_logs_bucket: Some(r("audit.log_bucket", "id")),
            access_logs_prefix: Some(ALB_LOG_PREFIX.into()),
        }
        .spec("edge.alb", &alb),
    );
    // the ALB sends the target's IP as Host, which Django refuses (400): the api's health checks go
    // to its health proxy, which asks Django with the public hostname (docs/TUVA.md, known problem 5)
    let api_health = Some(API_HEALTH_NODE_PORT.into());
    for (which, port, health, health_port) in [
        ("api", API_NODE_PORT, API_HEALTH_PATH, api_health),
        ("frontend", FRONTEND_NODE_PORT, FRONTEND_HEALTH_PATH, None),
    ] {
        let addr = format!("edge.{which}_target_group");
        let name = format!("{n}-{}", if which == "api" { "api" } else { "web" });
        out.push(
            elb::TargetGroup {
                vpc_id: r("network.vpc", "id"),
                port: port.into(),
                protocol: "HTTP".into(),
                target_type: "instance".into(),
                health_check_path: health.into(),
                health_check_matcher: "200".into(),
                health_check_port: health_port,
                tags: tags(stack, &addr, &name),
            }
            .spec(&addr, &name),
        );
        out.push(
            elb::AsgAttachment {
                autoscaling_group_name: r("cluster.node_group", "autoscaling_group_name"),
                target_group_arn: r(&addr, "arn"),
            }
            .spec(&format!("edge.{which}_asg_attachment"), &name),
        );
    }
    let authenticate = || match stack.identity.keycloak() {
        None => obj(vec![
            ("type", s("authenticate-cognito")),
            ("user_pool_arn", r("identity.user_pool", "arn")),
            ("user_pool_client_id", r("identity.app_client", "id")),
            ("user_pool_domain", r("identity.domain", "id")),
        ]),
        Some(kc) => oidc_action(kc),
    };
    let forward = |tg: &str| obj(vec![("type", s("forward")), ("target_group_arn", r(tg, "arn"))]);
    out.push(
        elb::Listener {
            load_balancer_arn: r("edge.alb", "arn"),
            port: 80u32.into(),
            protocol: "HTTP".into(),
            actions: Expr::lit(json!([{"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}])),
            certificate_arn: None,
            ssl_policy: None,
        }
        .spec("edge.http_listener", &format!("{n}-http")),
    );
    out.push(
        elb::Listener {
            load_balancer_arn: r("edge.alb", "arn"),
            port: 443u32.into(),
            protocol: "HTTPS".into(),
            actions: list(vec![authenticate(), forward("edge.frontend_target_group")]),
            certificate_arn: Some(stack.app.certificate_arn.as_str().into()),
            ssl_policy: Some(SSL_POLICY.into()),
        }
        .spec("edge.https_listener", &format!("{n}-https")),
    );
    out.push(
        elb::ListenerRule {
            listener_arn: r("edge.https_listener", "arn"),
            priority: 10u32.into(),
            path_patterns: strings(&["/api/*"]),
            actions: list(vec![authenticate(), forward("edge.api_target_group")]),
        }
        .spec("edge.api_rule", &format!("{n}-api")),
    );
    if stack.edge.waf {
        let waf = format!("{n}-waf");
        out.push(
            waf::WebAcl {
                managed_rule_groups: strings(WAF_RULE_GROUPS),
                // upstream's import takes a multipart CSV upload: on an ALB WAF inspects only the
                // first 8 KB of a body, and the core rule set blocks any larger one
                large_body_paths: strings(&[crate::upstream::IMPORT_PATH]),
                tags: tags(stack, "edge.waf", &waf),
            }
            .spec("edge.waf", &waf),
        );
        out.push(
            waf::WebAclAssociation {
                web_acl_arn: r("edge.waf", "arn"),
                resource_arn: r("edge.alb", "arn"),
            }
            .spec("edge.waf_association", &waf),
        );
    }
}

/// The ALB's `authenticate-oidc` action for a Keycloak realm: the discovery document's endpoints and
/// the client; its secret is read from `client_secret_arn` when the listener is written.
pub(super) fn oidc_action(kc: &KeycloakConfig) -> Expr {
    let e = &kc.endpoints;
    let mut action = vec![
        ("type", s("authenticate-oidc")),
        ("issuer", s(&e.issuer)),
        ("authorization_endpoint", s(&e.authorization_endpoint)),
        ("token_endpoint", s(&e.token_endpoint)),
        ("user_info_endpoint", s(&e.userinfo_endpoint)),
        ("client_id", s(&kc.client_id)),
        ("client_secret_arn", s(&kc.client_secret_arn)),
        ("scope", s(OIDC_SCOPE)),
    ];
    if let Some(v) = &kc.client_secret_version {
        action.push(("client_secret_version", s(v)));
    }
    obj(action)
}

/// The scopes the ALB asks Keycloak for.
pub const OIDC_SCOPE: &str = "openid email";

/// The header in which the ALB passes the provider's access token to the targets.
pub const ALB_TOKEN_HEADER: &str = "X-Amzn-Oidc-Accesstoken";
