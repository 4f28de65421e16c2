//! The resource graph: a petgraph DAG whose edges run from a resource to the resources that use its
//! outputs. Checks references and cycles, checks every spec against its kind's declaration
//! ([`ResourceGraph::check`]), gives the topological order, and prints Graphviz DOT.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use petgraph::Direction;

use serde_json::Value;

use crate::resource::{Expr, ResourceSpec, Schema, Ty};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("resource address {0} is defined twice")]
    Duplicate(String),
    #[error("{from} refers to {to}, which is not a resource of this stack")]
    UnknownRef { from: String, to: String },
    #[error("dependency cycle: {0}")]
    Cycle(String),
    #[error("{address}: there is no resource kind {kind}")]
    UnknownKind { address: String, kind: String },
    #[error("{address}: {kind} has no attribute {attribute}{hint}")]
    UnknownAttribute { address: String, kind: String, attribute: String, hint: String },
    #[error("{address}: attribute {attribute} of {kind} is required but not set")]
    MissingAttribute { address: String, kind: String, attribute: String },
    #[error("{address}.{attribute} refers to {to}.{output}, but {to} ({kind}) has no output {output} (it has {outputs})")]
    UnknownOutput {
        address: String,
        attribute: String,
        to: String,
        kind: String,
        output: String,
        outputs: String,
    },
    #[error("{address}.{attribute} must be {expected}, not {actual}")]
    TypeMismatch { address: String, attribute: String, expected: &'static str, actual: String },
}

/// What a literal JSON value is, for messages.
fn type_name(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Whether an expression can be a value of type `ty`; the offending part when it cannot.
fn type_error(e: &Expr, ty: Ty) -> Option<String> {
    match (e, ty) {
        (_, Ty::Any) | (Expr::Ref { .. }, _) => None,
        (Expr::Lit(v), ty) => (!ty.accepts(v)).then(|| type_name(v)),
        (Expr::Concat(_), Ty::Str) => None,
        (Expr::List(xs), Ty::Strings) => {
            xs.iter().find_map(|x| type_error(x, Ty::Str).map(|a| format!("a list holding {a}")))
        }
        (Expr::List(_), Ty::List) | (Expr::Object(_) | Expr::Json(_), Ty::Object) => None,
        (Expr::Object(m), Ty::Tags) => {
            m.values().find_map(|x| type_error(x, Ty::Str).map(|a| format!("a map holding {a}")))
        }
        (Expr::Concat(_), _) => Some("a string".into()),
        (Expr::List(_), _) => Some("a list".into()),
        (Expr::Object(_) | Expr::Json(_), _) => Some("an object".into()),
    }
}

/// Every `(address, output)` an expression refers to.
fn references<'a>(e: &'a Expr, out: &mut Vec<(&'a str, &'a str)>) {
    match e {
        Expr::Lit(_) => {}
        Expr::Ref { address, output } => out.push((address, output)),
        Expr::Concat(xs) | Expr::List(xs) => xs.iter().for_each(|x| references(x, out)),
        Expr::Object(m) => m.values().for_each(|x| references(x, out)),
        Expr::Json(x) => references(x, out),
    }
}

/// Edit distance, for "did you mean" hints.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[derive(Debug, Clone)]
pub struct ResourceGraph {
    specs: Vec<ResourceSpec>,
    index: HashMap<String, NodeIndex>,
    graph: DiGraph<usize, ()>,
}

impl ResourceGraph {
    pub fn new(specs: Vec<ResourceSpec>) -> Result<Self, GraphError> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for (i, s) in specs.iter().enumerate() {
            if index.insert(s.address.clone(), graph.add_node(i)).is_some() {
                return Err(GraphError::Duplicate(s.address.clone()));
            }
        }
        for s in &specs {
            for d in s.dependencies() {
                let from = *index.get(&d).ok_or_else(|| GraphError::UnknownRef {
                    from: s.address.clone(),
                    to: d.clone(),
                })?;
                graph.update_edge(from, index[&s.address], ());
            }
        }
        if toposort(&graph, None).is_err() {
            let cycle = tarjan_scc(&graph)
                .into_iter()
                .find(|c| c.len() > 1 || c.iter().any(|n| graph.contains_edge(*n, *n)))
                .unwrap_or_default();
            let mut names: Vec<&str> =
                cycle.iter().map(|n| specs[graph[*n]].address.as_str()).collect();
            names.sort();
            return Err(GraphError::Cycle(names.join(" -> ")));
        }
        Ok(ResourceGraph { specs, index, graph })
    }

    /// Checks every spec against its kind's declaration, as Terraform validates a configuration
    /// against the provider schemas before planning: the kind exists, every attribute is declared
    /// and every required one set, literal values have the declared types, and every reference
    /// names an output the referenced kind produces. The first problem, in address order.
    pub fn check(
        &self,
        schema_of: &dyn Fn(&str) -> Option<&'static Schema>,
    ) -> Result<(), GraphError> {
        let mut specs: Vec<&ResourceSpec> = self.specs.iter().collect();
        specs.sort_by(|a, b| a.address.cmp(&b.address));
        for spec in specs {
            let address = spec.address.clone();
            let schema = schema_of(&spec.kind).ok_or_else(|| GraphError::UnknownKind {
                address: address.clone(),
                kind: spec.kind.clone(),
            })?;
            for (name, e) in &spec.inputs {
                let Some(a) = schema.attr(name) else {
                    let near =
                        schema.attrs.iter().map(|a| a.name).min_by_key(|n| distance(n, name));
                    let hint = near
                        .filter(|n| distance(n, name) <= 3)
                        .map(|n| format!("; did you mean {n}?"))
                        .unwrap_or_default();
                    return Err(GraphError::UnknownAttribute {
                        address,
                        kind: spec.kind.clone(),
                        attribute: name.clone(),
                        hint,
                    });
                };
                if let Some(actual) = type_error(e, a.ty) {
                    return Err(GraphError::TypeMismatch {
                        address,
                        attribute: name.clone(),
                        expected: a.ty.name(),
                        actual,
                    });
                }
                let mut refs = Vec::new();
                references(e, &mut refs);
                for (to, output) in refs {
                    let target = self.get(to).and_then(|t| schema_of(&t.kind).map(|s| (t, s)));
                    if let Some((t, ts)) = target {
                        if !ts.outputs.contains(&output) {
                            return Err(GraphError::UnknownOutput {
                                address,
                                attribute: name.clone(),
                                to: to.to_string(),
                                kind: t.kind.clone(),
                                output: output.to_string(),
                                outputs: ts.outputs.join(", "),
                            });
                        }
                    }
                }
            }
            if let Some(a) =
                schema.attrs.iter().find(|a| !a.optional && !spec.inputs.contains_key(a.name))
            {
                return Err(GraphError::MissingAttribute {
                    address,
                    kind: spec.kind.clone(),
                    attribute: a.name.to_string(),
                });
            }
        }
        Ok(())
    }

    pub fn get(&self, address: &str) -> Option<&ResourceSpec> {
        self.index.get(address).map(|n| &self.specs[self.graph[*n]])
    }

    pub fn len(&self) -> usize {
        self.specs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Resources in dependency order (dependencies first; ties broken by address for stable output).
    pub fn topological(&self) -> Vec<&ResourceSpec> {
        let mut indeg: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| (n, self.graph.neighbors_directed(n, Direction::Incoming).count()))
            .collect();
        let mut ready: std::collections::BTreeMap<&str, NodeIndex> = indeg
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (self.specs[self.graph[*n]].address.as_str(), *n))
            .collect();
        let mut out = Vec::with_capacity(self.specs.len());
        while let Some((_, n)) = ready.pop_first() {
            out.push(&self.specs[self.graph[n]]);
            for m in self.graph.neighbors_directed(n, Direction::Outgoing) {
                let d = indeg.get_mut(&m).unwrap();
                *d -= 1;
                if *d == 0 {
                    ready.insert(self.specs[self.graph[m]].address.as_str(), m);
                }
            }
        }
        out
    }

    /// Every address, in no particular order.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        self.specs.iter().map(|s| s.address.as_str())
    }

    /// `starts` and everything they depend on, directly or not (the part of the graph a
    /// targeted plan needs); addresses not in the graph are ignored.
    pub fn with_dependencies<'a>(
        &self,
        starts: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<String> {
        // edges run from a dependency to its user: walk them backwards
        let reversed = Reversed(&self.graph);
        let mut out = BTreeSet::new();
        for start in starts {
            let Some(&n) = self.index.get(start) else { continue };
            let mut dfs = Dfs::new(reversed, n);
            while let Some(x) = dfs.next(reversed) {
                out.insert(self.specs[self.graph[x]].address.clone());
            }
        }
        out
    }

    /// The graph of the resources in `keep` only. `keep` must hold what each of them depends on
    /// (as [`ResourceGraph::with_dependencies`] gives), or a reference is unknown.
    pub fn subgraph(&self, keep: &BTreeSet<String>) -> Result<ResourceGraph, GraphError> {
        ResourceGraph::new(
            self.specs.iter().filter(|s| keep.contains(&s.address)).cloned().collect(),
        )
    }

    /// Graphviz DOT, one cluster per top-level group (`network`, `database`, …).
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph empi_infra {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        );
        let mut groups: std::collections::BTreeMap<&str, Vec<&ResourceSpec>> = Default::default();
        for s in &self.specs {
            groups.entry(s.address.split('.').next().unwrap_or("")).or_default().push(s);
        }
        for (g, specs) in groups {
            let _ = writeln!(out, "  subgraph \"cluster_{g}\" {{\n    label=\"{g}\";");
            for s in specs {
                let _ =
                    writeln!(out, "    \"{}\" [label=\"{}\\n{}\"];", s.address, s.address, s.kind);
            }
            out.push_str("  }\n");
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).unwrap();
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\";",
                self.specs[self.graph[a]].address, self.specs[self.graph[b]].address
            );
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Expr;

    fn spec(addr: &str, deps: &[&str]) -> ResourceSpec {
        let mut s = ResourceSpec::new(addr, "test", addr);
        for d in deps {
            s = s.input(&format!("in_{d}"), Expr::r(d, "id"));
        }
        s
    }

    #[test]
    fn topological_order_puts_dependencies_first() {
        let g = ResourceGraph::new(vec![
            spec("c", &["b"]),
            spec("b", &["a"]),
            spec("a", &[]),
            spec("d", &["a"]),
        ])
        .unwrap();
        let order: Vec<_> = g.topological().iter().map(|s| s.address.clone()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn cycles_and_unknown_references_are_errors() {
        let e = ResourceGraph::new(vec![spec("a", &["b"]), spec("b", &["a"])]).unwrap_err();
        assert_eq!(e, GraphError::Cycle("a -> b".into()));
        let e = ResourceGraph::new(vec![spec("a", &["zzz"])]).unwrap_err();
        assert!(matches!(e, GraphError::UnknownRef { .. }));
        let e = ResourceGraph::new(vec![spec("a", &[]), spec("a", &[])]).unwrap_err();
        assert!(matches!(e, GraphError::Duplicate(_)));
    }

    fn vpc() -> ResourceSpec {
        crate::kinds::network::Vpc {
            cidr_block: Expr::lit("10.0.0.0/16"),
            enable_dns_hostnames: true.into(),
            enable_dns_support: true.into(),
            tags: Expr::lit(serde_json::json!({"Name": "v"})),
        }
        .spec("network.vpc", "v")
    }

    fn checked(specs: Vec<ResourceSpec>) -> Result<(), String> {
        ResourceGraph::new(specs).unwrap().check(&crate::kinds::schema).map_err(|e| e.to_string())
    }

    #[test]
    fn a_misspelt_attribute_names_the_address_and_the_attribute() {
        let mut bad = vpc();
        let v = bad.inputs.remove("cidr_block").unwrap();
        bad.inputs.insert("cidr_blok".into(), v);
        assert_eq!(
            checked(vec![bad]).unwrap_err(),
            "network.vpc: aws_vpc has no attribute cidr_blok; did you mean cidr_block?"
        );
        let mut missing = vpc();
        missing.inputs.remove("cidr_block");
        assert_eq!(
            checked(vec![missing]).unwrap_err(),
            "network.vpc: attribute cidr_block of aws_vpc is required but not set"
        );
        assert_eq!(checked(vec![vpc()]), Ok(()));
    }

    #[test]
    fn types_kinds_and_outputs_are_checked() {
        let mut wrong = vpc();
        wrong.inputs.insert("enable_dns_support".into(), Expr::lit("yes"));
        assert_eq!(
            checked(vec![wrong]).unwrap_err(),
            "network.vpc.enable_dns_support must be a boolean, not the string \"yes\""
        );
        let mut tags = vpc();
        tags.inputs.insert("tags".into(), Expr::lit(serde_json::json!({"n": 1})));
        assert!(checked(vec![tags])
            .unwrap_err()
            .contains("network.vpc.tags must be a map of strings"));
        assert_eq!(
            checked(vec![ResourceSpec::new("x.y", "aws_vpcc", "n")]).unwrap_err(),
            "x.y: there is no resource kind aws_vpcc"
        );
        let igw = crate::kinds::routing::InternetGateway {
            vpc_id: Expr::r("network.vpc", "arn"),
            tags: Expr::lit(serde_json::json!({})),
        }
        .spec("network.igw", "g");
        assert_eq!(
            checked(vec![vpc(), igw]).unwrap_err(),
            "network.igw.vpc_id refers to network.vpc.arn, but network.vpc (aws_vpc) has no output arn (it has id, cidr_block)"
        );
        let optional = crate::kinds::elb::Listener {
            load_balancer_arn: Expr::lit("arn"),
            port: 80u32.into(),
            protocol: "HTTP".into(),
            actions: Expr::lit(serde_json::json!([])),
            certificate_arn: None,
            ssl_policy: None,
        }
        .spec("edge.http", "h");
        assert_eq!(checked(vec![optional]), Ok(()), "optional attributes may be left out");
    }

    #[test]
    fn with_dependencies_follows_references_transitively_and_nothing_else() {
        let g = ResourceGraph::new(vec![
            spec("a", &[]),
            spec("b", &["a"]),
            spec("c", &["b"]),
            spec("d", &["a"]),
            spec("e", &[]),
            spec("f", &["c", "e"]),
        ])
        .unwrap();
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(g.with_dependencies(["c"]), set(&["a", "b", "c"]));
        assert_eq!(g.with_dependencies(["c", "d"]), set(&["a", "b", "c", "d"]));
        assert_eq!(g.with_dependencies(["f"]), set(&["a", "b", "c", "e", "f"]));
        assert_eq!(g.with_dependencies(["a", "zzz"]), set(&["a"]), "unknown addresses are ignored");
        let sub = g.subgraph(&g.with_dependencies(["c"])).unwrap();
        assert_eq!(
            sub.topological().iter().map(|s| s.address.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(
            g.subgraph(&set(&["c"])).is_err(),
            "a subgraph without c's dependencies is refused"
        );
    }

    #[test]
    fn dot_names_every_node_and_edge() {
        let g = ResourceGraph::new(vec![
            spec("network.vpc", &[]),
            spec("network.subnet", &["network.vpc"]),
        ])
        .unwrap();
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph"));
        assert!(dot.contains("\"network.vpc\" -> \"network.subnet\";"), "{dot}");
    }
}
