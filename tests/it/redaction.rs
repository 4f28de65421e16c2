//! Redaction by value and by key (#24 finding 8, docs/SECURITY.md "Secrets in outputs"): an
//! endpoint that echoes `SecretString` in its errors, as plain text, base64 or hex, shows no secret on
//! stdout or stderr; copies of a secret in the config document under other keys, encoded (base64,
//! hex, percent-encoding), cut in half, reversed or lower-cased, reach no plan, drift report or
//! drift notification.

use crate::common;

use crate::common::proxy::Proxy;
use crate::common::Workspace;
use base64::Engine;
use serde_json::json;

const CONFIG: &str = "empi-local/tuva-empi-config";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn b64url(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The forms of `secret` no output may hold: itself, cased, reversed, its halves, its base64 and hex.
fn forms(secret: &str) -> Vec<(String, String)> {
    let half = secret.len() / 2;
    vec![
        ("value".into(), secret.to_string()),
        ("lower-cased".into(), secret.to_lowercase()),
        ("reversed".into(), secret.chars().rev().collect()),
        ("first half".into(), secret[..half].to_string()),
        ("second half".into(), secret[half..].to_string()),
        // the base64 of the value alone, without the character that also holds what follows it
        ("base64".into(), b64(secret)[..secret.len() * 4 / 3 - 1].to_string()),
        ("hex".into(), hex(secret)),
        ("HEX".into(), hex(secret).to_uppercase()),
    ]
}

fn assert_hidden(outputs: &[(String, String)], secrets: &[(&str, &str)]) {
    for (what, text) in outputs {
        for (name, secret) in secrets {
            for (form, s) in forms(secret) {
                assert!(
                    !text.contains(&s),
                    "the {form} of the {name} is in the output of {what}:\n{text}"
                );
            }
        }
    }
}

fn through(w: &Workspace, proxy: &Proxy, args: &[&str]) -> common::Output {
    common::run_in(w.dir.path(), &proxy.url, &w.cluster.kubeconfig, &w.stack(), args)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_echoing_secret_string_in_its_errors_shows_no_secret_in_any_form() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let cfg = common::config(&w.aws().await, CONFIG).await;
    let password = cfg["db"]["password"].as_str().unwrap().to_string();
    let key = cfg["django"]["secret_key"].as_str().unwrap().to_string();
    let secrets = [("database password", password.as_str()), ("Django secret key", key.as_str())];
    let mut outputs = Vec::new();

    // the answer to GetSecretValue, echoed in a ValidationException: refresh fails on it
    let proxy = Proxy::start(&w.moto.url, &["--echo", "GetSecretValue"], w.dir.path());
    for args in [&["plan"][..], &["plan", "--json"], &["drift", "--json"], &["drift"]] {
        let r = through(&w, &proxy, args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(
            r.all().contains("ValidationException") && r.all().contains("echo of GetSecretValue"),
            "the error is shown: {r:?}"
        );
        assert!(r.all().contains("(sensitive)"), "the secret is withheld, not the error: {r:?}");
        outputs.push((format!("{args:?} (GetSecretValue echoed)"), r.all()));
    }
    assert!(proxy.count("echoed") >= 4);
    drop(proxy);

    // the request of PutSecretValue (the whole config document), echoed as it was sent, in base64
    // and in hex: the apply that rewrites the document fails on it (the proxy passed the request on,
    // so each apply changes the document again)
    for (n, form) in ["plain", "base64", "hex"].into_iter().enumerate() {
        let hostname = format!("hostname = \"empi{n}.local.test\"");
        w.write_stack(&[("hostname = \"empi.local.test\"", &hostname)]);
        let echo = format!("PutSecretValue={form}");
        let proxy = Proxy::start(&w.moto.url, &["--echo", &echo], w.dir.path());
        let r = through(&w, &proxy, &["apply", "--auto-approve"]);
        assert_eq!(r.code, 1, "{form}: {r:?}");
        assert!(
            r.stderr.contains("config.document") && r.stderr.contains("echo of PutSecretValue"),
            "{form}: {r:?}"
        );
        assert_eq!(proxy.count("echoed"), 1, "{form}");
        outputs.push((format!("apply (PutSecretValue echoed, {form})"), r.all()));
    }
    assert_hidden(&outputs, &secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn derived_copies_of_a_secret_in_the_config_reach_no_plan_drift_report_or_notification() {
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let mut cfg = common::config(&aws, CONFIG).await;
    let password = cfg["db"]["password"].as_str().unwrap().to_string();
    let key = cfg["django"]["secret_key"].as_str().unwrap().to_string();
    let half = password.len() / 2;
    // as the audit planted them: under harmless keys, encoded, cut, reversed, lower-cased
    cfg["notes"] = json!({
        "kubernetes_secret_data": b64(&format!("{{\"db\": {{\"password\": \"{password}\"}}}}\n")),
        "url_safe": b64url(&format!("DATABASE_URL=postgres://tuva:{password}@db:5432/tuva")),
        "hex": hex(&key).to_uppercase(),
        "first_half": &password[..half],
        "second_half": format!("ends with {}", &password[half..]),
        "reversed": key.chars().rev().collect::<String>(),
        "lower": password.to_lowercase(),
        "percent": urlencoding_of(&format!("k={key}&p={password}")),
    });
    aws.secrets
        .put_secret_value()
        .secret_id(CONFIG)
        .secret_string(cfg.to_string())
        .send()
        .await
        .unwrap();

    let mut outputs = Vec::new();
    let plan = w.run(&["plan", "--out", "saved.plan"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert!(plan.stdout.contains("config.document"), "the planted notes are a change: {plan:?}");
    outputs.push(("plan".to_string(), plan.all()));
    outputs.push((
        "the saved plan".to_string(),
        std::fs::read_to_string(w.dir.path().join("saved.plan")).unwrap(),
    ));
    outputs.push(("plan --json".to_string(), w.ok(&["plan", "--json"]).all()));
    let drift = w.run(&["drift", "--json"]);
    assert_eq!(drift.code, 2, "{drift:?}");
    assert!(
        drift.stdout.contains("notes") && drift.stdout.contains("(sensitive)"),
        "reported, as sensitive: {drift:?}"
    );
    outputs.push(("drift --json".to_string(), drift.all()));
    outputs.push(("drift".to_string(), w.run(&["drift"]).all()));
    let (url, server) = common::webhook();
    let r = w.run(&["drift", "--notify", &url]);
    assert_eq!(r.code, 2, "{r:?}");
    outputs.push(("drift --notify".to_string(), r.all()));
    let body = server.join().unwrap();
    assert!(body.contains("config.document"), "{body}");
    outputs.push(("the drift notification".to_string(), body));
    outputs.push(("state".to_string(), std::fs::read_to_string(w.state_file()).unwrap()));
    assert_hidden(&outputs, &[("database password", &password), ("Django secret key", &key)]);
    for (note, planted) in cfg["notes"].as_object().unwrap() {
        let planted = planted.as_str().unwrap();
        for (what, text) in &outputs {
            assert!(
                !text.contains(planted),
                "the planted copy {note:?} is in the output of {what}:\n{text}"
            );
        }
    }
}

/// Percent-encoding of every byte that is not unreserved (RFC 3986).
fn urlencoding_of(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}
