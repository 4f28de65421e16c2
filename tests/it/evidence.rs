//! Issue #30's evidence bundle: `evidence export` writes what an auditor reads, the same bytes
//! twice when nothing changed, with a diagram of the deployed stack and no secret value.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::cluster::Node;
use crate::common::Workspace;

/// What the restore drill's validation script reports for a copy whose checks pass.
const VALIDATED: &str = r#"{"checks": [{"name": "connect", "ok": true, "detail": "as tuva_empi_app over TLS, PostgreSQL 16.10"}, {"name": "migrations", "ok": true, "detail": "the newest applied migration of main is 0007_remove_personrecord_main_person_sha256_2ea0dc_idx_and_more"}, {"name": "rows", "ok": true, "detail": "main_job 3"}, {"name": "startup query", "ok": true, "detail": "0 new jobs waiting"}]}"#;

fn bundle(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn json(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(&files[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_exports_in_a_row_are_identical_with_a_diagram_the_records_and_no_secret() {
    let w = Workspace::with_node(
        &[],
        Node {
            job_messages: vec![
                ("restore-drill-".into(), VALIDATED.into()),
                ("restore-validate-".into(), VALIDATED.into()),
            ],
            ..Node::default()
        },
    );
    w.ok(&["apply", "--auto-approve"]);
    // what scheduled runs keep: a drift report, a restore drill's
    assert_eq!(w.run(&["drift", "--record"]).code, 0);
    w.ok(&["db", "restore-drill"]);
    w.ok(&["rotate", "django-key", "--auto-approve"]);

    let (a, b) = (w.dir.path().join("evidence-a"), w.dir.path().join("evidence-b"));
    let first = w.ok(&["evidence", "export", "--out", a.to_str().unwrap()]);
    assert!(first.stdout.contains("sha256sum -c MANIFEST.sha256"), "{first:?}");
    w.ok(&["evidence", "export", "--out", b.to_str().unwrap()]);
    let (one, two) = (bundle(&a), bundle(&b));
    assert_eq!(one["MANIFEST.sha256"], two["MANIFEST.sha256"], "two exports differ");
    assert_eq!(one, two);
    let names: Vec<&str> = one.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "MANIFEST.sha256",
            "README.md",
            "architecture.svg",
            "check.json",
            "drifts.json",
            "drills.json",
            "history.json",
            "inventory.json",
            "restores.json",
            "rotations.json",
            "waivers.json",
        ]
    );
    // the manifest is sha256sum's, and lists every other file
    let check = std::process::Command::new("sha256sum")
        .arg("-c")
        .arg("MANIFEST.sha256")
        .current_dir(&a)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    assert_eq!(String::from_utf8_lossy(&one["MANIFEST.sha256"]).lines().count(), one.len() - 1);

    // an SVG diagram of the deployed stack: its areas, its versions
    let svg = String::from_utf8(one["architecture.svg"].clone()).unwrap();
    assert!(svg.trim_start().starts_with("<svg") || svg.trim_start().starts_with("<?xml"), "{svg}");
    for area in ["NETWORK", "CLUSTER", "DATABASE", "IDENTITY", "EDGE", "internet"] {
        assert!(svg.contains(area), "the diagram lacks {area}");
    }
    assert!(svg.contains("PostgreSQL 16"), "the diagram names the database's engine");

    // the records: the apply and the rotation, the drift report, the drill's report
    let history = json(&one, "history.json");
    let commands: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["apply", "rotate django-key"], "export itself adds no entry");
    assert_eq!(json(&one, "drifts.json")["reports"].as_array().unwrap().len(), 1);
    let drills = json(&one, "drills.json");
    let checks = drills["reports"][0]["report"]["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["name"] == "connect" && c["ok"] == true), "{drills}");
    let rotations = json(&one, "rotations.json");
    assert!(rotations["recorded"]["django_key_set"].is_string(), "{rotations}");
    assert_eq!(rotations["rotations"].as_array().unwrap().len(), 1);
    // the baseline, planned and live, with each rule's safeguard
    let baseline = json(&one, "check.json");
    let rule = baseline["live"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "access.secret-age")
        .unwrap();
    assert!(rule["safeguard"].as_str().unwrap().starts_with("§164.312"), "{rule}");
    assert!(baseline["planned"]["checked_at"].is_null(), "no export time inside");
    // the inventory: every resource state records, with its ARN, region, encryption and tags
    let inventory = json(&one, "inventory.json");
    let resources = inventory["resources"].as_array().unwrap();
    assert_eq!(resources.len(), w.state()["resources"].as_object().unwrap().len());
    let db = resources.iter().find(|r| r["address"] == "database.instance").unwrap();
    assert!(db["arn"].as_str().unwrap().starts_with("arn:aws:rds:us-east-1:"), "{db}");
    assert_eq!(db["region"], "us-east-1");
    assert_eq!(db["encryption"]["storage_encrypted"], true, "{db}");
    assert_eq!(db["tags"]["empi-infra:stack"], "empi-local", "{db}");

    // no generated secret value anywhere in the bundle
    let arn =
        w.state()["resources"]["config.secret"]["outputs"]["arn"].as_str().unwrap().to_string();
    let aws = w.aws().await;
    let mut secrets = Vec::new();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        let v: Value = serde_json::from_str(
            aws.secrets
                .get_secret_value()
                .secret_id(&arn)
                .version_stage(stage)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap(),
        )
        .unwrap();
        secrets.push(v["db"]["password"].as_str().unwrap().to_string());
        secrets.push(v["django"]["secret_key"].as_str().unwrap().to_string());
    }
    for (name, body) in &one {
        let text = String::from_utf8_lossy(body);
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret value in {name}");
        }
    }

    // --since a day to come: the records are left out
    let c = w.dir.path().join("evidence-c");
    w.ok(&["evidence", "export", "--out", c.to_str().unwrap(), "--since", "2999-01-01"]);
    let later = bundle(&c);
    assert!(json(&later, "history.json")["entries"].as_array().unwrap().is_empty());
    for kind in ["drifts.json", "drills.json"] {
        assert!(json(&later, kind)["reports"].as_array().unwrap().is_empty(), "{kind}");
    }
    // an export cut short (no manifest, a temporary file left) is written over; a directory
    // holding anything else is refused
    std::fs::remove_file(a.join("MANIFEST.sha256")).unwrap();
    std::fs::write(a.join(".check.json.tmp"), "half").unwrap();
    w.ok(&["evidence", "export", "--out", a.to_str().unwrap()]);
    assert_eq!(bundle(&a), one, "the bundle is whole again");
    let mine = w.dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), "mine").unwrap();
    let refused = w.run(&["evidence", "export", "--out", mine.to_str().unwrap()]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("holds notes.txt, which no evidence bundle there lists"),
        "{refused:?}"
    );
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1, "nothing written beside it");
}
