//! Engine overhead at scale, with the in-process memory cloud (no network): plan and apply time per
//! resource, the cost of recording one operation in state as the state grows, and peak memory.
//!
//! Run: `cargo run --release -p empi-engine --example bench_engine` (figures: docs/PERFORMANCE.md)

use std::sync::Arc;
use std::time::{Duration, Instant};

use empi_engine::exec::{ExecOptions, Progress};
use empi_engine::graph::ResourceGraph;
use empi_engine::ops;
use empi_engine::resource::{Expr, ResourceSpec};
use empi_engine::state::{LocalBackend, ResourceState, State, Status};
use empi_engine::testing::{MemoryCloud, KIND};

struct Quiet;
impl Progress for Quiet {
    fn line(&self, _: &str) {}
}

/// `n` resources; each depends on one earlier resource (a wide, shallow graph like a real stack).
fn specs(n: usize) -> Vec<ResourceSpec> {
    let mut seed = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|i| {
            let mut s = ResourceSpec::new(&format!("r{i}"), KIND, &format!("name-{i}"))
                .input("value", "v1")
                .input("size", 1u32);
            if i > 0 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let dep = (seed % i as u64) as usize;
                s = s.input("parent", Expr::r(&format!("r{dep}"), "id"));
            }
            s
        })
        .collect()
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn per(d: Duration, n: usize) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6 / n as f64)
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
    let registry = cloud.registry();
    let backend = LocalBackend::new(dir.path(), "bench");
    let graph = ResourceGraph::new(specs(n)).unwrap();
    let opts = ExecOptions {
        parallelism: 64,
        poll_min: Duration::from_micros(100),
        poll_max: Duration::from_millis(1),
        ..ExecOptions::default()
    };

    let t = Instant::now();
    let plan =
        ops::make_plan(&graph, &registry, &backend.load().unwrap(), true, 64, "d").await.unwrap();
    let plan_empty = t.elapsed();

    let t = Instant::now();
    let (report, _) = ops::apply(
        &plan,
        &registry,
        Arc::new(backend.clone()),
        backend.load().unwrap(),
        opts.clone(),
        Arc::new(Quiet),
    )
    .await
    .unwrap();
    let apply = t.elapsed();
    assert!(report.ok(), "{:?}", report.failed.first());

    let t = Instant::now();
    let state = backend.load().unwrap();
    let load = t.elapsed();
    let t = Instant::now();
    let noop = ops::make_plan(&graph, &registry, &state, true, 64, "d").await.unwrap();
    let plan_noop = t.elapsed();
    assert!(!noop.has_changes());

    // recording one operation as the state holds n resources: journal append vs whole document
    let mut st: State = state.clone();
    let t = Instant::now();
    let k = 200;
    for i in 0..k {
        st.serial += 1;
        st.resources.insert(
            format!("r{}", i % n),
            ResourceState {
                kind: KIND.into(),
                name: "x".into(),
                id: Some("i".into()),
                status: Status::Created,
                attrs: Default::default(),
                outputs: Default::default(),
                depends_on: vec![],
            },
        );
        backend.record(&st, &format!("r{}", i % n)).unwrap();
    }
    let record = t.elapsed() / k as u32;
    let t = Instant::now();
    backend.save(&st).unwrap();
    let full = t.elapsed();
    let size = std::fs::metadata(&backend.path).map(|m| m.len()).unwrap_or(0);

    println!("{n:>6} resources:");
    println!(
        "  plan (empty state, all creates)   {:>10.1} ms  ({} per resource)",
        plan_empty.as_secs_f64() * 1e3,
        per(plan_empty, n)
    );
    println!(
        "  apply (create all)                {:>10.1} ms  ({} per resource)",
        apply.as_secs_f64() * 1e3,
        per(apply, n)
    );
    println!("  load state                        {:>10.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "  no-op plan (refresh + diff)       {:>10.1} ms  ({} per resource)",
        plan_noop.as_secs_f64() * 1e3,
        per(plan_noop, n)
    );
    println!("  record one operation (journal)    {:>10.3} ms", record.as_secs_f64() * 1e3);
    println!(
        "  write the whole document          {:>10.3} ms  ({:.1} MB)",
        full.as_secs_f64() * 1e3,
        size as f64 / 1e6
    );
    println!("  peak memory so far                {:>10.1} MB", peak_rss_mb());
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!(
        "empi-engine overhead (in-process cloud, {} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for n in [1_000, 10_000] {
        run(n).await;
    }
    redaction();
}

/// What looking for 50 secrets (in every form `redact` knows) costs per MB of text: linear in the
/// text, so that a large plan, log or drift report is redacted in proportion to its size.
fn redaction() {
    let secrets: Vec<String> = (0..50).map(|i| format!("Xq7-bench-secret-value-{i:02}")).collect();
    let s = empi_engine::redact::Secrets::of(&secrets);
    let line = "all work and no play makes jack a dull boy ";
    let mut per_mb = vec![];
    for reps in [12_500, 25_000, 50_000] {
        let text = line.repeat(reps);
        let t0 = Instant::now();
        assert!(!s.contains(&text));
        let took = t0.elapsed();
        let mb = text.len() as f64 / 1e6;
        per_mb.push(took.as_secs_f64() / mb);
        println!(
            "redaction, 50 secrets, {mb:.2} MB of text: {took:?} ({:.1} ms/MB)",
            1e3 * took.as_secs_f64() / mb
        );
    }
    println!(
        "redaction cost per MB, 2 MB against 0.5 MB: {:.2}× (1.0 is linear)",
        per_mb[2] / per_mb[0]
    );
}
