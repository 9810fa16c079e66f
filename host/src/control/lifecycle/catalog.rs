//! The internal plugin registries: each org's own, and the operator's
//! shared catalog every org can read. Packages are published there
//! (validated like an install, immutable once published) and installed by
//! name and semver range, with their missing dependencies, all or nothing.
//! Installing an installed plugin by name upgrades it to the highest
//! version in range, checked exactly like a ZIP upgrade.

use super::install::{InstallOptions, check_permissions, is_newer, new_record};
use super::{Lifecycle, LifecycleError, parse_digest};
use crate::control::dependencies::{GraphProblem, Node};
use crate::control::resolver::{Candidate, Universe};
use crate::package::Package;
use crate::package::manifest::Manifest;
use berth_storage::{CATALOG, Installation, PluginState, PublishedPackage, ReadTxn, unix_now};
use semver::{Version, VersionReq};
use serde::Serialize;
use std::collections::BTreeMap;

/// One plugin name an org can install, with its published versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistryListing {
    /// Plugin name.
    pub name: String,
    /// Its versions, lowest first.
    pub versions: Vec<ListedVersion>,
}

/// One installable version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedVersion {
    /// The version.
    pub version: String,
    /// `org` (the org's own registry) or `catalog` (the shared one).
    pub source: &'static str,
    /// SHA-256 of the package.
    pub digest: String,
}

/// What an install by name did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistryInstall {
    /// The request, `name range`.
    pub requested: String,
    /// Every package of the resolution with its chosen version (already
    /// installed ones included).
    pub resolved: BTreeMap<String, String>,
    /// What was installed (inactive) or upgraded now, by name.
    pub installed: Vec<Installation>,
}

impl Lifecycle {
    /// Publishes a package to `scope` (an org's registry, or [`CATALOG`]),
    /// checked like an install. A name and version is published once.
    pub fn publish(&self, scope: &str, zip: &[u8]) -> Result<PublishedPackage, LifecycleError> {
        if scope != CATALOG {
            self.require_org(scope)?;
        }
        let package = Package::parse(zip, &self.limits)?;
        check_permissions(&package)?;
        self.check_component(&package)?;
        let manifest = &package.manifest;
        let version = manifest.version.to_string();

        let writer = self.lock()?;
        let read = self.registry.read()?;
        // `1.0.0+a` and `1.0.0+b` are one version (semver precedence).
        let exists = read.published(scope)?.iter().any(|published| {
            published.name == manifest.name
                && Version::parse(&published.version)
                    .is_ok_and(|v| v.cmp_precedence(&manifest.version).is_eq())
        });
        if exists {
            return Err(LifecycleError::VersionExists {
                name: manifest.name.clone(),
                version,
            });
        }
        self.store_files(&package, zip)?;
        let at = unix_now();
        let published = PublishedPackage {
            scope: scope.to_owned(),
            name: manifest.name.clone(),
            version,
            digest: package.digest.to_hex(),
            manifest: manifest.to_json(),
            published_at: at,
        };
        let committed = self.commit(&writer, scope, |txn| {
            self.share_package(txn, &published.digest)?;
            txn.put_published(&published)?;
            if scope != CATALOG {
                let detail = format!("digest {}", published.digest);
                let (name, version) = (&published.name, &published.version);
                txn.append_audit(scope, at, "publish", Some(name), Some(version), &detail)?;
            }
            Ok::<_, LifecycleError>(())
        });
        if let Err(e) = committed {
            self.remove_files_if_unreferenced(&writer, &published.digest);
            return Err(e);
        }
        Ok(published)
    }

    /// What `scope` can install: for an org its own registry and the
    /// catalog (the org's copy wins when both publish a version); for
    /// [`CATALOG`] the catalog alone. By name, versions lowest first.
    pub fn registry_listing(&self, scope: &str) -> Result<Vec<RegistryListing>, LifecycleError> {
        if scope != CATALOG {
            self.require_org(scope)?;
        }
        let mut listing: BTreeMap<String, RegistryListing> = BTreeMap::new();
        for ((name, version), (source, published)) in installable(&self.registry.read()?, scope)? {
            let entry = listing.entry(name.clone()).or_insert(RegistryListing {
                name,
                versions: Vec::new(),
            });
            entry.versions.push(ListedVersion {
                version: version.to_string(),
                source,
                digest: published.digest,
            });
        }
        Ok(listing.into_values().collect())
    }

    /// Installs `name` at the highest version in `range` that can work in
    /// `org`, with every required dependency it lacks, chosen together
    /// (PubGrub, other installed plugins kept at their versions) and
    /// installed inactive in one transaction — or nothing at all.
    ///
    /// An installed `name` is upgraded: to a version newer than the
    /// installed one (else `NotNewer`), through the ZIP upgrade path when
    /// no new dependency is needed. New dependencies cannot be added under
    /// an active plugin (`DependenciesInactive`: install and activate them
    /// first); under an inactive one they commit with its upgrade.
    pub fn install_from_registry(
        &self,
        org: &str,
        name: &str,
        range: &VersionReq,
    ) -> Result<RegistryInstall, LifecycleError> {
        self.require_org(org)?;
        let writer = self.lock()?;
        let read = self.registry.read()?;
        let installable = installable(&read, org)?;
        let graph = self.org_graph(org)?;
        let previous = read.installation(org, name)?;

        let mut universe = Universe::default();
        for ((package, _), (_, published)) in &installable {
            let manifest = stored_manifest(published)?;
            let node = Node::from_manifest(&manifest, false);
            let candidates = universe.available.entry(package.clone()).or_default();
            candidates.push(Candidate::from(node));
        }
        for (package, node) in graph.nodes.iter().filter(|(package, _)| *package != name) {
            universe
                .installed
                .insert(package.clone(), Candidate::from(node.clone()));
        }
        let chosen = universe.resolve(name, range)?;
        let requested = format!("{name} {range}");
        let resolved = chosen
            .iter()
            .map(|(package, version)| (package.clone(), version.to_string()))
            .collect();
        let new_dependencies: Vec<String> = chosen
            .keys()
            .filter(|package| *package != name && !graph.nodes.contains_key(*package))
            .cloned()
            .collect();
        if let Some(previous) = &previous {
            let chosen_version = &chosen[name];
            if !is_newer(chosen_version, &previous.version) {
                return Err(LifecycleError::NotNewer {
                    plugin: name.to_owned(),
                    installed: previous.version.clone(),
                    uploaded: chosen_version.to_string(),
                });
            }
            if previous.state == PluginState::Active && !new_dependencies.is_empty() {
                return Err(LifecycleError::DependenciesInactive(new_dependencies));
            }
            if new_dependencies.is_empty() {
                let (_, published) = &installable[&(name.to_owned(), chosen_version.clone())];
                let zip = self.published_zip(published)?;
                drop((read, writer));
                let upgraded = self.install(org, &zip, InstallOptions::default())?;
                return Ok(RegistryInstall {
                    requested,
                    resolved,
                    installed: vec![upgraded],
                });
            }
        }

        let mut packages = Vec::new();
        for (package, version) in &chosen {
            if package != name && graph.nodes.contains_key(package) {
                continue;
            }
            let (_, published) = &installable[&(package.clone(), version.clone())];
            let zip = self.published_zip(published)?;
            let parsed = Package::parse(&zip, &self.limits)?;
            let signed_by = self.check_signature(org, &parsed)?;
            check_permissions(&parsed)?;
            self.check_component(&parsed)?;
            packages.push((parsed, zip, signed_by));
        }

        let mut after = graph.clone();
        let before = graph.problems();
        for (package, _, _) in &packages {
            let node = Node::from_manifest(&package.manifest, false);
            after.nodes.insert(package.manifest.name.clone(), node);
        }
        let introduced: Vec<GraphProblem> = after
            .problems()
            .into_iter()
            .filter(|problem| !before.contains(problem))
            .collect();
        if !introduced.is_empty() {
            return Err(LifecycleError::Dependencies(introduced));
        }

        for (package, zip, _) in &packages {
            self.store_files(package, zip)?;
        }
        let at = unix_now();
        let records: Vec<_> = packages
            .iter()
            .map(|(package, _, signed_by)| {
                let replaces = previous
                    .as_ref()
                    .filter(|p| p.name == package.manifest.name);
                let edges = match replaces {
                    Some(p) => read.dependency_edges(org, &p.name)?,
                    None => Vec::new(),
                };
                let record = new_record(
                    org,
                    package,
                    replaces.map(|p| (p, edges)),
                    PluginState::Installed,
                    signed_by.clone(),
                    at,
                )?;
                Ok((record, replaces.map(|p| p.version.clone())))
            })
            .collect::<Result<_, LifecycleError>>()?;
        let committed = self.commit(&writer, org, |txn| {
            for ((installation, edges), replaces) in &records {
                self.share_package(txn, &installation.digest)?;
                txn.put_installation(installation, edges)?;
                let source = format!(
                    "from the registry for `{requested}` (digest {})",
                    installation.digest
                );
                let (action, detail) = match replaces {
                    Some(from) => ("upgrade", format!("from {from}, {source}")),
                    None => ("install", source),
                };
                let (plugin, version) = (&installation.name, &installation.version);
                txn.append_audit(org, at, action, Some(plugin), Some(version), &detail)?;
            }
            Ok::<_, LifecycleError>(())
        });
        if let Err(e) = committed {
            for ((installation, _), _) in &records {
                self.remove_files_if_unreferenced(&writer, &installation.digest);
            }
            return Err(e);
        }
        for digest in previous.iter().flat_map(|p| p.digests()) {
            self.remove_files_if_unreferenced(&writer, digest);
        }
        Ok(RegistryInstall {
            requested,
            resolved,
            installed: records
                .into_iter()
                .map(|((installation, _), _)| installation)
                .collect(),
        })
    }

    /// The stored upload of a published package.
    fn published_zip(&self, published: &PublishedPackage) -> Result<Vec<u8>, LifecycleError> {
        self.ensure_package(&published.digest)?;
        let blob = self.packages.blob_path(&parse_digest(&published.digest)?);
        Ok(std::fs::read(&blob).map_err(berth_storage::StorageError::io("read", &blob))?)
    }
}

/// Where an installable version comes from, and its record.
type Source = (&'static str, PublishedPackage);

/// Every version `scope` can install, by (name, version): the catalog's,
/// then (for an org) its own, which replace the catalog's on a clash.
fn installable(
    read: &ReadTxn,
    scope: &str,
) -> Result<BTreeMap<(String, Version), Source>, LifecycleError> {
    let mut out = BTreeMap::new();
    let mut add = |source: &'static str, published: Vec<PublishedPackage>| {
        for package in published {
            let version = package.version.parse().map_err(|e| {
                berth_storage::StorageError::Corrupt(format!("published {}: {e}", package.name))
            })?;
            out.insert((package.name.clone(), version), (source, package));
        }
        Ok::<_, LifecycleError>(())
    };
    add("catalog", read.published(CATALOG)?)?;
    if scope != CATALOG {
        add("org", read.published(scope)?)?;
    }
    Ok(out)
}

fn stored_manifest(published: &PublishedPackage) -> Result<Manifest, LifecycleError> {
    serde_json::from_value(published.manifest.clone()).map_err(|e| {
        berth_storage::StorageError::Corrupt(format!("published {} manifest: {e}", published.name))
            .into()
    })
}
