//! The stack file's JSON Schema (`empi-infra schema`, committed as docs/generated/stack.schema.json), generated
//! with schemars from the types the parser deserializes ([`crate::stack::RawStack`]): their doc
//! comments are its descriptions, `deny_unknown_fields` its `additionalProperties: false`, and the
//! lists the parser checks against (regions, RDS versions and classes, resource kinds) its enums.
//! Editors use it for completion and checks as the stack is typed (docs/STACK.md); `validate`
//! stays the authority (it checks what a schema cannot: cross-key rules, the EKS calendar).
//!
//! Draft 7, the newest draft that taplo (Even Better TOML) and most editors read.

use schemars::generate::SchemaSettings;

use serde_json::{json, Map, Value};

use crate::stack::RawStack;

/// The JSON Schema of a stack file.
pub fn schema() -> Value {
    let generator = SchemaSettings::draft07().into_generator();
    let mut generated = generator.into_root_schema_for::<RawStack>().to_value();
    tidy(&mut generated);
    let Value::Object(mut generated) = generated else {
        unreachable!("a root schema is an object")
    };
    let kinds: Vec<&str> = crate::kinds::ALL.iter().map(|k| k.kind).collect();
    if let Some(Value::Object(timeouts)) =
        generated.get_mut("properties").and_then(|p| p.get_mut("timeouts"))
    {
        timeouts.insert("propertyNames".into(), json!({ "enum": kinds }));
    }
    // the header first, for a reader of the file
    let mut root = Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(v) = generated.remove(key) {
            root.insert(key.into(), v);
        }
    }
    root.insert("title".into(), "empi-infra stack file".into());
    root.extend(generated);
    Value::Object(root)
}

/// The schema as `empi-infra schema` prints it and docs/generated/stack.schema.json holds it.
pub fn schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).expect("a schema serializes");
    s.push('\n');
    s
}

/// At any depth: removes what schemars says of `Option` fields (`"type": [T, "null"]`, `anyOf: [T,
/// {"type": "null"}]`, `"default": null`), since TOML has no null (an optional key is one left
/// out); removes the Rust integer widths (`"format": "int64"`); and joins the lines of a doc
/// comment into the paragraphs an editor shows.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("format").is_some_and(|f| f == "int64") {
                o.remove("format");
            }
            if let Some(Value::String(d)) = o.get_mut("description") {
                *d = d
                    .split("\n\n")
                    .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    o.insert("type".into(), t);
                }
            }
            if o.get("default") == Some(&Value::Null) {
                o.remove("default");
            }
            if let Some(Value::Array(any)) = o.get_mut("anyOf") {
                any.retain(|s| s != &json!({ "type": "null" }));
                if any.len() == 1 {
                    let only = any.remove(0);
                    o.remove("anyOf");
                    merge(o, only);
                }
            }
            for x in o.values_mut() {
                tidy(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Puts `sub`'s keywords into `o`; a `$ref` goes under `allOf`, since draft 7 ignores the keywords
/// beside a `$ref` (the description would be lost).
fn merge(o: &mut Map<String, Value>, sub: Value) {
    match sub {
        Value::Object(s) if s.contains_key("$ref") => {
            o.insert("allOf".into(), json!([s]));
        }
        Value::Object(s) => {
            for (k, v) in s {
                o.entry(k).or_insert(v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Stack;

    const COGNITO: &str = r#"name = "tuva-empi-prod"
region = "us-east-1"
[identity]
admin_email = "admin@example.org"
[app]
hostname = "empi.example.org"
certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
"#;

    /// Every `default` the schema states is the value the parser fills in when the key is left out.
    #[test]
    fn the_schema_defaults_are_the_parsers_defaults() {
        let keycloak = COGNITO.replace(
            "admin_email",
            "provider = \"keycloak\"\nserver_url = \"https://sso.example.org\"\nrealm = \"t\"\nclient_id = \"c\"\nclient_secret_arn = \"arn:aws:secretsmanager:us-east-1:123456789012:secret:x\"\nadmin_email",
        );
        let resolved: Vec<Value> = [COGNITO, keycloak.as_str()]
            .iter()
            .map(|s| serde_json::to_value(Stack::parse("s.toml", s).unwrap()).unwrap())
            .collect();
        let s = schema();
        let mut checked = 0;
        // (schema definition, key in the stack file, where the resolved stack holds the value)
        for (def, key, path) in [
            ("", "tags", "/tags"),
            ("State", "backend", "/state/backend"),
            ("Network", "cidr", "/network/cidr"),
            ("Network", "availability_zones", "/network/availability_zones"),
            ("Network", "nat_gateways", "/network/nat_gateways"),
            ("Cluster", "public_access_cidrs", "/cluster/public_access_cidrs"),
            ("Cluster", "admins", "/cluster/admins"),
            ("Nodes", "instance_types", "/cluster/nodes/instance_types"),
            ("Nodes", "min", "/cluster/nodes/min"),
            ("Nodes", "max", "/cluster/nodes/max"),
            ("Nodes", "desired", "/cluster/nodes/desired"),
            ("Database", "engine_version", "/database/engine_version"),
            ("Database", "instance_class", "/database/instance_class"),
            ("Database", "allocated_storage_gb", "/database/allocated_storage_gb"),
            ("Database", "multi_az", "/database/multi_az"),
            ("Database", "backup_retention_days", "/database/backup_retention_days"),
            ("Database", "deletion_protection", "/database/deletion_protection"),
            ("Database", "keep_upgrade_snapshots", "/database/keep_upgrade_snapshots"),
            ("Identity", "provider", "/identity/provider/provider"),
            ("Identity", "jwt_aud", "/identity/provider/jwt_aud"),
            ("Identity", "mfa", "/identity/provider/mfa"),
            ("App", "version", "/app/version"),
            ("App", "namespace", "/app/namespace"),
            ("App", "api_replicas", "/app/api_replicas"),
            ("App", "frontend_replicas", "/app/frontend_replicas"),
            ("App", "matching_service_replicas", "/app/matching_service_replicas"),
            ("App", "matching_job_runner", "/app/matching_job_runner"),
            ("App", "rollout_timeout", "/app/rollout_timeout_secs"),
            ("App", "health_proxy_image", "/app/health_proxy_image"),
            ("Edge", "waf", "/edge/waf"),
            ("Security", "log_retention_days", "/security/log_retention_days"),
            ("Security", "cloudtrail", "/security/cloudtrail"),
            ("Security", "force_destroy_logs", "/security/force_destroy_logs"),
            ("Security", "max_secret_age_days", "/security/max_secret_age_days"),
            ("Drift", "ignore", "/drift/ignore"),
            ("Security", "waive", "/security/waivers"),
        ] {
            let props = if def.is_empty() {
                &s["properties"]
            } else {
                &s["definitions"][def]["properties"]
            };
            let default = &props[key]["default"];
            assert!(!default.is_null(), "{def}.{key} states no default");
            let actual = resolved
                .iter()
                .find_map(|r| r.pointer(path))
                .unwrap_or_else(|| panic!("no {path}"));
            let default = match (key, default) {
                ("rollout_timeout", Value::String(d)) => {
                    json!(humantime::parse_duration(d).unwrap().as_secs())
                }
                _ => default.clone(),
            };
            assert_eq!(&default, actual, "{def}.{key}");
            checked += 1;
        }
        // and no default is stated that the list above does not check
        let stated = std::iter::once(&s)
            .chain(s["definitions"].as_object().unwrap().values())
            .flat_map(|d| d["properties"].as_object().into_iter().flatten())
            .filter(|(_, p)| p.get("default").is_some())
            .count();
        assert_eq!(stated, checked);
    }

    #[test]
    fn unknown_keys_are_refused_everywhere_and_optional_keys_are_never_null() {
        let s = schema();
        assert_eq!(s["additionalProperties"], false);
        for (name, d) in s["definitions"].as_object().unwrap() {
            assert_eq!(d["additionalProperties"], false, "{name}");
        }
        assert!(!s.to_string().contains("\"null\""), "TOML has no null");
        assert_eq!(s["required"], json!(["name", "region", "identity", "app"]));
        let required: Vec<(&String, &Value)> = s["definitions"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(name, d)| d.get("required").map(|r| (name, r)))
            .collect();
        let (app, identity, waiver) =
            (String::from("App"), String::from("Identity"), String::from("Waiver"));
        assert_eq!(
            required,
            [
                (&identity, &json!(["admin_email"])),
                (&app, &json!(["hostname", "certificate_arn"])),
                (&waiver, &json!(["rule", "reason", "expires"]))
            ]
        );
    }
}
