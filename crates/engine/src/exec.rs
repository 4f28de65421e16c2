//! The step executor: turns a plan into create/update/delete steps, runs them in dependency order
//! and in parallel (a slot is held only while a cloud call is in flight, never while waiting),
//! retries errors that may pass (throttling, transient, propagation) and waits with backoff, both
//! bounded by the kind's timeout, reports progress, and records every finished operation in state
//! at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::{Dfs, EdgeRef};
use petgraph::Direction;
use tokio::sync::Semaphore;

use crate::ownership::{self, Found};
use crate::plan::{format_duration, Action, Plan, ResourceChange};
use crate::resource::{Attrs, ErrorClass, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry, Resource, Timeouts};
use crate::state::{ResourceState, State, StateError, StateWriter, Status};

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
    /// Timeouts by kind that replace the kinds' declared ones.
    pub timeouts: HashMap<String, Timeouts>,
    /// First and longest pause between retries of an error that may pass.
    pub retry_min: Duration,
    pub retry_max: Duration,
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
            timeouts: HashMap::new(),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
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
    #[error("{0}: stopped before its change was sent; the next run makes it")]
    NotSent(String),
    /// The live object is not provably this stack's (`crate::ownership`): nothing was sent to it.
    #[error(transparent)]
    NotOurs(#[from] crate::ownership::NotOurs),
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

/// Where a step is in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepStatus {
    /// Waits for the steps it depends on.
    Waiting,
    /// Everything it depends on succeeded; it starts next.
    Ready,
    Running,
    Succeeded,
    Failed,
    /// Not attempted: something it depends on failed, or a stop was requested.
    Blocked,
}

/// An apply's steps and their order: an edge `a → b` means `a` must finish before `b` starts.
struct StepGraph {
    graph: DiGraph<Step, ()>,
    /// Indexed by node index.
    status: Vec<StepStatus>,
}

impl StepGraph {
    /// The steps of `plan`: a delete for each delete and replace, an apply for each create, update
    /// and replace, in plan order. `recorded` (state before the apply) says what each recorded
    /// resource depends on.
    fn new(plan: &Plan, recorded: &State) -> StepGraph {
        let mut graph = DiGraph::new();
        let mut node: HashMap<Step, NodeIndex> = HashMap::new();
        for (i, c) in plan.changes.iter().enumerate() {
            if matches!(c.action, Action::Delete | Action::Replace) {
                let s = Step { change: i, kind: StepKind::Delete };
                node.insert(s, graph.add_node(s));
            }
            if matches!(c.action, Action::Create | Action::Update | Action::Replace) {
                let s = Step { change: i, kind: StepKind::Apply };
                node.insert(s, graph.add_node(s));
            }
        }
        let by_addr: HashMap<&str, usize> = plan.changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
        let mut edge = |from: Step, to: Step| {
            if let (Some(&a), Some(&b)) = (node.get(&from), node.get(&to)) {
                if a != b {
                    graph.add_edge(a, b, ());
                }
            }
        };
        for (i, c) in plan.changes.iter().enumerate() {
            let apply = Step { change: i, kind: StepKind::Apply };
            let delete = Step { change: i, kind: StepKind::Delete };
            if c.create_before_destroy {
                // the new object first; the old one goes once everything that uses it moved over
                edge(apply, delete);
                for (j, user) in plan.changes.iter().enumerate() {
                    if user.spec.as_ref().is_some_and(|s| s.dependencies().contains(&c.address)) {
                        edge(Step { change: j, kind: StepKind::Apply }, delete);
                    }
                }
            } else {
                edge(delete, apply);
            }
            if let Some(spec) = &c.spec {
                for d in spec.dependencies() {
                    if let Some(&j) = by_addr.get(d.as_str()) {
                        edge(Step { change: j, kind: StepKind::Apply }, apply);
                    }
                }
            }
            // a delete waits for the deletes of what depends on it, and for updates that stop using it
            for dep in recorded.resources.get(&c.address).map(|r| r.depends_on.clone()).unwrap_or_default() {
                if let Some(&j) = by_addr.get(dep.as_str()) {
                    edge(delete, Step { change: j, kind: StepKind::Delete });
                    let still_used = c.spec.as_ref().is_some_and(|s| s.dependencies().contains(&dep));
                    if c.action == Action::Update && !still_used {
                        edge(apply, Step { change: j, kind: StepKind::Delete });
                    }
                }
            }
        }
        let status = vec![StepStatus::Waiting; graph.node_count()];
        StepGraph { graph, status }
    }

    fn step(&self, n: NodeIndex) -> Step {
        self.graph[n]
    }

    fn status(&self, n: NodeIndex) -> StepStatus {
        self.status[n.index()]
    }

    fn set(&mut self, n: NodeIndex, s: StepStatus) {
        self.status[n.index()] = s;
    }

    /// Marks `n` ready if it waits and everything it depends on succeeded.
    fn make_ready(&mut self, n: NodeIndex) -> bool {
        let ready = self.status(n) == StepStatus::Waiting
            && self.graph.neighbors_directed(n, Direction::Incoming).all(|d| self.status(d) == StepStatus::Succeeded);
        if ready {
            self.set(n, StepStatus::Ready);
        }
        ready
    }

    /// The steps that depend on nothing, in plan order.
    fn initially_ready(&mut self) -> Vec<NodeIndex> {
        self.graph.node_indices().filter(|&n| self.make_ready(n)).collect()
    }

    fn started(&mut self, n: NodeIndex) {
        self.set(n, StepStatus::Running);
    }

    /// Records that `n` succeeded; returns the steps that this makes ready, in the order their
    /// edges were added (a repeated edge counts at its last place).
    fn succeeded(&mut self, n: NodeIndex) -> Vec<NodeIndex> {
        self.set(n, StepStatus::Succeeded);
        let mut edges: Vec<(EdgeIndex, NodeIndex)> =
            self.graph.edges_directed(n, Direction::Outgoing).map(|e| (e.id(), e.target())).collect();
        edges.sort_by_key(|e| std::cmp::Reverse(e.0)); // last added first
        let mut ready: Vec<NodeIndex> = edges.into_iter().map(|(_, t)| t).filter(|&t| self.make_ready(t)).collect();
        ready.reverse();
        ready
    }

    /// Records that `n` failed: everything that depends on it, directly or not, is not attempted.
    fn failed(&mut self, n: NodeIndex) {
        self.set(n, StepStatus::Failed);
        self.block_from(n);
    }

    /// `n` and everything that depends on it are not attempted.
    fn block(&mut self, n: NodeIndex) {
        self.set(n, StepStatus::Blocked);
        self.block_from(n);
    }

    /// Blocks everything reachable from `n` over "must finish before" edges (not `n` itself).
    fn block_from(&mut self, n: NodeIndex) {
        let mut dfs = Dfs::new(&self.graph, n);
        while let Some(x) = dfs.next(&self.graph) {
            if x != n {
                self.set(x, StepStatus::Blocked);
            }
        }
    }

    /// Steps with the given status, in plan order.
    fn with_status(&self, s: StepStatus) -> impl Iterator<Item = Step> + '_ {
        self.graph.node_indices().filter(move |&n| self.status(n) == s).map(|n| self.graph[n])
    }
}

struct Ctx {
    registry: Registry,
    writer: Arc<StateWriter>,
    opts: ExecOptions,
    slots: Arc<Semaphore>,
    outputs: Mutex<HashMap<String, Attrs>>,
    progress: Arc<dyn Progress>,
    /// The stack whose objects these must be (`crate::ownership`).
    stack: String,
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
        stack: snapshot.stack.clone(),
    });

    let mut steps = StepGraph::new(plan, &snapshot);
    let mut report = ApplyReport::default();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready = steps.initially_ready();
    let changes = Arc::new(plan.changes.clone());
    loop {
        if ctx.opts.stop.load(Ordering::SeqCst) {
            // nothing new starts; what waits on it is not attempted
            for n in ready.drain(..) {
                steps.block(n);
            }
        }
        for n in ready.drain(..) {
            steps.started(n);
            let (ctx, changes, s) = (ctx.clone(), changes.clone(), steps.step(n));
            tasks.spawn(async move {
                let c = &changes[s.change];
                let r = match s.kind {
                    StepKind::Apply => apply_step(&ctx, c).await,
                    StepKind::Delete => delete_step(&ctx, c).await,
                };
                (n, r)
            });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (n, result) = joined.expect("step task panicked");
        let step = steps.step(n);
        let c = &plan.changes[step.change];
        match result {
            Ok(()) => {
                if step.kind == StepKind::Apply || c.action == Action::Delete {
                    report.done.push((c.address.clone(), c.action));
                }
                ready.extend(steps.succeeded(n));
            }
            Err(e) => {
                ctx.progress.line(&format!("{}: error: {e}", c.address));
                report.failed.push(e);
                steps.failed(n);
            }
        }
    }
    // what still waits is in a cycle of steps, or behind one
    for s in steps.with_status(StepStatus::Waiting) {
        report.failed.push(StepError::Internal(
            "its steps wait on each other (a cycle between deletes and creates); nothing was done to it".into(),
            plan.changes[s.change].address.clone(),
        ));
    }
    let mut skipped: Vec<String> = steps.with_status(StepStatus::Blocked).map(|s| plan.changes[s.change].address.clone()).collect();
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
/// When `op` on this resource must have finished: its kind's timeout (or the override), from `started`.
fn deadline(ctx: &Ctx, r: &dyn Resource, op: Operation, started: Instant) -> (Instant, Duration) {
    let schema = r.schema();
    let limit = ctx.opts.timeouts.get(schema.kind).unwrap_or(&schema.timeouts).of(op);
    (started + limit, limit)
}

/// The pauses between retries of an error that may pass: growing by half each time (1 s, 1.5 s,
/// 2.25 s… up to `retry_max`), so that a retry lands soon after what it waits for is there, and
/// unbounded in number (the operation's deadline bounds them). No jitter: each resource is one
/// client, and the SDK's own retries of throttling already jitter.
fn retry_delays(ctx: &Ctx) -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(ctx.opts.retry_min)
        .with_max_delay(ctx.opts.retry_max)
        .with_factor(1.5)
        .without_max_times()
        .build()
}

/// What a retried error is waiting for, for progress lines.
fn waiting_for(r: &dyn Resource, e: &ProviderError) -> &'static str {
    match e.class {
        ErrorClass::Propagation => r.schema().propagation_of(e).map(|p| p.waiting_for).unwrap_or("not visible yet"),
        ErrorClass::Throttling => "throttled",
        _ => "the endpoint failed",
    }
}

/// Runs one cloud call in a parallelism slot. An error that may pass (throttling, a transient
/// fault, something not yet propagated) is retried with backoff until the operation's deadline,
/// and each retry says what it waits for; any other error, or one past the deadline, ends the step.
#[allow(clippy::too_many_arguments)]
async fn call<T, F, Fut>(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    what: &'static str,
    op: Operation,
    started: Instant,
    retry: bool,
    mut f: F,
) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ProviderResult<T>>,
{
    let (until, _) = deadline(ctx, r, op, started);
    let mut delays = retry_delays(ctx);
    loop {
        let result = {
            let _slot = ctx.slots.acquire().await.expect("semaphore open");
            // a change not yet sent when a stop came (this step waited for a slot) is not sent:
            // after Ctrl-C nothing new is created, changed or deleted
            if matches!(what, "create" | "update" | "delete") && ctx.opts.stop.load(Ordering::SeqCst) {
                return Err(StepError::NotSent(address.to_string()));
            }
            // a run that lost its state lock (broken, or its lease passed while it was paused)
            // sends nothing more: another run may be applying the same stack
            ctx.writer.fence()?;
            f().await
        };
        let e = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let now = Instant::now();
        if !retry || !e.class.retryable() || now >= until || ctx.opts.stop.load(Ordering::SeqCst) {
            return Err(provider(address, what)(e));
        }
        ctx.progress.line(&format!("{address}: {}, retrying… [{}] ({e})", waiting_for(r, &e), format_duration(started.elapsed())));
        let pause = delays.next().unwrap_or(ctx.opts.retry_max).min(until.saturating_duration_since(now));
        tokio::time::sleep(pause).await;
    }
}

/// Waits for `op` to finish, polling with exponential backoff, printing progress, until the kind's
/// timeout for `op` has passed: then the step fails naming the state it is stuck in.
async fn wait_for(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    id: &str,
    op: Operation,
    attrs: &Attrs,
    started: Instant,
) -> Result<(), StepError> {
    let (until, limit) = deadline(ctx, r, op, started);
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
        let readiness = call(ctx, r, address, "waiting", op, started, true, || r.wait(id, op, attrs)).await?;
        let Readiness::Pending(status) = readiness else { return Ok(()) };
        let now = Instant::now();
        if now >= until {
            let e = ProviderError::coded(
                "Timeout",
                format!(
                    "{id} is still {status} after {} (the {} timeout of {}); see why in the cloud's console or events, then apply again",
                    format_duration(limit),
                    match op {
                        Operation::Create => "create",
                        Operation::Update => "update",
                        Operation::Delete => "delete",
                    },
                    r.schema().kind
                ),
            );
            return Err(provider(address, "waiting")(e));
        }
        if last_progress.elapsed() >= ctx.opts.progress_every {
            last_progress = now;
            ctx.progress.line(&format!("{address}: still {}… [{}] ({status})", op.progressive(), format_duration(started.elapsed())));
        }
        tokio::time::sleep(delays.next().unwrap_or(ctx.opts.poll_max).min(until.saturating_duration_since(now))).await;
    }
}

/// Creates the object. A create that failed with an error that may pass is retried only when
/// nothing was made: if the cloud has it after all (a create that stopped half-way), the step fails
/// with the error and the next plan, which finds it by name, finishes it, so nothing is made twice.
async fn create(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    started: Instant,
) -> Result<String, StepError> {
    let made_nothing = || async {
        let _slot = ctx.slots.acquire().await.expect("semaphore open");
        matches!(r.find(name, &c.address, inputs).await, Ok(None))
    };
    let (until, _) = deadline(ctx, r, Operation::Create, started);
    let mut delays = retry_delays(ctx);
    loop {
        let first = call(ctx, r, &c.address, "create", Operation::Create, started, false, || r.create(name, &c.address, inputs)).await;
        match first {
            Err(StepError::Provider { source, .. })
                if source.class.retryable() && Instant::now() < until && !ctx.opts.stop.load(Ordering::SeqCst) && made_nothing().await =>
            {
                ctx.progress.line(&format!(
                    "{}: {}, retrying… [{}] ({source})",
                    c.address,
                    waiting_for(r, &source),
                    format_duration(started.elapsed())
                ));
                let pause = delays.next().unwrap_or(ctx.opts.retry_max).min(until.saturating_duration_since(Instant::now()));
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

/// Reads the live object `id` and refuses it unless it is provably this stack's
/// (`crate::ownership`): checked again right before every update and delete, and before a create
/// takes over an object found under its name, whatever the plan (a saved one included) says.
/// `None`: the object does not exist.
#[allow(clippy::too_many_arguments)]
async fn prove_ours(
    ctx: &Ctx,
    r: &dyn Resource,
    address: &str,
    id: &str,
    expected: &Attrs,
    found: Found,
    op: Operation,
    started: Instant,
) -> Result<Option<Observed>, StepError> {
    let observed = call(ctx, r, address, "read", op, started, true, || r.read(id, expected)).await?;
    if let Some(o) = &observed {
        let fix = if found == Found::Recorded { ownership::RECORDED_FIX } else { ownership::FOUND_FIX };
        ownership::check(r.schema(), &ctx.stack, ownership::expected_region(expected).as_deref(), address, id, o, found, fix)?;
    }
    Ok(observed)
}

/// Before a create: the object may exist already although the plan did not know it (a saved plan
/// replayed after state was lost, or another run made it since). One that is provably this
/// stack's is taken over instead of made twice; anything else under the name fails the step
/// before anything is recorded or sent.
#[allow(clippy::too_many_arguments)]
async fn look_first(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    how: Found,
    started: Instant,
) -> Result<Option<(String, Observed)>, StepError> {
    let found = call(ctx, r, &c.address, "find", Operation::Create, started, true, || r.find(name, &c.address, inputs)).await?;
    let Some(id) = found else { return Ok(None) };
    Ok(prove_ours(ctx, r, &c.address, &id, inputs, how, Operation::Create, started).await?.map(|o| (id, o)))
}

/// After a create the cloud refused for good: when its name is taken by an object that is not
/// provably this stack's (the reason it was refused), the intent is removed from state, so that
/// no later plan or destroy takes that object for this create's.
async fn forget_intent_if_name_taken(
    ctx: &Ctx,
    r: &dyn Resource,
    c: &ResourceChange,
    name: &str,
    inputs: &Attrs,
    e: &StepError,
) -> Result<(), StepError> {
    if !matches!(e, StepError::Provider { source, .. } if source.class == ErrorClass::Permanent) || c.action != Action::Create {
        return Ok(());
    }
    let found = {
        let _slot = ctx.slots.acquire().await.expect("semaphore open");
        match r.find(name, &c.address, inputs).await {
            Ok(Some(id)) => r.read(&id, inputs).await.ok().flatten().map(|o| (id, o)),
            _ => None,
        }
    };
    let Some((id, observed)) = found else { return Ok(()) };
    let region = ownership::expected_region(inputs);
    if ownership::check(r.schema(), &ctx.stack, region.as_deref(), &c.address, &id, &observed, Found::ByName, ownership::FOUND_FIX).is_err()
    {
        ctx.writer
            .update(&c.address, |s| {
                s.resources.remove(&c.address);
            })
            .await?;
    }
    Ok(())
}

/// The attributes of an object taken over at apply time that differ from what the stack wants (as
/// the plan's diff compares them; a write-only one cannot be read back, so it is sent again), and
/// whether one of them forces replacement.
fn differing(r: &dyn Resource, inputs: &Attrs, observed: &Observed) -> (Vec<String>, Option<String>) {
    let schema = r.schema();
    let mut changed = Vec::new();
    let mut forces = None;
    for (k, want) in inputs {
        let a = schema.attr(k);
        let same = !a.is_some_and(|a| a.write_only)
            && observed.attrs.get(k).is_some_and(|have| crate::plan::normalize(a, want) == crate::plan::normalize(a, have));
        if !same {
            if a.is_some_and(|a| a.force_new) && forces.is_none() {
                forces = Some(k.clone());
            }
            changed.push(k.clone());
        }
    }
    (changed, forces)
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
    // an object found under its name and taken over at apply time: what to change on it, and how
    // it was found
    let mut taken_over: Option<(Vec<String>, Attrs)> = None;
    let (id, op) = match (c.action, recorded.as_ref().and_then(|r| if r.status == Status::Created { r.id.clone() } else { None })) {
        (Action::Update, Some(id)) => {
            let old = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
            let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
            prove_ours(ctx, r.as_ref(), &c.address, &id, &old, Found::Recorded, Operation::Update, started).await?;
            ctx.progress.line(&format!("{}: modifying… [id={id}]", c.address));
            call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || r.update(&id, &old, &inputs, &changed))
                .await?;
            (id, Operation::Update)
        }
        _ => {
            // create (or resume an interrupted one): record the intent first
            let mut resumed = if c.action == Action::Create { c.id.clone() } else { None };
            // an interrupted create's intent in state, or nothing recorded at all
            let how = if recorded.as_ref().is_some_and(|r| r.status == Status::Creating) { Found::Intent } else { Found::ByName };
            match &resumed {
                // an interrupted create, or an adoption, the plan found by name: finished only
                // when it is ours
                Some(id) => {
                    prove_ours(ctx, r.as_ref(), &c.address, id, &inputs, how, Operation::Create, started).await?;
                }
                None if c.action == Action::Create => {
                    if let Some((id, observed)) = look_first(ctx, r.as_ref(), c, &spec.name, &inputs, how, started).await? {
                        let (changed, forces) = differing(r.as_ref(), &inputs, &observed);
                        if let Some(attr) = forces {
                            return Err(StepError::Internal(
                                format!("{id} exists already, tagged as this stack's, but its {attr} differs and a change of {attr} forces replacement; run `empi-infra plan` to see the replacement, then apply that plan"),
                                c.address.clone(),
                            ));
                        }
                        resumed = Some(id);
                        taken_over = Some((changed, observed.attrs));
                    }
                }
                None => {}
            }
            ctx.writer
                .update(&c.address, |s| {
                    if c.create_before_destroy {
                        // the old object stays until its delete step: state keeps it as deposed
                        if let Some(old) = s.resources.get(&c.address) {
                            let old = serde_json::to_value(old).expect("state serialises");
                            s.facts.insert(crate::plan::deposed_fact(&c.address), old);
                        }
                    }
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
                Some(id) if taken_over.is_some() => {
                    ctx.progress.line(&format!(
                        "{}: {id} exists already, tagged as this stack's (state lost or moved since the plan?); taking it over instead of creating it again",
                        c.address
                    ));
                    id
                }
                Some(id) => {
                    ctx.progress.line(&format!("{}: resuming an interrupted create [id={id}]", c.address));
                    id
                }
                None => {
                    ctx.progress.line(&format!("{}: creating…", c.address));
                    let id = match create(ctx, r.as_ref(), c, &spec.name, &inputs, started).await {
                        Ok(id) => id,
                        Err(e) => {
                            forget_intent_if_name_taken(ctx, r.as_ref(), c, &spec.name, &inputs, &e).await?;
                            return Err(e);
                        }
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
    if let Some((changed, before)) = taken_over.filter(|(changed, _)| !changed.is_empty()) {
        // taken over: made what the stack says, from what was found
        call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || r.update(&id, &before, &inputs, &changed)).await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Update, &inputs, started).await?;
    } else if c.action == Action::Create && c.id.is_some() && !c.attributes.is_empty() {
        // a resumed create may have stopped half-way (e.g. before a policy was attached or its
        // tags were set): change what the plan found live, from what it found
        let changed: Vec<String> = c.attributes.iter().map(|a| a.name.clone()).collect();
        let mut before = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
        for a in &c.attributes {
            match &a.before {
                Some(v) => before.insert(a.name.clone(), v.clone()),
                None => before.remove(&a.name),
            };
        }
        call(ctx, r.as_ref(), &c.address, "update", Operation::Update, started, true, || r.update(&id, &before, &inputs, &changed)).await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Update, &inputs, started).await?;
    }
    let observed = call(ctx, r.as_ref(), &c.address, "read", op, started, true, || r.read(&id, &inputs)).await?.ok_or_else(|| {
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
    if c.create_before_destroy || c.address.ends_with("#deposed") {
        return delete_deposed(ctx, c).await;
    }
    let r = resource_for(ctx, c)?;
    let started = Instant::now();
    let recorded = ctx.writer.resource(&c.address).await;
    let attrs = recorded.as_ref().map(|r| r.attrs.clone()).unwrap_or_default();
    // a delete the plan read as already gone (no id) sends nothing: deleting it again is not
    // harmless on AWS (a gateway endpoint's second delete fails on the routes its first removed)
    let id = if c.action == Action::Delete { c.id.clone() } else { c.id.clone().or(recorded.as_ref().and_then(|r| r.id.clone())) };
    if let Some(id) = id {
        // never another stack's object, whatever the plan or state says; an interrupted create's
        // object found by name must carry this stack's tags
        let found = match &recorded {
            Some(r) if r.id.as_deref() == Some(id.as_str()) => Found::Recorded,
            Some(r) if r.status == Status::Creating => Found::Intent,
            _ => Found::ByName,
        };
        prove_ours(ctx, r.as_ref(), &c.address, &id, &attrs, found, Operation::Delete, started).await?;
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
        let refused = call(ctx, r.as_ref(), &c.address, "delete", Operation::Delete, started, true, || r.delete(&id, &attrs)).await.err();
        if let Some(e) = refused {
            // the cloud refused the delete: the resource is as it was
            ctx.writer
                .update(&c.address, |s| {
                    if let (Some(e), Some(b)) = (s.resources.get_mut(&c.address), before) {
                        e.status = b;
                    }
                })
                .await?;
            return Err(e);
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

/// Deletes the old object of a create-before-destroy replacement (recorded as the fact
/// `deposed:<address>`, while the address holds the new one), then forgets it.
async fn delete_deposed(ctx: &Ctx, c: &ResourceChange) -> Result<(), StepError> {
    let r = resource_for(ctx, c)?;
    let started = Instant::now();
    let address = c.address.trim_end_matches("#deposed");
    let fact = crate::plan::deposed_fact(address);
    let snapshot = ctx.writer.snapshot().await;
    let old: Option<ResourceState> = snapshot.facts.get(&fact).and_then(|v| serde_json::from_value(v.clone()).ok());
    let attrs = old.as_ref().map(|o| o.attrs.clone()).unwrap_or_default();
    if let Some(id) = c.id.clone().or(old.and_then(|o| o.id)) {
        prove_ours(ctx, r.as_ref(), &c.address, &id, &attrs, Found::Recorded, Operation::Delete, started).await?;
        ctx.progress.line(&format!("{address}: destroying the replaced object… [id={id}]"));
        call(ctx, r.as_ref(), &c.address, "delete", Operation::Delete, started, true, || r.delete(&id, &attrs)).await?;
        wait_for(ctx, r.as_ref(), &c.address, &id, Operation::Delete, &attrs, started).await?;
        ctx.progress.line(&format!("{address}: the replaced object was destroyed after {}", format_duration(started.elapsed())));
    }
    ctx.writer
        .update(address, |s| {
            s.facts.remove(&fact);
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Expr, ResourceSpec};
    use crate::state::LocalBackend;
    use crate::testing::{MemoryCloud, KIND};

    fn change(address: &str, action: Action, parent: Option<&str>) -> ResourceChange {
        let spec = (action != Action::Delete).then(|| {
            let s = ResourceSpec::new(address, KIND, &format!("name-{address}"));
            match parent {
                Some(p) => s.input("parent", Expr::r(p, "id")),
                None => s,
            }
        });
        ResourceChange {
            address: address.into(),
            kind: KIND.into(),
            action,
            attributes: vec![],
            reason: None,
            stateful: false,
            create_before_destroy: false,
            spec,
            id: None,
            objects: Default::default(),
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            format_version: crate::plan::PLAN_FORMAT_VERSION.into(),
            stack: "s".into(),
            lineage: "l".into(),
            serial: 0,
            stack_digest: "d".into(),
            destroy: false,
            changes,
            warnings: Vec::new(),
            facts: std::collections::BTreeMap::new(),
            estimate: None,
            targets: Vec::new(),
            digest: None,
        }
    }

    /// State recording `address` (created, with id `id-<address>`) and what it depends on.
    fn record(state: &mut State, address: &str, depends_on: &[&str]) {
        state.resources.insert(
            address.into(),
            ResourceState {
                kind: KIND.into(),
                name: format!("name-{address}"),
                id: Some(format!("id-{address}")),
                status: Status::Created,
                attrs: Attrs::new(),
                outputs: Attrs::new(),
                depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            },
        );
    }

    fn addresses(p: &Plan, g: &StepGraph, ns: &[NodeIndex]) -> Vec<String> {
        ns.iter().map(|&n| p.changes[g.step(n).change].address.clone()).collect()
    }

    #[test]
    fn a_step_starts_when_everything_it_depends_on_succeeded() {
        let p = plan(vec![
            change("a", Action::Create, None),
            change("b", Action::Create, Some("a")),
            change("c", Action::Create, Some("a")),
            change("d", Action::Create, None),
            change("e", Action::Create, Some("b")),
        ]);
        let mut g = StepGraph::new(&p, &State::new("s"));
        let ready = g.initially_ready();
        assert_eq!(addresses(&p, &g, &ready), ["a", "d"]);
        for &n in &ready {
            g.started(n);
        }
        let after_a = g.succeeded(ready[0]);
        assert_eq!(addresses(&p, &g, &after_a), ["b", "c"], "released in plan order");
        assert!(g.succeeded(ready[1]).is_empty());
        g.started(after_a[0]);
        let after_b = g.succeeded(after_a[0]);
        assert_eq!(addresses(&p, &g, &after_b), ["e"]);
    }

    #[test]
    fn a_failure_blocks_everything_behind_it_and_nothing_else() {
        let p = plan(vec![
            change("a", Action::Create, None),
            change("b", Action::Create, Some("a")),
            change("c", Action::Create, Some("b")),
            change("d", Action::Create, None),
        ]);
        let mut g = StepGraph::new(&p, &State::new("s"));
        let ready = g.initially_ready();
        g.started(ready[0]);
        g.failed(ready[0]);
        let blocked: Vec<String> = g.with_status(StepStatus::Blocked).map(|s| p.changes[s.change].address.clone()).collect();
        assert_eq!(blocked, ["b", "c"]);
        assert_eq!(g.status(ready[1]), StepStatus::Ready, "d is independent");
        // a stop blocks a ready step itself too
        g.block(ready[1]);
        assert_eq!(g.with_status(StepStatus::Blocked).count(), 3);
        assert_eq!(g.with_status(StepStatus::Waiting).count(), 0);
    }

    #[test]
    fn a_replace_deletes_first_and_deletes_wait_for_their_dependents() {
        // b depends on a; a is replaced, b deleted: b's delete, then a's delete, then a's create
        let p = plan(vec![change("a", Action::Replace, None), change("b", Action::Delete, None)]);
        let mut state = State::new("s");
        record(&mut state, "a", &[]);
        record(&mut state, "b", &["a"]);
        let mut g = StepGraph::new(&p, &state);
        let first = g.initially_ready();
        assert_eq!(first.len(), 1);
        assert_eq!(g.step(first[0]), Step { change: 1, kind: StepKind::Delete });
        g.started(first[0]);
        let second = g.succeeded(first[0]);
        assert_eq!(second.iter().map(|&n| g.step(n)).collect::<Vec<_>>(), [Step { change: 0, kind: StepKind::Delete }]);
        g.started(second[0]);
        let third = g.succeeded(second[0]);
        assert_eq!(third.iter().map(|&n| g.step(n)).collect::<Vec<_>>(), [Step { change: 0, kind: StepKind::Apply }]);
    }

    #[test]
    fn create_before_destroy_makes_the_new_one_and_deletes_the_old_one_after_its_users_moved() {
        // a (a parameter group) is replaced create-before-destroy; b (the database) is updated to use the new a
        let mut a = change("a", Action::Replace, None);
        a.create_before_destroy = true;
        let p = plan(vec![a, change("b", Action::Update, Some("a"))]);
        let mut state = State::new("s");
        record(&mut state, "a", &[]);
        record(&mut state, "b", &["a"]);
        let mut g = StepGraph::new(&p, &state);
        let first = g.initially_ready();
        assert_eq!(first.iter().map(|&n| g.step(n)).collect::<Vec<_>>(), [Step { change: 0, kind: StepKind::Apply }]);
        g.started(first[0]);
        let second = g.succeeded(first[0]);
        assert_eq!(second.iter().map(|&n| g.step(n)).collect::<Vec<_>>(), [Step { change: 1, kind: StepKind::Apply }]);
        g.started(second[0]);
        let third = g.succeeded(second[0]);
        assert_eq!(third.iter().map(|&n| g.step(n)).collect::<Vec<_>>(), [Step { change: 0, kind: StepKind::Delete }]);
    }

    #[tokio::test]
    async fn steps_in_a_cycle_are_reported_and_the_rest_runs() {
        // a hand-edited state where a and b depend on each other, and a on e: their deletes wait
        // on each other (and e's on a's); c is independent
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        let mut state = State::new("s");
        record(&mut state, "a", &["b", "e"]);
        record(&mut state, "b", &["a"]);
        record(&mut state, "e", &[]);
        let p = plan(vec![
            change("a", Action::Delete, None),
            change("b", Action::Delete, None),
            change("e", Action::Delete, None),
            change("c", Action::Create, None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(StateWriter::new(state, Arc::new(LocalBackend::new(dir.path(), "s"))));
        let opts = ExecOptions { poll_min: Duration::from_millis(1), poll_max: Duration::from_millis(5), ..Default::default() };
        let report = apply(&p, &cloud.registry(), writer.clone(), opts, Arc::new(Quiet)).await;
        let failed: Vec<String> = report.failed.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            failed,
            ["a", "b", "e"]
                .map(|a| format!("{a}: its steps wait on each other (a cycle between deletes and creates); nothing was done to it"))
        );
        assert_eq!(report.done, [("c".to_string(), Action::Create)]);
        assert!(report.skipped.is_empty());
        assert!(!report.interrupted);
        let after = writer.snapshot().await;
        assert_eq!(after.resources.keys().collect::<Vec<_>>(), ["a", "b", "c", "e"], "nothing deleted");
    }

    struct Quiet;
    impl Progress for Quiet {
        fn line(&self, _: &str) {}
    }

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl Progress for Lines {
        fn line(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
    }

    async fn run(cloud: &MemoryCloud, p: &Plan, opts: ExecOptions) -> (ApplyReport, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(StateWriter::new(State::new("s"), Arc::new(LocalBackend::new(dir.path(), "s"))));
        let lines = Arc::new(Lines::default());
        let report = apply(p, &cloud.registry(), writer, opts, lines.clone()).await;
        let lines = lines.0.lock().unwrap().clone();
        (report, lines)
    }

    fn quick() -> ExecOptions {
        ExecOptions {
            poll_min: Duration::from_millis(1),
            poll_max: Duration::from_millis(5),
            retry_min: Duration::from_millis(10),
            retry_max: Duration::from_millis(20),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn an_error_that_may_pass_is_retried_and_says_what_it_waits_for() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        *cloud.not_yet.lock().unwrap() = 3;
        let (report, lines) = run(&cloud, &plan(vec![change("a", Action::Create, None)]), quick()).await;
        assert!(report.ok(), "{:?}", report.failed);
        assert_eq!(cloud.objects().len(), 1, "created once");
        let retries: Vec<&String> = lines.iter().filter(|l| l.contains("retrying")).collect();
        assert_eq!(retries.len(), 3, "{lines:?}");
        assert!(retries[0].starts_with("a: the parent is not visible yet, retrying… ["), "{}", retries[0]);
    }

    #[tokio::test]
    async fn retries_end_at_the_kinds_timeout() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        *cloud.not_yet.lock().unwrap() = u32::MAX;
        let mut opts = quick();
        opts.timeouts.insert(KIND.into(), Timeouts { create: 1, update: 1, delete: 1 });
        let t = Instant::now();
        let (report, _) = run(&cloud, &plan(vec![change("a", Action::Create, None)]), opts).await;
        assert!(t.elapsed() < Duration::from_secs(3), "bounded by the 1 s timeout: {:?}", t.elapsed());
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].to_string().contains("NotYet"), "{}", report.failed[0]);
        assert!(cloud.objects().is_empty());
    }

    #[tokio::test]
    async fn a_permanent_error_is_not_retried() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        cloud.fail_create.lock().unwrap().push("name-a".into());
        let (report, lines) = run(&cloud, &plan(vec![change("a", Action::Create, None)]), quick()).await;
        assert_eq!(report.failed.len(), 1);
        assert!(!lines.iter().any(|l| l.contains("retrying")), "{lines:?}");
    }

    #[tokio::test]
    async fn a_wait_that_never_ends_fails_at_the_timeout_naming_the_state() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::from_secs(3600));
        let mut opts = quick();
        opts.timeouts.insert(KIND.into(), Timeouts { create: 1, update: 1, delete: 1 });
        let t = Instant::now();
        let (report, _) = run(&cloud, &plan(vec![change("a", Action::Create, None)]), opts).await;
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        let e = report.failed[0].to_string();
        assert!(e.starts_with("a: "), "{e}");
        assert!(e.contains("is still creating after 1s (the create timeout of test_thing)"), "{e}");
    }
}
