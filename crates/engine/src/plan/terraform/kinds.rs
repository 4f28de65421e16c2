//! What each empi-infra kind is in Terraform: the terraform-provider-aws resource type(s) it
//! becomes and its attributes under the provider's names and shapes (nested blocks as lists of one
//! object). One entry per kind in [`MAPPINGS`], or a reason in [`NO_EQUIVALENT`].
//!
//! **A new kind must add its entry here** (a test fails for every kind of `kinds::ALL` that is in
//! neither table). Values are those empi-infra really sets, plus what its implementation fixes
//! that the stack does not say (a security group keeps AWS's default egress rule, an Elastic IP is
//! in the VPC domain…): the document must describe the cloud as apply leaves it.

use serde_json::{json, Value};

use super::{block, elems, field, lit, members, obj, Src, TfResource, X};
use crate::kinds::{cognito, eks, elb, iam, k8s, kms, logs, network, rds, routing, s3, secrets, waf};
use crate::resource::{Expr, UNKNOWN};

/// How one kind becomes Terraform resources.
pub struct Mapping {
    /// The types it becomes; the first is the primary, which references to the object point at.
    pub types: &'static [&'static str],
    /// The Terraform resources of one object, from its inputs (the primary first).
    pub map: fn(&Src) -> Vec<TfResource>,
    /// Outputs whose Terraform attribute is named otherwise: (output, attribute path).
    pub outputs: &'static [(&'static str, &'static str)],
    /// Attributes Terraform computes, filled from the object's outputs: (attribute, output).
    pub computed: &'static [(&'static str, &'static str)],
}

fn one(ty: &'static str, attrs: Vec<(&'static str, X)>) -> TfResource {
    TfResource { ty, key: None, attrs }
}

const ID_ARN: &[(&str, &str)] = &[("id", "id"), ("arn", "arn")];
const ID: &[(&str, &str)] = &[("id", "id")];

/// Every kind with a Terraform equivalent.
pub static MAPPINGS: &[(&str, Mapping)] = &[
    (
        kms::KEY.kind,
        Mapping {
            types: &["aws_kms_key", "aws_kms_alias"],
            map: kms_key,
            outputs: &[("alias_arn", "arn")],
            computed: &[("id", "id"), ("arn", "arn"), ("key_id", "key_id")],
        },
    ),
    (logs::LOG_GROUP.kind, Mapping { types: &["aws_cloudwatch_log_group"], map: log_group, outputs: &[], computed: ID_ARN }),
    (logs::FLOW_LOG.kind, Mapping { types: &["aws_flow_log"], map: flow_log, outputs: &[], computed: ID }),
    (logs::TRAIL.kind, Mapping { types: &["aws_cloudtrail"], map: trail, outputs: &[], computed: ID_ARN }),
    (
        waf::WEB_ACL_LOGGING.kind,
        Mapping { types: &["aws_wafv2_web_acl_logging_configuration"], map: web_acl_logging, outputs: &[], computed: ID },
    ),
    (network::VPC.kind, Mapping { types: &["aws_vpc"], map: vpc, outputs: &[], computed: ID }),
    (network::SUBNET.kind, Mapping { types: &["aws_subnet"], map: subnet, outputs: &[], computed: ID }),
    (network::SECURITY_GROUP.kind, Mapping { types: &["aws_security_group"], map: security_group, outputs: &[], computed: ID }),
    (
        network::DEFAULT_SECURITY_GROUP.kind,
        Mapping { types: &["aws_default_security_group"], map: default_security_group, outputs: &[], computed: ID },
    ),
    (routing::INTERNET_GATEWAY.kind, Mapping { types: &["aws_internet_gateway"], map: internet_gateway, outputs: &[], computed: ID }),
    (routing::EIP.kind, Mapping { types: &["aws_eip"], map: eip, outputs: &[], computed: &[("id", "id"), ("public_ip", "public_ip")] }),
    (routing::NAT_GATEWAY.kind, Mapping { types: &["aws_nat_gateway"], map: nat_gateway, outputs: &[], computed: ID }),
    (routing::ROUTE_TABLE.kind, Mapping { types: &["aws_route_table"], map: route_table, outputs: &[], computed: ID }),
    (
        routing::ROUTE_TABLE_ASSOCIATION.kind,
        Mapping { types: &["aws_route_table_association"], map: route_table_association, outputs: &[], computed: ID },
    ),
    (routing::VPC_ENDPOINT.kind, Mapping { types: &["aws_vpc_endpoint"], map: vpc_endpoint, outputs: &[], computed: ID }),
    (
        iam::ROLE.kind,
        Mapping {
            types: &["aws_iam_role", "aws_iam_role_policy_attachment", "aws_iam_role_policy"],
            map: role,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        iam::OIDC_PROVIDER.kind,
        Mapping {
            types: &["aws_iam_openid_connect_provider"],
            map: oidc_provider,
            // the issuer without `https://`: Terraform has no such attribute; `url` is what it comes from
            outputs: &[("issuer_host", "url")],
            computed: ID_ARN,
        },
    ),
    (
        eks::CLUSTER.kind,
        Mapping {
            types: &["aws_eks_cluster"],
            map: cluster,
            outputs: &[
                ("oidc_issuer", "identity[0].oidc[0].issuer"),
                ("cluster_security_group_id", "vpc_config[0].cluster_security_group_id"),
                ("certificate_authority", "certificate_authority[0].data"),
            ],
            computed: &[("id", "id"), ("arn", "arn"), ("endpoint", "endpoint")],
        },
    ),
    (eks::LAUNCH_TEMPLATE.kind, Mapping { types: &["aws_launch_template"], map: launch_template, outputs: &[], computed: ID }),
    (
        eks::NODE_GROUP.kind,
        Mapping {
            types: &["aws_eks_node_group"],
            map: node_group,
            outputs: &[("autoscaling_group_name", "resources[0].autoscaling_groups[0].name")],
            computed: ID_ARN,
        },
    ),
    (
        eks::ACCESS_ENTRY.kind,
        Mapping {
            types: &["aws_eks_access_entry", "aws_eks_access_policy_association"],
            map: access_entry,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (rds::SUBNET_GROUP.kind, Mapping { types: &["aws_db_subnet_group"], map: db_subnet_group, outputs: &[], computed: ID_ARN }),
    (rds::PARAMETER_GROUP.kind, Mapping { types: &["aws_db_parameter_group"], map: db_parameter_group, outputs: &[], computed: ID_ARN }),
    (
        rds::INSTANCE.kind,
        Mapping {
            types: &["aws_db_instance"],
            map: db_instance,
            outputs: &[],
            // Terraform's `id` is the DbiResourceId, which empi-infra does not record: left out
            computed: &[("arn", "arn"), ("address", "address"), ("port", "port")],
        },
    ),
    (cognito::USER_POOL.kind, Mapping { types: &["aws_cognito_user_pool"], map: user_pool, outputs: &[], computed: ID_ARN }),
    (cognito::DOMAIN.kind, Mapping { types: &["aws_cognito_user_pool_domain"], map: user_pool_domain, outputs: &[], computed: ID }),
    (cognito::CLIENT.kind, Mapping { types: &["aws_cognito_user_pool_client"], map: user_pool_client, outputs: &[], computed: ID }),
    (cognito::USER.kind, Mapping { types: &["aws_cognito_user"], map: cognito_user, outputs: &[], computed: &[("sub", "sub")] }),
    (secrets::SECRET.kind, Mapping { types: &["aws_secretsmanager_secret"], map: secret, outputs: &[], computed: ID_ARN }),
    (
        secrets::SECRET_VALUE.kind,
        Mapping { types: &["aws_secretsmanager_secret_version"], map: secret_version, outputs: &[], computed: &[] },
    ),
    (
        s3::BUCKET.kind,
        Mapping {
            types: &[
                "aws_s3_bucket",
                "aws_s3_bucket_versioning",
                "aws_s3_bucket_server_side_encryption_configuration",
                "aws_s3_bucket_public_access_block",
                "aws_s3_bucket_policy",
                "aws_s3_bucket_lifecycle_configuration",
                "aws_s3_bucket_logging",
            ],
            map: bucket,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        elb::LOAD_BALANCER.kind,
        Mapping {
            types: &["aws_lb"],
            map: load_balancer,
            outputs: &[],
            computed: &[("id", "id"), ("arn", "arn"), ("dns_name", "dns_name"), ("zone_id", "zone_id")],
        },
    ),
    (elb::TARGET_GROUP.kind, Mapping { types: &["aws_lb_target_group"], map: target_group, outputs: &[], computed: ID_ARN }),
    (elb::LISTENER.kind, Mapping { types: &["aws_lb_listener"], map: listener, outputs: &[], computed: ID_ARN }),
    (elb::LISTENER_RULE.kind, Mapping { types: &["aws_lb_listener_rule"], map: listener_rule, outputs: &[], computed: ID_ARN }),
    (elb::ASG_ATTACHMENT.kind, Mapping { types: &["aws_autoscaling_attachment"], map: asg_attachment, outputs: &[], computed: ID }),
    (waf::WEB_ACL.kind, Mapping { types: &["aws_wafv2_web_acl"], map: web_acl, outputs: &[], computed: ID_ARN }),
    (
        waf::WEB_ACL_ASSOCIATION.kind,
        Mapping { types: &["aws_wafv2_web_acl_association"], map: web_acl_association, outputs: &[], computed: ID },
    ),
];

/// Kinds left out of the Terraform plan, and why.
pub static NO_EQUIVALENT: &[(&str, &str)] = &[
    (k8s::NAMESPACE.kind, K8S),
    (k8s::SERVICE_ACCOUNT.kind, K8S),
    (k8s::SERVICE.kind, K8S),
    (k8s::CONFIG_MAP.kind, K8S),
    (k8s::ROLE.kind, K8S),
    (k8s::ROLE_BINDING.kind, K8S),
    (k8s::DEPLOYMENT.kind, K8S),
    (k8s::JOB.kind, K8S),
    (k8s::JOB_ONCE.kind, K8S),
];

const K8S: &str = "a Kubernetes object applied as its manifest; the hashicorp/kubernetes provider's types rewrite every manifest field into blocks of their own, which this mapping does not do (Checkov's kubernetes framework reads the manifests themselves)";

/// The mapping of `kind`, or why it has none.
pub fn mapping(kind: &str) -> Result<&'static Mapping, &'static str> {
    if let Some((_, m)) = MAPPINGS.iter().find(|(k, _)| *k == kind) {
        return Ok(m);
    }
    Err(NO_EQUIVALENT.iter().find(|(k, _)| *k == kind).map(|(_, why)| *why).unwrap_or("not a kind this empi-infra knows"))
}

/// terraform-provider-aws's schema version of `ty` (0 where the provider declares none).
pub fn schema_version(ty: &str) -> u32 {
    match ty {
        "aws_db_instance" => 2,
        "aws_vpc" | "aws_subnet" | "aws_security_group" | "aws_eks_cluster" => 1,
        _ => 0,
    }
}

fn tags(s: &Src) -> (&'static str, X) {
    ("tags", s.get("tags"))
}

/// The key and its alias (Terraform's `aws_kms_alias`, whose target is the key's id).
fn kms_key(s: &Src) -> Vec<TfResource> {
    vec![
        one(
            "aws_kms_key",
            vec![
                ("description", s.get("description")),
                ("key_usage", lit("ENCRYPT_DECRYPT")),
                ("customer_master_key_spec", lit("SYMMETRIC_DEFAULT")),
                ("is_enabled", lit(true)),
                ("enable_key_rotation", s.get("enable_key_rotation")),
                ("deletion_window_in_days", s.get("deletion_window_in_days")),
                ("policy", X::Json(Box::new(s.get("policy")))),
                tags(s),
            ],
        ),
        one("aws_kms_alias", vec![("name", s.get("alias")), ("target_key_id", X::Own("key_id", Box::new(lit(UNKNOWN))))]),
    ]
}

fn vpc(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_vpc",
        vec![
            ("cidr_block", s.get("cidr_block")),
            ("enable_dns_hostnames", s.get("enable_dns_hostnames")),
            ("enable_dns_support", s.get("enable_dns_support")),
            tags(s),
        ],
    )]
}

fn subnet(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_subnet",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("cidr_block", s.get("cidr_block")),
            ("availability_zone", s.get("availability_zone")),
            ("map_public_ip_on_launch", s.get("map_public_ip_on_launch")),
            tags(s),
        ],
    )]
}

/// A security group rule block (`ingress`/`egress`): every attribute present, as the provider's
/// set elements are.
fn sg_rule(protocol: X, from: X, to: X, cidr_blocks: X, security_groups: X, myself: bool) -> X {
    obj(vec![
        ("protocol", protocol),
        ("from_port", from),
        ("to_port", to),
        ("cidr_blocks", cidr_blocks),
        ("security_groups", security_groups),
        ("ipv6_cidr_blocks", lit(json!([]))),
        ("prefix_list_ids", lit(json!([]))),
        ("self", lit(myself)),
        ("description", lit(Value::Null)),
    ])
}

/// The rule blocks of one direction: one rule per peer (`cidr_block`, `source_security_group_id` or
/// `self`).
fn sg_rules(s: &Src, direction: &str) -> X {
    X::List(
        elems(&s.expr(direction))
            .iter()
            .map(|r| {
                let one_of = |k: &str| match members(r).into_iter().find(|(key, _)| key == k) {
                    Some((_, e)) => X::List(vec![X::E(e)]),
                    None => lit(json!([])),
                };
                sg_rule(
                    field(r, "protocol"),
                    field(r, "from_port"),
                    field(r, "to_port"),
                    one_of("cidr_block"),
                    one_of("source_security_group_id"),
                    members(r).into_iter().any(|(k, _)| k == "self"),
                )
            })
            .collect(),
    )
}

fn security_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_security_group",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("vpc_id", s.get("vpc_id")),
            ("ingress", sg_rules(s, "ingress")),
            ("egress", sg_rules(s, "egress")),
            tags(s),
        ],
    )]
}

fn default_security_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_default_security_group",
        vec![("vpc_id", s.get("vpc_id")), ("ingress", sg_rules(s, "ingress")), ("egress", sg_rules(s, "egress")), tags(s)],
    )]
}

fn internet_gateway(s: &Src) -> Vec<TfResource> {
    vec![one("aws_internet_gateway", vec![("vpc_id", s.get("vpc_id")), tags(s)])]
}

fn eip(s: &Src) -> Vec<TfResource> {
    vec![one("aws_eip", vec![("domain", lit("vpc")), tags(s)])]
}

fn nat_gateway(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_nat_gateway",
        vec![("allocation_id", s.get("allocation_id")), ("subnet_id", s.get("subnet_id")), ("connectivity_type", lit("public")), tags(s)],
    )]
}

fn route_table(s: &Src) -> Vec<TfResource> {
    let routes = elems(&s.expr("routes"))
        .iter()
        .map(|r| {
            obj(vec![
                ("cidr_block", field(r, "destination_cidr_block")),
                ("gateway_id", field(r, "gateway_id")),
                ("nat_gateway_id", field(r, "nat_gateway_id")),
            ])
        })
        .collect();
    vec![one("aws_route_table", vec![("vpc_id", s.get("vpc_id")), ("route", X::List(routes)), tags(s)])]
}

fn route_table_association(s: &Src) -> Vec<TfResource> {
    vec![one("aws_route_table_association", vec![("subnet_id", s.get("subnet_id")), ("route_table_id", s.get("route_table_id"))])]
}

fn vpc_endpoint(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_vpc_endpoint",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("service_name", s.get("service_name")),
            ("vpc_endpoint_type", s.get("vpc_endpoint_type")),
            ("subnet_ids", s.get("subnet_ids")),
            ("security_group_ids", s.get("security_group_ids")),
            ("route_table_ids", s.get("route_table_ids")),
            ("private_dns_enabled", s.get("private_dns_enabled")),
            tags(s),
        ],
    )]
}

/// A role, its managed policy attachments and its inline policies, each a resource of its own as
/// Terraform writes them today (policy checks read `aws_iam_role_policy`).
fn role(s: &Src) -> Vec<TfResource> {
    let role_name = || X::Own("name", Box::new(s.name()));
    let mut out = vec![one(
        "aws_iam_role",
        vec![("name", s.name()), ("assume_role_policy", X::Json(Box::new(s.get("assume_role_policy")))), tags(s)],
    )];
    for arn in elems(&s.expr("managed_policy_arns")) {
        let key = super::literal(&arn).and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        out.push(TfResource {
            ty: "aws_iam_role_policy_attachment",
            key: Some(key),
            attrs: vec![("role", role_name()), ("policy_arn", X::E(arn))],
        });
    }
    for (name, doc) in members(&s.expr("inline_policies")) {
        out.push(TfResource {
            ty: "aws_iam_role_policy",
            key: Some(name.clone()),
            attrs: vec![("name", lit(name)), ("role", role_name()), ("policy", X::Json(Box::new(X::E(doc))))],
        });
    }
    out
}

fn oidc_provider(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_iam_openid_connect_provider",
        vec![("url", s.get("url")), ("client_id_list", s.get("client_ids")), ("thumbprint_list", s.get("thumbprints")), tags(s)],
    )]
}

fn cluster(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_eks_cluster",
        vec![
            ("name", s.name()),
            ("role_arn", s.get("role_arn")),
            ("version", s.get("version")),
            (
                "vpc_config",
                block(vec![
                    ("subnet_ids", s.get("subnet_ids")),
                    ("security_group_ids", s.get("security_group_ids")),
                    ("endpoint_private_access", s.get("endpoint_private_access")),
                    ("endpoint_public_access", s.get("endpoint_public_access")),
                    ("public_access_cidrs", s.get("public_access_cidrs")),
                ]),
            ),
            ("enabled_cluster_log_types", s.get("enabled_log_types")),
            (
                "encryption_config",
                block(vec![("resources", lit(json!(["secrets"]))), ("provider", block(vec![("key_arn", s.get("encryption_key_arn"))]))]),
            ),
            (
                "access_config",
                block(vec![
                    ("authentication_mode", s.get("authentication_mode")),
                    // the creator keeps cluster-admin (CreateCluster's bootstrapClusterCreatorAdminPermissions)
                    ("bootstrap_cluster_creator_admin_permissions", lit(true)),
                ]),
            ),
            tags(s),
        ],
    )]
}

fn launch_template(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_launch_template",
        vec![
            ("name", s.name()),
            ("vpc_security_group_ids", s.get("security_group_ids")),
            (
                "metadata_options",
                block(vec![
                    ("http_endpoint", lit("enabled")),
                    ("http_tokens", s.get("http_tokens")),
                    ("http_put_response_hop_limit", s.get("http_put_response_hop_limit")),
                ]),
            ),
            tags(s),
        ],
    )]
}

fn node_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_eks_node_group",
        vec![
            ("cluster_name", s.get("cluster_name")),
            ("node_group_name", s.name()),
            ("node_role_arn", s.get("node_role_arn")),
            ("subnet_ids", s.get("subnet_ids")),
            ("instance_types", s.get("instance_types")),
            ("ami_type", s.get("ami_type")),
            (
                "scaling_config",
                block(vec![("desired_size", s.get("desired_size")), ("max_size", s.get("max_size")), ("min_size", s.get("min_size"))]),
            ),
            ("launch_template", block(vec![("id", s.get("launch_template_id")), ("version", s.get("launch_template_version"))])),
            tags(s),
        ],
    )]
}

/// An access entry and its cluster-scoped policy association: two resources in Terraform.
fn access_entry(s: &Src) -> Vec<TfResource> {
    vec![
        one(
            "aws_eks_access_entry",
            vec![("cluster_name", s.get("cluster_name")), ("principal_arn", s.get("principal_arn")), ("type", lit("STANDARD"))],
        ),
        TfResource {
            ty: "aws_eks_access_policy_association",
            key: None,
            attrs: vec![
                ("cluster_name", s.get("cluster_name")),
                ("principal_arn", X::Own("principal_arn", Box::new(s.get("principal_arn")))),
                ("policy_arn", s.get("policy_arn")),
                ("access_scope", block(vec![("type", lit("cluster")), ("namespaces", lit(json!([])))])),
            ],
        },
    ]
}

fn db_subnet_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_db_subnet_group",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("subnet_ids", s.get("subnet_ids")),
            ("vpc_id", X::Computed(Box::new(s.get("vpc_id")))),
            tags(s),
        ],
    )]
}

fn db_parameter_group(s: &Src) -> Vec<TfResource> {
    let parameters = members(&s.expr("parameters"))
        .into_iter()
        .map(|(name, value)| {
            let method = match rds::apply_method(&name) {
                rds::ApplyMethod::Immediate => "immediate",
                rds::ApplyMethod::PendingReboot => "pending-reboot",
            };
            obj(vec![("name", lit(name)), ("value", X::E(value)), ("apply_method", lit(method))])
        })
        .collect();
    vec![one(
        "aws_db_parameter_group",
        vec![
            ("name", s.name()),
            ("family", s.get("family")),
            ("description", s.get("description")),
            ("parameter", X::List(parameters)),
            tags(s),
        ],
    )]
}

fn db_instance(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_db_instance",
        vec![
            ("identifier", s.name()),
            ("engine", s.get("engine")),
            ("engine_version", s.get("engine_version")),
            ("instance_class", s.get("instance_class")),
            ("allocated_storage", s.get("allocated_storage")),
            ("storage_type", s.get("storage_type")),
            ("storage_encrypted", s.get("storage_encrypted")),
            ("kms_key_id", s.get("kms_key_id")),
            ("performance_insights_enabled", s.get("performance_insights_enabled")),
            ("performance_insights_kms_key_id", s.get("performance_insights_kms_key_id")),
            ("performance_insights_retention_period", s.get("performance_insights_retention_period")),
            ("publicly_accessible", s.get("publicly_accessible")),
            ("multi_az", s.get("multi_az")),
            ("backup_retention_period", s.get("backup_retention_period")),
            ("deletion_protection", s.get("deletion_protection")),
            ("copy_tags_to_snapshot", s.get("copy_tags_to_snapshot")),
            ("enabled_cloudwatch_logs_exports", s.get("enabled_cloudwatch_logs_exports")),
            ("db_name", s.get("db_name")),
            ("username", s.get("master_username")),
            // generated, kept only in the config secret
            ("password", X::Sensitive),
            ("db_subnet_group_name", s.get("db_subnet_group_name")),
            ("parameter_group_name", s.get("db_parameter_group_name")),
            ("vpc_security_group_ids", s.get("vpc_security_group_ids")),
            // destroy takes a final snapshot, named when it runs
            ("skip_final_snapshot", lit(false)),
            // RDS's default, which empi-infra never changes (plans and drift accept the minor AWS picks)
            ("auto_minor_version_upgrade", lit(true)),
            tags(s),
        ],
    )]
}

fn user_pool(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cognito_user_pool",
        vec![
            ("name", s.name()),
            ("username_attributes", s.get("username_attributes")),
            ("auto_verified_attributes", s.get("auto_verified_attributes")),
            ("admin_create_user_config", block(vec![("allow_admin_create_user_only", s.get("admin_create_user_only"))])),
            ("mfa_configuration", s.get("mfa_configuration")),
            // the TOTP method is on whenever MFA is (terraform-provider-aws requires the block then)
            (
                "software_token_mfa_configuration",
                X::Fn(Box::new(s.get("mfa_configuration")), |m| if m == "OFF" { json!([]) } else { json!([{"enabled": true}]) }),
            ),
            ("password_policy", X::Fn(Box::new(s.get("password_policy")), |p| json!([p]))),
            ("user_pool_tier", s.get("user_pool_tier")),
            ("user_pool_add_ons", block(vec![("advanced_security_mode", s.get("advanced_security_mode"))])),
            (
                "deletion_protection",
                X::Fn(Box::new(s.get("deletion_protection")), |on| json!(if on == &json!(true) { "ACTIVE" } else { "INACTIVE" })),
            ),
            tags(s),
        ],
    )]
}

fn user_pool_domain(s: &Src) -> Vec<TfResource> {
    vec![one("aws_cognito_user_pool_domain", vec![("domain", s.name()), ("user_pool_id", s.get("user_pool_id"))])]
}

fn user_pool_client(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cognito_user_pool_client",
        vec![
            ("name", s.name()),
            ("user_pool_id", s.get("user_pool_id")),
            ("generate_secret", s.get("generate_secret")),
            ("allowed_oauth_flows", s.get("allowed_oauth_flows")),
            ("allowed_oauth_flows_user_pool_client", lit(true)),
            ("allowed_oauth_scopes", s.get("allowed_oauth_scopes")),
            ("callback_urls", s.get("callback_urls")),
            ("supported_identity_providers", s.get("supported_identity_providers")),
            ("prevent_user_existence_errors", s.get("prevent_user_existence_errors")),
            // Cognito generates it; the ALB reads it, nothing else
            ("client_secret", X::Computed(Box::new(X::Sensitive))),
        ],
    )]
}

fn cognito_user(s: &Src) -> Vec<TfResource> {
    let as_string: fn(&Value) -> Value = |v| match v {
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    };
    vec![one(
        "aws_cognito_user",
        vec![
            ("user_pool_id", s.get("user_pool_id")),
            ("username", s.get("email")),
            ("attributes", obj(vec![("email", s.get("email")), ("email_verified", X::Fn(Box::new(s.get("email_verified")), as_string))])),
        ],
    )]
}

fn secret(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_secretsmanager_secret",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("kms_key_id", s.get("kms_key_id")),
            // what destroy asks for (DeleteSecret's RecoveryWindowInDays)
            ("recovery_window_in_days", lit(7)),
            tags(s),
        ],
    )]
}

/// The config document: a secret as a whole (it holds the generated database password and
/// Django key), so `secret_string` never has a value here.
fn secret_version(s: &Src) -> Vec<TfResource> {
    vec![one("aws_secretsmanager_secret_version", vec![("secret_id", s.get("secret_id")), ("secret_string", X::Sensitive)])]
}

/// The bucket and the resources Terraform splits its settings into (logging only where the
/// bucket has it).
fn bucket(s: &Src) -> Vec<TfResource> {
    let bucket = || X::Own("id", Box::new(s.name()));
    let status: fn(&Value) -> Value = |v| json!(if v.as_bool() == Some(true) { "Enabled" } else { "Suspended" });
    // an SSE-S3 bucket names no key
    let key: fn(&Value) -> Value = |v| if v.as_str() == Some("") { Value::Null } else { v.clone() };
    let block_public = s.get("block_public_access");
    let mut rule =
        vec![("id", lit("expire-noncurrent-versions")), ("status", lit("Enabled")), ("filter", block(vec![("prefix", lit(""))]))];
    if s.inputs.contains_key("expiration_days") {
        rule.push(("expiration", block(vec![("days", s.get("expiration_days"))])));
    }
    rule.push(("noncurrent_version_expiration", block(vec![("noncurrent_days", s.get("noncurrent_version_expiration_days"))])));
    rule.push((
        "abort_incomplete_multipart_upload",
        block(vec![("days_after_initiation", s.get("abort_incomplete_multipart_upload_days"))]),
    ));
    let mut v = vec![
        one(
            "aws_s3_bucket",
            vec![
                ("bucket", s.name()),
                ("force_destroy", if s.inputs.contains_key("force_destroy") { s.get("force_destroy") } else { lit(false) }),
                tags(s),
            ],
        ),
        one(
            "aws_s3_bucket_versioning",
            vec![("bucket", bucket()), ("versioning_configuration", block(vec![("status", X::Fn(Box::new(s.get("versioning")), status))]))],
        ),
        one(
            "aws_s3_bucket_server_side_encryption_configuration",
            vec![
                ("bucket", bucket()),
                (
                    "rule",
                    block(vec![
                        (
                            "apply_server_side_encryption_by_default",
                            block(vec![
                                ("sse_algorithm", s.get("encryption")),
                                ("kms_master_key_id", X::Fn(Box::new(s.get("kms_key_arn")), key)),
                            ]),
                        ),
                        ("bucket_key_enabled", s.get("bucket_key")),
                    ]),
                ),
            ],
        ),
        one(
            "aws_s3_bucket_public_access_block",
            vec![
                ("bucket", bucket()),
                ("block_public_acls", block_public.clone()),
                ("block_public_policy", block_public.clone()),
                ("ignore_public_acls", block_public.clone()),
                ("restrict_public_buckets", block_public),
            ],
        ),
        one("aws_s3_bucket_policy", vec![("bucket", bucket()), ("policy", X::Json(Box::new(s.get("policy"))))]),
        one("aws_s3_bucket_lifecycle_configuration", vec![("bucket", bucket()), ("rule", block(rule))]),
    ];
    if s.inputs.contains_key("access_log_bucket") {
        v.push(one(
            "aws_s3_bucket_logging",
            vec![("bucket", bucket()), ("target_bucket", s.get("access_log_bucket")), ("target_prefix", s.get("access_log_prefix"))],
        ));
    }
    v
}

fn load_balancer(s: &Src) -> Vec<TfResource> {
    let internal: fn(&Value) -> Value = |v| Value::Bool(v.as_str() == Some("internal"));
    vec![one(
        "aws_lb",
        vec![
            ("name", s.name()),
            ("internal", X::Fn(Box::new(s.get("scheme")), internal)),
            ("load_balancer_type", lit("application")),
            ("subnets", s.get("subnet_ids")),
            ("security_groups", s.get("security_group_ids")),
            ("drop_invalid_header_fields", s.get("drop_invalid_header_fields")),
            ("enable_deletion_protection", s.get("deletion_protection")),
            (
                "access_logs",
                if s.inputs.contains_key("access_logs_bucket") {
                    block(vec![("bucket", s.get("access_logs_bucket")), ("prefix", s.get("access_logs_prefix")), ("enabled", lit(true))])
                } else {
                    X::List(vec![])
                },
            ),
            tags(s),
        ],
    )]
}

fn target_group(s: &Src) -> Vec<TfResource> {
    let port: fn(&Value) -> Value = |v| match v {
        Value::Null => json!("traffic-port"),
        other => Value::String(other.to_string()),
    };
    vec![one(
        "aws_lb_target_group",
        vec![
            ("name", s.name()),
            ("port", s.get("port")),
            ("protocol", s.get("protocol")),
            ("target_type", s.get("target_type")),
            ("vpc_id", s.get("vpc_id")),
            (
                "health_check",
                block(vec![
                    ("enabled", lit(true)),
                    ("path", s.get("health_check_path")),
                    ("matcher", s.get("health_check_matcher")),
                    ("port", X::Fn(Box::new(s.get("health_check_port")), port)),
                    ("protocol", lit("HTTP")),
                ]),
            ),
            tags(s),
        ],
    )]
}

/// A listener's or rule's actions as `default_action`/`action` blocks, in order.
fn actions(e: &Expr) -> X {
    X::List(
        elems(e)
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let ty =
                    super::literal(&members(a).into_iter().find(|(k, _)| k == "type").map(|(_, v)| v).unwrap_or(Expr::Lit(Value::Null)))
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                let when = |t: &str, x: X| if ty == t { X::List(vec![x]) } else { lit(json!([])) };
                obj(vec![
                    ("type", lit(ty.clone())),
                    ("order", lit(i + 1)),
                    ("target_group_arn", if ty == "forward" { field(a, "target_group_arn") } else { lit(Value::Null) }),
                    (
                        "redirect",
                        when(
                            "redirect",
                            obj(vec![
                                ("port", field(a, "port")),
                                ("protocol", field(a, "protocol")),
                                ("status_code", field(a, "status_code")),
                            ]),
                        ),
                    ),
                    (
                        "authenticate_cognito",
                        when(
                            "authenticate-cognito",
                            obj(vec![
                                ("user_pool_arn", field(a, "user_pool_arn")),
                                ("user_pool_client_id", field(a, "user_pool_client_id")),
                                ("user_pool_domain", field(a, "user_pool_domain")),
                            ]),
                        ),
                    ),
                    (
                        "authenticate_oidc",
                        when(
                            "authenticate-oidc",
                            obj(vec![
                                ("issuer", field(a, "issuer")),
                                ("authorization_endpoint", field(a, "authorization_endpoint")),
                                ("token_endpoint", field(a, "token_endpoint")),
                                ("user_info_endpoint", field(a, "user_info_endpoint")),
                                ("client_id", field(a, "client_id")),
                                // read from the organisation's own secret when the listener is written
                                ("client_secret", X::Sensitive),
                                ("scope", field(a, "scope")),
                            ]),
                        ),
                    ),
                ])
            })
            .collect(),
    )
}

fn listener(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_lb_listener",
        vec![
            ("load_balancer_arn", s.get("load_balancer_arn")),
            ("port", s.get("port")),
            ("protocol", s.get("protocol")),
            ("ssl_policy", s.get("ssl_policy")),
            ("certificate_arn", s.get("certificate_arn")),
            ("default_action", actions(&s.expr("actions"))),
        ],
    )]
}

fn listener_rule(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_lb_listener_rule",
        vec![
            ("listener_arn", s.get("listener_arn")),
            ("priority", s.get("priority")),
            ("action", actions(&s.expr("actions"))),
            ("condition", block(vec![("path_pattern", block(vec![("values", s.get("path_patterns"))]))])),
        ],
    )]
}

fn asg_attachment(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_autoscaling_attachment",
        vec![("autoscaling_group_name", s.get("autoscaling_group_name")), ("lb_target_group_arn", s.get("target_group_arn"))],
    )]
}

fn visibility(metric: X) -> X {
    block(vec![("cloudwatch_metrics_enabled", lit(true)), ("metric_name", metric), ("sampled_requests_enabled", lit(true))])
}

fn web_acl(s: &Src) -> Vec<TfResource> {
    // one rule per AWS managed rule group, in order, counting nothing out (override `none`)
    let rules = elems(&s.expr("managed_rule_groups"))
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            obj(vec![
                ("name", X::E(g.clone())),
                ("priority", lit(i)),
                ("override_action", block(vec![("none", block(vec![]))])),
                (
                    "statement",
                    block(vec![("managed_rule_group_statement", block(vec![("name", X::E(g.clone())), ("vendor_name", lit("AWS"))]))]),
                ),
                ("visibility_config", visibility(X::E(g))),
            ])
        })
        .collect();
    vec![one(
        "aws_wafv2_web_acl",
        vec![
            ("name", s.name()),
            ("scope", lit("REGIONAL")),
            ("default_action", block(vec![("allow", block(vec![]))])),
            ("rule", X::List(rules)),
            ("visibility_config", visibility(s.name())),
            tags(s),
        ],
    )]
}

fn web_acl_association(s: &Src) -> Vec<TfResource> {
    vec![one("aws_wafv2_web_acl_association", vec![("resource_arn", s.get("resource_arn")), ("web_acl_arn", s.get("web_acl_arn"))])]
}

fn log_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cloudwatch_log_group",
        vec![
            ("name", s.name()),
            ("retention_in_days", s.get("retention_in_days")),
            ("kms_key_id", s.get("kms_key_id")),
            // destroy deletes the group (Terraform's `skip_destroy` keeps it; empi-infra keeps one
            // holding log data unless `force_destroy` is set)
            ("skip_destroy", lit(false)),
            tags(s),
        ],
    )]
}

fn flow_log(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_flow_log",
        vec![
            ("vpc_id", s.get("vpc_id")),
            ("traffic_type", s.get("traffic_type")),
            ("log_destination_type", lit("cloud-watch-logs")),
            ("log_destination", s.get("log_destination")),
            ("iam_role_arn", s.get("iam_role_arn")),
            tags(s),
        ],
    )]
}

fn web_acl_logging(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_wafv2_web_acl_logging_configuration",
        vec![("resource_arn", s.get("resource_arn")), ("log_destination_configs", X::List(vec![s.get("log_destination_arn")]))],
    )]
}

fn trail(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_cloudtrail",
        vec![
            ("name", s.name()),
            ("s3_bucket_name", s.get("s3_bucket_name")),
            ("s3_key_prefix", s.get("s3_key_prefix")),
            ("is_multi_region_trail", s.get("is_multi_region_trail")),
            ("include_global_service_events", s.get("include_global_service_events")),
            ("enable_log_file_validation", s.get("enable_log_file_validation")),
            ("enable_logging", s.get("enable_logging")),
            ("kms_key_id", s.get("kms_key_id")),
            tags(s),
        ],
    )]
}
