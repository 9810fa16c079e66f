//! Resolving an install against a 1,000-plugin registry with realistic
//! fan-out, as `POST …/plugins {"name", "version"}` does.
//!
//! The registry: 1,000 packages in layers (foundation libraries at the
//! bottom, apps at the top), five versions each (1.0.0 … 3.0.0); each
//! version depends on 2–6 packages of the 400 below it, mostly on the same
//! major (caret, tilde, bounded ranges), sometimes on a wide range, so a
//! request pulls in a deep graph full of diamonds and the solver must pick
//! consistent majors across it.
//! Measured: a top-layer app with nothing installed, and the same with 200
//! plugins already installed (pinned); and an app whose one dependency has
//! 5,000 published versions.
//!
//! Run: `cargo bench -p berth-benches --bench resolve`.

use berth::control::dependencies::Requirement;
use berth::control::resolver::{Candidate, Universe};
use criterion::{Criterion, criterion_group, criterion_main};
use semver::{Version, VersionReq};
use std::collections::BTreeMap;

const PACKAGES: usize = 1000;
const VERSIONS: [(u64, u64); 5] = [(1, 0), (1, 1), (1, 2), (2, 0), (3, 0)];

/// A deterministic pseudo-random sequence (no RNG dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound
    }
}

fn registry() -> Universe {
    let mut random = Lcg(42);
    let mut universe = Universe::default();
    for index in 0..PACKAGES {
        let candidates = VERSIONS
            .iter()
            .map(|&(major, minor)| {
                let mut requires = BTreeMap::new();
                if index >= 10 {
                    for _ in 0..2 + random.next(5) {
                        let dep = random.next(index.min(400)) + index.saturating_sub(400);
                        // Mostly the same major as this version (libraries
                        // move together), sometimes a wide range.
                        let range = match random.next(10) {
                            0..4 => format!("^{major}"),
                            4..6 if major == 1 => format!("~1.{}", random.next(3)),
                            4..6 => format!("^{major}.0"),
                            6..8 => format!(">={major}.0, <{}", major + 1),
                            _ => ">=1.0, <4".to_owned(),
                        };
                        let requirement = Requirement {
                            range: range.parse().expect("valid range"),
                            optional: false,
                        };
                        requires.insert(format!("pkg-{dep}"), requirement);
                    }
                }
                Candidate {
                    version: Version::new(major, minor, 0),
                    requires,
                }
            })
            .collect();
        universe
            .available
            .insert(format!("pkg-{index}"), candidates);
    }
    universe
}

fn resolve(c: &mut Criterion) {
    let universe = registry();
    let any = VersionReq::STAR;
    // The top-layer app with the deepest closure that resolves.
    let app = (PACKAGES - 100..PACKAGES)
        .map(|i| format!("pkg-{i}"))
        .filter_map(|name| Some((universe.resolve(&name, &any).ok()?.len(), name)))
        .max()
        .map(|(_, name)| name)
        .expect("some app resolves");
    let closure = universe.resolve(&app, &any).expect("resolves");
    eprintln!("resolving {app}: {} packages chosen", closure.len());

    let mut pinned = universe.clone();
    for (name, version) in closure.iter().take(200) {
        let candidate = universe.available[name]
            .iter()
            .find(|c| &c.version == version)
            .expect("chosen from the registry")
            .clone();
        pinned.installed.insert(name.clone(), candidate);
    }

    let mut group = c.benchmark_group("resolve_1000_plugin_registry");
    group.bench_function("fresh_org", |b| b.iter(|| universe.resolve(&app, &any)));
    group.bench_function("200_installed", |b| b.iter(|| pinned.resolve(&app, &any)));
    group.finish();
}

/// Versions of the one library in [`resolve_many_versions`]: an org's
/// registry has no cap on versions per name.
const MANY_VERSIONS: u64 = 5000;

/// An app whose one dependency has [`MANY_VERSIONS`] published versions,
/// every one matching its range: the cost of turning a semver range into
/// the set of known versions it matches.
fn resolve_many_versions(c: &mut Criterion) {
    let mut universe = Universe::default();
    let library = (0..MANY_VERSIONS)
        .map(|minor| Candidate {
            version: Version::new(1, minor, 0),
            requires: BTreeMap::new(),
        })
        .collect();
    universe.available.insert("lib".to_owned(), library);
    let requirement = Requirement {
        range: "^1".parse().expect("valid range"),
        optional: false,
    };
    let app = Candidate {
        version: Version::new(1, 0, 0),
        requires: BTreeMap::from([("lib".to_owned(), requirement)]),
    };
    universe.available.insert("app".to_owned(), vec![app]);
    let any = VersionReq::STAR;
    c.bench_function("resolve_one_dependency_with_5000_versions", |b| {
        b.iter(|| universe.resolve("app", &any).expect("resolves"))
    });
}

criterion_group!(benches, resolve, resolve_many_versions);
criterion_main!(benches);
