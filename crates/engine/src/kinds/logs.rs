//! Audit-log kinds: CloudWatch Logs log groups (made by empi-infra before the service that writes
//! to them, so their retention and encryption are the stack's, not the service's default of
//! "never expire"), the VPC's flow log, and the optional CloudTrail trail.

use super::MIN;
use crate::resource::Propagation;
use crate::{iam, kind};

kind! {
    /// A CloudWatch Logs log group with the stack's retention.
    LogGroup, LOG_GROUP = "aws_cloudwatch_log_group" {
        retention_in_days: Int,
        tags: Tags,
    }
    optional {
        // the stack's customer-managed KMS key, when there is one
        kms_key_id: Str,
        // destroy deletes the group even when it holds log data (otherwise it is kept as evidence)
        force_destroy: Bool,
    }
    outputs: [id, name, arn],
    schema: .typical(1).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["logs:DescribeLogGroups", "logs:ListTagsForResource"],
        create: ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:AssociateKmsKey", "logs:TagResource"],
        update: ["logs:PutRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource"],
        delete: ["logs:DeleteLogGroup"],
    }),
}

kind! {
    /// The VPC's flow log: all traffic to a log group, delivered with its own IAM role.
    FlowLog, FLOW_LOG = "aws_flow_log" {
        vpc_id: Str [force_new],
        traffic_type: Str [force_new],
        log_destination: Str [force_new],
        iam_role_arn: Str [force_new],
        tags: Tags,
    }
    outputs: [id],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["ec2:DescribeFlowLogs"],
        create: ["ec2:CreateFlowLogs", "ec2:CreateTags", "iam:PassRole", "logs:CreateLogDelivery"],
        update: ["ec2:CreateTags", "ec2:DeleteTags"],
        delete: ["ec2:DeleteFlowLogs", "logs:DeleteLogDelivery"],
    })
    // its delivery role is made just before it: until IAM propagates, EC2 cannot assume it
    // (terraform-provider-aws internal/service/ec2/vpc_flow_log.go retries this message)
    .propagation(&[Propagation {
        code: "InvalidParameter",
        message: "Unable to assume given IAM role",
        waiting_for: "IAM role not yet assumable by VPC Flow Logs",
    }]),
}

kind! {
    /// A multi-region CloudTrail trail to the log bucket, with log file validation.
    Trail, TRAIL = "aws_cloudtrail" {
        s3_bucket_name: Str,
        s3_key_prefix: Str,
        is_multi_region_trail: Bool,
        include_global_service_events: Bool,
        enable_log_file_validation: Bool,
        enable_logging: Bool,
        tags: Tags,
    }
    optional {
        // the stack's customer-managed KMS key, when there is one (the log bucket's SSE-S3 otherwise)
        kms_key_id: Str,
    }
    outputs: [id, arn, name],
    schema: .typical(3).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["cloudtrail:GetTrail", "cloudtrail:GetTrailStatus", "cloudtrail:ListTags"],
        create: ["cloudtrail:CreateTrail", "cloudtrail:StartLogging", "cloudtrail:AddTags"],
        update: ["cloudtrail:UpdateTrail", "cloudtrail:StartLogging", "cloudtrail:StopLogging", "cloudtrail:AddTags", "cloudtrail:RemoveTags"],
        delete: ["cloudtrail:DeleteTrail"],
    }),
    // no propagation retry: CloudTrail answers InsufficientS3BucketPolicyException for a bucket
    // policy that does not let it write, and the log bucket's policy is written (in the bucket's
    // create, which the trail depends on) before the trail is made; retrying that error would turn a
    // wrong policy into a wait until the kind's timeout
}
