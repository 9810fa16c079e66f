//! Tenant routing: which plugin serves `/o/{org}/p/{plugin}/{rest…}`, and
//! the path the plugin sees (`/{rest…}` plus the query string).

use crate::extensions::Connector;
use crate::host_api::{LogRate, LogThrottle};
use crate::loader::LoadedPlugin;
use crate::metrics::{Metrics, PluginMetrics};
use crate::package::manifest::Permissions;
use crate::runtime::PluginIdentity;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A parsed tenant route.
#[derive(Debug, PartialEq, Eq)]
pub struct TenantPath<'a> {
    /// The org segment.
    pub org: &'a str,
    /// The plugin segment.
    pub plugin: &'a str,
    /// What the plugin sees: `/rest…` with the original query, if any.
    pub plugin_path: String,
}

impl<'a> TenantPath<'a> {
    /// Parses `/o/{org}/p/{plugin}[/rest…]`; `None` when the path is not a tenant route.
    pub fn parse(path: &'a str, query: Option<&str>) -> Option<Self> {
        let rest = path.strip_prefix("/o/")?;
        let (org, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("p/")?;
        let (plugin, rest) = match rest.split_once('/') {
            Some((plugin, rest)) => (plugin, rest),
            None => (rest, ""),
        };
        if org.is_empty() || plugin.is_empty() {
            return None;
        }
        let plugin_path = match query {
            Some(q) => format!("/{rest}?{q}"),
            None => format!("/{rest}"),
        };
        Some(Self {
            org,
            plugin,
            plugin_path,
        })
    }
}

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
}

/// The live table of active plugins with a component, per org: those with
/// an HTTP handler serve routes; every one can be called through its other
/// exports (hooks, integration). Readers never wait on each other.
pub struct RouteTable {
    orgs: RwLock<HashMap<String, HashMap<String, Arc<MountedPlugin>>>>,
    metrics: Arc<Metrics>,
    log_rate: LogRate,
}

/// Why a tenant route did not resolve.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No such org.
    Org,
    /// The org exists but has no such plugin.
    Plugin,
}

impl RouteTable {
    /// An empty table whose plugins record into `metrics` and may log at
    /// `log_rate` each.
    pub fn new(metrics: Arc<Metrics>, log_rate: LogRate) -> Self {
        Self {
            orgs: RwLock::default(),
            metrics,
            log_rate,
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
        self.orgs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(org.to_owned())
            .or_default()
            .insert(name.to_owned(), mounted.clone());
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
            log: Arc::new(LogThrottle::new(self.log_rate, identity.clone())),
            identity,
            plugin,
            metrics: Arc::new(self.metrics.plugin(org, name)),
            grants: Arc::new(grants),
            connector: tokio::sync::OnceCell::new(),
        }
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
        if let Some(plugins) = self
            .orgs
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(org)
        {
            plugins.remove(name);
        }
        self.metrics.forget_kv_usage(org, name);
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

#[cfg(test)]
mod tests {
    use super::TenantPath;

    #[test]
    fn splits_org_plugin_and_rest() {
        let p = TenantPath::parse("/o/demo/p/hello/echo/x", Some("a=1")).unwrap();
        assert_eq!(p.org, "demo");
        assert_eq!(p.plugin, "hello");
        assert_eq!(p.plugin_path, "/echo/x?a=1");
    }

    #[test]
    fn plugin_root_with_and_without_trailing_slash() {
        assert_eq!(
            TenantPath::parse("/o/demo/p/hello/", None)
                .unwrap()
                .plugin_path,
            "/"
        );
        assert_eq!(
            TenantPath::parse("/o/demo/p/hello", None)
                .unwrap()
                .plugin_path,
            "/"
        );
    }

    #[test]
    fn non_tenant_paths_do_not_parse() {
        for path in [
            "/",
            "/o/demo",
            "/o/demo/x/hello",
            "/o//p/hello",
            "/o/demo/p/",
            "/api/v1/orgs",
        ] {
            assert_eq!(TenantPath::parse(path, None), None, "{path}");
        }
    }
}
