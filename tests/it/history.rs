//! Issue #30's record of every change: `history` lists one entry per command that changed the
//! stack, with the caller, the plan's sha256, the stack file's and the exit status; commands that
//! change nothing add none.

use serde_json::Value;

use crate::common::cluster::Node;
use crate::common::Workspace;

fn entries(w: &Workspace) -> Vec<Value> {
    let h = w.ok(&["history", "--json"]);
    let v: Value = serde_json::from_str(&h.stdout).unwrap_or_else(|e| panic!("{e}: {h:?}"));
    v["entries"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apply_and_a_failed_apply_are_two_entries_and_plan_and_drift_add_none() {
    let failing = Node {
        fail_jobs: vec![(
            "migrate-v0-2-0".into(),
            "relation \"empi_person\" does not exist".into(),
        )],
        ..Node::default()
    };
    let w = Workspace::with_node(&[], failing);
    assert!(w.ok(&["history"]).stdout.contains("No history yet"));
    // a reviewed plan, applied: its entry carries the sha256 `show --json` reports
    let planfile = w.dir.path().join("reviewed.plan");
    w.ok(&["plan", "--out", planfile.to_str().unwrap()]);
    let shown: Value =
        serde_json::from_str(&w.ok(&["show", "--json", planfile.to_str().unwrap()]).stdout)
            .unwrap();
    let sha = shown["plan_sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64, "{shown}");
    w.ok(&["apply", planfile.to_str().unwrap()]);
    // nothing changed: no entries
    w.ok(&["plan"]);
    assert_eq!(w.run(&["drift"]).code, 0);
    w.ok(&["output"]);
    assert_eq!(entries(&w).len(), 1);

    w.write_stack(&[("version = \"v0.1.0\"", "version = \"v0.2.0\"")]);
    assert_eq!(w.run(&["apply", "--auto-approve"]).code, 1);
    let all = entries(&w);
    assert_eq!(all.len(), 2, "{all:#?}");
    let (first, second) = (&all[0], &all[1]);
    for e in &all {
        assert_eq!(e["command"], "apply");
        let caller = e["caller"].as_str().unwrap();
        assert!(caller.starts_with("arn:aws:") && caller.contains("123456789012"), "{e}");
        assert_eq!(e["stack_sha256"].as_str().unwrap().len(), 64, "{e}");
        assert!(e["ended"].is_string(), "{e}");
    }
    assert_eq!(first["plan_sha256"], sha.as_str());
    assert_eq!(first["outcome"], "succeeded");
    assert_eq!(first["exit_status"], 0);
    assert!(first["summary"]["add"].as_u64().unwrap() > 50, "{first}");
    // what the reviewed plan cost: the saved plan's figures, a new stack's from nothing
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&planfile).unwrap()).unwrap();
    assert_eq!(first["monthly_cost"]["before"], 0.0, "{first}");
    assert_eq!(first["monthly_cost"]["after"], saved["cost"]["monthly_after"], "{first}");
    assert!(first["monthly_cost"]["after"].as_f64().unwrap() > 100.0, "{first}");
    assert_eq!(first["monthly_cost"]["currency"], "USD");
    assert_eq!(second["outcome"], "failed");
    assert_eq!(second["exit_status"], 1);
    assert_eq!(second["plan_sha256"].as_str().unwrap().len(), 64);
    assert_ne!(second["plan_sha256"], first["plan_sha256"]);
    let why = second["error"].as_str().unwrap();
    assert!(why.contains("migrate-v0-2-0"), "{why}");
    // the newest only
    let h = w.ok(&["history", "--json", "--limit", "1"]);
    let v: Value = serde_json::from_str(&h.stdout).unwrap();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(v["entries"][0]["outcome"], "failed");
    // the readable list says the same
    let text = w.ok(&["history"]).stdout;
    assert!(text.contains("succeeded") && text.contains("failed (exit 1)"), "{text}");
    assert!(text.contains("    monthly cost $0.00 → $"), "{text}");
}

/// An apply killed outright never completes its entry: `history` shows it as interrupted.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_outright_shows_as_interrupted() {
    let w = Workspace::new(&[]);
    w.moto.slow("rds::dbinstance", 30.0);
    let mut apply = w.command(&["apply", "--auto-approve"]).spawn().unwrap();
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen = entries(&w);
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen.len(), 1, "no entry while the apply runs");
    assert_eq!(seen[0]["outcome"], "running", "{:?}", seen[0]);
    apply.kill().unwrap();
    apply.wait().unwrap();
    let after = entries(&w);
    assert_eq!(after[0]["outcome"], "interrupted", "{:?}", after[0]);
    assert!(after[0]["ended"].is_null());
}
