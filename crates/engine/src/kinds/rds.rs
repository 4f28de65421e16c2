//! Database kinds: DB subnet group, parameter group and the RDS PostgreSQL instance.

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
    schema: .typical(2).timeouts(5 * MIN, 5 * MIN, 5 * MIN).iam(iam! {
        read: ["rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"],
        create: ["rds:CreateDBParameterGroup", "rds:ModifyDBParameterGroup", "rds:AddTagsToResource"],
        update: ["rds:ModifyDBParameterGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        delete: ["rds:DeleteDBParameterGroup"],
    }),
}

kind! {
    /// The RDS PostgreSQL instance. Its master password is read from the config secret at create
    /// time and never passes through state or plans.
    Instance, INSTANCE = "aws_db_instance" {
        engine: Str [force_new],
        engine_version: Str,
        instance_class: Str,
        allocated_storage: Int,
        storage_type: Str,
        storage_encrypted: Bool [force_new],
        publicly_accessible: Bool,
        multi_az: Bool,
        backup_retention_period: Int,
        deletion_protection: Bool,
        copy_tags_to_snapshot: Bool,
        db_name: Str [force_new],
        master_username: Str [force_new],
        master_password: Str [write_only sensitive],
        master_password_secret_arn: Str [write_only],
        db_subnet_group_name: Str [force_new],
        db_parameter_group_name: Str,
        vpc_security_group_ids: Strings [set],
        tags: Tags,
    }
    outputs: [id, arn, address, port],
    schema: .stateful().typical(420).timeouts(40 * MIN, 80 * MIN, 60 * MIN).iam(iam! {
        read: ["rds:DescribeDBInstances", "rds:ListTagsForResource"],
        create: ["rds:CreateDBInstance", "rds:AddTagsToResource", "secretsmanager:GetSecretValue"],
        update: ["rds:ModifyDBInstance", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"],
        delete: ["rds:DeleteDBInstance", "rds:CreateDBSnapshot"],
    }),
}
