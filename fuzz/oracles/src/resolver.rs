//! The dependency resolver over arbitrary small registries, with optional
//! dependencies and installed pins: it never panics, every solution keeps
//! every range and pin, and when it finds none, a brute-force search over
//! every choice agrees.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::control::dependencies::Requirement;
use berth::control::resolver::{Candidate, ResolveError, Universe};
use semver::{Version, VersionReq};
use std::collections::BTreeMap;

/// Most packages, and versions per package, in a registry (keeps the
/// brute force small).
const MAX_PACKAGES: usize = 5;
const MAX_VERSIONS: usize = 3;

/// One published version: its number and what it requires.
#[derive(Arbitrary, Debug)]
pub struct VersionSpec {
    /// Major and minor (each kept below 3).
    pub number: (u8, u8),
    /// (package index, range kind, major, minor, optional).
    pub requires: Vec<(u8, u8, u8, u8, bool)>,
}

/// A registry, the org's installed pins and a request.
#[derive(Arbitrary, Debug)]
pub struct Registry {
    /// Packages `p0`… with their versions.
    pub packages: Vec<Vec<VersionSpec>>,
    /// Installed (package index, version index) pins.
    pub installed: Vec<(u8, u8)>,
    /// The requested package index and range (kind, major, minor).
    pub request: (u8, u8, u8, u8),
}

fn range(kind: u8, major: u8, minor: u8) -> VersionReq {
    let (major, minor) = (major % 3, minor % 3);
    let text = match kind % 5 {
        0 => format!("^{major}.{minor}"),
        1 => format!("~{major}.{minor}"),
        2 => format!(">={major}.{minor}, <{}", major + 1),
        3 => format!("={major}.{minor}.0"),
        _ => "*".to_owned(),
    };
    text.parse().expect("a valid range")
}

/// The universe `registry` describes.
pub fn universe(registry: &Registry) -> Option<(Universe, String, VersionReq)> {
    let count = registry.packages.len().min(MAX_PACKAGES);
    if count == 0 {
        return None;
    }
    let name = |index: u8| format!("p{}", usize::from(index) % count);
    let mut universe = Universe::default();
    for (index, versions) in registry.packages.iter().take(count).enumerate() {
        let mut candidates: Vec<Candidate> = Vec::new();
        for spec in versions.iter().take(MAX_VERSIONS) {
            let version = Version::new(
                u64::from(spec.number.0 % 3),
                u64::from(spec.number.1 % 3),
                0,
            );
            if candidates.iter().any(|c| c.version == version) {
                continue;
            }
            let requires = (spec.requires.iter().take(3))
                .filter(|(target, ..)| usize::from(*target) % count != index)
                .map(|&(target, kind, major, minor, optional)| {
                    let range = range(kind, major, minor);
                    (name(target), Requirement { range, optional })
                })
                .collect();
            candidates.push(Candidate { version, requires });
        }
        universe.available.insert(format!("p{index}"), candidates);
    }
    for &(package, version) in &registry.installed {
        let package = name(package);
        let versions = &universe.available[&package];
        if let Some(pinned) = versions.get(usize::from(version) % versions.len().max(1)) {
            universe.installed.insert(package, pinned.clone());
        }
    }
    let (package, kind, major, minor) = registry.request;
    Some((universe, name(package), range(kind, major, minor)))
}

/// Checks the resolver on `registry`.
pub fn check(registry: &Registry) -> Verdict {
    let Some((universe, request, wanted)) = universe(registry) else {
        return Ok(());
    };
    match universe.resolve(&request, &wanted) {
        Ok(chosen) => {
            ensure(
                chosen.get(&request).is_some_and(|v| wanted.matches(v)),
                || format!("{request} {wanted} not in the solution {chosen:?}"),
            )?;
            satisfied(&universe, &chosen)
        }
        Err(ResolveError::NoSolution(why)) => match brute_force(&universe, &request, &wanted) {
            None => Ok(()),
            Some(found) => Err(format!(
                "the resolver found no solution ({why}), the brute force found {found:?} in {universe:#?}"
            )),
        },
        Err(ResolveError::UnknownPackage(name)) => {
            ensure(!universe.available.contains_key(&name), || {
                format!("{name} called unknown")
            })
        }
    }
}

/// Whether `chosen` keeps every pin and every range of what it chose:
/// required ranges and installed optional ones must hold; an optional
/// dependency must hold when chosen.
fn satisfied(universe: &Universe, chosen: &BTreeMap<String, Version>) -> Verdict {
    for (name, version) in chosen {
        let candidate = match universe.installed.get(name) {
            Some(pinned) => {
                ensure(&pinned.version == version, || {
                    format!(
                        "{name} is installed at {}, the solution moved it to {version}",
                        pinned.version
                    )
                })?;
                pinned
            }
            None => universe.available[name]
                .iter()
                .find(|c| &c.version == version)
                .ok_or_else(|| format!("{name} {version} was never published"))?,
        };
        for (dep, requirement) in &candidate.requires {
            let needed = !requirement.optional || universe.installed.contains_key(dep);
            match chosen.get(dep) {
                Some(picked) => ensure(requirement.range.matches(picked), || {
                    format!(
                        "{name} {version} needs {dep} {}, got {picked}",
                        requirement.range
                    )
                })?,
                None => ensure(!needed, || {
                    format!("{name} {version} needs {dep}, not chosen")
                })?,
            }
        }
    }
    Ok(())
}

/// Some choice of at most one version per package (installed ones only at
/// their pin) that satisfies everything, by trying them all.
fn brute_force(
    universe: &Universe,
    request: &str,
    wanted: &VersionReq,
) -> Option<BTreeMap<String, Version>> {
    let names: Vec<&String> = universe.available.keys().collect();
    let options: Vec<Vec<Option<Version>>> = names
        .iter()
        .map(|name| {
            let versions: Vec<Version> = match universe.installed.get(*name) {
                Some(pinned) => vec![pinned.version.clone()],
                None => universe.available[*name]
                    .iter()
                    .map(|c| c.version.clone())
                    .collect(),
            };
            std::iter::once(None)
                .chain(versions.into_iter().map(Some))
                .collect()
        })
        .collect();
    let mut choice = vec![0usize; names.len()];
    loop {
        let chosen: BTreeMap<String, Version> = names
            .iter()
            .zip(&choice)
            .enumerate()
            .filter_map(|(index, (name, &at))| Some(((*name).clone(), options[index][at].clone()?)))
            .collect();
        if chosen.get(request).is_some_and(|v| wanted.matches(v))
            && satisfied(universe, &chosen).is_ok()
        {
            return Some(chosen);
        }
        // Next choice, like an odometer.
        let mut digit = 0;
        loop {
            if digit == choice.len() {
                return None;
            }
            choice[digit] += 1;
            if choice[digit] < options[digit].len() {
                break;
            }
            choice[digit] = 0;
            digit += 1;
        }
    }
}
