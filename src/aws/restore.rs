//! Restores of the stack's database to a new instance (`db restore-drill`, `db restore`): the restore call with
//! every hardening setting named, since `RestoreDBInstanceToPointInTime` takes AWS's defaults, not
//! the source's, for what it does not name (no subnet group: the default VPC, public where it has an
//! internet gateway; the default security group and parameter group; single-AZ; no deletion
//! protection); the wait; the deletion; and the drills found again by their tags.

use std::time::{Duration, Instant};

use aws_sdk_rds::types::{DbInstance, Tag};
use aws_sdk_rds::Client;
use empi_engine::resource::ProviderError;

/// The tag naming the stack (and region, `<stack>/<region>`) a drill instance is a drill of.
pub const DRILL_TAG: &str = "empi-infra:drill-of";

/// What a restored instance must have to be hardened exactly as the stack's own. A drill's copy is
/// single-AZ, unprotected and keeps the restore's backup retention; a copy that becomes the stack's
/// database (`db restore`) is given the stack's.
#[derive(Debug, Clone, Default)]
pub struct Hardening {
    pub subnet_group: String,
    pub security_groups: Vec<String>,
    pub parameter_group: String,
    /// The source's key: a restore keeps the source's encryption.
    pub kms_key: String,
    pub instance_class: String,
    pub multi_az: bool,
    pub deletion_protection: bool,
    pub backup_retention_days: Option<i32>,
    /// RDS keeps the restored instance's master password in a secret of its own, encrypted with
    /// this key (as the stack's database does); `None`: the drill's copy, whose master password
    /// nothing reads.
    pub managed_master_key: Option<String>,
}

/// Starts the restore of `source` as `target` (to `to`, or the latest restorable time), hardened,
/// tagged with `tags` (a drill's or a restore's carry [`DRILL_TAG`] until it is switched to).
pub async fn restore(
    rds: &Client,
    source: &str,
    target: &str,
    to: Option<aws_sdk_rds::primitives::DateTime>,
    hardening: &Hardening,
    tags: &[(String, String)],
) -> Result<(), ProviderError> {
    let all: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let owner = tags.iter().find(|(k, _)| k == DRILL_TAG).map(|(_, v)| v.as_str());
    let r = rds
        .restore_db_instance_to_point_in_time()
        .source_db_instance_identifier(source)
        .target_db_instance_identifier(target)
        .set_restore_time(to)
        .use_latest_restorable_time(to.is_none())
        .db_subnet_group_name(&hardening.subnet_group)
        .set_vpc_security_group_ids(Some(hardening.security_groups.clone()))
        .db_parameter_group_name(&hardening.parameter_group)
        .db_instance_class(&hardening.instance_class)
        .publicly_accessible(false)
        .multi_az(hardening.multi_az)
        .deletion_protection(hardening.deletion_protection)
        .set_backup_retention_period(hardening.backup_retention_days)
        .set_manage_master_user_password(hardening.managed_master_key.as_ref().map(|_| true))
        .set_master_user_secret_kms_key_id(hardening.managed_master_key.clone())
        .copy_tags_to_snapshot(true)
        .set_tags(Some(all))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => {
            use aws_sdk_rds::error::ProvideErrorMetadata;
            // a retried call whose first attempt went through: the instance is this run's
            if let (Some("DBInstanceAlreadyExists"), Some(owner)) = (e.code(), owner) {
                if let Some(d) = describe(rds, target).await? {
                    let ours = d
                        .tag_list()
                        .iter()
                        .any(|t| t.key() == Some(DRILL_TAG) && t.value() == Some(owner));
                    if ours {
                        return Ok(());
                    }
                }
            }
            Err(super::aws_err(e))
        }
    }
}

/// The instance `id`, `None` once it is gone.
pub async fn describe(rds: &Client, id: &str) -> Result<Option<DbInstance>, ProviderError> {
    use aws_sdk_rds::error::ProvideErrorMetadata;
    match rds.describe_db_instances().db_instance_identifier(id).send().await {
        Ok(r) => Ok(r.db_instances().first().cloned()),
        Err(e) if e.code().is_some_and(|c| c.starts_with("DBInstanceNotFound")) => Ok(None),
        Err(e) => Err(super::aws_err(e)),
    }
}

/// Waits until `id` is `available` (Ok) or `gone` is wanted and it no longer exists, saying where it
/// stands every minute; past `deadline`, one sentence with its status.
pub async fn wait(
    rds: &Client,
    id: &str,
    gone: bool,
    deadline: Duration,
    progress: &dyn Fn(&str),
) -> Result<Option<DbInstance>, String> {
    let t0 = Instant::now();
    let mut said = Instant::now();
    loop {
        let d =
            describe(rds, id).await.map_err(|e| format!("cannot read the instance {id}: {e}"))?;
        let last = match (&d, gone) {
            (None, true) => return Ok(None),
            (None, false) => {
                return Err(format!(
                    "the restored instance {id} disappeared while it was being restored"
                ))
            }
            (Some(d), false) if d.db_instance_status() == Some("available") => {
                return Ok(Some(d.clone()))
            }
            (Some(d), _) => {
                let last = d.db_instance_status().unwrap_or("unknown").to_string();
                if matches!(
                    last.as_str(),
                    "failed" | "incompatible-restore" | "incompatible-parameters"
                ) {
                    return Err(format!(
                        "the restored instance {id} is {last}: RDS could not restore it"
                    ));
                }
                last
            }
        };
        if t0.elapsed() > deadline {
            return Err(format!(
                "the restored instance {id} is still {last} after {} minutes; see it in the RDS console (while it is tagged {DRILL_TAG}, the next drill removes it)",
                deadline.as_secs() / 60
            ));
        }
        if said.elapsed() > Duration::from_secs(60) {
            progress(&format!("{id}: {last} ({} s)", t0.elapsed().as_secs()));
            said = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(if t0.elapsed() < Duration::from_secs(30) {
            500
        } else {
            10_000
        }))
        .await;
    }
}

/// Deletes a drill instance and its automated backups, with no final snapshot: it is a copy.
pub async fn delete(rds: &Client, id: &str) -> Result<(), ProviderError> {
    use aws_sdk_rds::error::ProvideErrorMetadata;
    match rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| c.starts_with("DBInstanceNotFound")) => Ok(()),
        // already being deleted (an earlier run got this far); another state is an error
        Err(e) if e.code() == Some("InvalidDBInstanceState") => {
            match describe(rds, id).await?.and_then(|d| d.db_instance_status().map(String::from)) {
                None => Ok(()),
                Some(s) if s == "deleting" => Ok(()),
                Some(_) => Err(super::aws_err(e)),
            }
        }
        Err(e) => Err(super::aws_err(e)),
    }
}

/// The drill instances of `owner` (`<stack>/<region>`) that exist, found by their tag, with
/// whether each is being deleted already; never `recorded`, the instance state records as the
/// stack's database (a `db restore` cut short after it wrote state, before it removed the tag).
pub async fn drills_of(
    rds: &Client,
    owner: &str,
    recorded: &str,
) -> Result<Vec<(String, bool)>, ProviderError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let r =
            rds.describe_db_instances().set_marker(marker).send().await.map_err(super::aws_err)?;
        for d in r.db_instances() {
            let tagged =
                d.tag_list().iter().any(|t| t.key() == Some(DRILL_TAG) && t.value() == Some(owner));
            if tagged && d.db_instance_identifier() != Some(recorded) {
                out.push((
                    d.db_instance_identifier().unwrap_or_default().to_string(),
                    d.db_instance_status() == Some("deleting"),
                ));
            }
        }
        marker = r.marker().map(String::from);
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// The tag a `db restore` puts on the instance it replaced: `<restored instance> at <time>`.
pub const REPLACED_TAG: &str = "empi-infra:replaced-by-restore";

/// Keeps the instance a `db restore` replaced: deletion protection on (applied at once), tagged
/// with what replaced it and when.
pub async fn keep_replaced(
    rds: &Client,
    id: &str,
    arn: &str,
    note: &str,
) -> Result<(), ProviderError> {
    rds.modify_db_instance()
        .db_instance_identifier(id)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .map_err(super::aws_err)?;
    rds.add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(REPLACED_TAG).value(note).build())
        .send()
        .await
        .map_err(super::aws_err)?;
    Ok(())
}

/// Turns on the deletion protection of `id` (a restored copy that became the stack's database).
pub async fn protect(rds: &Client, id: &str) -> Result<(), ProviderError> {
    rds.modify_db_instance()
        .db_instance_identifier(id)
        .deletion_protection(true)
        .apply_immediately(true)
        .send()
        .await
        .map_err(super::aws_err)?;
    Ok(())
}

/// Removes the tag `key` from the instance `arn` (the drill tag, once a restored instance is the
/// stack's database).
pub async fn untag(rds: &Client, arn: &str, key: &str) -> Result<(), ProviderError> {
    rds.remove_tags_from_resource()
        .resource_name(arn)
        .tag_keys(key)
        .send()
        .await
        .map_err(super::aws_err)?;
    Ok(())
}

/// Deletes the instance a `db restore` replaced (`db restore --finalize`): deletion protection off,
/// then deleted with a final snapshot `final_snapshot`; its automated backups are kept for their
/// retention period, so it can still be restored to a time before the switch.
pub async fn delete_replaced(
    rds: &Client,
    id: &str,
    final_snapshot: &str,
) -> Result<(), ProviderError> {
    use aws_sdk_rds::error::ProvideErrorMetadata;
    rds.modify_db_instance()
        .db_instance_identifier(id)
        .deletion_protection(false)
        .apply_immediately(true)
        .send()
        .await
        .map_err(super::aws_err)?;
    match rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(false)
        .final_db_snapshot_identifier(final_snapshot)
        .delete_automated_backups(false)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code().is_some_and(|c| c.starts_with("DBInstanceNotFound")) => Ok(()),
        Err(e) => Err(super::aws_err(e)),
    }
}
