//! Kubernetes kinds: the Tuva EMPI workloads' objects, applied with server-side apply. Each holds
//! the cluster it lives in (the EKS outputs) and its manifest.

use super::MIN;
use crate::kind;
use crate::resource::Propagation;

/// A failed job of the same name is still being deleted: its replacement waits for it.
const JOB_TERMINATING: &[Propagation] = &[Propagation {
    code: "JobTerminating",
    message: "",
    waiting_for: "the failed job of the same name to be deleted",
}];

kind! {
    /// A namespace.
    Namespace, NAMESPACE = "k8s_namespace" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 5 * MIN),
}

kind! {
    /// A service account (with its IRSA role annotation).
    ServiceAccount, SERVICE_ACCOUNT = "k8s_service_account" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}

kind! {
    /// A service.
    Service, SERVICE = "k8s_service" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}

kind! {
    /// A config map (the api health proxy's nginx configuration).
    ConfigMap, CONFIG_MAP = "k8s_config_map" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}

kind! {
    /// An RBAC role.
    Role, ROLE = "k8s_role" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}

kind! {
    /// An RBAC role binding.
    RoleBinding, ROLE_BINDING = "k8s_role_binding" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}

kind! {
    /// A deployment, waited for until fully rolled out.
    Deployment, DEPLOYMENT = "k8s_deployment" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(60).timeouts(15 * MIN, 15 * MIN, 5 * MIN),
}

kind! {
    /// A job, waited for until it completes. Its pod template cannot change: a changed job is a new job.
    Job, JOB = "k8s_job" { cluster: Object [force_new], manifest: Any [force_new] }
    outputs: [id, name, uid],
    schema: .typical(60).timeouts(30 * MIN, 30 * MIN, 5 * MIN).propagation(JOB_TERMINATING),
}

kind! {
    /// A job run once per stack and never again (Tuva EMPI's `bootstrap`).
    JobOnce, JOB_ONCE = "k8s_job_once" { cluster: Object [force_new], manifest: Any [force_new] }
    outputs: [id, name, uid],
    schema: .run_once().typical(60).timeouts(30 * MIN, 30 * MIN, 5 * MIN).propagation(JOB_TERMINATING),
}

kind! {
    /// Deployments of the namespace scaled to the given replicas (`{"matching-service": 0}`), once:
    /// the writers stopped before a PostgreSQL major upgrade and started again after it. Waited for
    /// until the pods are gone, or ready again.
    Scale, SCALE = "k8s_scale" {
        cluster: Object [force_new],
        namespace: Str [force_new],
        replicas: Any [force_new],
    }
    outputs: [id],
    schema: .run_once().typical(30).timeouts(10 * MIN, 10 * MIN, 1 * MIN),
}

kind! {
    /// A PodDisruptionBudget: a Deployment of two or more replicas loses at most one pod at a time
    /// to a node's drain (policy/v1; a server without it, before Kubernetes 1.21, gets the same
    /// fields as policy/v1beta1).
    PodDisruptionBudget, POD_DISRUPTION_BUDGET = "k8s_pod_disruption_budget" { cluster: Object [force_new], manifest: Any }
    outputs: [id, name, uid],
    schema: .typical(1).timeouts(2 * MIN, 2 * MIN, 2 * MIN),
}
