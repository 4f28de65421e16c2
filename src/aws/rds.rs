//! The database: DB subnet group and the RDS PostgreSQL instance. The master password is read from
//! the config secret at create time and never passes through state or plans.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use empi_engine::resource::{AttrSchema, Attrs, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry, Resource, Schema};
use serde_json::{json, Value};

use super::{attrs, aws_err, b, code_of, n, s, sorted, strings, tag_delta, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    r.register(Arc::new(SubnetGroup(c.rds.clone())));
    r.register(Arc::new(ParameterGroup(c.rds.clone())));
    r.register(Arc::new(Instance { rds: c.rds.clone(), secrets: c.secrets.clone() }));
}

fn rds_tags(a: &Attrs) -> Vec<Tag> {
    tags(a).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn live_tags(t: &[Tag]) -> Value {
    tags_value(t.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())))
}

async fn retag(rds: &Client, arn: &str, old: &Attrs, new: &Attrs) -> ProviderResult<()> {
    let (set, remove) = tag_delta(&tags(old), &tags(new));
    if !remove.is_empty() {
        rds.remove_tags_from_resource().resource_name(arn).set_tag_keys(Some(remove)).send().await.map_err(aws_err)?;
    }
    if !set.is_empty() {
        let t = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        rds.add_tags_to_resource().resource_name(arn).set_tags(Some(t)).send().await.map_err(aws_err)?;
    }
    Ok(())
}

// ── DB subnet group ──────────────────────────────────────────────────────────────

pub struct SubnetGroup(Client);

static SUBNET_GROUP: Schema = Schema {
    kind: "aws_db_subnet_group",
    // a subnet group cannot move to another VPC; a new VPC means a new subnet group (and database)
    attrs: &[
        AttrSchema::updatable("description"),
        AttrSchema::force_new("vpc_id"),
        AttrSchema::updatable("subnet_ids").set(),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

impl SubnetGroup {
    async fn describe(&self, name: &str) -> ProviderResult<Option<aws_sdk_rds::types::DbSubnetGroup>> {
        match self.0.describe_db_subnet_groups().db_subnet_group_name(name).send().await {
            Ok(r) => Ok(r.db_subnet_groups().first().cloned()),
            Err(e) if code_of(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

#[async_trait]
impl Resource for SubnetGroup {
    fn schema(&self) -> &'static Schema {
        &SUBNET_GROUP
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(g) = self.describe(id).await? else { return Ok(None) };
        let arn = g.db_subnet_group_arn().unwrap_or_default();
        let t = self.0.list_tags_for_resource().resource_name(arn).send().await.map_err(aws_err)?;
        Ok(Some(Observed {
            attrs: attrs([
                ("description", json!(g.db_subnet_group_description())),
                ("vpc_id", json!(g.vpc_id())),
                ("subnet_ids", sorted(g.subnets().iter().filter_map(|s| s.subnet_identifier().map(String::from)).collect())),
                ("tags", live_tags(t.tag_list())),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(arn))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        self.0
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(s(a, "description"))
            .set_subnet_ids(Some(strings(a, "subnet_ids")))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await
            .map_err(aws_err)?;
        Ok(name.to_string())
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "subnet_ids" || c == "description") {
            self.0
                .modify_db_subnet_group()
                .db_subnet_group_name(id)
                .db_subnet_group_description(s(new, "description"))
                .set_subnet_ids(Some(strings(new, "subnet_ids")))
                .send()
                .await
                .map_err(aws_err)?;
        }
        if changed.iter().any(|c| c == "tags") {
            let arn = self.describe(id).await?.and_then(|g| g.db_subnet_group_arn).unwrap_or_default();
            retag(&self.0, &arn, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_db_subnet_group().db_subnet_group_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("DBSubnetGroupNotFoundFault") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── DB parameter group ───────────────────────────────────────────────────────────

pub struct ParameterGroup(Client);

static PARAMETER_GROUP: Schema = Schema {
    kind: "aws_db_parameter_group",
    attrs: &[
        AttrSchema::force_new("family"),
        AttrSchema::force_new("description"),
        AttrSchema::updatable("parameters"),
        AttrSchema::updatable("tags"),
    ],
    stateful: false,
    run_once: false,
    typical_create_secs: 2,
};

impl ParameterGroup {
    async fn describe(&self, name: &str) -> ProviderResult<Option<aws_sdk_rds::types::DbParameterGroup>> {
        match self.0.describe_db_parameter_groups().db_parameter_group_name(name).send().await {
            Ok(r) => Ok(r.db_parameter_groups().first().cloned()),
            Err(e) if code_of(&e) == Some("DBParameterGroupNotFound") || code_of(&e) == Some("DBParameterGroupNotFoundFault") => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn set(&self, name: &str, a: &Attrs) -> ProviderResult<()> {
        use aws_sdk_rds::types::{ApplyMethod, Parameter};
        let params: Vec<Parameter> = a
            .get("parameters")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        Parameter::builder()
                            .parameter_name(k)
                            .parameter_value(v.as_str().unwrap_or_default())
                            .apply_method(ApplyMethod::Immediate)
                            .build()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !params.is_empty() {
            self.0.modify_db_parameter_group().db_parameter_group_name(name).set_parameters(Some(params)).send().await.map_err(aws_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for ParameterGroup {
    fn schema(&self) -> &'static Schema {
        &PARAMETER_GROUP
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(g) = self.describe(id).await? else { return Ok(None) };
        let arn = g.db_parameter_group_arn().unwrap_or_default().to_string();
        let p = self.0.describe_db_parameters().db_parameter_group_name(id).source("user").send().await.map_err(aws_err)?;
        // only the parameters the stack sets are compared; others are AWS's defaults
        let wanted: Vec<String> =
            recorded.get("parameters").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        let params: serde_json::Map<String, Value> = p
            .parameters()
            .iter()
            .filter(|x| {
                x.parameter_value().is_some() && (wanted.is_empty() || wanted.iter().any(|w| Some(w.as_str()) == x.parameter_name()))
            })
            .map(|x| (x.parameter_name().unwrap_or_default().to_string(), json!(x.parameter_value())))
            .collect();
        let t = self.0.list_tags_for_resource().resource_name(&arn).send().await.map_err(aws_err)?;
        Ok(Some(Observed {
            attrs: attrs([
                ("family", json!(g.db_parameter_group_family())),
                ("description", json!(g.description())),
                ("parameters", Value::Object(params)),
                ("tags", live_tags(t.tag_list())),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(arn))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        self.0
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(s(a, "family"))
            .description(s(a, "description"))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await
            .map_err(aws_err)?;
        self.set(name, a).await?;
        Ok(name.to_string())
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        if changed.iter().any(|c| c == "parameters") {
            self.set(id, new).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let arn = self.describe(id).await?.and_then(|g| g.db_parameter_group_arn).unwrap_or_default();
            retag(&self.0, &arn, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        match self.0.delete_db_parameter_group().db_parameter_group_name(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("DBParameterGroupNotFound") || code_of(&e) == Some("DBParameterGroupNotFoundFault") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }
}

// ── DB instance ──────────────────────────────────────────────────────────────────

pub struct Instance {
    rds: Client,
    secrets: aws_sdk_secretsmanager::Client,
}

static INSTANCE: Schema = Schema {
    kind: "aws_db_instance",
    attrs: &[
        AttrSchema::force_new("engine"),
        AttrSchema::updatable("engine_version"),
        AttrSchema::updatable("instance_class"),
        AttrSchema::updatable("allocated_storage"),
        AttrSchema::updatable("storage_type"),
        AttrSchema::force_new("storage_encrypted"),
        AttrSchema::updatable("publicly_accessible"),
        AttrSchema::updatable("multi_az"),
        AttrSchema::updatable("backup_retention_period"),
        AttrSchema::updatable("deletion_protection"),
        AttrSchema::updatable("copy_tags_to_snapshot"),
        AttrSchema::force_new("db_name"),
        AttrSchema::force_new("master_username"),
        AttrSchema::updatable("master_password").write_only(),
        AttrSchema::updatable("master_password_secret_arn").write_only(),
        AttrSchema::force_new("db_subnet_group_name"),
        AttrSchema::updatable("db_parameter_group_name"),
        AttrSchema::updatable("vpc_security_group_ids").set(),
        AttrSchema::updatable("tags"),
    ],
    stateful: true,
    run_once: false,
    typical_create_secs: 420,
};

/// `16.4` matches a desired `16`: AWS picks and upgrades minors within the major.
fn normalise_version(live: &str, desired: Option<&str>) -> String {
    match desired {
        Some(d) if !d.contains('.') && live.split('.').next() == Some(d) => d.to_string(),
        _ => live.to_string(),
    }
}

impl Instance {
    async fn describe(&self, id: &str) -> ProviderResult<Option<aws_sdk_rds::types::DbInstance>> {
        match self.rds.describe_db_instances().db_instance_identifier(id).send().await {
            Ok(r) => Ok(r.db_instances().first().cloned()),
            Err(e) if code_of(&e) == Some("DBInstanceNotFound") || code_of(&e) == Some("DBInstanceNotFoundFault") => Ok(None),
            Err(e) => Err(aws_err(e)),
        }
    }
}

#[async_trait]
impl Resource for Instance {
    fn schema(&self) -> &'static Schema {
        &INSTANCE
    }

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> ProviderResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(d) = self.describe(id).await? else { return Ok(None) };
        if d.db_instance_status() == Some("deleting") {
            return Ok(None);
        }
        let version = normalise_version(d.engine_version().unwrap_or_default(), recorded.get("engine_version").and_then(Value::as_str));
        let endpoint = d.endpoint();
        Ok(Some(Observed {
            attrs: attrs([
                ("engine", json!(d.engine())),
                ("engine_version", json!(version)),
                ("instance_class", json!(d.db_instance_class())),
                ("allocated_storage", json!(d.allocated_storage())),
                ("storage_type", json!(d.storage_type())),
                ("storage_encrypted", json!(d.storage_encrypted().unwrap_or(false))),
                ("publicly_accessible", json!(d.publicly_accessible().unwrap_or(false))),
                ("multi_az", json!(d.multi_az().unwrap_or(false))),
                ("backup_retention_period", json!(d.backup_retention_period())),
                ("deletion_protection", json!(d.deletion_protection().unwrap_or(false))),
                ("copy_tags_to_snapshot", json!(d.copy_tags_to_snapshot().unwrap_or(false))),
                ("db_name", json!(d.db_name())),
                ("master_username", json!(d.master_username())),
                ("db_subnet_group_name", json!(d.db_subnet_group().and_then(|g| g.db_subnet_group_name()))),
                ("db_parameter_group_name", json!(d.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name()))),
                (
                    "vpc_security_group_ids",
                    sorted(d.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id().map(String::from)).collect()),
                ),
                ("tags", live_tags(d.tag_list())),
            ]),
            outputs: attrs([
                ("id", json!(id)),
                ("arn", json!(d.db_instance_arn())),
                ("address", json!(endpoint.and_then(|e| e.address()))),
                ("port", json!(endpoint.and_then(|e| e.port()).map(|p| p.to_string()))),
            ]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        let password = super::secrets::generated(&self.secrets, s(a, "master_password_secret_arn")).await?.db_password;
        let r = self
            .rds
            .create_db_instance()
            .db_instance_identifier(name)
            .engine(s(a, "engine"))
            .engine_version(s(a, "engine_version"))
            .db_instance_class(s(a, "instance_class"))
            .allocated_storage(n(a, "allocated_storage"))
            .storage_type(s(a, "storage_type"))
            .storage_encrypted(b(a, "storage_encrypted"))
            .publicly_accessible(b(a, "publicly_accessible"))
            .multi_az(b(a, "multi_az"))
            .backup_retention_period(n(a, "backup_retention_period"))
            .deletion_protection(b(a, "deletion_protection"))
            .copy_tags_to_snapshot(b(a, "copy_tags_to_snapshot"))
            .db_name(s(a, "db_name"))
            .master_username(s(a, "master_username"))
            .master_user_password(password)
            .db_subnet_group_name(s(a, "db_subnet_group_name"))
            .db_parameter_group_name(s(a, "db_parameter_group_name"))
            .set_vpc_security_group_ids(Some(strings(a, "vpc_security_group_ids")))
            .set_tags(Some(rds_tags(a)))
            .send()
            .await;
        match r {
            Ok(_) => Ok(name.to_string()),
            Err(e) if code_of(&e) == Some("DBInstanceAlreadyExists") => Err(ProviderError::coded(
                "DBInstanceAlreadyExists",
                format!("a DB instance named {name} already exists and is not recorded in this stack's state; choose another stack name or delete it"),
            )),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn update(&self, id: &str, old: &Attrs, new: &Attrs, changed: &[String]) -> ProviderResult<()> {
        let has = |k: &str| changed.iter().any(|c| c == k);
        let mut m = self.rds.modify_db_instance().db_instance_identifier(id).apply_immediately(true);
        let mut any = false;
        if has("engine_version") {
            let major = |a: &Attrs| s(a, "engine_version").split('.').next().unwrap_or_default().to_string();
            m = m.engine_version(s(new, "engine_version")).allow_major_version_upgrade(major(old) != major(new));
            any = true;
        }
        if has("instance_class") {
            m = m.db_instance_class(s(new, "instance_class"));
            any = true;
        }
        if has("allocated_storage") {
            m = m.allocated_storage(n(new, "allocated_storage"));
            any = true;
        }
        if has("storage_type") {
            m = m.storage_type(s(new, "storage_type"));
            any = true;
        }
        if has("publicly_accessible") {
            m = m.publicly_accessible(b(new, "publicly_accessible"));
            any = true;
        }
        if has("multi_az") {
            m = m.multi_az(b(new, "multi_az"));
            any = true;
        }
        if has("backup_retention_period") {
            m = m.backup_retention_period(n(new, "backup_retention_period"));
            any = true;
        }
        if has("deletion_protection") {
            m = m.deletion_protection(b(new, "deletion_protection"));
            any = true;
        }
        if has("copy_tags_to_snapshot") {
            m = m.copy_tags_to_snapshot(b(new, "copy_tags_to_snapshot"));
            any = true;
        }
        if has("db_parameter_group_name") {
            m = m.db_parameter_group_name(s(new, "db_parameter_group_name"));
            any = true;
        }
        if has("vpc_security_group_ids") {
            m = m.set_vpc_security_group_ids(Some(strings(new, "vpc_security_group_ids")));
            any = true;
        }
        if any {
            m.send().await.map_err(aws_err)?;
        }
        if has("tags") {
            let arn = self.describe(id).await?.and_then(|d| d.db_instance_arn).unwrap_or_default();
            retag(&self.rds, &arn, old, new).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        let Some(d) = self.describe(id).await? else { return Ok(()) };
        if d.db_instance_status() == Some("deleting") {
            return Ok(());
        }
        if d.deletion_protection() == Some(true) {
            return Err(ProviderError::coded(
                "DeletionProtection",
                format!("database {id} has deletion protection on, so it was not deleted; to delete it: set `deletion_protection = false` under [database], run `empi-infra apply`, then run `empi-infra destroy` again"),
            ));
        }
        let snapshot = final_snapshot_name(id);
        match self
            .rds
            .delete_db_instance()
            .db_instance_identifier(id)
            .skip_final_snapshot(false)
            .final_db_snapshot_identifier(&snapshot)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!("database {id}: final snapshot {snapshot}");
                Ok(())
            }
            Err(e) if code_of(&e) == Some("DBInstanceNotFound") || code_of(&e) == Some("DBInstanceNotFoundFault") => Ok(()),
            Err(e) => Err(aws_err(e)),
        }
    }

    async fn wait(&self, id: &str, op: Operation, _recorded: &Attrs) -> ProviderResult<Readiness> {
        let d = self.describe(id).await?;
        let status = d.as_ref().and_then(|d| d.db_instance_status()).map(String::from);
        Ok(match (op, status.as_deref()) {
            (Operation::Delete, None) => Readiness::Ready,
            (Operation::Delete, Some(s)) => Readiness::Pending(s.into()),
            (_, Some("available")) => Readiness::Ready,
            (
                _,
                Some(
                    s @ ("failed"
                    | "incompatible-parameters"
                    | "incompatible-network"
                    | "storage-full"
                    | "inaccessible-encryption-credentials"),
                ),
            ) => {
                return Err(ProviderError::coded(
                    "DBInstanceFailed",
                    format!("database {id} is in state {s:?}; see the RDS console's events for why"),
                ))
            }
            (_, Some(s)) => Readiness::Pending(s.into()),
            (_, None) => {
                return Err(ProviderError::coded("DBInstanceNotFound", format!("database {id} disappeared while {}", op.progressive())))
            }
        })
    }
}

/// `<id>-final-<UTC timestamp>`: deterministic from the time of the destroy, unique per destroy.
pub fn final_snapshot_name(id: &str) -> String {
    let t = humantime_like(std::time::SystemTime::now());
    format!("{id}-final-{t}")
}

fn humantime_like(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dt = aws_sdk_rds::primitives::DateTime::from_secs(secs as i64);
    dt.fmt(aws_sdk_rds::primitives::DateTimeFormat::DateTime).unwrap_or_default().replace([':', 'T'], "-").trim_end_matches('Z').to_string()
}
