//! Resource targeting (`--target ADDR`): which resources a partial plan covers, with Terraform's
//! semantics. A target names one address (`network.public_subnet[1]`), every instance of an
//! address written without its index (`network.public_subnet`), or a whole area (`database`), as
//! Terraform targets a whole module. A plan (and apply) covers the targets and everything they
//! depend on; a destroy covers the targets and everything that depends on them. Both are petgraph
//! walks: over the stack's resource graph for a plan, over the dependencies state records for a
//! destroy. Everything outside the closure is neither read nor changed.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;

use crate::graph::{distance, ResourceGraph};
use crate::plan::deposed_fact;
use crate::state::State;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetError {
    #[error("--target {target} matches no resource {of}; did you mean --target {closest}?")]
    NoMatch { target: String, of: String, closest: String },
    #[error("--target {target} matches no resource: there are none {of}")]
    Nothing { target: String, of: String },
}

/// Whether `target` names `address`: the address itself, every instance of an address written
/// without its index (or with `[*]`), or every resource of an area.
fn names(target: &str, address: &str) -> bool {
    let t = target.strip_suffix("[*]").unwrap_or(target);
    if address == t {
        return true;
    }
    let rest = address.strip_prefix(t).unwrap_or_default();
    let unindexed = !t.contains('[');
    (unindexed && rest.starts_with('[')) || (unindexed && !t.contains('.') && rest.starts_with('.'))
}

/// What a misspelt target may have meant: every address, each without its index, every area.
fn candidates<'a>(addresses: &BTreeSet<&'a str>) -> BTreeSet<&'a str> {
    let mut out = BTreeSet::new();
    for a in addresses {
        out.insert(*a);
        if let Some(i) = a.find('[') {
            out.insert(&a[..i]);
        }
        if let Some(i) = a.find('.') {
            out.insert(&a[..i]);
        }
    }
    out
}

/// The addresses `targets` name among `addresses`; a target that names none is an error naming
/// the closest address (`of` says where it was looked for, for the message).
pub fn select(
    targets: &[String],
    addresses: &BTreeSet<&str>,
    of: &str,
) -> Result<BTreeSet<String>, TargetError> {
    let mut out = BTreeSet::new();
    for t in targets {
        let t = t.trim();
        let named: Vec<&str> = addresses.iter().copied().filter(|a| names(t, a)).collect();
        if named.is_empty() {
            let closest =
                candidates(addresses).into_iter().min_by_key(|c| (distance(c, t), c.len()));
            return Err(match closest {
                Some(c) => {
                    TargetError::NoMatch { target: t.into(), of: of.into(), closest: c.into() }
                }
                None => TargetError::Nothing { target: t.into(), of: of.into() },
            });
        }
        out.extend(named.into_iter().map(String::from));
    }
    Ok(out)
}

/// What a targeted plan covers: the targets and everything they depend on in the stack's graph.
/// A target the stack no longer has (only state records it) is deleted, and with it whatever
/// state records as depending on it (those the stack still has are planned with their
/// dependencies, the rest deleted too).
pub fn plan_scope(
    graph: &ResourceGraph,
    state: &State,
    targets: &[String],
) -> Result<BTreeSet<String>, TargetError> {
    let all: BTreeSet<&str> =
        graph.addresses().chain(state.resources.keys().map(String::as_str)).collect();
    let named = select(targets, &all, &format!("of stack {:?}", state.stack))?;
    let orphans = named.iter().filter(|a| graph.get(a).is_none()).map(String::as_str);
    let taken_along = recorded_dependents(state, orphans);
    let planned =
        named.iter().chain(&taken_along).filter(|a| graph.get(a).is_some()).map(String::as_str);
    let mut scope = graph.with_dependencies(planned);
    scope.extend(taken_along.into_iter().filter(|a| graph.get(a).is_none()));
    Ok(scope)
}

/// What a targeted destroy covers: the targets and every recorded resource that depends on them.
pub fn destroy_scope(state: &State, targets: &[String]) -> Result<BTreeSet<String>, TargetError> {
    let all: BTreeSet<&str> = state.resources.keys().map(String::as_str).collect();
    let named =
        select(targets, &all, &format!("recorded in the state of stack {:?}", state.stack))?;
    Ok(recorded_dependents(state, named.iter().map(String::as_str)))
}

/// `starts` and every resource state records as depending on them, directly or not.
fn recorded_dependents<'a>(
    state: &State,
    starts: impl IntoIterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut g: DiGraph<&str, ()> = DiGraph::new();
    let index: BTreeMap<&str, NodeIndex> =
        state.resources.keys().map(|a| (a.as_str(), g.add_node(a.as_str()))).collect();
    for (address, rs) in &state.resources {
        for d in &rs.depends_on {
            if let Some(&from) = index.get(d.as_str()) {
                g.update_edge(from, index[address.as_str()], ());
            }
        }
    }
    let mut out = BTreeSet::new();
    for s in starts {
        let Some(&n) = index.get(s) else { continue };
        let mut dfs = Dfs::new(&g, n);
        while let Some(x) = dfs.next(&g) {
            out.insert(g[x].to_string());
        }
    }
    out
}

/// `state` holding only the resources in `scope` (and the deposed objects of those): what a
/// targeted plan refreshes and diffs. Lineage, serial and the other facts are kept, so the plan
/// is bound to the whole state as any plan is.
pub fn restrict(state: &State, scope: &BTreeSet<String>) -> State {
    let mut part = state.clone();
    part.resources.retain(|a, _| scope.contains(a));
    part.facts
        .retain(|k, _| !k.starts_with("deposed:") || scope.iter().any(|a| *k == deposed_fact(a)));
    part
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Attrs, Expr, ResourceSpec};
    use crate::state::{ResourceState, Status};

    fn spec(addr: &str, deps: &[&str]) -> ResourceSpec {
        let mut s = ResourceSpec::new(addr, "test", addr);
        for d in deps {
            s = s.input(&format!("in_{d}"), Expr::r(d, "id"));
        }
        s
    }

    fn record(state: &mut State, address: &str, depends_on: &[&str]) {
        state.resources.insert(
            address.into(),
            ResourceState {
                kind: "test".into(),
                name: address.into(),
                id: Some(format!("id-{address}")),
                status: Status::Created,
                attrs: Attrs::new(),
                outputs: Attrs::new(),
                depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            },
        );
    }

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    fn t(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    /// A small stack shaped like the real one: a VPC, two subnets, a database in them, an ALB.
    fn stack() -> (ResourceGraph, State) {
        let g = ResourceGraph::new(vec![
            spec("network.vpc", &[]),
            spec("network.public_subnet[0]", &["network.vpc"]),
            spec("network.public_subnet[1]", &["network.vpc"]),
            spec("network.private_subnet[0]", &["network.vpc"]),
            spec("database.subnet_group", &["network.private_subnet[0]"]),
            spec("database.parameter_group", &[]),
            spec("database.instance", &["database.subnet_group", "database.parameter_group"]),
            spec("edge.alb", &["network.public_subnet[0]", "network.public_subnet[1]"]),
            spec("edge.listener", &["edge.alb"]),
        ])
        .unwrap();
        let mut state = State::new("s");
        for s in g.topological() {
            let deps = s.dependencies();
            record(&mut state, &s.address, &deps.iter().map(String::as_str).collect::<Vec<_>>());
        }
        (g, state)
    }

    #[test]
    fn a_plan_covers_the_targets_and_what_they_depend_on() {
        let (g, state) = stack();
        assert_eq!(plan_scope(&g, &state, &t(&["network.vpc"])).unwrap(), set(&["network.vpc"]));
        assert_eq!(
            plan_scope(&g, &state, &t(&["network.public_subnet[1]"])).unwrap(),
            set(&["network.vpc", "network.public_subnet[1]"]),
            "one instance by its index"
        );
        assert_eq!(
            plan_scope(&g, &state, &t(&["network.public_subnet"])).unwrap(),
            set(&["network.vpc", "network.public_subnet[0]", "network.public_subnet[1]"]),
            "every instance without an index"
        );
        assert_eq!(plan_scope(&g, &state, &t(&["network.public_subnet[*]"])).unwrap().len(), 3);
        assert_eq!(
            plan_scope(&g, &state, &t(&["database"])).unwrap(),
            set(&[
                "database.instance",
                "database.parameter_group",
                "database.subnet_group",
                "network.private_subnet[0]",
                "network.vpc"
            ]),
            "an area: all its resources and their dependencies, never what depends on them"
        );
        assert_eq!(
            plan_scope(&g, &state, &t(&["edge.listener", "database.parameter_group"])).unwrap(),
            set(&[
                "database.parameter_group",
                "edge.alb",
                "edge.listener",
                "network.public_subnet[0]",
                "network.public_subnet[1]",
                "network.vpc"
            ]),
            "targets repeat"
        );
    }

    #[test]
    fn a_destroy_covers_the_targets_and_what_depends_on_them() {
        let (_, state) = stack();
        assert_eq!(
            destroy_scope(&state, &t(&["edge.alb"])).unwrap(),
            set(&["edge.alb", "edge.listener"])
        );
        assert_eq!(
            destroy_scope(&state, &t(&["network.private_subnet[0]"])).unwrap(),
            set(&["network.private_subnet[0]", "database.subnet_group", "database.instance"])
        );
        let all_but_parameters = destroy_scope(&state, &t(&["network.vpc"])).unwrap();
        assert_eq!(
            all_but_parameters.len(),
            8,
            "everything but the parameter group hangs off the VPC"
        );
        assert!(!all_but_parameters.contains("database.parameter_group"));
    }

    #[test]
    fn a_resource_the_stack_dropped_is_deleted_only_when_targeted() {
        let (g, mut state) = stack();
        record(&mut state, "edge.old_rule", &["edge.listener"]);
        record(&mut state, "edge.old_rule_tag", &["edge.old_rule"]);
        let untargeted = plan_scope(&g, &state, &t(&["edge.listener", "network"])).unwrap();
        assert!(!untargeted.contains("edge.old_rule"), "{untargeted:?}");
        let targeted = plan_scope(&g, &state, &t(&["edge.old_rule"])).unwrap();
        assert_eq!(
            targeted,
            set(&["edge.old_rule", "edge.old_rule_tag"]),
            "and what state records as depending on it"
        );
        let area = plan_scope(&g, &state, &t(&["edge"])).unwrap();
        assert!(
            area.contains("edge.old_rule"),
            "an area holds what state records in it, as a Terraform module does"
        );
    }

    #[test]
    fn an_unknown_target_names_the_closest_address() {
        let (g, state) = stack();
        let err = |x: &str| plan_scope(&g, &state, &t(&[x])).unwrap_err().to_string();
        assert_eq!(err("network.vcp"), "--target network.vcp matches no resource of stack \"s\"; did you mean --target network.vpc?");
        assert_eq!(
            err("network.public_subnet[7]"),
            "--target network.public_subnet[7] matches no resource of stack \"s\"; did you mean --target network.public_subnet[0]?"
        );
        assert!(err("databse").ends_with("did you mean --target database?"), "{}", err("databse"));
        assert!(err("network.vpc.cidr_block").ends_with("did you mean --target network.vpc?"));
        let e = destroy_scope(&State::new("s"), &t(&["edge.alb"])).unwrap_err().to_string();
        assert_eq!(e, "--target edge.alb matches no resource: there are none recorded in the state of stack \"s\"");
    }

    #[test]
    fn restrict_keeps_only_the_scope_and_its_deposed_objects() {
        let (_, mut state) = stack();
        state.facts.insert(deposed_fact("edge.alb"), serde_json::json!({}));
        state.facts.insert(deposed_fact("network.vpc"), serde_json::json!({}));
        state.facts.insert("zones".into(), serde_json::json!([]));
        let part = restrict(&state, &set(&["network.vpc"]));
        assert_eq!(part.resources.keys().collect::<Vec<_>>(), ["network.vpc"]);
        assert_eq!(part.facts.keys().collect::<Vec<_>>(), ["deposed:network.vpc", "zones"]);
        assert_eq!((part.lineage, part.serial), (state.lineage, state.serial));
    }
}
