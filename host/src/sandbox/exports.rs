//! The `berth:plugin` interfaces a plugin may export besides
//! `wasi:http/incoming-handler`: `lifecycle`, `hooks`, `integration`, `ui`,
//! in whichever released API version the component was built against.
//!
//! The Rust types are generated from the newest `wit/`. Every released
//! version of these interfaces has the same shapes (0.2.0 only added
//! `lifecycle.on-deactivate`), and component types are checked by
//! structure, so one set of types calls every version: [`ExportIndices`]
//! reads the component's version from its import and export names, looks
//! each function up once under that version's names, and a call checks its
//! type and runs it on a fresh instance (see [`Runtime::call`]).
//!
//! [`Runtime::call`]: crate::sandbox::runtime::Runtime::call

/// Types of the exports berth calls, generated from the newest `wit/`.
/// (Its generated `Guest` callers go unused: they name one version's
/// exports, and berth calls every version's.)
#[allow(missing_docs, dead_code)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package berth:host-side;

            /// Every export berth calls outside HTTP routes.
            world extensions {
                export berth:plugin/lifecycle@0.2.0;
                export berth:plugin/hooks@0.2.0;
                export berth:plugin/integration@0.2.0;
                export berth:plugin/ui@0.2.0;
            }
        ",
        world: "berth:host-side/extensions",
        exports: { default: async },
    });
}

pub use generated::berth::plugin::types::PluginError;
pub use generated::exports::berth::plugin::hooks::{HookCall, HookOutcome};
pub use generated::exports::berth::plugin::integration::{Action, Connector, Event};
pub use generated::exports::berth::plugin::ui::UiContributions;

use crate::package::api_version::versions_named;
use crate::package::{ApiVersion, Kind};
use crate::sandbox::instance_state::InstanceState;
use std::marker::PhantomData;
use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentNamedList, Instance, InstancePre, Lift, Lower,
};
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

/// Which `berth:plugin` version a component was built against, read from
/// its import and export names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuiltAgainst {
    /// It names no `berth:plugin` interface (a plain `wasi:http` plugin):
    /// it works with every version.
    Any,
    /// It names exactly this released version.
    Version(ApiVersion),
    /// It names no released version, or several: as written.
    Unknown(Vec<String>),
}

impl BuiltAgainst {
    /// Reads `component`'s version.
    fn of(component: &Component, engine: &wasmtime::Engine) -> Self {
        let ty = component.component_type();
        let imports = ty.imports(engine).map(|(name, _)| name);
        let exports = ty.exports(engine).map(|(name, _)| name);
        let named: Vec<String> = versions_named(imports.chain(exports)).into_iter().collect();
        match named.as_slice() {
            [] => BuiltAgainst::Any,
            [one] => match ApiVersion::parse(one) {
                Some(version) => BuiltAgainst::Version(version),
                None => BuiltAgainst::Unknown(named),
            },
            _ => BuiltAgainst::Unknown(named),
        }
    }

    /// Whether a manifest declaring `api` describes this component.
    pub fn matches(&self, api: ApiVersion) -> bool {
        match self {
            BuiltAgainst::Any => true,
            BuiltAgainst::Version(version) => *version == api,
            BuiltAgainst::Unknown(_) => false,
        }
    }

    /// The version whose export names to look up (the newest for a
    /// component naming none: it exports nothing of berth's anyway).
    fn lookup_version(&self) -> Option<ApiVersion> {
        match self {
            BuiltAgainst::Any => Some(ApiVersion::NEWEST),
            BuiltAgainst::Version(version) => Some(*version),
            BuiltAgainst::Unknown(_) => None,
        }
    }
}

/// One exported function with parameters `P` and results `R`, found by
/// name in the component's API version.
pub struct ExportFunc<P, R> {
    index: ComponentExportIndex,
    signature: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for ExportFunc<P, R> {
    fn clone(&self) -> Self {
        Self {
            index: self.index,
            signature: PhantomData,
        }
    }
}

impl<P, R> ExportFunc<P, R>
where
    P: ComponentNamedList + Lower + Send + Sync + 'static,
    R: ComponentNamedList + Lift + Send + Sync + 'static,
{
    /// `interface`'s function `func` in `component`, if it exports both
    /// in `version`.
    fn find(
        component: &Component,
        version: Option<ApiVersion>,
        interface: &str,
        func: &str,
    ) -> Option<Self> {
        let instance = component.get_export_index(None, version?.interface(interface).as_str())?;
        let index = component.get_export_index(Some(&instance), func)?;
        Some(Self {
            index,
            signature: PhantomData,
        })
    }

    /// Checks the function's type and calls it in `instance`.
    pub async fn call(
        &self,
        store: &mut Store<InstanceState>,
        instance: &Instance,
        params: P,
    ) -> wasmtime::Result<R> {
        let func = instance.get_typed_func::<P, R>(&mut *store, self.index)?;
        func.call_async(&mut *store, params).await
    }
}

/// A function returning `result<_, plugin-error>`, taking no arguments.
pub type Notification = ExportFunc<(), (Result<(), PluginError>,)>;

/// `berth:plugin/hooks`' `handle`.
pub type HandleHook = ExportFunc<(HookCall,), (Result<HookOutcome, PluginError>,)>;

/// `berth:plugin/lifecycle`'s functions.
#[derive(Clone)]
pub struct LifecycleExports {
    /// `on-activate`.
    pub on_activate: Notification,
    /// `on-deactivate` (from 0.2.0).
    pub on_deactivate: Option<Notification>,
}

/// `berth:plugin/integration`'s functions.
#[derive(Clone)]
pub struct IntegrationExports {
    /// `describe`.
    pub describe: ExportFunc<(), (Connector,)>,
    /// `invoke`.
    pub invoke: ExportFunc<(String, String), (Result<String, PluginError>,)>,
    /// `on-event`.
    pub on_event: ExportFunc<(Event,), (Result<(), PluginError>,)>,
}

/// Which entry points a component exports, resolved to export indices.
#[derive(Clone)]
pub struct ExportIndices {
    /// The `berth:plugin` version it was built against.
    pub built_against: BuiltAgainst,
    /// `wasi:http/incoming-handler` (route plugins).
    pub http: Option<ProxyIndices>,
    /// `berth:plugin/lifecycle`.
    pub lifecycle: Option<LifecycleExports>,
    /// `berth:plugin/hooks`' `handle`.
    pub hooks: Option<HandleHook>,
    /// `berth:plugin/integration`.
    pub integration: Option<IntegrationExports>,
    /// `berth:plugin/ui`'s `contributions`.
    pub ui: Option<ExportFunc<(), (UiContributions,)>>,
}

impl ExportIndices {
    /// Looks up every known export of `pre`'s component, in the API
    /// version it was built against.
    pub fn of<T>(pre: &InstancePre<T>) -> Self {
        let component = pre.component();
        let built_against = BuiltAgainst::of(component, pre.engine());
        let version = built_against.lookup_version();
        let lifecycle =
            ExportFunc::find(component, version, "lifecycle", "on-activate").map(|on_activate| {
                LifecycleExports {
                    on_activate,
                    on_deactivate: ExportFunc::find(
                        component,
                        version,
                        "lifecycle",
                        "on-deactivate",
                    ),
                }
            });
        let integration = (|| {
            Some(IntegrationExports {
                describe: ExportFunc::find(component, version, "integration", "describe")?,
                invoke: ExportFunc::find(component, version, "integration", "invoke")?,
                on_event: ExportFunc::find(component, version, "integration", "on-event")?,
            })
        })();
        Self {
            http: ProxyIndices::new(pre).ok(),
            lifecycle,
            hooks: ExportFunc::find(component, version, "hooks", "handle"),
            integration,
            ui: ExportFunc::find(component, version, "ui", "contributions"),
            built_against,
        }
    }

    /// The export each of `kinds` needs that the component lacks, by
    /// interface name (`ui` needs none: its contributions may be static).
    pub fn missing_for(&self, kinds: &[Kind]) -> Vec<&'static str> {
        kinds
            .iter()
            .filter_map(|kind| match kind {
                Kind::Routes if self.http.is_none() => Some("wasi:http/incoming-handler@0.2.x"),
                Kind::Hooks if self.hooks.is_none() => Some("berth:plugin/hooks"),
                Kind::Integration if self.integration.is_none() => Some("berth:plugin/integration"),
                _ => None,
            })
            .collect()
    }
}
