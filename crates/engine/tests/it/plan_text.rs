//! The plan text of a new stack built from `stacks/example-prod.toml` (planned against an empty
//! state, as the first `plan` of a new stack is, with the kinds' declarations and no cloud):
//! short and readable by default, every leaf with `--verbose`.

use std::collections::{BTreeMap, BTreeSet};

use empi_engine::graph::ResourceGraph;
use empi_engine::plan::{
    self, leaves, render_text, render_text_with, show, Action, Plan, RenderOptions,
};
use empi_engine::resource::UNKNOWN;
use empi_engine::stack::Stack;
use empi_engine::state::State;

fn prod_plan() -> Plan {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stacks/example-prod.toml");
    let stack =
        Stack::parse("stacks/example-prod.toml", &std::fs::read_to_string(path).unwrap()).unwrap();
    let g = ResourceGraph::new(empi_engine::blueprint::expand(&stack, "123456789012")).unwrap();
    let state = State::new(&stack.name);
    let mut p = plan::diff(&g, &state, &BTreeMap::new(), &empi_engine::kinds::schema, "digest");
    p.estimate = plan::estimate(&p, &state, &empi_engine::kinds::schema);
    p.cost = Some(empi_engine::plan::cost::estimate(&p, &stack.region, "2026-12-05"));
    p
}

const VERBOSE: RenderOptions = RenderOptions { verbose: true };

#[test]
fn a_new_prod_stack_plans_in_at_most_300_lines_ending_with_the_summary_estimate_and_cost() {
    let mut p = prod_plan();
    let plain = render_text(&p).lines().count();
    let verbose = render_text_with(&p, &VERBOSE).lines().count();
    eprintln!("{} resources: {plain} lines by default, {verbose} with --verbose", p.changes.len());
    p.warnings.push("Kubernetes 1.36 leaves standard support soon".into());
    let text = render_text(&p);
    let lines: Vec<&str> = text.lines().collect();
    assert!(p.changes.len() > 60, "the prod stack has {} resources", p.changes.len());
    // 85 resources: a new resource's few short values share its header line, and what is known
    // only after apply is named there
    assert!(lines.len() <= 300, "{} lines:\n{text}", lines.len());
    assert!(verbose > 2 * lines.len(), "--verbose shows everything: {verbose} lines");
    // the last lines: summary, estimate, critical path, cost; the warning before them
    let n = lines.len();
    assert!(
        lines[n - 4].starts_with(&format!("Plan: {} to add, 0 to change", p.changes.len())),
        "{}",
        lines[n - 4]
    );
    assert!(lines[n - 3].starts_with("Estimated apply time: ~"), "{}", lines[n - 3]);
    assert!(lines[n - 2].starts_with("Critical path: network.vpc"), "{}", lines[n - 2]);
    assert!(lines[n - 1].starts_with("Monthly cost: $0.00 → $"), "{}", lines[n - 1]);
    assert!(lines[n - 1].contains("AWS list prices of 2026-"), "{}", lines[n - 1]);
    // the figure README.md and docs/COST.md give
    assert!(
        lines[n - 1].starts_with("Monthly cost: $0.00 → $423.99 (+$423.99)"),
        "{}",
        lines[n - 1]
    );
    let warning = lines.iter().position(|l| l.starts_with("Warning: Kubernetes 1.36")).unwrap();
    assert!(warning > n - 7, "the warning comes just before the summary");
    // tags: one line per resource at most, never a line per tag
    assert!(!text.contains("tags.Name"), "{text}");
    assert!(text.contains("owner = \"data-platform\""), "the stack's tags are said once: {text}");
    assert!(
        text.contains(
            "tags                    = {kubernetes.io/role/internal-elb = \"1\"} + the 6 shared"
        ),
        "{text}"
    );
    // large documents fold, saying how many values and where to see them
    assert!(
        text.contains(
            "manifest = {Deployment api: 90 values, 1 known after apply} (--verbose shows them)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "document = {17 values, 5 known after apply, 2 sensitive} (--verbose shows them)"
        ),
        "{text}"
    );
    assert!(
        text.contains("assume_role_policy  = {1 statement, 4 values} (--verbose shows them)"),
        "{text}"
    );
    // what matters for review stays visible
    assert!(text.contains("ingress[0]  = {cidr_block = \"0.0.0.0/0\", from_port = 443, protocol = \"tcp\", to_port = 443}"), "{text}");
    assert!(text.contains("storage_encrypted                     = true"), "{text}");
    // RDS keeps the master password: no password of the database is in the plan at all
    assert!(text.contains("manage_master_user_password           = true"), "{text}");
    assert!(!text.contains("master_password"), "{text}");
    // every change is there, grouped by area
    for c in &p.changes {
        assert!(
            text.contains(&format!("  + {} ({} ", c.address, c.kind)),
            "{} is missing",
            c.address
        );
    }
    assert!(text.contains("# network: 23 to add\n"), "{text}");
}

/// (address, row name) → row value, as the text shows it: under a header, or on it (a new
/// resource's few short values and the names of what is known after apply; the value of a row
/// on a header is not told apart from the next row's, so only the names are exact there).
fn rows(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut at = String::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("  + ") {
            at = h.split(' ').next().unwrap().to_string();
            let (mut rest, mut after) = (h.split_once("\")  ").map(|(_, r)| r).unwrap_or(""), "");
            if let Some((r, u)) = rest.split_once("(known after apply: ") {
                (rest, after) = (r.trim_end(), u.trim_end_matches(')'));
            }
            for part in rest.split(", ").filter_map(|p| p.split_once(" = ")) {
                if part.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    out.insert((at.clone(), part.0.to_string()), part.1.to_string());
                }
            }
            if !after.is_empty() {
                out.insert((at.clone(), after.to_string()), UNKNOWN.to_string());
            }
        } else if let Some(row) = line.strip_prefix("      ") {
            if let Some((k, v)) = row.split_once(" = ") {
                out.insert((at.clone(), k.trim().to_string()), v.to_string());
            }
        }
    }
    out
}

#[test]
fn verbose_shows_every_leaf_of_every_value() {
    let p = prod_plan();
    let shown = rows(&render_text_with(&p, &VERBOSE));
    let mut checked = 0;
    for c in p.changes.iter().filter(|c| c.action == Action::Create) {
        for a in &c.attributes {
            let mut all = BTreeMap::new();
            leaves(&a.name, a.after.as_ref(), &mut all);
            let whole = all.keys().all(|k| *k == a.name);
            for (path, v) in all {
                let v = v.unwrap();
                // a value with unknown parts that has no leaves to show is (known after apply) whole
                let want = if a.after_unknown && whole { UNKNOWN.to_string() } else { show(&v) };
                let key = (c.address.clone(), path.clone());
                assert_eq!(shown.get(&key), Some(&want), "{} {path}", c.address);
                checked += 1;
            }
        }
    }
    eprintln!("{checked} leaves shown by --verbose");
    assert!(checked > 700, "{checked}");
}

#[test]
fn the_default_text_accounts_for_every_attribute() {
    // every attribute of every new resource is in the text: as a row, in the row of values known
    // after apply, as the folded tags, or in a folded document
    let p = prod_plan();
    let text = render_text(&p);
    let shown = rows(&text);
    for c in p.changes.iter().filter(|c| c.action == Action::Create) {
        let names: BTreeSet<&str> = shown
            .iter()
            .filter(|((a, _), _)| *a == c.address)
            .flat_map(|((_, k), _)| k.split(", "))
            .map(|k| k.split('[').next().unwrap())
            .collect();
        for a in &c.attributes {
            let folded_tags =
                a.name == "tags" && text.contains("Every tagged resource below carries the tags");
            assert!(
                names.contains(a.name.as_str()) || folded_tags,
                "{}.{} is not accounted for: {names:?}",
                c.address,
                a.name
            );
        }
    }
}

/// A "once set" attribute (an EKS cluster's secrets encryption key): set in place on an object
/// that has none; once it has one, a new value replaces the object and the plan says so.
#[test]
fn a_set_once_attribute_is_an_update_from_none_and_a_replacement_after() {
    use empi_engine::plan::Live;
    use empi_engine::resource::{AttrSchema, Expr, Observed, ResourceSpec, Schema, Ty};
    use empi_engine::state::{ResourceState, Status};
    static SCHEMA: Schema =
        Schema::new("test_cluster", &[AttrSchema::new("key", Ty::Str).set_once()], &["id"]);
    let schema_of = |k: &str| (k == "test_cluster").then_some(&SCHEMA);
    let plan_from = |live_key: &str| {
        let spec = ResourceSpec::new("c", "test_cluster", "c").input("key", Expr::lit("arn:new"));
        let g = ResourceGraph::new(vec![spec]).unwrap();
        let mut state = State::new("t");
        let attrs: empi_engine::resource::Attrs =
            [("key".to_string(), serde_json::json!(live_key))].into_iter().collect();
        state.resources.insert(
            "c".into(),
            ResourceState {
                kind: "test_cluster".into(),
                name: "c".into(),
                id: Some("c".into()),
                status: Status::Created,
                attrs: attrs.clone(),
                outputs: Default::default(),
                depends_on: vec![],
            },
        );
        let live = BTreeMap::from([(
            "c".to_string(),
            Live {
                id: Some("c".into()),
                observed: Some(Observed { attrs, outputs: Default::default() }),
            },
        )]);
        plan::diff(&g, &state, &live, &schema_of, "digest")
    };
    let from_none = plan_from("");
    assert_eq!(from_none.changes[0].action, Action::Update, "{from_none:?}");
    assert!(!from_none.changes[0].attributes[0].forces_replacement);
    let changed = plan_from("arn:old");
    assert_eq!(changed.changes[0].action, Action::Replace, "{changed:?}");
    assert!(changed.changes[0].attributes[0].forces_replacement);
    assert!(render_text(&changed).contains("# forces replacement"), "{}", render_text(&changed));
}
