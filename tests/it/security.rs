//! The security baseline end to end (docs/SECURITY.md): the prod-like stack applied to the local
//! cloud passes `empi-infra check` on its planned values and on the live cloud; when encryption or
//! TLS-only is weakened in the live cloud behind empi-infra's back, `check` fails naming the rule and
//! its controls and lists it as drift; waivers accept a failure until they expire.

use crate::common;

use crate::common::Workspace;
use serde_json::Value;

/// `stacks/local.toml` made prod-like where the local cloud allows it. No rule is waived: the audit
/// controls of #16 (flow logs, database log export, access logs, WAF logging, log retention) are
/// built, so the whole baseline is held to passing.
const PROD_LIKE: &[(&str, &str)] = &[
    (
        "deletion_protection = false\nbackup_retention_days = 1",
        "deletion_protection = true\nbackup_retention_days = 7",
    ),
    ("[identity]", "[cluster]\npublic_access_cidrs = [\"203.0.113.0/24\"]\n\n[identity]"),
    // a year, as the baseline asks (the local stack keeps a week)
    ("log_retention_days = 7", "log_retention_days = 365"),
];

fn check(w: &Workspace, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(extra);
    let out = w.run(&args);
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("check --json printed no JSON ({e}): {out:?}"));
    (out.code, v)
}

/// The failed findings of a report, as (rule, resource).
fn failed(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "fail")
        .map(|f| {
            (f["rule"].as_str().unwrap().to_string(), f["resource"].as_str().unwrap().to_string())
        })
        .collect()
}

fn finding<'a>(report: &'a Value, rule: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no finding for {rule}: {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_on_the_prod_like_stack_and_fails_naming_the_rule_when_the_live_cloud_is_weakened(
) {
    let w = Workspace::new(PROD_LIKE);
    // a copy of the stack with its audit logs kept a week (as stacks/local.toml keeps them): the
    // plan fails the retention rule for every log group, naming its control, before anything exists
    w.write_stack(&PROD_LIKE[..2]);
    let (code, v) = check(&w, &["--planned-only"]);
    assert_eq!(code, 2, "{v}");
    let weak: Vec<_> =
        failed(&v["planned"]).into_iter().filter(|(r, _)| r == "audit.log-retention").collect();
    assert!(weak.len() >= 3, "every log group fails the retention rule: {}", v["planned"]);
    let f = finding(&v["planned"], "audit.log-retention");
    assert!(
        f["controls"].to_string().contains("FSBP CloudWatch.16")
            && f["evidence"].as_str().unwrap().contains("retention_in_days = 7"),
        "{f}"
    );
    w.write_stack(PROD_LIKE);

    w.ok(&["apply", "--auto-approve"]);
    let (code, v) = check(&w, &[]);
    assert_eq!(failed(&v["planned"]), Vec::<(String, String)>::new(), "planned: {}", v["planned"]);
    assert_eq!(failed(&v["live"]), Vec::<(String, String)>::new(), "live: {}", v["live"]);
    assert_eq!(code, 0);
    let rules = v["live"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect::<std::collections::BTreeSet<_>>();
    for r in [
        "encryption.database",
        "encryption.cluster-secrets",
        "audit.cluster-logs",
        "audit.vpc-flow-logs",
        "audit.database-logs",
        "audit.database-connections-logged",
        "audit.load-balancer-access-logs",
        "audit.bucket-access-logs",
        "audit.log-retention",
        "audit.waf-logs",
        "encryption.log-groups",
        "transmission.bucket-tls-only",
        "authentication.mfa",
        "access.default-security-group-closed",
    ] {
        assert!(rules.contains(r), "the live check did not evaluate {r}");
    }
    // evidence is values, never a secret
    let text = v.to_string();
    assert!(text.contains("arn:aws:kms:"), "the evidence names the key");
    let cfg = common::config(&w.aws().await, "empi-local/tuva-empi-config").await;
    for secret in ["/db/password", "/django/secret_key"] {
        let value = cfg.pointer(secret).and_then(Value::as_str).unwrap();
        assert!(value.len() >= 16 && !text.contains(value), "the evidence holds {secret}");
    }

    // behind empi-infra's back: TLS-only off (the bucket policy deleted), encryption weakened (the
    // key's yearly rotation turned off). (moto records no change of an EKS cluster's logging
    // through UpdateClusterConfig, so audit logging cannot be turned off here: the rule's failure
    // on a cluster without those logs is in `check/tests.rs`.)
    let aws = w.aws().await;
    let st = w.state();
    let bucket = st["resources"]["storage.bucket"]["id"].as_str().unwrap().to_string();
    aws.s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
    let key = st["resources"]["security.kms_key"]["id"].as_str().unwrap().to_string();
    aws.kms.disable_key_rotation().key_id(&key).send().await.unwrap();
    let (code, v) = check(&w, &[]);
    assert_eq!(code, 2, "{v}");
    assert!(failed(&v["planned"]).is_empty(), "the plan still holds: {}", v["planned"]);
    let live = failed(&v["live"]);
    assert!(
        live.contains(&("transmission.bucket-tls-only".into(), "storage.bucket".into())),
        "{live:?}"
    );
    assert!(
        live.contains(&("encryption.key-rotation".into(), "security.kms_key".into())),
        "{live:?}"
    );
    let tls = finding(&v["live"], "transmission.bucket-tls-only");
    let controls: Vec<&str> =
        tls["controls"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(controls.contains(&"CIS 2.1.1") && controls.contains(&"FSBP S3.5"), "{tls}");
    assert!(tls["safeguard"].as_str().unwrap().contains("§164.312(e)(1)"), "{tls}");
    let drifted: Vec<&str> =
        v["drifted"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(
        drifted.contains(&"transmission.bucket-tls-only")
            && drifted.contains(&"encryption.key-rotation"),
        "{drifted:?}"
    );
    // the text says it too
    let text = w.run(&["check"]);
    assert_eq!(text.code, 2);
    assert!(
        text.stdout.contains("FAIL transmission.bucket-tls-only on storage.bucket"),
        "{text:?}"
    );
    assert!(text.stdout.contains("changed behind empi-infra's back"), "{text:?}");

    // a waiver accepts one failure until it expires
    let waive = "\n[[security.waive]]\nrule = \"encryption.key-rotation\"\nresource = \"security.kms_key\"\nreason = \"rotation paused during a key migration; approved by the ISO\"\nexpires = \"2099-12-31\"\n";
    let src = std::fs::read_to_string(w.stack()).unwrap();
    std::fs::write(w.stack(), format!("{src}{waive}")).unwrap();
    let (_, v) = check(&w, &[]);
    assert_eq!(finding(&v["live"], "encryption.key-rotation")["status"], "waived", "{}", v["live"]);
    std::fs::write(w.stack(), format!("{src}{}", waive.replace("2099-12-31", "2020-01-31")))
        .unwrap();
    let (code, v) = check(&w, &[]);
    assert_eq!(code, 2);
    let f = finding(&v["live"], "encryption.key-rotation");
    assert_eq!(f["status"], "fail");
    assert!(f["evidence"].as_str().unwrap().contains("the waiver expired on 2020-01-31"), "{f}");
    std::fs::write(w.stack(), src).unwrap();

    // apply restores what was changed; check passes again
    w.ok(&["apply", "--auto-approve"]);
    let (code, v) = check(&w, &[]);
    assert_eq!(
        code,
        0,
        "after apply: planned {:?}, live {:?}",
        failed(&v["planned"]),
        failed(&v["live"])
    );
}
