//! Why a lifecycle step was refused or failed.

use crate::capabilities::gates::{MissingPermission, describe_missing};
use crate::common::admission::Refusal;
use crate::common::schema_fields::SchemaViolations;
use crate::control::dependencies::GraphProblem;
use crate::control::resolver::ResolveError;
use crate::package::PackageError;
use crate::package::signing::SignatureError;
use crate::sandbox::loader::LoadError;
use berth_storage::StorageError;

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
    /// Required dependencies are active but this node does not serve them:
    /// they failed to start.
    #[error(
        "required dependencies are active but not serving, as they failed to start: {} (deactivate and activate them to retry)",
        .0.join(", ")
    )]
    DependenciesNotServing(Vec<String>),
    /// The signature policy is not the caller's to change.
    #[error("signature policy locked: {0}")]
    PolicyLocked(String),
    /// Other plugins require this one in a state the step would end.
    #[error(
        "`{plugin}` is required by {} (deactivate or uninstall them first, or use ?cascade where offered)",
        .dependents.join(", ")
    )]
    HasDependents {
        /// The plugin asked about.
        plugin: String,
        /// The plugins that require it (dependents first).
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
    ConfigRejected(SchemaViolations),
    /// An upgrade's new version failed its health check.
    #[error("version {version} of `{plugin}` failed its health check: {reason}")]
    HealthCheckFailed {
        /// The plugin.
        plugin: String,
        /// The version that failed.
        version: String,
        /// How it failed.
        reason: String,
    },
    /// A rollback was asked for a plugin no upgrade has replaced.
    #[error("`{0}` has no previous version to roll back to")]
    NoPreviousVersion(String),
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
    /// A cluster node cannot grant a writable directory: its files would
    /// differ from node to node (see the `shared-files` setting).
    #[error(
        "directory `{0}` cannot be granted `rw` on a cluster without shared files: each node \
         would keep different files; grant it `ro`, or set `shared-files` on every node"
    )]
    FilesNotShared(String),
    /// A limits override is not an object of known limits with valid values.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
