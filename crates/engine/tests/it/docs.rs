//! The docs that are generated from the code match it: docs/generated/KINDS.md (every kind, its addresses,
//! force-new attributes, timeouts and IAM actions) and the IAM policies in docs/OPERATOR-IAM.md from
//! the kind declarations (`empi_engine::kinds`), and docs/generated/stack.schema.json from the stack file's
//! parser types (`empi_engine::stack_schema`). `EMPI_BLESS=1 cargo test -p empi-engine --test it docs::`
//! rewrites them after the code changed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use empi_engine::kinds::{self, ALL};
use empi_engine::stack::Stack;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn minutes(secs: u32) -> String {
    if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Addresses of `kind` in the example stack, with indexes folded (`network.public_subnet[*]`).
fn addresses() -> BTreeMap<String, Vec<String>> {
    let path = repo().join("stacks/example-prod.toml");
    let stack =
        Stack::parse("stacks/example-prod.toml", &std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in empi_engine::blueprint::expand(&stack, "123456789012") {
        let folded = match s.address.find('[') {
            Some(i) => format!("{}[*]", &s.address[..i]),
            None => s.address.clone(),
        };
        let v = out.entry(s.kind.clone()).or_default();
        if !v.contains(&folded) {
            v.push(folded);
        }
    }
    out
}

fn kinds_md() -> String {
    let addrs = addresses();
    let mut t = String::from(
        "# Resource kinds\n\n\
         Generated from the declarations in `crates/engine/src/kinds/` by `EMPI_BLESS=1 cargo test -p empi-engine --test it docs::`;\n\
         the test fails when this file and the declarations differ. Addresses are those of `stacks/example-prod.toml`.\n\
         Timeouts are create / update / delete (waits included). An attribute marked \"once set\" is set in place on an object\n\
         that has none, and forces replacement once it has one.\n\n\
         | kind | addresses | force-new attributes | timeouts | IAM actions |\n|---|---|---|---|---|\n",
    );
    for k in ALL {
        let force: Vec<String> = k
            .attrs
            .iter()
            .filter(|a| a.force_new || a.set_once)
            .map(|a| if a.set_once { format!("{} (once set)", a.name) } else { a.name.to_string() })
            .collect();
        let mut flags = Vec::new();
        if k.stateful {
            flags.push("stateful");
        }
        if k.run_once {
            flags.push("run once");
        }
        if k.create_before_destroy {
            flags.push("create before destroy");
        }
        let kind = if flags.is_empty() {
            format!("`{}`", k.kind)
        } else {
            format!("`{}` ({})", k.kind, flags.join(", "))
        };
        let mut actions: Vec<&str> = k.iam.all().collect();
        actions.sort();
        actions.dedup();
        let a = addrs
            .get(k.kind)
            .map(|v| v.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        t.push_str(&format!(
            "| {kind} | {a} | {} | {} / {} / {} | {} |\n",
            if force.is_empty() { "—".to_string() } else { force.join(", ") },
            minutes(k.timeouts.create),
            minutes(k.timeouts.update),
            minutes(k.timeouts.delete),
            if actions.is_empty() {
                "— (Kubernetes RBAC)".to_string()
            } else {
                actions.join(", ")
            },
        ));
    }
    t
}

fn json_block(v: &serde_json::Value) -> String {
    format!("```json\n{}\n```", serde_json::to_string_pretty(v).unwrap())
}

fn operator_md(current: &str) -> String {
    let scope = kinds::Scope::placeholders();
    let write = kinds::operator_policy(&scope);
    let read = kinds::drift_policy(&scope);
    let mut out = String::new();
    let mut rest = current;
    for (marker, v) in [("operator", &write), ("read-only", &read)] {
        let start = format!("<!-- generated: {marker} policy -->\n");
        let end = "<!-- end generated -->";
        let i = rest
            .find(&start)
            .unwrap_or_else(|| panic!("docs/OPERATOR-IAM.md lacks the line {start:?}"));
        let j = i + rest[i..].find(end).expect("an end marker");
        out.push_str(&rest[..i + start.len()]);
        out.push_str(&json_block(v));
        out.push('\n');
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

fn check(path: &str, want: String) {
    check_from(path, want, "the kind declarations")
}

fn check_from(path: &str, want: String, source: &str) {
    let file = repo().join(path);
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    if std::env::var_os("EMPI_BLESS").is_some() {
        std::fs::write(&file, &want).unwrap();
    } else {
        assert!(have == want, "{path} does not match {source}; run `EMPI_BLESS=1 cargo test -p empi-engine --test it docs::`");
    }
}

#[test]
fn the_kinds_table_matches_the_declarations() {
    check("docs/generated/KINDS.md", kinds_md());
}

#[test]
fn the_operator_and_read_only_policies_match_the_declarations() {
    let current = std::fs::read_to_string(repo().join("docs/OPERATOR-IAM.md")).unwrap();
    check("docs/OPERATOR-IAM.md", operator_md(&current));
}

#[test]
fn the_stack_schema_matches_the_parser_types() {
    check_from(
        "docs/generated/stack.schema.json",
        empi_engine::stack_schema::schema_text(),
        "the stack file's parser types (crates/engine/src/stack/)",
    );
}

/// docs/SECURITY.md with its rules table (between the `rules:` markers) made from the rules.
fn security_md(current: &str) -> String {
    let mut t = String::from(
        "| rule | safeguard | controls | reads | what must hold |\n|---|---|---|---|---|\n",
    );
    for r in empi_engine::check::RULES {
        t.push_str(&format!(
            "| `{}` | {} | {} | `{}` | {} |\n",
            r.id,
            r.safeguard,
            r.controls.join(", "),
            r.kind,
            r.title
        ));
    }
    let (start, end) = ("<!-- rules:start -->\n", "<!-- rules:end -->");
    let (Some(a), Some(b)) = (current.find(start), current.find(end)) else {
        panic!("docs/SECURITY.md lost its rules markers")
    };
    format!("{}{start}{t}{}", &current[..a], &current[b..])
}

#[test]
fn the_security_rules_table_matches_the_rules() {
    let current = std::fs::read_to_string(repo().join("docs/SECURITY.md")).unwrap();
    check_from(
        "docs/SECURITY.md",
        security_md(&current),
        "the baseline rules (crates/engine/src/check/rules.rs)",
    );
}

/// The schema's part that describes the keys of `[table]` (`""` for the top level): the
/// definition a property's `$ref` names, followed down a dotted path such as `cluster.nodes`.
fn schema_table<'a>(schema: &'a Value, table: &str) -> &'a Value {
    let mut here = schema;
    for part in table.split('.').filter(|p| !p.is_empty()) {
        let prop = &here["properties"][part];
        let reference = prop["allOf"][0]["$ref"]
            .as_str()
            .or_else(|| prop["$ref"].as_str())
            .or_else(|| prop["items"]["$ref"].as_str())
            .unwrap_or_else(|| panic!("the schema has no table [{table}]"));
        let name = reference.rsplit('/').next().unwrap();
        here = &schema["definitions"][name];
    }
    here
}

/// The defaults column of docs/STACK.md's key table: for each key whose default is written as
/// TOML literals (`2`, `"16"`, `["m6i.large"]`), `(table, key, literal)`. A default said in words
/// ("the stack name", "chosen from the account") is not a literal and is left out.
fn stack_md_defaults(md: &str) -> Vec<(String, String, String)> {
    let mut out = vec![];
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let (key_cell, default_cell) = (cells[0].trim_start_matches("| "), cells[1]);
        let Some(rest) = key_cell.strip_prefix("`[") else { continue };
        let Some((table, keys)) = rest.split_once("] ") else { continue };
        if table.starts_with('[') || table.contains('<') {
            continue; // [[security.waive]], [timeouts.<kind>]
        }
        let keys: Vec<&str> = keys.split(" / ").map(|k| k.trim_matches('`')).collect();
        let literals: Vec<&str> = default_cell.split(" / ").collect();
        if literals.len() != keys.len() {
            continue;
        }
        for (key, lit) in keys.iter().zip(literals) {
            let lit = lit.split(" (").next().unwrap().trim();
            if let Some(v) = lit.strip_prefix('`').and_then(|l| l.strip_suffix('`')) {
                out.push((table.to_string(), key.to_string(), v.to_string()));
            }
        }
    }
    out
}

#[test]
fn stack_md_states_the_defaults_the_schema_states() {
    let md = std::fs::read_to_string(repo().join("docs/STACK.md")).unwrap();
    let schema = empi_engine::stack_schema::schema();
    let stated = stack_md_defaults(&md);
    assert!(stated.len() >= 30, "read only {} defaults from docs/STACK.md's table", stated.len());
    let mut wrong = vec![];
    for (table, key, literal) in &stated {
        let want: toml::Value = toml::from_str::<toml::Table>(&format!("v = {literal}"))
            .unwrap_or_else(|e| panic!("[{table}] {key}: `{literal}` is not a TOML value: {e}"))
            .remove("v")
            .unwrap();
        let want = serde_json::to_value(want).unwrap();
        let have = &schema_table(&schema, table)["properties"][key.as_str()]["default"];
        if have != &want {
            wrong.push(format!("[{table}] {key}: docs/STACK.md says {want}, the schema {have}"));
        }
    }
    // and every default the schema states of a table's key is in the table
    for (name, def) in schema["definitions"].as_object().unwrap() {
        for (key, prop) in def["properties"].as_object().into_iter().flatten() {
            let in_md = stated.iter().any(|(t, k, _)| k == key && schema_table(&schema, t) == def);
            // an array of tables ([[security.waive]]) has its own rows, one per key of its tables
            let tables = prop["items"]["$ref"].is_string();
            let literal = prop.get("default").is_some_and(|d| !d.is_object()) && !tables;
            if literal && !in_md {
                wrong.push(format!(
                    "{name}.{key}: the schema states a default docs/STACK.md does not"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/STACK.md's defaults column and the schema differ:\n{}",
        wrong.join("\n")
    );
}
