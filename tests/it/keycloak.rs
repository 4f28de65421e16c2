//! Keycloak as the identity provider, as a user meets it: `plan` checks the realm before changing
//! anything, `apply` builds no Cognito and authenticates at the realm, the client secret stays out
//! of every file, log and output, and a switch away from a Cognito pool with users is refused.
//!
//! Keycloak itself cannot be installed here (it is in none of the registries this project can
//! reach). The realm is served by a STAND-IN, `scripts/local_cloud/keycloak_standin.py`: exactly the
//! Keycloak endpoints used (discovery, JWKS, client-credentials token, admin users), with real RS256
//! keys. Everything on the AWS side is checked through the AWS API against moto.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use crate::common::{repo, Workspace};
use serde_json::{json, Value};

const CLIENT_SECRET: &str = "kc-client-secret-6d1f0c8e2b7a4e39a1c5";
const ADMIN: &str = "admin@example.org";

/// The Keycloak stand-in on a free loopback port, stopped on drop.
struct Standin {
    child: Child,
    url: String,
    _config: tempfile::NamedTempFile,
}

impl Standin {
    fn start(users: Value) -> Standin {
        let mut config = tempfile::NamedTempFile::new().unwrap();
        let c = json!({"realm": "tuva", "clients": {"tuva-empi": {"secret": CLIENT_SECRET, "can_list_users": true}}, "users": users});
        config.write_all(c.to_string().as_bytes()).unwrap();
        let mut child = Command::new(repo().join(".local-cloud/venv/bin/python"))
            .arg(repo().join("scripts/local_cloud/keycloak_standin.py"))
            .arg("--config")
            .arg(config.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Keycloak stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("stand-in said {line:?}"))
            .to_string();
        Standin { child, url, _config: config }
    }

    /// Changes the realm at runtime (users, the client's roles, published keys).
    fn set(&self, patch: Value) {
        let answer = http(&self.url, "POST", "/_standin/config", &patch.to_string());
        assert!(
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            "{answer}"
        );
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP request; the whole response.
fn http(base: &str, method: &str, path: &str, body: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn users(emails: &[&str]) -> Value {
    Value::Array(
        emails
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"username": format!("user{i}"), "email": e}))
            .collect(),
    )
}

/// The client secret stored in Secrets Manager as the user would; its ARN.
async fn client_secret(w: &Workspace) -> String {
    let aws = w.aws().await;
    let r = aws
        .secrets
        .create_secret()
        .name("keycloak/tuva-empi-client")
        .secret_string(CLIENT_SECRET)
        .send()
        .await
        .unwrap();
    r.arn().unwrap().to_string()
}

fn keycloak_identity(url: &str, arn: &str) -> String {
    format!(
        "[identity]\nprovider = \"keycloak\"\nadmin_email = \"{ADMIN}\"\nserver_url = \"{url}\"\nrealm = \"tuva\"\nclient_id = \"tuva-empi\"\nclient_secret_arn = \"{arn}\"\n"
    )
}

const COGNITO_IDENTITY: &str = "[identity]\nadmin_email = \"admin@example.org\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_keycloak_stack_applies_without_cognito_and_its_client_secret_goes_nowhere_else() {
    let kc = Standin::start(users(&[ADMIN, "nurse@example.org"]));
    let w = Workspace::new(&[]);
    let arn = client_secret(&w).await;
    let identity = keycloak_identity(&kc.url, &arn);
    w.write_stack(&[(COGNITO_IDENTITY, &identity)]);
    let mut outputs = vec![];

    let plan = w.ok(&["plan", "--out", "kc.plan"]);
    assert!(
        plan.stderr.contains("Checked Keycloak realm \"tuva\"")
            && plan.stderr.contains("exactly one is admin@example.org"),
        "{plan:?}"
    );
    assert!(!plan.stdout.contains("identity."), "no identity resources with Keycloak: {plan:?}");
    outputs.push(plan.all());
    outputs.push(std::fs::read_to_string(w.dir.path().join("kc.plan")).unwrap());
    let apply = w.ok(&["apply", "kc.plan"]);
    outputs.push(apply.all());

    let aws = w.aws().await;
    // no Cognito resource at all
    let pools = aws.cognito.list_user_pools().max_results(60).send().await.unwrap();
    assert!(pools.user_pools().is_empty(), "{:?}", pools.user_pools());
    // the HTTPS listener signs in at the realm, then forwards
    let st = w.state();
    let listener_arn = st["resources"]["edge.https_listener"]["id"].as_str().unwrap();
    let l = aws.elb.describe_listeners().listener_arns(listener_arn).send().await.unwrap();
    let actions = l.listeners()[0].default_actions();
    let oidc = actions
        .iter()
        .find(|a| a.order() == Some(1))
        .unwrap()
        .authenticate_oidc_config()
        .expect("authenticate-oidc first");
    let realm = format!("{}/realms/tuva", kc.url);
    assert_eq!(oidc.issuer(), Some(realm.as_str()));
    assert_eq!(
        oidc.authorization_endpoint(),
        Some(format!("{realm}/protocol/openid-connect/auth").as_str())
    );
    assert_eq!(
        oidc.token_endpoint(),
        Some(format!("{realm}/protocol/openid-connect/token").as_str())
    );
    assert_eq!(
        oidc.user_info_endpoint(),
        Some(format!("{realm}/protocol/openid-connect/userinfo").as_str())
    );
    assert_eq!(oidc.client_id(), Some("tuva-empi"));
    assert!(
        actions.iter().any(|a| a.order() == Some(2) && a.target_group_arn().is_some()),
        "then forward: {actions:?}"
    );
    // AWS never shows the client secret; the local cloud says whether one was given
    let secrets = http(&w.moto.url, "GET", "/moto-api/empi/elb-oidc-secrets", "");
    let body: Value = serde_json::from_str(secrets.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body.as_array().unwrap().len(), 2, "listener and /api/* rule: {body}");
    assert!(body.as_array().unwrap().iter().all(|x| x["has_client_secret"] == true), "{body}");

    // the config secret: upstream's keycloak block, the client secret copied in
    let cfg = common::config(&aws, "empi-local/tuva-empi-config").await;
    assert_eq!(empi_engine::upstream::check_idp(&cfg["idp"]), Ok(()), "{}", cfg["idp"]);
    assert_eq!(cfg["idp"]["backend"], "keycloak");
    assert!(cfg["idp"].get("aws_cognito").is_none());
    let k = &cfg["idp"]["keycloak"];
    assert_eq!(k["server_url"], kc.url.as_str());
    assert_eq!(k["realm"], "tuva");
    assert_eq!(k["jwks_url"], format!("{realm}/protocol/openid-connect/certs"));
    assert_eq!(k["jwt_aud"], "account");
    assert_eq!(k["jwt_header"], "X-Amzn-Oidc-Accesstoken");
    assert_eq!(k["client_secret"], CLIENT_SECRET);
    // the API's IRSA role may no longer list Cognito users
    let role = aws
        .iam
        .get_role_policy()
        .role_name("empi-local-api")
        .policy_name("tuva-empi")
        .send()
        .await
        .unwrap();
    assert!(!role.policy_document().contains("cognito"), "{}", role.policy_document());

    // converged; drift, outputs and state show nothing of the secret (even at trace level)
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
    for args in [
        &["drift", "--json"][..],
        &["drift"],
        &["plan", "--json"],
        &["output", "--json"],
        &["state", "show", "config.document"],
        &["state", "show", "edge.https_listener"],
    ] {
        outputs.push(w.run(args).all());
    }
    let trace = w.command(&["plan"]).env("EMPI_INFRA_LOG", "trace").output().unwrap();
    assert!(trace.status.success());
    outputs.push(
        String::from_utf8_lossy(&trace.stdout).into_owned()
            + &String::from_utf8_lossy(&trace.stderr),
    );
    for entry in std::fs::read_dir(w.dir.path().join("state")).unwrap() {
        outputs.push(std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default());
    }
    assert!(outputs.len() > 10 && outputs.iter().any(|o| o.contains("authenticate-oidc")));
    for o in &outputs {
        assert!(
            !o.contains(CLIENT_SECRET),
            "the Keycloak client secret leaked into: {}",
            &o[..o.len().min(300)]
        );
    }

    // drift: someone points the listener elsewhere and rewrites the config's idp block
    aws.elb
        .modify_listener()
        .listener_arn(listener_arn)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::AuthenticateOidc)
                .order(1)
                .authenticate_oidc_config(
                    aws_sdk_elasticloadbalancingv2::types::AuthenticateOidcActionConfig::builder()
                        .issuer("https://evil.example.net/realms/tuva")
                        .authorization_endpoint("https://evil.example.net/auth")
                        .token_endpoint("https://evil.example.net/token")
                        .user_info_endpoint("https://evil.example.net/userinfo")
                        .client_id("tuva-empi")
                        .use_existing_client_secret(true)
                        .build(),
                )
                .build(),
        )
        .default_actions(actions[1].clone())
        .send()
        .await
        .unwrap();
    let mut changed = cfg.clone();
    changed["idp"]["keycloak"]["realm"] = json!("other");
    aws.secrets
        .put_secret_value()
        .secret_id("empi-local/tuva-empi-config")
        .secret_string(changed.to_string())
        .send()
        .await
        .unwrap();
    let drift = w.run(&["drift", "--json"]);
    assert_ne!(drift.code, 0, "{drift:?}");
    assert!(
        drift.stdout.contains("edge.https_listener") && drift.stdout.contains("evil.example.net"),
        "{drift:?}"
    );
    assert!(drift.stdout.contains("config.document"), "{drift:?}");
    assert!(!drift.all().contains(CLIENT_SECRET));

    // the client secret is rotated in Keycloak and in its secret: the next apply copies it again
    let rotated = "kc-rotated-secret-0b9e3d2c7f1a4b8e";
    kc.set(json!({"clients": {"tuva-empi": {"secret": rotated}}}));
    aws.secrets.put_secret_value().secret_id(&arn).secret_string(rotated).send().await.unwrap();
    let plan = w.run(&["plan"]);
    assert!(plan.stdout.contains("differs from its source secret"), "{plan:?}");
    // the ALB never shows its copy: the secret's new version id is what changes there
    assert!(
        plan.stdout.contains("~ edge.https_listener") && plan.stdout.contains("~ edge.api_rule"),
        "{plan:?}"
    );
    assert!(plan.stdout.contains("client_secret_version"), "{plan:?}");
    let apply = w.ok(&["apply", "--auto-approve"]);
    assert!(!apply.all().contains(rotated));
    let cfg = common::config(&aws, "empi-local/tuva-empi-config").await;
    assert_eq!(cfg["idp"]["keycloak"]["client_secret"], rotated);
    // what the ALB holds, read with the local cloud's realism off (AWS never returns it)
    w.moto.realism(r#"{"enabled": false}"#);
    let l = aws.elb.describe_listeners().listener_arns(listener_arn).send().await.unwrap();
    let held = l.listeners()[0].default_actions().iter().find_map(|a| {
        a.authenticate_oidc_config().and_then(|c| c.client_secret().map(String::from))
    });
    w.moto.realism(r#"{"enabled": true}"#);
    assert_eq!(held.as_deref(), Some(rotated), "the ALB signs in with the rotated secret");
    assert_eq!(cfg["idp"]["keycloak"]["realm"], "tuva");
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_checks_the_realm_before_changing_anything_and_names_the_fix() {
    let kc = Standin::start(users(&["nurse@example.org"]));
    let w = Workspace::new(&[]);
    let arn = client_secret(&w).await;
    w.write_stack(&[(COGNITO_IDENTITY, &keycloak_identity(&kc.url, &arn))]);
    let fails = |needle: &str| {
        let o = w.run(&["plan"]);
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stderr.contains(needle), "expected {needle:?}: {o:?}");
        assert!(!o.all().contains(CLIENT_SECRET));
    };
    fails("create the user in Keycloak first");
    kc.set(json!({"users": users(&[ADMIN, ADMIN, "nurse@example.org"])}));
    fails("Tuva's bootstrap needs exactly one");
    kc.set(json!({"users": users(&["Admin@Example.org"])}));
    fails("admin_email = \"Admin@Example.org\"");
    kc.set(json!({"users": [{"username": "admin", "email": ADMIN}, {"username": "robot"}]}));
    fails("user \"robot\" of realm \"tuva\" has no email address");
    kc.set(json!({"users": users(&[ADMIN])}));
    kc.set(json!({"clients": {"tuva-empi": {"can_list_users": false}}}));
    fails("view-users and query-users");
    kc.set(json!({"clients": {"tuva-empi": {"can_list_users": true, "secret": "another"}}}));
    fails("check that client_secret_arn holds the current secret");
    kc.set(json!({"clients": {"tuva-empi": {"secret": CLIENT_SECRET}}, "jwks_algs": ["ES256"]}));
    fails("publishes no RS256 signing key (its JWKS has: ES256)");
    kc.set(json!({"jwks_algs": ["RS256"]}));
    w.write_stack(&[(
        COGNITO_IDENTITY,
        &keycloak_identity(&kc.url, &arn).replace("realm = \"tuva\"", "realm = \"Tuva\""),
    )]);
    fails("has no realm \"Tuva\"");
    // many users: the admin API is paged as bootstrap pages it
    let many: Vec<String> = (0..230).map(|i| format!("user{i}@example.org")).collect();
    let mut emails: Vec<&str> = many.iter().map(String::as_str).collect();
    emails.push(ADMIN);
    kc.set(json!({"users": users(&emails)}));
    w.write_stack(&[(COGNITO_IDENTITY, &keycloak_identity(&kc.url, &arn))]);
    let o = w.ok(&["plan"]);
    assert!(o.stderr.contains("231 users, exactly one is admin@example.org"), "{o:?}");
    // nothing was made while the checks failed
    let vpcs = w.aws().await.ec2.describe_vpcs().send().await.unwrap();
    assert!(vpcs.vpcs().iter().all(|v| v.is_default() == Some(true)), "{:?}", vpcs.vpcs());
    assert!(!w.state_file().exists() || w.state()["resources"].as_object().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn switching_from_a_cognito_pool_with_users_to_keycloak_is_refused_until_allowed() {
    let kc = Standin::start(users(&[ADMIN]));
    let w = Workspace::new(&[]);
    w.ok(&["apply", "--auto-approve"]);
    let aws = w.aws().await;
    let pool = w.state()["resources"]["identity.user_pool"]["id"].as_str().unwrap().to_string();
    for i in 0..61 {
        aws.cognito
            .admin_create_user()
            .user_pool_id(&pool)
            .username(format!("user{i}@example.org"))
            .send()
            .await
            .unwrap();
    }
    let plan = w.ok(&["plan"]);
    assert!(plan.all().contains("more than 60 users"), "{plan:?}");

    let arn = client_secret(&w).await;
    w.write_stack(&[(COGNITO_IDENTITY, &keycloak_identity(&kc.url, &arn))]);
    let plan = w.ok(&["plan"]);
    assert!(plan.all().contains("changes from Cognito to Keycloak"), "{plan:?}");
    for a in ["identity.user_pool", "identity.app_client", "identity.admin_user", "identity.domain"]
    {
        assert!(plan.stdout.contains(a), "{a} is deleted: {plan:?}");
    }
    let refused = w.run(&["apply", "--auto-approve"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("holds 62 users")
            && refused.stderr.contains("--allow-replace identity.user_pool"),
        "{refused:?}"
    );
    assert_eq!(
        aws.cognito.list_user_pools().max_results(60).send().await.unwrap().user_pools().len(),
        1
    );

    w.ok(&["apply", "--auto-approve", "--allow-replace", "identity.user_pool"]);
    assert!(aws
        .cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .user_pools()
        .is_empty());
    assert_eq!(
        common::config(&aws, "empi-local/tuva-empi-config").await["idp"]["backend"],
        "keycloak"
    );
    assert_eq!(w.run(&["plan", "--detailed-exitcode"]).code, 0);
}
