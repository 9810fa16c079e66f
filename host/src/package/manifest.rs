//! The plugin manifest (`manifest.json`): its types, and validation against
//! the published JSON Schema (`wit/manifest.schema.json`) plus the checks a
//! schema cannot express (semver, ranges, file references).

use super::archive::{Files, check_relative_path};
use super::error::PackageError;
use crate::package::ApiVersion;
use crate::package::ui::{UiContributions, UiPermission};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The JSON Schema every manifest must satisfy, as published for authors.
pub const SCHEMA: &str = include_str!("../../../wit/manifest.schema.json");

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the bundled schema is JSON");
    jsonschema::validator_for(&schema).expect("the bundled schema is a valid JSON Schema")
});

/// A validated plugin manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name, unique per org.
    pub name: String,
    /// Plugin version.
    pub version: Version,
    /// What it does.
    pub description: String,
    /// Extension points it provides.
    pub kinds: Vec<Kind>,
    /// Path of the component inside the package (absent for asset-only UI plugins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// `berth:plugin` WIT version targeted; the component must be built
    /// against it.
    pub api: ApiVersion,
    /// A route of the plugin answering 2xx when a fresh instance is healthy
    /// (e.g. `/healthz`), checked before an upgrade of an active plugin
    /// switches to this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Folder of static assets inside the package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<String>,
    /// Plugins this one depends on.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// Key prefixes of its key-value data its dependents may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposes: Vec<String>,
    /// Static UI contributions (entries inside `assets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiContributions>,
    /// Powers it asks for.
    #[serde(default)]
    pub permissions: Permissions,
}

/// An extension point a plugin provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// HTTP routes (`wasi:http/incoming-handler`).
    Routes,
    /// An integration connector.
    Integration,
    /// Module hooks.
    Hooks,
    /// UI contributions.
    Ui,
}

/// A dependency on another plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "DependencySpec")]
pub struct Dependency {
    /// Acceptable versions.
    pub version: VersionReq,
    /// Whether the plugin works without it.
    pub optional: bool,
}

/// The two manifest spellings of a dependency.
#[derive(Deserialize)]
#[serde(untagged)]
enum DependencySpec {
    Range(VersionReq),
    Full {
        version: VersionReq,
        #[serde(default)]
        optional: bool,
    },
}

impl From<DependencySpec> for Dependency {
    fn from(spec: DependencySpec) -> Self {
        match spec {
            DependencySpec::Range(version) => Self {
                version,
                optional: false,
            },
            DependencySpec::Full { version, optional } => Self { version, optional },
        }
    }
}

/// The powers a plugin declares (see the README's permission reference).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Permissions {
    /// Path prefixes it may serve.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// Key-value access: `read`, `write`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage: Vec<StorageAccess>,
    /// Named directories under its data root.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filesystem: Vec<DirectoryGrant>,
    /// Outbound hosts (`host` or `host:port`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network: Vec<String>,
    /// UI slots, pages, theming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiPermission>,
    /// Module registration and hook extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modules: Option<ModulesPermission>,
    /// Module records it may read and write.
    #[serde(skip_serializing_if = "DatabasePermission::is_empty")]
    pub database: DatabasePermission,
    /// Readable configuration keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Readable secrets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Caller credentials passed on to its HTTP handler.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ForwardedHeader>,
}

/// A caller's credential header berth removes from plugin requests unless
/// the org grants it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedHeader {
    /// `Authorization`.
    Authorization,
    /// `Cookie`.
    Cookie,
}

impl ForwardedHeader {
    /// Every one of them.
    pub const ALL: [Self; 2] = [Self::Authorization, Self::Cookie];

    /// The header's (lowercase) name, which is also what the manifest says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Cookie => "cookie",
        }
    }
}

impl AsRef<str> for ForwardedHeader {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Key-value access modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageAccess {
    /// `get`, `list-keys`, `get-shared`.
    Read,
    /// `set`, `delete`.
    Write,
}

impl StorageAccess {
    /// The name the manifest uses: `read` or `write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

impl AsRef<str> for StorageAccess {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A named directory and its mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryGrant {
    /// Directory name under the plugin's data root.
    pub name: String,
    /// `ro` or `rw`.
    pub mode: DirectoryMode,
}

/// Directory access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryMode {
    /// Read-only.
    Ro,
    /// Read-write.
    Rw,
}

impl DirectoryMode {
    /// The name the manifest uses: `ro` or `rw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ro => "ro",
            Self::Rw => "rw",
        }
    }
}

/// What a plugin may do to the module registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ModulesPermission {
    /// Modules it may register.
    pub register: Vec<String>,
    /// `module.hook` pairs it may extend.
    pub extend: Vec<String>,
}

/// The module records a plugin may read and write (`berth:plugin/records`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DatabasePermission {
    /// Modules whose records it may read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Modules whose records it may create, change and delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
}

impl DatabasePermission {
    /// Whether it names no module.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty()
    }
}

/// The package path of `entry` inside the `assets` folder.
pub fn asset_path(assets: &str, entry: &str) -> String {
    format!("{}/{entry}", assets.trim_end_matches('/'))
}

impl Manifest {
    /// Parses and validates `manifest.json` against the schema and against
    /// the package's `files`.
    pub fn parse(bytes: &[u8], files: &Files) -> Result<Self, PackageError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| PackageError::InvalidManifest(format!("not JSON: {e}")))?;
        let problems: Vec<String> = VALIDATOR
            .iter_errors(&value)
            .take(5)
            .map(|error| {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("{at}: {error}")
            })
            .collect();
        if !problems.is_empty() {
            return Err(PackageError::InvalidManifest(problems.join("; ")));
        }
        let manifest: Manifest = serde_json::from_value(value)
            .map_err(|e| PackageError::InvalidManifest(e.to_string()))?;
        manifest.check_version()?;
        manifest.check_files(files)?;
        Ok(manifest)
    }

    /// The manifest as JSON, the shape registry records keep and the API
    /// shows.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("manifests serialize")
    }

    /// Whether the plugin is asset-only (no component).
    pub fn is_asset_only(&self) -> bool {
        self.component.is_none()
    }

    /// Refuses a major, minor or patch of `u64::MAX`, so every version
    /// sorts below the dependency resolver's stand-in for "not installed"
    /// (`u64::MAX.u64::MAX.u64::MAX`).
    fn check_version(&self) -> Result<(), PackageError> {
        let Version {
            major,
            minor,
            patch,
            ..
        } = self.version;
        if [major, minor, patch].contains(&u64::MAX) {
            return Err(PackageError::InvalidManifest(format!(
                "version: major, minor and patch must each be below {}",
                u64::MAX
            )));
        }
        Ok(())
    }

    fn check_files(&self, files: &Files) -> Result<(), PackageError> {
        match &self.component {
            Some(path) => {
                check_relative_path(path).map_err(|why| {
                    PackageError::InvalidManifest(format!("component {path:?}: {why}"))
                })?;
                if !files.contains_key(path) {
                    return Err(PackageError::ComponentMissing(path.clone()));
                }
            }
            None if self.kinds != [Kind::Ui] => {
                return Err(PackageError::InvalidManifest(
                    "`component` is required unless the plugin's only kind is `ui`".into(),
                ));
            }
            None => {}
        }
        if self.health.is_some() && !self.kinds.contains(&Kind::Routes) {
            return Err(PackageError::InvalidManifest(
                "`health` names a route, so the plugin's kinds must include `routes`".into(),
            ));
        }
        if let Some(assets) = &self.assets {
            check_relative_path(assets).map_err(|why| {
                PackageError::InvalidManifest(format!("assets {assets:?}: {why}"))
            })?;
        }
        if let Some(ui) = &self.ui {
            let assets = self.assets.as_deref().unwrap_or_default();
            ui.check(|entry| !assets.is_empty() && files.contains_key(&asset_path(assets, entry)))
                .map_err(|why| PackageError::InvalidManifest(format!("ui: {why}")))?;
            let missing = ui.not_covered(self.permissions.ui.as_ref());
            if !missing.is_empty() {
                return Err(PackageError::InvalidManifest(format!(
                    "ui contributions need permissions the manifest does not declare: {}",
                    missing.join(", ")
                )));
            }
        }
        if self.dependencies.contains_key(&self.name) {
            return Err(PackageError::InvalidManifest(format!(
                "`{}` depends on itself",
                self.name
            )));
        }
        Ok(())
    }
}
