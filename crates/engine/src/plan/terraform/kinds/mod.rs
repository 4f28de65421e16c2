//! What each empi-infra kind is in Terraform: the terraform-provider-aws resource type(s) it
//! becomes and its attributes under the provider's names and shapes (nested blocks as lists of one
//! object). One entry per kind in [`MAPPINGS`], or a reason in [`NO_EQUIVALENT`]; the functions
//! that map a kind live in the file named like its declaration's (`kinds::rds` → `rds.rs`).
//!
//! **A new kind must add its entry here** (a test fails for every kind of `kinds::ALL` that is in
//! neither table). Values are those empi-infra really sets, plus what its implementation fixes
//! that the stack does not say (a security group keeps AWS's default egress rule, an Elastic IP is
//! in the VPC domain…): the document must describe the cloud as apply leaves it.

use serde_json::{json, Value};

use super::{block, elems, field, lit, members, obj, Src, TfResource, TfValue};
use crate::kinds;
use crate::resource::{Expr, UNKNOWN};

mod cognito;
mod eks;
mod elb;
mod iam;
mod kms;
mod logs;
mod network;
mod rds;
mod routing;
mod s3;
mod secrets;
mod waf;

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

fn one(ty: &'static str, attrs: Vec<(&'static str, TfValue)>) -> TfResource {
    TfResource { ty, key: None, attrs }
}

const ID_ARN: &[(&str, &str)] = &[("id", "id"), ("arn", "arn")];

const ID: &[(&str, &str)] = &[("id", "id")];

/// Every kind with a Terraform equivalent.
pub static MAPPINGS: &[(&str, Mapping)] = &[
    (
        kinds::kms::KEY.kind,
        Mapping {
            types: &["aws_kms_key", "aws_kms_alias"],
            map: kms::kms_key,
            outputs: &[("alias_arn", "arn")],
            computed: &[("id", "id"), ("arn", "arn"), ("key_id", "key_id")],
        },
    ),
    (
        kinds::logs::LOG_GROUP.kind,
        Mapping {
            types: &["aws_cloudwatch_log_group"],
            map: logs::log_group,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::logs::FLOW_LOG.kind,
        Mapping { types: &["aws_flow_log"], map: logs::flow_log, outputs: &[], computed: ID },
    ),
    (
        kinds::logs::TRAIL.kind,
        Mapping { types: &["aws_cloudtrail"], map: logs::trail, outputs: &[], computed: ID_ARN },
    ),
    (
        kinds::waf::WEB_ACL_LOGGING.kind,
        Mapping {
            types: &["aws_wafv2_web_acl_logging_configuration"],
            map: waf::web_acl_logging,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::network::VPC.kind,
        Mapping { types: &["aws_vpc"], map: network::vpc, outputs: &[], computed: ID },
    ),
    (
        kinds::network::SUBNET.kind,
        Mapping { types: &["aws_subnet"], map: network::subnet, outputs: &[], computed: ID },
    ),
    (
        kinds::network::SECURITY_GROUP.kind,
        Mapping {
            types: &["aws_security_group"],
            map: network::security_group,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::network::DEFAULT_SECURITY_GROUP.kind,
        Mapping {
            types: &["aws_default_security_group"],
            map: network::default_security_group,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::routing::INTERNET_GATEWAY.kind,
        Mapping {
            types: &["aws_internet_gateway"],
            map: routing::internet_gateway,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::routing::EIP.kind,
        Mapping {
            types: &["aws_eip"],
            map: routing::eip,
            outputs: &[],
            computed: &[("id", "id"), ("public_ip", "public_ip")],
        },
    ),
    (
        kinds::routing::NAT_GATEWAY.kind,
        Mapping {
            types: &["aws_nat_gateway"],
            map: routing::nat_gateway,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::routing::ROUTE_TABLE.kind,
        Mapping {
            types: &["aws_route_table"],
            map: routing::route_table,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::routing::ROUTE_TABLE_ASSOCIATION.kind,
        Mapping {
            types: &["aws_route_table_association"],
            map: routing::route_table_association,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::routing::VPC_ENDPOINT.kind,
        Mapping {
            types: &["aws_vpc_endpoint"],
            map: routing::vpc_endpoint,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::iam::ROLE.kind,
        Mapping {
            types: &["aws_iam_role", "aws_iam_role_policy_attachment", "aws_iam_role_policy"],
            map: iam::role,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::iam::OIDC_PROVIDER.kind,
        Mapping {
            types: &["aws_iam_openid_connect_provider"],
            map: iam::oidc_provider,
            // the issuer without `https://`: Terraform has no such attribute; `url` is what it comes from
            outputs: &[("issuer_host", "url")],
            computed: ID_ARN,
        },
    ),
    (
        kinds::eks::CLUSTER.kind,
        Mapping {
            types: &["aws_eks_cluster"],
            map: eks::cluster,
            outputs: &[
                ("oidc_issuer", "identity[0].oidc[0].issuer"),
                ("cluster_security_group_id", "vpc_config[0].cluster_security_group_id"),
                ("certificate_authority", "certificate_authority[0].data"),
            ],
            computed: &[("id", "id"), ("arn", "arn"), ("endpoint", "endpoint")],
        },
    ),
    (
        kinds::eks::LAUNCH_TEMPLATE.kind,
        Mapping {
            types: &["aws_launch_template"],
            map: eks::launch_template,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::eks::NODE_GROUP.kind,
        Mapping {
            types: &["aws_eks_node_group"],
            map: eks::node_group,
            outputs: &[("autoscaling_group_name", "resources[0].autoscaling_groups[0].name")],
            computed: ID_ARN,
        },
    ),
    (
        kinds::eks::ACCESS_ENTRY.kind,
        Mapping {
            types: &["aws_eks_access_entry", "aws_eks_access_policy_association"],
            map: eks::access_entry,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::eks::ADDON.kind,
        Mapping { types: &["aws_eks_addon"], map: eks::addon, outputs: &[], computed: ID_ARN },
    ),
    (
        kinds::rds::SUBNET_GROUP.kind,
        Mapping {
            types: &["aws_db_subnet_group"],
            map: rds::db_subnet_group,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::rds::PARAMETER_GROUP.kind,
        Mapping {
            types: &["aws_db_parameter_group"],
            map: rds::db_parameter_group,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::rds::INSTANCE.kind,
        Mapping {
            types: &["aws_db_instance"],
            map: rds::db_instance,
            outputs: &[],
            // Terraform's `id` is the DbiResourceId, which empi-infra does not record: left out
            computed: &[("arn", "arn"), ("address", "address"), ("port", "port")],
        },
    ),
    (
        kinds::rds::BACKUP_REPLICATION.kind,
        Mapping {
            types: &["aws_db_instance_automated_backups_replication"],
            map: rds::db_backups_replication,
            outputs: &[],
            computed: &[("id", "id"), ("arn", "id")],
        },
    ),
    (
        kinds::rds::SNAPSHOT.kind,
        Mapping {
            types: &["aws_db_snapshot"],
            map: rds::db_snapshot,
            outputs: &[],
            computed: &[("id", "id"), ("arn", "db_snapshot_arn")],
        },
    ),
    (
        kinds::cognito::USER_POOL.kind,
        Mapping {
            types: &["aws_cognito_user_pool"],
            map: cognito::user_pool,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::cognito::DOMAIN.kind,
        Mapping {
            types: &["aws_cognito_user_pool_domain"],
            map: cognito::user_pool_domain,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::cognito::CLIENT.kind,
        Mapping {
            types: &["aws_cognito_user_pool_client"],
            map: cognito::user_pool_client,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::cognito::USER.kind,
        Mapping {
            types: &["aws_cognito_user"],
            map: cognito::cognito_user,
            outputs: &[],
            computed: &[("sub", "sub")],
        },
    ),
    (
        kinds::secrets::SECRET.kind,
        Mapping {
            types: &["aws_secretsmanager_secret"],
            map: secrets::secret,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::secrets::SECRET_VALUE.kind,
        Mapping {
            types: &["aws_secretsmanager_secret_version"],
            map: secrets::secret_version,
            outputs: &[],
            computed: &[],
        },
    ),
    (
        kinds::s3::BUCKET.kind,
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
            map: s3::bucket,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::elb::LOAD_BALANCER.kind,
        Mapping {
            types: &["aws_lb"],
            map: elb::load_balancer,
            outputs: &[],
            computed: &[
                ("id", "id"),
                ("arn", "arn"),
                ("dns_name", "dns_name"),
                ("zone_id", "zone_id"),
            ],
        },
    ),
    (
        kinds::elb::TARGET_GROUP.kind,
        Mapping {
            types: &["aws_lb_target_group"],
            map: elb::target_group,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::elb::LISTENER.kind,
        Mapping { types: &["aws_lb_listener"], map: elb::listener, outputs: &[], computed: ID_ARN },
    ),
    (
        kinds::elb::LISTENER_RULE.kind,
        Mapping {
            types: &["aws_lb_listener_rule"],
            map: elb::listener_rule,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::elb::ASG_ATTACHMENT.kind,
        Mapping {
            types: &["aws_autoscaling_attachment"],
            map: elb::asg_attachment,
            outputs: &[],
            computed: ID,
        },
    ),
    (
        kinds::waf::WEB_ACL.kind,
        Mapping {
            types: &["aws_wafv2_web_acl"],
            map: waf::web_acl,
            outputs: &[],
            computed: ID_ARN,
        },
    ),
    (
        kinds::waf::WEB_ACL_ASSOCIATION.kind,
        Mapping {
            types: &["aws_wafv2_web_acl_association"],
            map: waf::web_acl_association,
            outputs: &[],
            computed: ID,
        },
    ),
];

/// Kinds left out of the Terraform plan, and why.
pub static NO_EQUIVALENT: &[(&str, &str)] = &[
    (kinds::k8s::NAMESPACE.kind, K8S),
    (kinds::k8s::SERVICE_ACCOUNT.kind, K8S),
    (kinds::k8s::SERVICE.kind, K8S),
    (kinds::k8s::CONFIG_MAP.kind, K8S),
    (kinds::k8s::ROLE.kind, K8S),
    (kinds::k8s::ROLE_BINDING.kind, K8S),
    (kinds::k8s::DEPLOYMENT.kind, K8S),
    (kinds::k8s::JOB.kind, K8S),
    (kinds::k8s::JOB_ONCE.kind, K8S),
    (kinds::k8s::POD_DISRUPTION_BUDGET.kind, K8S),
    (kinds::k8s::SCALE.kind, "an action on Deployments (their replicas set once, around a PostgreSQL major upgrade), not an object of its own"),
];

const K8S: &str = "a Kubernetes object applied as its manifest; the hashicorp/kubernetes provider's types rewrite every manifest field into blocks of their own, which this mapping does not do (Checkov's kubernetes framework reads the manifests themselves)";

/// The mapping of `kind`, or why it has none.
pub fn mapping(kind: &str) -> Result<&'static Mapping, &'static str> {
    if let Some((_, m)) = MAPPINGS.iter().find(|(k, _)| *k == kind) {
        return Ok(m);
    }
    Err(NO_EQUIVALENT
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, why)| *why)
        .unwrap_or("not a kind this empi-infra knows"))
}

/// terraform-provider-aws's schema version of `ty` (0 where the provider declares none).
pub fn schema_version(ty: &str) -> u32 {
    match ty {
        "aws_db_instance" => 2,
        "aws_vpc" | "aws_subnet" | "aws_security_group" | "aws_eks_cluster" => 1,
        _ => 0,
    }
}

fn tags(s: &Src) -> (&'static str, TfValue) {
    ("tags", s.get("tags"))
}
