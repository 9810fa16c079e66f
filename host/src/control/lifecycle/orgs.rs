//! Orgs: creating them, their traffic limits, tenant keys and public
//! modules, and bringing an org's active plugins back at start-up.

use super::{Lifecycle, LifecycleError};
use crate::common::admission::TenantLimits;
use crate::common::ids;
use berth_storage::{Digest, OrgRecord, StorageError, unix_now};

/// The limits an org's stored override sets (on `defaults`), if it has one.
pub(super) fn stored_limits(
    org: &OrgRecord,
    defaults: TenantLimits,
) -> Result<Option<TenantLimits>, StorageError> {
    org.limits
        .as_ref()
        .map(|overrides| defaults.overlaid(overrides))
        .transpose()
        .map_err(|e| StorageError::Corrupt(format!("limits of org {}: {e}", org.name)))
}

/// The hash of an org's stored tenant key, if it has one.
pub(super) fn stored_tenant_key(org: &OrgRecord) -> Result<Option<Digest>, StorageError> {
    org.tenant_key_sha256
        .as_deref()
        .map(|hex| {
            Digest::from_hex(hex)
                .ok_or_else(|| StorageError::Corrupt(format!("tenant key of org {}", org.name)))
        })
        .transpose()
}

impl Lifecycle {
    /// Makes `org`'s active plugins that are not serving serve (after a
    /// start, or a sync with the registry), dependencies first so that
    /// dependents can extend the modules they register. A plugin whose
    /// required dependency could not start does not start either: no
    /// plugin serves on a dependency that is not serving.
    pub(super) fn resume_org(&self, org: &str) -> Result<(), LifecycleError> {
        let graph = self.org_graph(org)?;
        let mut serving = std::collections::HashSet::new();
        for name in graph.dependency_order() {
            let node = &graph.nodes[&name];
            if !node.active {
                continue;
            }
            let installation = self.require_installation(org, &name)?;
            if self.serves(&installation) {
                serving.insert(name);
                continue;
            }
            let down: Vec<&str> = (node.requires.iter())
                .filter(|(dependency, requirement)| {
                    !requirement.optional && !serving.contains(dependency.as_str())
                })
                .map(|(dependency, _)| dependency.as_str())
                .collect();
            if !down.is_empty() {
                tracing::error!(
                    org,
                    plugin = name,
                    "active plugin is not serving: its required dependencies are not serving: {}",
                    down.join(", ")
                );
                continue;
            }
            let resumed = self.prepare_files(&installation).and_then(|()| {
                let plugin = self.load(&installation)?;
                for starting in self.start(vec![(installation, plugin)])? {
                    self.serve(starting);
                }
                Ok(())
            });
            match resumed {
                Ok(()) => {
                    serving.insert(name);
                }
                Err(e) => tracing::error!(
                    org,
                    plugin = name,
                    "active plugin could not be started and is not serving: {e}"
                ),
            }
        }
        self.live.modules.set_order(org, graph.dependency_order());
        Ok(())
    }

    /// Applies `change` to `org`'s record and audits `action` in one transaction.
    pub(super) fn change_org(
        &self,
        org: &str,
        action: &str,
        detail: &str,
        mut change: impl FnMut(&mut OrgRecord) -> Result<(), LifecycleError>,
    ) -> Result<(), LifecycleError> {
        let writer = self.lock()?;
        self.commit(&writer, org, |txn| {
            let mut record = txn
                .org(org)?
                .ok_or_else(|| LifecycleError::OrgNotFound(org.to_owned()))?;
            change(&mut record)?;
            txn.put_org(&record)?;
            txn.append_audit(org, unix_now(), action, None, None, detail)?;
            Ok(())
        })
    }

    pub(super) fn org_record(&self, org: &str) -> Result<OrgRecord, LifecycleError> {
        self.registry
            .read()?
            .org(org)?
            .ok_or_else(|| LifecycleError::OrgNotFound(org.to_owned()))
    }

    /// Creates an org.
    pub fn create_org(&self, name: &str) -> Result<OrgRecord, LifecycleError> {
        ids::validate(name).map_err(LifecycleError::InvalidName)?;
        let writer = self.lock()?;
        let org = OrgRecord::new(name.to_owned(), unix_now());
        self.commit(&writer, name, |txn| {
            if txn.org(name)?.is_some() {
                return Err(LifecycleError::OrgExists(name.to_owned()));
            }
            txn.put_org(&org)?;
            txn.append_audit(name, org.created_at, "org.create", None, None, "")?;
            Ok(())
        })?;
        self.live.routes.add_org(name);
        Ok(org)
    }

    /// Every org.
    pub fn orgs(&self) -> Result<Vec<OrgRecord>, LifecycleError> {
        Ok(self.registry.read()?.orgs()?)
    }

    /// The limits in force for `org`.
    pub fn org_limits(&self, org: &str) -> Result<TenantLimits, LifecycleError> {
        self.require_org(org)?;
        Ok(self.live.front_door.admission().limits(org))
    }

    /// Overrides `org`'s limits with the fields of `overrides`, a JSON
    /// object (fields it leaves out keep the defaults; `None` restores the
    /// defaults); returns the limits now in force.
    pub fn set_org_limits(
        &self,
        org: &str,
        overrides: Option<serde_json::Value>,
    ) -> Result<TenantLimits, LifecycleError> {
        let limits = overrides
            .as_ref()
            .map(|given| self.live.front_door.admission().defaults().overlaid(given))
            .transpose()
            .map_err(|e| LifecycleError::InvalidLimits(e.to_string()))?;
        let detail = overrides
            .as_ref()
            .map_or("defaults".to_owned(), ToString::to_string);
        self.change_org(org, "limits.set", &detail, |record| {
            record.limits = overrides.clone();
            Ok(())
        })?;
        let admission = self.live.front_door.admission();
        admission.set_override(org, limits);
        Ok(admission.limits(org))
    }

    /// Requires `hash`'s key on `org`'s plugin routes (`None`: no key).
    pub fn set_tenant_key(&self, org: &str, hash: Option<Digest>) -> Result<(), LifecycleError> {
        let action = if hash.is_some() {
            "tenant-key.set"
        } else {
            "tenant-key.remove"
        };
        self.change_org(org, action, "", |record| {
            record.tenant_key_sha256 = hash.map(|digest| digest.to_hex());
            Ok(())
        })?;
        self.live.tenant_keys.set(org, hash);
        Ok(())
    }

    /// Makes `org`'s module records public (or not) to callers without
    /// credentials.
    pub fn set_modules_public(&self, org: &str, public: bool) -> Result<(), LifecycleError> {
        let detail = if public { "on" } else { "off" };
        self.change_org(org, "modules-public", detail, |record| {
            record.modules_public = public;
            Ok(())
        })?;
        self.live.tenant_keys.set_modules_public(org, public);
        Ok(())
    }
}
