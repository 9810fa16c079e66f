//! Keeping this node in step with a shared registry (cluster mode): package
//! ZIPs go into the registry with the step that references them, a node
//! that lacks a package fetches it from there, and what other nodes commit
//! is applied to what this node serves ([`Lifecycle::sync_org`]).
//!
//! What this node serves is remembered per plugin as a [`Served`] record,
//! set wherever a plugin starts or stops serving, so a sync compares it
//! with the registry and changes only what differs.

use super::{Lifecycle, LifecycleError, parse_digest};
use crate::package::Package;
use berth_storage::{Installation, OrgRecord, PluginState, StorageError, WriteTxn};
use std::collections::HashMap;

/// Which version of a plugin serves, with which grant: what a sync
/// compares with the registry.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Served {
    digest: String,
    granted: serde_json::Value,
    activated_at: Option<u64>,
}

impl Served {
    /// What serving `installation` means.
    pub(super) fn of(installation: &Installation) -> Self {
        Self {
            digest: installation.digest.clone(),
            granted: installation.granted.clone(),
            activated_at: installation.activated_at,
        }
    }
}

/// What this node serves, per (org, plugin).
pub(super) type ServedPlugins = std::sync::Mutex<HashMap<(String, String), Served>>;

impl Lifecycle {
    /// Keeps package `digest_hex`'s ZIP in a shared registry (nothing on a
    /// lone node), read from this node's package store; call it in the
    /// transaction that references the package.
    pub(super) fn share_package(
        &self,
        txn: &mut WriteTxn<'_>,
        digest_hex: &str,
    ) -> Result<(), LifecycleError> {
        let blob = self.packages.blob_path(&parse_digest(digest_hex)?);
        txn.share_blob(digest_hex, || {
            std::fs::read(&blob).map_err(StorageError::io("read", &blob))
        })?;
        Ok(())
    }

    /// Makes sure this node holds package `digest_hex`'s files: a package
    /// another node installed is fetched from the shared registry and
    /// extracted (checked as at install, and against its digest).
    pub(super) fn ensure_package(&self, digest_hex: &str) -> Result<(), LifecycleError> {
        let digest = parse_digest(digest_hex)?;
        if self.packages.files_dir(&digest).is_dir() || !self.registry.is_shared() {
            return Ok(());
        }
        let zip = self.registry.read()?.blob(digest_hex)?.ok_or_else(|| {
            StorageError::Corrupt(format!("package {digest_hex} is not in the registry"))
        })?;
        let package = Package::parse(&zip, &self.limits)?;
        if package.digest != digest {
            return Err(
                StorageError::Corrupt(format!("package {digest_hex} has another digest")).into(),
            );
        }
        self.store_files(&package, &zip)?;
        Ok(())
    }

    /// Applies an org's stored settings to what this node enforces: its
    /// traffic limits, tenant key and module visibility.
    pub(super) fn apply_org_settings(&self, org: &OrgRecord) -> Result<(), LifecycleError> {
        let admission = self.live.front_door.admission();
        self.live.routes.add_org(&org.name);
        admission.set_override(&org.name, super::stored_limits(org, admission.defaults())?);
        let keys = &self.live.tenant_keys;
        keys.set(&org.name, super::stored_tenant_key(org)?);
        keys.set_modules_public(&org.name, org.modules_public);
        Ok(())
    }

    /// Makes what this node serves of `org` match the registry, after
    /// another node changed it: settings applied, plugins no longer active
    /// (or changed) stopped, active ones not serving started.
    pub fn sync_org(&self, org: &str) -> Result<(), LifecycleError> {
        let _node = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let read = self.registry.read()?;
        let Some(record) = read.org(org)? else {
            return Ok(());
        };
        let wanted: HashMap<String, Served> = (read.installations(org)?.iter())
            .filter(|i| i.state == PluginState::Active)
            .map(|i| (i.name.clone(), Served::of(i)))
            .collect();
        drop(read);
        self.apply_org_settings(&record)?;
        for (name, served) in self.served_in(org) {
            if wanted.get(&name) != Some(&served) {
                self.stop_serving(org, &name);
                if !wanted.contains_key(&name) {
                    self.live.routes.forget(org, &name);
                }
            }
        }
        self.resume_org(org)
    }

    /// Syncs every org in the registry (after connecting to it again);
    /// the first failure, once every org was tried. A plugin that cannot
    /// start is not a failure here: it is logged, as at start-up.
    pub fn sync_all(&self) -> Result<(), LifecycleError> {
        let orgs = self.registry.read()?.orgs()?;
        let mut first_failure = None;
        for org in orgs {
            if let Err(e) = self.sync_org(&org.name) {
                tracing::error!(org = org.name, "not in step with the registry: {e}");
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// What this node serves of `org`, by plugin.
    fn served_in(&self, org: &str) -> Vec<(String, Served)> {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        (served.iter())
            .filter(|((o, _), _)| o == org)
            .map(|((_, name), served)| (name.clone(), served.clone()))
            .collect()
    }

    /// Whether this node serves `installation` as the registry has it.
    pub(super) fn serves(&self, installation: &Installation) -> bool {
        let served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        let key = (installation.org.clone(), installation.name.clone());
        served.get(&key) == Some(&Served::of(installation))
    }
}
