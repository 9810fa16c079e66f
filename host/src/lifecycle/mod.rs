//! The plugin lifecycle: create orgs; install, activate, deactivate and
//! uninstall plugins — each step validated completely first, then made
//! durable in one registry transaction, then reflected in the live route
//! table. Steps check and commit one at a time, but never hold the writer
//! while a plugin's guest runs ([`writer`]); reads never wait.
//!
//! Crash safety: package files are written (staged, fsynced, renamed)
//! before the transaction that references them commits, and removed only
//! after the transaction that dereferences them commits; [`Lifecycle::open`]
//! garbage-collects whatever a crash left unreferenced.

mod activation;
mod catalog;
mod signatures;
mod writer;

pub use catalog::{RegistryInstall, RegistryListing};
pub use signatures::SigningPolicy;

use crate::admission::{Refusal, TenantLimits};
use crate::config::PackageLimits;
use crate::dependencies::{GraphProblem, GraphView, Node, OrgGraph};
use crate::error::ApiError;
use crate::front_door::FrontDoor;
use crate::grants::not_covered;
use crate::ids;
use crate::integrations::check_config;
use crate::loader::{LoadError, LoadedPlugin, Loader};
use crate::modules::Modules;
use crate::package::manifest::{Manifest, Permissions};
use crate::package::{Package, PackageError};
use crate::permissions::{MissingPermission, describe_missing, package_missing_permissions};
use crate::plugin_config::{ConfigUpdate, ConfigView};
use crate::plugin_files::PluginFiles;
use crate::resolver::ResolveError;
use crate::router::{MountedPlugin, RouteTable};
use crate::runtime::Runtime;
use crate::signing::SignatureError;
use crate::tenant_keys::TenantKeys;
use crate::ui::UiTable;
use berth_storage::{
    AuditEvent, DependencyEdge, Digest, Installation, KvUsage, OrgRecord, PackageStore,
    PluginState, Registry, StorageError, WriteTxn, unix_now,
};
use http::StatusCode;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use writer::{Changes, PendingFiles, Writer};

/// Why a lifecycle step was refused or failed. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Bad org or plugin name.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// No such org.
    #[error("no org `{0}`")]
    OrgNotFound(String),
    /// The org already exists.
    #[error("org `{0}` already exists")]
    OrgExists(String),
    /// No such plugin in the org.
    #[error("org `{org}` has no plugin `{plugin}`")]
    PluginNotFound {
        /// The org.
        org: String,
        /// The plugin.
        plugin: String,
    },
    /// The upload is not a valid package.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The package's component cannot be served.
    #[error("component {path:?}: {source}")]
    Component {
        /// Its path in the package.
        path: String,
        /// Why.
        source: LoadError,
    },
    /// The component imports interfaces its manifest declares no permission for.
    #[error("{}", describe_missing(.0))]
    PermissionMissing(Vec<MissingPermission>),
    /// The grant asks for more than the plugin declares.
    #[error("the grant exceeds what the plugin declares: {}", .0.join(", "))]
    GrantExceedsDeclaration(Vec<String>),
    /// Installing a version that is not newer than the installed one.
    #[error(
        "`{plugin}` {installed} is installed; {uploaded} is not newer (use ?force to replace it)"
    )]
    NotNewer {
        /// The plugin.
        plugin: String,
        /// Installed version.
        installed: String,
        /// Uploaded version.
        uploaded: String,
    },
    /// The change would leave dependencies missing, conflicting or circular.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Dependencies(Vec<GraphProblem>),
    /// Required dependencies are installed but not active.
    #[error(
        "required dependencies are not active: {} (activate them first, or use ?with-deps)",
        .0.join(", ")
    )]
    DependenciesInactive(Vec<String>),
    /// Active plugins require this one.
    #[error(
        "active plugins depend on `{plugin}`: {} (deactivate them first, or use ?cascade)",
        .dependents.join(", ")
    )]
    HasDependents {
        /// The plugin asked about.
        plugin: String,
        /// Its active dependents, in deactivation order.
        dependents: Vec<String>,
    },
    /// That name and version is already published there.
    #[error("`{name}` {version} is already published here; publish a new version")]
    VersionExists {
        /// The plugin.
        name: String,
        /// The version.
        version: String,
    },
    /// No versions to install satisfy every constraint.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The configuration does not satisfy the connector's config schema.
    #[error("the configuration does not satisfy the plugin's config schema: {0}")]
    ConfigRejected(String),
    /// The plugin's `lifecycle.on-activate` failed or refused.
    #[error("plugin `{plugin}` could not be activated: {reason}")]
    ActivationFailed {
        /// The plugin.
        plugin: String,
        /// What it reported (or how it failed).
        reason: String,
    },
    /// A configuration update is malformed.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The package's signature is missing, broken or not trusted.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Not a minisign public key.
    #[error("{0}")]
    InvalidKey(String),
    /// The org already trusts that key.
    #[error("key {0} is already trusted")]
    KeyExists(String),
    /// The org does not trust that key.
    #[error("no trusted key {0}")]
    KeyNotFound(String),
    /// Uninstalling an active plugin without force.
    #[error("`{0}` is active; deactivate it first or use ?force")]
    PluginActive(String),
    /// The org is at its in-flight or rate limit, so the plugin's
    /// `on-activate` or UI `contributions()` could not run.
    #[error("starting plugin `{plugin}` was refused: {refusal}")]
    Busy {
        /// The plugin.
        plugin: String,
        /// Which limit.
        refusal: Refusal,
    },
    /// Another step changed the org while this one ran its plugins'
    /// guests; this one changed nothing.
    #[error("org `{0}` changed while this step ran its plugins; nothing was changed, retry")]
    Conflict(String),
    /// A limits override is not an object of known limits with valid values.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<LifecycleError> for ApiError {
    fn from(error: LifecycleError) -> Self {
        use LifecycleError as E;
        let (status, code) = match &error {
            E::Package(e) => return e.clone().into(),
            E::Busy { .. } => return ApiError::too_many_requests(error.to_string()),
            E::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            E::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
            E::OrgNotFound(_) => (StatusCode::NOT_FOUND, "org_not_found"),
            E::OrgExists(_) => (StatusCode::CONFLICT, "org_exists"),
            E::PluginNotFound { .. } => (StatusCode::NOT_FOUND, "plugin_not_found"),
            E::Component {
                source: LoadError::Storage(_),
                ..
            } => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
            E::Component { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_component"),
            E::PermissionMissing(_) => (StatusCode::UNPROCESSABLE_ENTITY, "permission_missing"),
            E::GrantExceedsDeclaration(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "grant_exceeds_declaration",
            ),
            E::NotNewer { .. } => (StatusCode::CONFLICT, "version_not_newer"),
            E::PluginActive(_) => (StatusCode::CONFLICT, "plugin_active"),
            E::InvalidConfig(_) => (StatusCode::BAD_REQUEST, "invalid_config"),
            E::InvalidLimits(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            E::ConfigRejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "config_rejected"),
            E::Signature(SignatureError::Required) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_required")
            }
            E::Signature(SignatureError::Malformed(_)) => {
                (StatusCode::BAD_REQUEST, "invalid_signature")
            }
            E::Signature(SignatureError::WrongPlugin { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_wrong_plugin")
            }
            E::Signature(SignatureError::Mismatch(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "signature_mismatch")
            }
            E::Signature(SignatureError::Untrusted(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "untrusted_signer")
            }
            E::InvalidKey(_) => (StatusCode::BAD_REQUEST, "invalid_key"),
            E::KeyExists(_) => (StatusCode::CONFLICT, "key_exists"),
            E::KeyNotFound(_) => (StatusCode::NOT_FOUND, "key_not_found"),
            E::ActivationFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "activation_failed"),
            E::Dependencies(problems) => match problems.first() {
                Some(GraphProblem::Conflict { .. }) => {
                    (StatusCode::CONFLICT, "dependency_conflict")
                }
                Some(GraphProblem::Cycle(_)) => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "dependency_cycle")
                }
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "dependency_missing"),
            },
            E::DependenciesInactive(_) => (StatusCode::CONFLICT, "dependencies_inactive"),
            E::VersionExists { .. } => (StatusCode::CONFLICT, "version_exists"),
            E::Resolve(ResolveError::UnknownPackage(_)) => {
                (StatusCode::NOT_FOUND, "package_not_found")
            }
            E::Resolve(ResolveError::NoSolution(_)) => (StatusCode::CONFLICT, "no_resolution"),
            E::HasDependents { .. } => (StatusCode::CONFLICT, "plugin_has_dependents"),
            E::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "storage_error"),
        };
        if status.is_server_error() {
            tracing::error!("lifecycle failure: {error}");
        }
        ApiError::new(status, code, error.to_string())
    }
}

/// The registry record of `package` installed in `org` (keeping what an
/// upgrade keeps from `previous`), and its dependency edges.
fn new_record(
    org: &str,
    package: &Package,
    previous: Option<&Installation>,
    state: PluginState,
    signed_by: Option<String>,
    at: u64,
) -> (Installation, Vec<DependencyEdge>) {
    let manifest = &package.manifest;
    let installation = Installation {
        org: org.to_owned(),
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        digest: package.digest.to_hex(),
        state,
        manifest: serde_json::to_value(manifest).expect("manifests serialize"),
        granted: previous.map_or(serde_json::Value::Null, |p| p.granted.clone()),
        installed_at: previous.map_or(at, |p| p.installed_at),
        updated_at: at,
        activated_at: previous.and_then(|p| p.activated_at),
        signed_by,
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
    (installation, edges)
}

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

/// Refuses a package whose component imports gated interfaces its manifest
/// declares no permission for (before anything is compiled or written).
fn check_permissions(package: &Package) -> Result<(), LifecycleError> {
    let missing = package_missing_permissions(package);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LifecycleError::PermissionMissing(missing))
    }
}

/// An upload checked and its files stored, ready to start and commit.
struct PlannedInstall {
    /// Its new record.
    installation: Installation,
    /// Its dependency edges.
    edges: Vec<DependencyEdge>,
    /// The record it replaces, if an upgrade.
    previous: Option<Installation>,
    /// Its component, loaded (none for asset-only plugins).
    plugin: Option<Arc<LoadedPlugin>>,
    /// What its audit entry says.
    detail: String,
}

/// Options of an install.
#[derive(Clone, Copy, Debug, Default)]
pub struct InstallOptions {
    /// Replace an installed version even if the upload is not newer.
    pub force: bool,
}

/// Options of an uninstall.
#[derive(Clone, Copy, Debug, Default)]
pub struct UninstallOptions {
    /// Uninstall even if the plugin is active.
    pub force: bool,
    /// Deactivate the active plugins that depend on it first.
    pub cascade: bool,
}

/// The lifecycle service.
pub struct Lifecycle {
    registry: Arc<Registry>,
    packages: PackageStore,
    files: PluginFiles,
    loader: Loader,
    live: LiveState,
    limits: PackageLimits,
    /// Operator-wide trusted signing keys (configured).
    operator_keys: Vec<minisign::PublicKey>,
    /// Serializes checks and commits so a check and its commit see the
    /// same state; counts each org's commits.
    writer: Mutex<Changes>,
    /// Package files stored but not yet committed by steps in flight.
    pending_files: PendingFiles,
}

impl Lifecycle {
    /// Opens the lifecycle over existing state: removes files a crash left
    /// unreferenced, and mounts every org (with its limit overrides) and
    /// every active plugin again.
    pub fn open(
        registry: Arc<Registry>,
        packages: PackageStore,
        files: PluginFiles,
        loader: Loader,
        live: LiveState,
        limits: PackageLimits,
        operator_keys: Vec<minisign::PublicKey>,
    ) -> Result<Self, LifecycleError> {
        let lifecycle = Self {
            registry,
            packages,
            files,
            loader,
            live,
            limits,
            operator_keys,
            writer: Mutex::default(),
            pending_files: PendingFiles::default(),
        };
        let snapshot = lifecycle.registry.read()?;
        let installations = snapshot.all_installations()?;
        let referenced: HashSet<String> = installations
            .iter()
            .map(|i| i.digest.clone())
            .chain(snapshot.published_digests()?)
            .collect();
        for path in lifecycle.packages.collect_garbage(&referenced)? {
            tracing::info!(path = %path.display(), "removed unreferenced package file");
        }
        let installed = installations
            .iter()
            .map(|i| (i.org.clone(), i.name.clone()))
            .collect();
        match lifecycle.files.collect_garbage(&installed) {
            Ok(removed) => {
                for path in removed {
                    tracing::info!(path = %path.display(), "removed an uninstalled plugin's directory");
                }
            }
            Err(e) => tracing::warn!("cleaning up plugin directories: {e}"),
        }
        for org in snapshot.orgs()? {
            lifecycle.live.routes.add_org(&org.name);
            lifecycle.live.front_door.admission().set_override(
                &org.name,
                stored_limits(&org, lifecycle.live.front_door.admission().defaults())?,
            );
            lifecycle
                .live
                .tenant_keys
                .set(&org.name, stored_tenant_key(&org)?);
            lifecycle
                .live
                .tenant_keys
                .set_modules_public(&org.name, org.modules_public);
            if let Err(e) = lifecycle.resume_org(&org.name) {
                tracing::error!(org = org.name, "org's plugins could not be started: {e}");
            }
        }
        Ok(lifecycle)
    }

    /// Makes `org`'s active plugins serve again (after a start), dependencies
    /// first so that dependents can extend the modules they register.
    fn resume_org(&self, org: &str) -> Result<(), LifecycleError> {
        let graph = self.org_graph(org)?;
        for name in graph.dependency_order() {
            if !graph.nodes[&name].active {
                continue;
            }
            let resumed = self
                .require_installation(org, &name)
                .and_then(|installation| {
                    self.prepare_files(&installation)?;
                    let plugin = self.load(&installation)?;
                    for starting in self.start(vec![(installation, plugin)])? {
                        self.serve(starting)?;
                    }
                    Ok(())
                });
            if let Err(e) = resumed {
                tracing::error!(
                    org,
                    plugin = name,
                    "active plugin could not be started and is not serving: {e}"
                );
            }
        }
        self.live.modules.set_order(org, graph.dependency_order());
        Ok(())
    }

    /// Applies `change` to `org`'s record and audits `action` in one transaction.
    pub(super) fn change_org(
        &self,
        org: &str,
        action: &str,
        detail: &str,
        change: impl FnOnce(&mut OrgRecord) -> Result<(), LifecycleError>,
    ) -> Result<(), LifecycleError> {
        let mut writer = self.lock();
        self.commit(&mut writer, org, |txn| {
            let mut record = txn
                .org(org)?
                .ok_or_else(|| LifecycleError::OrgNotFound(org.to_owned()))?;
            change(&mut record)?;
            txn.put_org(&record)?;
            txn.append_audit(org, unix_now(), action, None, None, detail)?;
            Ok(())
        })
    }

    fn org_record(&self, org: &str) -> Result<OrgRecord, LifecycleError> {
        self.registry
            .read()?
            .org(org)?
            .ok_or_else(|| LifecycleError::OrgNotFound(org.to_owned()))
    }

    fn lock(&self) -> Writer<'_> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `change` durable in one registry transaction, under the
    /// `writer` lock, and records that it changed `org`.
    fn commit<T>(
        &self,
        writer: &mut Changes,
        org: &str,
        change: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, LifecycleError>,
    ) -> Result<T, LifecycleError> {
        let value = self.registry.write(change)?;
        writer.changed(org);
        Ok(value)
    }

    /// Creates an org.
    pub fn create_org(&self, name: &str) -> Result<OrgRecord, LifecycleError> {
        ids::validate(name).map_err(LifecycleError::InvalidName)?;
        let mut writer = self.lock();
        let org = OrgRecord {
            name: name.to_owned(),
            created_at: unix_now(),
            limits: None,
            tenant_key_sha256: None,
            trusted_keys: Vec::new(),
            require_signature: false,
            modules_public: false,
        };
        self.commit(&mut writer, name, |txn| {
            if txn.org(name)?.is_some() {
                return Err(LifecycleError::OrgExists(name.to_owned()));
            }
            txn.put_org(&org)?;
            txn.append_audit(name, org.created_at, "org.create", None, None, "")?;
            Ok(())
        })?;
        self.live.routes.add_org(name);
        Ok(org)
    }

    /// Every org.
    pub fn orgs(&self) -> Result<Vec<OrgRecord>, LifecycleError> {
        Ok(self.registry.read()?.orgs()?)
    }

    /// The limits in force for `org`.
    pub fn org_limits(&self, org: &str) -> Result<TenantLimits, LifecycleError> {
        self.require_org(org)?;
        Ok(self.live.front_door.admission().limits(org))
    }

    /// Overrides `org`'s limits with the fields of `overrides`, a JSON
    /// object (fields it leaves out keep the defaults; `None` restores the
    /// defaults); returns the limits now in force.
    pub fn set_org_limits(
        &self,
        org: &str,
        overrides: Option<serde_json::Value>,
    ) -> Result<TenantLimits, LifecycleError> {
        let limits = overrides
            .as_ref()
            .map(|given| self.live.front_door.admission().defaults().overlaid(given))
            .transpose()
            .map_err(|e| LifecycleError::InvalidLimits(e.to_string()))?;
        let detail = overrides
            .as_ref()
            .map_or("defaults".to_owned(), ToString::to_string);
        self.change_org(org, "limits.set", &detail, |record| {
            record.limits = overrides;
            Ok(())
        })?;
        let admission = self.live.front_door.admission();
        admission.set_override(org, limits);
        Ok(admission.limits(org))
    }

    /// Requires `hash`'s key on `org`'s plugin routes (`None`: no key).
    pub fn set_tenant_key(&self, org: &str, hash: Option<Digest>) -> Result<(), LifecycleError> {
        let action = if hash.is_some() {
            "tenant-key.set"
        } else {
            "tenant-key.remove"
        };
        self.change_org(org, action, "", |record| {
            record.tenant_key_sha256 = hash.map(|digest| digest.to_hex());
            Ok(())
        })?;
        self.live.tenant_keys.set(org, hash);
        Ok(())
    }

    /// Makes `org`'s module records public (or not) to callers without
    /// credentials.
    pub fn set_modules_public(&self, org: &str, public: bool) -> Result<(), LifecycleError> {
        let detail = if public { "on" } else { "off" };
        self.change_org(org, "modules-public", detail, |record| {
            record.modules_public = public;
            Ok(())
        })?;
        self.live.tenant_keys.set_modules_public(org, public);
        Ok(())
    }

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
        self.require_org(org)?;
        let package = Package::parse(zip, &self.limits)?;
        // Before anything is compiled or written.
        self.check_signature(org, &package)?;
        check_permissions(&package)?;
        let plugin = self.check_component(&package)?;
        let manifest = &package.manifest;

        let writer = self.lock();
        // Again under the lock: a key removed or a policy set meanwhile counts.
        let signed_by = self.check_signature(org, &package)?;
        let previous = self.registry.read()?.installation(org, &manifest.name)?;
        if let Some(previous) = &previous {
            let installed = semver::Version::parse(&previous.version).ok();
            if !options.force && installed.is_some_and(|v| manifest.version <= v) {
                return Err(LifecycleError::NotNewer {
                    plugin: manifest.name.clone(),
                    installed: previous.version.clone(),
                    uploaded: manifest.version.to_string(),
                });
            }
        }
        // An upgrade declaring more than the org granted waits for a grant.
        let ungranted = match previous.as_ref().filter(|p| p.state == PluginState::Active) {
            Some(p) => not_covered(&manifest.permissions, &granted_permissions(p)?),
            None => Vec::new(),
        };

        let stays_active = previous
            .as_ref()
            .is_some_and(|p| p.state == PluginState::Active)
            && ungranted.is_empty();
        self.check_dependencies(org, manifest, stays_active)?;

        let at = unix_now();
        let state = match &previous {
            Some(p) if ungranted.is_empty() => p.state,
            _ => PluginState::Installed,
        };
        let (installation, edges) =
            new_record(org, &package, previous.as_ref(), state, signed_by, at);
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
            installation,
            edges,
            previous,
            plugin,
            detail,
        };
        let installed = self.commit_install(writer, planned);
        drop(pin);
        if installed.is_err() {
            self.remove_files_if_unreferenced(&self.lock(), &digest);
        }
        installed
    }

    /// Starts a planned install whose files are stored, if it stays active
    /// (its guests run without the writer lock), then commits it.
    fn commit_install(
        &self,
        writer: Writer<'_>,
        planned: PlannedInstall,
    ) -> Result<Installation, LifecycleError> {
        let PlannedInstall {
            installation,
            edges,
            previous,
            plugin,
            detail,
        } = planned;
        let org = installation.org.as_str();
        // An active plugin's new version registers anew (and gathers its UI
        // from the files just stored) before it commits.
        let (mut writer, starting) = if installation.state == PluginState::Active {
            self.start_unlocked(writer, org, vec![(installation.clone(), plugin)])?
        } else {
            (writer, Vec::new())
        };

        let action = if previous.is_some() {
            "upgrade"
        } else {
            "install"
        };
        self.commit(&mut writer, org, |txn| {
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
        if previous
            .as_ref()
            .is_some_and(|p| p.state == PluginState::Active)
            && starting.is_empty()
        {
            self.stop_serving(org, &installation.name);
        }
        for starting in starting {
            self.serve(starting)?;
        }
        self.refresh_order(org);
        if let Some(previous) = previous.filter(|p| p.digest != installation.digest) {
            self.remove_files_if_unreferenced(&writer, &previous.digest);
        }
        Ok(installation)
    }

    /// Activates a plugin: loads its component and makes its routes answer.
    /// Activating an active plugin changes nothing.
    ///
    /// The org grants `grant` (default: everything the plugin declares); a
    /// grant exceeding the declaration is refused. Activating an active
    /// plugin with the grant it has changes nothing; with another grant, the
    /// new grant takes effect at once.
    ///
    /// Every required dependency must be installed at a satisfying version
    /// and active; `with_deps` activates inactive ones first (dependencies
    /// first, each with everything it declares), all in one transaction.
    ///
    /// Their `on-activate` and UI `contributions()` run without the writer
    /// lock (see [`writer`]): if the org changed meanwhile, nothing is
    /// activated (`Conflict`).
    pub fn activate(
        &self,
        org: &str,
        name: &str,
        grant: Option<Permissions>,
        with_deps: bool,
    ) -> Result<Installation, LifecycleError> {
        let writer = self.lock();
        let installation = self.require_installation(org, name)?;
        let declared = declared_permissions(&installation)?;
        let grant = grant.unwrap_or_else(|| declared.clone());
        let exceeding = not_covered(&grant, &declared);
        if !exceeding.is_empty() {
            return Err(LifecycleError::GrantExceedsDeclaration(exceeding));
        }
        let grant = serde_json::to_value(&grant).expect("permissions serialize");
        if installation.state == PluginState::Active && installation.granted == grant {
            return Ok(installation);
        }
        let graph = self.org_graph(org)?;
        let unmet = graph.unmet_requirements(name);
        if !unmet.is_empty() {
            return Err(LifecycleError::Dependencies(unmet));
        }
        let inactive = graph.inactive_requirements(name);
        if !inactive.is_empty() && !with_deps {
            return Err(LifecycleError::DependenciesInactive(inactive));
        }
        let mut targets = Vec::new();
        for dependency in &inactive {
            let installation = self.require_installation(org, dependency)?;
            let declared = serde_json::to_value(declared_permissions(&installation)?)
                .expect("permissions serialize");
            targets.push((installation, declared));
        }
        targets.push((installation, grant));

        let at = unix_now();
        let mut batch = Vec::new();
        for (mut installation, grant) in targets {
            let plugin = self.load(&installation)?;
            installation.state = PluginState::Active;
            installation.activated_at = Some(at);
            installation.granted = grant;
            self.prepare_files(&installation)?;
            batch.push((installation, plugin));
        }
        let (mut writer, started) = self.start_unlocked(writer, org, batch)?;
        let installations: Vec<&Installation> = started.iter().map(|s| &s.installation).collect();
        self.commit_state_changes(&mut writer, org, &installations, "activate", at)?;
        let activated = started
            .last()
            .expect("the plugin itself")
            .installation
            .clone();
        for starting in started {
            self.serve(starting)?;
        }
        self.refresh_order(org);
        Ok(activated)
    }

    /// The org's dependency graph: installed plugins and their declared
    /// dependencies, resolved to the installed versions.
    pub fn dependency_graph(&self, org: &str) -> Result<GraphView, LifecycleError> {
        self.require_org(org)?;
        Ok(self.org_graph(org)?.view())
    }

    /// The installed plugin, loaded and ready for metadata calls (such as
    /// `integration.describe`) — not serving, and granted **nothing**: a
    /// plugin that was never activated has been granted nothing yet.
    /// `None` for an asset-only plugin.
    pub fn describable(
        &self,
        org: &str,
        name: &str,
    ) -> Result<Option<MountedPlugin>, LifecycleError> {
        let installation = self.require_installation(org, name)?;
        let Some(plugin) = self.load(&installation)? else {
            return Ok(None);
        };
        let nothing = Permissions::default();
        Ok(Some(self.live.routes.detached(org, name, plugin, nothing)))
    }

    /// What the org configured for a plugin (secrets by name only).
    pub fn plugin_config(&self, org: &str, name: &str) -> Result<ConfigView, LifecycleError> {
        self.require_installation(org, name)?;
        let stored = self.registry.read()?.plugin_config(org, name)?;
        Ok(ConfigView::of(name, stored))
    }

    /// Changes a plugin's settings and secrets in one transaction, audited
    /// by key name only. Plugins see the change on their next call. With a
    /// connector's config `schema`, the resulting configuration must
    /// satisfy it.
    pub fn set_plugin_config(
        &self,
        org: &str,
        name: &str,
        update: ConfigUpdate,
        schema: Option<&serde_json::Value>,
    ) -> Result<ConfigView, LifecycleError> {
        update.validate().map_err(LifecycleError::InvalidConfig)?;
        let mut writer = self.lock();
        self.require_installation(org, name)?;
        let detail = update.describe();
        let stored = self.commit(&mut writer, org, |txn| {
            let next = update
                .apply(txn.plugin_config(org, name)?)
                .map_err(LifecycleError::InvalidConfig)?;
            if let Some(schema) = schema {
                check_config(schema, &next).map_err(LifecycleError::ConfigRejected)?;
            }
            txn.put_plugin_config(org, name, &next)?;
            txn.append_audit(org, unix_now(), "configure", Some(name), None, &detail)?;
            Ok::<_, LifecycleError>(next)
        })?;
        Ok(ConfigView::of(name, stored))
    }

    /// Deactivates a plugin: its routes answer 404 at once; files, data and
    /// configuration stay. Deactivating an inactive plugin changes nothing.
    ///
    /// Refused while active plugins require it, unless `cascade`, which
    /// deactivates them too (dependents first), in one transaction.
    pub fn deactivate(
        &self,
        org: &str,
        name: &str,
        cascade: bool,
    ) -> Result<Installation, LifecycleError> {
        let mut writer = self.lock();
        let installation = self.require_installation(org, name)?;
        if installation.state != PluginState::Active {
            return Ok(installation);
        }
        let mut stopped = self.stop_dependents(org, name, cascade)?;
        let mut installation = installation;
        installation.state = PluginState::Installed;
        stopped.push(installation);
        let installations: Vec<&Installation> = stopped.iter().collect();
        self.commit_state_changes(&mut writer, org, &installations, "deactivate", unix_now())?;
        for stopped in &stopped {
            self.stop_serving(org, &stopped.name);
        }
        Ok(stopped.pop().expect("the plugin itself"))
    }

    /// The active dependents of `name`, set inactive (not yet committed),
    /// dependents first; refused unless `cascade` when there are any.
    fn stop_dependents(
        &self,
        org: &str,
        name: &str,
        cascade: bool,
    ) -> Result<Vec<Installation>, LifecycleError> {
        let dependents = self.org_graph(org)?.active_dependents(name);
        if !dependents.is_empty() && !cascade {
            return Err(LifecycleError::HasDependents {
                plugin: name.to_owned(),
                dependents,
            });
        }
        dependents
            .iter()
            .map(|dependent| {
                let mut installation = self.require_installation(org, dependent)?;
                installation.state = PluginState::Installed;
                Ok(installation)
            })
            .collect()
    }

    /// Uninstalls a plugin: removes its records, its key-value data,
    /// configuration and directories in this org and (if no other org uses
    /// the same package) its files. An active plugin needs `force`; one that
    /// active plugins require needs `cascade`, which deactivates them in the
    /// same transaction.
    pub fn uninstall(
        &self,
        org: &str,
        name: &str,
        options: UninstallOptions,
    ) -> Result<(), LifecycleError> {
        let mut writer = self.lock();
        let installation = self.require_installation(org, name)?;
        if installation.state == PluginState::Active && !options.force {
            return Err(LifecycleError::PluginActive(name.to_owned()));
        }
        let stopped = self.stop_dependents(org, name, options.cascade)?;
        let at = unix_now();
        self.commit(&mut writer, org, |txn| {
            for dependent in &stopped {
                put_with_audit(txn, dependent, "deactivate", at)?;
            }
            txn.remove_installation(org, name)?;
            txn.kv_clear(org, name)?;
            txn.remove_plugin_config(org, name)?;
            txn.append_audit(
                org,
                unix_now(),
                "uninstall",
                Some(name),
                Some(&installation.version),
                "",
            )?;
            Ok::<_, LifecycleError>(())
        })?;
        for stopped in &stopped {
            self.stop_serving(org, &stopped.name);
        }
        self.stop_serving(org, name);
        self.refresh_order(org);
        self.remove_files_if_unreferenced(&writer, &installation.digest);
        if let Err(e) = self.files.remove(org, name) {
            tracing::warn!(org, plugin = name, "removing the plugin's directory: {e}");
        }
        Ok(())
    }

    /// The operator's rollback switch: deactivates every active plugin in
    /// every org, in one transaction. Returns what was deactivated.
    pub fn deactivate_all(&self) -> Result<Vec<Installation>, LifecycleError> {
        let mut writer = self.lock();
        let at = unix_now();
        let deactivated = self.registry.write(|txn| {
            let mut deactivated = Vec::new();
            for mut installation in txn.all_installations()? {
                if installation.state != PluginState::Active {
                    continue;
                }
                installation.state = PluginState::Installed;
                let edges = txn.dependency_edges(&installation.org, &installation.name)?;
                txn.put_installation(&installation, &edges)?;
                txn.append_audit(
                    &installation.org,
                    at,
                    "deactivate",
                    Some(&installation.name),
                    Some(&installation.version),
                    "operator deactivate-all",
                )?;
                deactivated.push(installation);
            }
            Ok::<_, LifecycleError>(deactivated)
        })?;
        for installation in &deactivated {
            writer.changed(&installation.org);
            self.stop_serving(&installation.org, &installation.name);
        }
        Ok(deactivated)
    }

    /// Every plugin installed in `org`.
    pub fn installations(&self, org: &str) -> Result<Vec<Installation>, LifecycleError> {
        self.require_org(org)?;
        Ok(self.registry.read()?.installations(org)?)
    }

    /// One installed plugin.
    pub fn installation(&self, org: &str, name: &str) -> Result<Installation, LifecycleError> {
        self.require_installation(org, name)
    }

    /// How much key-value data an installed plugin keeps.
    pub fn kv_usage(&self, org: &str, name: &str) -> Result<KvUsage, LifecycleError> {
        self.require_installation(org, name)?;
        Ok(self.registry.read()?.kv_usage(org, name)?)
    }

    /// `org`'s audit log, oldest first, after sequence number `after`.
    pub fn audit(&self, org: &str, after: u64) -> Result<Vec<AuditEvent>, LifecycleError> {
        self.require_org(org)?;
        Ok(self.registry.read()?.audit(org, after)?)
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

    /// Validates the package's component against its kinds and returns it
    /// loaded (shared with other orgs using the same bytes); `None` for an
    /// asset-only plugin.
    fn check_component(
        &self,
        package: &Package,
    ) -> Result<Option<Arc<LoadedPlugin>>, LifecycleError> {
        let (Some(path), Some(bytes)) = (&package.manifest.component, package.component()) else {
            return Ok(None);
        };
        self.loader
            .load(bytes, &package.manifest.kinds)
            .map(Some)
            .map_err(|source| LifecycleError::Component {
                path: path.clone(),
                source,
            })
    }

    /// Loads an installed plugin's component from its extracted files.
    fn load(
        &self,
        installation: &Installation,
    ) -> Result<Option<Arc<LoadedPlugin>>, LifecycleError> {
        let manifest = stored_manifest(installation)?;
        let Some(path) = manifest.component else {
            return Ok(None);
        };
        let digest = parse_digest(&installation.digest)?;
        let file = self.packages.files_dir(&digest).join(&path);
        let bytes = std::fs::read(&file).map_err(StorageError::io("read", &file))?;
        self.loader
            .load(&bytes, &manifest.kinds)
            .map(Some)
            .map_err(|source| LifecycleError::Component { path, source })
    }

    /// Creates the directories the plugin's grant names (before it serves).
    fn prepare_files(&self, installation: &Installation) -> Result<(), LifecycleError> {
        let grants = granted_permissions(installation)?;
        self.files
            .prepare(&installation.org, &installation.name, &grants)?;
        Ok(())
    }

    /// Stores `org`'s `installations` with their new state in one
    /// transaction, each with an audit entry for `action`.
    fn commit_state_changes(
        &self,
        writer: &mut Changes,
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

    /// Writes a validated package's ZIP and extracted files (idempotent).
    fn store_files(&self, package: &Package, zip: &[u8]) -> Result<(), StorageError> {
        let files = package
            .files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice()));
        self.packages.store(&package.digest, zip, files)
    }

    /// Removes a package's files once no installation in any org, no
    /// registry and no step in flight references them; under the `writer`
    /// lock, so no step stores and pins them meanwhile.
    fn remove_files_if_unreferenced(&self, _writer: &Changes, digest_hex: &str) {
        let still_used = self.registry.read().and_then(|r| {
            let installed = r
                .all_installations()?
                .iter()
                .any(|i| i.digest == digest_hex);
            let published = r.published_digests()?.iter().any(|d| d == digest_hex);
            Ok(installed || published || self.pending_files.contains(digest_hex))
        });
        match (still_used, parse_digest(digest_hex)) {
            (Ok(false), Ok(digest)) => {
                if let Err(e) = self.packages.remove(&digest) {
                    // Start-up garbage collection will retry.
                    tracing::warn!("removing package files {digest_hex}: {e}");
                }
            }
            (Ok(true), _) => {}
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("package cleanup of {digest_hex} skipped: {e}")
            }
        }
    }
}

/// The live, in-memory state the lifecycle keeps in step with the registry,
/// and the runtime it starts plugins with.
pub struct LiveState {
    /// Which plugins serve which org's routes.
    pub routes: Arc<RouteTable>,
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

/// The limits an org's stored override sets (on `defaults`), if it has one.
fn stored_limits(
    org: &OrgRecord,
    defaults: TenantLimits,
) -> Result<Option<TenantLimits>, StorageError> {
    org.limits
        .as_ref()
        .map(|overrides| defaults.overlaid(overrides))
        .transpose()
        .map_err(|e| StorageError::Corrupt(format!("limits of org {}: {e}", org.name)))
}

/// The hash of an org's stored tenant key, if it has one.
fn stored_tenant_key(org: &OrgRecord) -> Result<Option<Digest>, StorageError> {
    org.tenant_key_sha256
        .as_deref()
        .map(|hex| {
            Digest::from_hex(hex)
                .ok_or_else(|| StorageError::Corrupt(format!("tenant key of org {}", org.name)))
        })
        .transpose()
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
