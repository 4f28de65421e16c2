//! The RDS kinds of `crate::kinds::rds` in Terraform.

use super::*;

pub(super) fn db_subnet_group(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_db_subnet_group",
        vec![
            ("name", s.name()),
            ("description", s.get("description")),
            ("subnet_ids", s.get("subnet_ids")),
            ("vpc_id", TfValue::Computed(Box::new(s.get("vpc_id")))),
            tags(s),
        ],
    )]
}

pub(super) fn db_snapshot(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_db_snapshot",
        vec![
            ("db_snapshot_identifier", s.name()),
            ("db_instance_identifier", s.get("db_instance_identifier")),
            tags(s),
        ],
    )]
}

/// Terraform's `aws_db_instance_automated_backups_replication`, in the destination region
/// (provider 6's per-resource `region`).
pub(super) fn db_backups_replication(s: &Src) -> Vec<TfResource> {
    vec![one(
        "aws_db_instance_automated_backups_replication",
        vec![
            ("region", s.get("region")),
            ("source_db_instance_arn", s.get("source_db_instance_arn")),
            ("kms_key_id", s.get("kms_key_id")),
            ("retention_period", s.get("retention_period")),
        ],
    )]
}

pub(super) fn db_parameter_group(s: &Src) -> Vec<TfResource> {
    let parameters = members(&s.expr("parameters"))
        .into_iter()
        .map(|(name, value)| {
            let method = match kinds::rds::apply_method(&name) {
                kinds::rds::ApplyMethod::Immediate => "immediate",
                kinds::rds::ApplyMethod::PendingReboot => "pending-reboot",
            };
            obj(vec![
                ("name", lit(name)),
                ("value", TfValue::E(value)),
                ("apply_method", lit(method)),
            ])
        })
        .collect();
    vec![one(
        "aws_db_parameter_group",
        vec![
            ("name", s.name()),
            ("family", s.get("family")),
            ("description", s.get("description")),
            ("parameter", TfValue::List(parameters)),
            tags(s),
        ],
    )]
}

pub(super) fn db_instance(s: &Src) -> Vec<TfResource> {
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
            (
                "performance_insights_retention_period",
                s.get("performance_insights_retention_period"),
            ),
            ("publicly_accessible", s.get("publicly_accessible")),
            ("multi_az", s.get("multi_az")),
            ("backup_retention_period", s.get("backup_retention_period")),
            ("deletion_protection", s.get("deletion_protection")),
            ("copy_tags_to_snapshot", s.get("copy_tags_to_snapshot")),
            ("enabled_cloudwatch_logs_exports", s.get("enabled_cloudwatch_logs_exports")),
            ("db_name", s.get("db_name")),
            ("username", s.get("master_username")),
            // generated, kept only in the config secret
            ("password", TfValue::Sensitive),
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
