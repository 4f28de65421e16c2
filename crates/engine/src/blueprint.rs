//! The Tuva EMPI architecture (PRODUCT.md §4–§5): expands a [`Stack`] into the resources to build,
//! with stable addresses, deterministic names, and inputs wired to other resources' outputs.

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

/// NodePorts the ALB target groups send to (the workloads' Services use them).
pub const API_NODE_PORT: u32 = 30080;
pub const FRONTEND_NODE_PORT: u32 = 30300;
/// The AWS managed policies of the worker node role.
pub const NODE_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];
/// Service accounts that get an IRSA role, and what each may do.
pub const SERVICE_ACCOUNTS: &[(&str, Access)] = &[
    ("api", Access { cognito_list_users: true, bucket: true }),
    ("matching-service", Access { cognito_list_users: false, bucket: false }),
    ("worker", Access { cognito_list_users: false, bucket: true }),
];
/// Thumbprint of the root CA of EKS OIDC issuers (IAM no longer checks it for them, but the API wants one).
pub const OIDC_THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
/// TLS policy of the HTTPS listener.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// What one IRSA role may do besides reading the config secret.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub cognito_list_users: bool,
    pub bucket: bool,
}

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
    obj(vec![("protocol", s(protocol)), ("from_port", Expr::lit(from)), ("to_port", Expr::lit(to)), source])
}

/// The S3 bucket's name: global, so it carries the account id.
pub fn bucket_name(stack: &Stack, account: &str) -> String {
    format!("{}-data-{account}", stack.name)
}

/// The database parameter group family and name for the stack's engine version.
pub fn parameter_group(stack: &Stack) -> (String, String) {
    let major = stack.database.engine_version.split('.').next().unwrap_or("16");
    (format!("postgres{major}"), format!("{}-postgres{major}", stack.name))
}

/// Every resource of the stack. `account` is the AWS account id (for globally unique names).
pub fn expand(stack: &Stack, account: &str) -> Vec<ResourceSpec> {
    let n = &stack.name;
    let mut out = Vec::new();
    let azs = zones(stack);
    let nats = stack.network.nat_gateways as usize;

    // ── network ────────────────────────────────────────────────────────────────
    let vpc_name = format!("{n}-vpc");
    out.push(
        ResourceSpec::new("network.vpc", "aws_vpc", &vpc_name)
            .input("cidr_block", stack.network.cidr.as_str())
            .input("enable_dns_hostnames", true)
            .input("enable_dns_support", true)
            .input("tags", tags(stack, "network.vpc", &vpc_name)),
    );
    let igw = format!("{n}-igw");
    out.push(
        ResourceSpec::new("network.internet_gateway", "aws_internet_gateway", &igw)
            .input("vpc_id", r("network.vpc", "id"))
            .input("tags", tags(stack, "network.internet_gateway", &igw)),
    );
    let mut public_subnets = Vec::new();
    let mut private_subnets = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        for (kind, index, role_tag) in
            [("public", i as u32, "kubernetes.io/role/elb"), ("private", 4 + i as u32, "kubernetes.io/role/internal-elb")]
        {
            let addr = format!("network.{kind}_subnet[{i}]");
            let name = format!("{n}-{kind}-{az}");
            let mut t = stack.resource_tags(&addr, &name);
            t.insert(role_tag.into(), "1".into());
            out.push(
                ResourceSpec::new(&addr, "aws_subnet", &name)
                    .input("vpc_id", r("network.vpc", "id"))
                    .input("cidr_block", subnet_cidr(&stack.network.cidr, index))
                    .input("availability_zone", az.as_str())
                    .input("map_public_ip_on_launch", false)
                    .input("tags", Expr::lit(serde_json::to_value(t).unwrap())),
            );
            if kind == "public" {
                public_subnets.push(r(&addr, "id"))
            } else {
                private_subnets.push(r(&addr, "id"))
            }
        }
    }
    for j in 0..nats {
        let eip = format!("{n}-nat-{}", azs[j]);
        out.push(
            ResourceSpec::new(&format!("network.nat_eip[{j}]"), "aws_eip", &eip)
                .input("tags", tags(stack, &format!("network.nat_eip[{j}]"), &eip)),
        );
        out.push(
            ResourceSpec::new(&format!("network.nat_gateway[{j}]"), "aws_nat_gateway", &eip)
                .input("subnet_id", public_subnets[j].clone())
                .input("allocation_id", r(&format!("network.nat_eip[{j}]"), "id"))
                .input("tags", tags(stack, &format!("network.nat_gateway[{j}]"), &eip))
                .after("network.internet_gateway"),
        );
    }
    let public_rt = format!("{n}-public");
    out.push(
        ResourceSpec::new("network.public_route_table", "aws_route_table", &public_rt)
            .input("vpc_id", r("network.vpc", "id"))
            .input(
                "routes",
                Expr::List(vec![obj(vec![
                    ("destination_cidr_block", s("0.0.0.0/0")),
                    ("gateway_id", r("network.internet_gateway", "id")),
                ])]),
            )
            .input("tags", tags(stack, "network.public_route_table", &public_rt)),
    );
    let mut private_rts = Vec::new();
    for (i, az) in azs.iter().enumerate() {
        let name = format!("{n}-private-{az}");
        let addr = format!("network.private_route_table[{i}]");
        out.push(
            ResourceSpec::new(&addr, "aws_route_table", &name)
                .input("vpc_id", r("network.vpc", "id"))
                .input(
                    "routes",
                    Expr::List(vec![obj(vec![
                        ("destination_cidr_block", s("0.0.0.0/0")),
                        ("nat_gateway_id", r(&format!("network.nat_gateway[{}]", i.min(nats - 1)), "id")),
                    ])]),
                )
                .input("tags", tags(stack, &addr, &name)),
        );
        private_rts.push(r(&addr, "id"));
        for (kind, rt) in [("public", r("network.public_route_table", "id")), ("private", r(&addr, "id"))] {
            let subnet = if kind == "public" { public_subnets[i].clone() } else { private_subnets[i].clone() };
            out.push(
                ResourceSpec::new(
                    &format!("network.{kind}_route_table_association[{i}]"),
                    "aws_route_table_association",
                    &format!("{n}-{kind}-{az}"),
                )
                .input("subnet_id", subnet)
                .input("route_table_id", rt),
            );
        }
    }
    let sg = |out: &mut Vec<ResourceSpec>, addr: &str, name: &str, description: &str, ingress: Vec<Expr>| {
        out.push(
            ResourceSpec::new(addr, "aws_security_group", name)
                .input("vpc_id", r("network.vpc", "id"))
                .input("description", description)
                .input("ingress", Expr::List(ingress))
                .input("tags", tags(stack, addr, name)),
        );
    };
    sg(
        &mut out,
        "network.alb_security_group",
        &format!("{n}-alb"),
        "Tuva EMPI load balancer: HTTPS and HTTP from the internet",
        vec![rule("tcp", 443, 443, ("cidr_block", s("0.0.0.0/0"))), rule("tcp", 80, 80, ("cidr_block", s("0.0.0.0/0")))],
    );
    sg(
        &mut out,
        "network.node_security_group",
        &format!("{n}-nodes"),
        "Tuva EMPI worker nodes: node ports from the load balancer only",
        vec![
            rule("tcp", API_NODE_PORT, API_NODE_PORT, ("source_security_group_id", r("network.alb_security_group", "id"))),
            rule("tcp", FRONTEND_NODE_PORT, FRONTEND_NODE_PORT, ("source_security_group_id", r("network.alb_security_group", "id"))),
        ],
    );
    sg(
        &mut out,
        "network.database_security_group",
        &format!("{n}-database"),
        "Tuva EMPI PostgreSQL: 5432 from the worker nodes only",
        vec![rule("tcp", 5432, 5432, ("source_security_group_id", r("network.node_security_group", "id")))],
    );
    sg(
        &mut out,
        "network.endpoint_security_group",
        &format!("{n}-endpoints"),
        "Tuva EMPI VPC endpoints: HTTPS from the worker nodes only",
        vec![rule("tcp", 443, 443, ("source_security_group_id", r("network.node_security_group", "id")))],
    );
    for (svc, kind) in [("secretsmanager", "Interface"), ("logs", "Interface"), ("s3", "Gateway")] {
        let addr = format!("network.{svc}_endpoint");
        let name = format!("{n}-{svc}");
        let mut e = ResourceSpec::new(&addr, "aws_vpc_endpoint", &name)
            .input("vpc_id", r("network.vpc", "id"))
            .input("service_name", format!("com.amazonaws.{}.{svc}", stack.region))
            .input("vpc_endpoint_type", kind)
            .input("tags", tags(stack, &addr, &name));
        if kind == "Interface" {
            e = e
                .input("subnet_ids", Expr::List(private_subnets.clone()))
                .input("security_group_ids", Expr::List(vec![r("network.endpoint_security_group", "id")]))
                .input("private_dns_enabled", true);
        } else {
            e = e.input("route_table_ids", Expr::List(private_rts.clone()));
        }
        out.push(e);
    }

    // ── iam ─────────────────────────────────────────────────────────────────────
    let service_trust = |service: &str| {
        Expr::lit(json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
        }))
    };
    let role = format!("{n}-eks-cluster");
    out.push(
        ResourceSpec::new("iam.cluster_role", "aws_iam_role", &role)
            .input("assume_role_policy", service_trust("eks.amazonaws.com"))
            .input("managed_policy_arns", strings(&[EKS_CLUSTER_POLICY]))
            .input("inline_policies", Expr::lit(json!({})))
            .input("tags", tags(stack, "iam.cluster_role", &role)),
    );
    let node_role = format!("{n}-eks-node");
    out.push(
        ResourceSpec::new("iam.node_role", "aws_iam_role", &node_role)
            .input("assume_role_policy", service_trust("ec2.amazonaws.com"))
            .input("managed_policy_arns", strings(NODE_POLICIES))
            .input("inline_policies", Expr::lit(json!({})))
            .input("tags", tags(stack, "iam.node_role", &node_role)),
    );
    let oidc = format!("{n}-oidc");
    out.push(
        ResourceSpec::new("iam.oidc_provider", "aws_iam_openid_connect_provider", &oidc)
            .input("url", r("cluster.eks", "oidc_issuer"))
            .input("client_ids", strings(&["sts.amazonaws.com"]))
            .input("thumbprints", strings(&[OIDC_THUMBPRINT]))
            .input("tags", tags(stack, "iam.oidc_provider", &oidc)),
    );
    let bucket = bucket_name(stack, account);
    for (sa, access) in SERVICE_ACCOUNTS {
        let addr = format!("iam.{}_role", sa.replace('-', "_"));
        let name = format!("{n}-{sa}");
        let host = r("iam.oidc_provider", "issuer_host");
        let trust = Expr::Json(Box::new(cat(vec![
            s(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":""#),
            r("iam.oidc_provider", "arn"),
            s(r#""},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{""#),
            host.clone(),
            s(&format!(r#":sub":"system:serviceaccount:{}:{sa}",""#, stack.app.namespace)),
            host,
            s(r#":aud":"sts.amazonaws.com"}}}]}"#),
        ])));
        let mut statements = vec![obj(vec![
            ("Sid", s("ReadConfig")),
            ("Effect", s("Allow")),
            ("Action", s("secretsmanager:GetSecretValue")),
            ("Resource", r("config.secret", "arn")),
        ])];
        if access.cognito_list_users {
            statements.push(obj(vec![
                ("Sid", s("FindUsers")),
                ("Effect", s("Allow")),
                ("Action", s("cognito-idp:ListUsers")),
                ("Resource", r("identity.user_pool", "arn")),
            ]));
        }
        if access.bucket {
            statements.push(obj(vec![
                ("Sid", s("ListBucket")),
                ("Effect", s("Allow")),
                ("Action", s("s3:ListBucket")),
                ("Resource", Expr::lit(format!("arn:aws:s3:::{bucket}"))),
            ]));
            statements.push(obj(vec![
                ("Sid", s("Objects")),
                ("Effect", s("Allow")),
                ("Action", strings(&["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])),
                ("Resource", Expr::lit(format!("arn:aws:s3:::{bucket}/*"))),
            ]));
        }
        let policy = obj(vec![("Version", s("2012-10-17")), ("Statement", Expr::List(statements))]);
        out.push(
            ResourceSpec::new(&addr, "aws_iam_role", &name)
                .input("assume_role_policy", trust)
                .input("managed_policy_arns", Expr::lit(json!([])))
                .input("inline_policies", obj(vec![("tuva-empi", policy)]))
                .input("tags", tags(stack, &addr, &name))
                .after("storage.bucket"),
        );
    }

    // ── cluster ─────────────────────────────────────────────────────────────────
    out.push(
        ResourceSpec::new("cluster.eks", "aws_eks_cluster", n)
            .input("version", stack.cluster.kubernetes_version.as_str())
            .input("role_arn", r("iam.cluster_role", "arn"))
            .input("subnet_ids", Expr::List(private_subnets.clone()))
            .input("security_group_ids", Expr::List(vec![r("network.node_security_group", "id")]))
            .input("endpoint_private_access", true)
            .input("endpoint_public_access", true)
            .input("public_access_cidrs", Expr::lit(json!(stack.cluster.public_access_cidrs)))
            .input("enabled_log_types", strings(EKS_LOG_TYPES))
            .input("tags", tags(stack, "cluster.eks", n)),
    );
    let lt = format!("{n}-nodes");
    out.push(
        ResourceSpec::new("cluster.node_launch_template", "aws_launch_template", &lt)
            .input(
                "security_group_ids",
                Expr::List(vec![r("network.node_security_group", "id"), r("cluster.eks", "cluster_security_group_id")]),
            )
            .input("http_tokens", "required")
            .input("http_put_response_hop_limit", 2u32)
            .input("tags", tags(stack, "cluster.node_launch_template", &lt)),
    );
    let nodes = &stack.cluster.nodes;
    let ng = format!("{n}-nodes");
    out.push(
        ResourceSpec::new("cluster.node_group", "aws_eks_node_group", &ng)
            .input("cluster_name", r("cluster.eks", "name"))
            .input("node_role_arn", r("iam.node_role", "arn"))
            .input("subnet_ids", Expr::List(private_subnets.clone()))
            .input("instance_types", Expr::lit(json!(nodes.instance_types)))
            .input("min_size", nodes.min)
            .input("max_size", nodes.max)
            .input("desired_size", nodes.desired)
            .input("launch_template_id", r("cluster.node_launch_template", "id"))
            .input("launch_template_version", r("cluster.node_launch_template", "latest_version"))
            .input("tags", tags(stack, "cluster.node_group", &ng)),
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
            .input("vpc_id", r("network.vpc", "id"))
            .input("subnet_ids", Expr::List(private_subnets.clone()))
            .input("tags", tags(stack, "database.subnet_group", &sng)),
    );
    let (family, pg_name) = parameter_group(stack);
    out.push(
        ResourceSpec::new("database.parameter_group", "aws_db_parameter_group", &pg_name)
            .input("family", family.as_str())
            .input("description", format!("Tuva EMPI PostgreSQL parameters of stack {n}"))
            .input("parameters", Expr::lit(json!({"rds.force_ssl": "1"})))
            .input("tags", tags(stack, "database.parameter_group", &pg_name)),
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
            .input("master_password_secret_arn", r("config.secret", "arn"))
            .input("db_subnet_group_name", r("database.subnet_group", "id"))
            .input("db_parameter_group_name", r("database.parameter_group", "id"))
            .input("vpc_security_group_ids", Expr::List(vec![r("network.database_security_group", "id")]))
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
    out.push(
        ResourceSpec::new("identity.domain", "aws_cognito_user_pool_domain", &stack.identity.domain_prefix)
            .input("user_pool_id", r("identity.user_pool", "id")),
    );
    let client = format!("{n}-alb");
    let host = &stack.app.hostname;
    out.push(
        ResourceSpec::new("identity.app_client", "aws_cognito_user_pool_client", &client)
            .input("user_pool_id", r("identity.user_pool", "id"))
            .input("generate_secret", true)
            .input("allowed_oauth_flows", strings(&["code"]))
            .input("allowed_oauth_scopes", strings(&["openid", "email"]))
            .input("callback_urls", Expr::lit(json!([format!("https://{host}/oauth2/idpresponse")])))
            .input("supported_identity_providers", strings(&["COGNITO"])),
    );
    out.push(
        ResourceSpec::new("identity.admin_user", "aws_cognito_user", &stack.identity.admin_email)
            .input("user_pool_id", r("identity.user_pool", "id"))
            .input("email", stack.identity.admin_email.as_str())
            .input("email_verified", true),
    );

    // ── storage ─────────────────────────────────────────────────────────────────
    out.push(
        ResourceSpec::new("storage.bucket", "aws_s3_bucket", &bucket)
            .input("versioning", true)
            .input("encryption", "AES256")
            .input("block_public_access", true)
            .input("tags", tags(stack, "storage.bucket", &bucket)),
    );

    // ── edge ────────────────────────────────────────────────────────────────────
    let alb = format!("{n}-alb");
    out.push(
        ResourceSpec::new("edge.alb", "aws_lb", &alb)
            .input("scheme", "internet-facing")
            .input("subnet_ids", Expr::List(public_subnets.clone()))
            .input("security_group_ids", Expr::List(vec![r("network.alb_security_group", "id")]))
            .input("drop_invalid_header_fields", true)
            .input("tags", tags(stack, "edge.alb", &alb)),
    );
    for (which, port, health) in [("api", API_NODE_PORT, "/api/v1/health-check"), ("frontend", FRONTEND_NODE_PORT, "/")] {
        let addr = format!("edge.{which}_target_group");
        let name = format!("{n}-{}", if which == "api" { "api" } else { "web" });
        out.push(
            ResourceSpec::new(&addr, "aws_lb_target_group", &name)
                .input("vpc_id", r("network.vpc", "id"))
                .input("port", port)
                .input("protocol", "HTTP")
                .input("target_type", "instance")
                .input("health_check_path", health)
                .input("health_check_matcher", "200")
                .input("tags", tags(stack, &addr, &name)),
        );
        out.push(
            ResourceSpec::new(&format!("edge.{which}_asg_attachment"), "aws_autoscaling_attachment", &name)
                .input("autoscaling_group_name", r("cluster.node_group", "autoscaling_group_name"))
                .input("target_group_arn", r(&addr, "arn")),
        );
    }
    let cognito_action = || {
        obj(vec![
            ("type", s("authenticate-cognito")),
            ("user_pool_arn", r("identity.user_pool", "arn")),
            ("user_pool_client_id", r("identity.app_client", "id")),
            ("user_pool_domain", r("identity.domain", "id")),
        ])
    };
    let forward = |tg: &str| obj(vec![("type", s("forward")), ("target_group_arn", r(tg, "arn"))]);
    out.push(
        ResourceSpec::new("edge.http_listener", "aws_lb_listener", &format!("{n}-http"))
            .input("load_balancer_arn", r("edge.alb", "arn"))
            .input("port", 80u32)
            .input("protocol", "HTTP")
            .input("actions", Expr::lit(json!([{"type": "redirect", "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}]))),
    );
    out.push(
        ResourceSpec::new("edge.https_listener", "aws_lb_listener", &format!("{n}-https"))
            .input("load_balancer_arn", r("edge.alb", "arn"))
            .input("port", 443u32)
            .input("protocol", "HTTPS")
            .input("certificate_arn", stack.app.certificate_arn.as_str())
            .input("ssl_policy", SSL_POLICY)
            .input("actions", Expr::List(vec![cognito_action(), forward("edge.frontend_target_group")])),
    );
    out.push(
        ResourceSpec::new("edge.api_rule", "aws_lb_listener_rule", &format!("{n}-api"))
            .input("listener_arn", r("edge.https_listener", "arn"))
            .input("priority", 10u32)
            .input("path_patterns", strings(&["/api/*"]))
            .input("actions", Expr::List(vec![cognito_action(), forward("edge.api_target_group")])),
    );
    if stack.edge.waf {
        let waf = format!("{n}-waf");
        out.push(
            ResourceSpec::new("edge.waf", "aws_wafv2_web_acl", &waf)
                .input("managed_rule_groups", strings(&["AWSManagedRulesCommonRuleSet"]))
                .input("tags", tags(stack, "edge.waf", &waf)),
        );
        out.push(
            ResourceSpec::new("edge.waf_association", "aws_wafv2_web_acl_association", &waf)
                .input("web_acl_arn", r("edge.waf", "arn"))
                .input("resource_arn", r("edge.alb", "arn")),
        );
    }

    // ── the config document (§5), composed from the other resources' outputs ───────────
    let document = obj(vec![
        ("env", s(n)),
        (
            "db",
            obj(vec![
                ("user", s(DB_USER)),
                ("password", s(SENSITIVE)),
                ("name", s(DB_NAME)),
                ("host", r("database.instance", "address")),
                ("port", r("database.instance", "port")),
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
                        ("cognito_user_pool_id", r("identity.user_pool", "id")),
                        ("jwt_header", s("X-Amzn-Oidc-Accesstoken")),
                        ("client_id", r("identity.app_client", "id")),
                        (
                            "jwks_url",
                            cat(vec![
                                s(&format!("https://cognito-idp.{}.amazonaws.com/", stack.region)),
                                r("identity.user_pool", "id"),
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
            .input("secret_id", r("config.secret", "arn"))
            .input("document", document),
    );

    // ── workloads (§6) ──────────────────────────────────────────────────────────
    out.extend(crate::workloads::expand(stack));
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
        ("alb_dns_name", Expr::r("edge.alb", "dns_name")),
        ("bucket", Expr::r("storage.bucket", "id")),
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

    fn with(extra: &str) -> Stack {
        Stack::parse(
            "t.toml",
            &format!("name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:1:certificate/x\"\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn nat_gateways_follow_the_stack() {
        let one = expand(&stack(), "1");
        assert_eq!(one.iter().filter(|s| s.kind == "aws_nat_gateway").count(), 1);
        let private_rt = one.iter().find(|s| s.address == "network.private_route_table[1]").unwrap();
        assert!(
            serde_json::to_string(&private_rt.inputs["routes"]).unwrap().contains("network.nat_gateway[0]"),
            "both zones use the one NAT"
        );
        let per_zone = expand(&with("[network]\navailability_zones = 3\nnat_gateways = 3\n"), "1");
        assert_eq!(per_zone.iter().filter(|s| s.kind == "aws_nat_gateway").count(), 3);
        let rt = per_zone.iter().find(|s| s.address == "network.private_route_table[2]").unwrap();
        assert!(serde_json::to_string(&rt.inputs["routes"]).unwrap().contains("network.nat_gateway[2]"));
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
        assert_eq!(specs.iter().find(|s| s.address == "storage.bucket").unwrap().name, "t-data-123456789012");
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
        assert!(pos("config.secret") < pos("database.instance"));
        assert!(pos("network.vpc") < pos("network.private_subnet[1]"));
        assert!(pos("iam.cluster_role") < pos("cluster.eks"));
    }

    #[test]
    fn secrets_are_only_placeholders_in_the_specs() {
        let specs = serde_json::to_string(&expand(&stack(), "1")).unwrap();
        assert!(specs.contains(SENSITIVE));
        let user_pool = expand(&stack(), "1").into_iter().find(|s| s.address == "identity.user_pool").unwrap();
        assert_eq!(user_pool.inputs["username_attributes"], Expr::lit(json!(["email"])));
    }
}
