//! The management API's own request bodies and answers: what it takes and
//! shows beside the records other modules define. Each derives its JSON
//! Schema for the OpenAPI document ([`super::openapi`]).

use crate::common::admission::TenantLimits;
use crate::common::error::FieldProblem;
use crate::common::usage::{self, MinuteUsage};
use crate::control::lifecycle::PackagePreview;
use berth_storage::{Installation, KvUsage, OrgRecord, PluginState};
use semver::VersionReq;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An org as the API shows it: never its tenant key's hash.
#[derive(Serialize, ToSchema)]
pub struct OrgView {
    /// Its name.
    pub name: String,
    /// When it was created, seconds since the Unix epoch.
    pub created_at: u64,
    /// The operator's overrides of its limits, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<serde_json::Value>,
    /// Whether its plugin routes require a tenant key.
    pub tenant_key_required: bool,
    /// Whether its module records answer without credentials.
    pub modules_public: bool,
}

impl From<OrgRecord> for OrgView {
    fn from(org: OrgRecord) -> Self {
        Self {
            name: org.name,
            created_at: org.created_at,
            limits: org.limits,
            tenant_key_required: org.tenant_key_sha256.is_some(),
            modules_public: org.modules_public,
        }
    }
}

/// An installed plugin as the API shows it: its record, with the API
/// version it targets and, as `previous`, only the version and digest a
/// rollback returns to.
#[derive(Serialize, ToSchema)]
pub struct PluginView {
    /// The org it is installed in.
    pub org: String,
    /// Its name.
    pub name: String,
    /// The installed version.
    pub version: String,
    /// SHA-256 (hex) of its package.
    pub digest: String,
    /// `installed` or `active`.
    pub state: PluginState,
    /// Its manifest, as uploaded.
    pub manifest: serde_json::Value,
    /// What the org granted it (`null` until first activated).
    #[schema(value_type = Option<crate::package::manifest::Permissions>)]
    pub granted: serde_json::Value,
    /// The `berth:plugin` API version it is built against.
    pub api: serde_json::Value,
    /// First installed, seconds since the Unix epoch.
    pub installed_at: u64,
    /// Last installed or upgraded.
    pub updated_at: u64,
    /// Last activated, if ever.
    pub activated_at: Option<u64>,
    /// The id of the trusted key that signed it, if it was signed.
    pub signed_by: Option<String>,
    /// The version a rollback returns to, if any.
    pub previous: Option<PreviousView>,
}

/// What installing an uploaded package would bring, beside the plugin it
/// would replace (the answer to `POST …/plugins/preview`).
#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    /// The package's manifest, as [`PluginView::manifest`] shows it.
    pub manifest: serde_json::Value,
    /// The org's installed plugin of that name, if any.
    pub installed: Option<PluginView>,
}

impl From<PackagePreview> for PreviewView {
    fn from(preview: PackagePreview) -> Self {
        Self {
            manifest: preview.manifest,
            installed: preview.installed.as_ref().map(PluginView::from),
        }
    }
}

/// The version a rollback returns to.
#[derive(Serialize, ToSchema)]
pub struct PreviousView {
    /// Its version.
    pub version: String,
    /// SHA-256 (hex) of its package.
    pub digest: String,
}

impl From<&Installation> for PluginView {
    fn from(installation: &Installation) -> Self {
        Self {
            org: installation.org.clone(),
            name: installation.name.clone(),
            version: installation.version.clone(),
            digest: installation.digest.clone(),
            state: installation.state,
            manifest: installation.manifest.clone(),
            granted: installation.granted.clone(),
            api: installation.manifest["api"].clone(),
            installed_at: installation.installed_at,
            updated_at: installation.updated_at,
            activated_at: installation.activated_at,
            signed_by: installation.signed_by.clone(),
            previous: (installation.previous.as_ref()).map(|p| PreviousView {
                version: p.version.clone(),
                digest: p.digest.clone(),
            }),
        }
    }
}

/// A plugin's key-value data against its org's quotas.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct KvUsageView {
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
    /// The byte quota.
    pub max_bytes: u64,
    /// The key quota.
    pub max_keys: u64,
}

impl KvUsageView {
    /// `usage` against the quotas in `limits`.
    pub fn new(usage: KvUsage, limits: TenantLimits) -> Self {
        Self {
            bytes: usage.bytes,
            keys: usage.keys,
            max_bytes: limits.kv_max_bytes,
            max_keys: limits.kv_max_keys,
        }
    }
}

/// A plugin's usage over the last hour, minute by minute, on the node that
/// answers (kept in memory, reset on restart).
#[derive(Serialize, ToSchema)]
pub struct PluginUsageView {
    /// The plugin.
    pub plugin: String,
    /// Seconds per entry (60).
    pub minute_seconds: u64,
    /// The last 60 minutes, oldest first; the last is the current, partial one.
    pub minutes: Vec<MinuteUsage>,
}

impl PluginUsageView {
    /// `plugin`'s `minutes`.
    pub fn new(plugin: String, minutes: Vec<MinuteUsage>) -> Self {
        Self {
            plugin,
            minute_seconds: usage::MINUTE_SECONDS,
            minutes,
        }
    }
}

/// The body of `POST /api/v1/orgs`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// The new org's name (`[a-z0-9-]`, 1–64 characters).
    pub name: String,
}

/// A body asking to install from the registries by name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallByName {
    /// The plugin's name.
    pub name: String,
    /// A semver range; absent means any version.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "^0.1")]
    pub version: Option<VersionReq>,
}

/// The optional body of `POST …/activate`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    /// The permissions the org grants: the manifest's `permissions` shape,
    /// at most what it declares (`wit/manifest.schema.json`).
    pub grant: crate::package::manifest::Permissions,
}

/// The body of `POST …/trusted-keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustKey {
    /// A minisign public key (`.pub` file content or its base64 line).
    pub key: String,
    /// Who the key belongs to.
    #[serde(default)]
    pub comment: String,
}

/// The body of `PUT …/signature-policy`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SignaturePolicyBody {
    /// Whether only plugins signed by a trusted key may be installed.
    pub require_signature: bool,
    /// Operator only: keep org admins from changing it (`false` lifts that).
    #[serde(default)]
    pub locked: Option<bool>,
}

/// The body of `PUT …/modules-public`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModulesPublicBody {
    /// Whether the org's module records answer without credentials.
    pub public: bool,
}

/// The answer to `PUT …/modules-public`.
#[derive(Serialize, ToSchema)]
pub struct ModulesPublicView {
    /// The org.
    pub org: String,
    /// Whether its module records answer without credentials.
    pub modules_public: bool,
}

/// The answer to `PUT` and `DELETE …/tenant-key`.
#[derive(Serialize, ToSchema)]
pub struct TenantKeyView {
    /// The org.
    pub org: String,
    /// The new key, shown this once (`null` once removed).
    #[serde(rename = "tenant-key")]
    pub tenant_key: Option<String>,
}

/// The answer to `DELETE …/plugins/{name}`.
#[derive(Serialize, ToSchema)]
pub struct Uninstalled {
    /// The plugin.
    pub name: String,
    /// Always `true`.
    pub uninstalled: bool,
}

/// The answer to `DELETE …/trusted-keys/{id}`.
#[derive(Serialize, ToSchema)]
pub struct KeyRemoved {
    /// The key's id.
    pub id: String,
    /// Always `true`.
    pub removed: bool,
}

/// The answer to `DELETE …/tokens/{id}`.
#[derive(Serialize, ToSchema)]
pub struct TokenRevoked {
    /// The token's id.
    pub id: String,
    /// Always `true`.
    pub revoked: bool,
}

/// The answer to running an integration action.
#[derive(Serialize, ToSchema)]
pub struct ActionOutput {
    /// The action's output, as its output schema describes it.
    pub output: serde_json::Value,
}

/// Every error's body.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`snake_case`).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Present when a value was refused by a JSON Schema
    /// (`config_rejected`, `invalid_input`): each field and what is wrong
    /// with it, never the value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldProblem>>,
}
