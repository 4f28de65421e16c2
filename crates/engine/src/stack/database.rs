//! `[database]`: the RDS PostgreSQL instance.

use super::*;

/// `engine_version` when the stack names none: the oldest major Tuva EMPI runs on.
pub const DEFAULT_ENGINE_VERSION: &str = "16";
/// `instance_class` when the stack names none.
pub const DEFAULT_INSTANCE_CLASS: &str = "db.t4g.medium";
/// `multi_az` when the stack says nothing: a standby to fail over to.
const DEFAULT_MULTI_AZ: bool = true;
/// `deletion_protection` when the stack says nothing.
const DEFAULT_DELETION_PROTECTION: bool = true;

/// `allocated_storage_gb`: its default and range (the schema and the validator read them here).
const STORAGE_GB: Int = Int { key: "allocated_storage_gb", default: 50, min: 20, max: 65536 };
/// `backup_retention_days`: its default and range (the schema and the validator read them here).
const BACKUP_DAYS: Int = Int { key: "backup_retention_days", default: 7, min: 1, max: 35 };

/// `keep_upgrade_snapshots`: its default and range (the schema and the validator read them here).
const KEEP_UPGRADE_SNAPSHOTS: Int =
    Int { key: "keep_upgrade_snapshots", default: 3, min: 1, max: 20 };

/// The RDS PostgreSQL database (encrypted, private, TLS only).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Database")]
pub(super) struct RawDatabase {
    /// The PostgreSQL version: a major version (AWS picks and upgrades the minor) or a full version
    /// RDS offers. Tuva EMPI needs 16 or newer.
    #[schemars(with = "Option<String>", extend("pattern" = ENGINE_VERSION_PATTERN, "examples" = schema_engine_versions(), "default" = DEFAULT_ENGINE_VERSION))]
    engine_version: Option<S<String>>,
    /// The RDS instance class, e.g. "db.t4g.medium", "db.m7g.large" or "db.r7g.large".
    #[schemars(with = "Option<String>", extend("enum" = DB_INSTANCE_CLASSES, "default" = DEFAULT_INSTANCE_CLASS))]
    instance_class: Option<S<String>>,
    /// Storage in GB (gibibytes).
    #[schemars(with = "Option<i64>", range(min = STORAGE_GB.min, max = STORAGE_GB.max), extend("default" = STORAGE_GB.default))]
    allocated_storage_gb: Option<S<i64>>,
    /// A standby in a second zone that RDS fails over to.
    #[schemars(with = "Option<bool>", extend("default" = DEFAULT_MULTI_AZ))]
    multi_az: Option<S<bool>>,
    /// Days automated backups are kept.
    #[schemars(with = "Option<i64>", range(min = BACKUP_DAYS.min, max = BACKUP_DAYS.max), extend("default" = BACKUP_DAYS.default))]
    backup_retention_days: Option<S<i64>>,
    /// Whether RDS refuses to delete the database; `destroy` stops at a protected database and
    /// says how to lift it.
    #[schemars(with = "Option<bool>", extend("default" = DEFAULT_DELETION_PROTECTION))]
    deletion_protection: Option<S<bool>>,
    /// How many manual snapshots taken before a Tuva EMPI version's migrations are kept (the way
    /// back from an upgrade); older ones empi-infra made are deleted.
    #[schemars(with = "Option<i64>", range(min = KEEP_UPGRADE_SNAPSHOTS.min, max = KEEP_UPGRADE_SNAPSHOTS.max), extend("default" = KEEP_UPGRADE_SNAPSHOTS.default))]
    keep_upgrade_snapshots: Option<S<i64>>,
    /// A second region RDS copies the database's automated backups to (snapshots and transaction
    /// logs, kept as long as `backup_retention_days`), encrypted with a key the stack makes there:
    /// the disaster-recovery copy a restore in that region starts from.
    #[schemars(with = "Option<String>", extend("enum" = REGIONS))]
    backup_replica_region: Option<S<String>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DatabaseConfig {
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage_gb: u32,
    pub multi_az: bool,
    pub backup_retention_days: u32,
    pub deletion_protection: bool,
    pub keep_upgrade_snapshots: u32,
    /// The Tuva EMPI versions whose pre-migration snapshot the stack keeps, oldest first: not in
    /// the stack file, placed from state (`Session::place`) like the zones.
    pub upgrade_snapshots: Vec<String>,
    /// The PostgreSQL major upgrades (`postgres17`) planned with their steps around the database
    /// (writers stopped, ANALYZE, writers started): placed from state like `upgrade_snapshots`.
    pub upgrade_steps: Vec<String>,
    /// The RDS instance identifier when `db restore` switched the stack to a restored instance:
    /// not in the stack file, placed from state (`Session::place`); empty: `<stack>-db`.
    pub restored_identifier: String,
    /// `backup_replica_region`.
    pub backup_replica_region: Option<String>,
    /// The instance each kept upgrade snapshot was taken of (`upgrade_snapshots` key → identifier),
    /// as state records it: a snapshot stays the snapshot of the instance it was taken of, also
    /// after `db restore` switched the stack to another. Placed from state like the zones.
    pub snapshot_sources: std::collections::BTreeMap<String, String>,
}

impl Validator<'_> {
    pub(super) fn database(&mut self, raw: Option<S<RawDatabase>>, region: &str) -> DatabaseConfig {
        let raw = raw.map(|r| r.into_inner()).unwrap_or(RawDatabase {
            engine_version: None,
            instance_class: None,
            allocated_storage_gb: None,
            multi_az: None,
            backup_retention_days: None,
            deletion_protection: None,
            keep_upgrade_snapshots: None,
            backup_replica_region: None,
        });
        let (engine_version, ev) = self.string(raw.engine_version, DEFAULT_ENGINE_VERSION);
        if let Some(s) = &ev {
            let major = engine_version.split('.').next().unwrap_or("");
            match major.parse::<u32>() {
                Ok(m) if m < 16 => self.err(
                    s,
                    format!("PostgreSQL {engine_version} is too old: Tuva EMPI needs PostgreSQL 16 or newer"),
                    "set engine_version = \"16\"",
                ),
                // which majors and minors RDS offers is RDS's to say: `plan` reads its list
                Ok(_) if engine_version.split('.').count() > 2
                    || engine_version.split('.').any(|p| p.parse::<u32>().is_err()) =>
                {
                    self.err(
                        s,
                        format!("{engine_version:?} is not a PostgreSQL version"),
                        "write the major (\"16\") or a major and minor (\"16.4\")",
                    )
                }
                Ok(_) => {}
                Err(_) => self.err(
                    s,
                    format!("{engine_version:?} is not a PostgreSQL version"),
                    "write the major (\"16\") or a full version (\"16.4\")",
                ),
            }
        }
        let (instance_class, ic) = self.string(raw.instance_class, DEFAULT_INSTANCE_CLASS);
        if let Some(s) = &ic {
            if !DB_INSTANCE_CLASSES.contains(&instance_class.as_str()) {
                self.err(
                    s,
                    format!("{instance_class:?} is not an RDS instance class for PostgreSQL 16+"),
                    "use e.g. \"db.t4g.medium\", \"db.m7g.large\" or \"db.r7g.large\" (see docs/STACK.md)",
                );
            }
        }
        if let Some(r) = &raw.backup_replica_region {
            let replica = r.get_ref();
            if replica == region {
                self.err(
                    r,
                    format!("backup_replica_region {replica:?} is the stack's own region; a copy there survives nothing the first does not"),
                    "name another region, e.g. \"us-west-2\" for a stack in us-east-1",
                );
            } else if !REGIONS.contains(&replica.as_str()) {
                self.err(
                    r,
                    format!("backup_replica_region {replica:?} is not an AWS region RDS replicates backups to"),
                    format!("use one of {}", REGIONS.join(", ")),
                );
            }
        }
        DatabaseConfig {
            backup_replica_region: raw.backup_replica_region.map(|r| r.into_inner()),
            engine_version,
            instance_class,
            allocated_storage_gb: self.int(&raw.allocated_storage_gb, &STORAGE_GB),
            multi_az: raw.multi_az.map(|b| b.into_inner()).unwrap_or(DEFAULT_MULTI_AZ),
            backup_retention_days: self.int(&raw.backup_retention_days, &BACKUP_DAYS),
            deletion_protection: raw
                .deletion_protection
                .map(|b| b.into_inner())
                .unwrap_or(DEFAULT_DELETION_PROTECTION),
            keep_upgrade_snapshots: self.int(&raw.keep_upgrade_snapshots, &KEEP_UPGRADE_SNAPSHOTS),
            upgrade_snapshots: Vec::new(),
            upgrade_steps: Vec::new(),
            restored_identifier: String::new(),
            snapshot_sources: Default::default(),
        }
    }
}

/// `[database] engine_version`: examples, the majors and minors RDS offered when this release
/// was made (RDS's own list, read at `plan`, is the judge).
pub(super) fn schema_engine_versions() -> Vec<&'static str> {
    POSTGRES_VERSIONS
        .iter()
        .flat_map(|(major, minors)| std::iter::once(*major).chain(minors.iter().copied()))
        .collect()
}

/// `[database] engine_version`'s form: a major of 16 or newer, or a major and a minor.
pub(super) const ENGINE_VERSION_PATTERN: &str = r"^(1[6-9]|[2-9][0-9])(\.[0-9]+)?$";
