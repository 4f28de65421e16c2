//! Database kinds: DB subnet group, parameter group, the RDS PostgreSQL instance and its
//! pre-upgrade snapshots.

use super::MIN;
use crate::{iam, kind};

kind! {
    /// The database's subnet group (private subnets).
    SubnetGroup, SUBNET_GROUP = "aws_db_subnet_group" {
        description: Str,
        // a subnet group cannot move to another VPC; a new VPC means a new subnet group (and database)
        vpc_id: Str [force_new],
        subnet_ids: Strings [set],
        tags: Tags,
    }
    outputs: [id, name, arn],
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
        create: ["rds:CreateDBSubnetGroup", "rds:AddTagsToResource"],
        update: ["rds:ModifyDBSubnetGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        delete: ["rds:DeleteDBSubnetGroup"],
    }),
}

kind! {
    /// The parameter group of the engine's family (`rds.force_ssl`).
    ParameterGroup, PARAMETER_GROUP = "aws_db_parameter_group" {
        family: Str [force_new],
        description: Str [force_new],
        parameters: Object,
        tags: Tags,
    }
    outputs: [id, name, arn],
    // a new family (16 → 17) is a new group, made before the old one goes: the database uses the
    // old one until it is modified to the new (terraform-provider-aws documents
    // create_before_destroy for aws_db_parameter_group for the same reason)
    schema: .create_before_destroy().typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"],
        create: ["rds:CreateDBParameterGroup", "rds:ModifyDBParameterGroup", "rds:AddTagsToResource"],
        update: ["rds:ModifyDBParameterGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        delete: ["rds:DeleteDBParameterGroup"],
    }),
}

kind! {
    /// The RDS PostgreSQL instance. RDS makes and keeps its master password in a secret of its own
    /// (`manage_master_user_password`, encrypted with the stack's key): empi-infra never sees it,
    /// and only the database-role Job reads it. `master_password` and `master_password_secret_arn`
    /// are what states of stacks from before that recorded (the password in the config secret);
    /// nothing sets or reads them now.
    Instance, INSTANCE = "aws_db_instance" {
        engine: Str [force_new],
        engine_version: Str,
        instance_class: Str,
        allocated_storage: Int,
        storage_type: Str,
        storage_encrypted: Bool [force_new],
        // RDS encrypts storage with one key for the instance's life (ModifyDBInstance has no KmsKeyId)
        kms_key_id: Str [force_new],
        performance_insights_enabled: Bool,
        performance_insights_kms_key_id: Str [set_once],
        performance_insights_retention_period: Int,
        publicly_accessible: Bool,
        multi_az: Bool,
        backup_retention_period: Int,
        deletion_protection: Bool,
        copy_tags_to_snapshot: Bool,
        db_name: Str [force_new],
        master_username: Str [force_new],
        db_subnet_group_name: Str [force_new],
        db_parameter_group_name: Str,
        vpc_security_group_ids: Strings [set],
        tags: Tags,
    }
    optional {
        // logs published to CloudWatch Logs (`postgresql`: the server log, connections included)
        enabled_cloudwatch_logs_exports: Strings [set],
        // RDS keeps the master password in a secret it makes and rotates
        manage_master_user_password: Bool,
        master_user_secret_kms_key_id: Str,
        master_password: Str [write_only sensitive],
        master_password_secret_arn: Str [write_only],
    }
    outputs: [id, arn, address, port, master_user_secret_arn],
    schema: .stateful().typical(420).timeouts(40 * MIN, 80 * MIN, 60 * MIN).iam(iam! {
        // plan reads RDS's list of PostgreSQL versions before it judges the stack's
        read: [
            "rds:DescribeDBInstances", "rds:ListTagsForResource", "rds:DescribeDBEngineVersions",
            // plan reads the extensions RDS offers for the major (`rds.extensions`)
            "rds:DescribeEngineDefaultParameters",
        ],
        create: [
            "rds:CreateDBInstance", "rds:AddTagsToResource", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey",
            // RDS makes the master user's secret as the caller
            "secretsmanager:CreateSecret", "secretsmanager:TagResource",
        ],
        update: [
            "rds:ModifyDBInstance", "rds:AddTagsToResource", "rds:RemoveTagsFromResource", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant",
            "kms:GenerateDataKey", "secretsmanager:CreateSecret", "secretsmanager:TagResource",
        ],
        delete: ["rds:DeleteDBInstance", "rds:CreateDBSnapshot"],
    }),
}

kind! {
    /// A manual snapshot of the database taken before a new Tuva EMPI version's migrations run:
    /// the way back when a downgrade is needed. The last `[database] keep_upgrade_snapshots` are
    /// kept; older ones empi-infra made are deleted (never a snapshot it did not make).
    Snapshot, SNAPSHOT = "aws_db_snapshot" {
        db_instance_identifier: Str [force_new],
        tags: Tags,
    }
    outputs: [id, arn, snapshot_create_time],
    schema: .stateful().typical(300).timeouts(60 * MIN, 5 * MIN, 30 * MIN).iam(iam! {
        read: ["rds:DescribeDBSnapshots", "rds:ListTagsForResource"],
        create: ["rds:CreateDBSnapshot", "rds:AddTagsToResource"],
        update: ["rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        delete: ["rds:DeleteDBSnapshot"],
    }),
}

kind! {
    /// The database's automated backups (snapshots and transaction logs) replicated by RDS to a
    /// second region (`[database] backup_replica_region`), encrypted there with the stack's key of
    /// that region, kept `retention_period` days. RDS tags it not: it is found by the database it
    /// copies, whose ownership is proven first. Deleting it stops the replication; the copies
    /// made so far are kept until their retention ends.
    BackupReplication, BACKUP_REPLICATION = "aws_db_instance_automated_backups_replication" {
        source_db_instance_arn: Str [force_new],
        region: Str [force_new],
        kms_key_id: Str [force_new],
        retention_period: Int [force_new],
    }
    outputs: [id, arn],
    // terraform-provider-aws waits up to 75 minutes for the replication to start and to stop
    schema: .typical(300).timeouts(75 * MIN, 5 * MIN, 75 * MIN).iam(iam! {
        read: ["rds:DescribeDBInstanceAutomatedBackups"],
        create: [
            "rds:StartDBInstanceAutomatedBackupsReplication", "kms:DescribeKey", "kms:CreateGrant",
        ],
        update: [],
        delete: ["rds:StopDBInstanceAutomatedBackupsReplication"],
    }),
}

/// How RDS applies each parameter empi-infra sets: a static parameter takes effect at the next
/// reboot and must be sent with `pending-reboot` (RDS refuses `immediate` for it:
/// `InvalidParameterCombination: cannot use immediate apply method for static parameter`); a
/// dynamic one is sent with `immediate`. `rds.force_ssl` is treated as static: RDS has reported it
/// so for PostgreSQL (sending `pending-reboot` for a dynamic parameter is accepted, so erring this
/// way is safe; a new instance boots with its group's values either way).
pub const PARAMETER_APPLY: &[(&str, ApplyMethod)] = &[
    ("rds.force_ssl", ApplyMethod::PendingReboot),
    ("log_connections", ApplyMethod::Immediate),
    ("log_disconnections", ApplyMethod::Immediate),
];

/// When a parameter change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMethod {
    Immediate,
    PendingReboot,
}

/// The apply method of `parameter`; parameters not in the table wait for a reboot (always accepted).
pub fn apply_method(parameter: &str) -> ApplyMethod {
    PARAMETER_APPLY
        .iter()
        .find(|(p, _)| *p == parameter)
        .map(|(_, m)| *m)
        .unwrap_or(ApplyMethod::PendingReboot)
}
