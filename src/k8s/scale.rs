//! `k8s_scale`: Deployments set to a number of replicas once, and waited for. The writers of the
//! database (matching-service, the export worker) are stopped this way before a PostgreSQL major
//! upgrade and started again after it. Only this stack's Deployments are scaled; one that does
//! not exist (yet) is skipped, since there is nothing of it writing.

use std::sync::Arc;

use async_trait::async_trait;
use empi_engine::kinds::k8s::SCALE;
use empi_engine::resource::{
    Attrs, Observed, Operation, ProviderResult, Readiness, Registry, Resource, Schema,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use super::{kube_err, owned_by, Connection};

fn namespace(a: &Attrs) -> String {
    a.get("namespace").and_then(Value::as_str).unwrap_or("default").to_string()
}

struct Scale {
    conn: Arc<Connection>,
}

pub fn register(r: &mut Registry, conn: Arc<Connection>) {
    r.register(Arc::new(Scale { conn }));
}

impl Scale {
    async fn api(&self, a: &Attrs) -> ProviderResult<Api<Deployment>> {
        let client = self.conn.client(a.get("cluster").unwrap_or(&Value::Null)).await?;
        Ok(Api::namespaced(client, &namespace(a)))
    }

    /// The Deployments and the replicas each is to have, in name order.
    fn wanted(a: &Attrs) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = a
            .get("replicas")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_i64().unwrap_or(0))).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[async_trait]
impl Resource for Scale {
    fn schema(&self) -> &'static Schema {
        &SCALE
    }

    async fn find(&self, _: &str, _: &str, _: &Attrs) -> ProviderResult<Option<String>> {
        Ok(None) // an action, not an object: nothing to find again
    }

    /// What was done, as recorded: an action leaves no object to read back (and, run once, it is
    /// never compared again).
    async fn read(&self, id: &str, recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        Ok(Some(Observed {
            attrs: recorded.clone(),
            outputs: [("id".to_string(), json!(id))].into_iter().collect(),
        }))
    }

    async fn create(&self, name: &str, _: &str, a: &Attrs) -> ProviderResult<String> {
        let api = self.api(a).await?;
        for (deployment, n) in Self::wanted(a) {
            let Some(live) = api.get_opt(&deployment).await.map_err(kube_err)? else { continue };
            let labels = serde_json::to_value(&live.metadata.labels).unwrap_or_default();
            let id =
                format!("{}/{deployment}", live.metadata.namespace.as_deref().unwrap_or("default"));
            // both of this stack's labels, as every Deployment apply makes has: nothing is scaled
            // on a generic `managed-by` label
            owned_by(&self.conn.stack, &self.conn.region, "Deployment", &id, &labels, false)?;
            // the scale alone, by its own field manager: the Deployment's manifest keeps its own
            // replicas, which the next apply of it sets again
            let pp = PatchParams::default();
            api.patch(&deployment, &pp, &Patch::Merge(json!({"spec": {"replicas": n}})))
                .await
                .map_err(kube_err)?;
        }
        Ok(format!("{}/{name}", namespace(a)))
    }

    async fn update(&self, _: &str, _: &Attrs, _: &Attrs, _: &[String]) -> ProviderResult<()> {
        Ok(()) // every attribute forces a new one
    }

    async fn delete(&self, _: &str, _: &Attrs) -> ProviderResult<()> {
        Ok(()) // nothing stays behind to remove
    }

    async fn wait(&self, _id: &str, op: Operation, a: &Attrs) -> ProviderResult<Readiness> {
        if op == Operation::Delete {
            return Ok(Readiness::Ready);
        }
        let api = self.api(a).await?;
        let mut pending = Vec::new();
        for (name, n) in Self::wanted(a) {
            let Some(d) = api.get_opt(&name).await.map_err(kube_err)? else { continue };
            // a status the controller wrote before the new replicas says nothing of them
            let generation = d.metadata.generation.unwrap_or(0);
            let s = d.status.unwrap_or_default();
            if s.observed_generation.unwrap_or(0) < generation {
                pending.push(format!("{name}: not yet seen by the deployment controller"));
                continue;
            }
            let (have, ready) =
                (s.replicas.unwrap_or(0) as i64, s.ready_replicas.unwrap_or(0) as i64);
            if have != n || ready != n {
                pending.push(format!("{name}: {ready}/{n} ready, {have} running"));
                continue;
            }
            // the controller stops counting a pod once it is marked for deletion, but the pod
            // still runs (and writes) through its grace period: stopped means no pod left
            let pods: Api<Pod> = Api::namespaced(api.clone().into_client(), &namespace(a));
            let selector = format!("app.kubernetes.io/name={name}");
            let left =
                pods.list(&ListParams::default().labels(&selector)).await.map_err(kube_err)?;
            let running = left.items.len() as i64;
            if running > n {
                pending.push(format!("{name}: {running} pod(s) still running, {n} wanted"));
            }
        }
        if pending.is_empty() {
            Ok(Readiness::Ready)
        } else {
            Ok(Readiness::Pending(pending.join(", ")))
        }
    }
}
