//! The registry: all of berth's lifecycle state, in tables (see
//! [`schema`]) that the typed queries here read and change through one
//! interface ([`tables`]), whichever backend holds them: one redb file
//! ([`redb_backend`]).
//!
//! Every change is one write transaction ([`Database::write`]); readers see
//! the state before or after it, never in between, and never block writers.

use crate::StorageError;
use crate::sealing::{SealingError, SecretKeys};
use redb::ReadableDatabase;
use redb_backend::{RedbRead, RedbWrite, db_err};
use schema::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
pub use tables::RegistryEvent;
use tables::{CHANGES_CHANNEL, Changes, Flow, Part, Scan, Snapshot, Table, key};

mod kv;
mod postgres;
mod redb_backend;
mod schema;
pub(crate) mod tables;

pub use kv::{KvQuota, KvUsage, QuotaExceeded};

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

/// The registry, on whichever backend the operator chose.
pub struct Database {
    backend: Backend,
    /// Seal and open plugin secrets (see [`crate::sealing`]).
    keys: Arc<SecretKeys>,
}

/// Where the registry lives.
enum Backend {
    /// One redb file on this node.
    Redb(redb::Database),
    /// A PostgreSQL database shared by every node of a cluster.
    Postgres(Box<postgres::Postgres>),
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("registry records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// The record under `key` in `table`, decoded.
fn get_record<T: DeserializeOwned>(
    tables: &dyn Snapshot,
    table: &Table,
    key: &[Part],
) -> Result<Option<T>, StorageError> {
    tables
        .get(table, key)?
        .map(|bytes| decode(&bytes))
        .transpose()
}

/// Every record `scan` covers in `table`, decoded, in its order.
fn scan_records<T: DeserializeOwned>(
    tables: &dyn Snapshot,
    table: &Table,
    scan: &Scan,
) -> Result<Vec<T>, StorageError> {
    let mut out = Vec::new();
    tables.scan(table, scan, &mut |_, value| {
        out.push(decode(value)?);
        Ok(Flow::Continue(()))
    })?;
    Ok(out)
}

/// The key of the first entry `scan` visits in `table`, if any.
fn first_key(
    tables: &dyn Snapshot,
    table: &Table,
    scan: Scan,
) -> Result<Option<Vec<Part>>, StorageError> {
    let mut found = None;
    tables.scan(table, &scan.limit(1), &mut |key, _| {
        found = Some(key.to_vec());
        Ok(Flow::Break(()))
    })?;
    Ok(found)
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
        let txn = db.begin_write().map_err(db_err)?;
        redb_backend::create_tables(&txn, &TABLES)?;
        txn.commit().map_err(db_err)?;
        Ok(Self {
            backend: Backend::Redb(db),
            keys: Arc::new(keys),
        })
    }

    /// Connects to the PostgreSQL registry at `url`
    /// (`postgres://USER@HOST:PORT/DB`), bringing its schema up to date,
    /// and seals plugin secrets with `keys`.
    pub fn connect(url: &str, keys: SecretKeys) -> Result<Self, StorageError> {
        Ok(Self {
            backend: Backend::Postgres(Box::new(postgres::Postgres::connect(url)?)),
            keys: Arc::new(keys),
        })
    }

    /// Whether the registry is shared by several nodes (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Changes other nodes make, as they commit: `None` for a lone node's
    /// registry, where every change is this node's own.
    pub fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<RegistryEvent>> {
        match &self.backend {
            Backend::Redb(_) => None,
            Backend::Postgres(pg) => Some(pg.watch()),
        }
    }

    /// Keeps every other node's lifecycle steps waiting until the returned
    /// lock drops: with this node's own writer lock, one step at a time in
    /// the whole cluster. Nothing to wait for on a lone node.
    pub fn lock_writers(&self) -> Result<WritersLock, StorageError> {
        let held = match &self.backend {
            Backend::Redb(_) => None,
            Backend::Postgres(pg) => Some(pg.lock_writers()?),
        };
        Ok(WritersLock { _held: held })
    }

    /// Runs `change` in one write transaction, committed only if it returns
    /// `Ok`. On a shared registry, a transaction another node's (or
    /// request's) change got in the way of is rolled back and `change` runs
    /// again on the new state, up to [`postgres::ATTEMPTS`] times in all;
    /// so `change` must do nothing but read and write the registry.
    pub fn write<T, E>(
        &self,
        mut change: impl FnMut(&mut WriteTxn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError>,
    {
        match &self.backend {
            Backend::Redb(db) => {
                let txn = db.begin_write().map_err(db_err)?;
                let value = change(&mut WriteTxn {
                    changes: &mut RedbWrite(&txn),
                    keys: &self.keys,
                    shared: false,
                })?;
                txn.commit().map_err(db_err)?;
                Ok(value)
            }
            Backend::Postgres(pg) => pg.write(|changes| {
                change(&mut WriteTxn {
                    changes,
                    keys: &self.keys,
                    shared: true,
                })
            }),
        }
    }

    /// A consistent snapshot for reading.
    pub fn read(&self) -> Result<ReadTxn, StorageError> {
        let snapshot: Box<dyn Snapshot + Send> = match &self.backend {
            Backend::Redb(db) => Box::new(RedbRead(db.begin_read().map_err(db_err)?)),
            Backend::Postgres(pg) => Box::new(pg.read()?),
        };
        Ok(ReadTxn {
            snapshot,
            keys: self.keys.clone(),
        })
    }

    /// Checks that the registry's secrets open with this node's keys — a
    /// node of a cluster given another key file than the others would seal
    /// secrets they cannot open — by opening a value sealed when the
    /// registry was first used (and sealing it anew under the current key
    /// after a rotation). Run at start-up, before anything is sealed.
    pub fn check_secrets_key(&self) -> Result<(), StorageError> {
        const PLACE: &str = "berth\0secrets-key-check";
        self.write(|txn| {
            let check = key!["secrets-key-check"];
            if let Some(stored) = txn.changes.get(&REGISTRY_META, &check)? {
                let stored = String::from_utf8_lossy(&stored).into_owned();
                if let Err(SealingError::DoesNotOpen(id)) = self.keys.open(&stored, PLACE) {
                    return Err(SealingError::NotTheRegistrysKey(id).into());
                }
                if self.keys.is_current(&stored) {
                    return Ok(());
                }
            }
            let sealed = self.keys.seal("berth", PLACE);
            txn.changes.put(&REGISTRY_META, &check, sealed.as_bytes())
        })
    }

    /// Reseals every stored secret that is not sealed under the current
    /// sealing key (after a key rotation, or stored before sealing
    /// existed); returns how many. Run at start-up.
    pub fn reseal_secrets(&self) -> Result<usize, StorageError> {
        self.write(|txn| {
            let mut stale = Vec::new();
            txn.changes
                .scan(&PLUGIN_CONFIG, &Scan::default(), &mut |key, value| {
                    let stored: PluginConfig = decode(value)?;
                    if stored.secrets.values().any(|v| !txn.keys.is_current(v)) {
                        stale.push((key[0].text().to_owned(), key[1].text().to_owned()));
                    }
                    Ok(Flow::Continue(()))
                })?;
            for (org, plugin) in &stale {
                let config = txn.plugin_config(org, plugin)?;
                txn.put_plugin_config(org, plugin, &config)?;
            }
            Ok(stale.len())
        })
    }
}

/// Holds off other nodes' lifecycle steps while held (see
/// [`Database::lock_writers`]).
pub struct WritersLock {
    _held: Option<postgres::WritersLock>,
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
            get_record(self.tables(), &ORGS, &key![name])
        }

        /// Every org, by name.
        pub fn orgs(&self) -> Result<Vec<OrgRecord>, StorageError> {
            scan_records(self.tables(), &ORGS, &Scan::default())
        }

        /// The installation of `plugin` in `org`, if any.
        pub fn installation(
            &self,
            org: &str,
            plugin: &str,
        ) -> Result<Option<Installation>, StorageError> {
            get_record(self.tables(), &INSTALLATIONS, &key![org, plugin])
        }

        /// Every installation in `org`, by plugin name.
        pub fn installations(&self, org: &str) -> Result<Vec<Installation>, StorageError> {
            scan_records(self.tables(), &INSTALLATIONS, &Scan::prefix(key![org]))
        }

        /// Every installation in every org.
        pub fn all_installations(&self) -> Result<Vec<Installation>, StorageError> {
            scan_records(self.tables(), &INSTALLATIONS, &Scan::default())
        }

        /// The dependency edges `plugin` declares in `org`.
        pub fn dependency_edges(
            &self,
            org: &str,
            plugin: &str,
        ) -> Result<Vec<DependencyEdge>, StorageError> {
            Ok(
                get_record(self.tables(), &DEPENDENCY_EDGES, &key![org, plugin])?
                    .unwrap_or_default(),
            )
        }

        /// `org`'s audit log, oldest first, starting after sequence `after`.
        pub fn audit(&self, org: &str, after: u64) -> Result<Vec<AuditEvent>, StorageError> {
            let scan = Scan::prefix(key![org]).from(Some(after.saturating_add(1).into()));
            scan_records(self.tables(), &AUDIT, &scan)
        }

        /// The token `id`, if it exists.
        pub fn token(&self, id: &str) -> Result<Option<TokenRecord>, StorageError> {
            get_record(self.tables(), &TOKENS, &key![id])
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
            let scan = Scan::prefix(key![org, module]);
            let scan = match (after, descending) {
                (None, false) => scan,
                (None, true) => scan.reversed(),
                (Some(after), false) => scan.from(Some(after.saturating_add(1).into())),
                (Some(0), true) => return Ok(Vec::new()),
                (Some(after), true) => scan.to(Some((after - 1).into())).reversed(),
            };
            let mut out = Vec::new();
            if limit == 0 {
                return Ok(out);
            }
            self.tables().scan(&RECORDS, &scan, &mut |_, value| {
                let record: ModuleRecord = decode(value)?;
                if keep(&record) {
                    out.push(record);
                }
                Ok(if out.len() == limit {
                    Flow::Break(())
                } else {
                    Flow::Continue(())
                })
            })?;
            Ok(out)
        }

        /// The plugin whose records `org`'s module `module` holds, if a
        /// plugin has written any.
        pub fn module_owner(
            &self,
            org: &str,
            module: &str,
        ) -> Result<Option<String>, StorageError> {
            self.tables()
                .get(&MODULE_OWNERS, &key![org, module])?
                .map(|owner| {
                    String::from_utf8(owner).map_err(|e| StorageError::Corrupt(e.to_string()))
                })
                .transpose()
        }

        /// `org`'s record `id` of `module`, if it exists.
        pub fn record(
            &self,
            org: &str,
            module: &str,
            id: u64,
        ) -> Result<Option<ModuleRecord>, StorageError> {
            get_record(self.tables(), &RECORDS, &key![org, module, id])
        }

        /// Every package version published in `scope`, by name then version text.
        pub fn published(&self, scope: &str) -> Result<Vec<PublishedPackage>, StorageError> {
            scan_records(self.tables(), &PUBLISHED, &Scan::prefix(key![scope]))
        }

        /// The digests of every published package, in every scope.
        pub fn published_digests(&self) -> Result<Vec<String>, StorageError> {
            let published: Vec<PublishedPackage> =
                scan_records(self.tables(), &PUBLISHED, &Scan::default())?;
            Ok(published
                .into_iter()
                .map(|package| package.digest)
                .collect())
        }

        /// What `org` configured for `plugin` (empty if nothing), its
        /// secrets opened.
        pub fn plugin_config(&self, org: &str, plugin: &str) -> Result<PluginConfig, StorageError> {
            let Some(mut config) =
                get_record::<PluginConfig>(self.tables(), &PLUGIN_CONFIG, &key![org, plugin])?
            else {
                return Ok(PluginConfig::default());
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
            self.tables().get(&KV, &key![org, plugin, key])
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
            let scan = (Scan::prefix(key![org, plugin]).from(Some(start.into())))
                .limit(limit.saturating_add(1));
            let mut keys = Vec::new();
            self.tables().scan(&KV, &scan, &mut |key, _| {
                let key = key[2].text();
                if !key.starts_with(prefix) || keys.len() == limit {
                    return Ok(Flow::Break(()));
                }
                if Some(key) != after {
                    keys.push(key.to_owned());
                }
                Ok(Flow::Continue(()))
            })?;
            Ok(keys)
        }

        /// How much key-value data `plugin` keeps in `org`.
        pub fn kv_usage(&self, org: &str, plugin: &str) -> Result<KvUsage, StorageError> {
            kv::usage(self.tables(), org, plugin)
        }

        /// How many lifecycle steps have changed `org` (see
        /// [`WriteTxn::changed_org`]).
        pub fn org_generation(&self, org: &str) -> Result<u64, StorageError> {
            match self.tables().get(&ORG_GENERATIONS, &key![org])? {
                Some(count) => tables::number_value(&count),
                None => Ok(0),
            }
        }

        /// The package ZIP with SHA-256 `digest` (hex), if the shared
        /// registry holds it.
        pub fn blob(&self, digest: &str) -> Result<Option<Vec<u8>>, StorageError> {
            self.tables().get(&BLOBS, &key![digest])
        }

        /// Every token administering `org` (`None`: the operator's), by id.
        pub fn tokens(&self, org: Option<&str>) -> Result<Vec<TokenRecord>, StorageError> {
            let tokens: Vec<TokenRecord> = scan_records(self.tables(), &TOKENS, &Scan::default())?;
            Ok(tokens
                .into_iter()
                .filter(|token| token.org.as_deref() == org)
                .collect())
        }
    };
}

/// A read-only snapshot of the registry.
pub struct ReadTxn {
    snapshot: Box<dyn Snapshot + Send>,
    keys: Arc<SecretKeys>,
}

impl ReadTxn {
    read_queries!();

    fn tables(&self) -> &dyn Snapshot {
        &*self.snapshot
    }
}

/// One write transaction, with typed operations.
pub struct WriteTxn<'txn> {
    changes: &'txn mut dyn Changes,
    keys: &'txn SecretKeys,
    /// Whether the registry is shared by several nodes.
    shared: bool,
}

impl WriteTxn<'_> {
    read_queries!();

    fn tables(&self) -> &dyn Snapshot {
        &*self.changes
    }

    /// Stores `value` as the record under `key` in `table`.
    fn put_record<T: Serialize>(
        &mut self,
        table: &Table,
        key: &[Part],
        value: &T,
    ) -> Result<(), StorageError> {
        self.changes.put(table, key, &encode(value))
    }

    /// Records that a lifecycle step changed `org`: counts it, and once
    /// committed, tells every node watching a shared registry.
    pub fn changed_org(&mut self, org: &str) -> Result<(), StorageError> {
        let next = self.org_generation(org)? + 1;
        (self.changes).put(&ORG_GENERATIONS, &key![org], &next.to_be_bytes())?;
        self.changes.announce(CHANGES_CHANNEL, org)
    }

    /// Keeps the package ZIP `digest` (hex) in a shared registry, where
    /// other nodes fetch it, reading it with `zip` only if it is not there
    /// yet. Nothing on a lone node: its packages are on its disk.
    pub fn share_blob(
        &mut self,
        digest: &str,
        zip: impl FnOnce() -> Result<Vec<u8>, StorageError>,
    ) -> Result<(), StorageError> {
        if !self.shared || self.changes.contains(&BLOBS, &key![digest])? {
            return Ok(());
        }
        self.changes.put(&BLOBS, &key![digest], &zip()?)
    }

    /// Drops every package ZIP from a shared registry that no installation
    /// (nor the version it keeps for rollback) and no published package
    /// references: what a node killed between a step and its clean-up
    /// left. Returns their digests.
    pub fn collect_blob_garbage(&mut self) -> Result<Vec<String>, StorageError> {
        let installations = self.all_installations()?;
        let referenced: std::collections::HashSet<String> = (installations.iter())
            .flat_map(|i| i.digests().map(str::to_owned))
            .chain(self.published_digests()?)
            .collect();
        let mut removed = Vec::new();
        for key in self.changes.keys(&BLOBS, &Scan::default())? {
            let digest = key[0].text();
            if !referenced.contains(digest) {
                self.changes.delete(&BLOBS, &key)?;
                removed.push(digest.to_owned());
            }
        }
        Ok(removed)
    }

    /// Drops the package ZIP `digest` (hex) from a shared registry.
    pub fn remove_blob(&mut self, digest: &str) -> Result<(), StorageError> {
        self.changes.delete(&BLOBS, &key![digest])?;
        Ok(())
    }

    /// Creates or replaces an org.
    pub fn put_org(&mut self, org: &OrgRecord) -> Result<(), StorageError> {
        self.put_record(&ORGS, &key![org.name.as_str()], org)
    }

    /// Creates or replaces an installation and its dependency edges.
    pub fn put_installation(
        &mut self,
        installation: &Installation,
        edges: &[DependencyEdge],
    ) -> Result<(), StorageError> {
        let key = key![installation.org.as_str(), installation.name.as_str()];
        self.put_record(&INSTALLATIONS, &key, installation)?;
        self.put_record(&DEPENDENCY_EDGES, &key, &edges)
    }

    /// Removes an installation and its dependency edges.
    pub fn remove_installation(&mut self, org: &str, plugin: &str) -> Result<(), StorageError> {
        self.changes.delete(&INSTALLATIONS, &key![org, plugin])?;
        self.changes.delete(&DEPENDENCY_EDGES, &key![org, plugin])?;
        Ok(())
    }

    /// Stores a token record.
    pub fn put_token(&mut self, token: &TokenRecord) -> Result<(), StorageError> {
        self.put_record(&TOKENS, &key![token.id.as_str()], token)
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
        self.put_record(&PLUGIN_CONFIG, &key![org, plugin], &sealed)
    }

    /// Stores a new record of `module` in `org` with the next id and returns it.
    pub fn add_record(
        &mut self,
        org: &str,
        module: &str,
        data: serde_json::Value,
        at: u64,
    ) -> Result<ModuleRecord, StorageError> {
        let id = self.last_record_id(org, module)? + 1;
        self.count_record_ids(org, module, id)?;
        let record = ModuleRecord {
            id,
            data,
            created_at: at,
            updated_at: None,
        };
        self.put_record(&RECORDS, &key![org, module, id], &record)?;
        Ok(record)
    }

    /// The last id given out in `org`'s `module`: its counter, or for
    /// records stored before ids were counted, the highest one.
    fn last_record_id(&self, org: &str, module: &str) -> Result<u64, StorageError> {
        if let Some(last) = self.changes.get(&RECORD_IDS, &key![org, module])? {
            return tables::number_value(&last);
        }
        let highest = first_key(
            self.tables(),
            &RECORDS,
            Scan::prefix(key![org, module]).reversed(),
        )?;
        Ok(highest.map_or(0, |key| key[2].number()))
    }

    /// Stores `last` as the last id given out in `org`'s `module`.
    fn count_record_ids(&mut self, org: &str, module: &str, last: u64) -> Result<(), StorageError> {
        (self.changes).put(&RECORD_IDS, &key![org, module], &last.to_be_bytes())
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
        self.put_record(&RECORDS, &key![org, module, id], &record)?;
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
                self.count_record_ids(org, module, last)?;
                self.changes.delete(&RECORDS, &key![org, module, id])?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes every record of `org`'s module `module` and its owner; its
    /// id counter stays, so no id is given out again.
    pub fn delete_module_records(&mut self, org: &str, module: &str) -> Result<(), StorageError> {
        let last = self.last_record_id(org, module)?;
        self.count_record_ids(org, module, last)?;
        (self.changes).delete_all(&RECORDS, &Scan::prefix(key![org, module]))?;
        self.changes.delete(&MODULE_OWNERS, &key![org, module])?;
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
        if let Some(owner) = self.module_owner(org, module)? {
            return Ok(owner);
        }
        (self.changes).put(&MODULE_OWNERS, &key![org, module], plugin.as_bytes())?;
        Ok(plugin.to_owned())
    }

    /// The modules of `org` whose records `plugin` owns.
    pub fn owned_modules(&self, org: &str, plugin: &str) -> Result<Vec<String>, StorageError> {
        let mut owned = Vec::new();
        let scan = Scan::prefix(key![org]);
        self.changes
            .scan(&MODULE_OWNERS, &scan, &mut |key, owner| {
                if owner == plugin.as_bytes() {
                    owned.push(key[1].text().to_owned());
                }
                Ok(Flow::Continue(()))
            })?;
        Ok(owned)
    }

    /// Records a published package version.
    pub fn put_published(&mut self, package: &PublishedPackage) -> Result<(), StorageError> {
        let key = key![
            package.scope.as_str(),
            package.name.as_str(),
            package.version.as_str(),
        ];
        self.put_record(&PUBLISHED, &key, package)
    }

    /// Forgets what `org` configured for `plugin`.
    pub fn remove_plugin_config(&mut self, org: &str, plugin: &str) -> Result<(), StorageError> {
        self.changes.delete(&PLUGIN_CONFIG, &key![org, plugin])?;
        Ok(())
    }

    /// Deletes the token `id`; returns whether it existed.
    pub fn remove_token(&mut self, id: &str) -> Result<bool, StorageError> {
        Ok(self.changes.delete(&TOKENS, &key![id])?.is_some())
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
        let last = first_key(self.tables(), &AUDIT, Scan::prefix(key![org]).reversed())?;
        let event = AuditEvent {
            seq: last.map_or(0, |key| key[1].number()) + 1,
            at,
            action: action.to_owned(),
            plugin: plugin.map(str::to_owned),
            version: version.map(str::to_owned),
            detail: detail.to_owned(),
        };
        self.put_record(&AUDIT, &key![org, event.seq], &event)?;
        Ok(event)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::throwaway_postgres::ThrowawayPostgres;

    /// Runs `test` on a fresh registry in each backend: a redb file, and a
    /// new database on this process's throwaway PostgreSQL server.
    pub(crate) fn each_backend(test: impl Fn(&Database)) {
        let dir = tempfile::tempdir().unwrap();
        test(&Database::open(&dir.path().join("r.redb"), SecretKeys::ephemeral()).unwrap());
        test(&Database::connect(&fresh_postgres(), SecretKeys::ephemeral()).unwrap());
    }

    /// The URL of a new, empty database on the shared throwaway server.
    pub(crate) fn fresh_postgres() -> String {
        ThrowawayPostgres::shared().fresh_database().1
    }

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
        let (path, url) = (dir.path().join("registry.redb"), fresh_postgres());
        let backends: [&dyn Fn() -> Database; 2] = [
            &|| Database::open(&path, SecretKeys::ephemeral()).unwrap(),
            &|| Database::connect(&url, SecretKeys::ephemeral()).unwrap(),
        ];
        for open in backends {
            // Written through one handle, dropped, then read through another.
            open()
                .write(|txn| {
                    for (org, name) in [("a", "x"), ("ab", "y"), ("a", "z")] {
                        txn.put_installation(&installation(org, name), &[])?;
                    }
                    Ok::<_, StorageError>(())
                })
                .unwrap();
            listed_per_org(&open());
        }
    }

    fn listed_per_org(registry: &Database) {
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
        each_backend(|registry| {
            let result = registry.write(|txn| {
                txn.put_installation(&installation("a", "x"), &[])?;
                txn.append_audit("a", 1, "install", Some("x"), None, "")?;
                Err::<(), _>(StorageError::Corrupt("abort".into()))
            });
            assert!(result.is_err());
            let read = registry.read().unwrap();
            assert!(read.installations("a").unwrap().is_empty());
            assert!(read.audit("a", 0).unwrap().is_empty());
        });
    }

    #[test]
    fn record_ids_are_never_given_out_again_and_module_owners_stick() {
        each_backend(|registry| {
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
        });
    }

    #[test]
    fn generations_count_changes_per_org_and_blobs_are_kept_only_when_shared() {
        each_backend(|registry| {
            registry
                .write(|txn| {
                    txn.changed_org("acme")?;
                    txn.changed_org("acme")?;
                    txn.share_blob("d1", || Ok(b"zip".to_vec()))?;
                    // Already there: not read again.
                    txn.share_blob("d1", || panic!("read twice"))
                })
                .unwrap();
            let read = registry.read().unwrap();
            assert_eq!(read.org_generation("acme").unwrap(), 2);
            assert_eq!(read.org_generation("beta").unwrap(), 0);
            let kept = read.blob("d1").unwrap();
            if registry.is_shared() {
                assert_eq!(kept.as_deref(), Some(&b"zip"[..]));
                drop(read);
                registry.write(|txn| txn.remove_blob("d1")).unwrap();
                assert_eq!(registry.read().unwrap().blob("d1").unwrap(), None);
            } else {
                assert_eq!(kept, None, "a lone node keeps packages on its disk");
            }
        });
    }

    #[test]
    fn records_page_by_cursor_both_ways_within_their_org_and_module() {
        each_backend(|registry| {
            registry
                .write(|txn| {
                    // More than one page of a PostgreSQL scan.
                    for n in 0..600 {
                        txn.add_record("a", "notes", serde_json::json!({ "n": n }), 0)?;
                    }
                    txn.add_record("a", "other", serde_json::json!({}), 0)?;
                    txn.add_record("b", "notes", serde_json::json!({}), 0)?;
                    Ok::<_, StorageError>(())
                })
                .unwrap();
            let read = registry.read().unwrap();
            let ids = |after, descending, limit, keep: fn(&ModuleRecord) -> bool| {
                let records = read.records_where("a", "notes", after, descending, limit, keep);
                records.unwrap().iter().map(|r| r.id).collect::<Vec<_>>()
            };
            let all = |_: &ModuleRecord| true;
            assert_eq!(ids(None, false, 3, all), [1, 2, 3]);
            assert_eq!(ids(Some(3), false, 2, all), [4, 5]);
            assert_eq!(ids(None, true, 2, all), [600, 599]);
            assert_eq!(ids(Some(599), true, 2, all), [598, 597]);
            assert!(ids(Some(0), true, 2, all).is_empty());
            assert!(ids(Some(600), false, 10, all).is_empty());
            assert_eq!(ids(None, false, 1000, all).len(), 600);
            // A filter few records pass reads on across pages.
            let rare = |r: &ModuleRecord| r.data["n"].as_u64().unwrap().is_multiple_of(250);
            assert_eq!(ids(None, false, 3, rare), [1, 251, 501]);
            assert_eq!(ids(None, true, 3, rare), [501, 251, 1]);
            let other = read
                .records_where("b", "notes", None, false, 10, all)
                .unwrap();
            assert_eq!(other.len(), 1);
        });
    }

    #[test]
    fn tokens_are_found_by_id_and_listed_per_org() {
        each_backend(|registry| {
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
        });
    }

    #[test]
    fn audit_sequences_are_per_org_and_pageable() {
        each_backend(|registry| {
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
        });
    }

    #[test]
    fn a_registry_refuses_a_key_that_did_not_seal_it() {
        let dir = tempfile::tempdir().unwrap();
        let keys = |name: &str| SecretKeys::load_or_create(&dir.path().join(name)).unwrap();
        let (path, url) = (dir.path().join("r.redb"), fresh_postgres());
        let backends: [&dyn Fn(SecretKeys) -> Database; 2] =
            [&|keys| Database::open(&path, keys).unwrap(), &|keys| {
                Database::connect(&url, keys).unwrap()
            }];
        for open in backends {
            open(keys("a.key")).check_secrets_key().unwrap();
            open(keys("a.key")).check_secrets_key().unwrap();
            let refused = open(keys("b.key")).check_secrets_key();
            assert!(
                matches!(
                    refused,
                    Err(StorageError::Sealing(SealingError::NotTheRegistrysKey(_)))
                ),
                "{refused:?}"
            );
        }
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
