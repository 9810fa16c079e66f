//! What the API reads: installations, audit, key-value usage, usage over
//! the last hour, the dependency graph, integrations, and plugin
//! configuration.

use super::{Lifecycle, LifecycleError};
use crate::capabilities::config::{ConfigUpdate, ConfigView};
use crate::common::usage::MinuteUsage;
use crate::control::dependencies::GraphView;
use crate::control::integrations::check_config;
use crate::package::manifest::Permissions;
use crate::sandbox::active_plugins::MountedPlugin;
use berth_storage::{AuditEvent, Installation, KvUsage, unix_now};

impl Lifecycle {
    /// The org's dependency graph: installed plugins and their declared
    /// dependencies, resolved to the installed versions.
    pub fn dependency_graph(&self, org: &str) -> Result<GraphView, LifecycleError> {
        self.require_org(org)?;
        Ok(self.org_graph(org)?.view())
    }

    /// The installed plugin, loaded and ready for metadata calls (such as
    /// `integration.describe`) — not serving, and granted **nothing**: a
    /// plugin that was never activated has been granted nothing yet.
    /// `None` for an asset-only plugin.
    pub fn describable(
        &self,
        org: &str,
        name: &str,
    ) -> Result<Option<MountedPlugin>, LifecycleError> {
        let installation = self.require_installation(org, name)?;
        let Some(plugin) = self.load(&installation)? else {
            return Ok(None);
        };
        let nothing = Permissions::default();
        Ok(Some(self.live.routes.detached(org, name, plugin, nothing)))
    }

    /// What the org configured for a plugin (secrets by name only).
    pub fn plugin_config(&self, org: &str, name: &str) -> Result<ConfigView, LifecycleError> {
        self.require_installation(org, name)?;
        let stored = self.registry.read()?.plugin_config(org, name)?;
        Ok(ConfigView::of(name, stored))
    }

    /// Changes a plugin's settings and secrets in one transaction, audited
    /// by key name only. Plugins see the change on their next call. With a
    /// connector's config `schema`, the resulting configuration must
    /// satisfy it.
    pub fn set_plugin_config(
        &self,
        org: &str,
        name: &str,
        update: ConfigUpdate,
        schema: Option<&serde_json::Value>,
    ) -> Result<ConfigView, LifecycleError> {
        update.validate().map_err(LifecycleError::InvalidConfig)?;
        let writer = self.lock()?;
        self.require_installation(org, name)?;
        let detail = update.describe();
        let stored = self.commit(&writer, org, |txn| {
            let next = (update.clone())
                .apply(txn.plugin_config(org, name)?)
                .map_err(LifecycleError::InvalidConfig)?;
            if let Some(schema) = schema {
                check_config(schema, &next).map_err(LifecycleError::ConfigRejected)?;
            }
            txn.put_plugin_config(org, name, &next)?;
            txn.append_audit(org, unix_now(), "configure", Some(name), None, &detail)?;
            Ok::<_, LifecycleError>(next)
        })?;
        Ok(ConfigView::of(name, stored))
    }

    /// Every plugin installed in `org`.
    pub fn installations(&self, org: &str) -> Result<Vec<Installation>, LifecycleError> {
        self.require_org(org)?;
        Ok(self.registry.read()?.installations(org)?)
    }

    /// One installed plugin.
    pub fn installation(&self, org: &str, name: &str) -> Result<Installation, LifecycleError> {
        self.require_installation(org, name)
    }

    /// An installed plugin's usage over the last hour, on this node.
    pub fn plugin_usage(&self, org: &str, name: &str) -> Result<Vec<MinuteUsage>, LifecycleError> {
        self.require_installation(org, name)?;
        Ok(self.live.routes.usage(org, name))
    }

    /// How much key-value data an installed plugin keeps.
    pub fn kv_usage(&self, org: &str, name: &str) -> Result<KvUsage, LifecycleError> {
        self.require_installation(org, name)?;
        Ok(self.registry.read()?.kv_usage(org, name)?)
    }

    /// `org`'s audit log, oldest first, after sequence number `after`: at
    /// most `limit` events, only `plugin`'s if it is given.
    pub fn audit(
        &self,
        org: &str,
        after: u64,
        plugin: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LifecycleError> {
        self.require_org(org)?;
        let events = self.registry.read()?.audit(org, after)?;
        Ok(events
            .into_iter()
            .filter(|e| plugin.is_none_or(|p| e.plugin.as_deref() == Some(p)))
            .take(limit)
            .collect())
    }
}
