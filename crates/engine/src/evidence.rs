//! What `evidence export` makes from state alone: the inventory of every resource (its id, ARN,
//! region, encryption and tags), the architecture diagram's graph (the stack's areas, what each
//! holds, and which depends on which), and the bundle's manifest. Deterministic: the same state
//! gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::state::State;

/// One resource of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub address: String,
    pub kind: String,
    pub id: Option<String>,
    pub arn: Option<String>,
    pub region: String,
    /// Its encryption settings as recorded (`storage_encrypted`, `kms_key_id`, …); empty when the
    /// kind has none.
    pub encryption: BTreeMap<String, Value>,
    pub tags: BTreeMap<String, String>,
}

/// The attributes that say how a resource is encrypted, whichever kind holds them.
const ENCRYPTION_ATTRS: &[&str] = &[
    "storage_encrypted",
    "kms_key_id",
    "kms_key_arn",
    "encryption",
    "encryption_key_arn",
    "master_user_secret_kms_key_id",
    "performance_insights_kms_key_id",
    "enable_key_rotation",
];

/// Every resource state records, by address.
pub fn inventory(state: &State, region: &str) -> Vec<Item> {
    state
        .resources
        .iter()
        .map(|(address, r)| {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(String::from);
            // the ARN output, or an id that is an ARN (a load balancer's, a secret's)
            let arn = text(r.outputs.get("arn"))
                .or_else(|| r.id.clone())
                .filter(|a| a.starts_with("arn:"));
            let own_region = text(r.attrs.get("region")).filter(|s| !s.is_empty());
            let encryption = ENCRYPTION_ATTRS
                .iter()
                .filter_map(|k| r.attrs.get(*k).map(|v| (k.to_string(), v.clone())))
                .filter(|(_, v)| !v.is_null())
                .collect();
            let tags = r
                .attrs
                .get("tags")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Item {
                address: address.clone(),
                kind: r.kind.clone(),
                id: r.id.clone(),
                arn,
                region: own_region.unwrap_or_else(|| region.to_string()),
                encryption,
                tags,
            }
        })
        .collect()
}

/// The area of an address: what comes before its first dot (`database.instance` → `database`).
fn area(address: &str) -> &str {
    address.split('.').next().unwrap_or(address)
}

/// A fact worth a line of the diagram about a resource, if its kind has one.
fn detail(kind: &str, a: &BTreeMap<String, Value>, name: &str) -> Option<String> {
    let s =
        |k: &str| a.get(k).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()));
    use crate::kinds::{cognito, eks, elb, k8s, kms, network, rds, s3, secrets, waf};
    let named = |prefix: &str| format!("{prefix} {name}");
    Some(match kind {
        k if k == network::VPC.kind => format!("VPC {}", s("cidr_block")?),
        k if k == eks::CLUSTER.kind => format!("EKS {} (Kubernetes {})", name, s("version")?),
        k if k == eks::NODE_GROUP.kind => {
            format!("nodes {}", s("instance_types")?.replace('"', ""))
        }
        k if k == rds::INSTANCE.kind => format!(
            "{} PostgreSQL {} {}{}",
            name,
            s("engine_version")?,
            s("instance_class")?,
            if a.get("multi_az") == Some(&Value::Bool(true)) { ", Multi-AZ" } else { "" }
        ),
        k if k == cognito::USER_POOL.kind => named("Cognito user pool"),
        k if k == elb::LOAD_BALANCER.kind => named("ALB"),
        k if k == waf::WEB_ACL.kind => named("WAF"),
        k if k == kms::KEY.kind => named("KMS key"),
        k if k == secrets::SECRET.kind => named("secret"),
        k if k == s3::BUCKET.kind => named("bucket"),
        k if k == k8s::DEPLOYMENT.kind => named("Deployment"),
        _ => return None,
    })
}

/// The architecture as a Graphviz DOT digraph: one box per area of the stack (network, cluster,
/// database, identity, edge, …) listing how many resources of each kind it holds and the facts a
/// reader looks for (the VPC's CIDR, the Kubernetes and PostgreSQL versions, the instance class),
/// an edge from each area to the areas its resources depend on, and the internet in front of the
/// edge.
pub fn architecture_dot(state: &State) -> String {
    let mut kinds: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut details: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut edges: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (address, r) in &state.resources {
        let a = area(address);
        *kinds.entry(a).or_default().entry(r.kind.as_str()).or_default() += 1;
        if let Some(d) = detail(&r.kind, &r.attrs, &r.name) {
            details.entry(a).or_default().push(d);
        }
        for dep in &r.depends_on {
            let b = area(dep);
            if b != a && state.resources.contains_key(dep) {
                edges.insert((a, b));
            }
        }
    }
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut dot = String::from("digraph architecture {\n");
    dot.push_str("  node [shape=box];\n");
    dot.push_str("  \"internet\" [label=\"internet\"];\n");
    for (a, counts) in &kinds {
        let mut lines = vec![a.to_uppercase()];
        lines.extend(details.get(a).into_iter().flatten().take(6).cloned());
        lines.extend(counts.iter().map(|(k, n)| format!("{n} x {k}")));
        let label: Vec<String> = lines.iter().map(|l| quote(l)).collect();
        // ids quoted: `edge` and `node` are DOT's own words
        dot.push_str(&format!("  \"{a}\" [label=\"{}\"];\n", label.join("\\n")));
    }
    if kinds.contains_key("edge") {
        dot.push_str("  \"internet\" -> \"edge\";\n");
    }
    for (a, b) in edges {
        dot.push_str(&format!("  \"{a}\" -> \"{b}\";\n"));
    }
    dot.push_str("}\n");
    dot
}

/// `MANIFEST.sha256`: one `<sha256>  <file>` line per file, by name, as `sha256sum -c` reads it.
pub fn manifest(files: &BTreeMap<String, Vec<u8>>) -> String {
    files
        .iter()
        .map(|(name, body)| format!("{}  {name}\n", hex::encode(Sha256::digest(body))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ResourceState, Status};
    use serde_json::json;

    fn resource(
        kind: &str,
        name: &str,
        attrs: Value,
        outputs: Value,
        deps: &[&str],
    ) -> ResourceState {
        let map =
            |v: Value| v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        ResourceState {
            kind: kind.into(),
            name: name.into(),
            id: Some(name.into()),
            status: Status::Created,
            attrs: map(attrs),
            outputs: map(outputs),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn state() -> State {
        let mut s = State::new("s");
        s.resources.insert(
            "database.instance".into(),
            resource(
                crate::kinds::rds::INSTANCE.kind,
                "s-db",
                json!({"engine_version": "16.4", "instance_class": "db.t4g.medium", "multi_az": true,
                       "storage_encrypted": true, "kms_key_id": "arn:aws:kms:us-east-1:1:key/k",
                       "tags": {"empi-infra:stack": "s"}}),
                json!({"arn": "arn:aws:rds:us-east-1:1:db:s-db"}),
                &["network.vpc", "security.kms_key"],
            ),
        );
        s.resources.insert(
            "network.vpc".into(),
            resource(
                crate::kinds::network::VPC.kind,
                "vpc-1",
                json!({"cidr_block": "10.0.0.0/16"}),
                json!({}),
                &[],
            ),
        );
        s.resources.insert(
            "security.kms_key".into(),
            resource(
                crate::kinds::kms::KEY.kind,
                "k",
                json!({"enable_key_rotation": true}),
                json!({"arn": "arn:aws:kms:us-east-1:1:key/k"}),
                &[],
            ),
        );
        s.resources.insert(
            "database.backup_replica_key".into(),
            resource(
                crate::kinds::kms::KEY.kind,
                "k2",
                json!({"region": "us-west-2"}),
                json!({"arn": "arn:aws:kms:us-west-2:1:key/k2"}),
                &[],
            ),
        );
        s
    }

    #[test]
    fn the_inventory_names_each_resources_arn_region_encryption_and_tags() {
        let items = inventory(&state(), "us-east-1");
        let db = items.iter().find(|i| i.address == "database.instance").unwrap();
        assert_eq!(db.arn.as_deref(), Some("arn:aws:rds:us-east-1:1:db:s-db"));
        assert_eq!(db.encryption["storage_encrypted"], json!(true));
        assert_eq!(db.encryption["kms_key_id"], json!("arn:aws:kms:us-east-1:1:key/k"));
        assert_eq!(db.tags["empi-infra:stack"], "s");
        let replica = items.iter().find(|i| i.address == "database.backup_replica_key").unwrap();
        assert_eq!(replica.region, "us-west-2", "a resource of another region says so");
        let vpc = items.iter().find(|i| i.address == "network.vpc").unwrap();
        assert!(vpc.arn.is_none() && vpc.encryption.is_empty());
    }

    #[test]
    fn the_diagram_has_an_area_per_box_with_its_facts_and_an_edge_per_dependency() {
        let dot = architecture_dot(&state());
        assert_eq!(dot, architecture_dot(&state()), "deterministic");
        assert!(dot.contains("\"database\" [label=\"DATABASE\\nKMS key k2\\ns-db PostgreSQL 16.4 db.t4g.medium, Multi-AZ\\n1 x aws_db_instance\\n1 x aws_kms_key\"];"), "{dot}");
        assert!(dot.contains("VPC 10.0.0.0/16"), "{dot}");
        assert!(dot.contains("  \"database\" -> \"network\";\n"), "{dot}");
        assert!(dot.contains("  \"database\" -> \"security\";\n"), "{dot}");
        assert!(!dot.contains("\"database\" -> \"database\""), "{dot}");
    }

    #[test]
    fn the_manifest_is_sha256sum_lines_by_file_name() {
        let files = BTreeMap::from([
            ("b.json".to_string(), b"{}".to_vec()),
            ("a.md".to_string(), b"".to_vec()),
        ]);
        assert_eq!(
            manifest(&files),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.md\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  b.json\n"
        );
    }
}
