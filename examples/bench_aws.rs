//! Apply at the critical path, and reads per resource, against moto and a real kube-apiserver.
//!
//! Run: `cargo build && cargo run --example bench_aws` (figures: docs/PERFORMANCE.md). The EKS
//! cluster, node group and RDS instance are made slow with moto transitions, and the local cloud's
//! realistic mode is on (IAM propagation, ALB provisioning, WAF lag…); the apply's wall time is
//! compared with the graph's critical path computed from what each resource took, the cost of the
//! retried IAM propagation error is measured against the moment the role became assumable, and the
//! API requests of a no-op `plan` and of `drift` are counted in moto's request log.

#[path = "../tests/it/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::time::Instant;

use common::Workspace;
use empi_engine::graph::ResourceGraph;
use empi_engine::stack::Stack;

const EKS: f64 = 8.0;
const NODES: f64 = 4.0;
const RDS: f64 = 6.0;
/// How long the local cloud keeps a new IAM role unassumable by EKS.
const IAM_PROPAGATION: f64 = 3.0;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let w = Workspace::new(&[]);
    w.moto.slow("eks::cluster", EKS);
    w.moto.slow("eks::nodegroup", NODES);
    w.moto.slow("rds::dbinstance", RDS);
    w.moto.realism(&format!(r#"{{"iam_propagation_seconds": {IAM_PROPAGATION}}}"#));

    // moto loads each service's backend on its first call (~0.9 s each): warm them as a user's
    // `plan` before `apply` would, so that the figure is empi-infra's, not moto's start-up
    w.ok(&["plan"]);
    let aws = w.aws().await;
    let _ = aws.iam.list_roles().send().await;
    let _ = aws.rds.describe_db_instances().send().await;
    let _ = aws.cognito.list_user_pools().max_results(1).send().await;
    let _ = aws.elb.describe_load_balancers().send().await;
    let _ = aws.wafv2.list_web_acls().scope(aws_sdk_wafv2::types::Scope::Regional).send().await;
    let _ = aws.secrets.list_secrets().send().await;
    let _ = aws.s3.list_buckets().send().await;
    let _ = aws.autoscaling.describe_auto_scaling_groups().send().await;

    let t = Instant::now();
    let applied = w.ok(&["apply", "--auto-approve"]);
    let wall = t.elapsed().as_secs_f64();
    if std::env::var_os("BENCH_SHOW_APPLY").is_some() {
        eprintln!("{}", applied.stderr);
    }
    let state = empi_engine::state::LocalBackend::new(&w.dir.path().join("state"), "empi-local")
        .load()
        .unwrap();

    // the critical path of the graph, each resource taking what its kind took in this apply
    let stack = Stack::load(&w.stack()).unwrap();
    let graph = ResourceGraph::new(empi_engine::blueprint::expand(&stack, "123456789012")).unwrap();
    let took = |kind: &str| {
        state
            .facts
            .get(&empi_engine::plan::duration_fact(kind, "create"))
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
    };
    let mut finish: std::collections::BTreeMap<String, (f64, Vec<String>)> = Default::default();
    for spec in graph.topological() {
        let (start, mut path) = spec
            .dependencies()
            .iter()
            .filter_map(|d| finish.get(d))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .cloned()
            .unwrap_or((0.0, vec![]));
        path.push(spec.address.clone());
        finish.insert(spec.address.clone(), (start + took(&spec.kind), path));
    }
    let (critical, path) = finish.values().max_by(|a, b| a.0.total_cmp(&b.0)).cloned().unwrap();
    let slow_bound = EKS + NODES; // the transitions alone along network → cluster → nodes

    // the retried propagation error: when EKS accepted the cluster, against when its role became assumable
    let role = aws.iam.get_role().role_name("empi-local-eks-cluster").send().await.unwrap();
    let role_created = role.role().unwrap().create_date().as_secs_f64();
    let cluster = aws.eks.describe_cluster().name("empi-local").send().await.unwrap();
    let cluster_created = cluster.cluster().unwrap().created_at().unwrap().as_secs_f64();
    let late = cluster_created - (role_created + IAM_PROPAGATION);

    // waiter overhead: measured duration minus the made-up transition
    let overhead =
        [("aws_eks_cluster", EKS), ("aws_eks_node_group", NODES), ("aws_db_instance", RDS)]
            .map(|(k, t)| (k, took(k) - t));

    // reads of a no-op plan and of drift
    let aws_resources = state.resources.values().filter(|r| r.kind.starts_with("aws_")).count();
    let k8s_resources = state.resources.len() - aws_resources;
    let before = w.moto.requests();
    let t = Instant::now();
    let plan = w.run(&["plan", "--detailed-exitcode"]);
    let plan_time = t.elapsed().as_secs_f64();
    assert_eq!(plan.code, 0, "{plan:?}");
    let plan_requests = w.moto.requests() - before;
    let before = w.moto.requests();
    let t = Instant::now();
    let drift = w.run(&["drift"]);
    let drift_time = t.elapsed().as_secs_f64();
    assert_eq!(drift.code, 0, "{drift:?}");
    let drift_requests = w.moto.requests() - before;

    println!(
        "apply against moto (EKS {EKS}s, node group {NODES}s, RDS {RDS}s), {} resources",
        state.resources.len()
    );
    println!("  apply wall time                      {wall:>6.1} s");
    println!(
        "  critical path (measured durations)   {critical:>6.1} s   ratio {:.2}",
        wall / critical
    );
    println!(
        "  critical path (transitions alone)    {slow_bound:>6.1} s   ratio {:.2}",
        wall / slow_bound
    );
    println!("  path: {}", path.join(" → "));
    println!(
        "  IAM propagation ({IAM_PROPAGATION}s): EKS accepted the cluster {late:+.2} s after its role became assumable (retry steps: 1, 1.5, 2.25, 3.4 s…)"
    );
    for (k, o) in overhead {
        println!("  waiter overhead {k:<22} {o:>+6.2} s");
    }
    println!("no-op plan: {plan_requests} AWS requests for {aws_resources} AWS resources ({:.2} per resource) + {k8s_resources} Kubernetes GETs, {plan_time:.2} s", plan_requests as f64 / aws_resources as f64);
    println!("drift:      {drift_requests} AWS requests for {aws_resources} AWS resources ({:.2} per resource) + {k8s_resources} Kubernetes GETs, {drift_time:.2} s", drift_requests as f64 / aws_resources as f64);
}
