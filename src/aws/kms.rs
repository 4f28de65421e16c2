//! Security: the stack's customer-managed KMS key, its rotation, key policy and alias. KMS never
//! deletes a key at once: destroy removes the alias and schedules the deletion; a key pending
//! deletion counts as gone (it can encrypt nothing), so a later apply makes a new one.

use async_trait::async_trait;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use aws_sdk_kms::Client;
use empi_engine::kinds;
use empi_engine::kinds::kms::KEY;
use empi_engine::resource::{Attrs, Observed, ProviderError, Registry, Schema};
use serde_json::{json, Value};

use super::adapter::{add, done, AwsError, AwsKind, AwsResult, Tags};
use super::{attrs, input_bool, input_i32, input_str, tags, tags_value, Clients};

pub fn register(r: &mut Registry, c: &Clients) {
    add(r, Key { home: c.kms.clone(), clients: c.clone() });
}

/// Keys of the stack's region, and of another where a key says so (`region`: the database's
/// backup replica's key).
pub struct Key {
    home: Client,
    clients: Clients,
}

/// The name KMS gives every key's policy.
const POLICY_NAME: &str = "default";

/// Whether a key in `state` can still encrypt (not pending deletion, not deleted).
fn usable(state: Option<&KeyState>) -> bool {
    !matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion | KeyState::Unavailable)
            | None
    )
}

fn kms_tags(t: Tags) -> Vec<Tag> {
    t.into_iter()
        .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().expect("tag"))
        .collect()
}

/// What is wrong with the key the stack brings (`[security] kms_key_arn`), in one sentence, or
/// `None` when it is enabled and may encrypt.
pub async fn brought_key_problem(c: &Client, arn: &str) -> Result<Option<String>, ProviderError> {
    let fix = "set [security] kms_key_arn to an enabled symmetric key (or remove it to let the stack create its own)";
    let m = match c.describe_key().key_id(arn).send().await.map_err(AwsError::from) {
        Ok(r) => r.key_metadata().cloned(),
        Err(e) if e.code() == Some("NotFoundException") => {
            return Ok(Some(format!(
                "the KMS key {arn} ([security] kms_key_arn) does not exist; {fix}"
            )))
        }
        Err(e) => return Err(e.0),
    };
    let Some(m) = m else {
        return Ok(Some(format!(
            "the KMS key {arn} ([security] kms_key_arn) does not exist; {fix}"
        )));
    };
    Ok(match m.key_state() {
        Some(KeyState::Enabled) if m.key_usage().is_none_or(|u| u.as_str() == "ENCRYPT_DECRYPT") => {
            let policy = c
                .get_key_policy()
                .key_id(arn)
                .policy_name(POLICY_NAME)
                .send()
                .await
                .map_err(|e| AwsError::from(e).0)?;
            let doc: Value =
                serde_json::from_str(policy.policy().unwrap_or("{}")).unwrap_or(Value::Null);
            key_policy_problem(&doc, arn).map(|why| {
                format!("the KMS key {arn} ([security] kms_key_arn) cannot serve the stack: its key policy {why}")
            })
        }
        Some(KeyState::Enabled) => Some(format!("the KMS key {arn} ([security] kms_key_arn) is not an encryption key; {fix}")),
        Some(KeyState::PendingDeletion) => Some(format!(
            "the KMS key {arn} ([security] kms_key_arn) is pending deletion{}, and AWS refuses to encrypt with it; cancel its deletion (`aws kms cancel-key-deletion` then `aws kms enable-key`) or {fix}",
            m.deletion_date().map(|d| format!(" (on {d})")).unwrap_or_default()
        )),
        state => Some(format!(
            "the KMS key {arn} ([security] kms_key_arn) is {}, and AWS refuses to encrypt with it; enable it or {fix}",
            state.map(|s| s.as_str().to_string()).unwrap_or_else(|| "in an unknown state".into())
        )),
    })
}

/// What a brought key's policy lacks for the stack, if anything (docs/STACK.md): the account-root
/// statement, without which no IAM policy (the cluster role's, the services' through the
/// account's principals) may use the key, and CloudWatch Logs' service principal for the stack's
/// log groups (KMS key policies, "Allows access to the AWS account and enables IAM policies";
/// CloudWatch Logs user guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
pub fn key_policy_problem(policy: &Value, key_arn: &str) -> Option<String> {
    let parts: Vec<&str> = key_arn.splitn(6, ':').collect();
    let (partition, region, account) = (parts.get(1)?, parts.get(3)?, parts.get(4)?);
    let root = format!("arn:{partition}:iam::{account}:root");
    let logs = format!("logs.{region}.amazonaws.com");
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(xs) => xs.iter().collect(),
        one @ Value::Object(_) => vec![one],
        _ => vec![],
    };
    let names = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(xs) => xs.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            _ => vec![],
        }
    };
    let allows = |principal: &str, want: &[&str]| {
        statements.iter().any(|s| {
            s["Effect"] == "Allow"
                && names(&s["Principal"][principal]).iter().any(|p| want.contains(&p.as_str()))
        })
    };
    if !allows("AWS", &[root.as_str(), account]) {
        Some(format!("has no statement allowing the account ({root}), so IAM policies such as the cluster role's cannot use it; add KMS's default \"Enable IAM User Permissions\" statement"))
    } else if !allows("Service", &[logs.as_str()]) {
        Some(format!("does not allow {logs}, so CloudWatch Logs cannot encrypt the stack's log groups with it; add a statement allowing that service principal kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey* and kms:Describe*"))
    } else {
        None
    }
}

impl Key {
    /// The client of the key's region.
    fn c(&self, a: &Attrs) -> Client {
        match a.get("region").and_then(Value::as_str) {
            Some(r) if !r.is_empty() && r != self.clients.region => self.clients.kms_in(r),
            _ => self.home.clone(),
        }
    }

    async fn metadata(c: &Client, id: &str) -> AwsResult<Option<KeyMetadata>> {
        let r = c.describe_key().key_id(id).send().await?;
        Ok(r.key_metadata().cloned().filter(|m| usable(m.key_state())))
    }

    /// The alias names pointing at the key.
    async fn aliases(c: &Client, key_id: &str) -> AwsResult<Vec<(String, String)>> {
        let r = c.list_aliases().key_id(key_id).send().await?;
        Ok(r.aliases()
            .iter()
            .map(|a| {
                (
                    a.alias_name().unwrap_or_default().to_string(),
                    a.alias_arn().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }
}

#[async_trait]
impl AwsKind for Key {
    const SCHEMA: &'static Schema = &KEY;
    const NOT_FOUND: &'static [&'static str] = &["NotFoundException"];

    /// By its alias: the stack's key is the one `alias/<stack>` names, while it is usable.
    async fn find(&self, _name: &str, _address: &str, inputs: &Attrs) -> AwsResult<Option<String>> {
        let c = self.c(inputs);
        let alias = input_str(inputs, kinds::kms::Key::alias);
        match c.describe_key().key_id(alias).send().await.map_err(AwsError::from) {
            Ok(r) => Ok(r
                .key_metadata()
                .filter(|m| usable(m.key_state()))
                .map(|m| m.key_id().to_string())),
            Err(e) if e.code() == Some("NotFoundException") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, id: &str, recorded: &Attrs) -> AwsResult<Option<Observed>> {
        let c = self.c(recorded);
        let Some(m) = Self::metadata(&c, id).await? else { return Ok(None) };
        let policy = c.get_key_policy().key_id(id).policy_name(POLICY_NAME).send().await?;
        let policy: Value =
            policy.policy().and_then(|p| serde_json::from_str(p).ok()).unwrap_or(Value::Null);
        let rotation = c.get_key_rotation_status().key_id(id).send().await?.key_rotation_enabled();
        let aliases = Self::aliases(&c, id).await?;
        // the recorded alias while it still names this key, else the first one that does
        let want = input_str(recorded, kinds::kms::Key::alias);
        let alias = aliases.iter().find(|(a, _)| a == want).or(aliases.first()).cloned();
        let t = c.list_resource_tags().key_id(id).send().await?;
        let tag_list =
            t.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string()));
        let mut observed = attrs([
            ("description", json!(m.description())),
            ("enable_key_rotation", json!(rotation)),
            ("policy", policy),
            ("alias", json!(alias.as_ref().map(|(a, _)| a.as_str()))),
            ("tags", tags_value(tag_list)),
        ]);
        // a key stays in the region it was made in (read there)
        if let Some(r) = recorded.get("region").filter(|r| r.is_string()) {
            observed.insert("region".into(), r.clone());
        }
        Ok(Some(Observed {
            attrs: observed,
            outputs: attrs([
                ("id", json!(m.key_id())),
                ("key_id", json!(m.key_id())),
                ("arn", json!(m.arn())),
                ("alias_arn", json!(alias.map(|(_, arn)| arn))),
            ]),
        }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> AwsResult<String> {
        let c = self.c(a);
        let policy = serde_json::to_string(&a["policy"]).unwrap_or_default();
        let r = c
            .create_key()
            .description(input_str(a, kinds::kms::Key::description))
            .policy(policy)
            .set_tags(Some(kms_tags(tags(a))))
            .send()
            .await?;
        let id = r
            .key_metadata()
            .map(|m| m.key_id().to_string())
            .ok_or_else(|| ProviderError::new("CreateKey returned no key"))?;
        if input_bool(a, kinds::kms::Key::enable_key_rotation) {
            c.enable_key_rotation().key_id(&id).send().await?;
        }
        let alias = input_str(a, kinds::kms::Key::alias);
        c.create_alias().alias_name(alias).target_key_id(&id).send().await.map_err(|e| {
            AwsError::from(e).explain("AlreadyExistsException", || {
                format!("the alias {alias} already names another KMS key that this stack's state does not record; delete that alias (`aws kms delete-alias --alias-name {alias}`) or choose another stack name")
            })
        })?;
        Ok(id)
    }

    async fn update(
        &self,
        id: &str,
        old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> AwsResult<()> {
        let c = self.c(new);
        for k in changed {
            match k.as_str() {
                "policy" => {
                    let policy = serde_json::to_string(&new["policy"]).unwrap_or_default();
                    c.put_key_policy()
                        .key_id(id)
                        .policy_name(POLICY_NAME)
                        .policy(policy)
                        .send()
                        .await?;
                }
                "enable_key_rotation" if input_bool(new, k) => {
                    done(c.enable_key_rotation().key_id(id).send()).await?
                }
                "enable_key_rotation" => done(c.disable_key_rotation().key_id(id).send()).await?,
                "description" => {
                    done(
                        c.update_key_description().key_id(id).description(input_str(new, k)).send(),
                    )
                    .await?
                }
                "alias" => {
                    // the alias may be missing (deleted behind empi-infra's back) or another key's
                    let alias = input_str(new, k);
                    match c
                        .create_alias()
                        .alias_name(alias)
                        .target_key_id(id)
                        .send()
                        .await
                        .map_err(AwsError::from)
                    {
                        Err(e) if e.code() == Some("AlreadyExistsException") => {
                            c.update_alias().alias_name(alias).target_key_id(id).send().await?;
                        }
                        r => r.map(|_| ())?,
                    }
                    let before = input_str(old, k);
                    if !before.is_empty() && before != alias {
                        match c
                            .delete_alias()
                            .alias_name(before)
                            .send()
                            .await
                            .map_err(AwsError::from)
                        {
                            Err(e) if e.code() == Some("NotFoundException") => {}
                            r => r.map(|_| ())?,
                        }
                    }
                }
                _ => {} // deletion_window_in_days: only destroy sends it
            }
        }
        Ok(())
    }

    async fn delete(&self, id: &str, recorded: &Attrs) -> AwsResult<()> {
        let c = self.c(recorded);
        let Some(_) = Self::metadata(&c, id).await? else { return Ok(()) };
        // the alias first: a key pending deletion keeps its aliases, and the next apply's key
        // takes the name
        for (alias, _) in Self::aliases(&c, id).await? {
            match c.delete_alias().alias_name(&alias).send().await.map_err(AwsError::from) {
                Err(e) if e.code() == Some("NotFoundException") => {}
                r => r.map(|_| ())?,
            }
        }
        let days = match input_i32(recorded, kinds::kms::Key::deletion_window_in_days) {
            d @ 7..=30 => d,
            _ => 30,
        };
        let r = c.schedule_key_deletion().key_id(id).pending_window_in_days(days).send().await?;
        tracing::info!(
            "KMS key {id}: deletion scheduled for {} ({days} days); until then `aws kms cancel-key-deletion --key-id {id}` keeps it, and with it the final database snapshot it encrypts",
            r.deletion_date().map(|d| d.to_string()).unwrap_or_default()
        );
        Ok(())
    }

    async fn retag(&self, id: &str, new: &Attrs, set: Tags, remove: Vec<String>) -> AwsResult<()> {
        let c = self.c(new);
        if !remove.is_empty() {
            c.untag_resource().key_id(id).set_tag_keys(Some(remove)).send().await?;
        }
        if !set.is_empty() {
            c.tag_resource().key_id(id).set_tags(Some(kms_tags(set))).send().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn a_brought_keys_policy_must_let_the_account_and_cloudwatch_logs_use_it() {
        let root = json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"});
        let logs = json!({"Effect": "Allow", "Principal": {"Service": "logs.us-east-1.amazonaws.com"}, "Action": ["kms:Encrypt*"], "Resource": "*"});
        assert_eq!(
            key_policy_problem(&json!({"Statement": [root.clone(), logs.clone()]}), KEY),
            None
        );
        // the account by its id alone is the same principal
        let by_id = json!({"Effect": "Allow", "Principal": {"AWS": ["123456789012"]}, "Action": "kms:*", "Resource": "*"});
        assert_eq!(key_policy_problem(&json!({"Statement": [by_id, logs.clone()]}), KEY), None);
        let no_root = key_policy_problem(&json!({"Statement": [logs]}), KEY).unwrap();
        assert!(no_root.contains("arn:aws:iam::123456789012:root"), "{no_root}");
        let no_logs = key_policy_problem(&json!({"Statement": [root]}), KEY).unwrap();
        assert!(no_logs.contains("logs.us-east-1.amazonaws.com"), "{no_logs}");
        let denied = json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"});
        assert!(key_policy_problem(&json!({"Statement": [denied]}), KEY).is_some());
    }
}
