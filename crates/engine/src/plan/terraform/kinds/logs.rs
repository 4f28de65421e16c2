//! The log group, flow log and CloudTrail kinds of `crate::kinds::logs` in Terraform.

use super::*;

pub(super) fn log_group(s: &Src) -> Vec<TfResource> {
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

pub(super) fn flow_log(s: &Src) -> Vec<TfResource> {
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

pub(super) fn trail(s: &Src) -> Vec<TfResource> {
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
