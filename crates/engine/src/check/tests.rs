use serde_json::json;

use super::*;
use crate::kinds::{k8s, rds, s3, waf};
use crate::resource::Attrs;

fn obj(address: &str, kind: &str, attrs: serde_json::Value) -> (String, String, Attrs) {
    let attrs = attrs.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    (address.into(), kind.into(), attrs)
}

fn db(encrypted: bool) -> (String, String, Attrs) {
    obj(
        "database.instance",
        rds::INSTANCE.kind,
        json!({"storage_encrypted": encrypted, "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k", "publicly_accessible": false,
               "backup_retention_period": 7, "deletion_protection": true, "enabled_cloudwatch_logs_exports": ["postgresql"]}),
    )
}

fn find<'a>(r: &'a Report, rule: &str) -> &'a Finding {
    r.findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| panic!("no finding for {rule}"))
}

#[test]
fn the_rules_are_the_ones_a_stack_may_waive_in_the_same_order() {
    let ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        crate::stack::BASELINE_RULE_IDS,
        "crate::stack::BASELINE_RULE_IDS lists every rule of RULES, in order"
    );
}

#[test]
fn rule_ids_are_unique_and_every_rule_names_a_safeguard_and_a_control() {
    let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate rule ids");
    for r in RULES {
        assert!(r.safeguard.starts_with("§164.312("), "{}", r.id);
        assert!(!r.controls.is_empty(), "{}", r.id);
        assert!(
            crate::kinds::ALL.iter().any(|k| k.kind == r.kind),
            "{} reads unknown kind {}",
            r.id,
            r.kind
        );
    }
}

#[test]
fn an_unencrypted_database_fails_naming_the_rule_its_controls_and_the_values_seen() {
    let r = evaluate("s", Source::Live, &[db(false)], &waiving(&[]), "2026-11-27");
    let f = find(&r, "encryption.database");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.resource, "database.instance");
    assert!(
        f.controls.contains(&"CIS 2.3.1".to_string())
            && f.controls.contains(&"FSBP RDS.3".to_string())
    );
    assert!(f.safeguard.contains("§164.312(a)(2)(iv)"));
    assert!(f.evidence.contains("storage_encrypted = false"), "{}", f.evidence);
    assert!(f.fix.is_some());
    let ok = evaluate("s", Source::Live, &[db(true)], &waiving(&[]), "2026-11-27");
    assert_eq!(find(&ok, "encryption.database").status, Status::Pass);
    assert!(r.failed > ok.failed);
}

#[test]
fn a_waiver_accepts_a_failure_until_it_expires_then_the_rule_fails_again() {
    let w = Waiver {
        rule: "encryption.database".into(),
        resource: None,
        reason: "restoring an encrypted copy in January".into(),
        expires: "2026-12-31".into(),
    };
    let r =
        evaluate("s", Source::Live, &[db(false)], &waiving(std::slice::from_ref(&w)), "2026-11-27");
    let f = find(&r, "encryption.database");
    assert_eq!(f.status, Status::Waived);
    assert_eq!(f.waiver.as_ref().unwrap().reason, w.reason);
    let later =
        evaluate("s", Source::Live, &[db(false)], &waiving(std::slice::from_ref(&w)), "2027-01-01");
    let f = find(&later, "encryption.database");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("the waiver expired on 2026-12-31"), "{}", f.evidence);
    // the waiver's last day still holds
    assert_eq!(
        find(
            &evaluate(
                "s",
                Source::Live,
                &[db(false)],
                &waiving(std::slice::from_ref(&w)),
                "2026-12-31"
            ),
            "encryption.database"
        )
        .status,
        Status::Waived
    );
    // a waiver for another resource does not apply
    let other = Waiver { resource: Some("database.other".into()), ..w };
    assert_eq!(
        find(
            &evaluate("s", Source::Live, &[db(false)], &waiving(&[other]), "2026-11-27"),
            "encryption.database"
        )
        .status,
        Status::Fail
    );
}

#[test]
fn a_required_resource_that_is_missing_fails() {
    let r = evaluate("s", Source::Live, &[db(true)], &waiving(&[]), "2026-11-27");
    let f = find(&r, "audit.vpc-flow-logs");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("no aws_flow_log exists in the cloud"), "{}", f.evidence);
}

#[test]
fn tls_only_bucket_policy_is_read_as_a_policy_not_as_text() {
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let allow = json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]});
    let bucket = |p: serde_json::Value| {
        obj("storage.bucket", s3::BUCKET.kind, json!({"policy": p.to_string()}))
    };
    assert_eq!(
        find(
            &evaluate("s", Source::Live, &[bucket(deny)], &waiving(&[]), "2026-11-27"),
            "transmission.bucket-tls-only"
        )
        .status,
        Status::Pass
    );
    assert_eq!(
        find(
            &evaluate("s", Source::Live, &[bucket(allow)], &waiving(&[]), "2026-11-27"),
            "transmission.bucket-tls-only"
        )
        .status,
        Status::Fail
    );
}

#[test]
fn a_rule_that_holds_in_the_plan_but_not_live_is_a_regression() {
    let planned = evaluate("s", Source::Planned, &[db(true)], &waiving(&[]), "2026-11-27");
    let live = evaluate("s", Source::Live, &[db(false)], &waiving(&[]), "2026-11-27");
    let reg = regressions(&planned, &live);
    assert_eq!(
        reg.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        vec!["encryption.database"]
    );
}

#[test]
fn namespace_labels_with_dots_and_slashes_are_read_whole() {
    let ns = |level: &str| {
        obj(
            "workloads.namespace",
            k8s::NAMESPACE.kind,
            json!({"manifest": {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": level}}}}),
        )
    };
    assert_eq!(
        find(
            &evaluate("s", Source::Live, &[ns("restricted")], &waiving(&[]), "2026-11-27"),
            "access.namespace-pod-security"
        )
        .status,
        Status::Pass
    );
    assert_eq!(
        find(
            &evaluate("s", Source::Live, &[ns("privileged")], &waiving(&[]), "2026-11-27"),
            "access.namespace-pod-security"
        )
        .status,
        Status::Fail
    );
}

#[test]
fn a_resource_deleted_behind_our_back_fails_every_rule_that_reads_it() {
    use crate::plan::Live;
    let mut state = crate::state::State::new("s");
    let (a, k, attrs) = obj(
        "edge.waf_logging",
        waf::WEB_ACL_LOGGING.kind,
        json!({"log_destination_arn": "arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-s"}),
    );
    state.resources.insert(
        a.clone(),
        crate::state::ResourceState {
            kind: k,
            name: "n".into(),
            id: Some("x".into()),
            status: crate::state::Status::Created,
            attrs,
            outputs: Attrs::new(),
            depends_on: vec![],
        },
    );
    let gone = BTreeMap::from([(a.clone(), Live { id: Some("x".into()), observed: None })]);
    let r = evaluate("s", Source::Live, &live(&state, &gone), &waiving(&[]), "2026-11-27");
    let f = find(&r, "audit.waf-logs");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("gone from the cloud"), "{}", f.evidence);
}

#[test]
fn the_pods_empi_infra_plans_are_hardened_and_a_root_or_writable_pod_fails() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks/local.toml"))
            .unwrap();
    let stack = crate::stack::Stack::parse("local.toml", &src).unwrap();
    let graph =
        crate::graph::ResourceGraph::new(crate::blueprint::expand(&stack, "123456789012")).unwrap();
    let objects = planned(&graph, &crate::state::State::new("empi-local"));
    let r = evaluate("empi-local", Source::Planned, &objects, &waiving(&[]), "2026-11-27");
    for (rule, n) in [
        ("access.pods-hardened", 3),
        ("access.job-pods-hardened", 1),
        ("access.bootstrap-pod-hardened", 1),
    ] {
        let fs: Vec<_> = r.findings.iter().filter(|f| f.rule == rule).collect();
        assert!(fs.len() >= n, "{rule}: {}", fs.len());
        for f in fs {
            assert_eq!(f.status, Status::Pass, "{rule} {}: {}", f.resource, f.evidence);
        }
    }
    let api = r
        .findings
        .iter()
        .find(|f| f.rule == "access.pods-hardened" && f.resource == "workloads.api")
        .unwrap();
    assert!(
        api.evidence.contains("api: user 65534, limits 1/1Gi")
            && api.evidence.contains("health-proxy: user 101"),
        "{}",
        api.evidence
    );

    // the same pod as root with a writable root filesystem and no limits
    let (address, kind, mut attrs) =
        objects.into_iter().find(|(a, _, _)| a == "workloads.api").unwrap();
    let pod = attrs.get_mut("manifest").unwrap().pointer_mut("/spec/template/spec").unwrap();
    pod["securityContext"]["runAsNonRoot"] = json!(false);
    pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = json!(false);
    pod["containers"][0]["resources"].as_object_mut().unwrap().remove("limits");
    let r = evaluate(
        "empi-local",
        Source::Live,
        &[(address, kind, attrs)],
        &waiving(&[]),
        "2026-11-27",
    );
    let f = find(&r, "access.pods-hardened");
    assert_eq!(f.status, Status::Fail);
    for why in [
        "api: runs as root",
        "api: a writable root filesystem",
        "api: no CPU and memory limits",
        "health-proxy: runs as root",
    ] {
        assert!(f.evidence.contains(why), "{why}: {}", f.evidence);
    }
}

#[test]
fn a_database_whose_master_password_rds_does_not_keep_fails_naming_the_rule() {
    let key = "arn:aws:kms:us-east-1:123456789012:key/k";
    let (a, k, mut attrs) = db(true);
    attrs.insert("manage_master_user_password".into(), json!(true));
    attrs.insert("master_user_secret_kms_key_id".into(), json!(key));
    let ok = evaluate(
        "s",
        Source::Live,
        &[(a.clone(), k.clone(), attrs.clone())],
        &waiving(&[]),
        "2026-11-27",
    );
    assert_eq!(find(&ok, "access.database-master-password-managed").status, Status::Pass);
    // turned off behind the stack's back (the master password is then the operator's to know)
    attrs.insert("manage_master_user_password".into(), json!(false));
    attrs.insert("master_user_secret_kms_key_id".into(), json!(""));
    let r = evaluate("s", Source::Live, &[(a, k, attrs)], &waiving(&[]), "2026-11-27");
    let f = find(&r, "access.database-master-password-managed");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("manage_master_user_password = false"), "{}", f.evidence);
    assert!(f.controls.contains(&"NIST 800-53 AC-6".to_string()));
}

/// The stack's `[security]` with these waivers and the default limits.
fn waiving(w: &[Waiver]) -> crate::stack::SecurityConfig {
    crate::stack::SecurityConfig { waivers: w.to_vec(), ..Default::default() }
}

fn config_secret(tags: serde_json::Value) -> (String, String, Attrs) {
    obj(
        "config.secret",
        crate::kinds::secrets::SECRET.kind,
        json!({"kms_key_id": "k", "tags": tags}),
    )
}

#[test]
fn a_generated_secret_older_than_the_stacks_limit_fails_secret_age_until_rotated_or_waived() {
    use crate::stack::{TAG_DB_PASSWORD_SET, TAG_DJANGO_KEY_SET};
    let set = |db: &str, key: &str| {
        config_secret(
            json!({TAG_DB_PASSWORD_SET: db, TAG_DJANGO_KEY_SET: key, "Name": "s/tuva-empi-config"}),
        )
    };
    let mut security = waiving(&[]);
    assert_eq!(security.max_secret_age_days, 90, "the default limit");
    // made on 2026-09-01, the key rotated since: the password is 96 days old
    let old = set("2026-09-01T10:00:00Z", "2026-11-30T08:00:00Z");
    let r = evaluate("s", Source::Live, &[old.clone()], &security, "2026-12-06");
    let f = find(&r, "access.secret-age");
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(
        f.evidence.contains("db.password set 2026-09-01T10:00:00Z, 96 days ago"),
        "{}",
        f.evidence
    );
    assert!(
        f.evidence.contains("django.secret_key set 2026-11-30T08:00:00Z, 6 days ago"),
        "{}",
        f.evidence
    );
    assert!(f.evidence.ends_with("(at most 90 days)"), "{}", f.evidence);
    assert!(f.fix.as_deref().unwrap().contains("empi-infra rotate db-password"));
    // on the 90th day it still passes; a stack allowing 180 days passes at 96
    let r = evaluate("s", Source::Live, &[old.clone()], &security, "2026-11-30");
    assert_eq!(find(&r, "access.secret-age").status, Status::Pass);
    security.max_secret_age_days = 180;
    let r = evaluate("s", Source::Live, &[old.clone()], &security, "2026-12-06");
    assert_eq!(find(&r, "access.secret-age").status, Status::Pass);
    // waivable as every rule is
    let w = Waiver {
        rule: "access.secret-age".into(),
        resource: Some("config.secret".into()),
        reason: "rotation planned with the January release".into(),
        expires: "2027-01-31".into(),
    };
    let r = evaluate("s", Source::Live, &[old], &waiving(&[w]), "2026-12-06");
    assert_eq!(find(&r, "access.secret-age").status, Status::Waived);
    // a new stack's plan passes (its values are generated at its first apply); a live secret
    // without the tags (made before empi-infra kept them) has an unknown age and fails
    let untagged = config_secret(json!({"Name": "s/tuva-empi-config"}));
    let r = evaluate("s", Source::Planned, &[untagged.clone()], &waiving(&[]), "2026-12-06");
    assert_eq!(find(&r, "access.secret-age").status, Status::Pass);
    let r = evaluate("s", Source::Live, &[untagged], &waiving(&[]), "2026-12-06");
    let f = find(&r, "access.secret-age");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("its age is unknown"), "{}", f.evidence);
}
