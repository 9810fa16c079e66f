//! Plugins' key-value data and its accounting: the `kv` table holds the
//! data, the `kv_usage` table one [`KvUsage`] row per (org, plugin), kept
//! in step by every write in the same transaction, so a quota is checked
//! against exact figures without scanning the data.
//!
//! Data written before usage rows existed has none: the first write
//! computes the row by scanning the plugin's data once and stores it.

use super::schema::{KV, KV_USAGE};
use super::tables::{Flow, Scan, Snapshot, key};
use super::{WriteTxn, encode, get_record};
use crate::StorageError;
use serde::{Deserialize, Serialize};

/// How much key-value data one plugin keeps in one org.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvUsage {
    /// Bytes of keys and values together.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

/// The most key-value data one plugin may keep in one org.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvQuota {
    /// Most bytes of keys and values together.
    pub max_bytes: u64,
    /// Most keys.
    pub max_keys: u64,
}

/// Why a write was refused: it would take the plugin past a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    /// Past the byte quota.
    #[error(
        "byte quota exceeded: this write would make the plugin's data {would} bytes, over its quota of {max} bytes"
    )]
    Bytes {
        /// The bytes the write would leave.
        would: u64,
        /// The quota.
        max: u64,
    },
    /// Past the key quota.
    #[error("key quota exceeded: the plugin already has {max} keys, its quota")]
    Keys {
        /// The quota.
        max: u64,
    },
}

impl KvQuota {
    /// Whether usage may go from `now` to `next`. A change that does not
    /// grow usage is always allowed, so a plugin over a lowered quota can
    /// still overwrite and delete its way back under it.
    fn check(&self, now: KvUsage, next: KvUsage) -> Result<(), QuotaExceeded> {
        if next.keys > now.keys && next.keys > self.max_keys {
            return Err(QuotaExceeded::Keys { max: self.max_keys });
        }
        if next.bytes > now.bytes && next.bytes > self.max_bytes {
            return Err(QuotaExceeded::Bytes {
                would: next.bytes,
                max: self.max_bytes,
            });
        }
        Ok(())
    }
}

/// What one entry counts against the byte quota.
fn entry_bytes(key: &str, value_len: usize) -> u64 {
    (key.len() as u64).saturating_add(value_len as u64)
}

/// `plugin`'s usage in `org`: its stored row, or (for data written before
/// rows existed) the sum over its data.
pub(super) fn usage(
    tables: &dyn Snapshot,
    org: &str,
    plugin: &str,
) -> Result<KvUsage, StorageError> {
    match get_record(tables, &KV_USAGE, &key![org, plugin])? {
        Some(row) => Ok(row),
        None => count(tables, org, plugin),
    }
}

/// `plugin`'s usage in `org`, summed over its data.
fn count(tables: &dyn Snapshot, org: &str, plugin: &str) -> Result<KvUsage, StorageError> {
    let mut total = KvUsage::default();
    tables.scan(&KV, &Scan::prefix(key![org, plugin]), &mut |key, value| {
        total.bytes = total
            .bytes
            .saturating_add(entry_bytes(key[2].text(), value.len()));
        total.keys += 1;
        Ok(Flow::Continue(()))
    })?;
    Ok(total)
}

impl WriteTxn<'_> {
    /// Stores `value` under `key` for `plugin` in `org` if the result stays
    /// within `quota`; returns the usage after the write. A refusal (the
    /// inner error) changes no data.
    pub fn kv_set(
        &mut self,
        org: &str,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<Result<KvUsage, QuotaExceeded>, StorageError> {
        let now = self.stored_kv_usage(org, plugin)?;
        let replaced = (self.changes.get(&KV, &key![org, plugin, key])?)
            .map(|old| entry_bytes(key, old.len()));
        let next = KvUsage {
            bytes: now
                .bytes
                .saturating_sub(replaced.unwrap_or(0))
                .saturating_add(entry_bytes(key, value.len())),
            keys: now.keys + u64::from(replaced.is_none()),
        };
        if let Err(exceeded) = quota.check(now, next) {
            return Ok(Err(exceeded));
        }
        self.changes.put(&KV, &key![org, plugin, key], value)?;
        self.put_kv_usage(org, plugin, next)?;
        Ok(Ok(next))
    }

    /// Removes `plugin`'s `key` in `org`; returns whether it existed.
    pub fn kv_delete(&mut self, org: &str, plugin: &str, key: &str) -> Result<bool, StorageError> {
        let now = self.stored_kv_usage(org, plugin)?;
        let removed = (self.changes.delete(&KV, &key![org, plugin, key])?)
            .map(|old| entry_bytes(key, old.len()));
        let Some(removed) = removed else {
            return Ok(false);
        };
        let next = KvUsage {
            bytes: now.bytes.saturating_sub(removed),
            keys: now.keys.saturating_sub(1),
        };
        self.put_kv_usage(org, plugin, next)?;
        Ok(true)
    }

    /// Removes all of `plugin`'s data in `org`, and its usage row.
    pub fn kv_clear(&mut self, org: &str, plugin: &str) -> Result<(), StorageError> {
        (self.changes).delete_all(&KV, &Scan::prefix(key![org, plugin]))?;
        self.changes.delete(&KV_USAGE, &key![org, plugin])?;
        Ok(())
    }

    /// `plugin`'s usage in `org`, storing the row first if it was missing
    /// (so the scan over older data happens once).
    fn stored_kv_usage(&mut self, org: &str, plugin: &str) -> Result<KvUsage, StorageError> {
        if let Some(row) = get_record(self.tables(), &KV_USAGE, &key![org, plugin])? {
            return Ok(row);
        }
        let counted = count(self.tables(), org, plugin)?;
        self.put_kv_usage(org, plugin, counted)?;
        Ok(counted)
    }

    fn put_kv_usage(
        &mut self,
        org: &str,
        plugin: &str,
        usage: KvUsage,
    ) -> Result<(), StorageError> {
        self.changes
            .put(&KV_USAGE, &key![org, plugin], &encode(&usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Database;
    use crate::database::decode;
    use crate::database::tests::each_backend;

    const ROOMY: KvQuota = KvQuota {
        max_bytes: 1 << 20,
        max_keys: 1000,
    };

    fn set(
        registry: &Database,
        key: &str,
        value: &[u8],
        quota: KvQuota,
    ) -> Result<KvUsage, QuotaExceeded> {
        registry
            .write(|txn| txn.kv_set("o", "p", key, value, quota))
            .unwrap()
    }

    fn usage_of(registry: &Database, org: &str, plugin: &str) -> KvUsage {
        registry.read().unwrap().kv_usage(org, plugin).unwrap()
    }

    #[test]
    fn kv_data_is_scoped_by_org_and_plugin() {
        each_backend(|registry| {
            registry
                .write(|txn| {
                    txn.kv_set("a", "p", "k1", b"a-p-1", ROOMY)?.unwrap();
                    txn.kv_set("a", "p", "k2", b"a-p-2", ROOMY)?.unwrap();
                    txn.kv_set("a", "pp", "k1", b"a-pp-1", ROOMY)?.unwrap();
                    txn.kv_set("ab", "p", "k1", b"ab-p-1", ROOMY)?.unwrap();
                    txn.kv_set("b", "p", "k1", b"b-p-1", ROOMY)?.unwrap();
                    Ok::<_, StorageError>(())
                })
                .unwrap();
            let read = registry.read().unwrap();
            assert_eq!(read.kv_get("a", "p", "k1").unwrap().unwrap(), b"a-p-1");
            assert_eq!(read.kv_get("b", "p", "k2").unwrap(), None);
            assert_eq!(read.kv_keys("a", "p", "", None, 10).unwrap(), ["k1", "k2"]);
            assert_eq!(read.kv_keys("a", "p", "k2", None, 10).unwrap(), ["k2"]);
            assert_eq!(read.kv_keys("a", "p", "", None, 1).unwrap(), ["k1"]);
            assert_eq!(read.kv_keys("a", "p", "", Some("k1"), 10).unwrap(), ["k2"]);
            assert_eq!(read.kv_keys("a", "p", "k", Some("k0"), 1).unwrap(), ["k1"]);
            assert!(
                read.kv_keys("a", "p", "", Some("k2"), 10)
                    .unwrap()
                    .is_empty()
            );
            drop(read);
            registry
                .write(|txn| {
                    assert!(txn.kv_delete("a", "p", "k2")?);
                    txn.kv_clear("a", "pp")
                })
                .unwrap();
            let read = registry.read().unwrap();
            assert_eq!(read.kv_keys("a", "p", "", None, 10).unwrap(), ["k1"]);
            assert!(read.kv_keys("a", "pp", "", None, 10).unwrap().is_empty());
            assert_eq!(read.kv_keys("ab", "p", "", None, 10).unwrap(), ["k1"]);
        });
    }

    #[test]
    fn sets_overwrites_deletes_and_clears_keep_usage_exact() {
        each_backend(|registry| {
            assert_eq!(usage_of(registry, "o", "p"), KvUsage::default());
            assert_eq!(
                set(registry, "ab", b"12345", ROOMY),
                Ok(KvUsage { bytes: 7, keys: 1 })
            );
            set(registry, "c", b"1", ROOMY).unwrap();
            assert_eq!(usage_of(registry, "o", "p"), KvUsage { bytes: 9, keys: 2 });
            // Overwriting counts the new value instead of the old one.
            assert_eq!(
                set(registry, "ab", b"1", ROOMY),
                Ok(KvUsage { bytes: 5, keys: 2 })
            );
            let deleted = registry.write(|txn| {
                let existed = txn.kv_delete("o", "p", "ab")?;
                let missing = txn.kv_delete("o", "p", "ab")?;
                Ok::<_, StorageError>((existed, missing))
            });
            assert_eq!(deleted.unwrap(), (true, false));
            assert_eq!(usage_of(registry, "o", "p"), KvUsage { bytes: 2, keys: 1 });
            // Another plugin's and another org's data count apart.
            registry
                .write(|txn| {
                    txn.kv_set("o", "q", "k", b"vv", ROOMY)?.unwrap();
                    txn.kv_set("o2", "p", "k", b"vvv", ROOMY)?.unwrap();
                    txn.kv_clear("o", "p")
                })
                .unwrap();
            assert_eq!(usage_of(registry, "o", "p"), KvUsage::default());
            assert_eq!(usage_of(registry, "o", "q"), KvUsage { bytes: 3, keys: 1 });
            assert_eq!(usage_of(registry, "o2", "p"), KvUsage { bytes: 4, keys: 1 });
        });
    }

    #[test]
    fn a_write_past_a_quota_is_refused_and_changes_nothing() {
        each_backend(|registry| {
            let quota = KvQuota {
                max_bytes: 10,
                max_keys: 2,
            };
            set(registry, "a", b"1234", quota).unwrap();
            assert_eq!(
                set(registry, "b", b"123456", quota),
                Err(QuotaExceeded::Bytes { would: 12, max: 10 })
            );
            set(registry, "b", b"1", quota).unwrap();
            assert_eq!(
                set(registry, "c", b"", quota),
                Err(QuotaExceeded::Keys { max: 2 })
            );
            // Growing an existing value past the byte quota is refused too.
            assert!(set(registry, "a", b"12345678", quota).is_err());
            let read = registry.read().unwrap();
            assert_eq!(read.kv_get("o", "p", "a").unwrap().unwrap(), b"1234");
            assert_eq!(read.kv_get("o", "p", "c").unwrap(), None);
            assert_eq!(
                read.kv_usage("o", "p").unwrap(),
                KvUsage { bytes: 7, keys: 2 }
            );
        });
    }

    #[test]
    fn concurrent_writers_never_overshoot_a_quota() {
        each_backend(|registry| {
            let quota = KvQuota {
                max_bytes: 1 << 20,
                max_keys: 50,
            };
            let stored: usize = std::thread::scope(|scope| {
                let writers: Vec<_> = (0..8)
                    .map(|writer| {
                        scope.spawn(move || {
                            (0..20)
                                .filter(|i| {
                                    set(registry, &format!("{writer}-{i}"), b"v", quota).is_ok()
                                })
                                .count()
                        })
                    })
                    .collect();
                writers.into_iter().map(|w| w.join().unwrap()).sum()
            });
            assert_eq!(stored, 50);
            assert_eq!(usage_of(registry, "o", "p").keys, 50);
            let keys = registry
                .read()
                .unwrap()
                .kv_keys("o", "p", "", None, 1000)
                .unwrap();
            assert_eq!(keys.len(), 50);
        });
    }

    #[test]
    fn a_plugin_over_a_lowered_quota_may_still_shrink() {
        each_backend(|registry| {
            set(registry, "a", b"123456", ROOMY).unwrap();
            set(registry, "b", b"1", ROOMY).unwrap();
            let tight = KvQuota {
                max_bytes: 4,
                max_keys: 1,
            };
            assert_eq!(
                set(registry, "a", b"12", tight),
                Ok(KvUsage { bytes: 5, keys: 2 })
            );
            assert!(set(registry, "a", b"123", tight).is_err());
            assert!(registry.write(|txn| txn.kv_delete("o", "p", "b")).unwrap());
        });
    }

    #[test]
    fn data_without_a_usage_row_is_counted_once_and_then_kept() {
        each_backend(|registry| {
            // Data as an older berth wrote it: no usage row.
            registry
                .write(|txn| {
                    txn.changes.put(&KV, &key!["o", "p", "old"], b"12345")?;
                    txn.changes.put(&KV, &key!["o", "p", "old2"], b"1")
                })
                .unwrap();
            assert_eq!(usage_of(registry, "o", "p"), KvUsage { bytes: 13, keys: 2 });
            assert_eq!(
                set(registry, "new", b"1", ROOMY),
                Ok(KvUsage { bytes: 17, keys: 3 })
            );
            let read = registry.read().unwrap();
            let row = read
                .tables()
                .get(&KV_USAGE, &key!["o", "p"])
                .unwrap()
                .unwrap();
            assert_eq!(
                decode::<KvUsage>(&row).unwrap(),
                KvUsage { bytes: 17, keys: 3 }
            );
        });
    }
}
