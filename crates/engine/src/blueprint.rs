//! The Tuva EMPI architecture (PRODUCT.md §4–§5): expands a [`Stack`] into the resources to build,
//! with stable addresses, deterministic names, and inputs wired to other resources' outputs.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::resource::{Expr, ResourceSpec, SENSITIVE};
use crate::stack::{parse_cidr, Stack};

/// Database name and master user of the Tuva EMPI database.
pub const DB_NAME: &str = "tuva_empi";
pub const DB_USER: &str = "tuva_empi";
/// The AWS managed policy an EKS cluster role needs.
pub const EKS_CLUSTER_POLICY: &str = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";
/// Control-plane log types sent to CloudWatch.
pub const EKS_LOG_TYPES: &[&str] = &["api", "audit", "authenticator", "controllerManager", "scheduler"];

fn tags(stack: &Stack, address: &str, name: &str) -> Expr {
    Expr::lit(serde_json::to_value(stack.resource_tags(address, name)).unwrap())
}

fn list(xs: Vec<Expr>) -> Expr {
    Expr::List(xs)
}

fn strings(xs: &[&str]) -> Expr {
    Expr::lit(json!(xs))
}

/// The `i`-th subnet of the VPC CIDR, 4 bits longer (a /16 gives /20s).
pub fn subnet_cidr(vpc: &str, i: u32) -> String {
    let (ip, len) = parse_cidr(vpc).expect("validated CIDR");
    let new_len = len + 4;
    let base = u32::from(ip);
    let step = 1u32 << (32 - new_len);
    format!("{}/{}", Ipv4Addr::from(base + i * step), new_len)
}

/// Availability zone names used for the `n` zones of a region.
pub fn zones(stack: &Stack) -> Vec<String> {
    ["a", "b", "c"].iter().take(stack.network.availability_zones as usize).map(|l| format!("{}{l}", stack.region)).collect()
}

/// Every resource of the stack.
pub fn expand(stack: &Stack) -> Vec<ResourceSpec> {
    let n = &stack.name;
    let mut out = Vec::new();

    // ── network ────────────────────────────────────────────────────────────────
    let vpc_name = format!("{n}-vpc");
    out.push(
        ResourceSpec::new("network.vpc", "aws_vpc", &vpc_name)
            .input("cidr_block", stack.network.cidr.as_str())
            .input("enable_dns_hostnames", true)
            .input("enable_dns_support", true)
            .input("tags", tags(stack, "network.vpc", &vpc_name)),
    );
    let mut private_subnets = Vec::new();
    for (i, az) in zones(stack).iter().enumerate() {
        let addr = format!("network.private_subnet[{i}]");
        let name = format!("{n}-private-{az}");
        let mut t = stack.resource_tags(&addr, &name);
        t.insert("kubernetes.io/role/internal-elb".into(), "1".into());
        out.push(
            ResourceSpec::new(&addr, "aws_subnet", &name)
                .input("vpc_id", Expr::r("network.vpc", "id"))
                .input("cidr_block", subnet_cidr(&stack.network.cidr, 4 + i as u32))
                .input("availability_zone", az.as_str())
                .input("map_public_ip_on_launch", false)
                .input("tags", Expr::lit(serde_json::to_value(t).unwrap())),
        );
        private_subnets.push(Expr::r(&addr, "id"));
    }
    let nodes_sg = format!("{n}-nodes");
    out.push(
        ResourceSpec::new("network.node_security_group", "aws_security_group", &nodes_sg)
            .input("vpc_id", Expr::r("network.vpc", "id"))
            .input("description", "Tuva EMPI worker nodes")
            .input("ingress", Expr::lit(json!([])))
            .input("tags", tags(stack, "network.node_security_group", &nodes_sg)),
    );
    let db_sg = format!("{n}-database");
    out.push(
        ResourceSpec::new("network.database_security_group", "aws_security_group", &db_sg)
            .input("vpc_id", Expr::r("network.vpc", "id"))
            .input("description", "Tuva EMPI PostgreSQL: 5432 from the worker nodes only")
            .input(
                "ingress",
                list(vec![Expr::Object(BTreeMap::from([
                    ("protocol".to_string(), Expr::lit("tcp")),
                    ("from_port".to_string(), Expr::lit(5432)),
                    ("to_port".to_string(), Expr::lit(5432)),
                    ("source_security_group_id".to_string(), Expr::r("network.node_security_group", "id")),
                ]))]),
            )
            .input("tags", tags(stack, "network.database_security_group", &db_sg)),
    );

    // ── iam ─────────────────────────────────────────────────────────────────────
    let role = format!("{n}-eks-cluster");
    out.push(
        ResourceSpec::new("iam.cluster_role", "aws_iam_role", &role)
            .input(
                "assume_role_policy",
                Expr::lit(json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"}]
                })),
            )
            .input("managed_policy_arns", strings(&[EKS_CLUSTER_POLICY]))
            .input("tags", tags(stack, "iam.cluster_role", &role)),
    );

    // ── cluster ─────────────────────────────────────────────────────────────────
    out.push(
        ResourceSpec::new("cluster.eks", "aws_eks_cluster", n)
            .input("version", stack.cluster.kubernetes_version.as_str())
            .input("role_arn", Expr::r("iam.cluster_role", "arn"))
            .input("subnet_ids", list(private_subnets.clone()))
            .input("security_group_ids", list(vec![Expr::r("network.node_security_group", "id")]))
            .input("endpoint_private_access", true)
            .input("endpoint_public_access", true)
            .input("public_access_cidrs", Expr::lit(json!(stack.cluster.public_access_cidrs)))
            .input("enabled_log_types", strings(EKS_LOG_TYPES))
            .input("tags", tags(stack, "cluster.eks", n)),
    );

    // ── config secret (holds the generated secrets; the database reads its password from it) ──
    let secret = format!("{n}/tuva-empi-config");
    out.push(
        ResourceSpec::new("config.secret", "aws_secretsmanager_secret", &secret)
            .input("description", format!("Tuva EMPI backend configuration of stack {n} (managed by empi-infra)"))
            .input("tags", tags(stack, "config.secret", &secret)),
    );

    // ── database ────────────────────────────────────────────────────────────────
    let sng = format!("{n}-db");
    out.push(
        ResourceSpec::new("database.subnet_group", "aws_db_subnet_group", &sng)
            .input("description", format!("Tuva EMPI database subnets of stack {n}"))
            .input("subnet_ids", list(private_subnets.clone()))
            .input("tags", tags(stack, "database.subnet_group", &sng)),
    );
    let db = &stack.database;
    let dbi = format!("{n}-db");
    out.push(
        ResourceSpec::new("database.instance", "aws_db_instance", &dbi)
            .input("engine", "postgres")
            .input("engine_version", db.engine_version.as_str())
            .input("instance_class", db.instance_class.as_str())
            .input("allocated_storage", db.allocated_storage_gb)
            .input("storage_type", "gp3")
            .input("storage_encrypted", true)
            .input("publicly_accessible", false)
            .input("multi_az", db.multi_az)
            .input("backup_retention_period", db.backup_retention_days)
            .input("deletion_protection", db.deletion_protection)
            .input("copy_tags_to_snapshot", true)
            .input("db_name", DB_NAME)
            .input("master_username", DB_USER)
            .input("master_password", SENSITIVE)
            .input("master_password_secret_arn", Expr::r("config.secret", "arn"))
            .input("db_subnet_group_name", Expr::r("database.subnet_group", "id"))
            .input("vpc_security_group_ids", list(vec![Expr::r("network.database_security_group", "id")]))
            .input("tags", tags(stack, "database.instance", &dbi)),
    );

    // ── identity ────────────────────────────────────────────────────────────────
    let pool = format!("{n}-users");
    out.push(
        ResourceSpec::new("identity.user_pool", "aws_cognito_user_pool", &pool)
            .input("username_attributes", strings(&["email"]))
            .input("auto_verified_attributes", strings(&["email"]))
            .input("admin_create_user_only", true)
            .input("tags", tags(stack, "identity.user_pool", &pool)),
    );
    let client = format!("{n}-alb");
    let host = &stack.app.hostname;
    out.push(
        ResourceSpec::new("identity.app_client", "aws_cognito_user_pool_client", &client)
            .input("user_pool_id", Expr::r("identity.user_pool", "id"))
            .input("generate_secret", true)
            .input("allowed_oauth_flows", strings(&["code"]))
            .input("allowed_oauth_scopes", strings(&["openid", "email"]))
            .input("callback_urls", Expr::lit(json!([format!("https://{host}/oauth2/idpresponse")])))
            .input("supported_identity_providers", strings(&["COGNITO"])),
    );

    // ── the config document (§5), composed from the other resources' outputs ───────────
    let s = |v: &str| Expr::lit(v);
    let obj = |pairs: Vec<(&str, Expr)>| Expr::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    let document = obj(vec![
        ("env", s(n)),
        (
            "db",
            obj(vec![
                ("user", s(DB_USER)),
                ("password", s(SENSITIVE)),
                ("name", s(DB_NAME)),
                ("host", Expr::r("database.instance", "address")),
                ("port", Expr::r("database.instance", "port")),
            ]),
        ),
        (
            "django",
            obj(vec![
                ("debug", Expr::lit(false)),
                ("secret_key", s(SENSITIVE)),
                ("allowed_hosts", Expr::lit(json!(allowed_hosts(stack)))),
                ("cors_allowed_origins", Expr::lit(json!([]))),
            ]),
        ),
        (
            "idp",
            obj(vec![
                ("backend", s("aws-cognito")),
                (
                    "aws_cognito",
                    obj(vec![
                        ("cognito_user_pool_id", Expr::r("identity.user_pool", "id")),
                        ("jwt_header", s("X-Amzn-Oidc-Accesstoken")),
                        ("client_id", Expr::r("identity.app_client", "id")),
                        (
                            "jwks_url",
                            Expr::Concat(vec![
                                s(&format!("https://cognito-idp.{}.amazonaws.com/", stack.region)),
                                Expr::r("identity.user_pool", "id"),
                                s("/.well-known/jwks.json"),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
        ("initial_setup", obj(vec![("admin_email", s(&stack.identity.admin_email))])),
        ("matching_service", obj(vec![("job_runner", s(&stack.app.matching_job_runner))])),
    ]);
    out.push(
        ResourceSpec::new("config.document", "aws_secretsmanager_secret_value", &secret)
            .input("secret_id", Expr::r("config.secret", "arn"))
            .input("document", document),
    );
    out
}

/// Hosts Django accepts: the public hostname, plus the names health probes use.
pub fn allowed_hosts(stack: &Stack) -> Vec<String> {
    vec![stack.app.hostname.clone(), "localhost".into(), "127.0.0.1".into()]
}

/// The stack's outputs (`empi-infra output`), as expressions over resource outputs.
pub fn outputs(stack: &Stack) -> Vec<(&'static str, Expr)> {
    vec![
        ("url", Expr::lit(Value::String(format!("https://{}", stack.app.hostname)))),
        ("cluster_name", Expr::r("cluster.eks", "name")),
        ("cluster_endpoint", Expr::r("cluster.eks", "endpoint")),
        ("database_endpoint", Expr::r("database.instance", "address")),
        ("config_secret_arn", Expr::r("config.secret", "arn")),
        ("user_pool_id", Expr::r("identity.user_pool", "id")),
        ("app_client_id", Expr::r("identity.app_client", "id")),
        ("vpc_id", Expr::r("network.vpc", "id")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ResourceGraph;

    fn stack() -> Stack {
        Stack::parse(
            "t.toml",
            "name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:1:certificate/x\"\n",
        )
        .unwrap()
    }

    #[test]
    fn subnets_are_carved_from_the_vpc() {
        assert_eq!(subnet_cidr("10.40.0.0/16", 0), "10.40.0.0/20");
        assert_eq!(subnet_cidr("10.40.0.0/16", 5), "10.40.80.0/20");
    }

    #[test]
    fn expansion_is_a_valid_graph_with_the_config_last() {
        let g = ResourceGraph::new(expand(&stack())).unwrap();
        let order: Vec<&str> = g.topological().iter().map(|s| s.address.as_str()).collect();
        assert_eq!(order.last(), Some(&"config.document"));
        let pos = |a: &str| order.iter().position(|x| *x == a).unwrap();
        assert!(pos("config.secret") < pos("database.instance"));
        assert!(pos("network.vpc") < pos("network.private_subnet[1]"));
        assert!(pos("iam.cluster_role") < pos("cluster.eks"));
    }

    #[test]
    fn secrets_are_only_placeholders_in_the_specs() {
        let specs = serde_json::to_string(&expand(&stack())).unwrap();
        assert!(specs.contains(SENSITIVE));
        let user_pool = expand(&stack()).into_iter().find(|s| s.address == "identity.user_pool").unwrap();
        assert_eq!(user_pool.inputs["username_attributes"], Expr::lit(json!(["email"])));
    }
}
