//! The database: RDS PostgreSQL, its subnet group, parameter group and security group.

use super::*;
use crate::kinds::rds;

/// Database name and master user of the Tuva EMPI database.
pub const DB_NAME: &str = "tuva_empi";
/// The address of the stack's database instance.
pub const DATABASE_INSTANCE: &str = "database.instance";

/// The identifier of an instance `db restore` makes: `<stack>-db-restored-<yyyymmddhhmmss>`.
pub fn restored_database_identifier(stack: &Stack, stamp: &str) -> String {
    format!("{}{RESTORED_INFIX}{stamp}", stack.name)
}

/// What follows the stack's name in a restored instance's identifier.
pub const RESTORED_INFIX: &str = "-db-restored-";

/// The RDS master user: only the database-role Job connects as it.
pub const DB_USER: &str = "tuva_empi";

/// The application's own PostgreSQL role (the config document's `db.user`), made by the
/// database-role Job.
pub const DB_APP_USER: &str = "tuva_empi_app";

/// The login roles the application connects as, alternately: `rotate db-password` gives the other
/// one a new password and names it in the config document, and the old one's password is removed
/// once no pod uses it (Secrets Manager's alternating-users strategy). The first is the role that
/// owns the application's objects; the second is a member of it and acts as it (`SET ROLE`), so
/// what migrations make is owned by the same role whichever logs in.
pub const DB_APP_LOGINS: [&str; 2] = [DB_APP_USER, "tuva_empi_app_b"];

/// The login role the config document names now.
pub fn db_login(stack: &Stack) -> &str {
    match stack.security.secrets.db_login.as_str() {
        "" => DB_APP_USER,
        login => login,
    }
}

/// The login role a `rotate db-password` of the stack switches to.
pub fn next_db_login(stack: &Stack) -> &'static str {
    if db_login(stack) == DB_APP_LOGINS[0] {
        DB_APP_LOGINS[1]
    } else {
        DB_APP_LOGINS[0]
    }
}

/// Days Performance Insights keeps its data: the free tier.
pub const PERFORMANCE_INSIGHTS_RETENTION_DAYS: u32 = 7;

/// The database parameter group family and name for the stack's engine version.
pub fn parameter_group(stack: &Stack) -> (String, String) {
    let major = stack.database.engine_version.split('.').next().unwrap_or("16");
    (format!("postgres{major}"), format!("{}-postgres{major}", stack.name))
}

pub(super) fn database_area(stack: &Stack, net: &Network, out: &mut Vec<ResourceSpec>) {
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
            parameters: Expr::lit(
                json!({"rds.force_ssl": "1", "log_connections": "1", "log_disconnections": "1"}),
            ),
            tags: tags(stack, "database.parameter_group", &pg_name),
        }
        .spec("database.parameter_group", &pg_name),
    );
    let db = &stack.database;
    let dbi = stack.database_identifier();
    let mut instance = rds::Instance {
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
        tags: tags(stack, DATABASE_INSTANCE, &dbi),
        enabled_cloudwatch_logs_exports: Some(strings(DB_LOG_EXPORTS)),
        manage_master_user_password: Some(true.into()),
        master_user_secret_kms_key_id: Some(kms_key_arn(stack)),
        master_password: None,
        master_password_secret_arn: None,
    }
    .spec(DATABASE_INSTANCE, &dbi)
    // RDS publishes to /aws/rds/instance/<id>/postgresql, making it (never to expire) if missing
    .after("audit.database_log_group");
    // a PostgreSQL major upgrade waits for the snapshot taken before it
    let major = format!("postgres{}", crate::stack::postgres_major(&db.engine_version));
    if db.upgrade_snapshots.contains(&major) {
        instance = instance.after(&upgrade_snapshot_address(&major));
    }
    out.push(instance);
    // the way back from each of the last upgrades: a snapshot taken before a Tuva EMPI version's
    // migrations ran (the migrate Job waits for it), or before a PostgreSQL major upgrade
    // (`postgres<N>`: the instance's update waits for it, so it names the instance literally)
    for key in &db.upgrade_snapshots {
        let name = upgrade_snapshot_name(stack, key);
        let db_instance_identifier = if let Some(taken_of) = db.snapshot_sources.get(key) {
            taken_of.as_str().into()
        } else if key.starts_with("postgres") {
            dbi.as_str().into()
        } else {
            r(DATABASE_INSTANCE, "id")
        };
        let mut snapshot = rds::Snapshot {
            db_instance_identifier,
            tags: tags(stack, &upgrade_snapshot_address(key), &name),
        }
        .spec(&upgrade_snapshot_address(key), &name);
        // a major upgrade's snapshot once the database's writers stopped: it holds all they wrote
        if db.upgrade_steps.contains(key) {
            snapshot = snapshot.after(&super::workloads::pause_writers_address(key));
        }
        out.push(snapshot);
    }
}

/// The address of the snapshot taken before `version`'s migrations.
pub fn upgrade_snapshot_address(version: &str) -> String {
    format!("database.upgrade_snapshot[{version}]")
}

/// The snapshot taken before `version`'s migrations: `<db>-pre-<version>` (RDS: letters, digits
/// and single hyphens, a letter first).
pub fn upgrade_snapshot_name(stack: &Stack, version: &str) -> String {
    let v: String = version
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut name = format!("{}-db-pre-{}", stack.name, v.trim_matches('-'));
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.chars().take(255).collect::<String>().trim_end_matches('-').to_string()
}

/// The address of the database's backups replicated to `[database] backup_replica_region`, and of
/// the key that encrypts them there.
pub const BACKUP_REPLICATION: &str = "database.backup_replication";
pub const BACKUP_REPLICA_KEY: &str = "database.backup_replica_key";

/// With `[database] backup_replica_region`: a key of the stack's in that region (RDS encrypts
/// the copies with a key of their region) and the replication of the automated backups to it.
pub(super) fn backup_replica_area(stack: &Stack, account: &str, out: &mut Vec<ResourceSpec>) {
    let Some(replica) = &stack.database.backup_replica_region else { return };
    let n = &stack.name;
    let p = crate::arn::partition_of(replica);
    let name = format!("{n}-backups");
    out.push(
        crate::kinds::kms::Key {
            description: format!(
                "Encrypts the database backups of Tuva EMPI stack {n} replicated from {} (managed by empi-infra)",
                stack.region
            )
            .into(),
            enable_key_rotation: true.into(),
            // RDS uses it through the caller's grant: the account administers it, IAM policies
            // (the operator's) allow its use
            policy: Expr::lit(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": format!("arn:{p}:iam::{account}:root")},
                    "Action": "kms:*",
                    "Resource": "*"
                }]
            })),
            alias: format!("alias/{name}").into(),
            deletion_window_in_days: super::security::KMS_DELETION_WINDOW_DAYS.into(),
            tags: tags(stack, BACKUP_REPLICA_KEY, &name),
            region: Some(replica.as_str().into()),
        }
        .spec(BACKUP_REPLICA_KEY, &name),
    );
    out.push(
        rds::BackupReplication {
            source_db_instance_arn: r(DATABASE_INSTANCE, "arn"),
            region: replica.as_str().into(),
            kms_key_id: r(BACKUP_REPLICA_KEY, "arn"),
            retention_period: stack.database.backup_retention_days.into(),
        }
        .spec(BACKUP_REPLICATION, &stack.database_identifier()),
    );
}
