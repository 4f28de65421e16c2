//! Database kinds: DB subnet group, parameter group and the RDS PostgreSQL instance. RDS makes and
//! keeps the master password in a secret of its own (`ManageMasterUserPassword`); empi-infra never
//! reads it, and only the database-role Job does.

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use empi_engine::kinds;
use empi_engine::kinds::rds::{
    BACKUP_REPLICATION, INSTANCE, PARAMETER_GROUP, SNAPSHOT, SUBNET_GROUP,
};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, aws, done, AwsKind, AwsResult, Lifecycle, Tags};
use super::{attrs, input_bool, input_i32, input_str, sorted, strings, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, SubnetGroup(c.rds.clone()));
    add(r, ParameterGroup(c.rds.clone()));
    add(r, Instance { rds: c.rds.clone() });
    add(r, Snapshot(c.rds.clone()));
    add(r, BackupReplication(c.clone()));
}

fn rds_tags(a: &Attrs) -> Vec<Tag> {
    tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn live_tags(t: &[Tag]) -> Value {
    tags_value(t.iter().map(|t| {
        (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())
    }))
}

/// Sets and removes tags of any RDS object, by ARN.
async fn rds_retag(rds: &Client, arn: &str, set: Tags, remove: Vec<String>) -> AwsResult<()> {
    if !remove.is_empty() {
        rds.remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(remove))
            .send()
            .await?;
    }
    if !set.is_empty() {
        let t = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        rds.add_tags_to_resource().resource_name(arn).set_tags(Some(t)).send().await?;
    }
    Ok(())
}

/// The tags of the RDS object `arn`, as read back.
async fn tags_of(rds: &Client, arn: &str) -> AwsResult<Value> {
    Ok(live_tags(rds.list_tags_for_resource().resource_name(arn).send().await?.tag_list()))
}

// ── DB subnet group ──────────────────────────────────────────────────────────────

pub struct SubnetGroup(Client);

impl SubnetGroup {
    async fn describe(&self, name: &str) -> AwsResult<Option<aws_sdk_rds::types::DbSubnetGroup>> {
        Ok(self
            .0
            .describe_db_subnet_groups()
            .db_subnet_group_name(name)
            .send()
            .await?
            .db_subnet_groups()
            .first()
            .cloned())
    }
}

#[async_trait]
impl AwsKind for SubnetGroup {
    const SCHEMA: &'static Schema = &SUBNET_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["DBSubnetGroupNotFoundFault"];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(g) = self.describe(id).await? else { return Ok(None) };
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([
                ("description", json!(g.db_subnet_group_description())),
                ("vpc_id", json!(g.vpc_id())),
                (
                    "subnet_ids",
                    sorted(
                        g.subnets()
                            .iter()
                            .filter_map(|s| s.subnet_identifier().map(String::from))
                            .collect(),
                    ),
                ),
                ("tags", tags_of(&self.0, arn).await?),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(arn))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(input_str(a, kinds::rds::SubnetGroup::description))
            .set_subnet_ids(Some(strings(a, kinds::rds::SubnetGroup::subnet_ids)))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        // only the description and the subnets can change
        self.0
            .modify_db_subnet_group()
            .db_subnet_group_name(id)
            .db_subnet_group_description(input_str(new, kinds::rds::SubnetGroup::description))
            .set_subnet_ids(Some(strings(new, kinds::rds::SubnetGroup::subnet_ids)))
            .send()
            .await?;
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_db_subnet_group().db_subnet_group_name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self.describe(id).await?.and_then(|g| g.db_subnet_group_arn).unwrap_or_default();
        rds_retag(&self.0, &arn, set, remove).await
    }
}

// ── DB parameter group ───────────────────────────────────────────────────────────

pub struct ParameterGroup(Client);

impl ParameterGroup {
    async fn describe(
        &self,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_rds::types::DbParameterGroup>> {
        Ok(self
            .0
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await?
            .db_parameter_groups()
            .first()
            .cloned())
    }

    async fn set(&self, name: &str, a: &Attrs) -> AwsResult<()> {
        use aws_sdk_rds::types::{ApplyMethod, Parameter};
        let params: Vec<Parameter> = a
            .get("parameters")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let method = match empi_engine::kinds::rds::apply_method(k) {
                            empi_engine::kinds::rds::ApplyMethod::Immediate => {
                                ApplyMethod::Immediate
                            }
                            empi_engine::kinds::rds::ApplyMethod::PendingReboot => {
                                ApplyMethod::PendingReboot
                            }
                        };
                        Parameter::builder()
                            .parameter_name(k)
                            .parameter_value(v.as_str().unwrap_or_default())
                            .apply_method(method)
                            .build()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !params.is_empty() {
            self.0
                .modify_db_parameter_group()
                .db_parameter_group_name(name)
                .set_parameters(Some(params))
                .send()
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl AwsKind for ParameterGroup {
    const SCHEMA: &'static Schema = &PARAMETER_GROUP;
    const NOT_FOUND: &'static [&'static str] =
        &["DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(g) = self.describe(id).await? else { return Ok(None) };
        let arn = g.db_parameter_group_arn().unwrap_or_default().to_string();
        let p = self
            .0
            .describe_db_parameters()
            .db_parameter_group_name(id)
            .source("user")
            .send()
            .await?;
        // only the parameters the stack sets are compared; others are AWS's defaults
        let wanted: Vec<String> = recorded
            .get(kinds::rds::ParameterGroup::parameters)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let params: serde_json::Map<String, Value> = p
            .parameters()
            .iter()
            .filter(|x| {
                x.parameter_value().is_some()
                    && (wanted.is_empty()
                        || wanted.iter().any(|w| Some(w.as_str()) == x.parameter_name()))
            })
            .map(|x| {
                (x.parameter_name().unwrap_or_default().to_string(), json!(x.parameter_value()))
            })
            .collect();
        Ok(Some(Observed {
            attrs: attrs([
                ("family", json!(g.db_parameter_group_family())),
                ("description", json!(g.description())),
                ("parameters", Value::Object(params)),
                ("tags", tags_of(&self.0, &arn).await?),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(arn))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(input_str(a, kinds::rds::ParameterGroup::family))
            .description(input_str(a, kinds::rds::ParameterGroup::description))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await?;
        self.set(name, a).await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> AwsResult<()> {
        // only the parameters can change in place
        self.set(id, new).await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_db_parameter_group().db_parameter_group_name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn =
            self.describe(id).await?.and_then(|g| g.db_parameter_group_arn).unwrap_or_default();
        rds_retag(&self.0, &arn, set, remove).await
    }
}

// ── DB instance ──────────────────────────────────────────────────────────────────

pub struct Instance {
    rds: Client,
}

/// The PostgreSQL versions RDS offers in this region for new instances and upgrades
/// (`DescribeDBEngineVersions` lists only available ones by default), or `None` where the
/// endpoint does not answer that call.
pub async fn postgres_versions(rds: &Client) -> Result<Option<Vec<String>>, ProviderError> {
    let mut out = Vec::new();
    let mut marker = None;
    loop {
        let r = match rds
            .describe_db_engine_versions()
            .engine("postgres")
            .set_marker(marker)
            .max_records(100)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if super::unanswered(&e) => return Ok(None),
            Err(e) => return Err(super::aws_err(e)),
        };
        out.extend(
            r.db_engine_versions().iter().filter_map(|v| v.engine_version().map(String::from)),
        );
        marker = r.marker().map(String::from);
        if marker.is_none() {
            return Ok(Some(out));
        }
    }
}

/// The full PostgreSQL version the database `id` runs, `None` if it does not exist.
pub async fn running_version(rds: &Client, id: &str) -> Result<Option<String>, ProviderError> {
    match rds.describe_db_instances().db_instance_identifier(id).send().await {
        Ok(r) => Ok(r.db_instances().first().and_then(|d| d.engine_version()).map(String::from)),
        Err(e) => {
            use aws_sdk_rds::error::ProvideErrorMetadata;
            if e.code().is_some_and(|c| c.starts_with("DBInstanceNotFound")) {
                return Ok(None);
            }
            Err(super::aws_err(e))
        }
    }
}

/// The extensions RDS offers for a parameter group family (`postgres17`): the `rds.extensions`
/// parameter of its engine defaults (`DescribeEngineDefaultParameters`), as the RDS User Guide
/// says to find them; `None` where the endpoint does not answer or lists no such parameter.
pub async fn offered_extensions(
    rds: &Client,
    family: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    let mut marker = None;
    loop {
        let r = match rds
            .describe_engine_default_parameters()
            .db_parameter_group_family(family)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if super::unanswered(&e) => return Ok(None),
            Err(e) => return Err(super::aws_err(e)),
        };
        let defaults = r.engine_defaults();
        let found = defaults
            .map(|d| d.parameters())
            .unwrap_or_default()
            .iter()
            .find(|p| p.parameter_name() == Some("rds.extensions"));
        if let Some(p) = found {
            let list = [p.parameter_value(), p.allowed_values()]
                .into_iter()
                .flatten()
                .flat_map(|v| v.split(','))
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect();
            return Ok(Some(list));
        }
        marker = defaults.and_then(|d| d.marker()).map(String::from);
        if marker.is_none() {
            return Ok(None);
        }
    }
}

/// The versions RDS lists as upgrade targets of PostgreSQL `version` (`ValidUpgradeTarget`), or
/// `None` where the endpoint does not answer `DescribeDBEngineVersions` or does not know it.
pub async fn upgrade_targets(
    rds: &Client,
    version: &str,
) -> Result<Option<Vec<String>>, ProviderError> {
    match rds.describe_db_engine_versions().engine("postgres").engine_version(version).send().await
    {
        Ok(r) => {
            Ok(r.db_engine_versions().iter().find(|v| v.engine_version() == Some(version)).map(
                |v| {
                    v.valid_upgrade_target()
                        .iter()
                        .filter_map(|t| t.engine_version().map(String::from))
                        .collect()
                },
            ))
        }
        Err(e) if super::unanswered(&e) => Ok(None),
        Err(e) => Err(super::aws_err(e)),
    }
}

/// `16.4` matches a desired `16`: AWS picks and upgrades minors within the major. A live minor
/// newer than a desired full version of the same major (`16.5` for `16.4`) matches it too: RDS
/// upgraded it (auto minor version upgrade, or a minor it retired) and cannot go back down, so a
/// plan never fights RDS over a minor it made.
fn normalise_version(live: &str, desired: Option<&str>) -> String {
    let parts = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    match desired {
        Some(d) if !d.contains('.') && live.split('.').next() == Some(d) => d.to_string(),
        Some(d) if matches!((parts(d), parts(live)), (Some(w), Some(l)) if w.0 == l.0 && l.1 > w.1) => {
            d.to_string()
        }
        _ => live.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_version;

    #[test]
    fn a_minor_rds_chose_or_upgraded_is_not_a_change() {
        assert_eq!(normalise_version("16.4", Some("16")), "16");
        assert_eq!(normalise_version("16.5", Some("16.4")), "16.4", "RDS upgraded the minor");
        assert_eq!(normalise_version("16.3", Some("16.4")), "16.3", "an older minor is a change");
        assert_eq!(normalise_version("17.1", Some("16.4")), "17.1", "another major is a change");
        assert_eq!(normalise_version("16.10", Some("16.9")), "16.9", "minors compare as numbers");
    }
}

impl Instance {
    async fn describe(&self, id: &str) -> AwsResult<Option<aws_sdk_rds::types::DbInstance>> {
        Ok(self
            .rds
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await?
            .db_instances()
            .first()
            .cloned())
    }
}

#[async_trait]
impl AwsKind for Instance {
    const SCHEMA: &'static Schema = &INSTANCE;
    const NOT_FOUND: &'static [&'static str] = &["DBInstanceNotFound", "DBInstanceNotFoundFault"];
    const LIFECYCLE: Lifecycle = Lifecycle::Status {
        ready: &["available"],
        failed: &[
            "failed",
            "incompatible-parameters",
            "incompatible-network",
            "storage-full",
            "inaccessible-encryption-credentials",
        ],
    };

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(d) = self.describe(id).await? else { return Ok(None) };
        if d.db_instance_status() == Some("deleting") {
            return Ok(None);
        }
        let version = normalise_version(
            d.engine_version().unwrap_or_default(),
            recorded.get(kinds::rds::Instance::engine_version).and_then(Value::as_str),
        );
        let endpoint = d.endpoint();
        let mut outputs = attrs([
            ("id", json!(id)),
            ("arn", json!(d.db_instance_arn())),
            ("address", json!(endpoint.and_then(|e| e.address()))),
            ("port", json!(endpoint.and_then(|e| e.port()).map(|p| p.to_string()))),
        ]);
        // no secret while RDS does not keep the password: what refers to it waits for the apply
        // that has RDS keep it, rather than being planned with an empty ARN
        if let Some(arn) = d.master_user_secret().and_then(|m| m.secret_arn()) {
            outputs.insert("master_user_secret_arn".into(), json!(arn));
        }
        Ok(Some(Observed {
            attrs: attrs([
                ("engine", json!(d.engine())),
                ("engine_version", json!(version)),
                ("instance_class", json!(d.db_instance_class())),
                ("allocated_storage", json!(d.allocated_storage())),
                ("storage_type", json!(d.storage_type())),
                ("storage_encrypted", json!(d.storage_encrypted().unwrap_or(false))),
                ("kms_key_id", json!(d.kms_key_id().unwrap_or_default())),
                (
                    "performance_insights_enabled",
                    json!(d.performance_insights_enabled().unwrap_or(false)),
                ),
                (
                    "performance_insights_kms_key_id",
                    json!(d.performance_insights_kms_key_id().unwrap_or_default()),
                ),
                (
                    "performance_insights_retention_period",
                    json!(d.performance_insights_retention_period()),
                ),
                ("publicly_accessible", json!(d.publicly_accessible().unwrap_or(false))),
                ("multi_az", json!(d.multi_az().unwrap_or(false))),
                ("backup_retention_period", json!(d.backup_retention_period())),
                ("deletion_protection", json!(d.deletion_protection().unwrap_or(false))),
                ("copy_tags_to_snapshot", json!(d.copy_tags_to_snapshot().unwrap_or(false))),
                ("db_name", json!(d.db_name())),
                ("master_username", json!(d.master_username())),
                (
                    "db_subnet_group_name",
                    json!(d.db_subnet_group().and_then(|g| g.db_subnet_group_name())),
                ),
                (
                    "db_parameter_group_name",
                    json!(d
                        .db_parameter_groups()
                        .first()
                        .and_then(|g| g.db_parameter_group_name())),
                ),
                (
                    "vpc_security_group_ids",
                    sorted(
                        d.vpc_security_groups()
                            .iter()
                            .filter_map(|g| g.vpc_security_group_id().map(String::from))
                            .collect(),
                    ),
                ),
                (
                    "enabled_cloudwatch_logs_exports",
                    sorted(d.enabled_cloudwatch_logs_exports().to_vec()),
                ),
                ("manage_master_user_password", json!(d.master_user_secret().is_some())),
                (
                    "master_user_secret_kms_key_id",
                    json!(d.master_user_secret().and_then(|m| m.kms_key_id()).unwrap_or_default()),
                ),
                ("tags", live_tags(d.tag_list())),
            ]),
            outputs,
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        // RDS makes and keeps the master password: none is sent
        let r = self
            .rds
            .create_db_instance()
            .db_instance_identifier(name)
            .engine(input_str(a, kinds::rds::Instance::engine))
            .engine_version(input_str(a, kinds::rds::Instance::engine_version))
            .db_instance_class(input_str(a, kinds::rds::Instance::instance_class))
            .allocated_storage(input_i32(a, kinds::rds::Instance::allocated_storage))
            .storage_type(input_str(a, kinds::rds::Instance::storage_type))
            .storage_encrypted(input_bool(a, kinds::rds::Instance::storage_encrypted))
            .set_kms_key_id(opt(a, "kms_key_id"))
            .enable_performance_insights(input_bool(
                a,
                kinds::rds::Instance::performance_insights_enabled,
            ))
            .set_performance_insights_kms_key_id(
                opt(a, "performance_insights_kms_key_id")
                    .filter(|_| input_bool(a, kinds::rds::Instance::performance_insights_enabled)),
            )
            .set_performance_insights_retention_period(
                input_bool(a, kinds::rds::Instance::performance_insights_enabled).then(|| {
                    input_i32(a, kinds::rds::Instance::performance_insights_retention_period)
                }),
            )
            .publicly_accessible(input_bool(a, kinds::rds::Instance::publicly_accessible))
            .multi_az(input_bool(a, kinds::rds::Instance::multi_az))
            .backup_retention_period(input_i32(a, kinds::rds::Instance::backup_retention_period))
            .deletion_protection(input_bool(a, kinds::rds::Instance::deletion_protection))
            .copy_tags_to_snapshot(input_bool(a, kinds::rds::Instance::copy_tags_to_snapshot))
            .db_name(input_str(a, kinds::rds::Instance::db_name))
            .master_username(input_str(a, kinds::rds::Instance::master_username))
            .manage_master_user_password(input_bool(
                a,
                kinds::rds::Instance::manage_master_user_password,
            ))
            .set_master_user_secret_kms_key_id(opt(a, "master_user_secret_kms_key_id"))
            .db_subnet_group_name(input_str(a, kinds::rds::Instance::db_subnet_group_name))
            .db_parameter_group_name(input_str(a, kinds::rds::Instance::db_parameter_group_name))
            .set_vpc_security_group_ids(Some(strings(
                a,
                kinds::rds::Instance::vpc_security_group_ids,
            )))
            .set_enable_cloudwatch_logs_exports(Some(strings(
                a,
                kinds::rds::Instance::enabled_cloudwatch_logs_exports,
            )))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await;
        r.map_err(|e| {
            aws(e).explain("DBInstanceAlreadyExists", || {
                format!("a DB instance named {name} already exists and is not recorded in this stack's state; choose another stack name or delete it")
            })
        })?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        // every changed attribute in one ModifyDBInstance, applied now rather than in the next
        // maintenance window
        let mut m =
            self.rds.modify_db_instance().db_instance_identifier(id).apply_immediately(true);
        let major = |a: &Attrs| {
            input_str(a, kinds::rds::Instance::engine_version)
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let mut any = false;
        for k in changed {
            m = match k.as_str() {
                "engine_version" => m
                    .engine_version(input_str(new, k))
                    .allow_major_version_upgrade(major(old) != major(new)),
                "instance_class" => m.db_instance_class(input_str(new, k)),
                "allocated_storage" => m.allocated_storage(input_i32(new, k)),
                "storage_type" => m.storage_type(input_str(new, k)),
                "publicly_accessible" => m.publicly_accessible(input_bool(new, k)),
                "multi_az" => m.multi_az(input_bool(new, k)),
                "backup_retention_period" => m.backup_retention_period(input_i32(new, k)),
                "deletion_protection" => m.deletion_protection(input_bool(new, k)),
                "copy_tags_to_snapshot" => m.copy_tags_to_snapshot(input_bool(new, k)),
                "db_parameter_group_name" => m.db_parameter_group_name(input_str(new, k)),
                // Performance Insights in one piece: on/off, its key (set once), its retention
                "performance_insights_enabled"
                | "performance_insights_kms_key_id"
                | "performance_insights_retention_period" => {
                    let on = input_bool(new, kinds::rds::Instance::performance_insights_enabled);
                    m.enable_performance_insights(on)
                        .set_performance_insights_kms_key_id(
                            opt(new, "performance_insights_kms_key_id").filter(|_| on),
                        )
                        .set_performance_insights_retention_period(on.then(|| {
                            input_i32(
                                new,
                                kinds::rds::Instance::performance_insights_retention_period,
                            )
                        }))
                }
                "vpc_security_group_ids" => m.set_vpc_security_group_ids(Some(strings(new, k))),
                // RDS takes the master password over (a stack from before it did) or re-encrypts
                // its secret with another key; turning it off is never asked for
                "manage_master_user_password" | "master_user_secret_kms_key_id"
                    if input_bool(new, kinds::rds::Instance::manage_master_user_password) =>
                {
                    m.manage_master_user_password(true).set_master_user_secret_kms_key_id(opt(
                        new,
                        "master_user_secret_kms_key_id",
                    ))
                }
                "enabled_cloudwatch_logs_exports" => {
                    let (was, now) = (strings(old, k), strings(new, k));
                    let conf = aws_sdk_rds::types::CloudwatchLogsExportConfiguration::builder()
                        .set_enable_log_types(Some(
                            now.iter().filter(|t| !was.contains(t)).cloned().collect(),
                        ))
                        .set_disable_log_types(Some(
                            was.iter().filter(|t| !now.contains(t)).cloned().collect(),
                        ))
                        .build();
                    m.cloudwatch_logs_export_configuration(conf)
                }
                _ => continue, // write-only inputs: nothing to modify
            };
            any = true;
        }
        if any {
            m.send().await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        let Some(d) = self.describe(id).await? else { return Ok(()) };
        if d.db_instance_status() == Some("deleting") {
            return Ok(());
        }
        if d.deletion_protection() == Some(true) {
            return Err(ProviderError::coded(
                "DeletionProtection",
                format!("database {id} has deletion protection on, so it was not deleted; to delete it: set `deletion_protection = false` under [database], run `empi-infra apply`, then run `empi-infra destroy` again"),
            )
            .into());
        }
        let snapshot = final_snapshot_name(id);
        self.rds
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(&snapshot)
            .send()
            .await?;
        tracing::info!("database {id}: final snapshot {snapshot}");
        Ok(())
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self.describe(id).await?.and_then(|d| d.db_instance_arn).unwrap_or_default();
        rds_retag(&self.rds, &arn, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        let d = self.describe(id).await?;
        Ok(d.and_then(|d| d.db_instance_status)
            .map(|s| (s, "see the RDS console's events for why".to_string())))
    }
}

// ── DB snapshot (before a Tuva EMPI upgrade) ─────────────────────────────────────

pub struct Snapshot(Client);

impl Snapshot {
    async fn describe(&self, id: &str) -> AwsResult<Option<aws_sdk_rds::types::DbSnapshot>> {
        Ok(self
            .0
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .snapshot_type("manual")
            .send()
            .await?
            .db_snapshots()
            .first()
            .cloned())
    }
}

#[async_trait]
impl AwsKind for Snapshot {
    const SCHEMA: &'static Schema = &SNAPSHOT;
    const NOT_FOUND: &'static [&'static str] = &["DBSnapshotNotFound", "DBSnapshotNotFoundFault"];
    const LIFECYCLE: Lifecycle =
        Lifecycle::Status { ready: &["available"], failed: &["failed", "incompatible-restore"] };

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(s) = self.describe(id).await? else { return Ok(None) };
        if s.status() == Some("deleting") {
            return Ok(None);
        }
        let arn = s.db_snapshot_arn().unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([
                ("db_instance_identifier", json!(s.db_instance_identifier())),
                ("tags", tags_of(&self.0, arn).await?),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("arn", json!(arn)),
                ("snapshot_create_time", json!(s.snapshot_create_time().map(|t| t.to_string()))),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_db_snapshot()
            .db_snapshot_identifier(name)
            .db_instance_identifier(input_str(a, kinds::rds::Snapshot::db_instance_identifier))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await?;
        Ok(name.to_string())
    }

    // no `update`: only tags change in place (through `retag`); the trait's default does nothing

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_db_snapshot().db_snapshot_identifier(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self.describe(id).await?.and_then(|s| s.db_snapshot_arn).unwrap_or_default();
        rds_retag(&self.0, &arn, set, remove).await
    }

    async fn status(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        Ok(self
            .describe(id)
            .await?
            .and_then(|s| s.status)
            .map(|s| (s, "see the RDS console's events for why".to_string())))
    }
}

// ── Automated backups replicated to another region ───────────────────────────────

/// The database's automated backups replicated to `[database] backup_replica_region`. Its calls go
/// to that region (RDS: "run in the destination Region"); whether it still replicates is the
/// source instance's to say (`DBInstanceAutomatedBackupsReplications`, as terraform-provider-aws
/// waits on it), since the copies a stopped replication made stay listed there until they expire.
pub struct BackupReplication(Clients);

impl BackupReplication {
    fn source_id(a: &Attrs) -> String {
        let arn = input_str(a, kinds::rds::BackupReplication::source_db_instance_arn);
        arn.rsplit(":db:").next().unwrap_or_default().to_string()
    }

    /// The replications the source instance lists (their ARNs), `None` when it is gone.
    async fn listed(&self, a: &Attrs) -> AwsResult<Option<Vec<String>>> {
        let id = Self::source_id(a);
        let r = self.0.rds.describe_db_instances().db_instance_identifier(&id).send().await;
        let d = match r.map_err(super::adapter::AwsError::from) {
            Ok(r) => r.db_instances().first().cloned(),
            Err(e) if e.code().is_some_and(|c| c.starts_with("DBInstanceNotFound")) => None,
            Err(e) => return Err(e),
        };
        Ok(d.map(|d| {
            d.db_instance_automated_backups_replications()
                .iter()
                .filter_map(|r| r.db_instance_automated_backups_arn().map(String::from))
                .collect()
        }))
    }

    /// The replicated backups `id` in the destination region, while the source replicates to it.
    async fn describe(
        &self,
        id: &str,
        a: &Attrs,
    ) -> AwsResult<Option<aws_sdk_rds::types::DbInstanceAutomatedBackup>> {
        if !self.listed(a).await?.unwrap_or_default().iter().any(|x| x == id) {
            return Ok(None);
        }
        let region = input_str(a, kinds::rds::BackupReplication::region);
        Ok(self
            .0
            .rds_in(region)
            .describe_db_instance_automated_backups()
            .db_instance_automated_backups_arn(id)
            .send()
            .await?
            .db_instance_automated_backups()
            .first()
            .cloned())
    }
}

#[async_trait]
impl AwsKind for BackupReplication {
    const SCHEMA: &'static Schema = &BACKUP_REPLICATION;
    const NOT_FOUND: &'static [&'static str] =
        &["DBInstanceAutomatedBackupNotFound", "DBInstanceAutomatedBackupNotFoundFault"];
    const LIFECYCLE: Lifecycle = Lifecycle::Status { ready: &["replicating"], failed: &["failed"] };

    /// The source's replication to the region, found through the source (whose ownership the
    /// database's own resource proves).
    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let region = input_str(inputs, kinds::rds::BackupReplication::region);
        let marker = format!(":rds:{region}:");
        Ok(self.listed(inputs).await?.unwrap_or_default().into_iter().find(|a| a.contains(&marker)))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(b) = self.describe(id, recorded).await? else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("source_db_instance_arn", json!(b.db_instance_arn())),
                ("region", json!(input_str(recorded, kinds::rds::BackupReplication::region))),
                ("kms_key_id", json!(b.kms_key_id())),
                ("retention_period", json!(b.backup_retention_period())),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        use kinds::rds::BackupReplication as B;
        let r = self
            .0
            .rds_in(input_str(a, B::region))
            .start_db_instance_automated_backups_replication()
            .source_db_instance_arn(input_str(a, B::source_db_instance_arn))
            .kms_key_id(input_str(a, B::kms_key_id))
            .backup_retention_period(input_i32(a, B::retention_period))
            .send()
            .await?;
        r.db_instance_automated_backup()
            .and_then(|b| b.db_instance_automated_backups_arn())
            .map(String::from)
            .ok_or_else(|| {
                ProviderError::new("StartDBInstanceAutomatedBackupsReplication returned no ARN")
                    .into()
            })
    }

    async fn delete(&self, _id: &str, recorded: &Attrs) -> AwsResult<()> {
        use kinds::rds::BackupReplication as B;
        if self.listed(recorded).await?.is_none() {
            return Ok(());
        }
        match self
            .0
            .rds_in(input_str(recorded, B::region))
            .stop_db_instance_automated_backups_replication()
            .source_db_instance_arn(input_str(recorded, B::source_db_instance_arn))
            .send()
            .await
            .map_err(super::adapter::AwsError::from)
        {
            // not replicating (any more)
            Err(e) if e.code() == Some("InvalidDBInstanceState") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn status(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<(String, String)>> {
        Ok(self.describe(id, recorded).await?.and_then(|b| b.status).map(|s| {
            (s, "see the RDS console's automated backups of the destination region".to_string())
        }))
    }
}

/// A string input, `None` when empty.
fn opt(a: &Attrs, k: &str) -> Option<String> {
    Some(input_str(a, k)).filter(|v| !v.is_empty()).map(String::from)
}

/// `<id>-final-<UTC timestamp>`: deterministic from the time of the destroy, unique per destroy.
pub fn final_snapshot_name(id: &str) -> String {
    let t = humantime_like(std::time::SystemTime::now());
    format!("{id}-final-{t}")
}

fn humantime_like(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dt = aws_sdk_rds::primitives::DateTime::from_secs(secs as i64);
    dt.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
        .replace([':', 'T'], "-")
        .trim_end_matches('Z')
        .to_string()
}
