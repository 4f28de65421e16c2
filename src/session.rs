//! What every command that touches a stack shares: the stack file, its state backend, and (for
//! those that reach the cloud) the AWS and Kubernetes providers with the account they work in.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use empi_engine::blueprint;
use empi_engine::graph::ResourceGraph;
use empi_engine::resource::Registry;
use empi_engine::stack::{Stack, StateConfig};
use empi_engine::state::{LocalBackend, StateStore};

use crate::{aws, k8s, s3_state};

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
}

impl Session {
    /// Loads the stack file and opens its state backend.
    pub async fn open(path: &Option<PathBuf>) -> Result<Session> {
        let stack = load_stack(path)?;
        let backend = backend(&stack).await?;
        Ok(Session { stack, backend })
    }

    /// The AWS and Kubernetes providers, and the account they work in.
    pub async fn connect(&self) -> Result<Connected> {
        let stack = &self.stack;
        let target = aws::Target::from_stack(stack);
        let clients = Arc::new(aws::Clients::new(&target).await);
        let account = clients.account_id().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // EMPI_INFRA_KUBECONFIG wins over [target] kubeconfig; neither: the EKS cluster itself
        let kubeconfig = std::env::var_os("EMPI_INFRA_KUBECONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| stack.target.kubeconfig.as_ref().map(PathBuf::from));
        let conn = Arc::new(k8s::Connection::new(kubeconfig, clients.sdk.clone(), stack.region.clone()));
        let mut registry = aws::registry(clients);
        k8s::register(&mut registry, conn);
        Ok(Connected { registry, account })
    }

    /// The stack's resources in `account`, checked against the kind declarations.
    pub fn graph(&self, account: &str) -> Result<ResourceGraph> {
        graph_of(&self.stack, account)
    }
}

pub fn load_stack(path: &Option<PathBuf>) -> Result<Stack> {
    let Some(path) = path else {
        bail!("no stack file given; pass --stack stacks/<name>.toml or set EMPI_INFRA_STACK");
    };
    Stack::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn graph_of(stack: &Stack, account: &str) -> Result<ResourceGraph> {
    let graph = ResourceGraph::new(blueprint::expand(stack, account))
        .and_then(|g| g.check(&empi_engine::kinds::schema).map(|()| g))
        .context("the stack expands into resources that do not fit their kinds (a bug in empi-infra)")?;
    Ok(graph)
}

/// The local state backend's directory (`EMPI_INFRA_STATE_DIR`, default `state/`).
pub fn local_store(stack: &Stack) -> Arc<dyn StateStore> {
    let dir = std::env::var_os("EMPI_INFRA_STATE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("state"));
    Arc::new(LocalBackend::new(&dir, &stack.name))
}

pub async fn s3_store(stack: &Stack, bucket: &str, key: &str, region: &str, kms_key_id: Option<String>) -> Arc<dyn StateStore> {
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
        StateConfig::S3 { bucket, key, region, kms_key_id } => s3_store(stack, bucket, key, region, kms_key_id.clone()).await,
    })
}
