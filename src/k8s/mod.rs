//! The Kubernetes provider: Tuva EMPI's objects, applied with server-side apply (field manager
//! `empi-infra`), read back for plans and drift, and waited for (Deployment rollouts, Jobs).
//!
//! The connection is made lazily, the first time a Kubernetes resource is touched, from the EKS
//! cluster's outputs recorded earlier in the same run (endpoint, CA, and a token made like
//! `aws eks get-token`); `EMPI_INFRA_KUBECONFIG` (or `[target] kubeconfig`) names another cluster.

pub mod scale;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use empi_engine::blueprint::workloads::FIELD_MANAGER;
use empi_engine::redact;
use empi_engine::resource::{
    Attrs, ErrorClass, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry,
    Resource, Schema,
};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{json, Value};

/// The label naming the stack that owns a Kubernetes object. An object labelled for another stack
/// is never adopted, changed or deleted.
pub const STACK_LABEL: &str = "empi-infra/stack";
/// The label naming the region of the stack that owns it: with the stack's name, its identity (two
/// same-named stacks in two regions may share a cluster through `EMPI_INFRA_KUBECONFIG`).
pub const REGION_LABEL: &str = "empi-infra/region";

/// Whose an object is, by its labels: `Err` with the sentence to say when it is not this stack's.
/// `recorded`: this stack's state records the object, so one that empi-infra made before objects
/// carried the stack label (`app.kubernetes.io/managed-by: empi-infra` only) or the region label
/// is this stack's; an unrecorded one (found for adoption, or found in the way of a create) must
/// carry both labels naming this stack: nothing is taken over by its name or a generic label.
fn owned_by(
    stack: &str,
    region: &str,
    kind: &str,
    id: &str,
    labels: &Value,
    recorded: bool,
) -> Result<(), ProviderError> {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let another = |other: &str, other_region: Option<&str>| {
        let where_ = other_region.map(|r| format!(" in region {r}")).unwrap_or_default();
        ProviderError::coded(
            "OwnedByAnotherStack",
            format!("{kind} {id} belongs to stack {other:?}{where_} (labels {STACK_LABEL}, {REGION_LABEL}), not to {stack:?} in region {region}; two stacks cannot share it: give this stack another [app] namespace"),
        )
        .with_class(ErrorClass::NotOurs)
    };
    match (label(STACK_LABEL), label(REGION_LABEL)) {
        (Some(other), r) if other != stack => Err(another(other, r)),
        (Some(_), Some(r)) if r != region => Err(another(stack, Some(r))),
        (Some(_), Some(_)) => Ok(()),
        (Some(_), None) if recorded => Ok(()),
        (None, _) if recorded && label("app.kubernetes.io/managed-by") == Some("empi-infra") => Ok(()),
        _ => Err(ProviderError::coded(
            "NotManaged",
            format!("{kind} {id} exists but is not provably this stack's (it lacks the labels {STACK_LABEL}={stack}, {REGION_LABEL}={region}); empi-infra takes over nothing by its name: give this stack another [app] namespace, or, if the object is this stack's, take it over with `empi-infra state import ADDRESS {id}`"),
        )
        .with_class(ErrorClass::NotOurs)),
    }
}

/// A token is remade after this long (EKS tokens live 15 minutes).
const TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The largest kubeconfig read, and the largest file one names (a certificate, a key): a kubeconfig
/// is a few kilobytes, as a stack file is, and gets the stack file's limit.
const KUBECONFIG_LIMIT: u64 = empi_engine::stack::STACK_FILE_LIMIT;

/// A kubeconfig read and parsed, with where it came from for messages; or, for a file that does not
/// exist (yet), the sentence to fail the first Kubernetes object with.
#[derive(Clone)]
pub struct Kubeconfig {
    pub path: PathBuf,
    config: Result<kube::config::Kubeconfig, String>,
}

/// The kubeconfig `EMPI_INFRA_KUBECONFIG` names, else the stack's `[target] kubeconfig`; `None`:
/// neither, the connection is made to the stack's EKS cluster. Read now, when a command begins,
/// through the stack file's limits (a regular file of at most 1 MiB), together with the
/// certificate and key files it names: a FIFO, `/dev/zero`, a directory or a file that is no
/// kubeconfig is one sentence at once, never a hang or a read until memory runs out when the first
/// Kubernetes object is reached. Only a kubeconfig that does not exist fails later, at the first
/// Kubernetes object, as before: a plan of a new stack, or the AWS part of an apply, needs no cluster.
pub fn kubeconfig(stack: &empi_engine::stack::Stack) -> anyhow::Result<Option<Kubeconfig>> {
    let (path, setting, unset) =
        match std::env::var_os("EMPI_INFRA_KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(p) => (PathBuf::from(p), "EMPI_INFRA_KUBECONFIG", "unset it"),
            None => match &stack.target.kubeconfig {
                Some(p) => (PathBuf::from(p), "[target] kubeconfig", "remove it"),
                None => return Ok(None),
            },
        };
    let fix = || {
        format!(
            "set {setting} to a kubeconfig file (as `kubectl config view --raw` prints one), or {unset} to reach the stack's EKS cluster"
        )
    };
    let cannot_read = |e: &dyn std::fmt::Display| {
        format!("cannot read the kubeconfig {} ({setting}): {e}", path.display())
    };
    let bytes = match empi_engine::input::read_regular_text(&path, KUBECONFIG_LIMIT) {
        Ok(b) => b,
        Err(empi_engine::input::InputError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            let config = Err(format!("{}; {}", cannot_read(&e), fix()));
            return Ok(Some(Kubeconfig { path, config }));
        }
        Err(e) => return Err(crate::errors::fix(cannot_read(&e), fix())),
    };
    let mut config = kube::config::Kubeconfig::from_yaml(&bytes).map_err(|e| {
        crate::errors::fix(
            format!("the kubeconfig {} ({setting}) is not a kubeconfig: {e}", path.display()),
            fix(),
        )
    })?;
    inline_files(&mut config, path.parent().unwrap_or(Path::new("."))).map_err(|e| {
        crate::errors::fix(format!("the kubeconfig {} ({setting}) {e}", path.display()), fix())
    })?;
    Ok(Some(Kubeconfig { path, config: Ok(config) }))
}

/// Replaces the certificate and key files a kubeconfig names by their contents, read through the
/// same limits (a relative name is beside the kubeconfig, as kubectl reads it). A token file stays
/// a file (the cluster may rotate it), but must be one.
fn inline_files(config: &mut kube::config::Kubeconfig, dir: &Path) -> Result<(), String> {
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(bytes);
    let read = |file: &str, what: &str, of: &str| {
        let path = dir.join(file);
        empi_engine::input::read_regular_file(&path, KUBECONFIG_LIMIT).map_err(|e| {
            format!("names {} as the {what} of {of}, which cannot be read: {e}", path.display())
        })
    };
    for c in &mut config.clusters {
        let of = format!("cluster {:?}", c.name);
        if let Some(cluster) = &mut c.cluster {
            if let Some(file) = cluster
                .certificate_authority
                .take()
                .filter(|_| cluster.certificate_authority_data.is_none())
            {
                cluster.certificate_authority_data =
                    Some(b64(read(&file, "certificate authority", &of)?));
            }
        }
    }
    for a in &mut config.auth_infos {
        let of = format!("user {:?}", a.name);
        if let Some(auth) = &mut a.auth_info {
            if let Some(file) =
                auth.client_certificate.take().filter(|_| auth.client_certificate_data.is_none())
            {
                auth.client_certificate_data = Some(b64(read(&file, "client certificate", &of)?));
            }
            if let Some(file) = auth.client_key.take().filter(|_| auth.client_key_data.is_none()) {
                auth.client_key_data = Some(b64(read(&file, "client key", &of)?).into());
            }
            if let Some(file) = &mut auth.token_file {
                read(file, "token file", &of)?;
                *file = dir.join(&*file).to_string_lossy().into_owned();
            }
        }
    }
    Ok(())
}

/// How to reach the cluster.
pub struct Connection {
    /// The stack whose objects these are: every object carries it as its [`STACK_LABEL`].
    stack: String,
    /// Another cluster than the stack's EKS cluster: the kubeconfig, read when the session began.
    kubeconfig: Option<Kubeconfig>,
    sdk: aws_config::SdkConfig,
    region: String,
    cached: tokio::sync::Mutex<Option<(String, kube::Client, Instant)>>,
    /// Whether the API server serves `policy/v1` (Kubernetes 1.21 and later), once asked.
    policy_v1: tokio::sync::Mutex<Option<bool>>,
}

fn err(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::coded("Kubernetes", redact::message(&e.to_string()))
}

fn kube_err(e: kube::Error) -> ProviderError {
    match &e {
        kube::Error::Api(s) => ProviderError {
            code: Some(s.reason.clone()),
            // the API server may quote the object it refused (a Secret's data, an env value)
            message: redact::message(&s.message),
            class: if s.code == 429 {
                ErrorClass::Throttling
            } else if s.code >= 500 {
                ErrorClass::Transient
            } else if s.code == 404 {
                ErrorClass::NotFound
            } else {
                ErrorClass::Permanent
            },
        },
        _ if timed_out(&e) => ProviderError {
            code: Some("KubernetesTimeout".into()),
            message: format!(
                "the Kubernetes API server did not answer within {} (set EMPI_INFRA_REQUEST_TIMEOUT for a slower link): it is down, paused or unreachable from here",
                humantime::format_duration(crate::aws::request_timeout())
            ),
            // the deadline was the request's: waiting out the kind's timeout would hold the lock
            // for minutes against a server that does not answer
            class: ErrorClass::Unreachable,
        },
        _ => ProviderError { code: Some("KubernetesConnection".into()), message: redact::message(&e.to_string()), class: ErrorClass::Transient },
    }
}

/// Whether a client error is a connect, read or write deadline passing (the client's timeouts),
/// rather than a refused or broken connection, which is worth another try.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        cur = e.source();
    }
    false
}

/// DER certificates of a base64-encoded PEM bundle (EKS's `certificateAuthority.data`).
fn pem_bundle(b64: &str) -> Result<Vec<Vec<u8>>, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    let pem =
        engine.decode(b64.trim()).map_err(|e| format!("the cluster CA is not base64: {e}"))?;
    let pem = String::from_utf8(pem).map_err(|_| "the cluster CA is not PEM".to_string())?;
    let mut out = Vec::new();
    let mut body = String::new();
    let mut inside = false;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            body.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            out.push(
                engine
                    .decode(body.as_bytes())
                    .map_err(|e| format!("the cluster CA holds a broken certificate: {e}"))?,
            );
        } else if inside {
            body.push_str(line.trim());
        }
    }
    if out.is_empty() {
        return Err("the cluster CA holds no certificate".into());
    }
    Ok(out)
}

impl Connection {
    pub fn new(
        stack: &str,
        kubeconfig: Option<Kubeconfig>,
        sdk: aws_config::SdkConfig,
        region: String,
    ) -> Self {
        Connection {
            stack: stack.to_string(),
            kubeconfig,
            sdk,
            region,
            cached: tokio::sync::Mutex::new(None),
            policy_v1: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn client(&self, cluster: &Value) -> ProviderResult<kube::Client> {
        let key = cluster.get("endpoint").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut cached = self.cached.lock().await;
        if let Some((k, c, at)) = cached.as_ref() {
            if *k == key && (self.kubeconfig.is_some() || at.elapsed() < TOKEN_LIFETIME) {
                return Ok(c.clone());
            }
        }
        let config = match &self.kubeconfig {
            Some(kc) => {
                let config = kc.config.clone().map_err(err)?;
                kube::Config::from_custom_kubeconfig(
                    config,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .map_err(|e| {
                    err(format!("the kubeconfig {} is not usable: {e}", kc.path.display()))
                })?
            }
            None => self.eks_config(cluster).await?,
        };
        let mut config = config;
        // a silent API server fails the run in bounded time, as AWS endpoints do
        let deadline = crate::aws::request_timeout();
        config.connect_timeout = Some(deadline.min(crate::aws::CONNECT_TIMEOUT));
        config.read_timeout = Some(deadline);
        config.write_timeout = Some(deadline);
        let client = kube::Client::try_from(config)
            .map_err(|e| err(format!("cannot make a Kubernetes client: {e}")))?;
        *cached = Some((key, client.clone(), Instant::now()));
        Ok(client)
    }

    async fn eks_config(&self, cluster: &Value) -> ProviderResult<kube::Config> {
        let field = |k: &str| {
            cluster.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from)
        };
        let (Some(name), Some(endpoint), Some(ca)) =
            (field("name"), field("endpoint"), field("certificate_authority"))
        else {
            return Err(err("the EKS cluster's endpoint and CA are not known yet"));
        };
        let url = endpoint
            .parse()
            .map_err(|e| err(format!("the EKS endpoint {endpoint:?} is not a URL: {e}")))?;
        let mut config = kube::Config::new(url);
        config.root_cert = Some(pem_bundle(&ca).map_err(|e| {
            err(format!("{e} (if this is not a real EKS cluster, set EMPI_INFRA_KUBECONFIG)"))
        })?);
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| err("no AWS credentials to make an EKS token with"))?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| err(format!("cannot load AWS credentials for the EKS token: {e}")))?;
        let token =
            token::eks_token(&creds, &self.region, &name, SystemTime::now()).map_err(err)?;
        config.auth_info.token = Some(token.into());
        config.default_namespace = "default".into();
        Ok(config)
    }
}

/// What "done" means for a kind after it is applied.
#[derive(Clone, Copy, PartialEq)]
enum Wait {
    Nothing,
    Rollout,
    Job,
}

pub struct K8sObject {
    conn: Arc<Connection>,
    schema: &'static Schema,
    wait: Wait,
}

use empi_engine::kinds::k8s::{
    CONFIG_MAP, DEPLOYMENT, JOB, JOB_ONCE, NAMESPACE, POD_DISRUPTION_BUDGET, ROLE, ROLE_BINDING,
    SERVICE, SERVICE_ACCOUNT,
};

pub fn register(r: &mut Registry, conn: Arc<Connection>) {
    for (schema, wait) in [
        (&NAMESPACE, Wait::Nothing),
        (&SERVICE_ACCOUNT, Wait::Nothing),
        (&SERVICE, Wait::Nothing),
        (&CONFIG_MAP, Wait::Nothing),
        (&ROLE, Wait::Nothing),
        (&ROLE_BINDING, Wait::Nothing),
        (&DEPLOYMENT, Wait::Rollout),
        (&JOB, Wait::Job),
        (&JOB_ONCE, Wait::Job),
        (&POD_DISRUPTION_BUDGET, Wait::Nothing),
    ] {
        r.register(Arc::new(K8sObject { conn: conn.clone(), schema, wait }));
    }
    scale::register(r, conn);
}

/// The live object reduced to the fields the manifest sets (server defaults are not ours to compare).
pub fn project(desired: &Value, live: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.keys().filter_map(|k| l.get(k).map(|lv| (k.clone(), project(&d[k], lv)))).collect(),
        ),
        (Value::Array(d), Value::Array(l)) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, lv)| d.get(i).map(|dv| project(dv, lv)).unwrap_or_else(|| lv.clone()))
                .collect(),
        ),
        (_, l) => l.clone(),
    }
}

struct Target {
    api: Api<DynamicObject>,
    name: String,
    namespace: Option<String>,
    /// What the server is sent and answers (see [`K8sObject::served`]).
    api_version: String,
}

impl K8sObject {
    /// The object's kind as Kubernetes names it (`Namespace`, `Deployment`).
    fn kind_name(&self, a: &Attrs) -> String {
        a.get("manifest").and_then(|m| m["kind"].as_str()).unwrap_or("object").to_string()
    }

    /// The API version the server is sent the manifest as: its own, but a PodDisruptionBudget goes
    /// as `policy/v1beta1` (the same fields) to a server without `policy/v1`, before Kubernetes 1.21.
    async fn served(&self, client: &kube::Client, m: &Value) -> ProviderResult<String> {
        let api_version = m["apiVersion"].as_str().unwrap_or_default().to_string();
        if m["kind"] != "PodDisruptionBudget" || api_version != "policy/v1" {
            return Ok(api_version);
        }
        let mut known = self.conn.policy_v1.lock().await;
        let v1 = match *known {
            Some(v1) => v1,
            None => {
                let v1 = match client.list_api_group_resources("policy/v1").await {
                    Ok(r) => r.resources.iter().any(|r| r.kind == "PodDisruptionBudget"),
                    Err(kube::Error::Api(s)) if s.code == 404 => false,
                    Err(e) => return Err(kube_err(e)),
                };
                *known = Some(v1);
                v1
            }
        };
        Ok(if v1 { api_version } else { "policy/v1beta1".into() })
    }

    async fn target(&self, a: &Attrs) -> ProviderResult<Target> {
        let m = a.get("manifest").ok_or_else(|| err("no manifest"))?;
        let client = self.conn.client(a.get("cluster").unwrap_or(&Value::Null)).await?;
        let api_version = self.served(&client, m).await?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
        let gvk = GroupVersionKind::gvk(group, version, m["kind"].as_str().unwrap_or_default());
        let ar = ApiResource::from_gvk(&gvk);
        let name = m["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let namespace = m["metadata"]["namespace"].as_str().map(String::from);
        let api = match &namespace {
            Some(ns) => Api::namespaced_with(client, ns, &ar),
            None => Api::all_with(client, &ar),
        };
        Ok(Target { api, name, namespace, api_version })
    }

    fn id(t: &Target) -> String {
        match &t.namespace {
            Some(ns) => format!("{ns}/{}", t.name),
            None => t.name.clone(),
        }
    }

    async fn get(&self, a: &Attrs) -> ProviderResult<Option<Value>> {
        let t = self.target(a).await?;
        let o = t.api.get_opt(&t.name).await.map_err(kube_err)?;
        Ok(o.map(|o| {
            let mut live = serde_json::to_value(o).expect("object serialises");
            // served in another version (see `served`): the same object the manifest names
            if let Some(want) = a.get("manifest").and_then(|m| m.get("apiVersion")) {
                live["apiVersion"] = want.clone();
            }
            live
        }))
    }

    /// Applies the manifest; a live object under its name must be this stack's (`recorded`: as
    /// for [`owned_by`]: false on a create, which takes over nothing it did not make).
    async fn apply(&self, a: &Attrs, recorded: bool) -> ProviderResult<String> {
        let t = self.target(a).await?;
        if let Some(live) = t.api.get_opt(&t.name).await.map_err(kube_err)? {
            self.owned(a, &t, &live, recorded)?;
        }
        self.patch(a, &t).await
    }

    /// Server-side applies the manifest, labelled with this stack (the caller checked that a live
    /// object under its name is this stack's).
    async fn patch(&self, a: &Attrs, t: &Target) -> ProviderResult<String> {
        let mut manifest = a["manifest"].clone();
        manifest["apiVersion"] = Value::String(t.api_version.clone());
        manifest["metadata"]["labels"][STACK_LABEL] = Value::String(self.conn.stack.clone());
        manifest["metadata"]["labels"][REGION_LABEL] = Value::String(self.conn.region.clone());
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        t.api.patch(&t.name, &pp, &Patch::Apply(&manifest)).await.map_err(kube_err)?;
        Ok(Self::id(t))
    }

    /// [`owned_by`] for a live object at `t`.
    fn owned(
        &self,
        a: &Attrs,
        t: &Target,
        live: &DynamicObject,
        recorded: bool,
    ) -> ProviderResult<()> {
        let labels = serde_json::to_value(&live.metadata.labels).unwrap_or_default();
        owned_by(
            &self.conn.stack,
            &self.conn.region,
            &self.kind_name(a),
            &Self::id(t),
            &labels,
            recorded,
        )
    }

    /// The pods of a deployment that are not ready, each with why: its containers' waiting reasons
    /// (`ImagePullBackOff`, `CrashLoopBackOff`…) or why it is not scheduled (`Unschedulable`).
    async fn unready_pods(&self, a: &Attrs, name: &str, namespace: &str) -> String {
        use k8s_openapi::api::core::v1::Pod;
        let Ok(client) = self.conn.client(a.get("cluster").unwrap_or(&Value::Null)).await else {
            return String::new();
        };
        let pods: Api<Pod> = Api::namespaced(client, namespace);
        let Ok(list) = pods
            .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={name}")))
            .await
        else {
            return String::new();
        };
        let mut out = Vec::new();
        for p in list.items {
            let status = p.status.unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready {
                continue;
            }
            let mut why: Vec<String> = status
                .container_statuses
                .iter()
                .flatten()
                .filter_map(|c| {
                    let w = c.state.as_ref()?.waiting.as_ref()?;
                    Some(format!(
                        "container {} is waiting: {}{}",
                        c.name,
                        w.reason.clone().unwrap_or_default(),
                        w.message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
                    ))
                })
                .collect();
            if let Some(c) = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            {
                why.push(format!(
                    "not scheduled: {} {}",
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                ));
            }
            if why.is_empty() {
                why.push(format!(
                    "{} and not ready",
                    status.phase.unwrap_or_else(|| "Pending".into())
                ));
            }
            out.push(format!("pod {} {}", p.metadata.name.unwrap_or_default(), why.join(", ")));
        }
        redact::message(&out.join("; "))
    }

    /// The tail of a failed job's log, or its pod's termination reason where there is no log.
    async fn job_failure(&self, a: &Attrs, name: &str, namespace: &str) -> String {
        let Ok(client) = self.conn.client(a.get("cluster").unwrap_or(&Value::Null)).await else {
            return String::new();
        };
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, namespace);
        let Ok(list) = pods.list(&ListParams::default().labels(&format!("job-name={name}"))).await
        else {
            return String::new();
        };
        let mut out = Vec::new();
        for p in list.items {
            let pod = p.metadata.name.clone().unwrap_or_default();
            match pods.logs(&pod, &LogParams { tail_lines: Some(20), ..Default::default() }).await {
                Ok(log) if !log.trim().is_empty() => {
                    out.push(format!("log of pod {pod} (last 20 lines):\n{}", log.trim_end()))
                }
                _ => {
                    let status = p.status.unwrap_or_default();
                    let term = status
                        .container_statuses
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.state.and_then(|s| s.terminated))
                        .next();
                    match term {
                        Some(t) => out.push(format!(
                            "pod {pod} terminated: {} (exit code {}){}",
                            t.reason.unwrap_or_else(|| "Error".into()),
                            t.exit_code,
                            t.message.map(|m| format!(": {m}")).unwrap_or_default()
                        )),
                        None => out.push(format!(
                            "pod {pod}: {} {}",
                            status.phase.unwrap_or_default(),
                            status.message.unwrap_or_default()
                        )),
                    }
                }
            }
        }
        // a job's log may print what it was given (the config document, a connection string)
        redact::message(&out.join("\n"))
    }
}

/// Why a Deployment's rollout stopped: Kubernetes sets `Progressing` to False with reason
/// `ProgressDeadlineExceeded` once it made no progress for `progressDeadlineSeconds`.
fn stalled(o: &Value) -> Option<String> {
    let c = o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Progressing" && c["status"] == "False")?;
    Some(format!("{}: {}", c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or("")))
}

fn condition(o: &Value, kind: &str) -> Option<Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .cloned()
}

#[async_trait]
impl Resource for K8sObject {
    fn schema(&self) -> &'static Schema {
        self.schema
    }

    async fn find(
        &self,
        _name: &str,
        _address: &str,
        inputs: &Attrs,
    ) -> ProviderResult<Option<String>> {
        let t = self.target(inputs).await?;
        let o = t.api.get_opt(&t.name).await.map_err(kube_err)?;
        // an object being deleted is as good as gone
        let Some(o) = o.filter(|o| o.metadata.deletion_timestamp.is_none()) else {
            return Ok(None);
        };
        self.owned(inputs, &t, &o, false)?;
        Ok(Some(Self::id(&t)))
    }

    async fn read(&self, _id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        let Some(live) = self.get(recorded).await? else { return Ok(None) };
        if live["metadata"]["deletionTimestamp"].is_string() {
            return Ok(None);
        }
        if self.wait == Wait::Job && condition(&live, "Failed").is_some() {
            return Ok(None); // a failed job has to run again
        }
        let desired = recorded.get("manifest").cloned().unwrap_or(Value::Null);
        let mut attrs = Attrs::new();
        attrs.insert("cluster".into(), recorded.get("cluster").cloned().unwrap_or(Value::Null));
        attrs.insert("manifest".into(), project(&desired, &live));
        let meta = &live["metadata"];
        let outputs = [
            (
                "id",
                json!(match meta["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or("")),
                    None => meta["name"].as_str().unwrap_or("").to_string(),
                }),
            ),
            ("name", meta["name"].clone()),
            ("uid", meta["uid"].clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(Some(Observed { attrs, outputs }))
    }

    async fn create(&self, _name: &str, _address: &str, a: &Attrs) -> ProviderResult<String> {
        if self.wait == Wait::Job {
            // a failed run of the same job is removed first, so that the job runs again
            let t = self.target(a).await?;
            let Some(old) = t.api.get_opt(&t.name).await.map_err(kube_err)? else {
                // read just now: nothing there to own or to remove first
                return self.patch(a, &t).await;
            };
            // never another's job: not even a failed one is deleted unless it is provably ours
            self.owned(a, &t, &old, false)?;
            let live = serde_json::to_value(&old).expect("object serialises");
            if condition(&live, "Failed").is_none()
                && project(&a["manifest"], &live) != a["manifest"]
            {
                return Err(ProviderError::coded(
                    "AlreadyExists",
                    format!(
                        "a different Job {}/{} already exists and is not recorded in this stack's state; delete it (kubectl delete job -n {} {}) and apply again",
                        t.namespace.as_deref().unwrap_or("default"),
                        t.name,
                        t.namespace.as_deref().unwrap_or("default"),
                        t.name
                    ),
                ));
            }
            if condition(&live, "Failed").is_some()
                || live["metadata"]["deletionTimestamp"].is_string()
            {
                if live["metadata"]["deletionTimestamp"].is_null() {
                    t.api.delete(&t.name, &DeleteParams::foreground()).await.map_err(kube_err)?;
                }
                // the executor tries again once it is gone, without holding a parallelism slot
                return Err(ProviderError::coded(
                    "JobTerminating",
                    format!(
                        "the failed job {} is being deleted before it runs again",
                        Self::id(&t)
                    ),
                )
                .with_class(ErrorClass::Propagation));
            }
            // read just now (and checked above): no second read before the patch
            return self.patch(a, &t).await;
        }
        self.apply(a, false).await
    }

    async fn update(
        &self,
        _id: &str,
        _old: &Attrs,
        new: &Attrs,
        _changed: &[String],
    ) -> ProviderResult<()> {
        self.apply(new, true).await.map(|_| ())
    }

    async fn delete(&self, _id: &str, recorded: &Attrs) -> ProviderResult<()> {
        let t = self.target(recorded).await?;
        if let Some(live) = t.api.get_opt(&t.name).await.map_err(kube_err)? {
            // never another stack's object, whatever this stack's state says
            self.owned(recorded, &t, &live, true)?;
        }
        match t.api.delete(&t.name, &DeleteParams::foreground()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(kube_err(e)),
        }
    }

    async fn wait(&self, id: &str, op: Operation, recorded: &Attrs) -> ProviderResult<Readiness> {
        let live = self.get(recorded).await?;
        if op == Operation::Delete {
            return Ok(if live.is_none() {
                Readiness::Ready
            } else {
                Readiness::Pending("terminating".into())
            });
        }
        let Some(o) = live else {
            return Err(err(format!("{id} disappeared while {}", op.progressive())));
        };
        Ok(match self.wait {
            Wait::Nothing => Readiness::Ready,
            Wait::Rollout => {
                let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
                let s = &o["status"];
                let n = |k: &str| s[k].as_i64().unwrap_or(0);
                let observed = s["observedGeneration"].as_i64().unwrap_or(0)
                    >= o["metadata"]["generation"].as_i64().unwrap_or(1);
                if observed
                    && n("updatedReplicas") == want
                    && n("availableReplicas") == want
                    && n("replicas") == want
                {
                    Readiness::Ready
                } else if let Some(stuck) = stalled(&o) {
                    let name = o["metadata"]["name"].as_str().unwrap_or_default();
                    let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
                    let pods = self.unready_pods(recorded, name, ns).await;
                    return Err(ProviderError::coded(
                        "ProgressDeadlineExceeded",
                        format!(
                            "deployment {ns}/{name} made no progress for {}s ({stuck}){}; the pods of the previous version keep serving",
                            o["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600),
                            if pods.is_empty() { String::new() } else { format!(": {pods}") }
                        ),
                    ));
                } else {
                    Readiness::Pending(format!(
                        "{}/{want} updated, {}/{want} available",
                        n("updatedReplicas"),
                        n("availableReplicas")
                    ))
                }
            }
            Wait::Job => {
                if condition(&o, "Complete").is_some() {
                    Readiness::Ready
                } else if let Some(c) = condition(&o, "Failed") {
                    let name = o["metadata"]["name"].as_str().unwrap_or_default();
                    let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
                    let detail = self.job_failure(recorded, name, ns).await;
                    return Err(ProviderError::coded(
                        "JobFailed",
                        format!(
                            "job {ns}/{name} failed ({}: {}){}",
                            c["reason"].as_str().unwrap_or(""),
                            c["message"].as_str().unwrap_or(""),
                            if detail.is_empty() { String::new() } else { format!("\n{detail}") }
                        ),
                    ));
                } else {
                    let s = &o["status"];
                    let failed = s["failed"].as_i64().unwrap_or(0);
                    let retries = o["spec"]["backoffLimit"].as_i64().unwrap_or(6);
                    Readiness::Pending(if failed == 0 {
                        format!(
                            "{} active, {} succeeded",
                            s["active"].as_i64().unwrap_or(0),
                            s["succeeded"].as_i64().unwrap_or(0)
                        )
                    } else {
                        // the Job's outcome counts, not its first pod's: Kubernetes starts another
                        format!(
                            "{failed} pod(s) failed, retrying ({failed} of {retries} retries used)"
                        )
                    })
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_only_what_the_manifest_sets() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "x:1"}]}}}});
        let live = json!({"spec": {"replicas": 3, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [{"name": "api", "image": "x:2", "imagePullPolicy": "IfNotPresent"}, {"name": "sidecar"}]}}}});
        assert_eq!(
            project(&desired, &live),
            json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "api", "image": "x:2"}, {"name": "sidecar"}]}}}})
        );
    }

    #[test]
    fn the_files_a_kubeconfig_names_are_read_beside_it_through_the_limits() {
        let dir = tempfile::tempdir().unwrap();
        for (f, text) in
            [("ca.pem", "CA"), ("cert.pem", "CERT"), ("key.pem", "KEY"), ("token", "t")]
        {
            std::fs::write(dir.path().join(f), text).unwrap();
        }
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority: ca.pem\nusers:\n- name: u\n  user:\n    client-certificate: cert.pem\n    client-key: key.pem\n    tokenFile: token\n";
        let mut kc = kube::config::Kubeconfig::from_yaml(yaml).unwrap();
        inline_files(&mut kc, dir.path()).unwrap();
        let decoded = |b64: &Option<String>| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD.decode(b64.as_deref().unwrap()).unwrap(),
            )
            .unwrap()
        };
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            (
                cluster.certificate_authority.as_deref(),
                decoded(&cluster.certificate_authority_data).as_str()
            ),
            (None, "CA")
        );
        let user = kc.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(
            (user.client_certificate.as_deref(), decoded(&user.client_certificate_data).as_str()),
            (None, "CERT")
        );
        assert!(user.client_key.is_none() && user.client_key_data.is_some());
        assert_eq!(
            user.token_file.as_deref(),
            Some(dir.path().join("token").to_str().unwrap()),
            "a token file stays a file, found beside the kubeconfig"
        );

        for (from, to, what) in [
            ("key.pem", "/dev/zero", "client key of user \"u\""),
            ("ca.pem", "nope.pem", "certificate authority of cluster \"c\""),
        ] {
            let mut kc = kube::config::Kubeconfig::from_yaml(&yaml.replace(from, to)).unwrap();
            let e = inline_files(&mut kc, dir.path()).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "names {} as the {what}, which cannot be read: ",
                    dir.path().join(to).display()
                )),
                "{e}"
            );
        }
        let mut kc =
            kube::config::Kubeconfig::from_yaml(&yaml.replace("key.pem", "/dev/zero")).unwrap();
        assert!(inline_files(&mut kc, dir.path())
            .unwrap_err()
            .ends_with("it is a character device, not a regular file"));
    }

    #[test]
    fn a_pem_bundle_becomes_der() {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n");
        assert_eq!(pem_bundle(&b64).unwrap(), vec![vec![0u8, 1, 2]]);
        assert!(pem_bundle("bm90IHBlbQ==").unwrap_err().contains("no certificate"));
    }
}
