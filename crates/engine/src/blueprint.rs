//! The Tuva EMPI architecture: expands a [`Stack`] into the resources to build, with stable
//! addresses, deterministic names, and inputs wired to other resources' outputs. One function per
//! area, mirroring the stack file: network, iam, cluster, config, database, identity, storage, edge,
//! then the workloads. Every resource is built from its kind's typed arguments (`crate::kinds`), so
//! a misspelt or missing attribute does not compile.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::kinds::{cognito, eks, elb, iam, kms, logs, network, rds, routing, s3, secrets, waf};
use crate::resource::{Expr, ResourceSpec, SENSITIVE};
use crate::stack::{parse_cidr, KeycloakConfig, Stack};

/// The AWS managed rule groups of the web ACL, in priority order: the common rule set (OWASP top
/// ten), known bad inputs (Log4Shell lookups, Java deserialisation, localhost host headers) and SQL
/// injection in the query string, body, cookies and URI.
pub const WAF_RULE_GROUPS: &[&str] =
    &["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet"];

/// Database name and master user of the Tuva EMPI database.
pub const DB_NAME: &str = "tuva_empi";
/// The RDS master user: only the database-role Job connects as it.
pub const DB_USER: &str = "tuva_empi";
/// The application's own PostgreSQL role (the config document's `db.user`), made by the
/// database-role Job.
pub const DB_APP_USER: &str = "tuva_empi_app";
/// The AWS managed policy an EKS cluster role needs.
pub const EKS_CLUSTER_POLICY: &str = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy";
/// How the cluster authenticates IAM principals: access entries (for `cluster.admins`) and the
/// aws-auth ConfigMap (which EKS managed node groups still use).
pub const AUTHENTICATION_MODE: &str = "API_AND_CONFIG_MAP";
/// The EKS access policy given to `cluster.admins`, scoped to the whole cluster.
pub const CLUSTER_ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
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
    let new_len = len + crate::stack::SUBNET_BITS;
    let base = u32::from(ip);
    let step = 1u32 << (32 - new_len);
    format!("{}/{}", Ipv4Addr::from(base + i * step), new_len)
}

/// The availability zones of the stack: those chosen for it (pinned, recorded, or discovered in the
/// account: see `crate::zones`), or, before they are chosen (`validate`, `graph`), placeholders.
pub fn zones(stack: &Stack) -> Vec<String> {
    if !stack.network.zones.is_empty() {
        return stack.network.zones.clone();
    }
    (1..=stack.network.availability_zones).map(|i| format!("{}-zone{i}", stack.region)).collect()
}

/// Where the ALB's target groups send to: the workloads' Services and health checks.
pub use crate::workloads::{API_HEALTH_NODE_PORT, API_HEALTH_PATH, API_NODE_PORT, FRONTEND_HEALTH_PATH, FRONTEND_NODE_PORT};
/// The AWS managed policies of the worker node role.
pub const NODE_POLICIES: &[&str] = &[
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
];
/// Service accounts that get an IRSA role, and what each may do.
pub const SERVICE_ACCOUNTS: &[(&str, Access)] = &[
    ("api", Access { cognito_list_users: true, bucket: true, master_secret: false }),
    ("matching-service", Access { cognito_list_users: false, bucket: false, master_secret: false }),
    ("worker", Access { cognito_list_users: false, bucket: true, master_secret: false }),
    (crate::workloads::DATABASE_ADMIN_SERVICE_ACCOUNT, Access { cognito_list_users: false, bucket: false, master_secret: true }),
];
/// Thumbprint of the root CA of EKS OIDC issuers (IAM no longer checks it for them, but the API wants one).
pub const OIDC_THUMBPRINT: &str = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280";
/// TLS policy of the HTTPS listener.
pub const SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";
/// The address of the stack's own KMS key (absent when the stack brings one).
pub const KMS_KEY: &str = "security.kms_key";
/// Days KMS waits before it deletes the stack's key after `destroy`: AWS's maximum (and its
/// default). Destroy leaves a final database snapshot encrypted with this key, readable only
/// while the key exists; the longest window gives the most time to keep it (`CancelKeyDeletion`).
pub const KMS_DELETION_WINDOW_DAYS: u32 = 30;
/// Days a replaced or deleted version of an import/export file is kept in the versioned bucket
/// before S3 expires it: long enough to recover a mistaken overwrite or delete, short enough
/// that deleted PHI does not stay forever. Fixed, not the stack's log retention: these are
/// working files, the database is the system of record.
pub const NONCURRENT_VERSION_DAYS: u32 = 90;
/// Days after which S3 aborts an unfinished multipart upload (and drops its parts).
pub const ABORT_MULTIPART_DAYS: u32 = 7;
/// Days Performance Insights keeps its data: the free tier.
pub const PERFORMANCE_INSIGHTS_RETENTION_DAYS: u32 = 7;

/// What one IRSA role may do besides reading the config secret.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub cognito_list_users: bool,
    pub bucket: bool,
    /// Reads the RDS master user's secret (the database-role Job only).
    pub master_secret: bool,
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

/// The Cognito pool's password policy: CIS AWS Foundations Benchmark's account password policy
/// (recommendations 1.8 and 1.9: at least 14 characters, the last 24 passwords not reused) with
/// every character class, and the invitation's temporary password valid 7 days (Cognito's default).
pub fn password_policy() -> Value {
    json!({
        "minimum_length": 14,
        "require_lowercase": true,
        "require_uppercase": true,
        "require_numbers": true,
        "require_symbols": true,
        "temporary_password_validity_days": 7,
        "password_history_size": 24,
    })
}

/// The port of an `https://` URL (443 unless it names one).
fn https_port(url: &str) -> u32 {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', '?', '#']).next().unwrap_or_default();
    host.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(443)
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
    let mut out = Vec::new();
    let net = network_area(stack, &mut out);
    iam_area(stack, account, &mut out);
    security_area(stack, account, &mut out);
    cluster_area(stack, &net, &mut out);
    config_secret(stack, &mut out);
    database_area(stack, &net, &mut out);
    identity_area(stack, &mut out);
    storage_area(stack, account, &mut out);
    edge_area(stack, &net, &mut out);
    audit_area(stack, account, &mut out);
    config_document(stack, &mut out);
    out.extend(crate::workloads::expand(stack));
    out
}

/// What the other areas use of the network: subnet and route table ids, by zone.
struct Network {
    public_subnets: Vec<Expr>,
    private_subnets: Vec<Expr>,
    private_route_tables: Vec<Expr>,
}

fn list(xs: Vec<Expr>) -> Expr {
    Expr::List(xs)
}

fn network_area(stack: &Stack, out: &mut Vec<ResourceSpec>) -> Network {
    let n = &stack.name;
    let azs = zones(stack);
    let nats = stack.network.nat_gateways as usize;
    let vpc_name = format!("{n}-vpc");
    out.push(
        network::Vpc {
            cidr_block: stack.network.cidr.as_str().into(),
            enable_dns_hostnames: true.into(),
            enable_dns_support: true.into(),
            tags: tags(stack, "network.vpc", &vpc_name),
        }
        .spec("network.vpc", &vpc_name),
    );
    let igw = format!("{n}-igw");
    out.push(
        routing::InternetGateway { vpc_id: r("network.vpc", "id"), tags: tags(stack, "network.internet_gateway", &igw) }
            .spec("network.internet_gateway", &igw),
    );
    let mut net = Network { public_subnets: Vec::new(), private_subnets: Vec::new(), private_route_tables: Vec::new() };
    for (i, az) in azs.iter().enumerate() {
        for (kind, index, role_tag) in
            [("public", i as u32, "kubernetes.io/role/elb"), ("private", 4 + i as u32, "kubernetes.io/role/internal-elb")]
        {
            let addr = format!("network.{kind}_subnet[{i}]");
            let name = format!("{n}-{kind}-{az}");
            let mut t = stack.resource_tags(&addr, &name);
            t.insert(role_tag.into(), "1".into());
            out.push(
                network::Subnet {
                    vpc_id: r("network.vpc", "id"),
                    cidr_block: subnet_cidr(&stack.network.cidr, index).into(),
                    availability_zone: az.as_str().into(),
                    map_public_ip_on_launch: false.into(),
                    tags: Expr::lit(serde_json::to_value(t).unwrap()),
                }
                .spec(&addr, &name),
            );
            if kind == "public" { &mut net.public_subnets } else { &mut net.private_subnets }.push(r(&addr, "id"));
        }
    }
    for j in 0..nats {
        let eip = format!("{n}-nat-{}", azs[j]);
        let (eip_addr, nat_addr) = (format!("network.nat_eip[{j}]"), format!("network.nat_gateway[{j}]"));
        out.push(routing::Eip { tags: tags(stack, &eip_addr, &eip) }.spec(&eip_addr, &eip));
        out.push(
            routing::NatGateway {
                subnet_id: net.public_subnets[j].clone(),
                allocation_id: r(&eip_addr, "id"),
                tags: tags(stack, &nat_addr, &eip),
            }
            .spec(&nat_addr, &eip)
            .after("network.internet_gateway"),
        );
    }
    let default_route = |target: (&str, Expr)| list(vec![obj(vec![("destination_cidr_block", s("0.0.0.0/0")), target])]);
    let public_rt = format!("{n}-public");
    out.push(
        routing::RouteTable {
            vpc_id: r("network.vpc", "id"),
            routes: default_route(("gateway_id", r("network.internet_gateway", "id"))),
            tags: tags(stack, "network.public_route_table", &public_rt),
        }
        .spec("network.public_route_table", &public_rt),
    );
    for (i, az) in azs.iter().enumerate() {
        let name = format!("{n}-private-{az}");
        let addr = format!("network.private_route_table[{i}]");
        out.push(
            routing::RouteTable {
                vpc_id: r("network.vpc", "id"),
                routes: default_route(("nat_gateway_id", r(&format!("network.nat_gateway[{}]", i.min(nats - 1)), "id"))),
                tags: tags(stack, &addr, &name),
            }
            .spec(&addr, &name),
        );
        net.private_route_tables.push(r(&addr, "id"));
        for (kind, rt) in [("public", r("network.public_route_table", "id")), ("private", r(&addr, "id"))] {
            let subnet = if kind == "public" { net.public_subnets[i].clone() } else { net.private_subnets[i].clone() };
            out.push(
                routing::RouteTableAssociation { subnet_id: subnet, route_table_id: rt }
                    .spec(&format!("network.{kind}_route_table_association[{i}]"), &format!("{n}-{kind}-{az}")),
            );
        }
    }
    let mut sg = |addr: &str, name: &str, description: &str, ingress: Vec<Expr>, egress: Vec<Expr>| {
        out.push(
            network::SecurityGroup {
                vpc_id: r("network.vpc", "id"),
                description: description.into(),
                ingress: list(ingress),
                egress: list(egress),
                tags: tags(stack, addr, name),
            }
            .spec(addr, name),
        );
    };
    let from_sg = |g: &str| ("source_security_group_id", r(g, "id"));
    let anywhere = || ("cidr_block", s("0.0.0.0/0"));
    let myself = || ("self", Expr::lit(true));
    // the nodes and the database live in the private subnets; egress to them names their ranges, as
    // the groups naming each other both ways (ingress and egress) would be a cycle
    let private: Vec<String> = (0..azs.len()).map(|i| subnet_cidr(&stack.network.cidr, 4 + i as u32)).collect();
    let to_private = |from: u32, to: u32| -> Vec<Expr> { private.iter().map(|c| rule("tcp", from, to, ("cidr_block", s(c)))).collect() };
    let idp_port = stack.identity.keycloak().map(|k| https_port(&k.server_url)).unwrap_or(443);
    let https_out = |port: u32| -> Vec<Expr> {
        let mut v = vec![rule("tcp", 443, 443, anywhere())];
        if port != 443 {
            v.push(rule("tcp", port, port, anywhere()));
        }
        v
    };
    let node_ports = [API_NODE_PORT, API_HEALTH_NODE_PORT, FRONTEND_NODE_PORT];
    sg(
        "network.alb_security_group",
        &format!("{n}-alb"),
        "Tuva EMPI load balancer: HTTPS and HTTP from the internet",
        vec![rule("tcp", 443, 443, anywhere()), rule("tcp", 80, 80, anywhere())],
        // the node ports; and HTTPS to the identity provider's token and user-info endpoints, which
        // the load balancer calls itself when it authenticates a user
        node_ports.iter().flat_map(|&p| to_private(p, p)).chain(https_out(idp_port)).collect(),
    );
    sg(
        "network.node_security_group",
        &format!("{n}-nodes"),
        "Tuva EMPI worker nodes: node ports from the load balancer only",
        node_ports
            .iter()
            .map(|&p| rule("tcp", p, p, from_sg("network.alb_security_group")))
            // node to node (pods, CoreDNS) and the control plane, whose network interfaces carry this group too
            .chain([rule("-1", 0, 0, myself())])
            .collect(),
        // each other and the control plane; HTTPS for ECR, STS, EKS, Cognito, S3 and the VPC endpoints
        // (and the identity provider's admin API); PostgreSQL in the private subnets. DNS to the VPC
        // resolver, instance metadata and time sync are never filtered by security groups.
        [rule("-1", 0, 0, myself())].into_iter().chain(https_out(idp_port)).chain(to_private(5432, 5432)).collect(),
    );
    sg(
        "network.database_security_group",
        &format!("{n}-database"),
        "Tuva EMPI PostgreSQL: 5432 from the worker nodes only",
        vec![rule("tcp", 5432, 5432, from_sg("network.node_security_group"))],
        vec![],
    );
    sg(
        "network.endpoint_security_group",
        &format!("{n}-endpoints"),
        "Tuva EMPI VPC endpoints: HTTPS from the worker nodes only",
        vec![rule("tcp", 443, 443, from_sg("network.node_security_group"))],
        vec![],
    );
    let default_sg = format!("{n}-default");
    out.push(
        network::DefaultSecurityGroup {
            vpc_id: r("network.vpc", "id"),
            ingress: list(vec![]),
            egress: list(vec![]),
            tags: tags(stack, "network.default_security_group", &default_sg),
        }
        .spec("network.default_security_group", &default_sg),
    );
    for (svc, kind) in [("secretsmanager", "Interface"), ("logs", "Interface"), ("s3", "Gateway")] {
        let addr = format!("network.{svc}_endpoint");
        let name = format!("{n}-{svc}");
        let interface = kind == "Interface";
        out.push(
            routing::VpcEndpoint {
                vpc_id: r("network.vpc", "id"),
                service_name: format!("com.amazonaws.{}.{svc}", stack.region).into(),
                vpc_endpoint_type: kind.into(),
                tags: tags(stack, &addr, &name),
                subnet_ids: interface.then(|| list(net.private_subnets.clone())),
                security_group_ids: interface.then(|| list(vec![r("network.endpoint_security_group", "id")])),
                private_dns_enabled: interface.then(|| true.into()),
                route_table_ids: (!interface).then(|| list(net.private_route_tables.clone())),
            }
            .spec(&addr, &name),
        );
    }
    net
}

fn iam_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let service_trust = |service: &str| {
        Expr::lit(json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
        }))
    };
    for (addr, name, service, policies) in [
        ("iam.cluster_role", format!("{n}-eks-cluster"), "eks.amazonaws.com", &[EKS_CLUSTER_POLICY][..]),
        ("iam.node_role", format!("{n}-eks-node"), "ec2.amazonaws.com", NODE_POLICIES),
    ] {
        out.push(
            iam::Role {
                assume_role_policy: service_trust(service),
                managed_policy_arns: strings(policies),
                inline_policies: Expr::lit(json!({})),
                tags: tags(stack, addr, &name),
            }
            .spec(addr, &name),
        );
    }
    let oidc = format!("{n}-oidc");
    out.push(
        iam::OidcProvider {
            url: r("cluster.eks", "oidc_issuer"),
            client_ids: strings(&["sts.amazonaws.com"]),
            thumbprints: strings(&[OIDC_THUMBPRINT]),
            tags: tags(stack, "iam.oidc_provider", &oidc),
        }
        .spec("iam.oidc_provider", &oidc),
    );
    let bucket = bucket_name(stack, account);
    let job_runner = (stack.app.matching_job_runner == "k8s").then_some((
        crate::workloads::MATCHING_JOB_SERVICE_ACCOUNT,
        Access { cognito_list_users: false, bucket: false, master_secret: false },
    ));
    for (sa, access) in SERVICE_ACCOUNTS.iter().copied().chain(job_runner) {
        let sa_ns =
            if sa == crate::workloads::MATCHING_JOB_SERVICE_ACCOUNT { &stack.app.matching_job_namespace } else { &stack.app.namespace };
        let addr = format!("iam.{}_role", sa.replace('-', "_"));
        let name = format!("{n}-{sa}");
        let host = r("iam.oidc_provider", "issuer_host");
        let trust = Expr::Json(Box::new(cat(vec![
            s(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":""#),
            r("iam.oidc_provider", "arn"),
            s(r#""},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{""#),
            host.clone(),
            s(&format!(r#":sub":"system:serviceaccount:{sa_ns}:{sa}",""#)),
            host,
            s(r#":aud":"sts.amazonaws.com"}}}]}"#),
        ])));
        let allow = |sid: &str, action: Expr, resource: Expr| {
            obj(vec![("Sid", s(sid)), ("Effect", s("Allow")), ("Action", action), ("Resource", resource)])
        };
        let mut statements = vec![
            allow("ReadConfig", s("secretsmanager:GetSecretValue"), r("config.secret", "arn")),
            // the config secret and the bucket's objects are encrypted with the stack's key
            allow("UseKey", strings(&["kms:Decrypt", "kms:GenerateDataKey"]), kms_key_arn(stack)),
        ];
        // Tuva finds users through its identity provider: Cognito by the AWS API (this role), Keycloak
        // by its admin API with the client's own credentials (in the config secret, read above)
        if access.cognito_list_users && stack.identity.cognito_domain_prefix().is_some() {
            statements.push(allow("FindUsers", s("cognito-idp:ListUsers"), r("identity.user_pool", "arn")));
        }
        if access.master_secret {
            statements.push(allow(
                "ReadMasterSecret",
                s("secretsmanager:GetSecretValue"),
                r("database.instance", "master_user_secret_arn"),
            ));
        }
        if access.bucket {
            statements.push(allow("ListBucket", s("s3:ListBucket"), Expr::lit(format!("arn:aws:s3:::{bucket}"))));
            statements.push(allow(
                "Objects",
                strings(&["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
                Expr::lit(format!("arn:aws:s3:::{bucket}/*")),
            ));
        }
        let policy = obj(vec![("Version", s("2012-10-17")), ("Statement", list(statements))]);
        out.push(
            iam::Role {
                assume_role_policy: trust,
                managed_policy_arns: Expr::lit(json!([])),
                inline_policies: obj(vec![("tuva-empi", policy)]),
                tags: tags(stack, &addr, &name),
            }
            .spec(&addr, &name)
            .after("storage.bucket"),
        );
    }
}

/// The ARN of the key that encrypts the stack: the one it brings (`[security] kms_key_arn`) or
/// its own (`security.kms_key`). Whatever else should be encrypted with the stack's key (log
/// groups' `kms_key_id`) takes it from here.
pub fn kms_key_arn(stack: &Stack) -> Expr {
    match &stack.security.kms_key_arn {
        Some(arn) => Expr::lit(arn.as_str()),
        None => r(KMS_KEY, "arn"),
    }
}

/// The CloudWatch log groups the stack's key may encrypt (the key policy's encryption-context
/// condition for the CloudWatch Logs service): EKS's control-plane group, RDS's PostgreSQL
/// export groups, WAF's (AWS requires the `aws-waf-logs-` prefix), and the stack's own under
/// `/empi-infra/<name>/`.
pub fn log_group_arns(stack: &Stack, account: &str) -> Vec<String> {
    let (p, region, n) = (crate::arn::partition_of(&stack.region), &stack.region, &stack.name);
    let group = |name: String| format!("arn:{p}:logs:{region}:{account}:log-group:{name}");
    vec![
        group(format!("/aws/eks/{n}/cluster")),
        group(format!("/aws/rds/instance/{n}-db/*")),
        group(format!("aws-waf-logs-{n}*")),
        group(format!("/empi-infra/{n}/*")),
    ]
}

/// The key policy of the stack's own key: the account (so IAM policies, such as the operator's,
/// govern its use and administration: KMS's default), the account's principals through the
/// services that encrypt the stack's data, the cluster role (EKS encrypts Kubernetes secrets
/// with it), and CloudWatch Logs for the stack's log groups only.
fn key_policy(stack: &Stack, account: &str) -> Expr {
    let (p, region) = (crate::arn::partition_of(&stack.region), &stack.region);
    let via: Vec<String> = ["eks", "rds", "secretsmanager", "s3"].iter().map(|s| format!("{s}.{region}.amazonaws.com")).collect();
    let usage = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"];
    let head = json!([
        {
            "Sid": "AccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{p}:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        },
        {
            "Sid": "StackServices",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{p}:iam::{account}:root")},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account, "kms:ViaService": via}}
        },
        {
            "Sid": "CloudWatchLogs",
            "Effect": "Allow",
            "Principal": {"Service": format!("logs.{region}.amazonaws.com")},
            "Action": usage,
            "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns(stack, account)}}
        }
    ]);
    let Value::Array(head) = head else { unreachable!() };
    let mut statements: Vec<Expr> = head.into_iter().map(Expr::lit).collect();
    statements.insert(
        2,
        obj(vec![
            ("Sid", s("ClusterSecrets")),
            ("Effect", s("Allow")),
            ("Principal", obj(vec![("AWS", r("iam.cluster_role", "arn"))])),
            ("Action", strings(&["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"])),
            ("Resource", s("*")),
        ]),
    );
    obj(vec![("Version", s("2012-10-17")), ("Statement", list(statements))])
}

/// The stack's customer-managed KMS key, unless it brings one.
fn security_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    if stack.security.kms_key_arn.is_some() {
        return;
    }
    let n = &stack.name;
    out.push(
        kms::Key {
            description: format!(
                "Encrypts Tuva EMPI stack {n}: Kubernetes secrets, database, config secret, bucket, logs (managed by empi-infra)"
            )
            .into(),
            enable_key_rotation: true.into(),
            policy: key_policy(stack, account),
            alias: format!("alias/{n}").into(),
            deletion_window_in_days: KMS_DELETION_WINDOW_DAYS.into(),
            tags: tags(stack, KMS_KEY, n),
        }
        .spec(KMS_KEY, n),
    );
}

fn cluster_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    out.push(
        eks::Cluster {
            version: stack.cluster.kubernetes_version.as_str().into(),
            role_arn: r("iam.cluster_role", "arn"),
            subnet_ids: list(net.private_subnets.clone()),
            security_group_ids: list(vec![r("network.node_security_group", "id")]),
            endpoint_private_access: true.into(),
            endpoint_public_access: true.into(),
            public_access_cidrs: Expr::lit(json!(stack.cluster.public_access_cidrs)),
            enabled_log_types: strings(EKS_LOG_TYPES),
            authentication_mode: AUTHENTICATION_MODE.into(),
            encryption_key_arn: kms_key_arn(stack),
            tags: tags(stack, "cluster.eks", n),
        }
        .spec("cluster.eks", n)
        // EKS writes to its log group as soon as the control plane starts: it must be ours first
        .after("audit.eks_log_group"),
    );
    let lt = format!("{n}-nodes");
    out.push(
        eks::LaunchTemplate {
            // the nodes' group only: EKS's cluster security group allows all egress, and a node in
            // both groups could reach anything. The control plane's interfaces carry the nodes'
            // group too (`cluster.eks` `security_group_ids`), which admits itself both ways.
            security_group_ids: list(vec![r("network.node_security_group", "id")]),
            http_tokens: "required".into(),
            // one hop: the node's own processes (kubelet, the VPC CNI on the host network) reach
            // IMDS, pods behind their own network namespace do not (they use IRSA, never the node role)
            http_put_response_hop_limit: 1u32.into(),
            tags: tags(stack, "cluster.node_launch_template", &lt),
        }
        .spec("cluster.node_launch_template", &lt),
    );
    let nodes = &stack.cluster.nodes;
    let ng = format!("{n}-nodes");
    out.push(
        eks::NodeGroup {
            cluster_name: r("cluster.eks", "name"),
            node_role_arn: r("iam.node_role", "arn"),
            subnet_ids: list(net.private_subnets.clone()),
            instance_types: Expr::lit(json!(nodes.instance_types)),
            min_size: nodes.min.into(),
            max_size: nodes.max.into(),
            desired_size: nodes.desired.into(),
            launch_template_id: r("cluster.node_launch_template", "id"),
            launch_template_version: r("cluster.node_launch_template", "latest_version"),
            ami_type: nodes.ami_type.as_str().into(),
            tags: tags(stack, "cluster.node_group", &ng),
        }
        .spec("cluster.node_group", &ng),
    );
    for (i, principal) in stack.cluster.admins.iter().enumerate() {
        out.push(
            eks::AccessEntry {
                cluster_name: r("cluster.eks", "name"),
                principal_arn: principal.as_str().into(),
                policy_arn: CLUSTER_ADMIN_POLICY.into(),
            }
            .spec(&format!("cluster.admin[{i}]"), principal),
        );
    }
}

/// The config secret's name.
fn secret_name(stack: &Stack) -> String {
    format!("{}/tuva-empi-config", stack.name)
}

/// The config secret: it holds the generated secrets; the database reads its password from it.
fn config_secret(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let secret = secret_name(stack);
    out.push(
        secrets::Secret {
            description: format!("Tuva EMPI backend configuration of stack {} (managed by empi-infra)", stack.name).into(),
            kms_key_id: kms_key_arn(stack),
            tags: tags(stack, "config.secret", &secret),
        }
        .spec("config.secret", &secret),
    );
}

fn database_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let sng = format!("{n}-db");
    out.push(
        rds::SubnetGroup {
            description: format!("Tuva EMPI database subnets of stack {n}").into(),
            vpc_id: r("network.vpc", "id"),
            subnet_ids: list(net.private_subnets.clone()),
            tags: tags(stack, "database.subnet_group", &sng),
        }
        .spec("database.subnet_group", &sng),
    );
    let (family, pg_name) = parameter_group(stack);
    out.push(
        rds::ParameterGroup {
            family: family.into(),
            description: format!("Tuva EMPI PostgreSQL parameters of stack {n}").into(),
            parameters: Expr::lit(json!({"rds.force_ssl": "1", "log_connections": "1", "log_disconnections": "1"})),
            tags: tags(stack, "database.parameter_group", &pg_name),
        }
        .spec("database.parameter_group", &pg_name),
    );
    let db = &stack.database;
    let dbi = format!("{n}-db");
    out.push(
        rds::Instance {
            engine: "postgres".into(),
            engine_version: db.engine_version.as_str().into(),
            instance_class: db.instance_class.as_str().into(),
            allocated_storage: db.allocated_storage_gb.into(),
            storage_type: "gp3".into(),
            storage_encrypted: true.into(),
            kms_key_id: kms_key_arn(stack),
            performance_insights_enabled: true.into(),
            performance_insights_kms_key_id: kms_key_arn(stack),
            performance_insights_retention_period: PERFORMANCE_INSIGHTS_RETENTION_DAYS.into(),
            publicly_accessible: false.into(),
            multi_az: db.multi_az.into(),
            backup_retention_period: db.backup_retention_days.into(),
            deletion_protection: db.deletion_protection.into(),
            copy_tags_to_snapshot: true.into(),
            db_name: DB_NAME.into(),
            master_username: DB_USER.into(),
            db_subnet_group_name: r("database.subnet_group", "id"),
            db_parameter_group_name: r("database.parameter_group", "id"),
            vpc_security_group_ids: list(vec![r("network.database_security_group", "id")]),
            tags: tags(stack, "database.instance", &dbi),
            enabled_cloudwatch_logs_exports: Some(strings(DB_LOG_EXPORTS)),
            manage_master_user_password: Some(true.into()),
            master_user_secret_kms_key_id: Some(kms_key_arn(stack)),
            master_password: None,
            master_password_secret_arn: None,
        }
        .spec("database.instance", &dbi)
        // RDS publishes to /aws/rds/instance/<id>/postgresql, making it (never to expire) if missing
        .after("audit.database_log_group"),
    );
}

/// Cognito: the user pool, its domain, the ALB's client and the initial admin. Keycloak: nothing
/// here (the realm, client and users are the organisation's; `plan` checks them first).
fn identity_area(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let Some(domain_prefix) = stack.identity.cognito_domain_prefix() else { return };
    let n = &stack.name;
    let pool = format!("{n}-users");
    out.push(
        cognito::UserPool {
            username_attributes: strings(&["email"]),
            auto_verified_attributes: strings(&["email"]),
            admin_create_user_only: true.into(),
            mfa_configuration: stack.identity.cognito_mfa().unwrap_or(crate::stack::Mfa::Required).cognito().into(),
            password_policy: Expr::lit(password_policy()),
            // threat protection (compromised credentials, adaptive authentication) needs the Plus
            // feature plan, priced per monthly active user (docs/IDENTITY.md)
            user_pool_tier: "PLUS".into(),
            advanced_security_mode: "ENFORCED".into(),
            deletion_protection: true.into(),
            tags: tags(stack, "identity.user_pool", &pool),
        }
        .spec("identity.user_pool", &pool),
    );
    out.push(cognito::Domain { user_pool_id: r("identity.user_pool", "id") }.spec("identity.domain", domain_prefix));
    let client = format!("{n}-alb");
    out.push(
        cognito::Client {
            user_pool_id: r("identity.user_pool", "id"),
            generate_secret: true.into(),
            allowed_oauth_flows: strings(&["code"]),
            allowed_oauth_scopes: strings(&["openid", "email"]),
            callback_urls: Expr::lit(json!([format!("https://{}/oauth2/idpresponse", stack.app.hostname)])),
            supported_identity_providers: strings(&["COGNITO"]),
            prevent_user_existence_errors: "ENABLED".into(),
        }
        .spec("identity.app_client", &client),
    );
    out.push(
        cognito::User {
            user_pool_id: r("identity.user_pool", "id"),
            email: stack.identity.admin_email.as_str().into(),
            email_verified: true.into(),
        }
        .spec("identity.admin_user", &stack.identity.admin_email),
    );
}

fn storage_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let bucket = bucket_name(stack, account);
    let arn = format!("arn:{}:s3:::{bucket}", crate::arn::partition_of(&stack.region));
    // TLS only: any request over plain HTTP is denied, whoever makes it
    let tls_only = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn.clone(), format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    });
    out.push(
        s3::Bucket {
            versioning: true.into(),
            encryption: "aws:kms".into(),
            kms_key_arn: kms_key_arn(stack),
            bucket_key: true.into(),
            block_public_access: true.into(),
            policy: Expr::lit(tls_only),
            noncurrent_version_expiration_days: NONCURRENT_VERSION_DAYS.into(),
            abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS.into(),
            tags: tags(stack, "storage.bucket", &bucket),
            expiration_days: None,
            access_log_bucket: Some(r("audit.log_bucket", "id")),
            access_log_prefix: Some(S3_ACCESS_LOG_PREFIX.into()),
            force_destroy: None,
        }
        .spec("storage.bucket", &bucket),
    );
}

fn edge_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
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
    for (which, port, health, health_port) in
        [("api", API_NODE_PORT, API_HEALTH_PATH, api_health), ("frontend", FRONTEND_NODE_PORT, FRONTEND_HEALTH_PATH, None)]
    {
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
        out.push(waf::WebAcl { managed_rule_groups: strings(WAF_RULE_GROUPS), tags: tags(stack, "edge.waf", &waf) }.spec("edge.waf", &waf));
        out.push(
            waf::WebAclAssociation { web_acl_arn: r("edge.waf", "arn"), resource_arn: r("edge.alb", "arn") }
                .spec("edge.waf_association", &waf),
        );
    }
}

/// Key prefixes in the log bucket: ALB access logs, the storage bucket's server access logs, the trail.
pub const ALB_LOG_PREFIX: &str = "alb";
pub const S3_ACCESS_LOG_PREFIX: &str = "s3-access/";
pub const TRAIL_LOG_PREFIX: &str = "cloudtrail";
/// PostgreSQL logs RDS publishes to CloudWatch Logs (the server log: connections, disconnections,
/// errors; `upgrade` is only written during major version upgrades).
pub const DB_LOG_EXPORTS: &[&str] = &["postgresql"];

/// The log bucket's name: global, so it carries the account id.
pub fn log_bucket_name(stack: &Stack, account: &str) -> String {
    format!("{}-logs-{account}", stack.name)
}

/// The CloudWatch log groups of the stack: (address, name). Each service writes to a group of a
/// name it decides (EKS, RDS) or that we give it (flow logs; WAF's must start `aws-waf-logs-`).
pub fn log_groups(stack: &Stack) -> Vec<(&'static str, String)> {
    let n = &stack.name;
    let mut v = vec![
        ("audit.eks_log_group", format!("/aws/eks/{n}/cluster")),
        ("audit.database_log_group", format!("/aws/rds/instance/{n}-db/postgresql")),
        ("audit.flow_log_group", format!("/empi-infra/{n}/vpc-flow-logs")),
    ];
    if stack.edge.waf {
        v.push(("audit.waf_log_group", format!("aws-waf-logs-{n}")));
    }
    v
}

/// The Elastic Load Balancing account that writes ALB access logs in the regions opened before
/// August 2022 (Elastic Load Balancing User Guide, "Enable access logs for your Application Load
/// Balancer", step 2). Regions opened since accept only the log delivery service principal
/// `logdelivery.elasticloadbalancing.amazonaws.com`, which the policy always grants as well.
pub fn elb_log_account(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "127311923021",
        "us-east-2" => "033677994240",
        "us-west-1" => "027434742980",
        "us-west-2" => "797873946194",
        "af-south-1" => "098369216593",
        "ap-east-1" => "754344448648",
        "ap-south-1" => "718504428378",
        "ap-northeast-1" => "582318560864",
        "ap-northeast-2" => "600734575887",
        "ap-northeast-3" => "383597477331",
        "ap-southeast-1" => "114774131450",
        "ap-southeast-2" => "783225319266",
        "ca-central-1" => "985666609251",
        "eu-central-1" => "054676820928",
        "eu-west-1" => "156460612806",
        "eu-west-2" => "652711504416",
        "eu-west-3" => "009996457667",
        "eu-south-1" => "635631232127",
        "eu-north-1" => "897822967062",
        "me-south-1" => "076674570225",
        "sa-east-1" => "507241528517",
        _ => return None,
    })
}

/// The trail's name and ARN (known before it exists: the log bucket's policy names it).
pub fn trail(stack: &Stack, account: &str) -> (String, String) {
    let name = format!("{}-trail", stack.name);
    let arn = format!("arn:aws:cloudtrail:{}:{account}:trail/{name}", stack.region);
    (name, arn)
}

/// The log bucket's policy: TLS only, and writes by the services that deliver logs to it, each
/// to its own prefix and (where AWS supports the condition) only for this account's resources.
pub fn log_bucket_policy(stack: &Stack, account: &str) -> Value {
    let bucket = log_bucket_name(stack, account);
    let arn = format!("arn:aws:s3:::{bucket}");
    let alb_logs = format!("{arn}/{ALB_LOG_PREFIX}/AWSLogs/{account}/*");
    let mut statements = vec![
        json!({
            // `{"AWS": "*"}` is IAM's spelling of every principal, as `"*"` is (moto 5.2.5's bucket
            // logging check fails on a bare `"*"`)
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
            "Resource": [arn, format!("{arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "AlbAccessLogs", "Effect": "Allow",
            "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": alb_logs
        }),
    ];
    if let Some(elb) = elb_log_account(&stack.region) {
        statements.push(json!({
            "Sid": "AlbAccessLogsRegionalAccount", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{elb}:root")},
            "Action": "s3:PutObject", "Resource": alb_logs
        }));
    }
    statements.push(json!({
        "Sid": "S3ServerAccessLogs", "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": format!("{arn}/{S3_ACCESS_LOG_PREFIX}*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{}", bucket_name(stack, account))},
            "StringEquals": {"aws:SourceAccount": account}
        }
    }));
    if stack.security.cloudtrail {
        let (_, trail_arn) = trail(stack, account);
        statements.push(json!({
            "Sid": "CloudTrailAclCheck", "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl", "Resource": arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}}
        }));
        statements.push(json!({
            "Sid": "CloudTrailWrite", "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject", "Resource": format!("{arn}/{TRAIL_LOG_PREFIX}/AWSLogs/{account}/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}}
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// Audit controls: the log groups (before the services that write to them), the VPC flow log and
/// its role, the log bucket, WAF logging and the optional trail.
fn audit_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let days = stack.security.log_retention_days;
    for (addr, name) in log_groups(stack) {
        out.push(
            logs::LogGroup {
                retention_in_days: days.into(),
                tags: tags(stack, addr, &name),
                // the stack's key: its policy lets CloudWatch Logs use it for these groups only
                // (`log_group_arns`, the `kms:EncryptionContext:aws:logs:arn` condition)
                kms_key_id: Some(kms_key_arn(stack)),
                force_destroy: Some(stack.security.force_destroy_logs.into()),
            }
            .spec(addr, &name),
        );
    }
    let role = format!("{n}-vpc-flow-logs");
    let (_, flow_group) = log_groups(stack).into_iter().find(|(a, _)| *a == "audit.flow_log_group").expect("flow log group");
    let region = &stack.region;
    let group_arn = format!("arn:aws:logs:{region}:{account}:log-group:{flow_group}");
    out.push(
        iam::Role {
            // the flow-logs service, only for this account's flow logs (AWS's confused-deputy guidance)
            assume_role_policy: Expr::lit(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": format!("arn:aws:ec2:{region}:{account}:vpc-flow-log/*")}
                    }
                }]
            })),
            managed_policy_arns: Expr::lit(json!([])),
            inline_policies: Expr::lit(json!({"flow-logs": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Deliver", "Effect": "Allow",
                     "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                     "Resource": [group_arn.clone(), format!("{group_arn}:*")]},
                    {"Sid": "FindGroup", "Effect": "Allow", "Action": "logs:DescribeLogGroups",
                     "Resource": format!("arn:aws:logs:{region}:{account}:log-group:*")}
                ]
            }})),
            tags: tags(stack, "audit.flow_log_role", &role),
        }
        .spec("audit.flow_log_role", &role),
    );
    let flow = format!("{n}-vpc");
    out.push(
        logs::FlowLog {
            vpc_id: r("network.vpc", "id"),
            traffic_type: "ALL".into(),
            log_destination: r("audit.flow_log_group", "arn"),
            iam_role_arn: r("audit.flow_log_role", "arn"),
            tags: tags(stack, "audit.flow_log", &flow),
        }
        .spec("audit.flow_log", &flow),
    );
    let bucket = log_bucket_name(stack, account);
    out.push(
        s3::Bucket {
            versioning: true.into(),
            // ALB access logs can only be delivered to a bucket encrypted with SSE-S3 (Elastic
            // Load Balancing User Guide, "Access logs for your Application Load Balancer": SSE-KMS
            // is not supported for the access logs bucket), so this bucket is not under the stack's key
            encryption: "AES256".into(),
            kms_key_arn: "".into(),
            bucket_key: false.into(),
            block_public_access: true.into(),
            // TLS only, and the log delivery services' writes
            policy: Expr::lit(log_bucket_policy(stack, account)),
            // a log and its replaced versions are kept the stack's retention, then expire
            noncurrent_version_expiration_days: days.into(),
            abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS.into(),
            tags: tags(stack, "audit.log_bucket", &bucket),
            expiration_days: Some(days.into()),
            access_log_bucket: None,
            access_log_prefix: None,
            force_destroy: Some(stack.security.force_destroy_logs.into()),
        }
        .spec("audit.log_bucket", &bucket),
    );
    if stack.edge.waf {
        out.push(
            waf::WebAclLogging { resource_arn: r("edge.waf", "arn"), log_destination_arn: r("audit.waf_log_group", "arn") }
                .spec("audit.waf_logging", &format!("{n}-waf")),
        );
    }
    if stack.security.cloudtrail {
        let (name, _) = trail(stack, account);
        out.push(
            logs::Trail {
                s3_bucket_name: r("audit.log_bucket", "id"),
                s3_key_prefix: TRAIL_LOG_PREFIX.into(),
                is_multi_region_trail: true.into(),
                include_global_service_events: true.into(),
                enable_log_file_validation: true.into(),
                enable_logging: true.into(),
                tags: tags(stack, "audit.trail", &name),
                // the stack's KMS key (issue #16, its own part) is wired here
                kms_key_id: None,
            }
            .spec("audit.trail", &name),
        );
    }
}

/// The ALB's `authenticate-oidc` action for a Keycloak realm: the discovery document's endpoints and
/// the client; its secret is read from `client_secret_arn` when the listener is written.
fn oidc_action(kc: &KeycloakConfig) -> Expr {
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
/// Where the config document holds the Keycloak client secret (copied from `client_secret_arn`).
pub const KEYCLOAK_SECRET_POINTER: &str = "/idp/keycloak/client_secret";

/// The config document's `idp` block (upstream's `IdpConfig`).
fn idp_block(stack: &Stack) -> Expr {
    match stack.identity.keycloak() {
        None => obj(vec![
            ("backend", s("aws-cognito")),
            (
                "aws_cognito",
                obj(vec![
                    ("cognito_user_pool_id", r("identity.user_pool", "id")),
                    ("jwt_header", s(ALB_TOKEN_HEADER)),
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
        Some(kc) => obj(vec![
            ("backend", s("keycloak")),
            (
                "keycloak",
                obj(vec![
                    ("server_url", s(&kc.server_url)),
                    ("realm", s(&kc.realm)),
                    ("jwt_header", s(ALB_TOKEN_HEADER)),
                    ("jwks_url", s(&kc.endpoints.jwks_uri)),
                    ("client_id", s(&kc.client_id)),
                    ("client_secret", s(SENSITIVE)),
                    ("jwt_aud", s(&kc.jwt_aud)),
                ]),
            ),
        ]),
    }
}

/// The config's `matching_service` block. The `k8s_job_runner` block only with the k8s runner:
/// upstream requires `job_image` (from the environment) whenever the block is present.
fn matching_service(stack: &Stack) -> Expr {
    let mut block = vec![("job_runner", s(&stack.app.matching_job_runner))];
    if stack.app.matching_job_runner == "k8s" {
        let mut runner = vec![
            ("job_image_pull_policy", s("IfNotPresent")),
            ("job_service_account_name", s(crate::workloads::MATCHING_JOB_SERVICE_ACCOUNT)),
        ];
        if stack.app.tuva.job_namespace {
            runner.push(("job_namespace", s(&stack.app.matching_job_namespace)));
        }
        block.push(("k8s_job_runner", obj(runner)));
    }
    obj(block)
}

/// The config document, composed from the other resources' outputs.
fn config_document(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let n = &stack.name;
    let document = obj(vec![
        ("env", s(n)),
        (
            "db",
            obj(vec![
                ("user", s(DB_APP_USER)),
                ("password", s(SENSITIVE)),
                ("name", s(DB_NAME)),
                ("host", r("database.instance", "address")),
                // a string: upstream's validated config (main from 4b81767) rejects a JSON number
                ("port", cat(vec![r("database.instance", "port")])),
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
        ("idp", idp_block(stack)),
        ("initial_setup", obj(vec![("admin_email", s(&stack.identity.admin_email))])),
        ("matching_service", matching_service(stack)),
    ]);
    // secrets the document copies from the user's own secrets, by where they go in it
    let copied = stack.identity.keycloak().map(|kc| Expr::lit(json!({KEYCLOAK_SECRET_POINTER: kc.client_secret_arn})));
    out.push(
        secrets::SecretValue { secret_id: r("config.secret", "arn"), document, copied_secrets: copied }
            .spec("config.document", &secret_name(stack)),
    );
}

/// Hosts Django accepts: the public hostname, plus the names health probes use.
pub fn allowed_hosts(stack: &Stack) -> Vec<String> {
    vec![stack.app.hostname.clone(), "localhost".into(), "127.0.0.1".into()]
}

/// The stack's outputs (`empi-infra output`), as expressions over resource outputs.
pub fn outputs(stack: &Stack) -> Vec<(&'static str, Expr)> {
    let mut out = vec![
        ("url", Expr::lit(Value::String(format!("https://{}", stack.app.hostname)))),
        ("alb_dns_name", Expr::r("edge.alb", "dns_name")),
        ("bucket", Expr::r("storage.bucket", "id")),
        ("cluster_name", Expr::r("cluster.eks", "name")),
        ("cluster_endpoint", Expr::r("cluster.eks", "endpoint")),
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
        Some(kc) => out.push(("oidc_issuer", Expr::lit(Value::String(kc.endpoints.issuer.clone())))),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ResourceGraph;

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
        assert!(!db.inputs.contains_key("master_password"), "RDS keeps the master password, not the config secret");
        let doc = serde_json::to_string(&by("config.document").inputs["document"]).unwrap();
        assert!(doc.contains(&format!("\"user\":{{\"lit\":\"{DB_APP_USER}\"}}")), "{doc}");
        assert_ne!(DB_APP_USER, DB_USER);
        // every IRSA role, and which may read the master user's secret
        let readers: Vec<&str> = specs
            .iter()
            .filter(|s| s.kind == "aws_iam_role")
            .filter(|s| serde_json::to_string(&s.inputs).unwrap().contains("master_user_secret_arn"))
            .map(|s| s.address.as_str())
            .collect();
        assert_eq!(readers, ["iam.database_admin_role"]);
    }

    #[test]
    fn every_expansion_fits_the_kind_declarations() {
        for extra in
            ["", "[edge]\nwaf = false\n", "[network]\navailability_zones = 3\nnat_gateways = 3\n", "[security]\ncloudtrail = true\n"]
        {
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
        assert!(pos("audit.log_bucket") < pos("edge.alb") && pos("audit.log_bucket") < pos("storage.bucket"));
        assert!(!order.contains(&"audit.trail"));
        let with_trail = expand(&with("[security]\ncloudtrail = true\n"), "123456789012");
        let bucket = with_trail.iter().find(|s| s.address == "audit.log_bucket").unwrap();
        let policy = crate::plan::terraform::literal(&bucket.inputs["policy"]).unwrap();
        let sids: Vec<&str> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap()).collect();
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
        assert!(!specs.iter().any(|s| s.address.starts_with("identity.") || s.kind.starts_with("aws_cognito")));
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
        assert!(doc_json.contains(r#""backend""#) && doc_json.contains(r#""keycloak""#) && doc_json.contains(r#""jwt_aud""#), "{doc_json}");
        assert!(doc_json.contains(KEYCLOAK_SECRET_POINTER), "the document copies the client secret: {doc_json}");
        let bootstrap = specs.iter().find(|s| s.address == "workloads.bootstrap").unwrap();
        assert!(!bootstrap.depends_on.iter().any(|a| a.starts_with("identity.")));
    }

    #[test]
    fn the_idp_block_is_what_upstream_requires_for_either_provider() {
        for stack in [stack(), keycloak()] {
            let specs = expand(&stack, "1");
            let doc = &specs.iter().find(|s| s.address == "config.document").unwrap().inputs["document"];
            let resolved = doc.resolve(&|_: &str, _: &str| Some(Value::String("x".into()))).unwrap();
            assert_eq!(crate::upstream::check_idp(&resolved["idp"]), Ok(()), "{}", stack.identity.provider_name());
        }
    }

    #[test]
    fn every_version_provider_and_runner_gets_a_config_its_upstream_accepts() {
        let head = "301608c7ac2f5fc422ec210cd5613a0496d468ba";
        for (version, runner) in [("v0.1.0", "process"), (head, "process"), (head, "k8s"), ("f88e27e", "k8s"), ("0123456789abcdef", "k8s")]
        {
            for base in [stack(), keycloak()] {
                let mut s = base.clone();
                s.app.tuva = crate::tuva::classify(version).unwrap();
                s.app.version = version.into();
                s.app.matching_job_runner = runner.into();
                s.app.matching_job_namespace = if s.app.tuva.job_namespace { s.app.namespace.clone() } else { "default".into() };
                let specs = expand(&s, "1");
                assert_eq!(
                    crate::tuva::check_stack_config(&s.app.tuva, &s.app.version, &specs),
                    Ok(()),
                    "{version} {runner} {}",
                    s.identity.provider_name()
                );
                assert_eq!(specs.iter().any(|x| x.address == "workloads.worker"), s.app.tuva.export_worker, "{version}");
                let jobs = specs.iter().any(|x| x.address == "workloads.service_account[matching-job]");
                assert_eq!(jobs, runner == "k8s");
                assert_eq!(specs.iter().any(|x| x.address == "iam.matching_job_role"), runner == "k8s");
            }
        }
    }

    #[test]
    fn secrets_are_only_placeholders_in_the_specs() {
        let specs = serde_json::to_string(&expand(&stack(), "1")).unwrap();
        assert!(specs.contains(SENSITIVE));
        let user_pool = expand(&stack(), "1").into_iter().find(|s| s.address == "identity.user_pool").unwrap();
        assert_eq!(user_pool.inputs["username_attributes"], Expr::lit(json!(["email"])));
    }
}
