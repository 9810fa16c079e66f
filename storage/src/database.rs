//! The registry: all of berth's lifecycle state in one redb file.
//!
//! Tables (values are JSON, so records can gain fields without migrations):
//! - `orgs`: org → [`OrgRecord`]
//! - `installations`: (org, plugin) → [`Installation`]
//! - `dependency_edges`: (org, plugin) → [`DependencyEdge`]s it declares
//! - `audit`: (org, sequence) → [`AuditEvent`]
//! - `tokens`: token id → [`TokenRecord`] (management API credentials, hashed)
//! - `kv`: (org, plugin, key) → bytes: each plugin's key-value data per org
//! - `kv_usage`: (org, plugin) → [`KvUsage`]: bytes and keys of that data
//!   (see [`kv`])
//! - `plugin_config`: (org, plugin) → [`PluginConfig`]: settings and secrets
//!   the org set for a plugin
//! - `records`: (org, module, id) → [`ModuleRecord`]: records of the org's
//!   modules (`contacts`, `invoices`, …)
//! - `published`: (scope, name, version) → [`PublishedPackage`]: the internal
//!   registries — one per org (scope = org name) and the operator's shared
//!   catalog (scope [`CATALOG`])
//!
//! Every change is one write transaction ([`Database::write`]); readers see
//! the state before or after it, never in between, and never block writers.

use crate::StorageError;
use crate::sealing::SecretKeys;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

mod kv;

use kv::{KV, KV_USAGE};
pub use kv::{KvQuota, KvUsage, QuotaExceeded};

const ORGS: TableDefinition<&str, &[u8]> = TableDefinition::new("orgs");
const INSTALLATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("installations");
const DEPENDENCY_EDGES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("dependency_edges");
const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
const PLUGIN_CONFIG: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_config");
const PUBLISHED: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("published");
const RECORDS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("records");
/// The last record id given out per (org, module), so a deleted record's id
/// is never given out again.
const RECORD_IDS: TableDefinition<(&str, &str), u64> = TableDefinition::new("record_ids");
/// The plugin whose records a plugin-registered module holds, per (org,
/// module): the first to write them. Another plugin registering the name
/// later does not get them.
const MODULE_OWNERS: TableDefinition<(&str, &str), &str> = TableDefinition::new("module_owners");

/// One record of a module in an org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Its number within the org's module, from 1.
    pub id: u64,
    /// The record's fields.
    pub data: serde_json::Value,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Last update, if it was ever updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<u64>,
}

/// The scope of the operator's shared catalog (not a valid org name).
pub const CATALOG: &str = "*";

/// A package version published to an internal registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishedPackage {
    /// An org's name, or [`CATALOG`].
    pub scope: String,
    /// Plugin name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 (hex) of the package ZIP, stored like installed packages.
    pub digest: String,
    /// The package's manifest.
    pub manifest: serde_json::Value,
    /// Publication time, seconds since the Unix epoch.
    pub published_at: u64,
}

/// The settings and secrets an org configured for one plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginConfig {
    /// Settings, readable by the plugin under its `config` permission.
    #[serde(default)]
    pub config: std::collections::BTreeMap<String, String>,
    /// Secrets, readable by the plugin under its `secrets` permission and
    /// never shown by the management API.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, String>,
}

/// An organization (tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    /// The org's name.
    pub name: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// The org's traffic-limit overrides, if the operator set any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<serde_json::Value>,
    /// SHA-256 (hex) of the key its plugin routes require, if the operator set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_key_sha256: Option<String>,
    /// Public keys whose signatures the org trusts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_keys: Vec<TrustedKeyRecord>,
    /// Whether only plugins signed by a trusted key may be installed.
    #[serde(default)]
    pub require_signature: bool,
    /// Who last set `require_signature` (`operator` or `org-admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_policy_set_by: Option<String>,
    /// Whether the operator locked the policy: org admins cannot change it.
    #[serde(default)]
    pub signature_policy_locked: bool,
    /// Whether its module records answer without credentials.
    #[serde(default)]
    pub modules_public: bool,
}

impl OrgRecord {
    /// A new org named `name`, created at `created_at`, with no overrides,
    /// keys or policies set.
    pub fn new(name: impl Into<String>, created_at: u64) -> Self {
        Self {
            name: name.into(),
            created_at,
            limits: None,
            tenant_key_sha256: None,
            trusted_keys: Vec::new(),
            require_signature: false,
            signature_policy_set_by: None,
            signature_policy_locked: false,
            modules_public: false,
        }
    }
}

/// A signing key an org trusts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustedKeyRecord {
    /// The minisign key id (16 hex digits, as `minisign` prints it).
    pub id: String,
    /// The minisign public key (base64, the second line of a `.pub` file).
    pub key: String,
    /// Who or what the key is, for admins.
    #[serde(default)]
    pub comment: String,
    /// When it was added, seconds since the Unix epoch.
    pub added_at: u64,
}

/// Whether an installed plugin is serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Installed, files in place, not serving.
    Installed,
    /// Serving its routes, hooks and UI contributions.
    Active,
}

/// One plugin installed in one org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Installation {
    /// Org it is installed in.
    pub org: String,
    /// Plugin name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// SHA-256 (hex) of the package ZIP; names its blob and extracted files.
    pub digest: String,
    /// Current state.
    pub state: PluginState,
    /// The package's manifest, as uploaded.
    pub manifest: serde_json::Value,
    /// Permissions the org granted on activation (`null` until first granted).
    pub granted: serde_json::Value,
    /// First installed, seconds since the Unix epoch.
    pub installed_at: u64,
    /// Last installed or upgraded.
    pub updated_at: u64,
    /// Last activated, if ever.
    pub activated_at: Option<u64>,
    /// The id of the trusted key that signed the package, if it was signed.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// The version the last upgrade replaced, kept (with its package files)
    /// so the org can roll back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<PreviousVersion>>,
}

impl Installation {
    /// The package digests it keeps: its own, and its previous version's.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.digest.as_str())
            .chain(self.previous.as_ref().map(|p| p.digest.as_str()))
    }
}

/// An installed plugin's previous version: what a rollback returns to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviousVersion {
    /// Its version.
    pub version: String,
    /// SHA-256 (hex) of its package ZIP.
    pub digest: String,
    /// Its manifest.
    pub manifest: serde_json::Value,
    /// What the org had granted it (`null` if never granted).
    pub granted: serde_json::Value,
    /// The key that signed it, if any.
    #[serde(default)]
    pub signed_by: Option<String>,
    /// Its dependency edges.
    pub edges: Vec<DependencyEdge>,
}

/// A dependency a plugin declares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DependencyEdge {
    /// The plugin depended on.
    pub name: String,
    /// The semver range required.
    pub range: String,
    /// Whether the dependent works without it.
    pub optional: bool,
}

/// One lifecycle event in an org's audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Position in the org's log, from 1.
    pub seq: u64,
    /// When, seconds since the Unix epoch.
    pub at: u64,
    /// What happened: `org.create`, `install`, `upgrade`, `activate`, …
    pub action: String,
    /// The plugin concerned, if any.
    pub plugin: Option<String>,
    /// The plugin version concerned, if any.
    pub version: Option<String>,
    /// Free-form detail.
    pub detail: String,
}

/// A management API credential. Only the SHA-256 of its secret is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier, part of the token text; names it in listings.
    pub id: String,
    /// The org it administers; `None` for the operator token.
    pub org: Option<String>,
    /// SHA-256 (hex) of the token's secret part.
    pub secret_sha256: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
}

/// Now, in seconds since the Unix epoch: the clock of every record's timestamps.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The redb-backed registry.
pub struct Database {
    db: redb::Database,
    /// Seal and open plugin secrets (see [`crate::sealing`]).
    keys: Arc<SecretKeys>,
}

fn db_err(error: impl Into<redb::Error>) -> StorageError {
    StorageError::Database(error.into())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("registry records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

impl Database {
    /// Opens (creating if needed) the registry file at `path`, sealing
    /// plugin secrets with `keys`.
    pub fn open(path: &Path, keys: SecretKeys) -> Result<Self, StorageError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
        }
        let db = redb::Database::create(path).map_err(db_err)?;
        // Create every table up front so readers never meet a missing one.
        let registry = Self {
            db,
            keys: Arc::new(keys),
        };
        registry.write(|_| Ok::<_, StorageError>(()))?;
        Ok(registry)
    }

    /// Runs `change` in one write transaction, committed only if it returns `Ok`.
    pub fn write<T, E>(
        &self,
        change: impl FnOnce(&mut WriteTxn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        let txn = self.db.begin_write().map_err(db_err)?;
        let value = {
            let mut tables = WriteTxn {
                orgs: txn.open_table(ORGS).map_err(db_err)?,
                installations: txn.open_table(INSTALLATIONS).map_err(db_err)?,
                edges: txn.open_table(DEPENDENCY_EDGES).map_err(db_err)?,
                audit: txn.open_table(AUDIT).map_err(db_err)?,
                tokens: txn.open_table(TOKENS).map_err(db_err)?,
                kv: txn.open_table(KV).map_err(db_err)?,
                kv_usage: txn.open_table(KV_USAGE).map_err(db_err)?,
                plugin_config: txn.open_table(PLUGIN_CONFIG).map_err(db_err)?,
                keys: &self.keys,
                published: txn.open_table(PUBLISHED).map_err(db_err)?,
                records: txn.open_table(RECORDS).map_err(db_err)?,
                record_ids: txn.open_table(RECORD_IDS).map_err(db_err)?,
                module_owners: txn.open_table(MODULE_OWNERS).map_err(db_err)?,
            };
            change(&mut tables)?
        };
        txn.commit().map_err(db_err)?;
        Ok(value)
    }

    /// A consistent snapshot for reading.
    pub fn read(&self) -> Result<ReadTxn, StorageError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        Ok(ReadTxn {
            orgs: txn.open_table(ORGS).map_err(db_err)?,
            installations: txn.open_table(INSTALLATIONS).map_err(db_err)?,
            edges: txn.open_table(DEPENDENCY_EDGES).map_err(db_err)?,
            audit: txn.open_table(AUDIT).map_err(db_err)?,
            tokens: txn.open_table(TOKENS).map_err(db_err)?,
            kv: txn.open_table(KV).map_err(db_err)?,
            kv_usage: txn.open_table(KV_USAGE).map_err(db_err)?,
            plugin_config: txn.open_table(PLUGIN_CONFIG).map_err(db_err)?,
            keys: self.keys.clone(),
            published: txn.open_table(PUBLISHED).map_err(db_err)?,
            records: txn.open_table(RECORDS).map_err(db_err)?,
            module_owners: txn.open_table(MODULE_OWNERS).map_err(db_err)?,
        })
    }

    /// Reseals every stored secret that is not sealed under the current
    /// sealing key (after a key rotation, or stored before sealing
    /// existed); returns how many. Run at start-up.
    pub fn reseal_secrets(&self) -> Result<usize, StorageError> {
        self.write(|txn| {
            let mut stale = Vec::new();
            for entry in txn.plugin_config.iter().map_err(db_err)? {
                let (key, value) = entry.map_err(db_err)?;
                let stored: PluginConfig = decode(value.value())?;
                if stored.secrets.values().any(|v| !txn.keys.is_current(v)) {
                    let (org, plugin) = key.value();
                    stale.push((org.to_owned(), plugin.to_owned()));
                }
            }
            for (org, plugin) in &stale {
                let config = txn.plugin_config(org, plugin)?;
                txn.put_plugin_config(org, plugin, &config)?;
            }
            Ok(stale.len())
        })
    }
}

/// What a secret is bound to when sealed: its org, plugin and name.
fn secret_place(org: &str, plugin: &str, name: &str) -> String {
    format!("{org}\0{plugin}\0{name}")
}

/// Read queries shared by snapshots and write transactions.
macro_rules! read_queries {
    () => {
        /// The org called `name`, if it exists.
        pub fn org(&self, name: &str) -> Result<Option<OrgRecord>, StorageError> {
            match self.orgs.get(name).map_err(db_err)? {
                Some(bytes) => decode(bytes.value()).map(Some),
                None => Ok(None),
            }
        }

        /// Every org, by name.
        pub fn orgs(&self) -> Result<Vec<OrgRecord>, StorageError> {
            let mut out = Vec::new();
            for entry in self.orgs.range::<&str>(..).map_err(db_err)? {
                let (_, value) = entry.map_err(db_err)?;
                out.push(decode(value.value())?);
            }
            Ok(out)
        }

        /// The installation of `plugin` in `org`, if any.
        pub fn installation(
            &self,
            org: &str,
            plugin: &str,
        ) -> Result<Option<Installation>, StorageError> {
            match self.installations.get((org, plugin)).map_err(db_err)? {
                Some(bytes) => decode(bytes.value()).map(Some),
                None => Ok(None),
            }
        }

        /// Every installation in `org`, by plugin name.
        pub fn installations(&self, org: &str) -> Result<Vec<Installation>, StorageError> {
            let mut out = Vec::new();
            for entry in self.installations.range((org, "")..).map_err(db_err)? {
                let (key, value) = entry.map_err(db_err)?;
                if key.value().0 != org {
                    break;
                }
                out.push(decode(value.value())?);
            }
            Ok(out)
        }

        /// Every installation in every org.
        pub fn all_installations(&self) -> Result<Vec<Installation>, StorageError> {
            let mut out = Vec::new();
            for entry in self
                .installations
                .range::<(&str, &str)>(..)
                .map_err(db_err)?
            {
                let (_, value) = entry.map_err(db_err)?;
                out.push(decode(value.value())?);
            }
            Ok(out)
        }

        /// The dependency edges `plugin` declares in `org`.
        pub fn dependency_edges(
            &self,
            org: &str,
            plugin: &str,
        ) -> Result<Vec<DependencyEdge>, StorageError> {
            match self.edges.get((org, plugin)).map_err(db_err)? {
                Some(bytes) => decode(bytes.value()),
                None => Ok(Vec::new()),
            }
        }

        /// `org`'s audit log, oldest first, starting after sequence `after`.
        pub fn audit(&self, org: &str, after: u64) -> Result<Vec<AuditEvent>, StorageError> {
            let mut out = Vec::new();
            for entry in self
                .audit
                .range((org, after.saturating_add(1))..=(org, u64::MAX))
                .map_err(db_err)?
            {
                let (_, value) = entry.map_err(db_err)?;
                out.push(decode(value.value())?);
            }
            Ok(out)
        }

        /// The token `id`, if it exists.
        pub fn token(&self, id: &str) -> Result<Option<TokenRecord>, StorageError> {
            match self.tokens.get(id).map_err(db_err)? {
                Some(bytes) => decode(bytes.value()).map(Some),
                None => Ok(None),
            }
        }

        /// `org`'s records of `module` past the cursor `after` (an id;
        /// `None` for the start), by id — ascending, or descending when
        /// `descending` — that `keep` accepts, at most `limit`. Only this
        /// org's records of this module are read (the table is keyed by
        /// org, module, id), never another org's.
        pub fn records_where(
            &self,
            org: &str,
            module: &str,
            after: Option<u64>,
            descending: bool,
            limit: usize,
            mut keep: impl FnMut(&ModuleRecord) -> bool,
        ) -> Result<Vec<ModuleRecord>, StorageError> {
            let range = match (after, descending) {
                (None, _) => (org, module, 0)..=(org, module, u64::MAX),
                (Some(after), false) => (org, module, after.saturating_add(1))..=(org, module, u64::MAX),
                (Some(0), true) => return Ok(Vec::new()),
                (Some(after), true) => (org, module, 0)..=(org, module, after - 1),
            };
            let entries = self.records.range(range).map_err(db_err)?;
            let mut scan = |entry: Result<_, redb::StorageError>| -> Result<Option<ModuleRecord>, StorageError> {
                let (_, value): (_, redb::AccessGuard<'_, &[u8]>) = entry.map_err(db_err)?;
                let record: ModuleRecord = decode(value.value())?;
                Ok(keep(&record).then_some(record))
            };
            let mut out = Vec::new();
            if descending {
                for entry in entries.rev() {
                    if out.len() == limit {
                        break;
                    }
                    out.extend(scan(entry)?);
                }
            } else {
                for entry in entries {
                    if out.len() == limit {
                        break;
                    }
                    out.extend(scan(entry)?);
                }
            }
            Ok(out)
        }

        /// The plugin whose records `org`'s module `module` holds, if a
        /// plugin has written any.
        pub fn module_owner(&self, org: &str, module: &str) -> Result<Option<String>, StorageError> {
            Ok(self
                .module_owners
                .get((org, module))
                .map_err(db_err)?
                .map(|owner| owner.value().to_owned()))
        }

        /// `org`'s record `id` of `module`, if it exists.
        pub fn record(
            &self,
            org: &str,
            module: &str,
            id: u64,
        ) -> Result<Option<ModuleRecord>, StorageError> {
            match self.records.get((org, module, id)).map_err(db_err)? {
                Some(bytes) => decode(bytes.value()).map(Some),
                None => Ok(None),
            }
        }

        /// Every package version published in `scope`, by name then version text.
        pub fn published(&self, scope: &str) -> Result<Vec<PublishedPackage>, StorageError> {
            let mut out = Vec::new();
            for entry in self.published.range((scope, "", "")..).map_err(db_err)? {
                let (key, value) = entry.map_err(db_err)?;
                if key.value().0 != scope {
                    break;
                }
                out.push(decode(value.value())?);
            }
            Ok(out)
        }

        /// The digests of every published package, in every scope.
        pub fn published_digests(&self) -> Result<Vec<String>, StorageError> {
            let mut out = Vec::new();
            for entry in self
                .published
                .range::<(&str, &str, &str)>(..)
                .map_err(db_err)?
            {
                let (_, value) = entry.map_err(db_err)?;
                out.push(decode::<PublishedPackage>(value.value())?.digest);
            }
            Ok(out)
        }

        /// What `org` configured for `plugin` (empty if nothing), its
        /// secrets opened.
        pub fn plugin_config(&self, org: &str, plugin: &str) -> Result<PluginConfig, StorageError> {
            let mut config: PluginConfig =
                match self.plugin_config.get((org, plugin)).map_err(db_err)? {
                    Some(bytes) => decode(bytes.value())?,
                    None => return Ok(PluginConfig::default()),
                };
            for (name, value) in config.secrets.iter_mut() {
                *value = self.keys.open(value, &secret_place(org, plugin, name))?;
            }
            Ok(config)
        }

        /// `plugin`'s value under `key` in `org`.
        pub fn kv_get(
            &self,
            org: &str,
            plugin: &str,
            key: &str,
        ) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(self
                .kv
                .get((org, plugin, key))
                .map_err(db_err)?
                .map(|value| value.value().to_vec()))
        }

        /// `plugin`'s keys in `org` starting with `prefix`, in order, after
        /// `after` (exclusive) when given, at most `limit`.
        pub fn kv_keys(
            &self,
            org: &str,
            plugin: &str,
            prefix: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<String>, StorageError> {
            let start = after.filter(|after| *after > prefix).unwrap_or(prefix);
            let mut keys = Vec::new();
            for entry in self.kv.range((org, plugin, start)..).map_err(db_err)? {
                let (key, _) = entry.map_err(db_err)?;
                let (o, p, k) = key.value();
                if o != org || p != plugin || !k.starts_with(prefix) || keys.len() == limit {
                    break;
                }
                if Some(k) != after {
                    keys.push(k.to_owned());
                }
            }
            Ok(keys)
        }

        /// How much key-value data `plugin` keeps in `org`.
        pub fn kv_usage(&self, org: &str, plugin: &str) -> Result<KvUsage, StorageError> {
            kv::usage(&self.kv, &self.kv_usage, org, plugin)
        }

        /// Every token administering `org` (`None`: the operator's), by id.
        pub fn tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>, StorageError> {
            let mut out = Vec::new();
            for entry in self.tokens.range::<&str>(..).map_err(db_err)? {
                let (_, value) = entry.map_err(db_err)?;
                let token: TokenRecord = decode(value.value())?;
                if token.org.as_deref() == org {
                    out.push(token);
                }
            }
            Ok(out)
        }
    };
}

/// A read-only snapshot of the registry.
pub struct ReadTxn {
    orgs: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    installations: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    edges: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    audit: redb::ReadOnlyTable<(&'static str, u64), &'static [u8]>,
    tokens: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    kv: redb::ReadOnlyTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    kv_usage: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    plugin_config: redb::ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    keys: Arc<SecretKeys>,
    published: redb::ReadOnlyTable<(&'static str, &'static str, &'static str), &'static [u8]>,
    records: redb::ReadOnlyTable<(&'static str, &'static str, u64), &'static [u8]>,
    module_owners: redb::ReadOnlyTable<(&'static str, &'static str), &'static str>,
}

impl ReadTxn {
    read_queries!();
}

/// The tables of one write transaction, with typed operations.
pub struct WriteTxn<'txn> {
    orgs: redb::Table<'txn, &'static str, &'static [u8]>,
    installations: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    edges: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    audit: redb::Table<'txn, (&'static str, u64), &'static [u8]>,
    tokens: redb::Table<'txn, &'static str, &'static [u8]>,
    kv: redb::Table<'txn, (&'static str, &'static str, &'static str), &'static [u8]>,
    kv_usage: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    plugin_config: redb::Table<'txn, (&'static str, &'static str), &'static [u8]>,
    keys: &'txn SecretKeys,
    published: redb::Table<'txn, (&'static str, &'static str, &'static str), &'static [u8]>,
    records: redb::Table<'txn, (&'static str, &'static str, u64), &'static [u8]>,
    record_ids: redb::Table<'txn, (&'static str, &'static str), u64>,
    module_owners: redb::Table<'txn, (&'static str, &'static str), &'static str>,
}

impl WriteTxn<'_> {
    read_queries!();

    /// Creates or replaces an org.
    pub fn put_org(&mut self, org: &OrgRecord) -> Result<(), StorageError> {
        self.orgs
            .insert(org.name.as_str(), encode(org).as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Creates or replaces an installation and its dependency edges.
    pub fn put_installation(
        &mut self,
        installation: &Installation,
        edges: &[DependencyEdge],
    ) -> Result<(), StorageError> {
        let key = (installation.org.as_str(), installation.name.as_str());
        self.installations
            .insert(key, encode(installation).as_slice())
            .map_err(db_err)?;
        self.edges
            .insert(key, encode(&edges).as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Removes an installation and its dependency edges.
    pub fn remove_installation(&mut self, org: &str, plugin: &str) -> Result<(), StorageError> {
        self.installations.remove((org, plugin)).map_err(db_err)?;
        self.edges.remove((org, plugin)).map_err(db_err)?;
        Ok(())
    }

    /// Stores a token record.
    pub fn put_token(&mut self, token: &TokenRecord) -> Result<(), StorageError> {
        self.tokens
            .insert(token.id.as_str(), encode(token).as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Replaces what `org` configured for `plugin`, its secrets sealed.
    pub fn put_plugin_config(
        &mut self,
        org: &str,
        plugin: &str,
        config: &PluginConfig,
    ) -> Result<(), StorageError> {
        let mut sealed = config.clone();
        for (name, value) in sealed.secrets.iter_mut() {
            *value = self.keys.seal(value, &secret_place(org, plugin, name));
        }
        self.plugin_config
            .insert((org, plugin), encode(&sealed).as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Stores a new record of `module` in `org` with the next id and returns it.
    pub fn add_record(
        &mut self,
        org: &str,
        module: &str,
        data: serde_json::Value,
        at: u64,
    ) -> Result<ModuleRecord, StorageError> {
        let last = self.last_record_id(org, module)?;
        self.record_ids
            .insert((org, module), last + 1)
            .map_err(db_err)?;
        let record = ModuleRecord {
            id: last + 1,
            data,
            created_at: at,
            updated_at: None,
        };
        self.records
            .insert((org, module, record.id), encode(&record).as_slice())
            .map_err(db_err)?;
        Ok(record)
    }

    /// The last id given out in `org`'s `module`: its counter, or for
    /// records stored before ids were counted, the highest one.
    fn last_record_id(&self, org: &str, module: &str) -> Result<u64, StorageError> {
        if let Some(last) = self.record_ids.get((org, module)).map_err(db_err)? {
            return Ok(last.value());
        }
        Ok(self
            .records
            .range((org, module, 0)..=(org, module, u64::MAX))
            .map_err(db_err)?
            .next_back()
            .transpose()
            .map_err(db_err)?
            .map_or(0, |(key, _)| key.value().2))
    }

    /// Replaces the data of `org`'s record `id` of `module` with `data`, if
    /// it still holds `expected` (else `Ok(None)`: it changed or went
    /// meanwhile). Returns the updated record.
    pub fn update_record(
        &mut self,
        org: &str,
        module: &str,
        id: u64,
        expected: &serde_json::Value,
        data: serde_json::Value,
        at: u64,
    ) -> Result<Option<ModuleRecord>, StorageError> {
        let Some(mut record) = self.record(org, module, id)? else {
            return Ok(None);
        };
        if &record.data != expected {
            return Ok(None);
        }
        record.data = data;
        record.updated_at = Some(at);
        self.records
            .insert((org, module, id), encode(&record).as_slice())
            .map_err(db_err)?;
        Ok(Some(record))
    }

    /// Removes `org`'s record `id` of `module` if it still holds
    /// `expected`; returns whether it did.
    pub fn delete_record(
        &mut self,
        org: &str,
        module: &str,
        id: u64,
        expected: &serde_json::Value,
    ) -> Result<bool, StorageError> {
        match self.record(org, module, id)? {
            Some(record) if &record.data == expected => {
                // Count the id first, so it is never given out again.
                let last = self.last_record_id(org, module)?;
                self.record_ids
                    .insert((org, module), last)
                    .map_err(db_err)?;
                self.records.remove((org, module, id)).map_err(db_err)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes every record of `org`'s module `module` and its owner; its
    /// id counter stays, so no id is given out again.
    pub fn delete_module_records(&mut self, org: &str, module: &str) -> Result<(), StorageError> {
        let last = self.last_record_id(org, module)?;
        self.record_ids
            .insert((org, module), last)
            .map_err(db_err)?;
        self.records
            .retain_in((org, module, 0)..=(org, module, u64::MAX), |_, _| false)
            .map_err(db_err)?;
        self.module_owners.remove((org, module)).map_err(db_err)?;
        Ok(())
    }

    /// Makes `plugin` the owner of `org`'s module `module` if it has none;
    /// returns the owner it has now.
    pub fn claim_module(
        &mut self,
        org: &str,
        module: &str,
        plugin: &str,
    ) -> Result<String, StorageError> {
        if let Some(owner) = self.module_owners.get((org, module)).map_err(db_err)? {
            return Ok(owner.value().to_owned());
        }
        (self.module_owners)
            .insert((org, module), plugin)
            .map_err(db_err)?;
        Ok(plugin.to_owned())
    }

    /// The modules of `org` whose records `plugin` owns.
    pub fn owned_modules(&self, org: &str, plugin: &str) -> Result<Vec<String>, StorageError> {
        let mut owned = Vec::new();
        for entry in self.module_owners.range((org, "")..).map_err(db_err)? {
            let (key, owner) = entry.map_err(db_err)?;
            let (o, module) = key.value();
            if o != org {
                break;
            }
            if owner.value() == plugin {
                owned.push(module.to_owned());
            }
        }
        Ok(owned)
    }

    /// Records a published package version.
    pub fn put_published(&mut self, package: &PublishedPackage) -> Result<(), StorageError> {
        let key = (
            package.scope.as_str(),
            package.name.as_str(),
            package.version.as_str(),
        );
        self.published
            .insert(key, encode(package).as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    /// Forgets what `org` configured for `plugin`.
    pub fn remove_plugin_config(&mut self, org: &str, plugin: &str) -> Result<(), StorageError> {
        self.plugin_config.remove((org, plugin)).map_err(db_err)?;
        Ok(())
    }

    /// Deletes the token `id`; returns whether it existed.
    pub fn remove_token(&mut self, id: &str) -> Result<bool, StorageError> {
        Ok(self.tokens.remove(id).map_err(db_err)?.is_some())
    }

    /// Appends an event to `org`'s audit log and returns it with its sequence number.
    pub fn append_audit(
        &mut self,
        org: &str,
        at: u64,
        action: &str,
        plugin: Option<&str>,
        version: Option<&str>,
        detail: &str,
    ) -> Result<AuditEvent, StorageError> {
        let last = self
            .audit
            .range((org, 0)..=(org, u64::MAX))
            .map_err(db_err)?
            .next_back()
            .transpose()
            .map_err(db_err)?
            .map_or(0, |(key, _)| key.value().1);
        let event = AuditEvent {
            seq: last + 1,
            at,
            action: action.to_owned(),
            plugin: plugin.map(str::to_owned),
            version: version.map(str::to_owned),
            detail: detail.to_owned(),
        };
        self.audit
            .insert((org, event.seq), encode(&event).as_slice())
            .map_err(db_err)?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installation(org: &str, name: &str) -> Installation {
        Installation {
            org: org.into(),
            name: name.into(),
            version: "1.0.0".into(),
            digest: "d".into(),
            state: PluginState::Installed,
            manifest: serde_json::json!({}),
            granted: serde_json::Value::Null,
            installed_at: 1,
            updated_at: 1,
            activated_at: None,
            signed_by: None,
            previous: None,
        }
    }

    #[test]
    fn installations_are_listed_per_org_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.redb");
        {
            let registry = Database::open(&path, SecretKeys::ephemeral()).unwrap();
            registry
                .write(|txn| {
                    for (org, name) in [("a", "x"), ("ab", "y"), ("a", "z")] {
                        txn.put_installation(&installation(org, name), &[])?;
                    }
                    Ok::<_, StorageError>(())
                })
                .unwrap();
        }
        let registry = Database::open(&path, SecretKeys::ephemeral()).unwrap();
        let read = registry.read().unwrap();
        let names: Vec<_> = read
            .installations("a")
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["x", "z"]);
        assert_eq!(read.all_installations().unwrap().len(), 3);
    }

    #[test]
    fn a_failed_change_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Database::open(&dir.path().join("r.redb"), SecretKeys::ephemeral()).unwrap();
        let result = registry.write(|txn| {
            txn.put_installation(&installation("a", "x"), &[])?;
            txn.append_audit("a", 1, "install", Some("x"), None, "")?;
            Err::<(), _>(StorageError::Corrupt("abort".into()))
        });
        assert!(result.is_err());
        let read = registry.read().unwrap();
        assert!(read.installations("a").unwrap().is_empty());
        assert!(read.audit("a", 0).unwrap().is_empty());
    }

    #[test]
    fn record_ids_are_never_given_out_again_and_module_owners_stick() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Database::open(&dir.path().join("r.redb"), SecretKeys::ephemeral()).unwrap();
        let data = serde_json::json!({});
        registry
            .write(|txn| {
                for _ in 0..3 {
                    txn.add_record("a", "notes", data.clone(), 0)?;
                }
                assert!(txn.delete_record("a", "notes", 3, &data)?);
                assert_eq!(txn.add_record("a", "notes", data.clone(), 0)?.id, 4);
                assert_eq!(txn.claim_module("a", "notes", "p")?, "p");
                assert_eq!(
                    txn.claim_module("a", "notes", "q")?,
                    "p",
                    "the first owner stays"
                );
                assert_eq!(txn.owned_modules("a", "p")?, ["notes"]);
                assert!(txn.owned_modules("a", "q")?.is_empty());
                txn.delete_module_records("a", "notes")?;
                assert_eq!(txn.add_record("a", "notes", data.clone(), 0)?.id, 5);
                assert_eq!(
                    txn.claim_module("a", "notes", "q")?,
                    "q",
                    "an owner goes with its records"
                );
                Ok::<_, StorageError>(())
            })
            .unwrap();
        assert_eq!(
            registry
                .read()
                .unwrap()
                .module_owner("a", "notes")
                .unwrap()
                .as_deref(),
            Some("q")
        );
    }

    #[test]
    fn tokens_are_found_by_id_and_listed_per_org() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Database::open(&dir.path().join("r.redb"), SecretKeys::ephemeral()).unwrap();
        let token = |id: &str, org: Option<&str>| TokenRecord {
            id: id.into(),
            org: org.map(Into::into),
            secret_sha256: "h".into(),
            created_at: 1,
        };
        registry
            .write(|txn| {
                txn.put_token(&token("t1", Some("a")))?;
                txn.put_token(&token("t2", None))?;
                txn.put_token(&token("t3", Some("a")))?;
                assert!(txn.remove_token("t3")?);
                assert!(!txn.remove_token("t3")?);
                Ok::<_, StorageError>(())
            })
            .unwrap();
        let read = registry.read().unwrap();
        assert_eq!(read.token("t1").unwrap(), Some(token("t1", Some("a"))));
        assert_eq!(read.token("t3").unwrap(), None);
        assert_eq!(read.tokens(Some("a")).unwrap(), [token("t1", Some("a"))]);
        assert_eq!(read.tokens(None).unwrap(), [token("t2", None)]);
    }

    #[test]
    fn audit_sequences_are_per_org_and_pageable() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Database::open(&dir.path().join("r.redb"), SecretKeys::ephemeral()).unwrap();
        registry
            .write(|txn| {
                for org in ["a", "b", "a", "a"] {
                    txn.append_audit(org, 1, "x", None, None, "")?;
                }
                Ok::<_, StorageError>(())
            })
            .unwrap();
        let read = registry.read().unwrap();
        let seqs: Vec<_> = read.audit("a", 0).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(read.audit("a", 2).unwrap().len(), 1);
        assert_eq!(read.audit("b", 0).unwrap()[0].seq, 1);
    }

    #[test]
    fn secrets_are_sealed_in_the_file_and_resealed_after_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let key_file = dir.path().join("secrets.key");
        let open_with =
            |keys: &Path| Database::open(&path, SecretKeys::load_or_create(keys).unwrap()).unwrap();
        let read_config = |registry: &Database| {
            let read = registry.read().unwrap();
            read.plugin_config("acme", "webhook").unwrap()
        };
        let mut config = PluginConfig::default();
        config
            .config
            .insert("url".into(), "https://example.com".into());
        config
            .secrets
            .insert("api-key".into(), "very-secret-value-42".into());
        {
            let registry = open_with(&key_file);
            registry
                .write(|txn| txn.put_plugin_config("acme", "webhook", &config))
                .unwrap();
            assert_eq!(read_config(&registry), config);
        }
        let file = std::fs::read(&path).unwrap();
        let found = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
        assert!(
            !found(b"very-secret-value-42"),
            "a secret is in the registry file in plaintext"
        );
        assert!(found(b"https://example.com"), "settings are not secret");

        // Rotate: a new first key; start-up reseals, then the old key can go.
        let old = std::fs::read_to_string(&key_file).unwrap();
        std::fs::write(&key_file, format!("{}\n{old}", "cd".repeat(32))).unwrap();
        let registry = open_with(&key_file);
        assert_eq!(registry.reseal_secrets().unwrap(), 1);
        assert_eq!(registry.reseal_secrets().unwrap(), 0);
        drop(registry);
        std::fs::write(&key_file, format!("{}\n", "cd".repeat(32))).unwrap();
        let registry = open_with(&key_file);
        assert_eq!(read_config(&registry), config);
    }
}
