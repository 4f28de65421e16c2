use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::graph::ResourceGraph;
use crate::plan::{diff, Live};
use crate::resource::Observed;
use crate::stack::Stack;
use crate::state::{ResourceState, State, Status};

fn prod() -> Stack {
    Stack::parse(
        "stacks/example-prod.toml",
        include_str!("../../../../../stacks/example-prod.toml"),
    )
    .unwrap()
}

fn graph(stack: &Stack) -> ResourceGraph {
    ResourceGraph::new(crate::blueprint::expand(stack, "123456789012")).unwrap()
}

fn new_stack_plan() -> (Plan, Value) {
    let plan = diff(
        &graph(&prod()),
        &State::new("tuva-empi-prod"),
        &BTreeMap::new(),
        &crate::kinds::schema,
        "d",
    );
    let doc = render_terraform(&plan, &Provider { region: Some("us-east-1".into()) });
    (plan, doc)
}

fn resources(doc: &Value) -> Vec<&Value> {
    doc["planned_values"]["root_module"]["resources"].as_array().unwrap().iter().collect()
}

fn resource<'a>(doc: &'a Value, address: &str) -> &'a Value {
    resources(doc)
        .into_iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no {address}"))
}

fn change<'a>(doc: &'a Value, address: &str) -> &'a Value {
    doc["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no change {address}"))
}

#[test]
fn every_kind_maps_or_says_why_not() {
    for k in crate::kinds::ALL {
        let mapped = MAPPINGS.iter().any(|(kind, _)| *kind == k.kind);
        let left_out = NO_EQUIVALENT.iter().any(|(kind, _)| *kind == k.kind);
        assert!(
            mapped != left_out,
            "{}: add it to MAPPINGS or NO_EQUIVALENT (exactly one) in plan/terraform/kinds/mod.rs",
            k.kind
        );
    }
    for kind in MAPPINGS.iter().map(|(k, _)| k).chain(NO_EQUIVALENT.iter().map(|(k, _)| k)) {
        assert!(crate::kinds::schema(kind).is_some(), "{kind} is not a kind");
    }
}

#[test]
fn every_mapping_makes_the_types_it_declares_with_inputs_the_kind_has() {
    let specs = crate::blueprint::expand(&prod(), "1");
    for (kind, m) in MAPPINGS {
        let schema = crate::kinds::schema(kind).unwrap();
        let Some(spec) = specs.iter().find(|s| s.kind == *kind) else { continue };
        let made = (m.map)(&Src { inputs: &spec.inputs, name: &spec.name });
        assert_eq!(made[0].ty, m.types[0], "{kind}: the primary comes first");
        assert!(
            made.iter().all(|r| m.types.contains(&r.ty)),
            "{kind} makes a type it does not declare"
        );
        // every input the mapping reads is one the kind declares (a misspelt input would be null)
        for r in &made {
            for (_, x) in &r.attrs {
                check_inputs(x, spec, schema);
            }
        }
        for (out, _) in m.outputs.iter().copied().chain(m.computed.iter().map(|(_, o)| (*o, ""))) {
            assert!(schema.outputs.contains(&out), "{kind} has no output {out}");
        }
    }
}

fn check_inputs(
    x: &TfValue,
    spec: &crate::resource::ResourceSpec,
    schema: &crate::resource::Schema,
) {
    match x {
        TfValue::E(Expr::Lit(_)) | TfValue::Sensitive => {}
        TfValue::E(e) => assert!(
            spec.inputs.values().any(|i| contains(i, e)),
            "{}: {e:?} is not an input",
            spec.kind
        ),
        TfValue::List(xs) => xs.iter().for_each(|x| check_inputs(x, spec, schema)),
        TfValue::Obj(fs) => fs.iter().for_each(|(_, x)| check_inputs(x, spec, schema)),
        TfValue::Json(x) | TfValue::Fn(x, _) | TfValue::Computed(x) | TfValue::Own(_, x) => {
            check_inputs(x, spec, schema)
        }
    }
}

fn contains(haystack: &Expr, needle: &Expr) -> bool {
    haystack == needle
        || match haystack {
            Expr::Concat(xs) | Expr::List(xs) => xs.iter().any(|x| contains(x, needle)),
            Expr::Object(m) => m.values().any(|x| contains(x, needle)),
            Expr::Json(x) => contains(x, needle),
            Expr::Lit(_) | Expr::Ref { .. } => false,
        }
}

#[test]
fn addresses_are_flat_in_the_root_module() {
    assert_eq!(
        tf_name("network.public_subnet[1]"),
        ("network_public_subnet".into(), Some(json!(1)))
    );
    assert_eq!(tf_name("iam.api_role"), ("iam_api_role".into(), None));
    assert_eq!(
        tf_name("database.parameter_group#deposed"),
        ("database_parameter_group".into(), None)
    );
    assert_eq!(
        tf_name("workloads.service_account[matching-job]"),
        ("workloads_service_account".into(), Some(json!("matching-job")))
    );
    let (_, doc) = new_stack_plan();
    let name = regex_like_terraform_name();
    for r in resources(&doc) {
        let n = r["name"].as_str().unwrap();
        assert!(name(n), "{n} is not a valid Terraform name");
        let index = r.get("index").map(|i| format!("[{i}]")).unwrap_or_default();
        assert_eq!(r["address"], format!("{}.{n}{index}", r["type"].as_str().unwrap()));
    }
    resource(&doc, "aws_subnet.network_public_subnet[0]");
    resource(&doc, "aws_subnet.network_private_subnet[1]");
    resource(&doc, "aws_iam_role_policy_attachment.iam_node_role[\"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy\"]");
    resource(&doc, "aws_iam_role_policy.iam_api_role[\"tuva-empi\"]");
}

/// Terraform's identifier rule: a letter or underscore, then letters, digits, underscores, dashes.
fn regex_like_terraform_name() -> impl Fn(&str) -> bool {
    |n: &str| {
        let mut c = n.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == '-')
    }
}

#[test]
fn a_new_stack_is_all_creates_with_every_aws_resource() {
    let (plan, doc) = new_stack_plan();
    assert_eq!(doc["format_version"], "1.2");
    assert!(doc["terraform_version"].as_str().unwrap().starts_with("1.5.0+empi-infra."));
    let mapped: Vec<&ResourceChange> =
        plan.changes.iter().filter(|c| mapping(&c.kind).is_ok()).collect();
    assert!(mapped.len() > 40 && plan.changes.len() > mapped.len(), "the workloads are left out");
    for c in &mapped {
        let (name, _) = tf_name(&c.address);
        assert!(
            resources(&doc).iter().any(|r| r["name"] == name.as_str()),
            "{} is missing",
            c.address
        );
    }
    let changes = doc["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), resources(&doc).len());
    for c in changes {
        assert_eq!(c["change"]["actions"], json!(["create"]), "{}", c["address"]);
        assert_eq!(c["change"]["before"], Value::Null);
        assert_eq!(c["provider_name"], AWS_PROVIDER);
    }
    let config = doc["configuration"]["root_module"]["resources"].as_array().unwrap();
    let subnets =
        config.iter().find(|r| r["address"] == "aws_subnet.network_public_subnet").unwrap();
    assert_eq!(subnets["count_expression"]["constant_value"], 2);
    assert_eq!(
        doc["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"],
        "us-east-1"
    );
}

#[test]
fn attributes_have_the_providers_names_and_shapes() {
    let (_, doc) = new_stack_plan();
    let db = &resource(&doc, "aws_db_instance.database_instance")["values"];
    assert_eq!(db["storage_encrypted"], true);
    assert_eq!(db["publicly_accessible"], false);
    assert_eq!(db["identifier"], "tuva-empi-prod-db");
    assert_eq!(db["username"], "tuva_empi");
    let eks = &resource(&doc, "aws_eks_cluster.cluster_eks")["values"];
    assert_eq!(eks["vpc_config"].as_array().unwrap().len(), 1, "a list of one block");
    assert_eq!(eks["vpc_config"][0]["public_access_cidrs"], json!(["0.0.0.0/0"]));
    assert_eq!(eks["enabled_cluster_log_types"].as_array().unwrap().len(), 5);
    let https = &resource(&doc, "aws_lb_listener.edge_https_listener")["values"];
    assert_eq!(https["default_action"][0]["type"], "authenticate-cognito");
    assert_eq!(https["default_action"][1]["type"], "forward");
    assert_eq!(https["default_action"][1]["order"], 2);
    let http = &resource(&doc, "aws_lb_listener.edge_http_listener")["values"];
    assert_eq!(http["default_action"][0]["redirect"][0]["protocol"], "HTTPS");
    let alb = &resource(&doc, "aws_security_group.network_alb_security_group")["values"];
    let ingress = alb["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 2);
    assert_eq!(ingress[0]["cidr_blocks"], json!(["0.0.0.0/0"]));
    // egress: the node ports in the private subnets and HTTPS out (the identity provider); nothing all-protocol
    let egress = alb["egress"].as_array().unwrap();
    assert!(egress.iter().all(|r| r["protocol"] == "tcp"), "{egress:?}");
    assert!(
        egress.iter().any(|r| r["from_port"] == 443 && r["cidr_blocks"] == json!(["0.0.0.0/0"])),
        "{egress:?}"
    );
    let db_sg = &resource(&doc, "aws_security_group.network_database_security_group")["values"];
    assert_eq!(db_sg["ingress"][0]["from_port"], 5432);
    assert_eq!(db_sg["ingress"][0]["cidr_blocks"], json!([]));
    assert_eq!(db_sg["egress"], json!([]), "the database starts no connection");
    let nodes = &resource(&doc, "aws_security_group.network_node_security_group")["values"];
    assert!(nodes["egress"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["protocol"] == "-1" && r["self"] == true && r["cidr_blocks"] == json!([])));
    let default =
        &resource(&doc, "aws_default_security_group.network_default_security_group")["values"];
    assert_eq!((&default["ingress"], &default["egress"]), (&json!([]), &json!([])));
    let lt = &resource(&doc, "aws_launch_template.cluster_node_launch_template")["values"];
    assert_eq!(lt["metadata_options"][0]["http_put_response_hop_limit"], 1);
    let pool = &resource(&doc, "aws_cognito_user_pool.identity_user_pool")["values"];
    assert_eq!(pool["mfa_configuration"], "ON");
    assert_eq!(pool["software_token_mfa_configuration"], json!([{"enabled": true}]));
    assert_eq!(pool["password_policy"][0]["minimum_length"], 14);
    assert_eq!(pool["user_pool_add_ons"][0]["advanced_security_mode"], "ENFORCED");
    assert_eq!(pool["deletion_protection"], "ACTIVE");
    let client = &resource(&doc, "aws_cognito_user_pool_client.identity_app_client")["values"];
    assert_eq!(client["prevent_user_existence_errors"], "ENABLED");
    let role = &resource(&doc, "aws_iam_role.iam_cluster_role")["values"];
    let trust: Value = serde_json::from_str(role["assume_role_policy"].as_str().unwrap()).unwrap();
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], "eks.amazonaws.com");
    let pab = &resource(&doc, "aws_s3_bucket_public_access_block.storage_bucket")["values"];
    assert_eq!(pab["restrict_public_buckets"], true);
    assert_eq!(pab["bucket"], "tuva-empi-prod-data-123456789012");
    let v = &resource(&doc, "aws_s3_bucket_versioning.storage_bucket")["values"];
    assert_eq!(v["versioning_configuration"][0]["status"], "Enabled");
    let pg = &resource(&doc, "aws_db_parameter_group.database_parameter_group")["values"];
    assert_eq!(
        pg["parameter"],
        json!([
            {"name": "rds.force_ssl", "value": "1", "apply_method": "pending-reboot"},
            {"name": "log_connections", "value": "1", "apply_method": "immediate"},
            {"name": "log_disconnections", "value": "1", "apply_method": "immediate"},
        ])
    );
    // audit controls, as Checkov reads them
    let db = &resource(&doc, "aws_db_instance.database_instance")["values"];
    assert_eq!(db["enabled_cloudwatch_logs_exports"], json!(["postgresql"]));
    let lb = &resource(&doc, "aws_lb.edge_alb")["values"];
    assert_eq!(
        (lb["access_logs"][0]["prefix"].as_str(), lb["access_logs"][0]["enabled"].as_bool()),
        (Some("alb"), Some(true))
    );
    let logging = &resource(&doc, "aws_s3_bucket_logging.storage_bucket")["values"];
    assert_eq!(logging["target_prefix"], "s3-access/");
    let group = &resource(&doc, "aws_cloudwatch_log_group.audit_eks_log_group")["values"];
    assert_eq!(
        (group["name"].as_str(), group["retention_in_days"].as_u64()),
        (Some("/aws/eks/tuva-empi-prod/cluster"), Some(365))
    );
    let flow = &resource(&doc, "aws_flow_log.audit_flow_log")["values"];
    assert_eq!(flow["traffic_type"], "ALL");
    let policy: Value = serde_json::from_str(
        resource(&doc, "aws_s3_bucket_policy.audit_log_bucket")["values"]["policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"], "false");
    let rule = &resource(&doc, "aws_s3_bucket_lifecycle_configuration.audit_log_bucket")["values"]
        ["rule"][0];
    assert_eq!(rule["expiration"][0]["days"], 365);
}

#[test]
fn unknown_values_go_to_after_unknown_and_secrets_have_no_value() {
    let (_, doc) = new_stack_plan();
    let text = doc.to_string();
    assert!(
        !text.contains(UNKNOWN) && !text.contains(SENSITIVE),
        "no marker strings in the document"
    );
    let subnet = change(&doc, "aws_subnet.network_public_subnet[0]");
    assert!(subnet["change"]["after"].get("vpc_id").is_none(), "unknown: not in after");
    assert_eq!(subnet["change"]["after_unknown"]["vpc_id"], true);
    assert_eq!(subnet["change"]["after_unknown"]["id"], true);
    assert!(
        subnet["change"]["after_unknown"].get("cidr_block").is_none(),
        "known: not in after_unknown"
    );
    let eks = change(&doc, "aws_eks_cluster.cluster_eks");
    assert_eq!(eks["change"]["after_unknown"]["vpc_config"][0]["subnet_ids"], json!([true, true]));
    let db = change(&doc, "aws_db_instance.database_instance");
    assert!(db["change"]["after"].get("password").is_none());
    assert_eq!(db["change"]["after_sensitive"]["password"], true);
    assert_eq!(
        resource(&doc, "aws_db_instance.database_instance")["sensitive_values"]["password"],
        true
    );
    let secret = change(&doc, "aws_secretsmanager_secret_version.config_document");
    assert!(secret["change"]["after"].get("secret_string").is_none());
    assert_eq!(secret["change"]["after_sensitive"]["secret_string"], true);
    // references in the configuration, as Terraform writes them
    let config = doc["configuration"]["root_module"]["resources"].as_array().unwrap();
    let sub = config.iter().find(|r| r["address"] == "aws_subnet.network_public_subnet").unwrap();
    assert_eq!(
        sub["expressions"]["vpc_id"]["references"],
        json!(["aws_vpc.network_vpc.id", "aws_vpc.network_vpc"])
    );
    assert_eq!(sub["expressions"]["map_public_ip_on_launch"]["constant_value"], false);
    let oidc = config
        .iter()
        .find(|r| r["address"] == "aws_iam_openid_connect_provider.iam_oidc_provider")
        .unwrap();
    assert_eq!(
        oidc["expressions"]["url"]["references"][0],
        "aws_eks_cluster.cluster_eks.identity[0].oidc[0].issuer"
    );
    let db = config.iter().find(|r| r["address"] == "aws_db_instance.database_instance").unwrap();
    assert!(db["expressions"].get("password").is_none());
}

/// State as apply leaves it for `plan`: every resource created with its inputs and outputs.
fn applied(plan: &Plan) -> (State, BTreeMap<String, Live>) {
    let mut state = State::new("tuva-empi-prod");
    let mut live = BTreeMap::new();
    // outputs, in plan (topological) order, so that every input resolves
    let mut outputs: BTreeMap<String, crate::resource::Attrs> = BTreeMap::new();
    for c in &plan.changes {
        let spec = c.spec.as_ref().unwrap();
        let schema = crate::kinds::schema(&c.kind).unwrap();
        let out: crate::resource::Attrs = schema
            .outputs
            .iter()
            .map(|o| (o.to_string(), json!(format!("{}-{o}", c.address))))
            .collect();
        outputs.insert(c.address.clone(), out.clone());
        let lookup = |a: &str, o: &str| outputs.get(a).and_then(|x| x.get(o)).cloned();
        let attrs: crate::resource::Attrs =
            spec.inputs.iter().map(|(k, e)| (k.clone(), e.resolve(&lookup).unwrap())).collect();
        let id = format!("{}-id", c.address);
        state.resources.insert(
            c.address.clone(),
            ResourceState {
                kind: c.kind.clone(),
                name: spec.name.clone(),
                id: Some(id.clone()),
                status: Status::Created,
                attrs: attrs.clone(),
                outputs: out.clone(),
                depends_on: vec![],
            },
        );
        live.insert(
            c.address.clone(),
            Live { id: Some(id), observed: Some(Observed { attrs, outputs: out }) },
        );
    }
    (state, live)
}

#[test]
fn updates_replacements_and_deletes_have_terraforms_actions() {
    let (plan, _) = new_stack_plan();
    let (state, live) = applied(&plan);
    // nothing changed: every resource is a no-op with its values known
    let same = diff(&graph(&prod()), &state, &live, &crate::kinds::schema, "d");
    let doc = render_terraform(&same, &Provider::default());
    for c in doc["resource_changes"].as_array().unwrap() {
        assert_eq!(c["change"]["actions"], json!(["no-op"]), "{}", c["address"]);
        assert_eq!(c["change"]["before"], c["change"]["after"], "{}", c["address"]);
    }
    let subnet = change(&doc, "aws_subnet.network_public_subnet[0]");
    assert_eq!(subnet["change"]["after"]["vpc_id"], "network.vpc-id");
    assert_eq!(subnet["change"]["after"]["id"], "network.public_subnet[0]-id");

    // more nodes (update in place), a new engine major (create-before-destroy replacement) and
    // no WAF (two deletes)
    let src = include_str!("../../../../../stacks/example-prod.toml")
        .replace("desired = 2", "desired = 3")
        .replace("engine_version = \"16\"", "engine_version = \"17\"")
        .replace("waf = true", "waf = false");
    let changed = Stack::parse("s.toml", &src).unwrap();
    let next = diff(&graph(&changed), &state, &live, &crate::kinds::schema, "d");
    let doc = render_terraform(&next, &Provider::default());
    let ng = change(&doc, "aws_eks_node_group.cluster_node_group");
    assert_eq!(ng["change"]["actions"], json!(["update"]));
    assert_eq!(ng["change"]["before"]["scaling_config"][0]["desired_size"], 2);
    assert_eq!(ng["change"]["after"]["scaling_config"][0]["desired_size"], 3);
    let pg = change(&doc, "aws_db_parameter_group.database_parameter_group");
    assert_eq!(pg["change"]["actions"], json!(["create", "delete"]));
    assert_eq!(pg["action_reason"], "replace_because_cannot_update");
    assert_eq!(pg["change"]["after"]["family"], "postgres17");
    let waf = change(&doc, "aws_wafv2_web_acl.edge_waf");
    assert_eq!(waf["change"]["actions"], json!(["delete"]));
    assert_eq!(waf["change"]["after"], Value::Null);
    assert_eq!(waf["action_reason"], "delete_because_no_resource_config");
    assert!(
        !resources(&doc).iter().any(|r| r["type"] == "aws_wafv2_web_acl"),
        "a deleted resource is not planned"
    );
    let db = change(&doc, "aws_db_instance.database_instance");
    assert_eq!(db["change"]["actions"], json!(["update"]), "its parameter group's name changes");
    assert!(!doc.to_string().contains(SENSITIVE));
}
