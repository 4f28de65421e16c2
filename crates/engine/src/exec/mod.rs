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
use crate::resource::{
    Attrs, ErrorClass, Observed, Operation, ProviderError, ProviderResult, Readiness, Registry,
    Resource, Timeouts,
};
use crate::state::{ResourceState, State, StateError, StateWriter, Status};

mod call;
mod step;

use call::*;
use step::*;

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
        let by_addr: HashMap<&str, usize> =
            plan.changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
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
            // after every change it depends on, directly or through resources that do not change
            // (a Deployment after the database-role Job its migrate Job, unchanged, waits for)
            if let Some(spec) = &c.spec {
                let mut todo: Vec<String> = spec.dependencies();
                let mut seen = std::collections::HashSet::new();
                while let Some(d) = todo.pop() {
                    if !seen.insert(d.clone()) {
                        continue;
                    }
                    let Some(&j) = by_addr.get(d.as_str()) else { continue };
                    let through = &plan.changes[j];
                    if through.action == Action::NoOp {
                        todo.extend(through.spec.iter().flat_map(|s| s.dependencies()));
                    } else {
                        edge(Step { change: j, kind: StepKind::Apply }, apply);
                    }
                }
            }
            // a delete waits for the deletes of what depends on it, and for updates that stop using it
            for dep in
                recorded.resources.get(&c.address).map(|r| r.depends_on.clone()).unwrap_or_default()
            {
                if let Some(&j) = by_addr.get(dep.as_str()) {
                    edge(delete, Step { change: j, kind: StepKind::Delete });
                    let still_used =
                        c.spec.as_ref().is_some_and(|s| s.dependencies().contains(&dep));
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
            && self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .all(|d| self.status(d) == StepStatus::Succeeded);
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
        let mut edges: Vec<(EdgeIndex, NodeIndex)> = self
            .graph
            .edges_directed(n, Direction::Outgoing)
            .map(|e| (e.id(), e.target()))
            .collect();
        edges.sort_by_key(|e| std::cmp::Reverse(e.0)); // last added first
        let mut ready: Vec<NodeIndex> =
            edges.into_iter().map(|(_, t)| t).filter(|&t| self.make_ready(t)).collect();
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
    let mut skipped: Vec<String> = steps
        .with_status(StepStatus::Blocked)
        .map(|s| plan.changes[s.change].address.clone())
        .collect();
    skipped.sort();
    skipped.dedup();
    report.skipped = skipped;
    report.elapsed = started.elapsed();
    report.interrupted = ctx.opts.stop.load(Ordering::SeqCst);
    report
}

fn provider<'a>(
    address: &'a str,
    op: &'static str,
) -> impl FnOnce(ProviderError) -> StepError + 'a {
    move |source| StepError::Provider { address: address.to_string(), op, source }
}

fn resource_for(ctx: &Ctx, c: &ResourceChange) -> Result<Arc<dyn Resource>, StepError> {
    ctx.registry.get(&c.kind).cloned().ok_or_else(|| {
        StepError::Internal(format!("no provider for type {}", c.kind), c.address.clone())
    })
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
            cost: None,
            review: Default::default(),
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
    fn a_step_waits_for_a_change_behind_a_resource_that_does_not_change() {
        // the api Deployment (c) depends on migrate (b, unchanged), which depends on the
        // database-role Job (a, replaced): c starts only once a succeeded
        let p = plan(vec![
            change("a", Action::Replace, None),
            change("b", Action::NoOp, Some("a")),
            change("c", Action::Update, Some("b")),
        ]);
        let mut g = StepGraph::new(&p, &State::new("s"));
        let ready = g.initially_ready();
        assert_eq!(addresses(&p, &g, &ready), ["a"], "c waits for a through b");
        // the replacement: the old a deleted, then the new one made; only then c
        g.started(ready[0]);
        let new_a = g.succeeded(ready[0]);
        assert_eq!(addresses(&p, &g, &new_a), ["a"]);
        g.started(new_a[0]);
        let next = g.succeeded(new_a[0]);
        assert_eq!(addresses(&p, &g, &next), ["c"]);
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
        let blocked: Vec<String> = g
            .with_status(StepStatus::Blocked)
            .map(|s| p.changes[s.change].address.clone())
            .collect();
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
        assert_eq!(
            second.iter().map(|&n| g.step(n)).collect::<Vec<_>>(),
            [Step { change: 0, kind: StepKind::Delete }]
        );
        g.started(second[0]);
        let third = g.succeeded(second[0]);
        assert_eq!(
            third.iter().map(|&n| g.step(n)).collect::<Vec<_>>(),
            [Step { change: 0, kind: StepKind::Apply }]
        );
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
        assert_eq!(
            first.iter().map(|&n| g.step(n)).collect::<Vec<_>>(),
            [Step { change: 0, kind: StepKind::Apply }]
        );
        g.started(first[0]);
        let second = g.succeeded(first[0]);
        assert_eq!(
            second.iter().map(|&n| g.step(n)).collect::<Vec<_>>(),
            [Step { change: 1, kind: StepKind::Apply }]
        );
        g.started(second[0]);
        let third = g.succeeded(second[0]);
        assert_eq!(
            third.iter().map(|&n| g.step(n)).collect::<Vec<_>>(),
            [Step { change: 0, kind: StepKind::Delete }]
        );
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
        let writer =
            Arc::new(StateWriter::new(state, Arc::new(LocalBackend::new(dir.path(), "s"))));
        let opts = ExecOptions {
            poll_min: Duration::from_millis(1),
            poll_max: Duration::from_millis(5),
            ..Default::default()
        };
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
        assert_eq!(
            after.resources.keys().collect::<Vec<_>>(),
            ["a", "b", "c", "e"],
            "nothing deleted"
        );
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
        let writer = Arc::new(StateWriter::new(
            State::new("s"),
            Arc::new(LocalBackend::new(dir.path(), "s")),
        ));
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
        let (report, lines) =
            run(&cloud, &plan(vec![change("a", Action::Create, None)]), quick()).await;
        assert!(report.ok(), "{:?}", report.failed);
        assert_eq!(cloud.objects().len(), 1, "created once");
        let retries: Vec<&String> = lines.iter().filter(|l| l.contains("retrying")).collect();
        assert_eq!(retries.len(), 3, "{lines:?}");
        assert!(
            retries[0].starts_with("a: the parent is not visible yet, retrying… ["),
            "{}",
            retries[0]
        );
    }

    #[tokio::test]
    async fn retries_end_at_the_kinds_timeout() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        *cloud.not_yet.lock().unwrap() = u32::MAX;
        let mut opts = quick();
        opts.timeouts.insert(KIND.into(), Timeouts { create: 1, update: 1, delete: 1 });
        let t = Instant::now();
        let (report, _) = run(&cloud, &plan(vec![change("a", Action::Create, None)]), opts).await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "bounded by the 1 s timeout: {:?}",
            t.elapsed()
        );
        assert_eq!(report.failed.len(), 1);
        assert!(report.failed[0].to_string().contains("NotYet"), "{}", report.failed[0]);
        assert!(cloud.objects().is_empty());
    }

    #[tokio::test]
    async fn a_permanent_error_is_not_retried() {
        let cloud = MemoryCloud::new(Duration::ZERO, Duration::ZERO);
        cloud.fail_create.lock().unwrap().push("name-a".into());
        let (report, lines) =
            run(&cloud, &plan(vec![change("a", Action::Create, None)]), quick()).await;
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
