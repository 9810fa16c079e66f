//! The live table of each org's active plugins, mounted with the identity,
//! grants, metrics and log budget their instances carry.

use crate::capabilities::log::{LogThrottle, PluginLogs};
use crate::common::ids::PluginIdentity;
use crate::common::metrics::{Metrics, PluginMetrics};
use crate::common::settings::LogRate;
use crate::common::usage::MinuteUsage;
use crate::package::manifest::Permissions;
use crate::sandbox::exports::{BuiltAgainst, Connector};
use crate::sandbox::loader::LoadedPlugin;
use crate::sandbox::probation::Probation;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// A plugin registered for an org, with the identity its stores carry.
pub struct MountedPlugin {
    /// Who it serves.
    pub identity: Arc<PluginIdentity>,
    /// The loaded component.
    pub plugin: Arc<LoadedPlugin>,
    /// Its metric handles.
    pub metrics: Arc<PluginMetrics>,
    /// What the org granted it (route prefixes, storage access, …).
    pub grants: Arc<Permissions>,
    /// Its integration connector's `describe` answer, asked once per
    /// mount: every activation, upgrade or new grant mounts afresh.
    pub connector: tokio::sync::OnceCell<Connector>,
    /// Its log budget, shared by every instance of this mount.
    pub log: Arc<LogThrottle>,
    /// Set when this mount is an upgrade on probation.
    pub probation: OnceLock<Probation>,
}

impl MountedPlugin {
    /// Records a plugin request answered with `status` after `elapsed`, in
    /// its metrics and, while it is on probation, its probation — unless
    /// `by_the_host` (the plugin never ran: no instance could be set up),
    /// which is not the plugin's failure.
    pub fn responded(&self, status: u16, elapsed: Duration, by_the_host: bool) {
        self.metrics.responded(status, elapsed);
        if let Some(probation) = self.probation.get().filter(|_| !by_the_host) {
            probation.record(status >= 500);
        }
    }
}

/// The live table of active plugins with a component, per org: those with
/// an HTTP handler serve routes; every one can be called through its other
/// exports (hooks, integration). Readers never wait on each other.
pub struct ActivePlugins {
    orgs: RwLock<HashMap<String, HashMap<String, Arc<MountedPlugin>>>>,
    metrics: Arc<Metrics>,
    log_rate: LogRate,
    logs: Arc<PluginLogs>,
}

/// Why a tenant route did not resolve.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No such org.
    Org,
    /// The org exists but has no such plugin.
    Plugin,
}

impl ActivePlugins {
    /// An empty table whose plugins record into `metrics` and may log at
    /// `log_rate` each, into their rings in `logs`.
    pub fn new(metrics: Arc<Metrics>, log_rate: LogRate, logs: Arc<PluginLogs>) -> Self {
        Self {
            orgs: RwLock::default(),
            metrics,
            log_rate,
            logs,
        }
    }

    /// Makes `plugin` active for `org` as `name` with the powers in
    /// `grants` — answering under `/o/{org}/p/{name}/` (paths under its
    /// granted route prefixes only) if it has an HTTP handler — replacing
    /// any previous one. Returns the mounted plugin.
    pub fn mount(
        &self,
        org: &str,
        name: &str,
        plugin: Arc<LoadedPlugin>,
        grants: Permissions,
    ) -> Arc<MountedPlugin> {
        let mounted = Arc::new(self.detached(org, name, plugin, grants));
        let replaced = self
            .orgs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(org.to_owned())
            .or_default()
            .insert(name.to_owned(), mounted.clone());
        self.count_api(&mounted, 1);
        if let Some(replaced) = replaced {
            self.count_api(&replaced, -1);
        }
        mounted
    }

    /// A mounted plugin, ready to call but not (yet) in the table: what an
    /// activation runs `on-activate` on before it commits.
    pub fn detached(
        &self,
        org: &str,
        name: &str,
        plugin: Arc<LoadedPlugin>,
        grants: Permissions,
    ) -> MountedPlugin {
        let identity = Arc::new(PluginIdentity {
            org: org.to_owned(),
            plugin: name.to_owned(),
        });
        MountedPlugin {
            log: Arc::new(LogThrottle::new(
                self.log_rate,
                identity.clone(),
                self.logs.ring(org, name),
            )),
            identity,
            plugin,
            metrics: Arc::new(self.metrics.plugin(org, name)),
            grants: Arc::new(grants),
            connector: tokio::sync::OnceCell::new(),
            probation: OnceLock::new(),
        }
    }

    /// Every org's plugins' log rings.
    pub fn logs(&self) -> &PluginLogs {
        &self.logs
    }

    /// `org`'s plugin `name`'s usage over the last hour on this node
    /// (zeros if it served nothing here).
    pub fn usage(&self, org: &str, name: &str) -> Vec<MinuteUsage> {
        let series = self.metrics.usage(org, name).unwrap_or_default();
        series.last_hour()
    }

    /// Forgets what memory keeps of `org`'s uninstalled plugin `name`:
    /// its log ring and its usage series.
    pub fn forget(&self, org: &str, name: &str) {
        self.logs.forget(org, name);
        self.metrics.forget_usage(org, name);
    }

    /// Whether `org` exists.
    pub fn has_org(&self, org: &str) -> bool {
        self.orgs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(org)
    }

    /// Makes `org` known, so its paths answer `plugin_not_found` rather
    /// than `org_not_found` while it has no active plugins.
    pub fn add_org(&self, org: &str) {
        self.orgs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(org.to_owned())
            .or_default();
    }

    /// Stops serving `org`/`name` (and exporting its key-value usage);
    /// requests already running finish.
    pub fn unmount(&self, org: &str, name: &str) {
        let removed = self
            .orgs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(org)
            .and_then(|plugins| plugins.remove(name));
        if let Some(removed) = removed {
            self.count_api(&removed, -1);
        }
        self.metrics.forget_kv_usage(org, name);
    }

    /// Moves `berth_plugins_by_api` by `change` for `mounted`'s API version.
    fn count_api(&self, mounted: &MountedPlugin, change: i64) {
        let api = match &mounted.plugin.exports.built_against {
            BuiltAgainst::Version(version) => version.as_str(),
            BuiltAgainst::Any => "none",
            BuiltAgainst::Unknown(_) => "unknown",
        };
        self.metrics.plugins_by_api(api, change);
    }

    /// `org`'s active plugins with a component, by name.
    pub fn active(&self, org: &str) -> Vec<Arc<MountedPlugin>> {
        let orgs = self
            .orgs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut plugins: Vec<Arc<MountedPlugin>> = orgs
            .get(org)
            .map(|plugins| plugins.values().cloned().collect())
            .unwrap_or_default();
        plugins.sort_by(|a, b| a.identity.plugin.cmp(&b.identity.plugin));
        plugins
    }

    /// The plugin serving `org`/`name`.
    pub fn resolve(&self, org: &str, name: &str) -> Result<Arc<MountedPlugin>, Miss> {
        let orgs = self
            .orgs
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let plugins = orgs.get(org).ok_or(Miss::Org)?;
        plugins.get(name).cloned().ok_or(Miss::Plugin)
    }
}
