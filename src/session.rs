//! What every command that touches a stack shares: the stack file, its state backend, and (for
//! those that reach the cloud) the AWS and Kubernetes providers with the account they work in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use empi_engine::blueprint;
use empi_engine::graph::ResourceGraph;
use empi_engine::resource::Registry;
use empi_engine::stack::{SecretRotations, Stack, StateConfig};
use empi_engine::state::{HeldLock, LocalBackend, State, StateStore};
use empi_engine::{eks_versions, zones};

use empi_engine::stack::{IdentityProvider, OidcEndpoints};

use empi_engine::tuva::{self, UpgradeRefusal};

use crate::cli::VersionChange;
use crate::{aws, identity, k8s, s3_state};

/// The fact recording the Tuva EMPI version the stack was last planned with.
pub const TUVA_FACT: &str = "tuva_version";
/// The state fact listing the Tuva EMPI versions whose pre-migration snapshot is kept.
pub const UPGRADE_SNAPSHOTS_FACT: &str = "upgrade_snapshots";
/// The state fact listing the PostgreSQL major upgrades (`postgres17`) planned with their steps
/// around the database (writers stopped, ANALYZE, writers started).
pub const UPGRADE_STEPS_FACT: &str = "postgres_upgrade_steps";

/// The fact naming the restored instance `db restore` switched the stack's database to.
pub const RESTORED_DATABASE_FACT: &str = "database_restored_as";
/// The fact recording the instance a `db restore` replaced, kept until `db restore --finalize`.
pub const REPLACED_DATABASE_FACT: &str = "database_replaced";

/// The fact recording when the config secret's generated values were made and rotated, and the
/// login role the application connects as (`empi_engine::stack::SecretRotations`).
pub const SECRET_ROTATIONS_FACT: &str = "secret_rotations";

/// What state records of the generated secrets' rotations, if anything.
pub fn secret_rotations(state: &State) -> Option<empi_engine::stack::SecretRotations> {
    state.facts.get(SECRET_ROTATIONS_FACT).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// After a rebuild or an import found the config secret for a state that did not record when its
/// values were set: what the secret itself says replaces the placement's guess (now).
pub async fn secret_rotations_found(
    cloud: &Connected,
    before: Option<&State>,
    after: &mut State,
) -> Result<()> {
    if before.and_then(secret_rotations).is_some() {
        return Ok(());
    }
    if let Some(arn) = after.resources.get("config.secret").and_then(|r| r.id.clone()) {
        if let Some(found) =
            live_secret_rotations(&cloud.clients.secrets, &arn, &after.stack).await?
        {
            after.facts.insert(SECRET_ROTATIONS_FACT.into(), serde_json::to_value(found)?);
        }
    }
    Ok(())
}

/// The login role the current version of the config secret `arn` names (empty: the application's
/// own role): paired with the password there, it is what pods get, whatever state says. `None`
/// when the secret is gone or scheduled for deletion (the plan makes it again).
async fn live_db_login(c: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Option<String>> {
    let v = match c.get_secret_value().secret_id(arn).send().await {
        Ok(v) => v,
        Err(e) => {
            let e = aws::aws_err(e);
            if matches!(
                e.code.as_deref(),
                Some("ResourceNotFoundException" | "InvalidRequestException")
            ) {
                return Ok(None);
            }
            return Err(anyhow::anyhow!("cannot read the config secret {arn}: {e}"));
        }
    };
    let user = v
        .secret_string()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|doc| doc["db"]["user"].as_str().map(String::from))
        .unwrap_or_default();
    Ok(Some(if blueprint::DB_APP_LOGINS[1..].contains(&user.as_str()) {
        user
    } else {
        String::new()
    }))
}

/// What the config secret `id` (ARN or name) says of its values: when each was set (its tags,
/// else its creation time), and the login role its document names. `None` when there is no such
/// secret of this stack (one under the name without the stack's tag is not read).
async fn live_secret_rotations(
    c: &aws_sdk_secretsmanager::Client,
    id: &str,
    stack: &str,
) -> Result<Option<SecretRotations>> {
    let described = match c.describe_secret().secret_id(id).send().await {
        Ok(d) => d,
        Err(e) => {
            let e = aws::aws_err(e);
            if e.code.as_deref() == Some("ResourceNotFoundException") {
                return Ok(None);
            }
            return Err(anyhow::anyhow!("cannot describe the config secret {id}: {e}"));
        }
    };
    let tag = |k: &str| {
        described
            .tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(String::from)
    };
    if tag(empi_engine::stack::TAG_STACK).as_deref() != Some(stack)
        || described.deleted_date().is_some()
    {
        return Ok(None);
    }
    let created = described
        .created_date()
        .and_then(|t| t.fmt(aws_sdk_secretsmanager::primitives::DateTimeFormat::DateTime).ok())
        .unwrap_or_else(now_rfc3339);
    Ok(Some(SecretRotations {
        db_password_set: tag(empi_engine::stack::TAG_DB_PASSWORD_SET)
            .unwrap_or_else(|| created.clone()),
        django_key_set: tag(empi_engine::stack::TAG_DJANGO_KEY_SET).unwrap_or(created),
        db_login: live_db_login(c, id).await?.unwrap_or_default(),
    }))
}

/// The values of a config secret made now.
fn fresh_rotations() -> SecretRotations {
    let now = now_rfc3339();
    SecretRotations { db_password_set: now.clone(), django_key_set: now, db_login: String::new() }
}

/// For `state rebuild` from nothing: what the stack's config secret, found under its name and
/// carrying the stack's tag, says of its values (the login role names the database-role Job the
/// rebuild looks for). Placed into the session's stack and `placement`.
pub async fn secret_rotations_by_name(
    session: &mut Session,
    cloud: &Connected,
    placement: &mut Placement,
) -> Result<()> {
    let stack = session.stack.name.clone();
    let name = blueprint::config_secret_name(&session.stack);
    if let Some(r) = live_secret_rotations(&cloud.clients.secrets, &name, &stack).await? {
        placement.facts.insert(SECRET_ROTATIONS_FACT.into(), serde_json::to_value(&r)?);
        session.stack.security.secrets = r;
    }
    Ok(())
}

/// Now, in RFC 3339 to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The instance a `db restore` replaced, kept (deletion protection on) until `--finalize`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReplacedDatabase {
    pub instance: String,
    pub arn: String,
    pub replaced_by: String,
    /// When the switch was made (RFC 3339).
    pub at: String,
    /// Its CloudWatch Logs group, which state no longer records (kept, with its retention).
    pub log_group: String,
}

/// The instance a `db restore` replaced, if one is kept.
pub fn replaced_database(state: &State) -> Option<ReplacedDatabase> {
    state.facts.get(REPLACED_DATABASE_FACT).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The Tuva EMPI version state records as running.
/// The Tuva EMPI version state records as deployed.
pub fn recorded_version(state: &State) -> Option<String> {
    state.facts.get(TUVA_FACT).and_then(|v| v.as_str()).map(String::from).or_else(|| {
        // states written before the fact: the migrate job is named after the version
        let migrate = state.resources.get("workloads.migrate")?;
        (migrate.name == empi_engine::blueprint::workloads::migrate_job_name(tuva::V0_1_0))
            .then(|| tuva::V0_1_0.to_string())
    })
}

/// The versions whose pre-migration snapshot state records as kept, oldest first.
fn kept_snapshots(state: &State) -> Vec<String> {
    state
        .facts
        .get(UPGRADE_SNAPSHOTS_FACT)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

/// The state fact recording the add-on versions chosen from EKS's defaults, and the Kubernetes
/// version they were chosen for.
pub const ADDON_DEFAULTS_FACT: &str = "eks_addon_defaults";

/// The add-on versions chosen from EKS's defaults for one Kubernetes version.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct AddonDefaults {
    kubernetes_version: String,
    versions: BTreeMap<String, String>,
}

/// The fact recording which version of the Keycloak client secret the ALB was given.
pub const KEYCLOAK_SECRET_VERSION_FACT: &str = "keycloak_client_secret_version";

/// The fact recording the Keycloak realm's endpoints the stack was planned with.
pub const KEYCLOAK_FACT: &str = "keycloak_endpoints";

/// The account id stands in globally unique names; commands without cloud calls show a placeholder.
pub const NO_ACCOUNT: &str = "ACCOUNT";

/// A loaded stack and where its state lives.
pub struct Session {
    pub stack: Stack,
    pub backend: Arc<dyn StateStore>,
}

/// The providers of a session that reaches the cloud.
pub struct Connected {
    pub registry: Registry,
    pub account: String,
    /// The IAM principal the credentials act as (`empi_engine::arn::iam_principal_of`).
    pub caller: String,
    pub clients: Arc<aws::Clients>,
}

/// A session of a command that changes or plans the cloud: the state locked and loaded, the
/// providers connected, and the stack placed in the account.
pub struct Begun {
    pub session: Session,
    /// Held until the command ends.
    pub lock: Box<dyn HeldLock>,
    pub state: State,
    pub cloud: Connected,
    pub placement: Placement,
}

/// What placing a stack in the account decided, for the plan: facts to record, warnings to show.
pub struct Placement {
    pub facts: BTreeMap<String, serde_json::Value>,
    pub warnings: Vec<String>,
}

impl Session {
    /// Loads the stack file and opens its state backend.
    pub async fn open(path: &Option<PathBuf>) -> Result<Session> {
        let stack = load_stack(path)?;
        // the state backend may be in S3: the request deadline is checked before its first call
        aws::checked_request_timeout()?;
        let backend = backend(&stack).await?;
        Ok(Session { stack, backend })
    }

    /// Opens the stack, locks and loads its state for `operation`, connects and places it.
    pub async fn begin(
        path: &Option<PathBuf>,
        operation: &str,
        versions: VersionChange,
    ) -> Result<Begun> {
        let mut session = Session::open(path).await?;
        let lock = session.backend.lock(operation).await?;
        let state = session.backend.load().await?;
        let cloud = session.connect().await?;
        let mut placement = session.place(&cloud, &state, true).await?;
        session.check_version_change(&state, &versions, &mut placement)?;
        session.check_upgrade_insights(&cloud, &state, &versions, &mut placement).await?;
        session.check_postgres_major(&cloud, &state, &versions, &mut placement).await?;
        Ok(Begun { session, lock, state, cloud, placement })
    }

    /// Refuses a read-only `command` (drift, check) while an apply holds the state lock: it would
    /// judge half-applied work.
    pub async fn refuse_while_locked(&self, command: &str) -> Result<()> {
        if let Some(h) = self.backend.lock_holder().await? {
            return Err(crate::errors::fix(
                format!(
                    "`{}` by {}@{} (pid {}, since {}) holds the state lock, so the cloud may be half-changed; {command} did not run",
                    h.operation, h.owner, h.host, h.pid, h.created
                ),
                format!("run it again after that finishes (or, if that run is gone, `empi-infra state unlock {}`)", h.id),
            ));
        }
        Ok(())
    }

    /// The AWS and Kubernetes providers, and the account they work in.
    pub async fn connect(&self) -> Result<Connected> {
        let stack = &self.stack;
        // EMPI_INFRA_KUBECONFIG wins over [target] kubeconfig; neither: the EKS cluster itself.
        // Read before any cloud call, so a bad one fails the command at once
        let kubeconfig = k8s::kubeconfig(stack)?;
        let target = aws::Target::from_stack(stack);
        let clients = Arc::new(aws::Clients::new(&target).await);
        let (account, caller) = clients.caller().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let conn = Arc::new(k8s::Connection::new(
            &stack.name,
            kubeconfig,
            clients.sdk.clone(),
            stack.region.clone(),
        ));
        Ok(Connected { registry: providers(clients.clone(), conn), account, caller, clients })
    }

    /// Fits the stack to the account before the graph is built: its availability zones (pinned,
    /// recorded in `state`, or chosen now from the account's), its identity provider's endpoints,
    /// and (with `preflight`, before a plan) its Kubernetes version checked against what EKS offers
    /// here and its identity provider checked the way sign-in and Tuva's bootstrap will use it.
    pub async fn place(
        &mut self,
        cloud: &Connected,
        state: &State,
        preflight: bool,
    ) -> Result<Placement> {
        // the database's identifier first: names (its log group, the database-role Job) follow it
        if let Some(id) = state.facts.get(RESTORED_DATABASE_FACT).and_then(|v| v.as_str()) {
            self.stack.database.restored_identifier = id.to_string();
        }
        let mut placement = self.place_zones_and_version(cloud, state, preflight).await?;
        self.place_secret_rotations(cloud, state, &mut placement).await?;
        if let Some(r) = replaced_database(state) {
            placement.warnings.push(format!(
                "the database instance {} that `db restore` replaced with {} at {} is kept (deletion protection on) until `empi-infra db restore --finalize`",
                r.instance, r.replaced_by, r.at
            ));
        }
        self.place_identity(cloud, state, preflight, &mut placement).await?;
        self.place_addons(cloud, state, preflight, &mut placement).await?;
        if preflight {
            placement.warnings.extend(self.check_kubernetes_upgrade(state)?);
            placement.warnings.extend(self.check_engine_version(cloud, state).await?);
            self.check_extensions(cloud).await?;
            self.check_brought_key(cloud).await?;
            placement.warnings.extend(self.check_certificate(cloud).await?);
        }
        placement.warnings.extend(self.stack.warnings());
        placement.warnings.extend(self.creator_note(cloud, state));
        self.place_upgrade_snapshots(state, &mut placement);
        Ok(placement)
    }

    /// When the config secret's generated values were set, and the login role the application
    /// connects as: from state; for a stack state does not know them of (made before empi-infra
    /// kept them, or a state rebuilt after a loss), from the secret itself (its tags, else its
    /// creation time; its document's `db.user`); for a new stack, now (the plan's time, which a
    /// saved plan keeps).
    async fn place_secret_rotations(
        &mut self,
        cloud: &Connected,
        state: &State,
        placement: &mut Placement,
    ) -> Result<()> {
        let secrets = &cloud.clients.secrets;
        let stack = self.stack.name.clone();
        let recorded = state.resources.get("config.secret").and_then(|r| r.id.clone());
        let rotations = match (secret_rotations(state), &recorded) {
            (Some(mut r), Some(arn)) => {
                // the login role goes with the password in the secret: a rotation cut short after
                // it made the new credential current is finished by the next apply, not undone
                let live = live_db_login(secrets, arn).await?.unwrap_or_else(|| r.db_login.clone());
                if live != r.db_login {
                    placement.warnings.push(format!(
                        "the config secret names the login role {}, which state did not record (a `rotate db-password` was cut short after it switched): the plan rolls the backend onto it; `rotate db-password` later removes the old role's password",
                        if live.is_empty() { blueprint::DB_APP_USER } else { live.as_str() }
                    ));
                    r.db_login = live;
                }
                r
            }
            (Some(r), None) => r,
            // a stack from before the fact: what the secret says; a new stack: now (`state
            // rebuild` looks the secret up by its name first: `secret_rotations_by_name`)
            (None, Some(arn)) => match live_secret_rotations(secrets, arn, &stack).await? {
                Some(r) => r,
                None => fresh_rotations(),
            },
            (None, None) => fresh_rotations(),
        };
        placement.facts.insert(SECRET_ROTATIONS_FACT.into(), serde_json::to_value(&rotations)?);
        self.stack.security.secrets = rotations;
        Ok(())
    }

    /// The EKS add-ons' versions: a pin of `[cluster.addons]` (before a plan, checked against the
    /// versions EKS lists for the cluster's Kubernetes version), else EKS's default for that
    /// version, chosen once and kept (recorded in state) until the Kubernetes version changes, so
    /// that a new default EKS publishes does not change a running cluster unasked.
    async fn place_addons(
        &mut self,
        cloud: &Connected,
        state: &State,
        preflight: bool,
        placement: &mut Placement,
    ) -> Result<()> {
        let k8s = self.stack.cluster.kubernetes_version.clone();
        let recorded: AddonDefaults = state
            .facts
            .get(ADDON_DEFAULTS_FACT)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let mut defaults = AddonDefaults { kubernetes_version: k8s.clone(), ..Default::default() };
        for addon in &mut self.stack.cluster.addons {
            let kept = recorded
                .versions
                .get(&addon.name)
                .filter(|_| recorded.kubernetes_version == k8s)
                .cloned();
            let in_state = state
                .resources
                .get(&empi_engine::blueprint::addon_address(&addon.name))
                .and_then(|r| r.attrs.get(empi_engine::kinds::eks::Addon::addon_version))
                .and_then(|v| v.as_str())
                .map(String::from);
            if !preflight {
                // drift and check compare with what apply chose
                if addon.pinned.is_none() {
                    addon.version = kept.clone().or(in_state).unwrap_or_default();
                }
                if let Some(v) = kept {
                    defaults.versions.insert(addon.name.clone(), v);
                }
                continue;
            }
            let listed = aws::eks::addon_versions(&cloud.clients.eks, &addon.name, &k8s)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot list the versions of the EKS add-on {}: {e}",
                        addon.name
                    )
                })?;
            let Some((listed, default)) = listed else {
                // an endpoint without the call: EKS's default at creation, as recorded
                addon.version = addon.pinned.clone().or(kept).or(in_state).unwrap_or_default();
                continue;
            };
            let shown = |l: &[String]| l.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if let Some(pin) = &addon.pinned {
                if !listed.contains(pin) {
                    bail!(
                        "[cluster.addons] {} = {pin:?} is not a version EKS lists for Kubernetes {k8s}; set it to one that is ({}{}), or remove it to take EKS's default",
                        addon.name,
                        shown(&listed),
                        default.as_ref().map(|d| format!("; the default is {d}")).unwrap_or_default()
                    );
                }
                continue;
            }
            let chosen =
                kept.filter(|v| listed.contains(v)).or(default).or(listed.first().cloned());
            let Some(chosen) = chosen else {
                bail!(
                    "EKS lists no version of the add-on {} for Kubernetes {k8s}; choose another [cluster] kubernetes_version",
                    addon.name
                );
            };
            addon.version = chosen.clone();
            defaults.versions.insert(addon.name.clone(), chosen);
        }
        placement.facts.insert(ADDON_DEFAULTS_FACT.into(), serde_json::to_value(&defaults)?);
        Ok(())
    }

    /// When the operator is one of `cluster.admins` and the cluster is still to be made: EKS gives
    /// the cluster's creator an access entry with cluster-admin at creation, so a second entry for
    /// the same principal would fail 409; the apply takes EKS's over instead.
    fn creator_note(&self, cloud: &Connected, state: &State) -> Option<String> {
        let i = self.stack.cluster.admins.iter().position(|a| *a == cloud.caller)?;
        let cluster = empi_engine::blueprint::EKS_CLUSTER;
        (!state.resources.contains_key(cluster)).then(|| {
            format!(
                "you ({}) are one of cluster.admins: EKS gives the creator of {cluster} an access entry with cluster-admin when it makes the cluster, and apply takes that entry over as cluster.admin[{i}] instead of creating a second",
                cloud.caller
            )
        })
    }

    /// A change of `[cluster] kubernetes_version` against the version state records: EKS moves a
    /// cluster one minor up at a time and never down, which it says only once the plan is
    /// approved; a one-minor upgrade is named with its order and typical minutes.
    fn check_kubernetes_upgrade(&self, state: &State) -> Result<Option<String>> {
        let Some(from) = state
            .resources
            .get(empi_engine::blueprint::EKS_CLUSTER)
            .and_then(|r| r.attrs.get(empi_engine::kinds::eks::Cluster::version))
            .and_then(|v| v.as_str())
        else {
            return Ok(None);
        };
        let c = &self.stack.cluster;
        eks_versions::upgrade_step(from, &c.kubernetes_version, c.nodes.desired)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Before a Kubernetes upgrade, EKS's upgrade insights for the new version (`ListInsights`):
    /// one in ERROR (an API the new version removes is still used, nodes too far behind…) stops
    /// the plan unless `--allow-insight ID`; one in WARNING is shown.
    async fn check_upgrade_insights(
        &self,
        cloud: &Connected,
        state: &State,
        allow: &VersionChange,
        placement: &mut Placement,
    ) -> Result<()> {
        let cluster = empi_engine::blueprint::EKS_CLUSTER;
        let Some(recorded) = state.resources.get(cluster) else { return Ok(()) };
        let from = recorded
            .attrs
            .get(empi_engine::kinds::eks::Cluster::version)
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let to = &self.stack.cluster.kubernetes_version;
        let (Some(id), true) = (recorded.id.as_deref(), from != to.as_str()) else {
            return Ok(());
        };
        let Some(insights) =
            aws::eks::upgrade_insights(&cloud.clients.eks, id, to).await.map_err(|e| {
                anyhow::anyhow!("cannot read the upgrade insights of cluster {id}: {e}")
            })?
        else {
            return Ok(());
        };
        for i in insights {
            let said = format!(
                "EKS's upgrade insight \"{}\" ({}) is {} for Kubernetes {to}: {}",
                i.name, i.id, i.status, i.reason
            );
            match i.status.as_str() {
                "ERROR" if !allow.allow_insights.contains(&i.id) => bail!(
                    "{said}; fix what it found (the EKS console's Upgrade insights shows the details), or run again with --allow-insight {} once you know the upgrade is safe",
                    i.id
                ),
                "ERROR" | "WARNING" => placement.warnings.push(said),
                _ => {}
            }
        }
        Ok(())
    }

    /// The PostgreSQL version against RDS's own list for the region (live tables win over the
    /// table this release was made with): a minor RDS never offered or has retired is refused
    /// before anything is made; one it retired under a running instance is a warning.
    async fn check_engine_version(&self, cloud: &Connected, state: &State) -> Result<Vec<String>> {
        use empi_engine::stack::{postgres_version_verdict, POSTGRES_VERSIONS};
        let wanted = &self.stack.database.engine_version;
        let available = match aws::rds::postgres_versions(&cloud.clients.rds).await {
            Ok(Some(v)) => v,
            // an endpoint without the call: the versions RDS offered when this release was made
            Ok(None) => POSTGRES_VERSIONS
                .iter()
                .flat_map(|(_, minors)| minors.iter().map(|m| m.to_string()))
                .collect(),
            Err(e) => bail!(
                "cannot list the PostgreSQL versions RDS offers in {}: {e}",
                self.stack.region
            ),
        };
        let running = state
            .resources
            .get(empi_engine::blueprint::DATABASE_INSTANCE)
            .and_then(|r| r.attrs.get(empi_engine::kinds::rds::Instance::engine_version))
            .and_then(|v| v.as_str());
        match postgres_version_verdict(wanted, &available, running, &self.stack.region) {
            Ok(w) => Ok(w.into_iter().collect()),
            Err(refusal) => Err(anyhow::anyhow!("{refusal}")),
        }
    }

    /// A key the stack brings (`[security] kms_key_arn`) must exist and be enabled before a plan
    /// is made: AWS refuses to encrypt with a disabled key or one pending deletion, and would
    /// say so only in the middle of an apply.
    /// The PostgreSQL extensions the Tuva EMPI version's migrations create, against those RDS
    /// offers for the stack's major (`rds.extensions`): a migrate that would fail on one RDS lacks
    /// is refused before anything changes, the first apply's and a major upgrade's alike.
    async fn check_extensions(&self, cloud: &Connected) -> Result<()> {
        let major = empi_engine::stack::postgres_major(&self.stack.database.engine_version);
        let family = format!("postgres{major}");
        let Some(offered) =
            aws::rds::offered_extensions(&cloud.clients.rds, &family).await.map_err(|e| {
                anyhow::anyhow!("cannot read the extensions RDS offers for {family}: {e}")
            })?
        else {
            return Ok(());
        };
        let app = &self.stack.app;
        let missing: Vec<&str> = app
            .tuva
            .extensions
            .iter()
            .filter(|e| !offered.contains(e))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            bail!(
                "RDS for PostgreSQL {major} does not offer the extension(s) {} (its `rds.extensions`), which the migrations of Tuva EMPI {} create; keep [database] engine_version at a major that offers them, or use a Tuva EMPI version that does not need them",
                missing.join(", "),
                app.version
            );
        }
        Ok(())
    }

    async fn check_brought_key(&self, cloud: &Connected) -> Result<()> {
        let Some(arn) = &self.stack.security.kms_key_arn else { return Ok(()) };
        match aws::kms::brought_key_problem(&cloud.clients.kms, arn).await {
            Ok(None) => Ok(()),
            Ok(Some(problem)) => Err(anyhow::anyhow!("{problem}")),
            Err(e) => {
                Err(anyhow::anyhow!("cannot check the KMS key {arn} ([security] kms_key_arn): {e}"))
            }
        }
    }

    /// The certificate the HTTPS listener will serve must be issued, for `app.hostname`, and not
    /// expired: a first apply meets it only 20–30 minutes in, after EKS and RDS are made and billed.
    async fn check_certificate(&self, cloud: &Connected) -> Result<Vec<String>> {
        let (arn, host) = (&self.stack.app.certificate_arn, &self.stack.app.hostname);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        match aws::acm::check(&cloud.clients.acm, arn, host, now).await {
            Ok(aws::acm::Verdict::Usable(warnings)) => Ok(warnings),
            Ok(aws::acm::Verdict::Refused(problem)) => Err(anyhow::anyhow!("{problem}")),
            Err(e) => Err(anyhow::anyhow!(
                "cannot check the certificate {arn} ([app] certificate_arn): {e}"
            )),
        }
    }

    /// A PostgreSQL major change against what the database runs: RDS cannot go down, upgrades
    /// only to the targets it lists for the running version (`ValidUpgradeTarget`), and takes the
    /// database offline meanwhile, so `plan` refuses the change without `--allow-downtime`. With
    /// it, a snapshot `<name>-db-pre-postgres<N>` is taken before the upgrade: the way back.
    async fn check_postgres_major(
        &mut self,
        cloud: &Connected,
        state: &State,
        allow: &VersionChange,
        placement: &mut Placement,
    ) -> Result<()> {
        use empi_engine::stack::postgres_major;
        let Some(id) = state
            .resources
            .get(empi_engine::blueprint::DATABASE_INSTANCE)
            .and_then(|r| r.id.clone())
        else {
            return Ok(());
        };
        let wanted = self.stack.database.engine_version.clone();
        let Some(running) = aws::rds::running_version(&cloud.clients.rds, &id)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the database {id}: {e}"))?
        else {
            return Ok(());
        };
        let (from, to) = (postgres_major(&running), postgres_major(&wanted));
        if from == to {
            return Ok(());
        }
        let number = |m: &str| m.parse::<u32>().unwrap_or(0);
        if number(to) < number(from) {
            bail!(
                "the database runs PostgreSQL {running} and RDS cannot downgrade it to {wanted}; set [database] engine_version = \"{from}\" (an older major means a new database restored from a dump)"
            );
        }
        let key = format!("postgres{to}");
        let snapshot = empi_engine::blueprint::upgrade_snapshot_name(&self.stack, &key);
        let targets =
            aws::rds::upgrade_targets(&cloud.clients.rds, &running).await.map_err(|e| {
                anyhow::anyhow!("cannot list RDS's upgrade targets of PostgreSQL {running}: {e}")
            })?;
        if let Some(targets) = targets {
            if !targets.iter().any(|t| postgres_major(t) == to) {
                let majors: Vec<&str> = targets.iter().map(|t| postgres_major(t)).collect();
                bail!(
                    "RDS cannot upgrade PostgreSQL {running} to {to} directly (it lists {} as upgrade targets); set [database] engine_version to a major it lists, apply, then go on",
                    if majors.is_empty() { "none".to_string() } else { targets.join(", ") }
                );
            }
        }
        let (lo, hi) = empi_engine::stack::POSTGRES_MAJOR_UPGRADE_MINUTES;
        if !allow.allow_downtime && !self.stack.database.upgrade_snapshots.contains(&key) {
            bail!(
                "PostgreSQL {running} → {to} is a major upgrade: RDS takes the database offline while it runs (typically {lo}–{hi} minutes, longer for a large database; a Multi-AZ standby does not shorten it), so Tuva EMPI cannot serve meanwhile; a snapshot {snapshot} is taken first, the way back. Run again with --allow-downtime when the application may be down"
            );
        }
        let db = &mut self.stack.database;
        if !db.upgrade_snapshots.contains(&key) {
            db.upgrade_snapshots.push(key.clone());
            placement
                .facts
                .insert(UPGRADE_SNAPSHOTS_FACT.into(), serde_json::json!(db.upgrade_snapshots));
        }
        if !db.upgrade_steps.contains(&key) {
            db.upgrade_steps.push(key);
            placement.facts.insert(UPGRADE_STEPS_FACT.into(), serde_json::json!(db.upgrade_steps));
        }
        let writers: Vec<&str> = empi_engine::blueprint::workloads::database_writers(&self.stack)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        placement.warnings.push(format!(
            "PostgreSQL {running} → {to}: {} stopped, the database snapshotted as {snapshot}, then upgraded (offline for typically {lo}–{hi} minutes), its planner statistics rebuilt (ANALYZE, which the upgrade drops), then {} started again{}",
            writers.join(" and "),
            writers.join(" and "),
            if self.stack.app.matching_job_runner == "k8s" {
                format!("; matching Jobs already running in namespace {} are not stopped: let them finish before the apply", self.stack.app.matching_job_namespace)
            } else {
                String::new()
            }
        ));
        Ok(())
    }

    /// The pre-migration snapshots the stack keeps: those state records, and one for the version
    /// now asked for when it differs from the one state records (an upgrade, or a way back), the
    /// last `[database] keep_upgrade_snapshots` of them. The migrate Job of the new version waits
    /// for its snapshot; a snapshot that falls off the list is deleted.
    fn place_upgrade_snapshots(&mut self, state: &State, placement: &mut Placement) {
        let mut kept = kept_snapshots(state);
        let current = self.stack.app.version.clone();
        if recorded_version(state).is_some_and(|p| p != current) && !kept.contains(&current) {
            placement.warnings.push(format!(
                "before {current}'s migrations run, the database is snapshotted as {} (the last {} such snapshots are kept)",
                empi_engine::blueprint::upgrade_snapshot_name(&self.stack, &current),
                self.stack.database.keep_upgrade_snapshots
            ));
            kept.push(current);
        }
        let keep = self.stack.database.keep_upgrade_snapshots as usize;
        if kept.len() > keep {
            kept.drain(..kept.len() - keep);
        }
        // the steps of a PostgreSQL major upgrade stay in the graph (done, run once) while its
        // snapshot is kept, and go with it
        let steps: Vec<String> = state
            .facts
            .get(UPGRADE_STEPS_FACT)
            .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|k| kept.contains(k))
            .collect();
        placement.facts.insert(UPGRADE_SNAPSHOTS_FACT.into(), serde_json::json!(kept));
        placement.facts.insert(UPGRADE_STEPS_FACT.into(), serde_json::json!(steps));
        // a snapshot made stays the snapshot of the instance it was taken of
        self.stack.database.snapshot_sources = kept
            .iter()
            .filter_map(|k| {
                let r =
                    state.resources.get(&empi_engine::blueprint::upgrade_snapshot_address(k))?;
                let id = r.attrs.get(empi_engine::kinds::rds::Snapshot::db_instance_identifier)?;
                Some((k.clone(), id.as_str()?.to_string()))
            })
            .collect();
        self.stack.database.upgrade_snapshots = kept;
        self.stack.database.upgrade_steps = steps;
    }

    /// Tuva EMPI's upgrade rule against the version state records: never back (migrations do not
    /// run backwards), never past a release; and what the new version adds or removes.
    fn check_version_change(
        &self,
        state: &State,
        allow: &VersionChange,
        placement: &mut Placement,
    ) -> Result<()> {
        let app = &self.stack.app;
        placement.warnings.extend(app.tuva.assumed.clone());
        placement.facts.insert(TUVA_FACT.into(), serde_json::Value::String(app.version.clone()));
        let Some(previous) = recorded_version(state).filter(|p| p != &app.version) else {
            return Ok(());
        };
        let Ok(from) = tuva::classify(&previous) else { return Ok(()) };
        match tuva::check_upgrade(&from, &previous, &app.tuva, &app.version, &tuva::releases()) {
            Err(UpgradeRefusal::Downgrade(why)) if !allow.allow_downgrade => {
                let backup = if kept_snapshots(state).contains(&previous) {
                    format!(
                        "the snapshot {} (taken before {previous}'s migrations ran)",
                        empi_engine::blueprint::upgrade_snapshot_name(&self.stack, &previous)
                    )
                } else {
                    format!("a database backup taken before {previous}'s migrations ran")
                };
                bail!("{why}; go back only after restoring {backup}, then run again with --allow-downgrade")
            }
            Err(UpgradeRefusal::Skip(why)) if !allow.allow_version_skip => {
                bail!("{why}; upgrade to each release in turn, or run again with --allow-version-skip")
            }
            _ => {}
        }
        let changes: Vec<String> = [
            ("the export worker", from.export_worker, app.tuva.export_worker),
            ("the Kubernetes matching-job runner", from.k8s_job_runner, app.tuva.k8s_job_runner),
            (
                "matching jobs outside `default` (job_namespace)",
                from.job_namespace,
                app.tuva.job_namespace,
            ),
        ]
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(what, _, now)| format!("{} {what}", if *now { "adds" } else { "removes" }))
        .collect();
        if !changes.is_empty() {
            placement.warnings.push(format!(
                "Tuva EMPI {previous} → {}: {}",
                app.version,
                changes.join(", ")
            ));
        }
        Ok(())
    }

    async fn place_identity(
        &mut self,
        cloud: &Connected,
        state: &State,
        preflight: bool,
        placement: &mut Placement,
    ) -> Result<()> {
        let stack = &mut self.stack;
        placement.warnings.extend(identity::switch_warning(stack, state));
        let admin_email = stack.identity.admin_email.clone();
        if let IdentityProvider::Keycloak(kc) = &mut stack.identity.provider {
            let recorded = state
                .facts
                .get(KEYCLOAK_FACT)
                .and_then(|v| serde_json::from_value::<OidcEndpoints>(v.clone()).ok());
            let recorded_version = state
                .facts
                .get(KEYCLOAK_SECRET_VERSION_FACT)
                .and_then(|v| v.as_str())
                .map(String::from);
            if preflight {
                let (secret, version) = aws::secrets::user_secret_version(
                    &cloud.clients.secrets,
                    &kc.client_secret_arn,
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot read the Keycloak client secret: {}", e.0))?;
                kc.client_secret_version = version;
                let found = identity::check_keycloak(kc, &admin_email, &secret).await?;
                eprintln!(
                    "Checked Keycloak realm {:?}: discovery, RS256 signing key, client credentials and admin API answer; {} users, exactly one is {admin_email}.",
                    kc.realm, found.users
                );
                kc.endpoints = found.endpoints;
            } else {
                // drift compares with what apply used
                if let Some(endpoints) = recorded.filter(|e| e.issuer == kc.endpoints.issuer) {
                    kc.endpoints = endpoints;
                }
                kc.client_secret_version = recorded_version;
            }
            placement.facts.insert(KEYCLOAK_FACT.into(), serde_json::to_value(&kc.endpoints)?);
            if let Some(v) = &kc.client_secret_version {
                placement.facts.insert(
                    KEYCLOAK_SECRET_VERSION_FACT.into(),
                    serde_json::Value::String(v.clone()),
                );
            }
        } else if preflight {
            let pool = state.resources.get("identity.user_pool").and_then(|r| r.id.clone());
            if let Some(pool) = pool {
                let users = identity::cognito_user_count(
                    &cloud.clients.cognito,
                    &pool,
                    Some(identity::COGNITO_PAGE),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                if users > identity::COGNITO_PAGE {
                    placement.warnings.push(format!(
                        "the Cognito user pool holds more than {} users, but Tuva EMPI reads only the first {} (it lists users without paging): users past them cannot be given roles",
                        identity::COGNITO_PAGE,
                        identity::COGNITO_PAGE
                    ));
                }
            }
        }
        Ok(())
    }

    async fn place_zones_and_version(
        &mut self,
        cloud: &Connected,
        state: &State,
        check_version: bool,
    ) -> Result<Placement> {
        let stack = &mut self.stack;
        let usable = zones::usable(cloud.clients.zones().await.map_err(|e| {
            anyhow::anyhow!("cannot list the availability zones of {}: {e}", stack.region)
        })?);
        let chosen = zones::choose(stack, zones::recorded(&state.facts), &usable)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        stack.network.zones = chosen.iter().map(|z| z.name.clone()).collect();
        let mut facts = BTreeMap::new();
        facts.insert(zones::FACT.to_string(), serde_json::to_value(&chosen)?);
        let mut warnings: Vec<String> =
            eks_versions::warning(&stack.cluster.kubernetes_version, &eks_versions::today())
                .into_iter()
                .collect();
        let offered = if check_version {
            cloud.clients.cluster_versions().await.map_err(|e| anyhow::anyhow!("{e}"))?
        } else {
            None
        };
        let version = &stack.cluster.kubernetes_version;
        let uncharted = eks_versions::newer_than_calendar(version);
        if offered.is_none() && uncharted && check_version {
            bail!(
                "Kubernetes {version} is newer than the EKS calendar of this release of empi-infra, and EKS in {} does not answer DescribeClusterVersions to confirm that it offers it; set [cluster] kubernetes_version to one of: {} (or upgrade empi-infra)",
                stack.region,
                eks_versions::creatable(&eks_versions::today()).join(", ")
            );
        }
        if let Some(offered) = offered {
            match offered.iter().find(|(v, _)| v == version).map(|(_, s)| s.as_str()) {
                // live tables win: a version EKS offers is used even when the calendar lacks it
                Some(status @ ("STANDARD_SUPPORT" | "EXTENDED_SUPPORT")) => {
                    if uncharted {
                        warnings.push(eks_versions::uncharted_warning(version, status));
                    }
                }
                status => {
                    let usable: Vec<&str> = offered
                        .iter()
                        .filter(|(_, s)| s != "UNSUPPORTED")
                        .map(|(v, _)| v.as_str())
                        .collect();
                    bail!(
                        "EKS in {} {} Kubernetes {version}; set [cluster] kubernetes_version to one of: {}",
                        stack.region,
                        if status.is_some() { "no longer supports" } else { "does not offer" },
                        usable.join(", ")
                    );
                }
            }
        }
        Ok(Placement { facts, warnings })
    }

    /// The stack's resources in `account`, checked against the kind declarations.
    pub fn graph(&self, account: &str) -> Result<ResourceGraph> {
        graph_of(&self.stack, account)
    }
}

pub fn load_stack(path: &Option<PathBuf>) -> Result<Stack> {
    let Some(path) = path else {
        return Err(crate::errors::fix(
            "no stack file given",
            "pass --stack stacks/<name>.toml or set EMPI_INFRA_STACK",
        ));
    };
    // the stack's defaults and checks read the EKS calendar as of this day
    eks_versions::pinned_today()?;
    Ok(Stack::load(path)?)
}

pub fn graph_of(stack: &Stack, account: &str) -> Result<ResourceGraph> {
    let specs = blueprint::expand(stack, account);
    tuva::check_stack_config(&stack.app.tuva, &stack.app.version, &specs)
        .map_err(|e| anyhow::anyhow!("{e} (a bug in empi-infra)"))?;
    let graph = ResourceGraph::new(specs)
        .and_then(|g| g.check(&empi_engine::kinds::schema).map(|()| g))
        .context(
            "the stack expands into resources that do not fit their kinds (a bug in empi-infra)",
        )?;
    Ok(graph)
}

/// The local state backend's directory (`EMPI_INFRA_STATE_DIR`, default `state/`).
pub fn local_store(stack: &Stack) -> Arc<dyn StateStore> {
    let dir = std::env::var_os("EMPI_INFRA_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("state"));
    Arc::new(LocalBackend::new(&dir, &stack.name))
}

pub async fn s3_store(
    stack: &Stack,
    bucket: &str,
    key: &str,
    region: &str,
    kms_key_id: Option<String>,
) -> Arc<dyn StateStore> {
    let mut target = aws::Target::from_stack(stack);
    target.region = region.to_string();
    let conf = aws::sdk_config(&target).await;
    Arc::new(s3_state::S3Backend(Arc::new(s3_state::S3Store::new(
        aws::s3_client(&conf, &target),
        bucket.into(),
        key.into(),
        kms_key_id,
        &stack.name,
    ))))
}

/// Where the stack's state lives ([state] in the stack).
pub async fn backend(stack: &Stack) -> Result<Arc<dyn StateStore>> {
    Ok(match &stack.state {
        StateConfig::Local => local_store(stack),
        StateConfig::S3 { bucket, key, region, kms_key_id } => {
            s3_store(stack, bucket, key, region, kms_key_id.clone()).await
        }
    })
}

/// Every kind's provider: the AWS kinds' (`crate::aws::registry`) and the Kubernetes kinds'.
pub fn providers(clients: Arc<aws::Clients>, conn: Arc<k8s::Connection>) -> Registry {
    let mut registry = aws::registry(clients);
    k8s::register(&mut registry, conn);
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind declared but not registered would fail only at apply, half-way through a stack.
    #[tokio::test]
    async fn every_declared_kind_has_a_provider() {
        // nothing is called: the clients only need a configuration
        let target = aws::Target {
            region: "us-east-1".into(),
            endpoint_url: Some("http://127.0.0.1:9".into()),
        };
        let clients = Arc::new(aws::Clients::new(&target).await);
        let conn =
            Arc::new(k8s::Connection::new("s", None, clients.sdk.clone(), target.region.clone()));
        let registry = providers(clients, conn);
        let missing: Vec<_> = empi_engine::kinds::ALL
            .iter()
            .map(|k| k.kind)
            .filter(|k| registry.get(k).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "declared in crates/engine/src/kinds but registered by no provider: {missing:?}"
        );
    }
}
