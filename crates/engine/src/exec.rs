//! The step executor: turns a plan into create/update/delete steps, runs them in dependency order
//! and in parallel (a slot is held only while a cloud call is in flight, never while waiting),
//! waits with backoff, reports progress, and records every finished operation in state at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use tokio::sync::Semaphore;

use crate::plan::{Action, Plan, ResourceChange};
use crate::resource::{Attrs, Operation, ProviderError, Readiness, Registry, Resource};
use crate::state::{ResourceState, StateError, StateWriter, Status};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Cloud calls in flight at once.
    pub parallelism: usize,
    /// How often `still creating…` lines are printed.
    pub progress_every: Duration,
    /// First and longest pause between readiness polls.
    pub poll_min: Duration,
    pub poll_max: Duration,
    /// Set (by a signal handler) to stop starting operations and stop waiting; what is in flight is
    /// recorded, the next run resumes it.
    pub stop: Arc<AtomicBool>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 10,
            progress_every: Duration::from_secs(10),
            poll_min: Duration::from_millis(250),
            // a waiter adds at most about a second to a resource's real duration
            poll_max: Duration::from_secs(1),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Where progress goes (stderr in the CLI; collected in tests).
pub trait Progress: Send + Sync {
    fn line(&self, text: &str);
}

/// Prints progress to stderr.
pub struct StderrProgress;
impl Progress for StderrProgress {
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// `1m10s`, `9s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{address}: {op} failed: {source}")]
    Provider { address: String, op: &'static str, source: ProviderError },
    #[error("{address}: {0}", address = .1)]
    Internal(String, String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}: interrupted while waiting; the next run resumes it")]
    Interrupted(String),
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub done: Vec<(String, Action)>,
    pub failed: Vec<StepError>,
    /// Not attempted because something they depend on failed.
    pub skipped: Vec<String>,
    pub elapsed: Duration,
    /// Stopped by a signal before everything was done.
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StepKind {
    Apply,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Step {
    change: usize,
    kind: StepKind,
}

struct Ctx {
    registry: Registry,
    writer: Arc<StateWriter>,
    opts: ExecOptions,
    slots: Arc<Semaphore>,
    outputs: Mutex<HashMap<String, Attrs>>,
    progress: Arc<dyn Progress>,
}

/// Runs `plan`, recording into `writer`.
pub async fn apply(
    plan: &Plan,
    registry: &Registry,
    writer: Arc<StateWriter>,
    opts: ExecOptions,
    progress: Arc<dyn Progress>,
) -> ApplyReport {
    let started = Instant::now();
    let snapshot = writer.snapshot().await;
    let outputs = snapshot.resources.iter().map(|(a, r)| (a.clone(), r.outputs.clone())).collect();
    let ctx = Arc::new(Ctx {
        registry: registry.clone(),
        writer,
        slots: Arc::new(Semaphore::new(opts.parallelism.max(1))),
        opts,
        outputs: Mutex::new(outputs),
        progress,
    });

    // steps and their order
    let by_addr: HashMap<&str, usize> = plan.changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
    let mut steps: Vec<Step> = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if matches!(c.action, Action::Delete | Action::Replace) {
            steps.push(Step { change: i, kind: StepKind::Delete });
        }
        if matches!(c.action, Action::Create | Action::Update | Action::Replace) {
            steps.push(Step { change: i, kind: StepKind::Apply });
        }
    }
    let has: HashSet<Step> = steps.iter().copied().collect();
    let mut after: HashMap<Step, Vec<Step>> = HashMap::new(); // step -> steps that must wait for it
    let mut edge = |from: Step, to: Step| {
        if has.contains(&from) && has.contains(&to) && from != to {
            after.entry(from).or_default().push(to);
        }
    };
    for (i, c) in plan.changes.iter().enumerate() {
        let apply = Step { change: i, kind: StepKind::Apply };
        let delete = Step { change: i, kind: StepKind::Delete };
        edge(delete, apply);
        if let Some(spec) = &c.spec {
            for d in spec.dependencies() {
                if let Some(&j) = by_addr.get(d.as_str()) {
                    edge(Step { change: j, kind: StepKind::Apply }, apply);
                }
            }
        }
        // a delete waits for the deletes of what depends on it, and for updates that stop using it
        for dep in snapshot.resources.get(&c.address).map(|r| r.depends_on.clone()).unwrap_or_default() {
            if let Some(&j) = by_addr.get(dep.as_str()) {
                edge(delete, Step { change: j, kind: StepKind::Delete });
                let still_used = c.spec.as_ref().is_some_and(|s| s.dependencies().contains(&dep));
                if c.action == Action::Update && !still_used {
                    edge(apply, Step { change: j, kind: StepKind::Delete });
                }
            }
        }
    }
    let mut waiting_on: HashMap<Step, usize> = steps.iter().map(|s| (*s, 0)).collect();
    for tos in after.values() {
        for t in tos {
            *waiting_on.get_mut(t).unwrap() += 1;
        }
    }

    let mut report = ApplyReport::default();
    let mut blocked: HashSet<Step> = HashSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready: Vec<Step> = steps.iter().copied().filter(|s| waiting_on[s] == 0).collect();
    let changes = Arc::new(plan.changes.clone());
    loop {
        if ctx.opts.stop.load(Ordering::SeqCst) {
            // nothing new starts; what waits on it is not attempted
            for s in ready.drain(..) {
                let mut stack = vec![s];
                blocked.insert(s);
                while let Some(x) = stack.pop() {
                    for t in after.get(&x).cloned().unwrap_or_default() {
                        if blocked.insert(t) {
                            stack.push(t);
                        }
                    }
                }
            }
        }
        for s in ready.drain(..) {
            let (ctx, changes) = (ctx.clone(), changes.clone());
            tasks.spawn(async move {
                let c = &changes[s.change];
                let r = match s.kind {
                    StepKind::Apply => apply_step(&ctx, c).await,
                    StepKind::Delete => delete_step(&ctx, c).await,
                };
                (s, r)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (step, result) = joined.expect("step task panicked");
        let c = &plan.changes[step.change];
        let succeeded = match result {
            Ok(()) => {
                if step.kind == StepKind::Apply || c.action == Action::Delete {
                    report.done.push((c.address.clone(), c.action));
                }
                true
            }
            Err(e) => {
                ctx.progress.line(&format!("{}: error: {e}", c.address));
                report.failed.push(e);
                false
            }
        };
        // release or block what waits on it
        let mut stack = vec![(step, succeeded)];
        while let Some((s, ok)) = stack.pop() {
            for t in after.get(&s).cloned().unwrap_or_default() {
                if !ok {
                    if blocked.insert(t) {
                        stack.push((t, false));
                    }
                    continue;
                }
                let w = waiting_on.get_mut(&t).unwrap();
                *w -= 1;
                if *w == 0 && !blocked.contains(&t) {
                    ready.push(t);
                }
            }
        }
    }
    for s in steps.iter().filter(|s| waiting_on[*s] > 0 && !blocked.contains(*s)) {
        report.failed.push(StepError::Internal(
            "its steps wait on each other (a cycle between deletes and creates); nothing was done to it".into(),
            plan.changes[s.change].address.clone(),
        ));
    }
    let mut skipped: Vec<String> = blocked.iter().map(|s| plan.changes[s.change].address.clone()).collect();
    skipped.sort();
    skipped.dedup();
    report.skipped = skipped;
    report.elapsed = started.elapsed();
    report.interrupted = ctx.opts.stop.load(Ordering::SeqCst);
    report
}

fn provider<'a>(address: &'a str, op: &'static str) -> impl FnOnce(ProviderError) -> StepError + 'a {
    move |source| StepError::Provider { address: address.to_string(), op, source }
}

fn resource_for(ctx: &Ctx, c: &ResourceChange) -> Result<Arc<dyn Resource>, StepError> {
    ctx.registry.get(&c.kind).cloned().ok_or_else(|| StepError::Internal(format!("no provider for type {}", c.kind), c.address.clone()))
}

/// Waits for `op` to finish, polling with exponential backoff, printing progress.
async fn wait_for(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    id: &str,
    op: Operation,
    attrs: &Attrs,
    started: Instant,
) -> Result<(), StepError> {
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(ctx.opts.poll_min)
        .with_max_delay(ctx.opts.poll_max)
        .with_factor(1.5)
        .without_max_times()
        .build();
    let mut last_progress = Instant::now();
    loop {
        if ctx.opts.stop.load(Ordering::SeqCst) {
            return Err(StepError::Interrupted(address.to_string()));
        }
        let readiness = {
            let _slot = ctx.slots.acquire().await.expect("semaphore open");
            r.wait(id, op, attrs).await.map_err(provider(address, "waiting"))?
        };
        let Readiness::Pending(status) = readiness else { return Ok(()) };
        if last_progress.elapsed() >= ctx.opts.progress_every {
            last_progress = Instant::now();
            ctx.progress.line(&format!("{address}: still {}… [{}] ({status})", op.progressive(), format_duration(started.elapsed())));
        }
        tokio::time::sleep(delays.next().unwrap_or(ctx.opts.poll_max)).await;
    }
}

async fn apply_step(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    let r = resource_for(ctx, c)?;
    let spec = c.spec.as_ref().ok_or_else(|| StepError::Internal("plan has no spec to apply".into(), c.address.clone()))?;
    let inputs: Attrs = {
        let outs = ctx.outputs.lock().unwrap();
        let lookup = |a: &str, o: &str| outs.get(a).and_then(|x| x.get(o)).cloned();
        let mut m = Attrs::new();
        for (k, e) in &spec.inputs {
            let v = e
                .resolve(&lookup)
                .ok_or_else(|| StepError::Internal(format!("input {k} refers to an output that does not exist"), c.address.clone()))?;
            m.insert(k.clone(), v);
        }
        m
    };
    let started = Instant::now();
    let deps = spec.dependencies();
    let recorded = ctx.writer.resource(&c.address).await;
    let (id, op) = match (c.action, recorded.as_ref().and_then(|r| if r.status == Status::Created { r.id.clone() } else { None })) {
        (Action::Update, Some(id)) => {
            let old = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
            let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
            ctx.progress.line(&format!("{}: modifying… [id={id}]", c.address));
            {
                let _slot = ctx.slots.acquire().await.expect("semaphore open");
                r.update(&id, &old, &inputs, &changed).await.map_err(provider(&c.address, "update"))?;
            }
            (id, Operation::Update)
        }
        _ => {
            // create (or resume an interrupted one): record the intent first
            let resumed = if c.action == Action::Create { c.id.clone() } else { None };
            ctx.writer
                .update(&c.address, |s| {
                    s.resources.insert(
                        c.address.clone(),
                        ResourceState {
                            kind: c.kind.clone(),
                            name: spec.name.clone(),
                            id: resumed.clone(),
                            status: Status::Creating,
                            attrs: inputs.clone(),
                            outputs: Attrs::new(),
                            depends_on: deps.clone(),
                        },
                    );
                })
                .await?;
            let id = match resumed {
                Some(id) => {
                    ctx.progress.line(&format!("{}: resuming an interrupted create [id={id}]", c.address));
                    id
                }
                None => {
                    ctx.progress.line(&format!("{}: creating…", c.address));
                    let id = {
                        let _slot = ctx.slots.acquire().await.expect("semaphore open");
                        r.create(&spec.name, &c.address, &inputs).await.map_err(provider(&c.address, "create"))?
                    };
                    crate::crashpoint::hit("after-create-call");
                    ctx.writer
                        .update(&c.address, |s| {
                            if let Some(e) = s.resources.get_mut(&c.address) {
                                e.id = Some(id.clone());
                            }
                        })
                        .await?;
                    id
                }
            };
            (id, Operation::Create)
        }
    };
    wait_for(ctx, r.as_ref(), &c.address, &id, op, &inputs, started).await?;
    if c.action == Action::Create && c.id.is_some() && !c.attributes.is_empty() {
        // a resumed create may have stopped half-way (e.g. before a policy was attached)
        let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
        let before = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
        {
            let _slot = ctx.slots.acquire().await.expect("semaphore open");
            r.update(&id, &before, &inputs, &changed).await.map_err(provider(&c.address, "update"))?;
        }
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Update, &inputs, started).await?;
    }
    let observed = {
        let _slot = ctx.slots.acquire().await.expect("semaphore open");
        r.read(&id, &inputs).await.map_err(provider(&c.address, "read"))?
    }
    .ok_or_else(|| {
        StepError::Internal(
            format!("{id} vanished right after it was {}", if op == Operation::Create { "created" } else { "updated" }),
            c.address.clone(),
        )
    })?;
    let took = started.elapsed().as_secs_f64();
    let key = crate::plan::duration_fact(&c.kind, if op == Operation::Create { "create" } else { "update" });
    ctx.writer
        .update(&c.address, |s| {
            s.resources.insert(
                c.address.clone(),
                ResourceState {
                    kind: c.kind.clone(),
                    name: spec.name.clone(),
                    id: Some(id.clone()),
                    status: Status::Created,
                    attrs: inputs.clone(),
                    outputs: observed.outputs.clone(),
                    depends_on: deps.clone(),
                },
            );
            // how long this kind takes, for plan estimates: a moving average, so that one slow
            // run does not dominate
            let avg = s.facts.get(&key).and_then(|v| v.as_f64()).map(|old| 0.7 * old + 0.3 * took).unwrap_or(took);
            s.facts.insert(key.clone(), serde_json::json!((avg * 10.0).round() / 10.0));
        })
        .await?;
    ctx.outputs.lock().unwrap().insert(c.address.clone(), observed.outputs);
    let verb = if op == Operation::Create { "creation" } else { "modification" };
    ctx.progress.line(&format!("{}: {verb} complete after {} [id={id}]", c.address, format_duration(started.elapsed())));
    Ok(())
}

async fn delete_step(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    let r = resource_for(ctx, c)?;
    let started = Instant::now();
    let recorded = ctx.writer.resource(&c.address).await;
    let attrs = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
    if let Some(id) = c.id.clone().or(recorded.as_ref().and_then(|r| r.id.clone())) {
        let before = recorded.as_ref().map(|r| r.status);
        ctx.writer
            .update(&c.address, |s| {
                if let Some(e) = s.resources.get_mut(&c.address) {
                    e.status = Status::Deleting;
                    e.id = Some(id.clone());
                }
            })
            .await?;
        ctx.progress.line(&format!("{}: destroying… [id={id}]", c.address));
        let refused = {
            let _slot = ctx.slots.acquire().await.expect("semaphore open");
            r.delete(&id, &attrs).await.err()
        };
        if let Some(e) = refused {
            // the cloud refused the delete: the resource is as it was
            ctx.writer
                .update(&c.address, |s| {
                    if let (Some(e), Some(b)) = (s.resources.get_mut(&c.address), before) {
                        e.status = b;
                    }
                })
                .await?;
            return Err(provider(&c.address, "delete")(e));
        }
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Delete, &attrs, started).await?;
        ctx.progress.line(&format!("{}: destruction complete after {}", c.address, format_duration(started.elapsed())));
    }
    ctx.writer
        .update(&c.address, |s| {
            s.resources.remove(&c.address);
        })
        .await?;
    ctx.outputs.lock().unwrap().remove(&c.address);
    Ok(())
}
