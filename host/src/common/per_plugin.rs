//! Values kept in memory per org and plugin — a plugin's log ring, its
//! usage series — created on first use and dropped when the plugin is
//! uninstalled. Reads take a shared lock; only a first use writes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// One `T` per (org, plugin).
pub struct PerPlugin<T> {
    values: RwLock<HashMap<(String, String), Arc<T>>>,
}

impl<T> Default for PerPlugin<T> {
    fn default() -> Self {
        Self {
            values: RwLock::default(),
        }
    }
}

impl<T> PerPlugin<T> {
    /// `org`'s `plugin`'s value, if it has one.
    pub fn get(&self, org: &str, plugin: &str) -> Option<Arc<T>> {
        self.read().get(&key(org, plugin)).cloned()
    }

    /// `org`'s `plugin`'s value, made by `make` if it has none (under the
    /// write lock, so `make` runs once per value).
    pub fn get_or_insert_with(&self, org: &str, plugin: &str, make: impl FnOnce() -> T) -> Arc<T> {
        if let Some(value) = self.get(org, plugin) {
            return value;
        }
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        (values.entry(key(org, plugin)))
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// Drops `org`'s `plugin`'s value and returns it (handles still held
    /// keep working on it).
    pub fn remove(&self, org: &str, plugin: &str) -> Option<Arc<T>> {
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        values.remove(&key(org, plugin))
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<(String, String), Arc<T>>> {
        self.values.read().unwrap_or_else(|p| p.into_inner())
    }
}

fn key(org: &str, plugin: &str) -> (String, String) {
    (org.to_owned(), plugin.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_org_and_plugin_made_once_until_removed() {
        let values = PerPlugin::<u32>::default();
        assert!(values.get("acme", "hello").is_none());
        let first = values.get_or_insert_with("acme", "hello", || 1);
        let again = values.get_or_insert_with("acme", "hello", || unreachable!("made once"));
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*values.get_or_insert_with("beta", "hello", || 2), 2);
        assert!(Arc::ptr_eq(
            &values.remove("acme", "hello").unwrap(),
            &first
        ));
        assert!(values.get("acme", "hello").is_none());
        assert_eq!(*values.get("beta", "hello").unwrap(), 2);
    }
}
