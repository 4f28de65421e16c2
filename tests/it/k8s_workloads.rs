//! Tuva EMPI's workloads against moto and a real kube-apiserver: the first install
//! and an upgrade in the order the application requires, checked from the API server's own
//! timestamps and conditions; a failing migrate that stops the apply with its log and leaves the api
//! on its previous version.

use crate::common;

use std::time::Duration;

use crate::common::cluster::Node;
use crate::common::Workspace;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};

const NS: &str = "tuva-empi";

/// Every pod takes this long to become ready or to finish, so that each step of the order is at
/// least a second apart in the API server's (second-resolution) timestamps.
const STEP: Duration = Duration::from_millis(1100);

fn slow_node() -> Node {
    Node { delay: STEP, ..Node::default() }
}

async fn job(c: &kube::Client, name: &str) -> Job {
    Api::<Job>::namespaced(c.clone(), NS)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("job {name}: {e}"))
}

fn created(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Timestamp {
    meta.creation_timestamp.as_ref().unwrap().0
}

fn completed(j: &Job) -> Timestamp {
    j.status
        .as_ref()
        .and_then(|s| s.completion_time.as_ref())
        .unwrap_or_else(|| panic!("{:?} did not complete", j.metadata.name))
        .0
}

/// When the deployment last became fully available (its Available condition).
fn available_since(d: &Deployment) -> Timestamp {
    let c = d
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Available" && c.status == "True")
        .expect("available");
    c.last_transition_time.as_ref().unwrap().0
}

/// The ReplicaSet of `deployment` running `image`.
async fn replica_set(c: &kube::Client, deployment: &str, image: &str) -> ReplicaSet {
    let list = Api::<ReplicaSet>::namespaced(c.clone(), NS)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={deployment}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .find(|rs| {
            rs.spec.as_ref().unwrap().template.as_ref().unwrap().spec.as_ref().unwrap().containers
                [0]
            .image
            .as_deref()
                == Some(image)
        })
        .unwrap_or_else(|| panic!("no ReplicaSet of {deployment} runs {image}"))
}

fn image(d: &Deployment) -> String {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].image.clone().unwrap()
}

/// What a pod lacks of the `restricted` Pod Security Standard (Kubernetes' "Pod Security
/// Standards": no host namespaces, privileged containers, host paths or added capabilities;
/// `allowPrivilegeEscalation: false`, every capability dropped, non-root, RuntimeDefault or
/// Localhost seccomp), plus what #16 asks beyond it: a read-only root filesystem, CPU and memory
/// requests and limits.
fn restricted_violations(pod: &k8s_openapi::api::core::v1::PodSpec) -> Vec<String> {
    let mut v = Vec::new();
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        v.push("host namespaces".to_string());
    }
    for vol in pod.volumes.iter().flatten() {
        if vol.host_path.is_some() {
            v.push(format!("hostPath volume {}", vol.name));
        }
    }
    let psc = pod.security_context.clone().unwrap_or_default();
    let pod_seccomp = psc.seccomp_profile.as_ref().map(|p| p.type_.clone());
    for c in pod.containers.iter().chain(pod.init_containers.iter().flatten()) {
        let sc = c.security_context.clone().unwrap_or_default();
        let mut bad = |why: &str| v.push(format!("container {}: {why}", c.name));
        if sc.privileged == Some(true) {
            bad("privileged");
        }
        if sc.allow_privilege_escalation != Some(false) {
            bad("allowPrivilegeEscalation is not false");
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.unwrap_or_default().iter().any(|d| d == "ALL") {
            bad("does not drop ALL capabilities");
        }
        if caps.add.unwrap_or_default().iter().any(|a| a != "NET_BIND_SERVICE") {
            bad("adds capabilities");
        }
        if sc.run_as_non_root.or(psc.run_as_non_root) != Some(true) {
            bad("runAsNonRoot is not true");
        }
        if sc.run_as_user.or(psc.run_as_user) == Some(0) {
            bad("runs as user 0");
        }
        let seccomp = sc.seccomp_profile.as_ref().map(|p| p.type_.clone()).or(pod_seccomp.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            bad("no RuntimeDefault seccomp profile");
        }
        if sc.read_only_root_filesystem != Some(true) {
            bad("the root filesystem is writable");
        }
        let r = c.resources.clone().unwrap_or_default();
        for (what, m) in [("requests", r.requests), ("limits", r.limits)] {
            let m = m.unwrap_or_default();
            if !m.contains_key("cpu") || !m.contains_key("memory") {
                bad(&format!("no cpu and memory {what}"));
            }
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn first_install_runs_in_the_order_tuva_empi_requires() {
    let w = Workspace::with_node(&[], slow_node());
    let apply = w.ok(&["apply", "--auto-approve"]);
    assert!(apply.stdout.contains("url               = https://empi.local.test"), "{apply:?}");
    let c = w.cluster.client().await;

    // the application's database role made → migrate starts; migrate complete → bootstrap
    // starts; bootstrap complete → api starts
    let migrate = job(&c, "migrate-v0-1-0").await;
    let role_job =
        job(&c, &empi_engine::blueprint::workloads::database_role_job_name(&w.parsed_stack()))
            .await;
    assert!(
        completed(&role_job) <= created(&migrate.metadata),
        "migrate started before the database role was made"
    );
    let bootstrap = job(&c, "bootstrap").await;
    assert!(
        completed(&migrate) <= created(&bootstrap.metadata),
        "bootstrap started before migrate completed"
    );
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), NS);
    let api = deployments.get("api").await.unwrap();
    assert!(
        completed(&bootstrap) <= created(&api.metadata),
        "api started before bootstrap completed"
    );
    // api fully rolled out → the rest; v0.1.0 has no `process_export_jobs`, so no worker
    let api_ready = available_since(&api);
    assert!(
        deployments.get_opt("worker").await.unwrap().is_none(),
        "a worker on v0.1.0 would crash-loop"
    );
    for later in ["matching-service", "frontend"] {
        let d = deployments.get(later).await.unwrap();
        assert!(api_ready <= created(&d.metadata), "{later} started before the api was rolled out");
        let st = d.status.clone().unwrap();
        assert_eq!(st.available_replicas, d.spec.as_ref().unwrap().replicas, "{later} waited for");
    }
    assert_eq!(image(&api), "ghcr.io/tuva-health/tuva-empi-backend:v0.1.0");
    assert_eq!(
        image(&deployments.get("frontend").await.unwrap()),
        "ghcr.io/tuva-health/tuva-empi-frontend:v0.1.0"
    );

    // what each backend pod gets
    let st = w.state();
    let secret_arn = st["resources"]["config.secret"]["outputs"]["arn"].as_str().unwrap();
    let pod = api.spec.as_ref().unwrap().template.spec.clone().unwrap();
    let container = &pod.containers[0];
    let env: Vec<(String, String)> = container
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    assert!(
        env.contains(&("TUVA_EMPI_CONFIG_AWS_SECRET_ARN".into(), secret_arn.into())),
        "{env:?}"
    );
    assert_eq!(container.volume_mounts.as_ref().unwrap()[0].mount_path, "/usr/local/etc/tuva-empi");
    assert!(pod.volumes.as_ref().unwrap()[0].empty_dir.is_some(), "a writable emptyDir");
    assert_eq!(pod.service_account_name.as_deref(), Some("api"));
    let probe = container.readiness_probe.as_ref().unwrap().http_get.as_ref().unwrap();
    assert_eq!(probe.path.as_deref(), Some("/api/v1/health-check"));
    assert_eq!(
        probe.http_headers.as_ref().unwrap()[0].value,
        "empi.local.test",
        "the probe passes Django's allowed_hosts"
    );
    assert!(container.resources.as_ref().unwrap().requests.is_some());
    assert_eq!(
        container.security_context.as_ref().unwrap().allow_privilege_escalation,
        Some(false)
    );
    let sa = Api::<ServiceAccount>::namespaced(c.clone(), NS).get("api").await.unwrap();
    let role = st["resources"]["iam.api_role"]["outputs"]["arn"].as_str().unwrap();
    assert_eq!(sa.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"], role, "IRSA");
    let svc = Api::<Service>::namespaced(c.clone(), NS).get("api").await.unwrap();
    let ports = svc.spec.unwrap().ports.unwrap();
    assert_eq!(
        (ports[0].protocol.as_deref(), ports[0].node_port),
        (Some("TCP"), Some(30080)),
        "the ALB's target group port"
    );
    // the ALB's health checks go to the health proxy beside the api, with its config from a ConfigMap
    assert_eq!(
        (ports[1].node_port, ports[1].target_port.clone()),
        (Some(30081), Some(IntOrString::Int(8081))),
        "its health check port"
    );
    let proxy = pod
        .containers
        .iter()
        .find(|c| c.name == "health-proxy")
        .expect("a health proxy in the api pod");
    assert_eq!(proxy.ports.as_ref().unwrap()[0].container_port, 8081);
    let sc = proxy.security_context.as_ref().unwrap();
    assert_eq!(
        (sc.read_only_root_filesystem, sc.allow_privilege_escalation, sc.run_as_user),
        (Some(true), Some(false), Some(101))
    );

    // #16 workload hardening, read back from the API server: every pod of ours meets the
    // `restricted` Pod Security Standard (kube-apiserver 1.20 has no PodSecurity admission to
    // enforce it, so the rules are checked here), with a read-only root filesystem and limits,
    // and the namespace enforces `restricted`
    let mut pods = Vec::new();
    for d in deployments.list(&ListParams::default()).await.unwrap().items {
        pods.push((
            format!("deployment {}", d.metadata.name.unwrap()),
            d.spec.unwrap().template.spec.unwrap(),
        ));
    }
    for j in Api::<Job>::namespaced(c.clone(), NS).list(&ListParams::default()).await.unwrap().items
    {
        pods.push((
            format!("job {}", j.metadata.name.unwrap()),
            j.spec.unwrap().template.spec.unwrap(),
        ));
    }
    assert_eq!(
        pods.len(),
        6,
        "api, matching-service, frontend, database-role, migrate, bootstrap: {:?}",
        pods.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    for (what, pod) in &pods {
        let v = restricted_violations(pod);
        assert!(v.is_empty(), "{what} does not meet the restricted Pod Security Standard: {v:?}");
    }
    let labels = Api::<k8s_openapi::api::core::v1::Namespace>::all(c.clone())
        .get(NS)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    let backend = &pod.containers[0];
    let mounts: Vec<&str> =
        backend.volume_mounts.as_ref().unwrap().iter().map(|m| m.mount_path.as_str()).collect();
    assert_eq!(
        mounts,
        ["/usr/local/etc/tuva-empi", "/tmp", "/usr/local/lib/tuva-empi/.tmp"],
        "where the backend writes"
    );
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_user,
        Some(65534),
        "Debian's nobody, in upstream's image"
    );
    let cm = Api::<ConfigMap>::namespaced(c.clone(), NS).get("api-health-proxy").await.unwrap();
    let conf = &cm.data.unwrap()["nginx.conf"];
    assert!(conf.contains("proxy_set_header Host empi.local.test;"), "{conf}");
    let frontend =
        deployments.get("frontend").await.unwrap().spec.unwrap().template.spec.unwrap().containers
            [0]
        .clone();
    assert_eq!(
        frontend.readiness_probe.unwrap().http_get.unwrap().path.as_deref(),
        Some("/person_match"),
        "/ is a redirect"
    );
    // applied with server-side apply by empi-infra
    let managers = api.metadata.managed_fields.unwrap();
    assert!(
        managers.iter().any(|m| m.manager.as_deref() == Some("empi-infra")
            && m.operation.as_deref() == Some("Apply")),
        "{managers:?}"
    );

    let again = w.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "a no-op plan after apply: {again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_migrates_first_then_the_api_then_the_rest_and_never_reruns_bootstrap() {
    let w = Workspace::with_node(&[], slow_node());
    w.ok(&["apply", "--auto-approve"]);
    let c = w.cluster.client().await;
    let bootstrap_uid = job(&c, "bootstrap").await.metadata.uid;

    w.write_stack(&[("version = \"v0.1.0\"", "version = \"v0.2.0\"")]);
    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("  -/+ workloads.migrate (k8s_job)"),
        "a new migrate job: {plan:?}"
    );
    assert!(
        plan.stdout.contains("manifest.metadata.name")
            && plan.stdout.contains("\"migrate-v0-1-0\" -> \"migrate-v0-2-0\""),
        "{plan:?}"
    );
    assert!(
        plan.stdout.contains("manifest.spec.template.spec.containers[0].image = \"ghcr.io/tuva-health/tuva-empi-backend:v0.1.0\" -> \"ghcr.io/tuva-health/tuva-empi-backend:v0.2.0\""),
        "the plan shows the image per attribute: {plan:?}"
    );
    assert!(!plan.stdout.contains("workloads.bootstrap"), "bootstrap is not run again: {plan:?}");
    assert!(
        plan.stdout.contains("+ workloads.worker"),
        "v0.2.0 (taken for the newest known) adds the worker: {plan:?}"
    );
    assert!(plan.all().contains("Tuva EMPI v0.1.0 → v0.2.0: adds the export worker"), "{plan:?}");
    assert!(plan.all().contains("newer than the versions empi-infra knows"), "{plan:?}");
    w.ok(&["apply", "--auto-approve"]);

    let migrate = job(&c, "migrate-v0-2-0").await;
    assert!(
        Api::<Job>::namespaced(c.clone(), NS).get_opt("migrate-v0-1-0").await.unwrap().is_none(),
        "never two migrate jobs"
    );
    assert_eq!(
        job(&c, "bootstrap").await.metadata.uid,
        bootstrap_uid,
        "bootstrap ran once per stack"
    );
    let api_rs = replica_set(&c, "api", "ghcr.io/tuva-health/tuva-empi-backend:v0.2.0").await;
    assert!(
        completed(&migrate) <= created(&api_rs.metadata),
        "the api's new version started before its migration completed"
    );
    let api = Api::<Deployment>::namespaced(c.clone(), NS).get("api").await.unwrap();
    let api_ready = available_since(&api);
    for later in ["matching-service", "worker"] {
        let rs = replica_set(&c, later, "ghcr.io/tuva-health/tuva-empi-backend:v0.2.0").await;
        assert!(
            api_ready <= created(&rs.metadata),
            "{later} upgraded before the api was rolled out"
        );
    }
    let fe = replica_set(&c, "frontend", "ghcr.io/tuva-health/tuva-empi-frontend:v0.2.0").await;
    assert!(api_ready <= created(&fe.metadata));
    // issue #28: a rollout gives the worker and the matching service time to finish the job in
    // hand (upstream's export worker took 46 s to stop; Kubernetes' default is 30 s)
    for d in ["worker", "matching-service"] {
        let live = Api::<Deployment>::namespaced(c.clone(), NS).get(d).await.unwrap();
        let grace = live.spec.unwrap().template.spec.unwrap().termination_grace_period_seconds;
        assert!(grace.is_some_and(|g| g >= 60), "{d}: {grace:?}");
    }
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);

    // going back is refused: migrations do not run backwards
    w.write_stack(&[]);
    let back = w.run(&["plan"]);
    assert_eq!(back.code, 1, "{back:?}");
    assert!(
        back.stderr.contains(
            "from v0.2.0 back to v0.1.0, but its database migrations cannot run backwards"
        ),
        "{back:?}"
    );
    assert!(back.stderr.contains("--allow-downgrade"), "{back:?}");
    let allowed = w.ok(&["plan", "--allow-downgrade"]);
    assert!(allowed.stdout.contains("- workloads.worker"), "{allowed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migrate_stops_the_apply_shows_why_and_leaves_the_api_alone() {
    let failing = Node {
        fail_jobs: vec![(
            "migrate-v0-2-0".into(),
            "django.db.utils.ProgrammingError: relation \"empi_person\" does not exist".into(),
        )],
        ..Node::default()
    };
    let w = Workspace::with_node(&[], failing);
    w.ok(&["apply", "--auto-approve"]);
    w.write_stack(&[("version = \"v0.1.0\"", "version = \"v0.2.0\"")]);
    let r = w.run(&["apply", "--auto-approve"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(
            "workloads.migrate: waiting failed: JobFailed: job tuva-empi/migrate-v0-2-0 failed"
        ),
        "{r:?}"
    );
    assert!(
        r.stderr.contains("relation \"empi_person\" does not exist"),
        "the reason is shown: {r:?}"
    );
    // a failure that is not passing (unlike a young IRSA role) fails the Job once its retries
    // are spent: three pods, each failed
    let jobs: Api<Job> = Api::namespaced(w.cluster.client().await, NS);
    let migrate = jobs.get("migrate-v0-2-0").await.unwrap().status.unwrap();
    assert_eq!(migrate.failed, Some(3), "{migrate:?}");
    assert!(
        r.stderr.contains("not attempted because something they depend on failed: workloads.api"),
        "{r:?}"
    );
    let c = w.cluster.client().await;
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), NS);
    for d in ["api", "matching-service"] {
        assert_eq!(
            image(&deployments.get(d).await.unwrap()),
            "ghcr.io/tuva-health/tuva-empi-backend:v0.1.0",
            "{d} stays on its version"
        );
    }
    assert!(
        deployments.get_opt("worker").await.unwrap().is_none(),
        "the new version's worker waits for its migration"
    );
    assert_eq!(
        image(&deployments.get("frontend").await.unwrap()),
        "ghcr.io/tuva-health/tuva-empi-frontend:v0.1.0"
    );
    // the next plan retries the migration (the failed job is replaced), then upgrades
    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("+ workloads.migrate")
            || plan.stdout.contains("-/+ workloads.migrate"),
        "{plan:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_stuck_in_image_pull_backoff_fails_within_the_rollout_timeout_and_the_old_version_keeps_serving(
) {
    let node = Node { unpullable: vec!["tuva-empi-backend:v0.2.0".into()], ..Node::default() };
    let timeout = (
        "matching_job_runner = \"process\"",
        "matching_job_runner = \"process\"\nrollout_timeout = \"30s\"",
    );
    let w = Workspace::with_node(&[timeout], node);
    w.ok(&["apply", "--auto-approve"]);
    w.write_stack(&[timeout, ("version = \"v0.1.0\"", "version = \"v0.2.0\"")]);
    let t = std::time::Instant::now();
    let o = w.run(&["apply", "--auto-approve"]);
    let took = t.elapsed();
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        took < std::time::Duration::from_secs(30 + 45),
        "failed after {took:?}, not within the rollout timeout and a margin"
    );
    assert!(
        o.stderr.contains(
            "deployment tuva-empi/api made no progress for 30s (ProgressDeadlineExceeded"
        ),
        "{o:?}"
    );
    assert!(o.stderr.contains("container api is waiting: ImagePullBackOff"), "{o:?}");
    assert!(o.stderr.contains("the pods of the previous version keep serving"), "{o:?}");
    // the previous version still serves: its replica set is fully available, nothing after the api moved
    let c = w.cluster.client().await;
    let old = replica_set(&c, "api", "ghcr.io/tuva-health/tuva-empi-backend:v0.1.0").await;
    assert_eq!(old.status.as_ref().and_then(|s| s.available_replicas), Some(1), "{old:?}");
    let ms = Api::<Deployment>::namespaced(c.clone(), NS).get("matching-service").await.unwrap();
    assert_eq!(
        image(&ms),
        "ghcr.io/tuva-health/tuva-empi-backend:v0.1.0",
        "nothing after the api was rolled out"
    );
}

/// A main commit of upstream with the k8s job runner and `job_namespace` (docs/TUVA.md).
const HEAD: &str = "301608c7ac2f5fc422ec210cd5613a0496d468ba";

#[tokio::test(flavor = "multi_thread")]
async fn the_k8s_job_runner_makes_upstreams_calls_as_its_service_account_and_its_jobs_can_read_the_config(
) {
    use k8s_openapi::api::core::v1::{Pod, Secret};
    use kube::api::{DeleteParams, PostParams, WatchParams};

    let w = Workspace::new(&[
        ("version = \"v0.1.0\"", &format!("version = \"{HEAD}\"")),
        ("matching_job_runner = \"process\"", "matching_job_runner = \"k8s\""),
    ]);
    w.ok(&["apply", "--auto-approve"]);
    let st = w.state();

    // the config upstream's K8sJobRunnerConfig wants, and the version's whole schema
    let aws = w.aws().await;
    let cfg = common::config(&aws, "empi-local/tuva-empi-config").await;
    assert_eq!(
        cfg["matching_service"],
        serde_json::json!({"job_runner": "k8s", "k8s_job_runner": {"job_image_pull_policy": "IfNotPresent", "job_service_account_name": "matching-job", "job_namespace": NS}})
    );
    assert!(
        cfg["db"]["port"].is_string(),
        "upstream's validated config rejects a number: {}",
        cfg["db"]
    );
    let version = empi_engine::tuva::classify(HEAD).unwrap();
    assert_eq!(empi_engine::tuva::check_config(&version, &cfg), Ok(()));

    // the job pods' service account carries an IRSA role that may read the config secret, nothing else
    let c = w.cluster.client().await;
    let sa = Api::<ServiceAccount>::namespaced(c.clone(), NS).get("matching-job").await.unwrap();
    let role_arn = st["resources"]["iam.matching_job_role"]["outputs"]["arn"].as_str().unwrap();
    assert_eq!(sa.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"], role_arn);
    let role = aws.iam.get_role().role_name("empi-local-matching-job").send().await.unwrap();
    let trust = common::policy(role.role().unwrap().assume_role_policy_document().unwrap());
    assert!(
        trust.to_string().contains(&format!("system:serviceaccount:{NS}:matching-job")),
        "{trust}"
    );
    let inline = aws
        .iam
        .get_role_policy()
        .role_name("empi-local-matching-job")
        .policy_name("tuva-empi")
        .send()
        .await
        .unwrap();
    let doc = common::policy(inline.policy_document());
    let secret = st["resources"]["config.secret"]["outputs"]["arn"].as_str().unwrap();
    // reading the config secret, and the stack's key that encrypts it: nothing else
    let key = st["resources"]["security.kms_key"]["outputs"]["arn"].as_str().unwrap();
    assert_eq!(doc["Statement"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(
        (doc["Statement"][0]["Action"].as_str(), doc["Statement"][0]["Resource"].as_str()),
        (Some("secretsmanager:GetSecretValue"), Some(secret))
    );
    assert_eq!(
        (doc["Statement"][1]["Action"].clone(), doc["Statement"][1]["Resource"].as_str()),
        (serde_json::json!(["kms:Decrypt", "kms:GenerateDataKey"]), Some(key)),
        "{doc}"
    );

    // as the matching service: exactly the calls upstream's K8sJobRunner makes
    let kc = kube::config::Kubeconfig::read_from(&w.cluster.kubeconfig).unwrap();
    let mut conf = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    conf.auth_info.impersonate = Some(format!("system:serviceaccount:{NS}:matching-service"));
    let runner = kube::Client::try_from(conf).unwrap();
    let jobs: Api<Job> = Api::namespaced(runner.clone(), NS);
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "matching-job"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "serviceAccountName": "matching-job",
            "containers": [{"name": "matching-job", "image": format!("ghcr.io/tuva-health/tuva-empi-backend:{HEAD}"), "args": ["matching-job"]}]}}},
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.expect("create jobs");
    jobs.get("matching-job").await.expect("get jobs");
    assert_eq!(
        jobs.list(&ListParams::default().fields("metadata.name=matching-job"))
            .await
            .expect("list jobs")
            .items
            .len(),
        1
    );
    // watches, as the runner opens them (the server ends each after a second)
    let watch = |path: &str, wp: WatchParams| {
        let runner = runner.clone();
        let req = kube::core::Request::new(path).watch(&wp, "0").unwrap();
        async move { runner.request_text(req).await }
    };
    let jobs_watch = watch(
        &format!("/apis/batch/v1/namespaces/{NS}/jobs"),
        WatchParams::default().fields("metadata.name=matching-job").timeout(1),
    );
    assert!(jobs_watch.await.expect("watch jobs").contains("matching-job"));
    let pods: Api<Pod> = Api::namespaced(runner.clone(), NS);
    pods.list(&ListParams::default().labels("job-name=matching-job")).await.expect("list pods");
    watch(
        &format!("/api/v1/namespaces/{NS}/pods"),
        WatchParams::default().labels("job-name=matching-job").timeout(1),
    )
    .await
    .expect("watch pods");
    let not_found = |e: kube::Error| matches!(e, kube::Error::Api(ref s) if s.code == 404);
    assert!(
        not_found(pods.get("matching-job-none").await.unwrap_err()),
        "get pods is allowed (404, not 403)"
    );
    assert!(
        not_found(pods.logs("matching-job-none", &Default::default()).await.unwrap_err()),
        "get pods/log is allowed"
    );
    jobs.delete("matching-job", &DeleteParams::foreground()).await.expect("delete jobs");
    // and nothing more
    let forbidden = |e: kube::Error| matches!(e, kube::Error::Api(ref s) if s.code == 403);
    assert!(
        forbidden(
            Api::<Secret>::namespaced(runner.clone(), NS)
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        "no secrets"
    );
    assert!(
        forbidden(
            Api::<Job>::namespaced(runner.clone(), "default")
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        "only its job namespace"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_24_a_namespace_labelled_only_managed_by_empi_infra_is_neither_taken_over_nor_deleted(
) {
    use k8s_openapi::api::core::v1::Namespace;
    // another team's namespace under the stack's namespace name, carrying only the generic label
    // that releases before the stack label put on objects: it names no stack
    let w = Workspace::new(&[]);
    let c = w.cluster.client().await;
    let namespaces: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": NS, "labels": {"app.kubernetes.io/managed-by": "empi-infra"}}
    }))
    .unwrap();
    namespaces.create(&Default::default(), &ns).await.unwrap();
    let theirs: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "team-data"}, "data": {"k": "v"}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(c.clone(), NS).create(&Default::default(), &theirs).await.unwrap();

    let applied = w.run(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 1, "{applied:?}");
    assert!(
        applied.stderr.contains(&format!("Namespace {NS} exists but is not provably this stack's")),
        "{applied:?}"
    );
    assert!(
        w.state()["resources"].get("workloads.namespace").is_none(),
        "not recorded: {}",
        w.state()["resources"]
    );
    w.ok(&["destroy", "--auto-approve"]);
    let left = namespaces.get(NS).await.unwrap();
    assert!(left.metadata.deletion_timestamp.is_none(), "the namespace was deleted");
    assert_eq!(
        left.metadata.labels.unwrap_or_default().get("empi-infra/stack"),
        None,
        "and was not labelled as the stack's"
    );
    let cm = Api::<ConfigMap>::namespaced(c, NS).get("team-data").await.unwrap();
    assert_eq!(cm.data.unwrap()["k"], "v");
}

/// Issue #28: a Tuva EMPI version's migrations run only once the database has a manual snapshot
/// taken before them (the way back a refused downgrade names); the last
/// `[database] keep_upgrade_snapshots` are kept and older ones empi-infra made are deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_change_snapshots_the_database_before_its_migrations_and_keeps_the_last_ones() {
    let keep_one = ("[database]", "[database]\nkeep_upgrade_snapshots = 1");
    let w = Workspace::new(&[keep_one]);
    // a snapshot takes a while, as on RDS: a migrate Job that did not wait for it would start
    // before it is available
    w.moto.realism(r#"{"rds_snapshot_seconds": 4}"#);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let snapshots = || async {
        let r = aws.rds.describe_db_snapshots().snapshot_type("manual").send().await.unwrap();
        r.db_snapshots()
            .iter()
            .map(|s| {
                (
                    s.db_snapshot_identifier().unwrap().to_string(),
                    s.snapshot_create_time().unwrap().secs(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(snapshots().await.is_empty(), "a first apply has nothing to keep");

    w.write_stack(&[keep_one, ("version = \"v0.1.0\"", "version = \"v0.2.0\"")]);
    let plan = w.ok(&["plan"]);
    assert!(
        plan.stdout.contains("before v0.2.0's migrations run, the database is snapshotted as empi-local-db-pre-v0-2-0"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("+ database.upgrade_snapshot[v0.2.0]"), "{plan:?}");
    w.ok(&["apply", "--auto-approve"]);
    let taken = snapshots().await;
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].0, "empi-local-db-pre-v0-2-0");
    let jobs: Api<Job> = Api::namespaced(w.cluster.client().await, NS);
    let migrate = jobs.get("migrate-v0-2-0").await.unwrap();
    let created = migrate.metadata.creation_timestamp.unwrap().0.as_second();
    assert!(
        created >= taken[0].1 + 3,
        "the migrate Job ({created}) was created before the snapshot ({}) was available",
        taken[0].1
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");

    // going back is refused naming the snapshot to restore; allowed, it is a version change too:
    // a snapshot before it, and the older one (keep 1) deleted
    w.write_stack(&[keep_one]);
    let back = w.run(&["plan"]);
    assert_eq!(back.code, 1, "{back:?}");
    assert!(
        back.stderr.contains("go back only after restoring the snapshot empi-local-db-pre-v0-2-0 (taken before v0.2.0's migrations ran)"),
        "{back:?}"
    );
    w.ok(&["apply", "--auto-approve", "--allow-downgrade"]);
    let after = snapshots().await;
    assert_eq!(
        after.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        ["empi-local-db-pre-v0-1-0"],
        "{after:?}"
    );
}

/// The PodDisruptionBudgets of a namespace, by name, as the API server answers them. (The local
/// kube-apiserver is 1.20, which serves them as policy/v1beta1 only; empi-infra sends policy/v1 to
/// a server that has it, as every EKS version does.)
async fn disruption_budgets(
    c: &kube::Client,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    let gvk = GroupVersionKind::gvk("policy", "v1beta1", "PodDisruptionBudget");
    let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), NS, &ApiResource::from_gvk(&gvk));
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| (o.metadata.name.clone().unwrap(), serde_json::to_value(&o).unwrap()))
        .collect()
}

/// Issue #28: node rotation (an EKS node group update drains each node) keeps the application up:
/// a Deployment of two or more replicas has a PodDisruptionBudget that lets a drain take one pod at
/// a time; one of a single replica has none, which would keep EKS from draining its node.
#[tokio::test(flavor = "multi_thread")]
async fn deployments_of_two_or_more_replicas_lose_at_most_one_pod_to_a_drain() {
    let w =
        Workspace::new(&[("api_replicas = 1", "api_replicas = 2\nmatching_service_replicas = 2")]);
    w.ok(&["apply", "--auto-approve"]);
    let c = w.cluster.client().await;
    let pdbs = disruption_budgets(&c).await;
    assert_eq!(
        pdbs.keys().collect::<Vec<_>>(),
        ["api", "matching-service"],
        "the frontend has one replica"
    );
    for (name, pdb) in &pdbs {
        assert_eq!(pdb["spec"]["maxUnavailable"], 1, "{pdb}");
        assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], name.as_str());
    }
    // the disruption controller finds each budget's pods: the selector is the Deployment's
    for name in ["api", "matching-service"] {
        let mut seen = serde_json::Value::Null;
        for _ in 0..100 {
            seen = disruption_budgets(&c).await[name]["status"].clone();
            if seen["expectedPods"] == 2 && seen["disruptionsAllowed"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            (&seen["expectedPods"], &seen["disruptionsAllowed"]),
            (&2.into(), &1.into()),
            "{name}: {seen}"
        );
    }
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0, "a no-op plan follows");
    // back to one api replica: its budget goes
    w.write_stack(&[("api_replicas = 1", "api_replicas = 1\nmatching_service_replicas = 2")]);
    w.ok(&["apply", "--auto-approve"]);
    assert_eq!(disruption_budgets(&c).await.keys().collect::<Vec<_>>(), ["matching-service"]);
}
