//! The dependency graph of one org's installed plugins, and the rules the
//! lifecycle enforces with it.
//!
//! - [`OrgGraph::problems`]: every required dependency is installed at a
//!   version satisfying every range naming it (an installed optional one
//!   must satisfy its range too), and there is no cycle — checked on the
//!   state an install or upgrade *would* produce, before anything is written.
//! - [`OrgGraph::inactive_requirements`]: what must be active before a plugin
//!   may be, in activation order (dependencies first).
//! - [`OrgGraph::active_dependents`]: who stops working if a plugin stops,
//!   in deactivation order (dependents first).
//!
//! Messages spell out who needs what: `a@1.0.0 -> b@2.1.0 -> a` for a cycle,
//! and each requirer's chain for a conflict.

use crate::package::manifest::Manifest;
use berth_storage::{DependencyEdge, Installation, PluginState, StorageError};
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One installed plugin, as the graph sees it.
#[derive(Clone, Debug)]
pub struct Node {
    /// Installed version.
    pub version: Version,
    /// Whether it is serving.
    pub active: bool,
    /// What it declares: name → (range, optional).
    pub requires: BTreeMap<String, Requirement>,
}

/// One declared dependency.
#[derive(Clone, Debug)]
pub struct Requirement {
    /// Acceptable versions.
    pub range: VersionReq,
    /// Whether the plugin works without it.
    pub optional: bool,
}

/// An org's installed plugins by name.
#[derive(Clone, Debug, Default)]
pub struct OrgGraph {
    /// The plugins.
    pub nodes: BTreeMap<String, Node>,
}

/// Why a graph is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphProblem {
    /// A required dependency is not installed.
    #[error("{chain} needs `{dependency}` {range}, which is not installed")]
    Missing {
        /// Who needs it, from a top-level plugin down: `x@1.0.0 -> a@1.0.0`.
        chain: String,
        /// The missing plugin.
        dependency: String,
        /// The range asked for.
        range: String,
    },
    /// The installed version does not satisfy every range naming it.
    #[error("`{dependency}` {installed} is installed, but {}", .requirers.join("; "))]
    Conflict {
        /// The plugin depended on.
        dependency: String,
        /// Its installed version.
        installed: String,
        /// Each requirer whose range it misses: `x@1.0.0 -> a@1.0.0 needs ^2`.
        requirers: Vec<String>,
    },
    /// Plugins depend on each other in a circle.
    #[error("circular dependency: {0}")]
    Cycle(String),
}

impl Node {
    /// The node a manifest describes.
    pub fn from_manifest(manifest: &Manifest, active: bool) -> Self {
        let requires = manifest
            .dependencies
            .iter()
            .map(|(name, dependency)| {
                let requirement = Requirement {
                    range: dependency.version.clone(),
                    optional: dependency.optional,
                };
                (name.clone(), requirement)
            })
            .collect();
        Self {
            version: manifest.version.clone(),
            active,
            requires,
        }
    }

    /// The node of a stored installation and its dependency edges.
    pub fn from_record(
        installation: &Installation,
        edges: &[DependencyEdge],
    ) -> Result<Self, StorageError> {
        let corrupt = |what: &str, e: semver::Error| {
            StorageError::Corrupt(format!("{} {what}: {e}", installation.name))
        };
        let requires = edges
            .iter()
            .map(|edge| {
                let range = edge.range.parse().map_err(|e| corrupt("range", e))?;
                let requirement = Requirement {
                    range,
                    optional: edge.optional,
                };
                Ok((edge.name.clone(), requirement))
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(Self {
            version: installation
                .version
                .parse()
                .map_err(|e| corrupt("version", e))?,
            active: installation.state == PluginState::Active,
            requires,
        })
    }
}

impl OrgGraph {
    /// Every problem of the graph: missing dependencies, conflicts, cycles.
    pub fn problems(&self) -> Vec<GraphProblem> {
        let mut problems = self.requirement_problems(|_| true);
        if let Some(cycle) = self.find_cycle() {
            problems.push(GraphProblem::Cycle(cycle));
        }
        problems
    }

    /// What keeps `name` from running: its own and its required
    /// dependencies' (transitively) missing or unsatisfied requirements.
    pub fn unmet_requirements(&self, name: &str) -> Vec<GraphProblem> {
        let mut closure = Vec::new();
        self.visit_requirements(name, &mut BTreeSet::new(), &mut closure);
        self.requirement_problems(|n| closure.iter().any(|c| c == n))
    }

    /// Missing and unsatisfied requirements of the plugins `include` selects.
    fn requirement_problems(&self, include: impl Fn(&str) -> bool) -> Vec<GraphProblem> {
        let mut problems = Vec::new();
        let mut unsatisfied: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, node) in self.nodes.iter().filter(|(name, _)| include(name)) {
            for (dependency, requirement) in &node.requires {
                match self.nodes.get(dependency) {
                    None if requirement.optional => {}
                    None => problems.push(GraphProblem::Missing {
                        chain: self.chain_to(name),
                        dependency: dependency.clone(),
                        range: requirement.range.to_string(),
                    }),
                    Some(target) if !requirement.range.matches(&target.version) => {
                        unsatisfied.entry(dependency).or_default().push(format!(
                            "{} needs {}",
                            self.chain_to(name),
                            requirement.range
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        for (dependency, requirers) in unsatisfied {
            problems.push(GraphProblem::Conflict {
                dependency: dependency.to_owned(),
                installed: self.nodes[dependency].version.to_string(),
                requirers,
            });
        }
        problems
    }

    /// `name`'s installed, required dependencies (transitively) that are not
    /// active, dependencies first. Optional ones are left as they are.
    pub fn inactive_requirements(&self, name: &str) -> Vec<String> {
        self.requirements_where(name, |node| !node.active)
    }

    /// `name`'s installed, required dependencies (transitively) that are
    /// active, dependencies first.
    pub fn active_requirements(&self, name: &str) -> Vec<String> {
        self.requirements_where(name, |node| node.active)
    }

    fn requirements_where(&self, name: &str, keep: impl Fn(&Node) -> bool) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        self.visit_requirements(name, &mut seen, &mut order);
        order.retain(|n| n != name && self.nodes.get(n).is_some_and(&keep));
        order
    }

    fn visit_requirements(&self, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        if let Some(node) = self.nodes.get(name) {
            for (dependency, requirement) in &node.requires {
                if !requirement.optional {
                    self.visit_requirements(dependency, seen, order);
                }
            }
        }
        order.push(name.to_owned());
    }

    /// Every installed plugin, each after the installed plugins it depends
    /// on (optional ones included); among those ready, by name. Plugins in
    /// a cycle (which installs refuse) come last, by name.
    pub fn dependency_order(&self) -> Vec<String> {
        let mut waiting: BTreeMap<&str, BTreeSet<&str>> = self
            .nodes
            .iter()
            .map(|(name, node)| {
                let deps = node
                    .requires
                    .keys()
                    .map(String::as_str)
                    .filter(|d| self.nodes.contains_key(*d) && d != name)
                    .collect();
                (name.as_str(), deps)
            })
            .collect();
        let mut order = Vec::with_capacity(waiting.len());
        while let Some(next) = waiting
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(name, _)| *name)
        {
            waiting.remove(next);
            for deps in waiting.values_mut() {
                deps.remove(next);
            }
            order.push(next.to_owned());
        }
        order.extend(waiting.keys().map(|name| (*name).to_owned()));
        order
    }

    /// The active plugins that require `name`, directly or through others,
    /// in the order to deactivate them (dependents first).
    pub fn active_dependents(&self, name: &str) -> Vec<String> {
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        self.visit_dependents(name, &mut seen, &mut order);
        order.retain(|n| n != name);
        order
    }

    fn visit_dependents(&self, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(name.to_owned()) {
            return;
        }
        for dependent in self.direct_dependents(name) {
            if self.nodes[dependent].active {
                self.visit_dependents(dependent, seen, order);
            }
        }
        order.push(name.to_owned());
    }

    /// The installed plugins, active or not, that require `name` directly.
    pub fn required_by(&self, name: &str) -> Vec<String> {
        self.direct_dependents(name).map(str::to_owned).collect()
    }

    /// Plugins that declare a required dependency on `name`.
    fn direct_dependents<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.nodes.iter().filter_map(move |(other, node)| {
            node.requires
                .get(name)
                .filter(|r| !r.optional)
                .map(|_| other.as_str())
        })
    }

    /// `name@version`, preceded by one chain of dependents up to a plugin
    /// nothing depends on: `x@1.0.0 -> a@1.0.0`.
    fn chain_to(&self, name: &str) -> String {
        let mut chain = vec![self.label(name)];
        let mut seen = BTreeSet::from([name.to_owned()]);
        let mut current = name.to_owned();
        loop {
            let up = self
                .direct_dependents(&current)
                .find(|d| !seen.contains(*d))
                .map(str::to_owned);
            let Some(up) = up else { break };
            chain.push(self.label(&up));
            seen.insert(up.clone());
            current = up;
        }
        chain.reverse();
        chain.join(" -> ")
    }

    fn label(&self, name: &str) -> String {
        match self.nodes.get(name) {
            Some(node) => format!("{name}@{}", node.version),
            None => name.to_owned(),
        }
    }

    /// The first cycle among installed plugins, spelled
    /// `a@1.0.0 -> b@2.1.0 -> a`.
    fn find_cycle(&self) -> Option<String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        fn visit(
            graph: &OrgGraph,
            name: &str,
            marks: &mut BTreeMap<String, Mark>,
            path: &mut Vec<String>,
        ) -> Option<String> {
            match marks.get(name) {
                Some(Mark::Done) => return None,
                Some(Mark::Visiting) => {
                    let start = path.iter().position(|n| n == name).unwrap_or(0);
                    let mut spelled: Vec<String> =
                        path[start..].iter().map(|n| graph.label(n)).collect();
                    spelled.push(name.to_owned());
                    return Some(spelled.join(" -> "));
                }
                None => {}
            }
            marks.insert(name.to_owned(), Mark::Visiting);
            path.push(name.to_owned());
            for dependency in graph.nodes[name].requires.keys() {
                if graph.nodes.contains_key(dependency)
                    && let Some(cycle) = visit(graph, dependency, marks, path)
                {
                    return Some(cycle);
                }
            }
            path.pop();
            marks.insert(name.to_owned(), Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        self.nodes
            .keys()
            .find_map(|name| visit(self, name, &mut marks, &mut Vec::new()))
    }

    /// The graph as the API shows it.
    pub fn view(&self) -> GraphView {
        let nodes = self
            .nodes
            .iter()
            .map(|(name, node)| NodeView {
                name: name.clone(),
                version: node.version.to_string(),
                state: if node.active { "active" } else { "installed" },
            })
            .collect();
        let edges = self
            .nodes
            .iter()
            .flat_map(|(name, node)| {
                node.requires.iter().map(move |(dependency, requirement)| {
                    let target = self.nodes.get(dependency);
                    EdgeView {
                        from: name.clone(),
                        to: dependency.clone(),
                        range: requirement.range.to_string(),
                        optional: requirement.optional,
                        resolved: target.map(|t| t.version.to_string()),
                        satisfied: target.is_some_and(|t| requirement.range.matches(&t.version)),
                    }
                })
            })
            .collect();
        GraphView { nodes, edges }
    }
}

/// An org's dependency graph, as served by `GET …/dependencies`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GraphView {
    /// Installed plugins.
    pub nodes: Vec<NodeView>,
    /// Declared dependencies.
    pub edges: Vec<EdgeView>,
}

/// A plugin in the graph view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NodeView {
    /// Name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// `active` or `installed`.
    pub state: &'static str,
}

/// A dependency in the graph view.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EdgeView {
    /// The dependent.
    pub from: String,
    /// The dependency.
    pub to: String,
    /// The declared range.
    pub range: String,
    /// Whether it is optional.
    pub optional: bool,
    /// The installed version it resolves to, if installed.
    pub resolved: Option<String>,
    /// Whether the installed version satisfies the range.
    pub satisfied: bool,
}

impl GraphView {
    /// The graph in Graphviz DOT: active plugins filled, optional
    /// dependencies dashed, unsatisfied ones red.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph dependencies {\n  rankdir=LR;\n  node [shape=box];\n");
        for node in &self.nodes {
            let style = if node.state == "active" {
                ", style=filled, fillcolor=\"#d7f5dd\""
            } else {
                ""
            };
            dot += &format!(
                "  \"{}\" [label=\"{}\\n{}\"{style}];\n",
                node.name, node.name, node.version
            );
        }
        for edge in &self.edges {
            let mut attributes = vec![format!("label=\"{}\"", edge.range.replace('"', ""))];
            if edge.optional {
                attributes.push("style=dashed".into());
            }
            let absent_option = edge.optional && edge.resolved.is_none();
            if !edge.satisfied && !absent_option {
                attributes.push("color=red".into());
            }
            dot += &format!(
                "  \"{}\" -> \"{}\" [{}];\n",
                edge.from,
                edge.to,
                attributes.join(", ")
            );
        }
        dot + "}\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(dependency, range, optional)`.
    type Dep<'a> = (&'a str, &'a str, bool);

    /// A graph from `(name, version, active, [dependency])`.
    fn graph(nodes: &[(&str, &str, bool, &[Dep])]) -> OrgGraph {
        let nodes = nodes
            .iter()
            .map(|(name, version, active, requires)| {
                let requires = requires
                    .iter()
                    .map(|(dep, range, optional)| {
                        let requirement = Requirement {
                            range: range.parse().unwrap(),
                            optional: *optional,
                        };
                        (dep.to_string(), requirement)
                    })
                    .collect();
                let node = Node {
                    version: version.parse().unwrap(),
                    active: *active,
                    requires,
                };
                (name.to_string(), node)
            })
            .collect();
        OrgGraph { nodes }
    }

    #[test]
    fn dependency_order_puts_dependencies_first_then_names() {
        let g = graph(&[
            (
                "app",
                "1.0.0",
                true,
                &[("zlib", "^1", false), ("opt", "^1", true)],
            ),
            ("zlib", "1.0.0", true, &[]),
            ("opt", "1.0.0", false, &[("missing", "^1", false)]),
            ("beta", "1.0.0", true, &[]),
        ]);
        assert_eq!(g.dependency_order(), ["beta", "opt", "zlib", "app"]);
    }

    #[test]
    fn a_satisfied_diamond_has_no_problems() {
        let g = graph(&[
            (
                "app",
                "1.0.0",
                true,
                &[("left", "^1", false), ("right", "^1", false)],
            ),
            ("left", "1.2.0", true, &[("base", ">=1.0, <2", false)]),
            ("right", "1.0.0", true, &[("base", "~1.4", false)]),
            ("base", "1.4.2", true, &[]),
        ]);
        assert_eq!(g.problems(), []);
    }

    #[test]
    fn conflicting_ranges_name_every_requirer_with_its_chain() {
        let g = graph(&[
            (
                "app",
                "1.0.0",
                false,
                &[("left", "^1", false), ("right", "^1", false)],
            ),
            ("left", "1.0.0", false, &[("base", "^1", false)]),
            ("right", "1.0.0", false, &[("base", "^2", false)]),
            ("base", "2.0.0", false, &[]),
        ]);
        let problems = g.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "`base` 2.0.0 is installed, but app@1.0.0 -> left@1.0.0 needs ^1"
        );
    }

    #[test]
    fn a_missing_requirement_is_reported_and_a_missing_option_is_not() {
        let g = graph(&[(
            "app",
            "1.0.0",
            false,
            &[("crm", "^2", false), ("stats", "^1", true)],
        )]);
        assert_eq!(
            g.problems(),
            [GraphProblem::Missing {
                chain: "app@1.0.0".into(),
                dependency: "crm".into(),
                range: "^2".into(),
            }]
        );
        let present = graph(&[
            ("app", "1.0.0", false, &[("stats", "^1", true)]),
            ("stats", "2.0.0", false, &[]),
        ]);
        assert!(matches!(
            present.problems()[..],
            [GraphProblem::Conflict { .. }]
        ));
    }

    #[test]
    fn cycles_of_every_length_are_spelled_out() {
        let one = graph(&[("a", "1.0.0", false, &[("a", "*", false)])]);
        assert_eq!(one.problems(), [GraphProblem::Cycle("a@1.0.0 -> a".into())]);
        let two = graph(&[
            ("a", "1.0.0", false, &[("b", "^2", false)]),
            ("b", "2.1.0", false, &[("a", "^1", false)]),
        ]);
        assert_eq!(
            two.problems(),
            [GraphProblem::Cycle("a@1.0.0 -> b@2.1.0 -> a".into())]
        );
        let three = graph(&[
            ("a", "1.0.0", false, &[("b", "*", false)]),
            ("b", "1.0.0", false, &[("c", "*", true)]),
            ("c", "1.0.0", false, &[("a", "*", false)]),
        ]);
        assert_eq!(
            three.problems(),
            [GraphProblem::Cycle(
                "a@1.0.0 -> b@1.0.0 -> c@1.0.0 -> a".into()
            )]
        );
    }

    #[test]
    fn a_ring_of_any_length_is_one_cycle_through_every_member() {
        for n in 1..=8 {
            let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            let mut g = OrgGraph::default();
            for (i, name) in names.iter().enumerate() {
                let next = names[(i + 1) % n].clone();
                let requirement = Requirement {
                    range: VersionReq::STAR,
                    optional: false,
                };
                let node = Node {
                    version: Version::new(1, 0, 0),
                    active: false,
                    requires: BTreeMap::from([(next, requirement)]),
                };
                g.nodes.insert(name.clone(), node);
            }
            let mut expected: Vec<String> = names.iter().map(|n| format!("{n}@1.0.0")).collect();
            expected.push("p0".into());
            assert_eq!(
                g.problems(),
                [GraphProblem::Cycle(expected.join(" -> "))],
                "n = {n}"
            );
        }
    }

    #[test]
    fn prerelease_versions_match_only_ranges_that_name_them() {
        let g = graph(&[
            ("app", "1.0.0", false, &[("base", "^1.0", false)]),
            ("base", "1.1.0-beta.1", false, &[]),
        ]);
        assert!(matches!(g.problems()[..], [GraphProblem::Conflict { .. }]));
        let named = graph(&[
            ("app", "1.0.0", false, &[("base", ">=1.1.0-beta.1", false)]),
            ("base", "1.1.0-beta.1", false, &[]),
        ]);
        assert_eq!(named.problems(), []);
    }

    #[test]
    fn activation_order_puts_dependencies_first_and_skips_active_and_optional() {
        let g = graph(&[
            (
                "app",
                "1.0.0",
                false,
                &[("mid", "*", false), ("opt", "*", true)],
            ),
            (
                "mid",
                "1.0.0",
                false,
                &[("base", "*", false), ("up", "*", false)],
            ),
            ("base", "1.0.0", false, &[]),
            ("up", "1.0.0", true, &[]),
            ("opt", "1.0.0", false, &[]),
        ]);
        assert_eq!(g.inactive_requirements("app"), ["base", "mid"]);
        assert_eq!(g.inactive_requirements("base"), Vec::<String>::new());
    }

    #[test]
    fn deactivation_order_puts_dependents_first() {
        let g = graph(&[
            ("app", "1.0.0", true, &[("mid", "*", false)]),
            ("mid", "1.0.0", true, &[("base", "*", false)]),
            ("other", "1.0.0", true, &[("base", "*", true)]),
            ("idle", "1.0.0", false, &[("base", "*", false)]),
            ("base", "1.0.0", true, &[]),
        ]);
        assert_eq!(g.active_dependents("base"), ["app", "mid"]);
        assert_eq!(g.active_dependents("app"), Vec::<String>::new());
    }

    #[test]
    fn dot_output_marks_optional_and_unsatisfied_edges() {
        let g = graph(&[
            (
                "app",
                "1.0.0",
                true,
                &[("base", "^2", false), ("opt", "^1", true)],
            ),
            ("base", "1.0.0", true, &[]),
        ]);
        let dot = g.view().to_dot();
        assert!(dot.starts_with("digraph dependencies {"));
        assert!(
            dot.contains("\"app\" -> \"base\" [label=\"^2\", color=red];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"app\" -> \"opt\" [label=\"^1\", style=dashed];"),
            "{dot}"
        );
    }
}
