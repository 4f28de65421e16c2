//! The resource graph: a petgraph DAG whose edges run from a resource to the resources that use its
//! outputs. Checks references and cycles, gives the topological order, and prints Graphviz DOT.

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::resource::ResourceSpec;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GraphError {
    #[error("resource address {0} is defined twice")]
    Duplicate(String),
    #[error("{from} refers to {to}, which is not a resource of this stack")]
    UnknownRef { from: String, to: String },
    #[error("dependency cycle: {0}")]
    Cycle(String),
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
                let from = *index.get(&d).ok_or_else(|| GraphError::UnknownRef { from: s.address.clone(), to: d.clone() })?;
                graph.update_edge(from, index[&s.address], ());
            }
        }
        if toposort(&graph, None).is_err() {
            let cycle =
                tarjan_scc(&graph).into_iter().find(|c| c.len() > 1 || c.iter().any(|n| graph.contains_edge(*n, *n))).unwrap_or_default();
            let mut names: Vec<&str> = cycle.iter().map(|n| specs[graph[*n]].address.as_str()).collect();
            names.sort();
            return Err(GraphError::Cycle(names.join(" -> ")));
        }
        Ok(ResourceGraph { specs, index, graph })
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
        let mut indeg: HashMap<NodeIndex, usize> =
            self.graph.node_indices().map(|n| (n, self.graph.neighbors_directed(n, Direction::Incoming).count())).collect();
        let mut ready: std::collections::BTreeMap<&str, NodeIndex> =
            indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| (self.specs[self.graph[*n]].address.as_str(), *n)).collect();
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

    /// Graphviz DOT, one cluster per top-level group (`network`, `database`, …).
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph empi_infra {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
        let mut groups: std::collections::BTreeMap<&str, Vec<&ResourceSpec>> = Default::default();
        for s in &self.specs {
            groups.entry(s.address.split('.').next().unwrap_or("")).or_default().push(s);
        }
        for (g, specs) in groups {
            let _ = writeln!(out, "  subgraph \"cluster_{g}\" {{\n    label=\"{g}\";");
            for s in specs {
                let _ = writeln!(out, "    \"{}\" [label=\"{}\\n{}\"];", s.address, s.address, s.kind);
            }
            out.push_str("  }\n");
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).unwrap();
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", self.specs[self.graph[a]].address, self.specs[self.graph[b]].address);
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
        let g = ResourceGraph::new(vec![spec("c", &["b"]), spec("b", &["a"]), spec("a", &[]), spec("d", &["a"])]).unwrap();
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

    #[test]
    fn dot_names_every_node_and_edge() {
        let g = ResourceGraph::new(vec![spec("network.vpc", &[]), spec("network.subnet", &["network.vpc"])]).unwrap();
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph"));
        assert!(dot.contains("\"network.vpc\" -> \"network.subnet\";"), "{dot}");
    }
}
