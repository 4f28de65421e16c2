//! The EKS kinds of `crate::kinds::eks` in Terraform.

use super::*;

pub(super) fn cluster(s: &Src) -> Vec<TfResource> {
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
                block(vec![
                    ("resources", lit(json!(["secrets"]))),
                    ("provider", block(vec![("key_arn", s.get("encryption_key_arn"))])),
                ]),
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

pub(super) fn launch_template(s: &Src) -> Vec<TfResource> {
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

pub(super) fn addon(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_eks_addon",
        vec![
            ("cluster_name", s.get("cluster_name")),
            ("addon_name", s.name()),
            ("addon_version", s.get("addon_version")),
            // takes over the self-managed add-on EKS installed; keeps what was customised after
            ("resolve_conflicts_on_create", lit("OVERWRITE")),
            ("resolve_conflicts_on_update", lit("PRESERVE")),
            tags(s),
        ],
    )]
}

pub(super) fn node_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_eks_node_group",
        vec![
            ("cluster_name", s.get("cluster_name")),
            ("node_group_name", s.name()),
            ("node_role_arn", s.get("node_role_arn")),
            ("subnet_ids", s.get("subnet_ids")),
            ("instance_types", s.get("instance_types")),
            ("ami_type", s.get("ami_type")),
            ("version", s.get("version")),
            (
                "scaling_config",
                block(vec![
                    ("desired_size", s.get("desired_size")),
                    ("max_size", s.get("max_size")),
                    ("min_size", s.get("min_size")),
                ]),
            ),
            (
                "launch_template",
                block(vec![
                    ("id", s.get("launch_template_id")),
                    ("version", s.get("launch_template_version")),
                ]),
            ),
            tags(s),
        ],
    )]
}

/// An access entry and its cluster-scoped policy association: two resources in Terraform.
pub(super) fn access_entry(s: &Src) -> Vec<TfResource> {
    vec![
        one(
            "aws_eks_access_entry",
            vec![
                ("cluster_name", s.get("cluster_name")),
                ("principal_arn", s.get("principal_arn")),
                ("type", lit("STANDARD")),
            ],
        ),
        TfResource {
            ty: "aws_eks_access_policy_association",
            key: None,
            attrs: vec![
                ("cluster_name", s.get("cluster_name")),
                ("principal_arn", TfValue::Own("principal_arn", Box::new(s.get("principal_arn")))),
                ("policy_arn", s.get("policy_arn")),
                (
                    "access_scope",
                    block(vec![("type", lit("cluster")), ("namespaces", lit(json!([])))]),
                ),
            ],
        },
    ]
}
