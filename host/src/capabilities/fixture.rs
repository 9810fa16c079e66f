//! For the capability units' in-process tests: a temporary registry with
//! one org, plugins installed in it as records, and the capabilities a
//! fresh instance of one of them would get — no server, no component.

use crate::capabilities::files::PluginFiles;
use crate::capabilities::log::{LogThrottle, PluginLogs};
use crate::capabilities::modules::Modules;
use crate::capabilities::{Grantee, HostServices, InstanceCapabilities};
use crate::common::admission::Admission;
use crate::common::ids::PluginIdentity;
use crate::common::metrics::Metrics;
use crate::common::settings::{Limits, LogRate};
use berth_storage::{Database, DependencyEdge, Installation, OrgRecord, PluginState, SecretKeys};
use std::sync::Arc;

/// The org every fixture plugin lives in.
pub const ORG: &str = "acme";

/// A temporary registry and the services instances reach.
pub struct Fixture {
    _dir: tempfile::TempDir,
    /// What instances reach, over the temporary registry.
    pub services: HostServices,
    metrics: Metrics,
    /// The plugins' log rings.
    pub logs: PluginLogs,
}

impl Fixture {
    /// An empty registry holding the org [`ORG`].
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let registry = Arc::new(
            Database::open(&dir.path().join("registry.redb"), SecretKeys::ephemeral()).unwrap(),
        );
        registry
            .write(|txn| txn.put_org(&OrgRecord::new(ORG, 0)))
            .unwrap();
        let services = HostServices {
            admission: Arc::new(Admission::new(Limits::default().tenant_defaults())),
            files: PluginFiles::new(dir.path().join("orgs")),
            outbound: Arc::default(),
            modules: Arc::new(Modules::new(registry.clone())),
            record_writer: Default::default(),
            registry,
        };
        Self {
            _dir: dir,
            services,
            metrics: Metrics::default(),
            logs: PluginLogs::new(Limits::default().log_ring()),
        }
    }

    /// Records `name` as installed (or active) in [`ORG`] with `manifest`,
    /// depending on `dependencies` (name, optional).
    pub fn install(&self, name: &str, manifest: serde_json::Value, active: bool, deps: &[&str]) {
        let installation = Installation {
            org: ORG.into(),
            name: name.into(),
            version: "1.0.0".into(),
            digest: "0".repeat(64),
            state: if active {
                PluginState::Active
            } else {
                PluginState::Installed
            },
            manifest,
            granted: serde_json::Value::Null,
            installed_at: 0,
            updated_at: 0,
            activated_at: None,
            signed_by: None,
            previous: None,
        };
        let edges: Vec<DependencyEdge> = (deps.iter())
            .map(|dep| DependencyEdge {
                name: (*dep).into(),
                range: "*".into(),
                optional: false,
            })
            .collect();
        (self.services.registry)
            .write(|txn| txn.put_installation(&installation, &edges))
            .unwrap();
    }

    /// The capabilities of a fresh instance of `plugin` granted `grants`
    /// (a `permissions` object).
    pub fn instance(&self, plugin: &str, grants: serde_json::Value) -> InstanceCapabilities {
        (self.try_instance(plugin, grants)).expect("capabilities for an instance")
    }

    /// The same, or why the grant failed.
    pub fn try_instance(
        &self,
        plugin: &str,
        grants: serde_json::Value,
    ) -> wasmtime::Result<InstanceCapabilities> {
        let identity = Arc::new(PluginIdentity {
            org: ORG.into(),
            plugin: plugin.into(),
        });
        let rate = LogRate {
            lines_per_second: 0,
            burst: 0,
        };
        self.services.grant(Grantee {
            grants: &Arc::new(serde_json::from_value(grants).expect("valid permissions")),
            metrics: &Arc::new(self.metrics.plugin(ORG, plugin)),
            log: &Arc::new(LogThrottle::new(
                rate,
                identity.clone(),
                self.logs.ring(ORG, plugin),
            )),
            identity: &identity,
        })
    }
}
