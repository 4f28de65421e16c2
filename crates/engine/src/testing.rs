//! An in-process cloud for the engine's own tests and benchmarks (graph, planner, executor,
//! state). It is never the proof that an AWS feature works: those tests run against moto.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use crate::resource::{
    AttrSchema, Attrs, ErrorClass, Observed, Operation, Propagation, ProviderError, ProviderResult,
    Readiness, Registry, Resource, Schema, Ty,
};

/// The kind the memory cloud serves: `value` updates in place, `size` forces replacement.
pub const KIND: &str = "test_thing";

static SCHEMA: Schema = Schema::new(
    KIND,
    &[
        AttrSchema::new("value", Ty::Any),
        AttrSchema::new("size", Ty::Any).force_new(),
        AttrSchema::new("parent", Ty::Any),
        AttrSchema::new("secret", Ty::Any).write_only(),
        // the ownership tags, as AWS kinds carry them (`crate::ownership`)
        AttrSchema::new("tags", Ty::Any),
    ],
    &["id"],
)
.typical(1)
.propagation(&[Propagation {
    code: "NotYet",
    message: "",
    waiting_for: "the parent is not visible yet",
}]);

#[derive(Debug, Clone)]
pub struct Object {
    pub name: String,
    pub address: String,
    pub attrs: Attrs,
    pub ready_at: Instant,
}

/// One call the cloud received, with when it started and ended.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: &'static str,
    pub name: String,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Object>,
    next: u64,
    calls: Vec<Call>,
    in_flight: usize,
    max_in_flight: usize,
}

/// The memory cloud.
#[derive(Clone, Default)]
pub struct MemoryCloud {
    inner: Arc<Mutex<Inner>>,
    /// How long each API call takes.
    pub call_time: Duration,
    /// How long an object takes to become ready after create.
    pub ready_after: Duration,
    /// Names whose create fails.
    pub fail_create: Arc<Mutex<Vec<String>>>,
    /// How many of the next creates fail with an error that passes (like IAM propagation).
    pub not_yet: Arc<Mutex<u32>>,
    /// Ids whose delete is refused (like a deletion-protected database).
    pub fail_delete: Arc<Mutex<Vec<String>>>,
}

impl MemoryCloud {
    pub fn new(call_time: Duration, ready_after: Duration) -> Self {
        MemoryCloud { call_time, ready_after, ..Default::default() }
    }
    pub fn registry(&self) -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(self.clone()));
        r
    }
    pub fn objects(&self) -> BTreeMap<String, Object> {
        self.inner.lock().unwrap().objects.clone()
    }
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }
    /// Changes an object behind the engine's back.
    pub fn tamper(&self, id: &str, key: &str, v: Value) {
        self.inner.lock().unwrap().objects.get_mut(id).unwrap().attrs.insert(key.into(), v);
    }
    pub fn remove(&self, id: &str) {
        self.inner.lock().unwrap().objects.remove(id);
    }

    async fn call<T>(&self, op: &'static str, name: &str, f: impl FnOnce(&mut Inner) -> T) -> T {
        let start = Instant::now();
        {
            let mut i = self.inner.lock().unwrap();
            i.in_flight += 1;
            i.max_in_flight = i.max_in_flight.max(i.in_flight);
        }
        if !self.call_time.is_zero() {
            tokio::time::sleep(self.call_time).await;
        }
        let mut i = self.inner.lock().unwrap();
        i.in_flight -= 1;
        // the call ends as its effect happens (a create's object is ready `ready_after` later)
        let end = Instant::now();
        let r = f(&mut i);
        i.calls.push(Call { op, name: name.to_string(), start, end });
        r
    }
}

#[async_trait]
impl Resource for MemoryCloud {
    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    async fn find(
        &self,
        name: &str,
        _address: &str,
        _inputs: &Attrs,
    ) -> ProviderResult<Option<String>> {
        Ok(self
            .call("find", name, |i| {
                i.objects.iter().find(|(_, o)| o.name == name).map(|(id, _)| id.clone())
            })
            .await)
    }

    async fn read(&self, id: &str, _recorded: &Attrs) -> ProviderResult<Option<Observed>> {
        Ok(self
            .call("read", id, |i| {
                i.objects.get(id).map(|o| {
                    let mut attrs = o.attrs.clone();
                    attrs.remove("secret");
                    Observed {
                        attrs,
                        outputs: Attrs::from([("id".to_string(), Value::String(id.to_string()))]),
                    }
                })
            })
            .await)
    }

    async fn create(&self, name: &str, address: &str, inputs: &Attrs) -> ProviderResult<String> {
        if self.fail_create.lock().unwrap().iter().any(|n| n == name) {
            return Err(ProviderError::coded(
                "AccessDenied",
                format!("not allowed to create {name}"),
            ));
        }
        {
            let mut n = self.not_yet.lock().unwrap();
            if *n > 0 {
                *n = n.saturating_sub(1);
                return Err(ProviderError::coded("NotYet", "the parent is not visible here yet")
                    .with_class(ErrorClass::Propagation));
            }
        }
        let ready_after = self.ready_after;
        Ok(self
            .call("create", name, |i| {
                // ready `ready_after` from the create itself, however late the call's sleep ended
                let ready_at = Instant::now() + ready_after;
                i.next += 1;
                let id = format!("thing-{}", i.next);
                i.objects.insert(
                    id.clone(),
                    Object {
                        name: name.into(),
                        address: address.into(),
                        attrs: inputs.clone(),
                        ready_at,
                    },
                );
                id
            })
            .await)
    }

    async fn update(
        &self,
        id: &str,
        _old: &Attrs,
        new: &Attrs,
        changed: &[String],
    ) -> ProviderResult<()> {
        self.call("update", id, |i| {
            let o = i
                .objects
                .get_mut(id)
                .ok_or_else(|| ProviderError::coded("NotFound", id.to_string()))?;
            for k in changed {
                if k == "size" {
                    return Err(ProviderError::new("size cannot be updated in place"));
                }
                if let Some(v) = new.get(k) {
                    o.attrs.insert(k.clone(), v.clone());
                }
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, id: &str, _recorded: &Attrs) -> ProviderResult<()> {
        if self.fail_delete.lock().unwrap().iter().any(|n| n == id) {
            return Err(ProviderError::coded("DeletionProtection", format!("{id} is protected")));
        }
        self.call("delete", id, |i| {
            i.objects.remove(id);
        })
        .await;
        Ok(())
    }

    async fn wait(&self, id: &str, op: Operation, _recorded: &Attrs) -> ProviderResult<Readiness> {
        let ready_at = self.inner.lock().unwrap().objects.get(id).map(|o| o.ready_at);
        Ok(match (op, ready_at) {
            (Operation::Delete, None) => Readiness::Ready,
            (Operation::Delete, Some(_)) => Readiness::Pending("deleting".into()),
            (_, Some(t)) if Instant::now() < t => Readiness::Pending("creating".into()),
            _ => Readiness::Ready,
        })
    }
}
