//! A run that loses its state lock in the middle of an apply sends no further cloud call and writes
//! no further state (the engine's side of the S3 backend's fencing, against the memory cloud).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use empi_engine::exec::{ExecOptions, Progress};
use empi_engine::graph::ResourceGraph;
use empi_engine::ops;
use empi_engine::resource::{Expr, ResourceSpec};
use empi_engine::state::{HeldLock, LocalBackend, LockInfo, State, StateError, StateStore};
use empi_engine::testing::{MemoryCloud, KIND};
use serde_json::json;

/// The local backend, with a lock that is lost once `lost` is set (as the S3 lock is when it is
/// broken or its lease passes).
struct Store {
    local: LocalBackend,
    lost: AtomicBool,
}

#[async_trait::async_trait]
impl StateStore for Store {
    fn location(&self) -> String {
        self.local.location()
    }
    async fn load(&self) -> Result<State, StateError> {
        self.local.load()
    }
    async fn save(&self, state: &State) -> Result<(), StateError> {
        self.local.save(state)
    }
    async fn record(&self, state: &State, address: &str) -> Result<(), StateError> {
        self.local.record(state, address)
    }
    async fn lock(&self, operation: &str) -> Result<Box<dyn HeldLock>, StateError> {
        Ok(Box::new(self.local.lock(operation)?))
    }
    async fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.local.lock_holder()
    }
    async fn unlock(&self, id: &str) -> Result<LockInfo, StateError> {
        self.local.unlock(id)
    }
    fn fence(&self) -> Result<(), StateError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(StateError::LockLost {
                id: "77aa".into(),
                why: "its lease ran out before this run could renew it".into(),
            });
        }
        Ok(())
    }
}

/// Progress that loses the lock when `trigger` is said, noting how many calls the cloud had then.
struct LoseAt {
    trigger: &'static str,
    store: Arc<Store>,
    cloud: MemoryCloud,
    calls_then: AtomicUsize,
    lines: Mutex<Vec<String>>,
}

impl Progress for LoseAt {
    fn line(&self, t: &str) {
        if t == self.trigger && !self.store.lost.swap(true, Ordering::SeqCst) {
            self.calls_then.store(self.cloud.calls().len(), Ordering::SeqCst);
        }
        self.lines.lock().unwrap().push(t.to_string());
    }
}

fn thing(addr: &str, parent: Option<&str>) -> ResourceSpec {
    let s = ResourceSpec::new(addr, KIND, &format!("name-{addr}"))
        .input("value", "v1")
        .input("size", 1u32)
        .input(
            "tags",
            json!({"empi-infra:stack": "s", "empi-infra:region": "r", "empi-infra:address": addr}),
        );
    match parent {
        Some(p) => s.input("parent", Expr::r(p, "id")),
        None => s,
    }
}

#[tokio::test]
async fn a_run_that_lost_its_lock_sends_no_further_call_and_writes_no_further_state() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = MemoryCloud::new(Duration::from_millis(5), Duration::from_millis(150));
    let store = Arc::new(Store { local: LocalBackend::new(dir.path(), "s"), lost: false.into() });
    // a chain a → b → c: the lock is lost as b is about to be created
    let specs = vec![thing("a", None), thing("b", Some("a")), thing("c", Some("b"))];
    let g = ResourceGraph::new(specs).unwrap();
    let st = store.load().await.unwrap();
    let plan = ops::make_plan(&g, &cloud.registry(), &st, true, 10, "d").await.unwrap();
    let progress = Arc::new(LoseAt {
        trigger: "b: creating…",
        store: store.clone(),
        cloud: cloud.clone(),
        calls_then: AtomicUsize::new(usize::MAX),
        lines: Mutex::new(vec![]),
    });
    let opts = ExecOptions {
        poll_min: Duration::from_millis(5),
        poll_max: Duration::from_millis(20),
        ..ExecOptions::default()
    };
    let refused = ops::apply(&plan, &cloud.registry(), store.clone(), st, opts, progress.clone())
        .await
        .err()
        .expect("the run stops");
    assert!(
        refused.to_string().starts_with("this run no longer holds the state lock 77aa"),
        "{refused}"
    );
    let lines = progress.lines.lock().unwrap().join("\n");
    assert!(lines.contains("b: error: this run no longer holds the state lock 77aa"), "{lines}");
    // not one call after the loss: b is not created, c not started
    let then = progress.calls_then.load(Ordering::SeqCst);
    assert_ne!(then, usize::MAX, "the lock was lost during the run:\n{lines}");
    let after: Vec<_> =
        cloud.calls().into_iter().skip(then).map(|c| format!("{} {}", c.op, c.name)).collect();
    assert!(after.is_empty(), "calls after the lock was lost: {after:?}");
    let names: Vec<String> = cloud.objects().values().map(|o| o.name.clone()).collect();
    assert!(
        !names.contains(&"name-b".to_string()) && !names.contains(&"name-c".to_string()),
        "{names:?}"
    );
    // the state holds what was written before the loss: a, and b's intent
    let st = LocalBackend::new(dir.path(), "s").load().unwrap();
    assert!(
        st.resources["a"].id.is_some()
            && st.resources["b"].id.is_none()
            && !st.resources.contains_key("c"),
        "{st:?}"
    );
}
