//! One instance's capabilities: the services every instance shares, what
//! a fresh instance of a mounted plugin is granted, and the linker wiring
//! each `berth:plugin` interface to its own unit's state.

use crate::capabilities::bindings::{v0_1_0, v0_2_0, wasi_config};
use crate::capabilities::config::ConfigState;
use crate::capabilities::dependencies::DependenciesState;
use crate::capabilities::files::PluginFiles;
use crate::capabilities::kv::KvState;
use crate::capabilities::log::{LogState, LogThrottle};
use crate::capabilities::modules::{Modules, ModulesState};
use crate::capabilities::network::{Outbound, OutboundHooks};
use crate::capabilities::records::{RecordWriterSlot, RecordsState};
use crate::capabilities::wasi::{self, LazyWasi};
use crate::common::admission::Admission;
use crate::common::ids::PluginIdentity;
use crate::common::metrics::PluginMetrics;
use crate::package::manifest::Permissions;
use berth_storage::Database;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// What plugin instances reach through their grants, shared by all of
/// them: data, directories, the network rules, the module registry.
#[derive(Clone)]
pub struct HostServices {
    /// The registry holding plugin data and configuration.
    pub registry: Arc<Database>,
    /// Per-org limits, among them the key-value quotas.
    pub admission: Arc<Admission>,
    /// Plugins' directories.
    pub files: PluginFiles,
    /// The operator's outbound HTTP rules, and each org's requests in flight.
    pub outbound: Arc<Outbound>,
    /// The module registry plugins extend.
    pub modules: Arc<Modules>,
    /// Where plugins' record writes go (bound by the serve layer).
    pub record_writer: RecordWriterSlot,
}

/// Who an instance serves and what its org granted: the per-plugin inputs
/// of its capabilities, fixed when the plugin is mounted.
pub struct Grantee<'a> {
    /// The org and plugin.
    pub identity: &'a Arc<PluginIdentity>,
    /// What the org granted.
    pub grants: &'a Arc<Permissions>,
    /// The plugin's metric handles.
    pub metrics: &'a Arc<PluginMetrics>,
    /// The plugin's log budget, shared by its instances.
    pub log: &'a Arc<LogThrottle>,
}

/// One instance's capabilities: the state of each unit, with the WASI
/// context (its preopened directories) and the outbound HTTP hooks.
pub struct InstanceCapabilities {
    /// `berth:plugin/kv`.
    pub kv: KvState,
    /// `berth:plugin/config`.
    pub config: ConfigState,
    /// `berth:plugin/log`.
    pub log: LogState,
    /// `berth:plugin/modules`.
    pub modules: ModulesState,
    /// `berth:plugin/dependencies`.
    pub dependencies: DependenciesState,
    /// `berth:plugin/records`.
    pub records: RecordsState,
    /// WASI, with the directories the `filesystem` grant opens (built on
    /// first use when there are none).
    pub wasi: LazyWasi,
    /// `wasi:http/outgoing-handler` under the `network` grant.
    pub network: OutboundHooks,
}

impl HostServices {
    /// The capabilities of a fresh instance of `grantee`.
    pub fn grant(&self, grantee: Grantee<'_>) -> wasmtime::Result<InstanceCapabilities> {
        let Grantee {
            identity,
            grants,
            metrics,
            log,
        } = grantee;
        let wasi = if grants.filesystem.is_empty() {
            LazyWasi::unbuilt()
        } else {
            let mut wasi = wasi::builder();
            (self.files).preopen(&mut wasi, &identity.org, &identity.plugin, grants)?;
            LazyWasi::built(wasi.build())
        };
        Ok(InstanceCapabilities {
            kv: KvState {
                grants: grants.clone(),
                identity: identity.clone(),
                registry: self.registry.clone(),
                admission: self.admission.clone(),
                metrics: metrics.clone(),
            },
            config: ConfigState {
                grants: grants.clone(),
                identity: identity.clone(),
                registry: self.registry.clone(),
            },
            log: LogState {
                identity: identity.clone(),
                throttle: log.clone(),
                metrics: metrics.clone(),
            },
            modules: ModulesState {
                grants: grants.clone(),
                identity: identity.clone(),
                modules: self.modules.clone(),
                activation: None,
            },
            dependencies: DependenciesState {
                identity: identity.clone(),
                registry: self.registry.clone(),
            },
            records: RecordsState {
                grants: grants.clone(),
                identity: identity.clone(),
                modules: self.modules.clone(),
                writer: self.record_writer.clone(),
                depth: 0,
            },
            wasi,
            network: OutboundHooks::new(grants.clone(), self.outbound.clone(), identity.clone()),
        })
    }
}

/// A store's data that carries an instance's capabilities.
pub trait HasCapabilities: Send + 'static {
    /// The instance's capabilities.
    fn capabilities(&mut self) -> &mut InstanceCapabilities;
}

/// Adds berth's host interfaces to `linker`, every released API version
/// side by side (and `wasi:config/store`), each implemented on its own
/// unit's state.
pub fn add_to_linker<T: HasCapabilities>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    macro_rules! link_version {
        ($version:ident) => {{
            use $version::{config, dependencies, kv, log, modules};
            log::add_to_linker::<T, HasSelf<LogState>>(linker, |t| &mut t.capabilities().log)?;
            kv::add_to_linker::<T, HasSelf<KvState>>(linker, |t| &mut t.capabilities().kv)?;
            config::add_to_linker::<T, HasSelf<ConfigState>>(linker, |t| {
                &mut t.capabilities().config
            })?;
            modules::add_to_linker::<T, HasSelf<ModulesState>>(linker, |t| {
                &mut t.capabilities().modules
            })?;
            dependencies::add_to_linker::<T, HasSelf<DependenciesState>>(linker, |t| {
                &mut t.capabilities().dependencies
            })?;
        }};
    }
    link_version!(v0_1_0);
    link_version!(v0_2_0);
    v0_2_0::records::add_to_linker::<T, HasSelf<RecordsState>>(linker, |t| {
        &mut t.capabilities().records
    })?;
    wasi_config::add_to_linker::<T, HasSelf<ConfigState>>(linker, |t| &mut t.capabilities().config)
}
