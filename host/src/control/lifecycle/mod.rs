//! The plugin lifecycle: create orgs; install (or preview an install),
//! activate, deactivate and uninstall plugins — each step validated
//! completely first, then made durable in one registry transaction, then
//! reflected in the live route table. Steps check and commit one at a
//! time, but never hold the writer while a plugin's guest runs
//! ([`writer`]); reads never wait.
//!
//! Crash safety: package files are written (staged, fsynced, renamed)
//! before the transaction that references them commits, and removed only
//! after the transaction that dereferences them commits; [`Lifecycle::open`]
//! garbage-collects whatever a crash left unreferenced.

mod activation;
mod catalog;
mod cluster;
mod error;
mod garbage;
mod health;
mod install;
mod orgs;
mod preview;
mod queries;
mod rollback;
mod signatures;
mod state;
mod writer;

pub use catalog::{RegistryInstall, RegistryListing};
pub use error::LifecycleError;
pub use install::InstallOptions;
pub use preview::PackagePreview;
pub use signatures::{OperatorSigning, PolicySetter, SigningPolicy};
pub use state::UninstallOptions;

use crate::capabilities::files::PluginFiles;
use crate::capabilities::modules::Modules;
use crate::common::settings::PackageLimits;
use crate::control::dependencies::{GraphProblem, Node, OrgGraph};
use crate::package::manifest::{Manifest, Permissions};
use crate::sandbox::active_plugins::ActivePlugins;
use crate::sandbox::loader::{LoadedPlugin, Loader};
use crate::sandbox::runtime::Runtime;
use crate::serve::front_door::FrontDoor;
use crate::serve::tenant_keys::TenantKeys;
use crate::serve::ui::UiTable;
use berth_storage::{Database, Digest, Installation, PackageStore, StorageError, WriteTxn};
use orgs::{stored_limits, stored_tenant_key};
use std::sync::{Arc, Mutex};
use writer::{PendingFiles, Writer};

/// Stores `installation` and records `action` on it in the audit log.
fn put_with_audit(
    txn: &mut WriteTxn<'_>,
    installation: &Installation,
    action: &str,
    at: u64,
) -> Result<(), StorageError> {
    let edges = txn.dependency_edges(&installation.org, &installation.name)?;
    txn.put_installation(installation, &edges)?;
    txn.append_audit(
        &installation.org,
        at,
        action,
        Some(&installation.name),
        Some(&installation.version),
        "",
    )?;
    Ok(())
}

/// The lifecycle service.
pub struct Lifecycle {
    registry: Arc<Database>,
    packages: PackageStore,
    files: PluginFiles,
    loader: Loader,
    live: LiveState,
    limits: PackageLimits,
    /// The operator's trusted keys and signature rule (configured).
    operator_signing: OperatorSigning,
    /// Serializes this node's checks and commits so a check and its commit
    /// see the same state (with the registry's writers lock, the cluster's).
    writer: Mutex<()>,
    /// Package files stored but not yet committed by steps in flight.
    pending_files: PendingFiles,
    /// What this node serves, for syncs with a shared registry.
    served: cluster::ServedPlugins,
    /// Set once upgrades are watched for automatic rollback.
    upgrade_watch: std::sync::OnceLock<rollback::UpgradeWatch>,
}

impl Lifecycle {
    /// Opens the lifecycle over existing state: removes files a crash left
    /// unreferenced, and mounts every org (with its limit overrides) and
    /// every active plugin again.
    pub fn open(
        registry: Arc<Database>,
        packages: PackageStore,
        files: PluginFiles,
        loader: Loader,
        live: LiveState,
        limits: PackageLimits,
        operator_signing: OperatorSigning,
    ) -> Result<Self, LifecycleError> {
        let lifecycle = Self {
            registry,
            packages,
            files,
            loader,
            live,
            limits,
            operator_signing,
            writer: Mutex::default(),
            pending_files: PendingFiles::default(),
            served: Default::default(),
            upgrade_watch: std::sync::OnceLock::new(),
        };
        lifecycle.collect_garbage_at_start()?;
        let snapshot = lifecycle.registry.read()?;
        for org in snapshot.orgs()? {
            lifecycle.apply_org_settings(&org)?;
            if let Err(e) = lifecycle.resume_org(&org.name) {
                tracing::error!(org = org.name, "org's plugins could not be started: {e}");
            }
        }
        Ok(lifecycle)
    }

    /// Takes the writer lock: this node's, then (on a shared registry)
    /// the cluster's.
    fn lock(&self) -> Result<Writer<'_>, LifecycleError> {
        let node = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Writer::new(node, self.registry.lock_writers()?))
    }

    /// Makes `change` durable in one registry transaction, under the
    /// `writer` lock, and records that it changed `org` (which tells the
    /// other nodes of a cluster). On a shared registry `change` may run
    /// more than once (see [`Database::write`]).
    fn commit<T>(
        &self,
        _writer: &Writer<'_>,
        org: &str,
        mut change: impl FnMut(&mut WriteTxn<'_>) -> Result<T, LifecycleError>,
    ) -> Result<T, LifecycleError> {
        self.registry.write(|txn| {
            let value = change(txn)?;
            txn.changed_org(org)?;
            Ok(value)
        })
    }

    /// `Ok` if `org` exists, else `OrgNotFound`.
    pub fn require_org(&self, org: &str) -> Result<(), LifecycleError> {
        match self.registry.read()?.org(org)? {
            Some(_) => Ok(()),
            None => Err(LifecycleError::OrgNotFound(org.to_owned())),
        }
    }

    fn require_installation(&self, org: &str, name: &str) -> Result<Installation, LifecycleError> {
        self.require_org(org)?;
        self.registry
            .read()?
            .installation(org, name)?
            .ok_or_else(|| LifecycleError::PluginNotFound {
                org: org.to_owned(),
                plugin: name.to_owned(),
            })
    }

    /// Loads an installed plugin's component from its extracted files.
    fn load(
        &self,
        installation: &Installation,
    ) -> Result<Option<Arc<LoadedPlugin>>, LifecycleError> {
        self.ensure_package(&installation.digest)?;
        let manifest = stored_manifest(installation)?;
        let Some(path) = manifest.component else {
            return Ok(None);
        };
        let digest = parse_digest(&installation.digest)?;
        let file = self.packages.files_dir(&digest).join(&path);
        let bytes = std::fs::read(&file).map_err(StorageError::io("read", &file))?;
        let plugin = self
            .loader
            .load(&bytes, &manifest.kinds, manifest.api)
            .map_err(|source| LifecycleError::Component { path, source })?;
        self.keep_artifact(&plugin);
        Ok(Some(plugin))
    }

    /// Creates the directories the plugin's grant names (before it serves).
    /// On a cluster without shared files a writable directory would hold
    /// different files on each node, so it is refused.
    fn prepare_files(&self, installation: &Installation) -> Result<(), LifecycleError> {
        let grants = granted_permissions(installation)?;
        if self.registry.is_shared() && self.files.is_node_local() {
            let writable = (grants.filesystem.iter())
                .find(|dir| dir.mode == crate::package::manifest::DirectoryMode::Rw);
            if let Some(dir) = writable {
                return Err(LifecycleError::FilesNotShared(dir.name.clone()));
            }
        }
        self.files
            .prepare(&installation.org, &installation.name, &grants)?;
        Ok(())
    }

    /// Stores `org`'s `installations` with their new state in one
    /// transaction, each with an audit entry for `action`.
    fn commit_state_changes(
        &self,
        writer: &Writer<'_>,
        org: &str,
        installations: &[&Installation],
        action: &str,
        at: u64,
    ) -> Result<(), LifecycleError> {
        self.commit(writer, org, |txn| {
            for installation in installations {
                put_with_audit(txn, installation, action, at)?;
            }
            Ok(())
        })
    }

    /// The org's installed plugins and their declared dependencies.
    fn org_graph(&self, org: &str) -> Result<OrgGraph, LifecycleError> {
        let read = self.registry.read()?;
        let mut graph = OrgGraph::default();
        for installation in read.installations(org)? {
            let edges = read.dependency_edges(org, &installation.name)?;
            let node = Node::from_record(&installation, &edges)?;
            graph.nodes.insert(installation.name, node);
        }
        Ok(graph)
    }

    /// Refuses installing `manifest` if it would add a dependency problem
    /// to the org: a missing requirement, a conflict (including breaking an
    /// installed dependent's range on upgrade) or a cycle. If it stays
    /// active (an upgrade), its required dependencies must be active too.
    fn check_dependencies(
        &self,
        org: &str,
        manifest: &Manifest,
        stays_active: bool,
    ) -> Result<(), LifecycleError> {
        let mut graph = self.org_graph(org)?;
        let before = graph.problems();
        let node = Node::from_manifest(manifest, stays_active);
        graph.nodes.insert(manifest.name.clone(), node);
        let introduced: Vec<GraphProblem> = graph
            .problems()
            .into_iter()
            .filter(|problem| !before.contains(problem))
            .collect();
        if !introduced.is_empty() {
            return Err(LifecycleError::Dependencies(introduced));
        }
        let inactive = graph.inactive_requirements(&manifest.name);
        if stays_active && !inactive.is_empty() {
            return Err(LifecycleError::DependenciesInactive(inactive));
        }
        Ok(())
    }
}

/// The live, in-memory state the lifecycle keeps in step with the registry,
/// and the runtime it starts plugins with.
pub struct LiveState {
    /// Which plugins serve which org's routes.
    pub routes: Arc<ActivePlugins>,
    /// Modules and hook subscriptions active plugins registered.
    pub modules: Arc<Modules>,
    /// Active plugins' UI assets and contributions.
    pub ui: Arc<UiTable>,
    /// Runs plugins' `lifecycle.on-activate`.
    pub runtime: Runtime,
    /// Admits plugins' guests under per-org traffic limits, which it holds.
    pub front_door: FrontDoor,
    /// Per-org tenant keys for plugin routes.
    pub tenant_keys: Arc<TenantKeys>,
}

/// What an installation's manifest declares.
fn declared_permissions(installation: &Installation) -> Result<Permissions, StorageError> {
    let permissions = installation.manifest.get("permissions").cloned();
    permissions
        .map(serde_json::from_value)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| StorageError::Corrupt(format!("permissions of {}: {e}", installation.name)))
}

/// What the org granted an installation. Plugins activated before grants
/// were recorded (`null`) were granted everything they declared.
fn granted_permissions(installation: &Installation) -> Result<Permissions, StorageError> {
    if installation.granted.is_null() {
        return declared_permissions(installation);
    }
    serde_json::from_value(installation.granted.clone())
        .map_err(|e| StorageError::Corrupt(format!("grant of {}: {e}", installation.name)))
}

/// An installation's stored manifest.
fn stored_manifest(installation: &Installation) -> Result<Manifest, StorageError> {
    serde_json::from_value(installation.manifest.clone())
        .map_err(|e| StorageError::Corrupt(format!("manifest of {}: {e}", installation.name)))
}

fn parse_digest(hex: &str) -> Result<Digest, StorageError> {
    Digest::from_hex(hex).ok_or_else(|| StorageError::Corrupt(format!("bad digest {hex:?}")))
}
