//! Choosing versions to install: PubGrub (the `pubgrub` crate) over the
//! packages an org can install from, with the org's installed plugins pinned.
//!
//! A request is a plugin name and a semver range. The resolver picks, for
//! it and every required dependency (transitively), one version such that
//! every range naming a package is satisfied — preferring the highest
//! version, and keeping every installed plugin at its installed version (an
//! install never silently upgrades or downgrades something else). An
//! optional dependency is "absent, or in its range": absence is a version
//! of its own that PubGrub prefers, so optional packages are installed only
//! when something requires them, and a chosen or installed one must satisfy
//! the range. When no choice exists, the error is PubGrub's explanation of
//! the conflict, in full.
//!
//! A semver range becomes the set of *known* versions it matches, so the
//! `semver` crate's rules (prereleases only for ranges that name one) hold
//! exactly.

use crate::control::dependencies::{Node, Requirement};
use pubgrub::{
    DefaultStringReporter, OfflineDependencyProvider, PubGrubError, Ranges, Reporter, resolve,
};
use semver::{Version, VersionReq};
use std::collections::BTreeMap;
use std::ops::Bound;

/// The root of a resolution; never a valid plugin name.
const ROOT: &str = "(request)";

/// One version of a package that could be installed.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Its version.
    pub version: Version,
    /// What it declares.
    pub requires: BTreeMap<String, Requirement>,
}

/// Everything a resolution may choose from.
#[derive(Clone, Debug, Default)]
pub struct Universe {
    /// Installable versions by package name (e.g. the org's registry and the
    /// shared catalog).
    pub available: BTreeMap<String, Vec<Candidate>>,
    /// Installed plugins: the only version of these the resolver may pick.
    pub installed: BTreeMap<String, Candidate>,
}

/// Why no set of versions works.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing of that name can be installed.
    #[error("no package `{0}` is published to this org or the shared catalog")]
    UnknownPackage(String),
    /// The constraints cannot all hold; PubGrub's explanation.
    #[error("no versions satisfy every constraint:\n{0}")]
    NoSolution(String),
}

impl From<Node> for Candidate {
    fn from(node: Node) -> Self {
        Self {
            version: node.version,
            requires: node.requires,
        }
    }
}

type Provider = OfflineDependencyProvider<String, Ranges<Version>>;

impl Universe {
    /// The versions to install for `name` at `range`: the request and its
    /// required dependencies, transitively, each with its chosen version
    /// (installed ones included, at their installed version).
    pub fn resolve(
        &self,
        name: &str,
        range: &VersionReq,
    ) -> Result<BTreeMap<String, Version>, ResolveError> {
        if !self.installed.contains_key(name) && !self.available.contains_key(name) {
            return Err(ResolveError::UnknownPackage(name.to_owned()));
        }
        let mut provider = Provider::new();
        let root = Version::new(0, 0, 0);
        provider.add_dependencies(
            ROOT.to_owned(),
            root.clone(),
            [(name.to_owned(), self.ranges(name, range, false))],
        );
        for (package, candidate) in self.candidates() {
            let constraints = (candidate.requires.iter())
                .filter(|(dep, req)| !req.optional || self.is_known(dep))
                .map(|(dep, req)| (dep.clone(), self.ranges(dep, &req.range, req.optional)))
                .collect::<Vec<_>>();
            provider.add_dependencies(package.clone(), candidate.version.clone(), constraints);
        }
        // Absence as a version of its own, preferred over every real one
        // (PubGrub tries the highest first): an optional requirement is
        // "absent, or in range", so a package is chosen only when
        // something requires it. Installed packages cannot be absent.
        for package in self.available.keys() {
            if !self.installed.contains_key(package) {
                provider.add_dependencies(package.clone(), absent(), []);
            }
        }
        match resolve(&provider, ROOT.to_owned(), root) {
            Ok(selected) => Ok(selected
                .into_iter()
                .filter(|(package, version)| package != ROOT && *version != absent())
                .collect()),
            Err(PubGrubError::NoSolution(mut tree)) => {
                tree.collapse_no_versions();
                Err(ResolveError::NoSolution(DefaultStringReporter::report(
                    &tree,
                )))
            }
            Err(other) => Err(ResolveError::NoSolution(other.to_string())),
        }
    }

    fn is_known(&self, package: &str) -> bool {
        self.installed.contains_key(package) || self.available.contains_key(package)
    }

    /// Every version the resolver may pick, by package: the installed one
    /// for installed packages, otherwise every available one.
    fn candidates(&self) -> impl Iterator<Item = (&String, &Candidate)> {
        let installed = self.installed.iter();
        let available = self
            .available
            .iter()
            .filter(|(name, _)| !self.installed.contains_key(*name))
            .flat_map(|(name, versions)| versions.iter().map(move |c| (name, c)));
        installed.chain(available)
    }

    /// The known versions of `package` that `range` matches, as a set;
    /// for an `optional` requirement, absence too (unless installed).
    fn ranges(&self, package: &str, range: &VersionReq, optional: bool) -> Ranges<Version> {
        let known: Vec<&Version> = match self.installed.get(package) {
            Some(candidate) => vec![&candidate.version],
            None => self
                .available
                .get(package)
                .map(|versions| versions.iter().map(|c| &c.version).collect())
                .unwrap_or_default(),
        };
        let mut matching: Vec<Version> = (known.into_iter())
            .filter(|v| range.matches(v))
            .cloned()
            .collect();
        if optional && !self.installed.contains_key(package) {
            matching.push(absent());
        }
        // Built in one pass, in order: a union per version would copy the
        // growing set each time (versions² for a name with many).
        matching.sort_unstable();
        matching
            .into_iter()
            .map(|v| (Bound::Included(v.clone()), Bound::Included(v)))
            .collect()
    }
}

/// The version that stands for "not installed" (above every real one).
fn absent() -> Version {
    Version::new(u64::MAX, u64::MAX, u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate(version: &str, requires: &[(&str, &str, bool)]) -> Candidate {
        Candidate {
            version: version.parse().unwrap(),
            requires: requires
                .iter()
                .map(|(name, range, optional)| {
                    let requirement = Requirement {
                        range: range.parse().unwrap(),
                        optional: *optional,
                    };
                    (name.to_string(), requirement)
                })
                .collect(),
        }
    }

    fn versions(selected: &BTreeMap<String, Version>) -> Vec<String> {
        selected.iter().map(|(n, v)| format!("{n}@{v}")).collect()
    }

    fn req(text: &str) -> VersionReq {
        text.parse().unwrap()
    }

    #[test]
    fn the_highest_versions_that_satisfy_a_diamond_are_chosen() {
        let mut universe = Universe::default();
        universe.available.insert(
            "app".into(),
            vec![
                candidate("1.0.0", &[("left", "^1", false), ("right", "^1", false)]),
                candidate("2.0.0", &[("left", "^9", false)]),
            ],
        );
        universe.available.insert(
            "left".into(),
            vec![candidate("1.4.0", &[("base", ">=1.1, <2", false)])],
        );
        universe.available.insert(
            "right".into(),
            vec![
                candidate("1.0.0", &[("base", "~1.2", false)]),
                candidate("1.1.0", &[("base", "^1.3", false)]),
            ],
        );
        universe.available.insert(
            "base".into(),
            ["1.0.0", "1.2.5", "1.3.0", "2.0.0"]
                .iter()
                .map(|v| candidate(v, &[]))
                .collect(),
        );
        let chosen = universe.resolve("app", &req("*")).unwrap();
        assert_eq!(
            versions(&chosen),
            ["app@1.0.0", "base@1.3.0", "left@1.4.0", "right@1.1.0"]
        );
    }

    #[test]
    fn installed_plugins_are_pinned_and_conflicts_are_explained() {
        let mut universe = Universe::default();
        universe.available.insert(
            "crm-sync".into(),
            vec![candidate("2.0.0", &[("crm-core", "^2", false)])],
        );
        universe.available.insert(
            "crm-core".into(),
            vec![candidate("1.0.0", &[]), candidate("2.0.0", &[])],
        );
        let free = universe.resolve("crm-sync", &req("^2")).unwrap();
        assert_eq!(versions(&free), ["crm-core@2.0.0", "crm-sync@2.0.0"]);

        universe
            .installed
            .insert("crm-core".into(), candidate("1.0.0", &[]));
        let error = universe.resolve("crm-sync", &req("^2")).unwrap_err();
        let ResolveError::NoSolution(explanation) = &error else {
            panic!("{error:?}");
        };
        assert!(explanation.contains("crm-sync"), "{explanation}");
        assert!(explanation.contains("crm-core"), "{explanation}");
        assert_eq!(
            universe.resolve("nope", &req("*")),
            Err(ResolveError::UnknownPackage("nope".into()))
        );
    }

    #[test]
    fn optional_dependencies_are_not_installed_but_constrain_when_installed() {
        let mut universe = Universe::default();
        universe.available.insert(
            "app".into(),
            vec![
                candidate("1.0.0", &[("stats", "^1", true)]),
                candidate("1.1.0", &[("stats", "^2", true)]),
            ],
        );
        universe
            .available
            .insert("stats".into(), vec![candidate("2.0.0", &[])]);
        let without = universe.resolve("app", &req("*")).unwrap();
        assert_eq!(versions(&without), ["app@1.1.0"]);
        universe
            .installed
            .insert("stats".into(), candidate("1.5.0", &[]));
        let with = universe.resolve("app", &req("*")).unwrap();
        assert_eq!(versions(&with), ["app@1.0.0", "stats@1.5.0"]);
    }

    #[test]
    fn prereleases_are_chosen_only_when_the_range_names_one() {
        let mut universe = Universe::default();
        universe.available.insert(
            "base".into(),
            vec![candidate("1.0.0", &[]), candidate("1.1.0-beta.1", &[])],
        );
        let stable = universe.resolve("base", &req("^1")).unwrap();
        assert_eq!(versions(&stable), ["base@1.0.0"]);
        let beta = universe.resolve("base", &req(">=1.1.0-beta.1")).unwrap();
        assert_eq!(versions(&beta), ["base@1.1.0-beta.1"]);
    }

    /// A random universe: `packages` named p0…pN, each with a few versions
    /// depending on higher-numbered packages with caret, tilde or range
    /// requirements.
    fn universe_strategy() -> impl Strategy<Value = Universe> {
        let requirement = (1usize..6, 0u64..3, 0u64..3, 0u8..3, any::<bool>());
        let version = (
            0u64..3,
            0u64..3,
            proptest::collection::vec(requirement, 0..3),
        );
        let package = proptest::collection::vec(version, 1..4);
        proptest::collection::vec(package, 2..7).prop_map(|packages| {
            let count = packages.len();
            let mut universe = Universe::default();
            for (index, versions) in packages.into_iter().enumerate() {
                let mut candidates: Vec<Candidate> = Vec::new();
                for (major, minor, requirements) in versions {
                    let version = Version::new(major, minor, 0);
                    if candidates.iter().any(|c| c.version == version) {
                        continue;
                    }
                    let requires = requirements
                        .into_iter()
                        .filter(|(offset, ..)| index + offset < count)
                        .map(|(offset, major, minor, kind, optional)| {
                            let range = match kind {
                                0 => format!("^{major}.{minor}"),
                                1 => format!("~{major}.{minor}"),
                                _ => format!(">={major}.{minor}, <{}", major + 1),
                            };
                            let requirement = Requirement {
                                range: range.parse().unwrap(),
                                optional,
                            };
                            (format!("p{}", index + offset), requirement)
                        })
                        .collect();
                    candidates.push(Candidate { version, requires });
                }
                universe.available.insert(format!("p{index}"), candidates);
            }
            universe
        })
    }

    /// Whether any choice of at most one version per package, with `p0`
    /// chosen, satisfies every requirement of every chosen version
    /// (optional ones: absent or in range), by trying them all.
    fn brute_force_solvable(universe: &Universe) -> bool {
        let names: Vec<&String> = universe.available.keys().collect();
        let mut choice: Vec<Option<&Candidate>> = vec![None; names.len()];
        fn satisfied(names: &[&String], choice: &[Option<&Candidate>]) -> bool {
            let picked = |dep: &str| {
                let index = names.iter().position(|n| n.as_str() == dep)?;
                choice[index].map(|c| &c.version)
            };
            choice[0].is_some()
                && choice.iter().flatten().all(|candidate| {
                    candidate
                        .requires
                        .iter()
                        .all(|(dep, requirement)| match picked(dep) {
                            Some(version) => requirement.range.matches(version),
                            None => requirement.optional,
                        })
                })
        }
        fn search<'u>(
            universe: &'u Universe,
            names: &[&String],
            choice: &mut Vec<Option<&'u Candidate>>,
            at: usize,
        ) -> bool {
            if at == names.len() {
                return satisfied(names, choice);
            }
            let options =
                std::iter::once(None).chain(universe.available[names[at]].iter().map(Some));
            for option in options {
                choice[at] = option;
                if search(universe, names, choice, at + 1) {
                    return true;
                }
            }
            false
        }
        search(universe, &names, &mut choice, 0)
    }

    proptest! {
        #[test]
        fn a_resolution_exists_exactly_when_some_choice_satisfies_everything(
            universe in universe_strategy()
        ) {
            let solvable = brute_force_solvable(&universe);
            match universe.resolve("p0", &req("*")) {
                Ok(_) => prop_assert!(solvable, "resolved, but brute force finds no solution"),
                Err(e) => prop_assert!(!solvable, "brute force finds a solution, resolver says: {e}"),
            }
        }

        #[test]
        fn every_resolution_satisfies_every_constraint(universe in universe_strategy()) {
            let range = req("*");
            if let Ok(chosen) = universe.resolve("p0", &range) {
                prop_assert!(chosen.contains_key("p0"));
                for (name, version) in &chosen {
                    let candidate = universe.available[name]
                        .iter()
                        .find(|c| &c.version == version);
                    prop_assert!(candidate.is_some(), "{name}@{version} was never published");
                    for (dep, requirement) in &candidate.unwrap().requires {
                        match chosen.get(dep) {
                            Some(v) => prop_assert!(
                                requirement.range.matches(v),
                                "{name}@{version} needs {dep} {}, got {v}", requirement.range
                            ),
                            None => prop_assert!(
                                requirement.optional,
                                "{name}@{version} needs {dep}, which was not chosen"
                            ),
                        }
                    }
                }
            }
        }
    }
}
