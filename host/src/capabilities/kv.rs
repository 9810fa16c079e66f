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
//! `quota-exceeded` naming it, checked in the same transaction as the write.
//! `list-keys` pages through the keys with a cursor.

use crate::capabilities::bindings::v0_2_0::kv::{Host, KeyPage, KvError};
use crate::capabilities::capability::{Capability, missing, retain_declared};
use crate::common::admission::Admission;
use crate::common::ids::PluginIdentity;
use crate::common::metrics::PluginMetrics;
use crate::package::manifest::{Permissions, StorageAccess};
use berth_storage::{Database, KvQuota, StorageError, WriteTxn};
use std::sync::Arc;

/// The `storage` permission: `read` and `write` on the plugin's own data.
pub const CAPABILITY: Capability = Capability {
    permission: "storage",
    imports: &["berth:plugin/kv@"],
    declared: |p| !p.storage.is_empty(),
    not_covered: |wanted, available| missing("storage", &wanted.storage, &available.storage),
    narrow: |granted, declared| retain_declared(&mut granted.storage, &declared.storage),
    forget: Some(|txn, org, plugin| txn.kv_clear(org, plugin)),
};

/// Longest key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most keys one `list-keys` call returns.
pub(crate) const MAX_LISTED_KEYS: u32 = 1000;

/// One instance's key-value capability: what the org granted, and the
/// store, quotas and usage metrics behind it.
pub struct KvState {
    /// What the org granted; this unit reads `storage`.
    pub grants: Arc<Permissions>,
    /// Whose data this is.
    pub identity: Arc<PluginIdentity>,
    /// The registry holding the data.
    pub registry: Arc<Database>,
    /// The org's limits (its key-value quotas).
    pub admission: Arc<Admission>,
    /// The plugin's metrics (key-value usage).
    pub metrics: Arc<PluginMetrics>,
}

impl KvState {
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
        mut change: impl FnMut(&mut WriteTxn<'_>, &str, &str) -> Result<T, StorageError>
        + Send
        + 'static,
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
    // A PostgreSQL registry cannot hold it; refused on every backend alike.
    if key.contains('\0') {
        return Err(KvError::Denied("keys may not contain U+0000".into()));
    }
    Ok(())
}

fn internal(error: StorageError) -> KvError {
    tracing::error!("plugin key-value store: {error}");
    KvError::Internal("the host's store failed".into())
}

impl Host for KvState {
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
        let usage = stored.map_err(|exceeded| KvError::QuotaExceeded(exceeded.to_string()))?;
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

    fn list_keys(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<KeyPage, KvError> {
        self.require(StorageAccess::Read)?;
        check_key(&prefix)?;
        if let Some(cursor) = &cursor {
            check_key(cursor)?;
        }
        let limit = match limit {
            0 => MAX_LISTED_KEYS,
            limit => limit.min(MAX_LISTED_KEYS),
        } as usize;
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        // One more than asked says whether another page follows.
        let mut keys = self
            .registry
            .read()
            .and_then(|read| read.kv_keys(org, plugin, &prefix, cursor.as_deref(), limit + 1))
            .map_err(internal)?;
        let next = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, next })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::{Fixture, ORG};
    use serde_json::json;

    #[tokio::test]
    async fn without_a_grant_every_call_is_denied_and_nothing_is_stored() {
        let fixture = Fixture::new();
        fixture.install("probe", json!({}), true, &[]);
        let mut kv = fixture.instance("probe", json!({})).kv;
        assert!(matches!(kv.get("k".into()), Err(KvError::Denied(_))));
        assert!(matches!(
            kv.set("k".into(), b"v".to_vec()).await,
            Err(KvError::Denied(_))
        ));
        let mut reader = fixture.instance("probe", json!({"storage": ["read"]})).kv;
        assert!(matches!(
            reader.set("k".into(), b"v".to_vec()).await,
            Err(KvError::Denied(_))
        ));
        assert_eq!(reader.get("k".into()).unwrap(), None);
    }

    #[tokio::test]
    async fn data_is_private_to_the_plugin_and_forgotten_at_uninstall() {
        let fixture = Fixture::new();
        fixture.install("probe", json!({}), true, &[]);
        fixture.install("other", json!({}), true, &[]);
        let both = json!({"storage": ["read", "write"]});
        let mut kv = fixture.instance("probe", both.clone()).kv;
        kv.set("colour".into(), b"blue".to_vec()).await.unwrap();
        assert_eq!(kv.get("colour".into()).unwrap(), Some(b"blue".to_vec()));
        assert_eq!(kv.list_keys("co".into(), None, 0).unwrap().keys, ["colour"]);
        let mut other = fixture.instance("other", both).kv;
        assert_eq!(other.get("colour".into()).unwrap(), None);

        let forget = CAPABILITY.forget.expect("kv forgets its data");
        (fixture.services.registry)
            .write(|txn| forget(txn, ORG, "probe"))
            .unwrap();
        assert_eq!(kv.get("colour".into()).unwrap(), None);
    }

    #[tokio::test]
    async fn a_write_after_uninstall_is_dropped_and_oversized_values_are_refused() {
        let fixture = Fixture::new();
        let mut kv = fixture
            .instance("gone", json!({"storage": ["read", "write"]}))
            .kv;
        assert!(matches!(
            kv.set("k".into(), b"v".to_vec()).await,
            Err(KvError::Denied(_))
        ));
        assert_eq!(kv.get("k".into()).unwrap(), None);
        fixture.install("gone", json!({}), true, &[]);
        let huge = vec![0; MAX_VALUE_BYTES + 1];
        assert!(matches!(
            kv.set("k".into(), huge).await,
            Err(KvError::TooLarge(_))
        ));
        assert_eq!(kv.get("k".into()).unwrap(), None);
        let refused = kv.set("a\0b".into(), b"v".to_vec()).await;
        assert!(matches!(refused, Err(KvError::Denied(m)) if m.contains("U+0000")));
        assert_eq!(
            kv.list_keys(String::new(), None, 10).unwrap().keys,
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn shared_keys_are_read_only_from_declared_dependencies_that_expose_them() {
        let fixture = Fixture::new();
        fixture.install("base", json!({"exposes": ["public/"]}), true, &[]);
        fixture.install("user", json!({}), true, &["base"]);
        fixture.install("stranger", json!({}), true, &[]);
        let both = json!({"storage": ["read", "write"]});
        let mut base = fixture.instance("base", both.clone()).kv;
        base.set("public/x".into(), b"1".to_vec()).await.unwrap();
        base.set("private".into(), b"2".to_vec()).await.unwrap();
        let mut user = fixture.instance("user", both.clone()).kv;
        assert_eq!(
            user.get_shared("base".into(), "public/x".into()).unwrap(),
            Some(b"1".to_vec())
        );
        let hidden = user.get_shared("base".into(), "private".into());
        assert!(matches!(hidden, Err(KvError::NotFound(_))));
        let mut stranger = fixture.instance("stranger", both).kv;
        let undeclared = stranger.get_shared("base".into(), "public/x".into());
        assert!(matches!(undeclared, Err(KvError::NotFound(_))));
    }

    #[tokio::test]
    async fn keys_page_with_a_cursor_and_quotas_have_their_own_error() {
        let fixture = Fixture::new();
        fixture.install("probe", json!({}), true, &[]);
        let mut kv = fixture
            .instance("probe", json!({"storage": ["read", "write"]}))
            .kv;
        for key in ["a1", "a2", "a3", "b1"] {
            kv.set(key.into(), b"v".to_vec()).await.unwrap();
        }
        let first = kv.list_keys("a".into(), None, 2).unwrap();
        assert_eq!(
            (first.keys.as_slice(), first.next.as_deref()),
            (&["a1".to_owned(), "a2".to_owned()][..], Some("a2"))
        );
        let last = kv.list_keys("a".into(), first.next, 2).unwrap();
        assert_eq!((last.keys, last.next), (vec!["a3".to_owned()], None));

        let mut limits = fixture.services.admission.defaults();
        limits.kv_max_keys = 4;
        fixture.services.admission.set_override(ORG, Some(limits));
        let over = kv.set("c1".into(), b"v".to_vec()).await;
        assert!(matches!(over, Err(KvError::QuotaExceeded(_))), "{over:?}");
        assert_eq!(
            kv.list_keys("c".into(), None, 0).unwrap().keys,
            Vec::<String>::new()
        );
    }
}
