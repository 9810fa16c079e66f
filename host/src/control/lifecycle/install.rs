//! Installing a package: checked in memory, files staged, component
//! loaded, then one transaction records it (an upgrade keeps what it may).

use super::writer::Writer;
use super::{Lifecycle, LifecycleError, granted_permissions};
use crate::capabilities::coverage::{narrowed, not_covered};
use crate::capabilities::gates::package_missing_permissions;
use crate::package::{Manifest, Package};
use crate::sandbox::loader::LoadedPlugin;
use berth_storage::{
    DependencyEdge, Installation, PluginState, PreviousVersion, StorageError, unix_now,
};
use std::sync::Arc;

/// The registry record of `package` installed in `org` (keeping what an
/// upgrade keeps from `previous`: its grant narrowed to what the new
/// version declares; and `previous` itself, with its dependency edges, to
/// roll back to), and its dependency edges.
pub(super) fn new_record(
    org: &str,
    package: &Package,
    previous: Option<(&Installation, Vec<DependencyEdge>)>,
    state: PluginState,
    signed_by: Option<String>,
    at: u64,
) -> Result<(Installation, Vec<DependencyEdge>), StorageError> {
    let manifest = &package.manifest;
    let kept = previous
        .as_ref()
        .map(|(p, edges)| Box::new(previous_version(p, edges.clone())));
    let previous = previous.map(|(p, _)| p);
    let granted = match previous {
        // Never activated: nothing was granted yet.
        Some(p) if p.granted.is_null() && p.state != PluginState::Active => serde_json::Value::Null,
        Some(p) => {
            let kept = narrowed(&granted_permissions(p)?, &manifest.permissions);
            serde_json::to_value(kept).expect("permissions serialize")
        }
        None => serde_json::Value::Null,
    };
    let installation = Installation {
        org: org.to_owned(),
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        digest: package.digest.to_hex(),
        state,
        manifest: manifest.to_json(),
        granted,
        installed_at: previous.map_or(at, |p| p.installed_at),
        updated_at: at,
        activated_at: previous.and_then(|p| p.activated_at),
        signed_by,
        previous: kept,
    };
    let edges = manifest
        .dependencies
        .iter()
        .map(|(name, dep)| DependencyEdge {
            name: name.clone(),
            range: dep.version.to_string(),
            optional: dep.optional,
        })
        .collect();
    Ok((installation, edges))
}

/// What a rollback from `installation`'s successor returns to.
pub(super) fn previous_version(
    installation: &Installation,
    edges: Vec<DependencyEdge>,
) -> PreviousVersion {
    PreviousVersion {
        version: installation.version.clone(),
        digest: installation.digest.clone(),
        manifest: installation.manifest.clone(),
        granted: installation.granted.clone(),
        signed_by: installation.signed_by.clone(),
        edges,
    }
}

/// Whether `candidate` is a newer version than the `installed` text, by
/// semver precedence (build metadata does not make a version newer).
pub(super) fn is_newer(candidate: &semver::Version, installed: &str) -> bool {
    semver::Version::parse(installed).map_or(true, |installed| {
        candidate.cmp_precedence(&installed).is_gt()
    })
}

/// 409 `version_not_newer` unless `manifest` is newer than the installed
/// `previous` (a first install always passes).
pub(super) fn refuse_unless_newer(
    manifest: &Manifest,
    previous: Option<&Installation>,
) -> Result<(), LifecycleError> {
    match previous {
        Some(previous) if !is_newer(&manifest.version, &previous.version) => {
            Err(LifecycleError::NotNewer {
                plugin: manifest.name.clone(),
                installed: previous.version.clone(),
                uploaded: manifest.version.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Refuses a package whose component imports gated interfaces its manifest
/// declares no permission for (before anything is compiled or written).
pub(super) fn check_permissions(package: &Package) -> Result<(), LifecycleError> {
    let missing = package_missing_permissions(package);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LifecycleError::PermissionMissing(missing))
    }
}

/// An upload checked and its files stored, ready to start and commit.
pub(super) struct PlannedInstall {
    /// Its new record.
    pub installation: Installation,
    /// Its dependency edges.
    pub edges: Vec<DependencyEdge>,
    /// The record it replaces, if an upgrade or rollback.
    pub previous: Option<Installation>,
    /// Its component, loaded (none for asset-only plugins).
    pub plugin: Option<Arc<LoadedPlugin>>,
    /// Its audit entry's action: `install`, `upgrade` or `rollback`.
    pub action: &'static str,
    /// The audit entry's details.
    pub detail: String,
    /// Whether its health route must answer 2xx before it commits (an
    /// upgrade of an active plugin).
    pub health_check: bool,
}

/// Options of an install.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// Replace an installed version even if the upload is not newer.
    pub force: bool,
}

impl Lifecycle {
    /// Installs (or upgrades) a plugin from a ZIP upload.
    ///
    /// Everything is validated before anything is written. An upgrade keeps
    /// the plugin's state, configuration and grants; if it was active, the
    /// new version serves from the moment the transaction commits. Its
    /// `on-activate` runs before that, without the writer lock (see
    /// [`writer`]): if the org changed meanwhile, nothing is installed.
    pub fn install(
        &self,
        org: &str,
        zip: &[u8],
        options: InstallOptions,
    ) -> Result<Installation, LifecycleError> {
        // Before anything is compiled or written.
        let package = self.checked_upload(org, zip)?;
        let plugin = self.check_component(&package)?;
        let manifest = &package.manifest;

        let writer = self.lock()?;
        // Again under the lock: a key removed or a policy set meanwhile counts.
        let signed_by = self.check_signature(org, &package)?;
        let read = self.registry.read()?;
        let previous = read.installation(org, &manifest.name)?;
        let previous_edges = read.dependency_edges(org, &manifest.name)?;
        drop(read);
        if !options.force {
            refuse_unless_newer(manifest, previous.as_ref())?;
        }
        // An upgrade declaring more than the org granted waits for a grant.
        let ungranted = match previous.as_ref().filter(|p| p.state == PluginState::Active) {
            Some(p) => not_covered(&manifest.permissions, &granted_permissions(p)?),
            None => Vec::new(),
        };

        let was_active = previous
            .as_ref()
            .is_some_and(|p| p.state == PluginState::Active);
        let stays_active = was_active && ungranted.is_empty();
        if was_active && !stays_active {
            // Going inactive is refused like a deactivation without
            // `cascade` while active plugins require it.
            self.stop_dependents(org, &manifest.name, false)?;
        }
        self.check_dependencies(org, manifest, stays_active)?;

        let at = unix_now();
        let state = match &previous {
            Some(p) if ungranted.is_empty() => p.state,
            _ => PluginState::Installed,
        };
        let replaced = previous.as_ref().map(|p| (p, previous_edges));
        let (installation, edges) = new_record(org, &package, replaced, state, signed_by, at)?;
        let mut detail = match &previous {
            Some(p) => format!("from {} (digest {})", p.version, installation.digest),
            None => format!("digest {}", installation.digest),
        };
        if !ungranted.is_empty() {
            detail += &format!("; inactive until granted: {}", ungranted.join(", "));
        }
        self.store_files(&package, zip)?;
        let digest = package.digest.to_hex();
        let pin = self.pending_files.pin(&digest);
        let planned = PlannedInstall {
            action: if previous.is_some() {
                "upgrade"
            } else {
                "install"
            },
            health_check: stays_active,
            installation,
            edges,
            previous,
            plugin,
            detail,
        };
        let installed = self.commit_install(writer, planned);
        drop(pin);
        if installed.is_err()
            && let Ok(writer) = self.lock()
        {
            self.remove_files_if_unreferenced(&writer, &digest);
        }
        installed
    }

    /// Starts a planned install whose files are stored, if it stays active
    /// (its guests run without the writer lock), then commits it.
    pub(super) fn commit_install(
        &self,
        writer: Writer<'_>,
        planned: PlannedInstall,
    ) -> Result<Installation, LifecycleError> {
        let PlannedInstall {
            installation,
            edges,
            previous,
            plugin,
            action,
            detail,
            health_check,
        } = planned;
        let org = installation.org.as_str();
        let component = plugin.clone();
        // An active plugin's new version registers anew (and gathers its UI
        // from the files just stored) before it commits.
        let (writer, starting) = if installation.state == PluginState::Active {
            let batch = vec![(installation.clone(), plugin)];
            self.start_unlocked(writer, org, batch, |started| match started {
                [upgraded] if health_check => self.check_health(upgraded),
                _ => Ok(()),
            })?
        } else {
            (writer, Vec::new())
        };

        self.commit(&writer, org, |txn| {
            self.share_package(txn, &installation.digest)?;
            txn.put_installation(&installation, &edges)?;
            txn.append_audit(
                org,
                installation.updated_at,
                action,
                Some(&installation.name),
                Some(&installation.version),
                &detail,
            )?;
            Ok(())
        })?;
        if let Some(component) = component {
            self.keep_artifact(&component);
        }
        if previous
            .as_ref()
            .is_some_and(|p| p.state == PluginState::Active)
            && starting.is_empty()
        {
            self.stop_serving(org, &installation.name);
        }
        let on_probation = action == "upgrade" && !starting.is_empty();
        for starting in starting {
            self.serve(starting);
        }
        if on_probation {
            self.start_probation(&installation);
        }
        self.refresh_order(org);
        // The version before the one replaced is no longer kept.
        for digest in previous.iter().flat_map(|p| p.digests()) {
            self.remove_files_if_unreferenced(&writer, digest);
        }
        Ok(installation)
    }

    /// Reads `zip` for `org` and checks what an upload must pass before
    /// anything is compiled or written: archive and manifest, signature
    /// against the org's policy, and imports against declared permissions.
    pub(super) fn checked_upload(&self, org: &str, zip: &[u8]) -> Result<Package, LifecycleError> {
        self.require_org(org)?;
        let package = Package::parse(zip, &self.limits)?;
        self.check_signature(org, &package)?;
        check_permissions(&package)?;
        Ok(package)
    }

    /// Validates the package's component against its kinds and returns it
    /// loaded (shared with other orgs using the same bytes); `None` for an
    /// asset-only plugin.
    pub(super) fn check_component(
        &self,
        package: &Package,
    ) -> Result<Option<Arc<LoadedPlugin>>, LifecycleError> {
        let (Some(path), Some(bytes)) = (&package.manifest.component, package.component()) else {
            return Ok(None);
        };
        self.loader
            .load(bytes, &package.manifest.kinds, package.manifest.api)
            .map(Some)
            .map_err(|source| LifecycleError::Component {
                path: path.clone(),
                source,
            })
    }

    /// Writes a validated package's ZIP and extracted files (idempotent).
    pub(super) fn store_files(&self, package: &Package, zip: &[u8]) -> Result<(), StorageError> {
        let files = package
            .files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
        self.packages.store(&package.digest, zip, files)
    }
}
