//! Audit logs: CloudWatch log groups (retention, optional KMS key), the VPC flow log and the
//! optional CloudTrail trail.
//!
//! Logs are audit evidence: `destroy` does not delete a log group that still holds log data; the
//! operator archives it (or lets its retention expire it) and deletes it, as for the log bucket.

use async_trait::async_trait;
use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType, TrafficType};
use empi_engine::kinds;
use empi_engine::kinds::logs::{FLOW_LOG, LOG_GROUP, TRAIL};
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, AwsKind, AwsResult, Tags};
use super::network::{by_name, ec2_retag, ec2_tags, tag_spec, the_one};
use super::{attrs, input_bool, input_i32, input_str, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, LogGroup(c.logs.clone()));
    add(r, FlowLog(c.ec2.clone()));
    add(r, Trail(c.cloudtrail.clone()));
}

// ── log group ────────────────────────────────────────────────────────────────────

pub struct LogGroup(aws_sdk_cloudwatchlogs::Client);

/// A log group's ARN as Terraform and the other services take it: without the `:*` that
/// DescribeLogGroups' `arn` ends in.
fn group_arn(g: &aws_sdk_cloudwatchlogs::types::LogGroup) -> String {
    g.log_group_arn()
        .map(String::from)
        .unwrap_or_else(|| g.arn().unwrap_or_default().trim_end_matches(":*").to_string())
}

impl LogGroup {
    async fn describe(
        &self,
        name: &str,
    ) -> AwsResult<Option<aws_sdk_cloudwatchlogs::types::LogGroup>> {
        let r = self.0.describe_log_groups().log_group_name_prefix(name).send().await?;
        Ok(r.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned())
    }

    async fn set_kms(&self, name: &str, a: &Attrs) -> AwsResult<()> {
        match a.get("kms_key_id").and_then(Value::as_str) {
            Some(key) => {
                done(self.0.associate_kms_key().log_group_name(name).kms_key_id(key).send()).await
            }
            None => done(self.0.disassociate_kms_key().log_group_name(name).send()).await,
        }
    }
}

#[async_trait]
impl AwsKind for LogGroup {
    const SCHEMA: &'static Schema = &LOG_GROUP;
    const NOT_FOUND: &'static [&'static str] = &["ResourceNotFoundException"];

    async fn find(&self, name: &str, _address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.describe(name).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let Some(g) = self.describe(id).await? else { return Ok(None) };
        let arn = group_arn(&g);
        let t = self.0.list_tags_for_resource().resource_arn(&arn).send().await?;
        let tag_list = t
            .tags()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>())
            .unwrap_or_default();
        Ok(Some(Observed {
            attrs: attrs([
                ("retention_in_days", json!(g.retention_in_days())),
                ("kms_key_id", json!(g.kms_key_id())),
                ("tags", tags_value(tag_list)),
            ]),
            outputs: attrs([("id", json!(id)), ("name", json!(id)), ("arn", json!(arn))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let mut req = self
            .0
            .create_log_group()
            .log_group_name(name)
            .set_tags(Some(tags(a).into_iter().collect()));
        if let Some(key) = a.get(kinds::logs::LogGroup::kms_key_id).and_then(Value::as_str) {
            req = req.kms_key_id(key);
        }
        req.send().await.map_err(|e| {
            super::adapter::aws(e).explain("ResourceAlreadyExistsException", || {
                format!("a log group named {name} already exists and is not recorded in this stack's state (a service may have made it first, never to expire); delete it or import it with `empi-infra state rebuild`")
            })
        })?;
        self.0
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(input_i32(a, kinds::logs::LogGroup::retention_in_days))
            .send()
            .await?;
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        for k in changed {
            match k.as_str() {
                "retention_in_days" => {
                    self.0
                        .put_retention_policy()
                        .log_group_name(id)
                        .retention_in_days(input_i32(new, k))
                        .send()
                        .await?;
                }
                "kms_key_id" => self.set_kms(id, new).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        let Some(g) = self.describe(id).await? else { return Ok(()) };
        if g.stored_bytes().unwrap_or(0) > 0
            && !input_bool(recorded, kinds::logs::LogGroup::force_destroy)
        {
            return Err(ProviderError::coded(
                "LogGroupNotEmpty",
                format!(
                    "log group {id} holds audit logs, so it was not deleted; archive what you must keep (`aws logs create-export-task`), then delete it (`aws logs delete-log-group --log-group-name {id}`) and run `empi-infra destroy` again, or leave it to expire after its retention of {} days (or set `force_destroy_logs = true` under [security] and run `empi-infra apply` first)",
                    g.retention_in_days().unwrap_or_default()
                ),
            )
            .into());
        }
        done(self.0.delete_log_group().log_group_name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let Some(g) = self.describe(id).await? else { return Ok(()) };
        let arn = group_arn(&g);
        if !remove.is_empty() {
            self.0.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            self.0
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(set.into_iter().collect()))
                .send()
                .await?;
        }
        Ok(())
    }
}

// ── flow log ─────────────────────────────────────────────────────────────────────

pub struct FlowLog(aws_sdk_ec2::Client);

#[async_trait]
impl AwsKind for FlowLog {
    const SCHEMA: &'static Schema = &FLOW_LOG;
    const NOT_FOUND: &'static [&'static str] = &["InvalidFlowLogId.NotFound"];

    async fn find(&self, name: &str, address: &str, _inputs: &Attrs) -> AwsResult<Option<String>> {
        let r = self.0.describe_flow_logs().set_filter(Some(by_name(name))).send().await?;
        the_one(r.flow_logs().iter().map(|f| (f.flow_log_id(), f.tags())), name, address)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.describe_flow_logs().flow_log_ids(id).send().await?;
        let Some(f) = r.flow_logs().first() else { return Ok(None) };
        Ok(Some(Observed {
            attrs: attrs([
                ("vpc_id", json!(f.resource_id())),
                ("traffic_type", json!(f.traffic_type().map(|t| t.as_str()))),
                ("log_destination", json!(f.log_destination())),
                ("iam_role_arn", json!(f.deliver_logs_permission_arn())),
                ("tags", ec2_tags(f.tags())),
            ]),
            outputs: attrs([("id", json!(id))]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let r = self
            .0
            .create_flow_logs()
            .resource_type(FlowLogsResourceType::Vpc)
            .resource_ids(input_str(a, kinds::logs::FlowLog::vpc_id))
            .traffic_type(TrafficType::from(input_str(a, kinds::logs::FlowLog::traffic_type)))
            .log_destination_type(LogDestinationType::CloudWatchLogs)
            .log_destination(input_str(a, kinds::logs::FlowLog::log_destination))
            .deliver_logs_permission_arn(input_str(a, kinds::logs::FlowLog::iam_role_arn))
            .tag_specifications(tag_spec(ResourceType::VpcFlowLog, a))
            .send()
            .await?;
        if let Some(u) = r.unsuccessful().first() {
            let e = u.error();
            return Err(ProviderError::coded(
                e.and_then(|e| e.code()).unwrap_or("FlowLogFailed"),
                format!(
                    "the VPC flow log was not created: {}",
                    e.and_then(|e| e.message()).unwrap_or("no reason given")
                ),
            )
            .into());
        }
        super::adapter::returned(r.flow_log_ids().first().map(String::as_str), "CreateFlowLogs")
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_flow_logs().flow_log_ids(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        ec2_retag(&self.0, id, set, remove).await
    }
}

// ── trail ────────────────────────────────────────────────────────────────────────

pub struct Trail(aws_sdk_cloudtrail::Client);

fn trail_tags(t: Tags) -> Vec<aws_sdk_cloudtrail::types::Tag> {
    t.into_iter()
        .map(|(k, v)| {
            aws_sdk_cloudtrail::types::Tag::builder().key(k).value(v).build().expect("tag")
        })
        .collect()
}

impl Trail {
    async fn set_logging(&self, name: &str, on: bool) -> AwsResult<()> {
        if on {
            done(self.0.start_logging().name(name).send()).await
        } else {
            done(self.0.stop_logging().name(name).send()).await
        }
    }
}

#[async_trait]
impl AwsKind for Trail {
    const SCHEMA: &'static Schema = &TRAIL;
    const NOT_FOUND: &'static [&'static str] = &["TrailNotFoundException"];

    async fn find(&self, name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        Ok(self.read(name, inputs).await?.map(|_| name.to_string()))
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let r = self.0.get_trail().name(id).send().await?;
        let Some(t) = r.trail() else { return Ok(None) };
        let arn = t.trail_arn().unwrap_or_default().to_string();
        let logging =
            self.0.get_trail_status().name(id).send().await?.is_logging().unwrap_or(false);
        let tag_list = self.0.list_tags().resource_id_list(&arn).send().await?;
        let tag_pairs: Vec<(String, String)> = tag_list
            .resource_tag_list()
            .iter()
            .flat_map(|r| r.tags_list())
            .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
            .collect();
        Ok(Some(Observed {
            attrs: attrs([
                ("s3_bucket_name", json!(t.s3_bucket_name())),
                ("s3_key_prefix", json!(t.s3_key_prefix())),
                ("is_multi_region_trail", json!(t.is_multi_region_trail().unwrap_or(false))),
                (
                    "include_global_service_events",
                    json!(t.include_global_service_events().unwrap_or(false)),
                ),
                (
                    "enable_log_file_validation",
                    json!(t.log_file_validation_enabled().unwrap_or(false)),
                ),
                ("enable_logging", json!(logging)),
                ("kms_key_id", json!(t.kms_key_id())),
                ("tags", tags_value(tag_pairs)),
            ]),
            outputs: attrs([("id", json!(id)), ("arn", json!(arn)), ("name", json!(id))]),
        }))
    }

    async fn create(&self, name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        self.0
            .create_trail()
            .name(name)
            .s3_bucket_name(input_str(a, kinds::logs::Trail::s3_bucket_name))
            .s3_key_prefix(input_str(a, kinds::logs::Trail::s3_key_prefix))
            .is_multi_region_trail(input_bool(a, kinds::logs::Trail::is_multi_region_trail))
            .include_global_service_events(input_bool(a, kinds::logs::Trail::include_global_service_events))
            .enable_log_file_validation(input_bool(a, kinds::logs::Trail::enable_log_file_validation))
            .set_kms_key_id(a.get(kinds::logs::Trail::kms_key_id).and_then(Value::as_str).map(String::from))
            .set_tags_list(Some(trail_tags(tags(a))))
            .send()
            .await
            .map_err(|e| {
                let bucket = input_str(a, kinds::logs::Trail::s3_bucket_name).to_string();
                super::adapter::aws(e)
                    .explain("TrailAlreadyExistsException", || {
                        format!("a trail named {name} already exists and is not recorded in this stack's state; delete it or choose another stack name")
                    })
                    .explain("InsufficientS3BucketPolicyException", || {
                        format!("CloudTrail may not write to bucket {bucket}: its policy must let cloudtrail.amazonaws.com GetBucketAcl on the bucket and PutObject under {}/AWSLogs/ for this trail (`empi-infra apply` writes that policy; check nothing replaced it)", input_str(a, kinds::logs::Trail::s3_key_prefix))
                    })
            })?;
        if input_bool(a, kinds::logs::Trail::enable_logging) {
            self.set_logging(name, true).await?;
        }
        Ok(name.to_string())
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        if changed.iter().any(|c| c != "enable_logging") {
            self.0
                .update_trail()
                .name(id)
                .s3_bucket_name(input_str(new, kinds::logs::Trail::s3_bucket_name))
                .s3_key_prefix(input_str(new, kinds::logs::Trail::s3_key_prefix))
                .is_multi_region_trail(input_bool(new, kinds::logs::Trail::is_multi_region_trail))
                .include_global_service_events(input_bool(
                    new,
                    kinds::logs::Trail::include_global_service_events,
                ))
                .enable_log_file_validation(input_bool(
                    new,
                    kinds::logs::Trail::enable_log_file_validation,
                ))
                .kms_key_id(
                    new.get(kinds::logs::Trail::kms_key_id)
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .send()
                .await?;
        }
        if changed.iter().any(|c| c == "enable_logging") {
            self.set_logging(id, input_bool(new, kinds::logs::Trail::enable_logging)).await?;
        }
        Ok(())
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> AwsResult<()> {
        done(self.0.delete_trail().name(id).send()).await
    }

    async fn retag(&self, id: &str, _new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let arn = self
            .0
            .get_trail()
            .name(id)
            .send()
            .await?
            .trail()
            .and_then(|t| t.trail_arn())
            .unwrap_or_default()
            .to_string();
        if !remove.is_empty() {
            let keys = remove
                .into_iter()
                .map(|k| aws_sdk_cloudtrail::types::Tag::builder().key(k).build().expect("tag"))
                .collect();
            self.0.remove_tags().resource_id(&arn).set_tags_list(Some(keys)).send().await?;
        }
        if !set.is_empty() {
            self.0.add_tags().resource_id(&arn).set_tags_list(Some(trail_tags(set))).send().await?;
        }
        Ok(())
    }
}
