//! The plan as a pull-request comment (`plan --format markdown`) of every stack in `stacks/`,
//! planned against an empty state as a new stack's first plan is: within GitHub's 65,536
//! characters, the summary first, the areas folded; and what a reviewer must not miss leads it.

use std::collections::BTreeMap;

use empi_engine::graph::ResourceGraph;
use empi_engine::plan::{self, render_markdown, render_text, Action, Plan, COMMENT_MAX};
use empi_engine::stack::Stack;
use empi_engine::state::State;

fn first_plan(file: &str) -> Plan {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stacks").join(file);
    let stack = Stack::parse(file, &std::fs::read_to_string(path).unwrap()).unwrap();
    let g = ResourceGraph::new(empi_engine::blueprint::expand(&stack, "123456789012")).unwrap();
    let state = State::new(&stack.name);
    let mut p = plan::diff(&g, &state, &BTreeMap::new(), &empi_engine::kinds::schema, "digest");
    p.estimate = plan::estimate(&p, &state, &empi_engine::kinds::schema);
    p.cost = Some(empi_engine::plan::cost::estimate(&p, &stack.region, "2026-12-05"));
    p
}

fn stacks() -> Vec<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_stack_fits_a_comment_with_the_summary_first_and_areas_folded() {
    let files = stacks();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let p = first_plan(&f);
        let md = render_markdown(&p);
        let chars = md.chars().count();
        eprintln!("{f}: {} resources, {chars} characters", p.changes.len());
        assert!(chars <= COMMENT_MAX, "{f}: {chars} characters");
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], format!("<!-- empi-infra-plan: {} -->", p.stack), "{f}");
        assert!(lines[1].starts_with("### empi-infra plan of "), "{f}: {}", lines[1]);
        assert!(lines[3].starts_with(&format!("**Plan: {}.**", p.summary())), "{f}: {}", lines[3]);
        assert!(lines[3].contains("Monthly cost $0.00 → $"), "{f}: {}", lines[3]);
        // each area in its own fold, holding the terminal's lines for it
        let text = render_text(&p);
        for area in ["network", "database", "workloads"] {
            assert!(md.contains(&format!("<details><summary><b>{area}</b>: ")), "{f}: {area}");
        }
        for c in &p.changes {
            let header = format!("  + {} ({}", c.address, c.kind);
            assert!(text.contains(&header) && md.contains(&header), "{f}: {}", c.address);
        }
        assert!(md.contains("<details><summary>Monthly cost: $0.00 → $"), "{f}");
        assert!(!md.contains("Not shown"), "{f}: every area of a real stack fits");
    }
}

/// A plan far larger than any stack's still fits: what does not is cut short or named, never
/// past the limit.
#[test]
fn a_plan_of_any_size_stays_within_the_limit_and_says_what_it_left_out() {
    let mut p = first_plan("example-prod.toml");
    let one = p.changes.clone();
    for i in 0..40 {
        p.changes.extend(one.iter().cloned().map(|mut c| {
            c.address = format!("{}x{i}", c.address);
            c
        }));
    }
    let md = render_markdown(&p);
    let chars = md.chars().count();
    eprintln!("{} changes: {chars} characters", p.changes.len());
    assert!(chars <= COMMENT_MAX, "{chars}");
    assert!(chars > COMMENT_MAX - 10_000, "it uses the room it has: {chars}");
    assert!(md.contains("(cut short)") || md.contains("**Not shown**"), "{md}");
    assert!(md.trim_end().ends_with("</sub>"), "the closing line is kept");
}

#[test]
fn what_a_reviewer_must_not_miss_comes_before_the_changes() {
    let mut p = first_plan("example-prod.toml");
    let db = p.changes.iter_mut().find(|c| c.address == "database.instance").unwrap();
    db.action = Action::Replace;
    p.review.failing_checks = vec!["network.flow-logs on network.vpc".into()];
    p.review.app_version = Some(("v0.1.0".into(), "v0.2.0".into()));
    p.warnings.push("a <b>warning</b> from the plan".into());
    let md = render_markdown(&p);
    let first_fold = md.find("<details>").unwrap();
    let before = &md[..first_fold];
    assert!(before.contains("#### Before you approve"), "{before}");
    assert!(
        before.contains(
            "**This plan replaces `database.instance`** (aws_db_instance), which holds data"
        ),
        "{before}"
    );
    assert!(before.contains("**The security baseline fails 1 rule(s)**"), "{before}");
    assert!(before.contains("`network.flow-logs on network.vpc`"), "{before}");
    assert!(before.contains("**Tuva EMPI v0.1.0 → v0.2.0**"), "{before}");
    assert!(
        before.contains("the Job `migrate-v0-1-0` runs the new version's migrations"),
        "{before}"
    );
    assert!(before.contains("**Cost**: +$"), "{before}");
    // text from the plan never opens HTML of its own
    assert!(before.contains("Warning: a &lt;b&gt;warning&lt;/b&gt; from the plan"), "{before}");
}

/// The baseline's failing rules are said once, and however many there are, the comment keeps
/// within the limit and counts what it left out.
#[test]
fn many_failing_rules_are_listed_once_and_counted_beyond_the_room() {
    let mut p = first_plan("example-prod.toml");
    p.review.failing_checks = (0..2_000).map(|i| format!("rule.{i} on network.vpc")).collect();
    p.warnings
        .push(format!("{} 2000 rule(s) on the planned values: …", plan::BASELINE_WARNING_START));
    for i in 0..500 {
        p.warnings.push(format!("warning number {i} of a very long plan"));
    }
    let md = render_markdown(&p);
    let chars = md.chars().count();
    assert!(chars <= COMMENT_MAX, "{chars}");
    assert!(!md.contains(plan::BASELINE_WARNING_START), "said once, as the rules' bullet");
    assert!(md.contains("**The security baseline fails 2000 rule(s)**"), "{}", &md[..2000]);
    assert!(md.contains("more: `empi-infra plan` shows them all."), "the rest are counted");
    assert!(md.contains("<details><summary><b>network</b>: "), "the changes still follow");
    // a smaller room, as the CLI asks for when redaction lengthened the text
    assert!(plan::render_markdown_within(&p, 30_000).chars().count() <= 30_000);
}
