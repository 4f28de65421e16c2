//! Tuva EMPI on the cluster: the Kubernetes objects, and the order the application
//! requires, expressed as graph dependencies:
//!
//! ```text
//! database, config ─► database-role-<script> (Job) ─┐
//! namespace, service accounts ─────────────────────┴► migrate-<version> (Job) ─► bootstrap (Job, once per stack)
//!                                        └──────────────────────┴─► api (Deployment, fully rolled out)
//!                                                                     └─► matching-service, worker, frontend
//! ```
//!
//! A new `app.version` renames the migrate job, which the planner turns into a replacement: the old
//! job is deleted before the new one starts (never two at once), and everything of the new version
//! waits for it. `bootstrap` is a run-once resource: once state records it, it never runs again.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::kinds::k8s;
use crate::resource::{Expr, ResourceSpec};
use crate::stack::Stack;

use super::{db_login, DB_APP_LOGINS, DB_APP_USER};

/// NodePorts the ALB target groups send to (the Services below use them).
pub const API_NODE_PORT: u32 = 30080;
/// Where the api target group's health checks go: the api pod's health proxy (below).
pub const API_HEALTH_NODE_PORT: u32 = 30081;
pub const FRONTEND_NODE_PORT: u32 = 30300;
/// Upstream's api health check: 200 `{}`, no auth, no database (docs/TUVA.md).
pub const API_HEALTH_PATH: &str = "/api/v1/health-check";
/// The frontend's 200 page: `/` is a 307 redirect to it (docs/TUVA.md, known problem 5).
pub const FRONTEND_HEALTH_PATH: &str = "/person_match";

pub const BACKEND_IMAGE: &str = "ghcr.io/tuva-health/tuva-empi-backend";
pub const FRONTEND_IMAGE: &str = "ghcr.io/tuva-health/tuva-empi-frontend";
/// Where the backend entrypoint writes its config file.
pub const CONFIG_DIR: &str = "/usr/local/etc/tuva-empi";
/// What upstream's images are, as their Dockerfiles at [`crate::upstream::COMMIT`] say: neither has
/// a `USER` line, so both run as root unless the pod says otherwise.
/// - `backend/Dockerfile`: `python:3.13.1-bookworm`, code in [`BACKEND_WORKDIR`] (root-owned,
///   world-readable), entrypoint `./tuva-empi-backend`, which writes its config file to
///   [`CONFIG_DIR`]; gunicorn on 8000. At run time it writes only there, to the temp directory
///   (Django uploads, `SpooledTemporaryFile` over 20 MiB, gunicorn's worker heartbeats) and, for an
///   in-memory DuckDB that spills (the matching in `matcher.py`), to `.tmp` in the working
///   directory. Debian's `nobody` (65534) exists in the image: it runs as that.
/// - `frontend/Dockerfile`: `node:22.11.0-bookworm`, built into `/app` as root, `npm run start`
///   (`next start`) on 3000. At run time Next.js writes only its cache (`/app/.next/cache`) and npm
///   its logs under `$HOME`. The image's `node` user (1000) runs it.
pub const BACKEND_WORKDIR: &str = "/usr/local/lib/tuva-empi";
/// The user the backend runs as: Debian's `nobody`, present in upstream's image.
pub const BACKEND_UID: i64 = 65534;
/// The user the frontend runs as: the `node` user of upstream's base image.
pub const FRONTEND_UID: i64 = 1000;
/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "empi-infra";
/// The health proxy's port in the api pod (the api Service's `API_HEALTH_NODE_PORT`).
pub const HEALTH_PROXY_PORT: u32 = 8081;
/// Where the health proxy's ConfigMap is mounted.
pub const HEALTH_PROXY_CONFIG_DIR: &str = "/etc/empi-health-proxy";
/// nginx's prefix in the health proxy (an emptyDir: the root filesystem is read-only).
pub const HEALTH_PROXY_PREFIX: &str = "/tmp/";

/// The api health proxy's nginx configuration. The ALB health-checks the api with the target's IP
/// as Host, which Django's `ALLOWED_HOSTS` refuses (400), and cannot set a Host header; this proxy
/// asks Django the same question with the public hostname, so Django's routing, the app and its
/// host check all answer. Every other path is 404: the proxy is no way around the ALB.
/// Relative paths are under the prefix (`-p`).
pub fn health_proxy_config(stack: &Stack) -> String {
    format!(
        "# empi-infra: answers the ALB's health check of the api (docs/TUVA.md, known problem 5)
daemon off;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events {{
    worker_connections 64;
}}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path client_body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    server {{
        listen {HEALTH_PROXY_PORT};
        location = {API_HEALTH_PATH} {{
            limit_except GET {{
                deny all;
            }}
            proxy_pass http://127.0.0.1:8000;
            proxy_set_header Host {host};
            proxy_connect_timeout 2s;
            proxy_read_timeout 4s;
        }}
        location / {{
            return 404;
        }}
    }}
}}
",
        host = stack.app.hostname
    )
}

/// The health proxy container of the api pod.
fn health_proxy_container(stack: &Stack) -> Value {
    let mut security = security_context();
    // the image's own unprivileged nginx user
    security["runAsUser"] = json!(101);
    security["runAsGroup"] = json!(101);
    json!({
        "name": "health-proxy",
        "image": stack.app.health_proxy_image,
        "command": ["nginx", "-c", format!("{HEALTH_PROXY_CONFIG_DIR}/nginx.conf"), "-p", HEALTH_PROXY_PREFIX, "-e", "stderr"],
        "ports": [{"name": "health", "containerPort": HEALTH_PROXY_PORT, "protocol": "TCP"}],
        "resources": resources("10m", "16Mi", "100m", "32Mi"),
        "securityContext": security,
        "volumeMounts": [
            {"name": "health-proxy-config", "mountPath": HEALTH_PROXY_CONFIG_DIR, "readOnly": true},
            {"name": "health-proxy-tmp", "mountPath": HEALTH_PROXY_PREFIX},
        ],
    })
}

/// The service account of the database-role Job: its IRSA role alone reads the RDS master
/// user's secret.
pub const DATABASE_ADMIN_SERVICE_ACCOUNT: &str = "database-admin";

/// What the database-role Job runs (`python -c`): makes the application's own PostgreSQL role
/// from the master credentials, idempotently (what it does is said at its top).
pub const DATABASE_ROLE_SCRIPT: &str = include_str!("database_role.py");

/// The database-role Job's name: a new script (or a new list of extensions) is a new Job, which
/// the planner turns into a replacement, so that it runs again.
pub fn database_role_job_name(stack: &Stack) -> String {
    let mut h = Sha256::new();
    h.update(DATABASE_ROLE_SCRIPT.as_bytes());
    h.update(stack.app.tuva.extensions.join(",").as_bytes());
    // a database `db restore` switched to gets the role's password set again (a rotation after
    // the time restored to is not in its copy), and the backend pods, marked with this name, roll
    if !stack.database.restored_identifier.is_empty() {
        h.update(stack.database.restored_identifier.as_bytes());
    }
    // after `rotate db-password` the other login role: the Job runs again for it, and the backend
    // pods roll onto the credential it was given
    if db_login(stack) != DB_APP_USER {
        h.update(db_login(stack).as_bytes());
    }
    format!("database-role-{}", &hex::encode(h.finalize())[..10])
}

/// The database-role Job: the backend image's own Python, psycopg and boto3 run
/// [`DATABASE_ROLE_SCRIPT`] as the `database-admin` service account, which alone may read the
/// master user's secret; the application's pods never can.
fn database_role_job(stack: &Stack) -> Value {
    database_role_job_with(stack, &database_role_job_name(stack), json!([]))
}

/// A Job of [`DATABASE_ROLE_SCRIPT`] named `name`, with `extra_env` (what `rotate db-password`
/// runs: `CONFIG_VERSION_STAGE`, `DATABASE_RETIRE_LOGIN`). A template: the master secret's ARN and
/// the config secret's are references for the caller to resolve.
pub fn database_role_job_with(stack: &Stack, name: &str, extra_env: Value) -> Value {
    let mut env = json!([
        {"name": "DATABASE_EXTENSIONS", "value": stack.app.tuva.extensions.join(",")},
        {"name": "DATABASE_OWNER_ROLE", "value": DB_APP_USER},
        {"name": "DATABASE_LOGINS", "value": DB_APP_LOGINS.join(",")},
    ]);
    env.as_array_mut().unwrap().extend(extra_env.as_array().cloned().unwrap_or_default());
    database_admin_job(stack, name, "database-role", DATABASE_ROLE_SCRIPT, env)
}

/// What the database-analyze Job runs (`python -c`): ANALYZE as the master user after a
/// PostgreSQL major upgrade, which leaves the planner without statistics.
pub const DATABASE_ANALYZE_SCRIPT: &str = include_str!("database_analyze.py");

/// The Job that rebuilds the planner's statistics after the PostgreSQL major upgrade `key`
/// (`postgres17`): `database-analyze-postgres17`.
pub fn database_analyze_job_name(key: &str) -> String {
    format!("database-analyze-{key}")
}

/// A Job of the backend image running `script` (`python -c`) as the `database-admin` service
/// account, with the master user's secret and the config secret named in its environment.
fn database_admin_job(
    stack: &Stack,
    name: &str,
    component: &str,
    script: &str,
    extra_env: Value,
) -> Value {
    let mut env = backend_env(stack);
    let list = env.as_array_mut().unwrap();
    list.push(json!({"name": "DATABASE_MASTER_SECRET_ARN", "value": "${database.instance.master_user_secret_arn}"}));
    list.extend(extra_env.as_array().cloned().unwrap_or_default());
    list.push(json!({"name": "HOME", "value": "/tmp"}));
    list.push(json!({"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}));
    let container = json!({
        "name": component,
        "image": backend_image(stack),
        "command": ["python", "-c", script],
        "env": env,
        // what the script printed (never a secret) is the pod's message when it fails
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": resources("50m", "64Mi", "500m", "256Mi"),
        "securityContext": security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    });
    let pod = json!({
        "serviceAccountName": DATABASE_ADMIN_SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(BACKEND_UID),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    });
    job(stack, name, component, pod)
}

/// The export worker's replicas (upstream's export jobs run one at a time under an advisory lock,
/// and nothing waits on them as a user waits on matching).
pub const WORKER_REPLICAS: u32 = 1;

/// What the restore-drill Job runs (`python -c`): the restored database checked as the application
/// connects to it.
pub const RESTORE_VALIDATE_SCRIPT: &str = include_str!("restore_validate.py");

/// The Job `db restore-drill` starts in the application's namespace to check the restored copy at
/// `host` from inside the cluster (the database is private): the backend image, the api's service
/// account (which reads the config secret, `config_secret_arn`, and nothing else), hardened as
/// every pod; no retry (its report is the first run's), its result in its termination message,
/// and removed by Kubernetes an hour after it ends should the drill not remove it. `expected`: the
/// newest migration the copy must have (that of the version running, as state records it).
pub fn restore_validation_job(
    stack: &Stack,
    name: &str,
    config_secret_arn: &str,
    host: &str,
    port: u16,
    expected: Option<&str>,
) -> Value {
    let expected = expected.unwrap_or_default();
    let container = json!({
        "name": "restore-drill",
        "image": backend_image(stack),
        "command": ["python", "-c", RESTORE_VALIDATE_SCRIPT],
        "env": [
            {"name": "TUVA_EMPI_CONFIG_AWS_SECRET_ARN", "value": config_secret_arn},
            {"name": "AWS_REGION", "value": stack.region},
            {"name": "AWS_DEFAULT_REGION", "value": stack.region},
            {"name": "DRILL_HOST", "value": host},
            {"name": "DRILL_PORT", "value": port.to_string()},
            {"name": "EXPECTED_MIGRATION", "value": expected},
            {"name": "HOME", "value": "/tmp"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        "resources": resources("50m", "64Mi", "500m", "256Mi"),
        "securityContext": security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    });
    let pod = json!({
        "serviceAccountName": "api",
        "restartPolicy": "Never",
        "securityContext": pod_security_context(BACKEND_UID),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    });
    let mut j = job(stack, name, "restore-drill", pod);
    j["spec"]["backoffLimit"] = json!(0);
    j["spec"]["activeDeadlineSeconds"] = json!(600);
    j["spec"]["ttlSecondsAfterFinished"] = json!(3600);
    j
}

/// The Deployments that write to the database in the background, each with its replicas: stopped
/// during a PostgreSQL major upgrade.
pub fn database_writers(stack: &Stack) -> Vec<(&'static str, u32)> {
    let mut w = vec![("matching-service", stack.app.matching_service_replicas)];
    if stack.app.tuva.export_worker {
        w.push(("worker", WORKER_REPLICAS));
    }
    w
}

/// The address of the step stopping the database's writers before the PostgreSQL upgrade `key`.
pub fn pause_writers_address(key: &str) -> String {
    format!("workloads.pause_writers[{key}]")
}

/// The address of the step starting the database's writers again after the upgrade `key`.
pub fn resume_writers_address(key: &str) -> String {
    format!("workloads.resume_writers[{key}]")
}

/// The address of the ANALYZE Job after the upgrade `key`.
pub fn database_analyze_address(key: &str) -> String {
    format!("workloads.database_analyze[{key}]")
}

/// A PostgreSQL major upgrade's steps around the database (`key`: `postgres17`), for each one
/// state records as planned with them: matching-service and the worker scaled to zero before the
/// snapshot (which the instance's upgrade waits for), an ANALYZE Job once the instance is
/// upgraded, then the writers started again; the two Deployments are applied after that. Each
/// runs once (the scale steps and the Job are run-once kinds).
fn postgres_upgrade_steps(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let writers = database_writers(stack);
    let replicas = |paused: bool| {
        Expr::lit(Value::Object(
            writers
                .iter()
                .map(|(n, r)| (n.to_string(), json!(if paused { 0 } else { *r })))
                .collect(),
        ))
    };
    for key in &stack.database.upgrade_steps {
        out.push(
            k8s::Scale {
                cluster: cluster(),
                namespace: stack.app.namespace.as_str().into(),
                replicas: replicas(true),
            }
            .spec(&pause_writers_address(key), &format!("pause-writers-{key}")),
        );
        let analyze = database_analyze_job_name(key);
        out.push(
            k8s::JobOnce {
                cluster: cluster(),
                manifest: Expr::template(database_admin_job(
                    stack,
                    &analyze,
                    "database-analyze",
                    DATABASE_ANALYZE_SCRIPT,
                    json!([]),
                )),
            }
            .spec(&database_analyze_address(key), &analyze)
            .after(super::DATABASE_INSTANCE)
            .after(&format!("workloads.service_account[{DATABASE_ADMIN_SERVICE_ACCOUNT}]"))
            .after("config.document"),
        );
        out.push(
            k8s::Scale {
                cluster: cluster(),
                namespace: stack.app.namespace.as_str().into(),
                replicas: replicas(false),
            }
            .spec(&resume_writers_address(key), &format!("resume-writers-{key}"))
            .after(&database_analyze_address(key)),
        );
    }
}

/// Marks a backend Deployment's pods with the database-role Job they connect after: a new Job
/// (the first, on a stack from before the application had its own role) rolls them, so that they
/// read the config again and connect as the role, not with the master password RDS has replaced.
fn connects_as_database_role(stack: &Stack, mut deployment: Value) -> Value {
    let annotations = &mut deployment["spec"]["template"]["metadata"]["annotations"];
    if annotations.is_null() {
        *annotations = json!({});
    }
    annotations["empi-infra/database-role"] = json!(database_role_job_name(stack));
    // upstream reads the Django key once, at start: a rotated key rolls the pods
    let key_set = &stack.security.secrets.django_key_set;
    if !key_set.is_empty() {
        annotations[DJANGO_KEY_ANNOTATION] = json!(key_set);
    }
    deployment
}

/// The backend pods' annotation naming when the Django key they read was set.
pub const DJANGO_KEY_ANNOTATION: &str = "empi-infra/django-key-rotated";

/// The migrate job's name for an app version (`v0.1.0` → `migrate-v0-1-0`).
pub fn migrate_job_name(version: &str) -> String {
    let v: String = version
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("migrate-{}", v.trim_matches('-'));
    name.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
}

fn labels(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": "tuva-empi",
        "app.kubernetes.io/managed-by": "empi-infra",
    })
}

/// The Pod Security Standard a namespace enforces: `restricted` where every pod is one of ours
/// (non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp), `baseline` where
/// upstream's k8s job runner starts matching jobs, whose pods (`backend/main/util/k8s.py`) set no
/// security context and would be refused by `restricted`.
pub fn pod_security_level(stack: &Stack, namespace: &str) -> &'static str {
    if stack.app.matching_job_runner == "k8s" && stack.app.matching_job_namespace == namespace {
        "baseline"
    } else {
        "restricted"
    }
}

/// A namespace's labels: ours, the Pod Security Standard it enforces, and `restricted` warned
/// about and audited (a `baseline` namespace reports what the runner's pods lack).
fn namespace_labels(component: &str, enforce: &str) -> Value {
    let mut l = labels(component);
    for (k, v) in [
        ("pod-security.kubernetes.io/enforce", enforce),
        ("pod-security.kubernetes.io/warn", "restricted"),
        ("pod-security.kubernetes.io/audit", "restricted"),
    ] {
        l[k] = json!(v);
    }
    l
}

/// How empi-infra reaches the cluster: the EKS outputs (the provider connects lazily, once they exist).
fn cluster() -> Expr {
    let eks = |output| Expr::r(super::EKS_CLUSTER, output);
    super::obj(vec![
        ("name", eks("name")),
        ("endpoint", eks("endpoint")),
        ("certificate_authority", eks("certificate_authority")),
    ])
}

fn backend_env(stack: &Stack) -> Value {
    json!([
        {"name": "TUVA_EMPI_CONFIG_AWS_SECRET_ARN", "value": "${config.secret.arn}"},
        {"name": "AWS_REGION", "value": stack.region},
        {"name": "AWS_DEFAULT_REGION", "value": stack.region},
    ])
}

pub fn backend_image(stack: &Stack) -> String {
    format!("{BACKEND_IMAGE}:{}", stack.app.version)
}

/// Every container's: no privilege escalation, no capabilities, a read-only root filesystem
/// (what the process writes goes to emptyDirs).
fn security_context() -> Value {
    json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true})
}

/// Every pod's: a non-root user, RuntimeDefault seccomp (the `restricted` Pod Security Standard).
fn pod_security_context(uid: i64) -> Value {
    json!({"runAsNonRoot": true, "runAsUser": uid, "runAsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}})
}

/// Requests, and limits a runaway process meets before the node does.
fn resources(cpu: &str, memory: &str, cpu_limit: &str, memory_limit: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}})
}

/// Where the backend may write: the config file, the temp directory and DuckDB's spill directory
/// (`.tmp` in the working directory), each an emptyDir of the pod.
fn backend_mounts() -> Value {
    json!([
        {"name": "config", "mountPath": CONFIG_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "duckdb-tmp", "mountPath": format!("{BACKEND_WORKDIR}/.tmp")},
    ])
}

/// A backend container (`args` after the image's entrypoint); `limits`: (cpu, memory).
fn backend_container(
    stack: &Stack,
    name: &str,
    args: &[&str],
    cpu: &str,
    memory: &str,
    limits: (&str, &str),
) -> Value {
    let mut env = backend_env(stack);
    // `nobody`'s home does not exist; Python need not write bytecode to a read-only filesystem
    env.as_array_mut().unwrap().extend([
        json!({"name": "HOME", "value": "/tmp"}),
        json!({"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}),
    ]);
    let mut c = json!({
        "name": name,
        "image": backend_image(stack),
        "env": env,
        "resources": resources(cpu, memory, limits.0, limits.1),
        "securityContext": security_context(),
        "volumeMounts": backend_mounts(),
    });
    // an empty list is not stored by the API server: leave it out rather than diff against nothing
    if !args.is_empty() {
        c["args"] = json!(args);
    }
    c
}

fn backend_pod(service_account: &str, container: Value, restart: &str) -> Value {
    json!({
        "serviceAccountName": service_account,
        "restartPolicy": restart,
        "securityContext": pod_security_context(BACKEND_UID),
        "containers": [container],
        "volumes": [
            {"name": "config", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
            {"name": "duckdb-tmp", "emptyDir": {"sizeLimit": "10Gi"}},
        ],
    })
}

/// Seconds Kubernetes waits after SIGTERM before it kills a pod of the worker or the matching
/// service. Both finish the job in hand when told to stop (upstream's `process_export_jobs` and
/// `MatchingService` set a cancel flag on SIGTERM at 301608c); the export worker was seen taking
/// 46 s to stop, past Kubernetes' default 30 s, so a rollout killed it mid-export.
pub const GRACEFUL_STOP_SECS: u32 = 300;

/// A pod that may finish the job in hand before it stops.
fn graceful(mut pod: Value) -> Value {
    pod["terminationGracePeriodSeconds"] = json!(GRACEFUL_STOP_SECS);
    pod
}

fn deployment(stack: &Stack, name: &str, replicas: u32, pod: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": stack.app.namespace, "labels": labels(name)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            // a rollout that makes no progress this long fails (and the old pods keep serving)
            "progressDeadlineSeconds": stack.app.rollout_timeout_secs,
            "template": {"metadata": {"labels": labels(name)}, "spec": pod},
        },
    })
}

/// How many times a Job's pod is started again after it failed. Each Job's first step is an AWS
/// call under an IRSA role that may be minutes old, and IAM may refuse
/// `AssumeRoleWithWebIdentity` until the role has propagated; the Job controller waits 10 s, then
/// 20 s, before the retries, all within `activeDeadlineSeconds`. Every Job is safe to run again:
/// the database-role script is idempotent, Django's `migrate` applies what is not yet applied,
/// and upstream's `bootstrap` returns when an admin exists.
pub const JOB_RETRIES: u32 = 2;

fn job(stack: &Stack, name: &str, component: &str, pod: Value) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": stack.app.namespace, "labels": labels(component)},
        "spec": {
            "backoffLimit": JOB_RETRIES,
            "activeDeadlineSeconds": stack.app.rollout_timeout_secs,
            "template": {"metadata": {"labels": labels(component)}, "spec": pod},
        },
    })
}

fn node_port_service(stack: &Stack, name: &str, port: u32, target: u32, node_port: u32) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": stack.app.namespace, "labels": labels(name)},
        "spec": {
            "type": "NodePort",
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "protocol": "TCP", "port": port, "targetPort": target, "nodePort": node_port}],
        },
    })
}

/// The service account upstream's k8s job runner gives matching-job pods
/// (`k8s_job_runner.job_service_account_name`).
pub const MATCHING_JOB_SERVICE_ACCOUNT: &str = "matching-job";

/// What upstream's k8s job runner (`backend/main/util/k8s.py`) needs in the job namespace: its own
/// namespace when that is neither the app's nor `default`; a service account with its own IRSA role
/// (it reads the config secret, and the role gives the pods their region); and a Role with exactly
/// the calls the runner makes, bound to the matching service.
fn matching_jobs(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let job_ns = &stack.app.matching_job_namespace;
    let mut after_ns = "workloads.namespace";
    if job_ns != &stack.app.namespace && job_ns != "default" {
        out.push(k8s::Namespace { cluster: cluster(), manifest: Expr::template(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": job_ns, "labels": namespace_labels("matching-job", pod_security_level(stack, job_ns))}})) }.spec("workloads.matching_job_namespace", job_ns));
        after_ns = "workloads.matching_job_namespace";
    }
    out.push(
        k8s::ServiceAccount {
            cluster: cluster(),
            manifest: Expr::template(json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {
                    "name": MATCHING_JOB_SERVICE_ACCOUNT, "namespace": job_ns, "labels": labels("matching-job"),
                    "annotations": {"eks.amazonaws.com/role-arn": "${iam.matching_job_role.arn}"},
                },
            })),
        }
        .spec("workloads.service_account[matching-job]", MATCHING_JOB_SERVICE_ACCOUNT)
        .after(after_ns),
    );
    out.push(
        k8s::Role {
            cluster: cluster(),
            manifest: Expr::template(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "tuva-empi-matching-jobs", "namespace": job_ns, "labels": labels("matching-service")},
                "rules": MATCHING_JOB_RULES.iter().map(|(resource, verbs)| {
                    let group = if *resource == "jobs" { "batch" } else { "" };
                    json!({"apiGroups": [group], "resources": [resource], "verbs": verbs})
                }).collect::<Vec<_>>(),
            })),
        }
        .spec("workloads.matching_job_role", "tuva-empi-matching-jobs")
        .after(after_ns),
    );
    out.push(
        k8s::RoleBinding {
            cluster: cluster(),
            manifest: Expr::template(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "tuva-empi-matching-jobs", "namespace": job_ns, "labels": labels("matching-service")},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tuva-empi-matching-jobs"},
                "subjects": [{"kind": "ServiceAccount", "name": "matching-service", "namespace": stack.app.namespace}],
            })),
        }
        .spec("workloads.matching_job_role_binding", "tuva-empi-matching-jobs")
        .after("workloads.matching_job_role")
        .after("workloads.service_account[matching-service]"),
    );
}

/// The calls of upstream's runner, as RBAC: it creates, watches and deletes its Job, watches and
/// reads the Job's pods, and follows their logs.
pub const MATCHING_JOB_RULES: &[(&str, &[&str])] = &[
    ("jobs", &["create", "get", "list", "watch", "delete"]),
    ("pods", &["get", "list", "watch"]),
    ("pods/log", &["get"]),
];

/// The Kubernetes objects of the stack, in the order Tuva EMPI requires.
pub fn expand(stack: &Stack) -> Vec<ResourceSpec> {
    let ns = &stack.app.namespace;
    let mut out = Vec::new();
    out.push(
        k8s::Namespace { cluster: cluster(), manifest: Expr::template(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": namespace_labels("tuva-empi", pod_security_level(stack, ns))}})) }.spec("workloads.namespace", ns)
        .after("cluster.node_group"),
    );
    for (sa, role) in [
        ("api", "iam.api_role"),
        ("matching-service", "iam.matching_service_role"),
        ("worker", "iam.worker_role"),
        (DATABASE_ADMIN_SERVICE_ACCOUNT, "iam.database_admin_role"),
    ] {
        out.push(
            k8s::ServiceAccount { cluster: cluster(), manifest: Expr::template(json!({
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": sa, "namespace": ns, "labels": labels(sa), "annotations": {"eks.amazonaws.com/role-arn": format!("${{{role}.arn}}")}},
                })) }.spec(&format!("workloads.service_account[{sa}]"), sa)
            .after("workloads.namespace"),
        );
    }

    // the application's own database role (before anything connects as it) → migrate (every
    // version) → bootstrap (once) → api → the rest
    let role_job = database_role_job_name(stack);
    out.push(
        k8s::Job { cluster: cluster(), manifest: Expr::template(database_role_job(stack)) }
            .spec("workloads.database_role", &role_job)
            .after(&format!("workloads.service_account[{DATABASE_ADMIN_SERVICE_ACCOUNT}]"))
            .after("config.document"),
    );
    let migrate = migrate_job_name(&stack.app.version);
    let migrate_pod = backend_pod(
        "api",
        backend_container(stack, "migrate", &["migrate"], "100m", "256Mi", ("1", "1Gi")),
        "Never",
    );
    let mut migrate_spec = k8s::Job {
        cluster: cluster(),
        manifest: Expr::template(job(stack, &migrate, "migrate", migrate_pod)),
    }
    .spec("workloads.migrate", &migrate);
    // a new version's migrations run only once the database is snapshotted before them
    if stack.database.upgrade_snapshots.contains(&stack.app.version) {
        migrate_spec =
            migrate_spec.after(&crate::blueprint::upgrade_snapshot_address(&stack.app.version));
    }
    out.push(
        migrate_spec
            .after("workloads.service_account[api]")
            .after("workloads.database_role")
            .after("config.document"),
    );
    let bootstrap_pod = backend_pod(
        "api",
        backend_container(stack, "bootstrap", &["bootstrap"], "100m", "256Mi", ("1", "1Gi")),
        "Never",
    );
    let mut bootstrap = k8s::JobOnce {
        cluster: cluster(),
        manifest: Expr::template(job(stack, "bootstrap", "bootstrap", bootstrap_pod)),
    }
    .spec("workloads.bootstrap", "bootstrap")
    .after("workloads.migrate");
    // bootstrap looks the admin up in the identity provider: with Cognito, once the stack made them
    // (a Keycloak admin exists before `plan`, which checks it)
    if stack.identity.cognito_domain_prefix().is_some() {
        bootstrap = bootstrap.after("identity.admin_user");
    }
    out.push(bootstrap);

    let host = &stack.app.hostname;
    let mut api = backend_container(stack, "api", &[], "250m", "512Mi", ("1", "1Gi"));
    api["ports"] = json!([{"name": "http", "containerPort": 8000, "protocol": "TCP"}]);
    // the probe names the public host, so that it passes Django's allowed_hosts
    api["readinessProbe"] = json!({
        "httpGet": {"path": API_HEALTH_PATH, "port": 8000, "httpHeaders": [{"name": "Host", "value": host}]},
        "periodSeconds": 10, "failureThreshold": 3,
    });
    let proxy_config = health_proxy_config(stack);
    out.push(
        k8s::ConfigMap {
            cluster: cluster(),
            manifest: Expr::template(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "api-health-proxy", "namespace": ns, "labels": labels("api-health-proxy")},
                "data": {"nginx.conf": proxy_config},
            })),
        }
        .spec("workloads.api_health_proxy", "api-health-proxy")
        .after("workloads.namespace"),
    );
    let mut api_pod = backend_pod("api", api, "Always");
    api_pod["containers"].as_array_mut().unwrap().push(health_proxy_container(stack));
    api_pod["volumes"].as_array_mut().unwrap().extend([
        json!({"name": "health-proxy-config", "configMap": {"name": "api-health-proxy"}}),
        json!({"name": "health-proxy-tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}),
    ]);
    let mut api_deployment = deployment(stack, "api", stack.app.api_replicas, api_pod);
    // nginx reads its config once: a new config rolls the pods
    let digest = hex::encode(Sha256::digest(proxy_config.as_bytes()));
    api_deployment["spec"]["template"]["metadata"]["annotations"] =
        json!({"empi-infra/health-proxy-config": &digest[..16]});
    let api_deployment = connects_as_database_role(stack, api_deployment);
    out.push(
        k8s::Deployment { cluster: cluster(), manifest: Expr::template(api_deployment) }
            .spec("workloads.api", "api")
            .after("workloads.migrate")
            .after("workloads.bootstrap")
            .after("workloads.api_health_proxy"),
    );
    let mut api_service = node_port_service(stack, "api", 8000, 8000, API_NODE_PORT);
    api_service["spec"]["ports"].as_array_mut().unwrap().push(json!({
        "name": "health", "protocol": "TCP", "port": HEALTH_PROXY_PORT, "targetPort": HEALTH_PROXY_PORT, "nodePort": API_HEALTH_NODE_PORT,
    }));
    out.push(
        k8s::Service { cluster: cluster(), manifest: Expr::template(api_service) }
            .spec("workloads.api_service", "api")
            .after("workloads.namespace"),
    );

    let mut matching = backend_container(
        stack,
        "matching-service",
        &["matching-service"],
        "250m",
        "512Mi",
        ("2", "4Gi"),
    );
    if stack.app.matching_job_runner == "k8s" {
        // the jobs the k8s runner starts must run the same backend image
        matching["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "TUVA_EMPI_MATCHING_SERVICE__K8S_JOB_RUNNER__JOB_IMAGE", "value": backend_image(stack)}));
    }
    out.push(
        k8s::Deployment {
            cluster: cluster(),
            manifest: Expr::template(connects_as_database_role(
                stack,
                deployment(
                    stack,
                    "matching-service",
                    stack.app.matching_service_replicas,
                    graceful(backend_pod("matching-service", matching, "Always")),
                ),
            )),
        }
        .spec("workloads.matching_service", "matching-service")
        .after("workloads.api")
        .after("workloads.service_account[matching-service]")
        .after_all(stack.database.upgrade_steps.iter().map(|k| resume_writers_address(k))),
    );
    // the export worker runs `process_export_jobs`, a mode versions before it do not have (they
    // print their usage and exit: a crash loop). Like matching-service, it finishes the job in
    // hand on SIGTERM before it stops
    if stack.app.tuva.export_worker {
        let worker = backend_container(
            stack,
            "worker",
            &["process_export_jobs", "--sleep", "60", "--max-jobs-per-run", "3"],
            "100m",
            "256Mi",
            ("1", "1Gi"),
        );
        out.push(
            k8s::Deployment {
                cluster: cluster(),
                manifest: Expr::template(connects_as_database_role(
                    stack,
                    deployment(
                        stack,
                        "worker",
                        WORKER_REPLICAS,
                        graceful(backend_pod("worker", worker, "Always")),
                    ),
                )),
            }
            .spec("workloads.worker", "worker")
            .after("workloads.api")
            .after("workloads.service_account[worker]")
            .after_all(stack.database.upgrade_steps.iter().map(|k| resume_writers_address(k))),
        );
    }
    let frontend = json!({
        "name": "frontend",
        "image": format!("{FRONTEND_IMAGE}:{}", stack.app.version),
        "ports": [{"name": "http", "containerPort": 3000, "protocol": "TCP"}],
        // npm's logs and caches under $HOME, Next.js's telemetry off (it writes its config there)
        "env": [
            {"name": "HOME", "value": "/tmp"},
            {"name": "NEXT_TELEMETRY_DISABLED", "value": "1"},
            {"name": "NPM_CONFIG_UPDATE_NOTIFIER", "value": "false"},
        ],
        "resources": resources("100m", "256Mi", "1", "512Mi"),
        "securityContext": security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "next-cache", "mountPath": "/app/.next/cache"}],
        // `/` is a redirect (307) to this page
        "readinessProbe": {"httpGet": {"path": FRONTEND_HEALTH_PATH, "port": 3000}, "periodSeconds": 10},
    });
    let frontend_pod = json!({
        "securityContext": pod_security_context(FRONTEND_UID),
        "containers": [frontend],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}, {"name": "next-cache", "emptyDir": {"sizeLimit": "1Gi"}}],
    });
    out.push(
        k8s::Deployment {
            cluster: cluster(),
            manifest: Expr::template(deployment(
                stack,
                "frontend",
                stack.app.frontend_replicas,
                frontend_pod,
            )),
        }
        .spec("workloads.frontend", "frontend")
        .after("workloads.api"),
    );
    out.push(
        k8s::Service {
            cluster: cluster(),
            manifest: Expr::template(node_port_service(
                stack,
                "frontend",
                3000,
                3000,
                FRONTEND_NODE_PORT,
            )),
        }
        .spec("workloads.frontend_service", "frontend")
        .after("workloads.namespace"),
    );

    if stack.app.matching_job_runner == "k8s" {
        matching_jobs(stack, &mut out);
    }
    disruption_budgets(stack, &mut out);
    postgres_upgrade_steps(stack, &mut out);
    out
}

/// A PodDisruptionBudget for each Deployment of two or more replicas that users wait on (api,
/// frontend, matching-service): a node's drain (an EKS node group update, a scale-in) takes at most
/// one of its pods at a time, and waits for its replacement to be ready before the next. One
/// replica gets none: a budget allowing no disruption would keep EKS from draining its node.
fn disruption_budgets(stack: &Stack, out: &mut Vec<ResourceSpec>) {
    let app = &stack.app;
    for (name, replicas, address) in [
        ("api", app.api_replicas, "workloads.api"),
        ("frontend", app.frontend_replicas, "workloads.frontend"),
        ("matching-service", app.matching_service_replicas, "workloads.matching_service"),
    ] {
        if replicas < 2 {
            continue;
        }
        out.push(
            k8s::PodDisruptionBudget {
                cluster: cluster(),
                manifest: Expr::template(json!({
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": name, "namespace": app.namespace, "labels": labels(name)},
                    "spec": {
                        "maxUnavailable": 1,
                        "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    },
                })),
            }
            .spec(&format!("{address}_disruption_budget"), name)
            .after("workloads.namespace")
            .after(address),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(extra: &str) -> Stack {
        Stack::parse(
            "t.toml",
            &format!("name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\n{extra}"),
        )
        .unwrap()
    }

    #[test]
    fn migrate_job_names_follow_the_version() {
        assert_eq!(migrate_job_name("v0.1.0"), "migrate-v0-1-0");
        assert_eq!(migrate_job_name("V1.2.3_rc.1"), "migrate-v1-2-3-rc-1");
    }

    #[test]
    fn every_service_port_says_tcp_and_backend_pods_get_config() {
        let specs = expand(&stack(""));
        let text = serde_json::to_string(&specs).unwrap();
        let svc = specs.iter().find(|s| s.address == "workloads.api_service").unwrap();
        assert!(serde_json::to_string(&svc.inputs["manifest"])
            .unwrap()
            .contains("\"protocol\":{\"lit\":\"TCP\"}"));
        assert!(text.contains("TUVA_EMPI_CONFIG_AWS_SECRET_ARN"));
        assert!(text.contains(CONFIG_DIR));
        assert!(!text.contains("K8S_JOB_RUNNER"), "only with the k8s runner");
        let k8s = serde_json::to_string(&expand(&stack(&format!(
            "version = \"{HEAD}\"\nmatching_job_runner = \"k8s\"\n"
        ))))
        .unwrap();
        assert!(
            k8s.contains("TUVA_EMPI_MATCHING_SERVICE__K8S_JOB_RUNNER__JOB_IMAGE")
                && k8s.contains("tuva-empi-matching-jobs")
        );
    }

    const HEAD: &str = "301608c7ac2f5fc422ec210cd5613a0496d468ba";

    #[test]
    fn the_matching_job_runner_gets_its_namespace_service_account_and_exact_verbs() {
        let specs =
            expand(&stack(&format!("version = \"{HEAD}\"\nmatching_job_runner = \"k8s\"\nmatching_job_namespace = \"tuva-jobs\"\n")));
        let manifest = |a: &str| {
            serde_json::to_string(
                &specs.iter().find(|s| s.address == a).unwrap().inputs["manifest"],
            )
            .unwrap()
        };
        assert!(manifest("workloads.matching_job_namespace").contains("tuva-jobs"));
        let sa = manifest("workloads.service_account[matching-job]");
        assert!(sa.contains("tuva-jobs") && sa.contains("iam.matching_job_role"), "{sa}");
        let role = manifest("workloads.matching_job_role");
        assert!(role.contains("\"watch\"") && role.contains("pods/log"), "{role}");
        // upstream's runner starts pods with no security context: where they run, `baseline`
        let enforce =
            |m: String| m.contains("\"pod-security.kubernetes.io/enforce\":{\"lit\":\"baseline\"}");
        assert!(enforce(manifest("workloads.matching_job_namespace")), "the jobs' own namespace");
        assert!(!enforce(manifest("workloads.namespace")), "the app's namespace stays restricted");
        let same =
            expand(&stack(&format!("version = \"{HEAD}\"\nmatching_job_runner = \"k8s\"\n")));
        let ns = serde_json::to_string(
            &same.iter().find(|s| s.address == "workloads.namespace").unwrap().inputs["manifest"],
        )
        .unwrap();
        assert!(enforce(ns), "jobs in the app's namespace");
        let process = expand(&stack(""));
        let ns = serde_json::to_string(
            &process.iter().find(|s| s.address == "workloads.namespace").unwrap().inputs
                ["manifest"],
        )
        .unwrap();
        assert!(
            ns.contains("\"pod-security.kubernetes.io/enforce\":{\"lit\":\"restricted\"}"),
            "{ns}"
        );
        // v0.1.0 has no k8s runner; before job_namespace the jobs run in `default`
        let e = Stack::parse("t.toml", "name = \"t\"\nregion = \"eu-west-1\"\n[identity]\nadmin_email = \"a@b.org\"\n[app]\nhostname = \"empi.b.org\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/x\"\nmatching_job_runner = \"k8s\"\n").unwrap_err();
        assert!(
            e.to_string().contains("t.toml:8:23: Tuva EMPI v0.1.0 has no Kubernetes job runner; it came with main 4b81767 (2025-06-13)"),
            "{e}"
        );
        assert_eq!(
            stack("version = \"1ec0df7\"\nmatching_job_runner = \"k8s\"\n")
                .app
                .matching_job_namespace,
            "default"
        );
        assert_eq!(
            stack(&format!("version = \"{HEAD}\"\nmatching_job_runner = \"k8s\"\n"))
                .app
                .matching_job_namespace,
            "tuva-empi"
        );
    }

    #[test]
    fn the_database_role_job_creates_the_extensions_of_the_version_before_its_migrate() {
        let env_of = |version: &str| {
            let specs = expand(&stack(&format!("version = \"{version}\"\n")));
            let job = specs.iter().find(|s| s.address == "workloads.database_role").unwrap();
            let text = serde_json::to_string(&job.inputs["manifest"]).unwrap();
            let migrate = specs.iter().find(|s| s.address == "workloads.migrate").unwrap();
            assert!(migrate.dependencies().contains(&"workloads.database_role".to_string()));
            (job.name.clone(), text)
        };
        let (old_job, old) = env_of("v0.1.0");
        assert!(old.contains("\"pgcrypto,pg_trgm\""), "{old}");
        // a version newer than the table (PR #113's head) also needs unaccent: a new Job runs
        let (new_job, new) = env_of("4abdf6bc1c853dc197424a05d9dc96f601eb9709");
        assert!(new.contains("\"pgcrypto,pg_trgm,unaccent\""), "{new}");
        assert_ne!(old_job, new_job);
    }

    #[test]
    fn the_order_tuva_empi_requires() {
        let specs = expand(&stack(&format!("version = \"{HEAD}\"\n")));
        let deps = |a: &str| specs.iter().find(|s| s.address == a).unwrap().dependencies();
        assert!(deps("workloads.bootstrap").contains(&"workloads.migrate".to_string()));
        assert!(deps("workloads.api").contains(&"workloads.bootstrap".to_string()));
        for later in ["workloads.matching_service", "workloads.worker", "workloads.frontend"] {
            assert!(deps(later).contains(&"workloads.api".to_string()), "{later}");
        }
        assert!(deps("workloads.migrate").contains(&"config.document".to_string()));
        assert!(
            deps("workloads.api").contains(&"workloads.api_health_proxy".to_string()),
            "its config before its pods"
        );
    }

    #[test]
    fn the_health_proxy_asks_django_with_the_public_hostname_and_answers_nothing_else() {
        let conf = health_proxy_config(&stack(""));
        assert!(
            conf.contains("location = /api/v1/health-check {")
                && conf.contains("proxy_set_header Host empi.b.org;"),
            "{conf}"
        );
        assert_eq!(
            conf.matches("proxy_pass http://127.0.0.1:8000;").count(),
            1,
            "one proxied path: {conf}"
        );
        assert!(conf.contains("location / {\n            return 404;"), "{conf}");
        let specs = expand(&stack(""));
        let manifest = |a: &str| {
            serde_json::to_string(
                &specs.iter().find(|s| s.address == a).unwrap().inputs["manifest"],
            )
            .unwrap()
        };
        let svc = manifest("workloads.api_service");
        assert!(
            svc.contains("\"nodePort\":{\"lit\":30080}")
                && svc.contains("\"nodePort\":{\"lit\":30081}"),
            "{svc}"
        );
        let api = manifest("workloads.api");
        assert!(
            api.contains(crate::stack::DEFAULT_HEALTH_PROXY_IMAGE)
                && api.contains("\"readOnlyRootFilesystem\":{\"lit\":true}"),
            "{api}"
        );
    }
}
