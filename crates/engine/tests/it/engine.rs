//! The engine end to end (planner, executor, state) against the in-process memory cloud.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use empi_engine::exec::{ExecOptions, Progress};
use empi_engine::graph::ResourceGraph;
use empi_engine::ops;
use empi_engine::plan::{render_text, Action};
use empi_engine::resource::{Expr, ResourceSpec, SENSITIVE};
use empi_engine::state::{LocalBackend, ResourceState, Status};
use empi_engine::testing::{MemoryCloud, KIND};
use serde_json::json;

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);
impl Progress for Lines {
    fn line(&self, t: &str) {
        self.0.lock().unwrap().push(t.to_string());
    }
}

fn thing(addr: &str, deps: &[&str]) -> ResourceSpec {
    let mut s = ResourceSpec::new(addr, KIND, &format!("name-{addr}"))
        .input("value", "v1")
        .input("size", 1u32)
        .input(
            "tags",
            json!({"empi-infra:stack": "s", "empi-infra:region": "r", "empi-infra:address": addr}),
        );
    if let Some(d) = deps.first() {
        s = s.input("parent", Expr::r(d, "id"));
    }
    for d in deps.iter().skip(1) {
        s = s.after(d);
    }
    s
}

struct World {
    cloud: MemoryCloud,
    dir: tempfile::TempDir,
    opts: ExecOptions,
}

impl World {
    fn new(call_ms: u64, ready_ms: u64) -> World {
        let opts = ExecOptions {
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(20),
            ..ExecOptions::default()
        };
        World {
            cloud: MemoryCloud::new(
                Duration::from_millis(call_ms),
                Duration::from_millis(ready_ms),
            ),
            dir: tempfile::tempdir().unwrap(),
            opts,
        }
    }
    fn backend(&self) -> LocalBackend {
        LocalBackend::new(self.dir.path(), "s")
    }
    async fn plan(&self, specs: &[ResourceSpec]) -> empi_engine::plan::Plan {
        let g = ResourceGraph::new(specs.to_vec()).unwrap();
        let st = self.backend().load().unwrap();
        ops::make_plan(&g, &self.cloud.registry(), &st, true, self.opts.parallelism, "d")
            .await
            .unwrap()
    }
    async fn apply(&self, specs: &[ResourceSpec]) -> (empi_engine::exec::ApplyReport, Vec<String>) {
        let plan = self.plan(specs).await;
        self.apply_plan(&plan).await
    }
    async fn apply_plan(
        &self,
        plan: &empi_engine::plan::Plan,
    ) -> (empi_engine::exec::ApplyReport, Vec<String>) {
        let lines = Arc::new(Lines::default());
        let st = self.backend().load().unwrap();
        let (r, _) = ops::apply(
            plan,
            &self.cloud.registry(),
            Arc::new(self.backend()),
            st,
            self.opts.clone(),
            lines.clone(),
        )
        .await
        .unwrap();
        let l = lines.0.lock().unwrap().clone();
        (r, l)
    }
    async fn destroy(&self) -> empi_engine::exec::ApplyReport {
        let st = self.backend().load().unwrap();
        let plan = ops::make_destroy_plan(&self.cloud.registry(), &st, 10, "d").await.unwrap();
        self.apply_plan(&plan).await.0
    }
}

fn created_at(cloud: &MemoryCloud, name: &str) -> (Instant, Instant) {
    let c = cloud
        .calls()
        .into_iter()
        .find(|c| c.op == "create" && c.name == name)
        .unwrap_or_else(|| panic!("no create of {name}"));
    (c.start, c.end)
}

#[tokio::test]
async fn creates_in_dependency_order_and_converges() {
    let w = World::new(5, 30);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"]), thing("d", &[])];
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(w.cloud.objects().len(), 4);
    // b starts only after a is created and ready; c after b
    let (_, a_end) = created_at(&w.cloud, "name-a");
    let (b_start, b_end) = created_at(&w.cloud, "name-b");
    let (c_start, _) = created_at(&w.cloud, "name-c");
    assert!(b_start >= a_end + Duration::from_millis(30), "b started before a was ready");
    assert!(c_start >= b_end + Duration::from_millis(30));
    // d is independent and starts together with a
    let (d_start, _) = created_at(&w.cloud, "name-d");
    assert!(d_start < a_end);
    // the second plan is a no-op; state records ids and outputs
    let plan = w.plan(&specs).await;
    assert!(!plan.has_changes(), "{}", render_text(&plan));
    let st = w.backend().load().unwrap();
    assert_eq!(st.resources["b"].outputs["id"], st.resources["b"].id.clone().unwrap().as_str());
    assert_eq!(st.resources["c"].depends_on, vec!["b".to_string()]);
    assert!(st.serial >= 12, "state is written after every operation (serial {})", st.serial);
}

#[tokio::test]
async fn parallelism_bounds_calls_in_flight() {
    let w = World {
        opts: ExecOptions {
            parallelism: 3,
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(10),
            ..Default::default()
        },
        ..World::new(40, 0)
    };
    let specs: Vec<_> = (0..12).map(|i| thing(&format!("t{i}"), &[])).collect();
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok());
    assert_eq!(w.cloud.max_in_flight(), 3);
}

#[tokio::test]
async fn a_slot_is_not_held_while_waiting() {
    // one slot, five resources that each take 300 ms to become ready: waiting overlaps
    let w = World {
        opts: ExecOptions {
            parallelism: 1,
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(20),
            ..Default::default()
        },
        ..World::new(2, 300)
    };
    let specs: Vec<_> = (0..5).map(|i| thing(&format!("t{i}"), &[])).collect();
    let t0 = Instant::now();
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok());
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "took {:?}: waits were serialised",
        t0.elapsed()
    );
}

#[tokio::test]
async fn progress_lines_while_waiting() {
    let w = World {
        opts: ExecOptions {
            progress_every: Duration::from_millis(50),
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(10),
            ..Default::default()
        },
        ..World::new(1, 200)
    };
    let (r, lines) = w.apply(&[thing("slow", &[])]).await;
    assert!(r.ok());
    assert!(lines.iter().any(|l| l.starts_with("slow: still creating… [0s]")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("slow: creation complete after")), "{lines:?}");
}

#[tokio::test]
async fn update_in_place_and_replacement() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    w.apply(&specs).await;
    let ids = |w: &World| {
        w.backend()
            .load()
            .unwrap()
            .resources
            .iter()
            .map(|(a, r)| (a.clone(), r.id.clone().unwrap()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let before = ids(&w);

    // value is updatable: same id
    let mut changed = specs.clone();
    changed[1] = changed[1].clone().input("value", "v2");
    let plan = w.plan(&changed).await;
    let b = plan.changes.iter().find(|c| c.address == "b").unwrap();
    assert_eq!(b.action, Action::Update);
    assert!(render_text(&plan).contains("value = \"v1\" -> \"v2\""), "{}", render_text(&plan));
    w.apply_plan(&plan).await;
    assert_eq!(ids(&w)["b"], before["b"]);
    assert_eq!(w.cloud.objects()[&before["b"]].attrs["value"], "v2");

    // size forces replacement of a, and b (whose parent is a's id) is updated after
    let mut replaced = changed.clone();
    replaced[0] = replaced[0].clone().input("size", 2u32);
    let plan = w.plan(&replaced).await;
    let text = render_text(&plan);
    assert!(text.contains("-/+ a (test_thing)"), "{text}");
    assert!(text.contains("size = 1 -> 2  # forces replacement"), "{text}");
    assert!(text.contains("parent") && text.contains("(known after apply)"), "{text}");
    let (r, _) = w.apply_plan(&plan).await;
    assert!(r.ok(), "{:?}", r.failed);
    let after = ids(&w);
    assert_ne!(after["a"], before["a"]);
    assert_eq!(w.cloud.objects().len(), 2, "the old a is gone");
    assert_eq!(w.cloud.objects()[&after["b"]].attrs["parent"], after["a"].as_str());
    assert!(!w.plan(&replaced).await.has_changes());
}

#[tokio::test]
async fn a_failed_create_stops_its_branch_only() {
    let w = World::new(1, 0);
    w.cloud.fail_create.lock().unwrap().push("name-b".into());
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"]), thing("d", &[])];
    let (r, _) = w.apply(&specs).await;
    assert_eq!(r.failed.len(), 1);
    let msg = r.failed[0].to_string();
    assert!(msg.contains("b: create failed: AccessDenied"), "{msg}");
    assert_eq!(r.skipped, vec!["c".to_string()]);
    let st = w.backend().load().unwrap();
    assert_eq!(st.resources["a"].status, Status::Created);
    assert_eq!(st.resources["d"].status, Status::Created);
    assert_eq!(st.resources["b"].status, Status::Creating, "intent stays recorded");
    assert!(!st.resources.contains_key("c"));
    // once the fault is gone the next apply converges without duplicates
    w.cloud.fail_create.lock().unwrap().clear();
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(w.cloud.objects().len(), 4);
}

#[tokio::test]
async fn an_interrupted_create_is_found_again_not_duplicated() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[])];
    // the process died after the create call, before the id was recorded
    let registry = w.cloud.registry();
    let r = registry.get(KIND).unwrap();
    // …and before it finished: the value is not yet what the stack wants
    // (the create carried the stack's ownership tags, as every create does)
    let tags =
        json!({"empi-infra:stack": "s", "empi-infra:region": "r", "empi-infra:address": "a"});
    let attrs = [
        ("value".to_string(), json!("v0")),
        ("size".to_string(), json!(1)),
        ("tags".to_string(), tags),
    ]
    .into_iter()
    .collect();
    r.create("name-a", "a", &attrs).await.unwrap();
    let mut st = w.backend().load().unwrap();
    st.resources.insert(
        "a".into(),
        ResourceState {
            kind: KIND.into(),
            name: "name-a".into(),
            id: None,
            status: Status::Creating,
            attrs,
            outputs: Default::default(),
            depends_on: vec![],
        },
    );
    w.backend().save(&st).unwrap();
    let plan = w.plan(&specs).await;
    assert!(
        render_text(&plan).contains("resuming an interrupted create"),
        "{}",
        render_text(&plan)
    );
    let (rep, _) = w.apply_plan(&plan).await;
    assert!(rep.ok());
    assert_eq!(w.cloud.objects().len(), 1, "no duplicate");
    assert_eq!(
        w.cloud.objects().values().next().unwrap().attrs["value"],
        "v1",
        "the resumed create was completed"
    );
    assert!(!w.plan(&specs).await.has_changes());
}

#[tokio::test]
async fn changes_behind_our_back_are_planned_back() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &[])];
    w.apply(&specs).await;
    let st = w.backend().load().unwrap();
    w.cloud.tamper(st.resources["a"].id.as_ref().unwrap(), "value", json!("hand-edited"));
    w.cloud.remove(st.resources["b"].id.as_ref().unwrap());
    let plan = w.plan(&specs).await;
    let by = |a: &str| plan.changes.iter().find(|c| c.address == a).unwrap().clone();
    assert_eq!(by("a").action, Action::Update);
    assert_eq!(by("b").action, Action::Create);
    assert!(by("b").reason.unwrap().contains("deleted outside empi-infra"));
    w.apply_plan(&plan).await;
    assert!(!w.plan(&specs).await.has_changes());
}

#[tokio::test]
async fn write_only_inputs_compare_with_what_was_recorded() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]).input("secret", SENSITIVE)];
    w.apply(&specs).await;
    let plan = w.plan(&specs).await;
    assert!(!plan.has_changes(), "{}", render_text(&plan));
    let text = render_text(&w.plan(&[thing("a", &[]).input("secret", "other")]).await);
    assert!(text.contains("secret = (sensitive) -> \"other\""), "{text}");
}

#[tokio::test]
async fn destroy_deletes_dependents_first_and_empties_state() {
    let w = World::new(2, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"])];
    w.apply(&specs).await;
    let r = w.destroy().await;
    assert!(r.ok(), "{:?}", r.failed);
    assert!(w.cloud.objects().is_empty());
    let deletes: Vec<_> = w.cloud.calls().into_iter().filter(|c| c.op == "delete").collect();
    let st_ids: Vec<String> = deletes.iter().map(|c| c.name.clone()).collect();
    assert_eq!(st_ids.len(), 3);
    // thing-3 (c) before thing-2 (b) before thing-1 (a)
    assert_eq!(st_ids, ["thing-3", "thing-2", "thing-1"]);
    assert!(w.backend().load().unwrap().resources.is_empty());
}

#[tokio::test]
async fn removing_a_resource_from_the_stack_deletes_it() {
    let w = World::new(1, 0);
    w.apply(&[thing("a", &[]), thing("b", &["a"])]).await;
    let plan = w.plan(&[thing("a", &[])]).await;
    assert_eq!(plan.changes.iter().find(|c| c.address == "b").unwrap().action, Action::Delete);
    w.apply_plan(&plan).await;
    assert_eq!(w.cloud.objects().len(), 1);
}

#[tokio::test]
async fn a_stale_saved_plan_is_refused() {
    let w = World::new(1, 0);
    let plan = w.plan(&[thing("a", &[])]).await;
    w.apply(&[thing("b", &[])]).await; // state moves
    let st = w.backend().load().unwrap();
    let e = ops::apply(
        &plan,
        &w.cloud.registry(),
        Arc::new(w.backend()),
        st,
        w.opts.clone(),
        Arc::new(Lines::default()),
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("stale"), "{e}");
}

#[tokio::test]
async fn stateful_replacement_needs_consent() {
    let mut plan = World::new(0, 0).plan(&[thing("a", &[])]).await;
    plan.changes[0].action = Action::Replace;
    plan.changes[0].stateful = true;
    assert!(ops::check_stateful(&plan, &[]).unwrap_err().to_string().contains("--allow-replace a"));
    ops::check_stateful(&plan, &["a".into()]).unwrap();
}

#[tokio::test]
async fn a_refused_delete_leaves_the_resource_recorded_as_it_was() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &[])];
    w.apply(&specs).await;
    let b_id = w.backend().load().unwrap().resources["b"].id.clone().unwrap();
    w.cloud.fail_delete.lock().unwrap().push(b_id);
    let r = w.destroy().await;
    assert_eq!(r.failed.len(), 1);
    assert!(
        r.failed[0].to_string().contains("b: delete failed: DeletionProtection"),
        "{}",
        r.failed[0]
    );
    assert_eq!(r.skipped, vec!["a".to_string()], "what b depends on stays");
    let st = w.backend().load().unwrap();
    assert_eq!(st.resources["b"].status, Status::Created, "not left as deleting");
    assert!(!st.resources.contains_key("c"), "the independent resource was destroyed");
    // nothing to do for the stack without c… except c itself
    let plan = w.plan(&specs[..2]).await;
    assert!(!plan.has_changes(), "{}", render_text(&plan));
}

#[tokio::test]
async fn a_stop_request_starts_nothing_new_and_the_next_run_resumes() {
    let w = World::new(1, 400);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"])];
    let stop = w.opts.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let (r, _) = w.apply(&specs).await;
    assert!(r.interrupted);
    assert!(
        r.failed.iter().any(|e| e.to_string().contains("a: interrupted while waiting")),
        "{:?}",
        r.failed
    );
    assert_eq!(r.skipped, vec!["b".to_string(), "c".to_string()]);
    assert_eq!(w.cloud.objects().len(), 1, "only a was started");
    let st = w.backend().load().unwrap();
    assert_eq!(st.resources["a"].status, Status::Creating);
    assert!(st.resources["a"].id.is_some(), "its id is recorded");
    // the next run resumes a (no duplicate) and does the rest
    let w2 = World {
        opts: ExecOptions {
            poll_min: Duration::from_millis(5),
            poll_max: Duration::from_millis(20),
            ..ExecOptions::default()
        },
        ..w
    };
    let (r, _) = w2.apply(&specs).await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(w2.cloud.objects().len(), 3);
}

#[tokio::test]
async fn the_plan_estimates_apply_time_from_past_applies() {
    let w = World::new(1, 300);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &[])];
    let first = w.plan(&specs).await;
    let e = first.estimate.clone().expect("an estimate");
    assert_eq!(e.measured, 0, "no history yet: typical durations");
    assert_eq!(e.critical_path.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(
        render_text(&first).contains("Estimated apply time: ~2s (AWS-typical durations)."),
        "{}",
        render_text(&first)
    );
    w.apply(&specs).await;
    // a replacement after: the estimate uses what creating took here
    let changed: Vec<_> = specs
        .iter()
        .map(|s| if s.address == "a" { s.clone().input("size", 2u32) } else { s.clone() })
        .collect();
    let plan = w.plan(&changed).await;
    let text = render_text(&plan);
    assert!(plan.estimate.as_ref().unwrap().measured >= 1, "{text}");
    assert!(text.contains("measured in this stack's past applies"), "{text}");
    let path: Vec<&str> =
        plan.estimate.as_ref().unwrap().critical_path.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(path, ["a", "b"], "{text}");
    let st = w.backend().load().unwrap();
    let took = st.facts["duration:test_thing:create"].as_f64().unwrap();
    assert!((0.2..2.0).contains(&took), "create took {took}s");
}

#[tokio::test]
async fn a_lost_or_restored_state_adopts_what_exists_and_creates_nothing_twice() {
    // issue #17, finding 1: following "restore the backup" after a first apply planned every
    // resource as a create and made a second VPC, NAT gateway… Now what the cloud holds under the
    // stack's names is found and adopted.
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"]), thing("d", &[])];
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok());
    let objects = w.cloud.objects().len();
    let creates = |w: &World| w.cloud.calls().iter().filter(|c| c.op == "create").count();
    let created = creates(&w);
    // the state file, its journal and its backup gone (or an old backup restored)
    for f in std::fs::read_dir(w.dir.path()).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    // someone also changed one of them: adopting it changes it back
    let b_id = w
        .cloud
        .objects()
        .iter()
        .find(|(_, o)| o.name == "name-b")
        .map(|(id, _)| id.clone())
        .unwrap();
    w.cloud.tamper(&b_id, "value", json!("changed"));
    let plan = w.plan(&specs).await;
    for c in &plan.changes {
        assert_eq!(c.action, Action::Create, "{}", c.address);
        assert!(c.id.is_some(), "{} is found, not created anew", c.address);
        assert!(c.reason.as_deref().unwrap_or("").starts_with("adopting"), "{:?}", c.reason);
    }
    let b = plan.changes.iter().find(|c| c.address == "b").unwrap();
    assert_eq!(
        b.attributes.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["value"],
        "only what differs"
    );
    let (r, _) = w.apply(&specs).await;
    assert!(r.ok());
    assert_eq!(creates(&w), created, "no create call after the state was lost");
    assert_eq!(w.cloud.objects().len(), objects, "no duplicate");
    assert_eq!(w.cloud.objects()[&b_id].attrs["value"], json!("v1"));
    let plan = w.plan(&specs).await;
    assert!(!plan.has_changes(), "{}", render_text(&plan));
}

#[tokio::test]
async fn an_object_tagged_for_another_stack_is_never_adopted_changed_or_deleted() {
    // issue #17: ownership is checked by the cloud's tags. An object carrying another stack's
    // `empi-infra:stack` tag under this stack's name is refused, naming its stack, whether it is
    // found for adoption or recorded in this stack's state; nothing is written or deleted.
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    assert!(w.apply(&specs).await.0.ok());
    let stack = w.backend().load().unwrap().stack;
    let b_id = w
        .cloud
        .objects()
        .iter()
        .find(|(_, o)| o.name == "name-b")
        .map(|(id, _)| id.clone())
        .unwrap();
    w.cloud.tamper(&b_id, "tags", json!({"empi-infra:stack": "other", "empi-infra:address": "b"}));
    let g = ResourceGraph::new(specs.clone()).unwrap();
    let calls = w.cloud.calls().len();

    // recorded in this stack's state: plan and destroy refuse it
    let st = w.backend().load().unwrap();
    let err =
        ops::make_plan(&g, &w.cloud.registry(), &st, true, 4, "d").await.unwrap_err().to_string();
    assert!(err.contains(&format!("b: {b_id} belongs to stack \"other\"")), "{err}");
    assert!(
        err.contains(&format!("not to this stack {stack:?}")) && err.contains("state rebuild"),
        "{err}"
    );
    let err =
        ops::make_destroy_plan(&w.cloud.registry(), &st, 4, "d").await.unwrap_err().to_string();
    assert!(err.contains("belongs to stack \"other\""), "{err}");

    // found for adoption (the state lost): refused the same way, and rebuild leaves it out
    for f in std::fs::read_dir(w.dir.path()).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let st = w.backend().load().unwrap();
    let err =
        ops::make_plan(&g, &w.cloud.registry(), &st, true, 4, "d").await.unwrap_err().to_string();
    assert!(err.contains("belongs to stack \"other\"") && err.contains("another name"), "{err}");
    let (rebuilt, _, refused) =
        ops::rebuild(&g, &w.cloud.registry(), &stack, None, Default::default(), 4).await.unwrap();
    assert!(
        !rebuilt.resources.contains_key("b"),
        "another stack's object is left out of a rebuilt state"
    );
    assert_eq!(refused.iter().map(|e| e.address()).collect::<Vec<_>>(), ["b"]);
    assert!(
        w.cloud.calls()[calls..].iter().all(|c| c.op == "find" || c.op == "read"),
        "nothing but reads: {:?}",
        w.cloud.calls()[calls..].iter().map(|c| c.op).collect::<Vec<_>>()
    );
    assert_eq!(w.cloud.objects()[&b_id].attrs["tags"]["empi-infra:stack"], json!("other"));
}

#[tokio::test]
async fn state_rebuild_restores_a_state_from_which_plan_is_a_no_op() {
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b", "a"]), thing("d", &[])];
    assert!(w.apply(&specs).await.0.ok());
    let before = w.backend().load().unwrap();
    let g = ResourceGraph::new(specs.clone()).unwrap();
    let calls = w.cloud.calls().len();
    let (rebuilt, missing, _) =
        ops::rebuild(&g, &w.cloud.registry(), "s", None, Default::default(), 4).await.unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    assert!(
        w.cloud.calls()[calls..].iter().all(|c| c.op == "find" || c.op == "read"),
        "rebuild only reads: {:?}",
        w.cloud.calls()[calls..].iter().map(|c| c.op).collect::<Vec<_>>()
    );
    for (address, r) in &before.resources {
        assert_eq!(rebuilt.resources[address].id, r.id, "{address}");
        assert_eq!(rebuilt.resources[address].depends_on, r.depends_on, "{address}");
    }
    for f in std::fs::read_dir(w.dir.path()).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    w.backend().save(&rebuilt).unwrap();
    let plan = w.plan(&specs).await;
    assert!(!plan.has_changes(), "{}", render_text(&plan));
    // a resource that is gone is reported missing, not invented
    let d = before.resources["d"].id.clone().unwrap();
    w.cloud.remove(&d);
    let (rebuilt, missing, _) =
        ops::rebuild(&g, &w.cloud.registry(), "s", None, Default::default(), 4).await.unwrap();
    assert_eq!(missing, ["d"]);
    assert!(!rebuilt.resources.contains_key("d"));
}

#[tokio::test]
async fn finding_4_ctrl_c_during_destroy_lets_no_further_delete_through() {
    // one slot and 50 ms per call: independent deletes queue for the slot; a stop comes while one
    // is in flight, and the ones waiting for the slot must not be sent after it
    let mut w = World::new(50, 0);
    let specs: Vec<_> = (0..8).map(|i| thing(&format!("t{i}"), &[])).collect();
    assert!(w.apply(&specs).await.0.ok());
    w.opts.parallelism = 1;
    let stop = w.opts.stop.clone();
    let stopped_at = Arc::new(Mutex::new(None));
    let at = stopped_at.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        *at.lock().unwrap() = Some(Instant::now());
    });
    let r = w.destroy().await;
    assert!(r.interrupted);
    let stopped_at = stopped_at.lock().unwrap().unwrap();
    let late: Vec<_> =
        w.cloud.calls().into_iter().filter(|c| c.op == "delete" && c.start > stopped_at).collect();
    assert!(late.is_empty(), "deletes sent after the stop: {late:?}");
    assert!(
        r.failed.iter().any(|e| e.to_string().contains("stopped before its change was sent")),
        "{:?}",
        r.failed
    );
    // the next destroy finishes the job
    w.opts.stop.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(w.destroy().await.ok());
    assert!(w.cloud.objects().is_empty());
}

#[tokio::test]
async fn a_destroy_sends_no_delete_for_an_object_it_read_as_already_gone() {
    // an interrupted destroy's delete finished after the stop (state still says `deleting`), or
    // the object was deleted by hand: the next destroy reads it gone and only drops the entry. A
    // second delete is not harmless on AWS: a gateway VPC endpoint deleted twice fails on the
    // routes the first delete removed (InvalidRoute.NotFound)
    let w = World::new(0, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    assert!(w.apply(&specs).await.0.ok());
    let st = w.backend().load().unwrap();
    let gone = st.resources["b"].id.clone().unwrap();
    w.cloud.remove(&gone);
    let from = w.cloud.calls().len();
    let r = w.destroy().await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(
        calls_since(&w.cloud, from, "delete"),
        [st.resources["a"].id.clone().unwrap()],
        "only the live object is deleted"
    );
    assert!(w.backend().load().unwrap().resources.is_empty());
}

/// The names of the objects `op` calls were made on since `from` (reads and deletes name ids).
fn calls_since(cloud: &MemoryCloud, from: usize, op: &str) -> Vec<String> {
    let mut v: Vec<String> =
        cloud.calls()[from..].iter().filter(|c| c.op == op).map(|c| c.name.clone()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_targeted_plan_reads_and_changes_only_the_targets_and_their_dependencies() {
    let w = World::new(0, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"]), thing("d", &[])];
    w.apply(&specs).await;
    let st = w.backend().load().unwrap();
    let id = |a: &str| st.resources[a].id.clone().unwrap();
    // b, c and d change; only b (and a, which b depends on) is targeted
    let changed: Vec<_> = specs
        .iter()
        .map(|s| if s.address == "a" { s.clone() } else { s.clone().input("value", "v2") })
        .collect();
    let g = ResourceGraph::new(changed.clone()).unwrap();
    let from = w.cloud.calls().len();
    let plan =
        ops::make_targeted_plan(&g, &w.cloud.registry(), &st, true, 10, "d", &["b".to_string()])
            .await
            .unwrap();
    assert_eq!(calls_since(&w.cloud, from, "read"), [id("a"), id("b")], "c and d are not read");
    let actions: Vec<(&str, Action)> =
        plan.changes.iter().map(|c| (c.address.as_str(), c.action)).collect();
    assert_eq!(actions, [("a", Action::NoOp), ("b", Action::Update)]);
    assert_eq!(plan.targets, ["b"]);
    let text = render_text(&plan);
    assert!(text.contains("(partial: only --target b and what it depends on)"), "{text}");
    assert!(text.contains("Warning: Resource targeting is in effect."), "{text}");
    let last: Vec<&str> = text.lines().rev().take(3).collect();
    assert!(last[2].starts_with("Plan: ") && last[1].starts_with("Estimated apply time"), "{text}");

    // a saved targeted plan applies exactly that
    let saved: empi_engine::plan::Plan =
        serde_json::from_str(&serde_json::to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved.targets, ["b"]);
    let from = w.cloud.calls().len();
    let (r, _) = w.apply_plan(&saved).await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(r.done, [("b".to_string(), Action::Update)]);
    assert_eq!(calls_since(&w.cloud, from, "update"), [id("b")]);
    let objects = w.cloud.objects();
    assert_eq!(objects[&id("b")].attrs["value"], "v2");
    assert_eq!(objects[&id("c")].attrs["value"], "v1", "c was not targeted");
    // a full plan still has c and d to change
    let rest = w.plan(&changed).await;
    assert_eq!(rest.count(Action::Update), 2, "{}", render_text(&rest));
    assert!(rest.targets.is_empty());
}

#[tokio::test]
async fn a_targeted_destroy_deletes_the_targets_and_what_depends_on_them_only() {
    let w = World::new(0, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"]), thing("c", &["b"]), thing("d", &[])];
    w.apply(&specs).await;
    let st = w.backend().load().unwrap();
    let from = w.cloud.calls().len();
    let plan =
        ops::make_targeted_destroy_plan(&w.cloud.registry(), &st, 10, "d", &["b".to_string()])
            .await
            .unwrap();
    let id = |a: &str| st.resources[a].id.clone().unwrap();
    assert_eq!(calls_since(&w.cloud, from, "read"), [id("b"), id("c")], "a and d are not read");
    let (r, _) = w.apply_plan(&plan).await;
    assert!(r.ok(), "{:?}", r.failed);
    assert_eq!(calls_since(&w.cloud, from, "delete"), [id("b"), id("c")]);
    let left = w.backend().load().unwrap();
    assert_eq!(left.resources.keys().collect::<Vec<_>>(), ["a", "d"]);
    let e =
        ops::make_targeted_destroy_plan(&w.cloud.registry(), &left, 10, "d", &["c".to_string()])
            .await
            .unwrap_err();
    assert_eq!(e.to_string(), "--target c matches no resource recorded in the state of stack \"s\"; did you mean --target a?");
}

#[tokio::test]
async fn a_resource_dropped_from_the_stack_is_deleted_only_when_targeted() {
    let w = World::new(0, 0);
    w.apply(&[thing("a", &[]), thing("old", &[])]).await;
    let st = w.backend().load().unwrap();
    let g = ResourceGraph::new(vec![thing("a", &[]).input("value", "v2")]).unwrap();
    let plan =
        ops::make_targeted_plan(&g, &w.cloud.registry(), &st, true, 10, "d", &["a".to_string()])
            .await
            .unwrap();
    assert!(!plan.changes.iter().any(|c| c.address == "old"), "{}", render_text(&plan));
    let plan =
        ops::make_targeted_plan(&g, &w.cloud.registry(), &st, true, 10, "d", &["old".to_string()])
            .await
            .unwrap();
    let actions: Vec<(&str, Action)> =
        plan.changes.iter().map(|c| (c.address.as_str(), c.action)).collect();
    assert_eq!(actions, [("old", Action::Delete)]);
}

#[tokio::test]
async fn an_untagged_look_alike_under_the_stacks_name_fails_the_plan_and_is_left_alone() {
    // issue #24: found by its name, without this stack's tags: never adopted, nothing written
    let w = World::new(1, 0);
    let r = w.cloud.registry();
    let id = r
        .get(KIND)
        .unwrap()
        .create("name-a", "a", &[("value".to_string(), json!("theirs"))].into_iter().collect())
        .await
        .unwrap();
    let calls = w.cloud.calls().len();
    let g = ResourceGraph::new(vec![thing("a", &[])]).unwrap();
    let st = w.backend().load().unwrap();
    let err = ops::make_plan(&g, &r, &st, true, 4, "d").await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("a: {id} was found by its name"))
            && err.contains(&format!("state import a {id}")),
        "{err}"
    );
    assert!(w.cloud.calls()[calls..].iter().all(|c| c.op == "find" || c.op == "read"));
    assert_eq!(w.cloud.objects()[&id].attrs["value"], json!("theirs"));
}

#[tokio::test]
async fn a_saved_plan_replayed_after_the_state_was_lost_creates_nothing_twice() {
    // issue #24: a plan made from an empty state is applied, the state is lost, the same plan is
    // applied again (a CI job re-run with an ephemeral state): every create looks first
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    let plan = w.plan(&specs).await;
    assert!(w.apply_plan(&plan).await.0.ok());
    assert_eq!(w.cloud.objects().len(), 2);
    for f in std::fs::read_dir(w.dir.path()).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let (report, lines) = w.apply_plan(&plan).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(w.cloud.objects().len(), 2, "nothing made twice");
    assert!(
        lines.iter().any(|l| l.contains("taking it over instead of creating it again")),
        "{lines:?}"
    );
    assert!(!w.plan(&specs).await.has_changes(), "the state records both again");
}

#[tokio::test]
async fn a_delete_of_an_object_that_became_another_stacks_is_refused_when_it_runs() {
    // issue #24: ownership is checked again right before every delete, whatever the plan says
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    assert!(w.apply(&specs).await.0.ok());
    let st = w.backend().load().unwrap();
    let plan = ops::make_destroy_plan(&w.cloud.registry(), &st, 4, "d").await.unwrap();
    let b = st.resources["b"].id.clone().unwrap();
    w.cloud.tamper(&b, "tags", json!({"empi-infra:stack": "other", "empi-infra:region": "r"}));
    let (report, _) = w.apply_plan(&plan).await;
    assert!(!report.ok());
    let failed = report.failed.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
    assert!(failed.contains(&format!("b: {b} belongs to stack \"other\"")), "{failed}");
    assert!(w.cloud.objects().contains_key(&b), "another stack's object survives");
}

#[tokio::test]
async fn a_saved_plan_that_does_not_follow_from_the_stack_and_state_is_refused() {
    // issue #24: edited inputs, a delete appended, statefulness flipped, a replacement turned into
    // an update, a delete of another id: each refused before anything runs
    let w = World::new(1, 0);
    let specs = vec![thing("a", &[]), thing("b", &["a"])];
    assert!(w.apply(&specs).await.0.ok());
    let g = ResourceGraph::new(specs.clone()).unwrap();
    let st = w.backend().load().unwrap();
    let registry = w.cloud.registry();
    let changed: Vec<ResourceSpec> = specs
        .iter()
        .cloned()
        .map(|s| if s.address == "a" { s.input("value", "v2") } else { s })
        .collect();
    let plan =
        ops::make_plan(&ResourceGraph::new(changed.clone()).unwrap(), &registry, &st, true, 4, "d")
            .await
            .unwrap();
    assert_eq!(plan.changes.iter().find(|c| c.address == "a").unwrap().action, Action::Update);
    let g2 = ResourceGraph::new(changed).unwrap();
    ops::check_saved_plan(&plan, &g2, &st, &registry).unwrap();
    let refused = |p: &empi_engine::plan::Plan| {
        ops::check_saved_plan(p, &g2, &st, &registry).unwrap_err().to_string()
    };

    let mut edited = plan.clone();
    let a = edited.changes.iter_mut().find(|c| c.address == "a").unwrap();
    a.spec = Some(a.spec.clone().unwrap().input("value", "v3"));
    assert!(
        refused(&edited).contains("a: what it applies differs from what the stack file says"),
        "{}",
        refused(&edited)
    );
    assert!(
        ops::check_saved_plan(&plan, &g, &st, &registry).is_err(),
        "the plan of another stack file"
    );

    let mut edited = plan.clone();
    edited.changes.iter_mut().find(|c| c.address == "a").unwrap().stateful = true;
    assert!(refused(&edited).contains("marks the resource as stateful"), "{}", refused(&edited));

    let mut edited = plan.clone();
    let a = edited.changes.iter_mut().find(|c| c.address == "a").unwrap();
    a.attributes.push(empi_engine::plan::AttrChange {
        name: "size".into(),
        before: Some(json!(2)),
        after: Some(json!(1)),
        after_unknown: false,
        forces_replacement: false,
    });
    assert!(refused(&edited).contains("forces replacement"), "{}", refused(&edited));

    let mut edited = plan.clone();
    let mut del = edited.changes[0].clone();
    del.address = "someone_elses.role".into();
    del.action = Action::Delete;
    del.id = Some("their-role".into());
    edited.changes.push(del);
    assert!(
        refused(&edited)
            .contains("someone_elses.role: it deletes a resource that state does not record"),
        "{}",
        refused(&edited)
    );

    let mut edited = plan.clone();
    let a = edited.changes.iter_mut().find(|c| c.address == "a").unwrap();
    a.id = Some("thing-999".into());
    assert!(
        refused(&edited).contains("it updates thing-999, but state records"),
        "{}",
        refused(&edited)
    );

    // what is shown must be what runs: a shown value edited, or an input hidden from a create
    let mut edited = plan.clone();
    let a = edited.changes.iter_mut().find(|c| c.address == "a").unwrap();
    a.attributes.iter_mut().find(|x| x.name == "value").unwrap().after = Some(json!("v1"));
    assert!(
        refused(&edited).contains("a: it shows value as \"v1\", but applies \"v2\""),
        "{}",
        refused(&edited)
    );
    let fresh = World::new(1, 0);
    let create = fresh.plan(&specs).await;
    let mut edited = create.clone();
    edited
        .changes
        .iter_mut()
        .find(|c| c.address == "a")
        .unwrap()
        .attributes
        .retain(|x| x.name != "size");
    let empty = fresh.backend().load().unwrap();
    assert!(ops::check_saved_plan(&create, &g, &empty, &registry).is_ok());
    let e = ops::check_saved_plan(&edited, &g, &empty, &registry).unwrap_err().to_string();
    assert!(e.contains("a: it creates the resource without showing its size"), "{e}");

    // a digest over the content: any edit shows
    let sealed = plan.clone().sealed();
    assert!(sealed.digest_matches());
    let mut edited = sealed.clone();
    edited.changes[0].reason = Some("nothing to see".into());
    assert!(!edited.digest_matches());
    assert!(!plan.digest_matches(), "a plan without a digest is not trusted");
}
