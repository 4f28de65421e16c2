//! The Tuva EMPI architecture: expands a [`Stack`] into the resources to build, with stable
//! addresses, deterministic names, and inputs wired to other resources' outputs. One function per
//! area, mirroring the stack file: network, iam, cluster, config, database, identity, storage, edge,
//! then the workloads. Every resource is built from its kind's typed arguments (`crate::kinds`), so
//! a misspelt or missing attribute does not compile.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::resource::{Expr, ResourceSpec, SENSITIVE};
use crate::stack::{parse_cidr, KeycloakConfig, Stack};

mod audit;
mod cluster;
mod config;
mod database;
mod edge;
mod iam;
mod identity;
mod network;
mod security;
mod storage;
pub mod workloads;

pub use audit::*;
pub use cluster::*;
pub use config::*;
pub use database::*;
pub use edge::*;
pub use iam::*;
pub use identity::*;
pub use network::*;
pub use security::*;
pub use storage::*;

fn tags(stack: &Stack, address: &str, name: &str) -> Expr {
    Expr::lit(serde_json::to_value(stack.resource_tags(address, name)).unwrap())
}

fn strings(xs: &[&str]) -> Expr {
    Expr::lit(json!(xs))
}

/// Where the ALB's target groups send to: the workloads' Services and health checks.
pub use workloads::{
    API_HEALTH_NODE_PORT, API_HEALTH_PATH, API_NODE_PORT, FRONTEND_HEALTH_PATH, FRONTEND_NODE_PORT,
};

fn s(v: &str) -> Expr {
    Expr::lit(v)
}

fn r(address: &str, output: &str) -> Expr {
    Expr::r(address, output)
}

fn obj(pairs: Vec<(&str, Expr)>) -> Expr {
    Expr::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn cat(parts: Vec<Expr>) -> Expr {
    Expr::Concat(parts)
}

fn rule(protocol: &str, from: u32, to: u32, source: (&str, Expr)) -> Expr {
    obj(vec![
        ("protocol", s(protocol)),
        ("from_port", Expr::lit(from)),
        ("to_port", Expr::lit(to)),
        source,
    ])
}

/// Every resource of the stack. `account` is the AWS account id (for globally unique names).
pub fn expand(stack: &Stack, account: &str) -> Vec<ResourceSpec> {
    let mut out = Vec::new();
    let net = network_area(stack, &mut out);
    iam_area(stack, account, &mut out);
    security_area(stack, account, &mut out);
    cluster_area(stack, &net, &mut out);
    config_secret(stack, &mut out);
    database_area(stack, &net, &mut out);
    backup_replica_area(stack, account, &mut out);
    identity_area(stack, &mut out);
    storage_area(stack, account, &mut out);
    edge_area(stack, &net, &mut out);
    audit_area(stack, account, &mut out);
    config_document(stack, &mut out);
    out.extend(workloads::expand(stack));
    out
}

fn list(xs: Vec<Expr>) -> Expr {
    Expr::List(xs)
}

/// The stack's outputs (`empi-infra output`), as expressions over resource outputs.
pub fn outputs(stack: &Stack) -> Vec<(&'static str, Expr)> {
    let mut out = vec![
        ("url", Expr::lit(Value::String(format!("https://{}", stack.app.hostname)))),
        ("alb_dns_name", Expr::r("edge.alb", "dns_name")),
        ("bucket", Expr::r("storage.bucket", "id")),
        ("cluster_name", Expr::r(EKS_CLUSTER, "name")),
        ("cluster_endpoint", Expr::r(EKS_CLUSTER, "endpoint")),
        ("database_endpoint", Expr::r("database.instance", "address")),
        ("config_secret_arn", Expr::r("config.secret", "arn")),
        ("kms_key_arn", kms_key_arn(stack)),
        ("vpc_id", Expr::r("network.vpc", "id")),
    ];
    match stack.identity.keycloak() {
        None => {
            out.push(("user_pool_id", Expr::r("identity.user_pool", "id")));
            out.push(("app_client_id", Expr::r("identity.app_client", "id")));
        }
        Some(kc) => {
            out.push(("oidc_issuer", Expr::lit(Value::String(kc.endpoints.issuer.clone()))))
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ResourceGraph;
    use crate::kinds::{iam, routing};

    fn stack() -> Stack {
        Stack::parse(
            "t.toml",
            "name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n",
        )
        .unwrap()
    }

    #[test]
    fn subnets_are_carved_from_the_vpc() {
        assert_eq!(subnet_cidr("10.40.0.0/16", 0), "10.40.0.0/20");
        assert_eq!(subnet_cidr("10.40.0.0/16", 5), "10.40.80.0/20");
    }

    fn with(extra: &str) -> Stack {
        Stack::parse(
            "t.toml",
            &format!("name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn nat_gateways_follow_the_stack() {
        let one = expand(&stack(), "1");
        assert_eq!(one.iter().filter(|s| s.kind == routing::NAT_GATEWAY.kind).count(), 1);
        let private_rt =
            one.iter().find(|s| s.address == "network.private_route_table[1]").unwrap();
        assert!(
            serde_json::to_string(&private_rt.inputs["routes"])
                .unwrap()
                .contains("network.nat_gateway[0]"),
            "both zones use the one NAT"
        );
        let per_zone = expand(&with("[network]\navailability_zones = 3\nnat_gateways = 3\n"), "1");
        assert_eq!(per_zone.iter().filter(|s| s.kind == routing::NAT_GATEWAY.kind).count(), 3);
        let rt = per_zone.iter().find(|s| s.address == "network.private_route_table[2]").unwrap();
        assert!(serde_json::to_string(&rt.inputs["routes"])
            .unwrap()
            .contains("network.nat_gateway[2]"));
    }

    #[test]
    fn waf_and_parameter_group_follow_the_stack() {
        let no_waf = expand(&with("[edge]\nwaf = false\n"), "1");
        assert!(!no_waf.iter().any(|s| s.address.starts_with("edge.waf")));
        assert!(expand(&stack(), "1").iter().any(|s| s.address == "edge.waf_association"));
        let pg17 = expand(&with("[database]\nengine_version = \"17\"\n"), "1");
        let pg = pg17.iter().find(|s| s.address == "database.parameter_group").unwrap();
        assert_eq!(pg.name, "t-postgres17");
        assert_eq!(pg.inputs["family"], Expr::lit("postgres17"));
    }

    #[test]
    fn the_bucket_name_carries_the_account() {
        let specs = expand(&stack(), "123456789012");
        assert_eq!(
            specs.iter().find(|s| s.address == "storage.bucket").unwrap().name,
            "t-data-123456789012"
        );
    }

    #[test]
    fn expansion_is_a_valid_graph_in_dependency_order() {
        let g = ResourceGraph::new(expand(&stack(), "123456789012")).unwrap();
        let order: Vec<&str> = g.topological().iter().map(|s| s.address.as_str()).collect();
        let pos = |a: &str| order.iter().position(|x| *x == a).unwrap();
        assert!(pos("database.instance") < pos("config.document"));
        assert!(pos("cluster.eks") < pos("iam.oidc_provider"));
        assert!(pos("iam.oidc_provider") < pos("iam.api_role"));
        assert!(pos("cluster.node_group") < pos("edge.api_asg_attachment"));
        assert!(pos("edge.https_listener") < pos("edge.api_rule"));
        assert!(pos("network.vpc") < pos("network.private_subnet[1]"));
        assert!(pos("iam.cluster_role") < pos("cluster.eks"));
        // the application's database role exists before anything connects as it
        assert!(pos("database.instance") < pos("iam.database_admin_role"));
        assert!(pos("workloads.service_account[database-admin]") < pos("workloads.database_role"));
        assert!(pos("config.document") < pos("workloads.database_role"));
        assert!(pos("workloads.database_role") < pos("workloads.migrate"));
    }

    #[test]
    fn the_application_connects_as_its_own_role_and_only_the_role_job_reads_the_master_secret() {
        let specs = expand(&stack(), "123456789012");
        let by = |a: &str| specs.iter().find(|s| s.address == a).unwrap_or_else(|| panic!("{a}"));
        let db = by("database.instance");
        assert_eq!(db.inputs["manage_master_user_password"], Expr::lit(true));
        assert_eq!(db.inputs["master_username"], Expr::lit(DB_USER));
        assert!(
            !db.inputs.contains_key("master_password"),
            "RDS keeps the master password, not the config secret"
        );
        let doc = serde_json::to_string(&by("config.document").inputs["document"]).unwrap();
        assert!(doc.contains(&format!("\"user\":{{\"lit\":\"{DB_APP_USER}\"}}")), "{doc}");
        assert_ne!(DB_APP_USER, DB_USER);
        // every IRSA role, and which may read the master user's secret
        let readers: Vec<&str> = specs
            .iter()
            .filter(|s| s.kind == iam::ROLE.kind)
            .filter(|s| {
                serde_json::to_string(&s.inputs).unwrap().contains("master_user_secret_arn")
            })
            .map(|s| s.address.as_str())
            .collect();
        assert_eq!(readers, ["iam.database_admin_role"]);
    }

    #[test]
    fn every_expansion_fits_the_kind_declarations() {
        for extra in [
            "",
            "[edge]\nwaf = false\n",
            "[network]\navailability_zones = 3\nnat_gateways = 3\n",
            "[security]\ncloudtrail = true\n",
        ] {
            let g = ResourceGraph::new(expand(&with(extra), "1")).unwrap();
            assert_eq!(g.check(&crate::kinds::schema), Ok(()), "{extra}");
        }
    }

    #[test]
    fn log_groups_come_before_their_writers_and_the_trail_only_when_asked() {
        let specs = expand(&stack(), "123456789012");
        let g = ResourceGraph::new(specs.clone()).unwrap();
        let order: Vec<&str> = g.topological().iter().map(|s| s.address.as_str()).collect();
        let pos = |a: &str| order.iter().position(|x| *x == a).unwrap();
        assert!(pos("audit.eks_log_group") < pos("cluster.eks"));
        assert!(pos("audit.database_log_group") < pos("database.instance"));
        assert!(
            pos("audit.log_bucket") < pos("edge.alb")
                && pos("audit.log_bucket") < pos("storage.bucket")
        );
        assert!(!order.contains(&"audit.trail"));
        let with_trail = expand(&with("[security]\ncloudtrail = true\n"), "123456789012");
        let bucket = with_trail.iter().find(|s| s.address == "audit.log_bucket").unwrap();
        let policy = crate::plan::terraform::literal(&bucket.inputs["policy"]).unwrap();
        let sids: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            sids,
            [
                "DenyInsecureTransport",
                "AlbAccessLogs",
                "AlbAccessLogsRegionalAccount",
                "S3ServerAccessLogs",
                "CloudTrailAclCheck",
                "CloudTrailWrite"
            ]
        );
        assert!(with_trail.iter().any(|s| s.address == "audit.trail"));
    }

    fn keycloak() -> Stack {
        Stack::parse(
            "t.toml",
            "name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nprovider = \"keycloak\"\nadmin_email = \"a@b.org\"\nserver_url = \"https://sso.b.org\"\nrealm = \"tuva\"\nclient_id = \"empi\"\nclient_secret_arn = \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:kc\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n",
        )
        .unwrap()
    }

    #[test]
    fn a_keycloak_stack_builds_no_cognito_and_authenticates_at_the_realm() {
        let specs = expand(&keycloak(), "1");
        assert!(!specs
            .iter()
            .any(|s| s.address.starts_with("identity.") || s.kind.starts_with("aws_cognito")));
        let g = ResourceGraph::new(specs.clone()).unwrap();
        assert_eq!(g.check(&crate::kinds::schema), Ok(()));
        let json = serde_json::to_value(&specs).unwrap().to_string();
        assert!(!json.contains("cognito"), "no Cognito action, permission or config");
        let listener = specs.iter().find(|s| s.address == "edge.https_listener").unwrap();
        let action = serde_json::to_value(&listener.inputs["actions"]).unwrap().to_string();
        for part in [
            "authenticate-oidc",
            "https://sso.b.org/realms/tuva/protocol/openid-connect/auth",
            "https://sso.b.org/realms/tuva/protocol/openid-connect/userinfo",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kc",
        ] {
            assert!(action.contains(part), "{part} in {action}");
        }
        let doc = specs.iter().find(|s| s.address == "config.document").unwrap();
        let doc_json = serde_json::to_value(&doc.inputs).unwrap().to_string();
        assert!(
            doc_json.contains(r#""backend""#)
                && doc_json.contains(r#""keycloak""#)
                && doc_json.contains(r#""jwt_aud""#),
            "{doc_json}"
        );
        assert!(
            doc_json.contains(KEYCLOAK_SECRET_POINTER),
            "the document copies the client secret: {doc_json}"
        );
        let bootstrap = specs.iter().find(|s| s.address == "workloads.bootstrap").unwrap();
        assert!(!bootstrap.depends_on.iter().any(|a| a.starts_with("identity.")));
    }

    #[test]
    fn the_idp_block_is_what_upstream_requires_for_either_provider() {
        for stack in [stack(), keycloak()] {
            let specs = expand(&stack, "1");
            let doc =
                &specs.iter().find(|s| s.address == "config.document").unwrap().inputs["document"];
            let resolved =
                doc.resolve(&|_: &str, _: &str| Some(Value::String("x".into()))).unwrap();
            assert_eq!(
                crate::upstream::check_idp(&resolved["idp"]),
                Ok(()),
                "{}",
                stack.identity.provider_name()
            );
        }
    }

    #[test]
    fn every_version_provider_and_runner_gets_a_config_its_upstream_accepts() {
        let head = "301608c7ac2f5fc422ec210cd5613a0496d468ba";
        for (version, runner) in [
            ("v0.1.0", "process"),
            (head, "process"),
            (head, "k8s"),
            ("f88e27e", "k8s"),
            ("0123456789abcdef", "k8s"),
        ] {
            for base in [stack(), keycloak()] {
                let mut s = base.clone();
                s.app.tuva = crate::tuva::classify(version).unwrap();
                s.app.version = version.into();
                s.app.matching_job_runner = runner.into();
                s.app.matching_job_namespace = if s.app.tuva.job_namespace {
                    s.app.namespace.clone()
                } else {
                    "default".into()
                };
                let specs = expand(&s, "1");
                assert_eq!(
                    crate::tuva::check_stack_config(&s.app.tuva, &s.app.version, &specs),
                    Ok(()),
                    "{version} {runner} {}",
                    s.identity.provider_name()
                );
                assert_eq!(
                    specs.iter().any(|x| x.address == "workloads.worker"),
                    s.app.tuva.export_worker,
                    "{version}"
                );
                let jobs =
                    specs.iter().any(|x| x.address == "workloads.service_account[matching-job]");
                assert_eq!(jobs, runner == "k8s");
                assert_eq!(
                    specs.iter().any(|x| x.address == "iam.matching_job_role"),
                    runner == "k8s"
                );
            }
        }
    }

    #[test]
    fn secrets_are_only_placeholders_in_the_specs() {
        let specs = serde_json::to_string(&expand(&stack(), "1")).unwrap();
        assert!(specs.contains(SENSITIVE));
        let user_pool =
            expand(&stack(), "1").into_iter().find(|s| s.address == "identity.user_pool").unwrap();
        assert_eq!(user_pool.inputs["username_attributes"], Expr::lit(json!(["email"])));
    }
}
