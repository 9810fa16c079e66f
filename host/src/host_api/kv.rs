//! `berth:plugin/kv`: a key-value store private to each plugin in each org,
//! kept in the registry's `kv` table under (org, plugin, key).
//!
//! Every call checks the org's grant first: `storage: read` for `get` and
//! `list-keys`, `storage: write` for `set` and `delete`; without it the call
//! fails with `denied` and never touches the store. The org and plugin come
//! from the store's identity, never from the guest, so no call can name
//! another org's or plugin's data. The one door between plugins is
//! `get-shared`: a plugin may read keys a *declared dependency* installed in
//! the same org lists under its manifest's `exposes` prefixes.
//!
//! Each plugin's data in an org is held to the org's quotas (bytes of keys
//! and values, number of keys): a `set` that would go past one fails with
//! `too-large` naming it, checked in the same transaction as the write.

use super::berth::plugin::kv::{Host, KvError};
use crate::package::manifest::StorageAccess;
use crate::runtime::PluginState;
use berth_storage::{KvQuota, StorageError, WriteTxn};

/// Longest key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most keys one `list-keys` call returns.
const MAX_LISTED_KEYS: usize = 1000;

impl PluginState {
    fn require(&self, access: StorageAccess) -> Result<(), KvError> {
        if self.grants.storage.contains(&access) {
            Ok(())
        } else {
            Err(KvError::Denied(format!(
                "the org has not granted this plugin `storage: {}`",
                access.as_str()
            )))
        }
    }

    /// Runs `change` on this plugin's data in one registry transaction, on
    /// a blocking thread: a commit waits for the disk (fsync), which must
    /// not stall the async workers serving other requests. A write that
    /// lands after the plugin was uninstalled is dropped, so a reinstall
    /// never inherits data.
    fn commit<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut WriteTxn<'_>, &str, &str) -> Result<T, StorageError> + Send + 'static,
    ) -> impl Future<Output = Result<T, KvError>> + Send + 'static {
        let registry = self.registry.clone();
        let identity = self.identity.clone();
        async move {
            let (org, plugin) = (&identity.org, &identity.plugin);
            let committed = tokio::task::spawn_blocking({
                let identity = identity.clone();
                move || {
                    registry.write(|txn| {
                        let (org, plugin) = (&identity.org, &identity.plugin);
                        match txn.installation(org, plugin)? {
                            Some(_) => change(txn, org, plugin).map(Some),
                            None => Ok(None),
                        }
                    })
                }
            })
            .await
            .map_err(|e| KvError::Internal(format!("the host's store failed: {e}")))?
            .map_err(internal)?;
            committed.ok_or_else(|| {
                KvError::Denied(format!("`{plugin}` is no longer installed in `{org}`"))
            })
        }
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::TooLarge(format!(
            "keys are at most {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

fn internal(error: StorageError) -> KvError {
    tracing::error!("plugin key-value store: {error}");
    KvError::Internal("the host's store failed".into())
}

impl Host for PluginState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.require(StorageAccess::Read)?;
        check_key(&key)?;
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        self.registry
            .read()
            .and_then(|read| read.kv_get(org, plugin, &key))
            .map_err(internal)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.require(StorageAccess::Write)?;
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::TooLarge(format!(
                "values are at most {MAX_VALUE_BYTES} bytes"
            )));
        }
        let limits = self.admission.limits(&self.identity.org);
        let quota = KvQuota {
            max_bytes: limits.kv_max_bytes,
            max_keys: limits.kv_max_keys,
        };
        let stored = self
            .commit(move |txn, org, plugin| txn.kv_set(org, plugin, &key, &value, quota))
            .await?;
        let usage = stored.map_err(|exceeded| KvError::TooLarge(exceeded.to_string()))?;
        self.metrics.kv_usage(usage);
        Ok(())
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        self.require(StorageAccess::Write)?;
        check_key(&key)?;
        let (existed, usage) = self
            .commit(move |txn, org, plugin| {
                let existed = txn.kv_delete(org, plugin, &key)?;
                Ok((existed, txn.kv_usage(org, plugin)?))
            })
            .await?;
        self.metrics.kv_usage(usage);
        Ok(existed)
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, KvError> {
        self.require(StorageAccess::Read)?;
        check_key(&prefix)?;
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        self.registry
            .read()
            .and_then(|read| read.kv_keys(org, plugin, &prefix, MAX_LISTED_KEYS))
            .map_err(internal)
    }

    fn get_shared(&mut self, dependency: String, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.require(StorageAccess::Read)?;
        check_key(&key)?;
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        let read = self.registry.read().map_err(internal)?;
        let edges = read.dependency_edges(org, plugin).map_err(internal)?;
        if !edges.iter().any(|edge| edge.name == dependency) {
            return Err(KvError::NotFound(format!(
                "`{dependency}` is not a declared dependency"
            )));
        }
        let exposed = read
            .installation(org, &dependency)
            .map_err(internal)?
            .is_some_and(|installed| exposes(&installed.manifest, &key));
        if !exposed {
            return Err(KvError::NotFound(format!(
                "`{dependency}` exposes no `{key}` to its dependents"
            )));
        }
        read.kv_get(org, &dependency, &key).map_err(internal)
    }
}

/// Whether a manifest's `exposes` prefixes cover `key`.
fn exposes(manifest: &serde_json::Value, key: &str) -> bool {
    manifest["exposes"].as_array().is_some_and(|prefixes| {
        prefixes
            .iter()
            .filter_map(|p| p.as_str())
            .any(|p| key.starts_with(p))
    })
}
