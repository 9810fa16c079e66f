//! The `berth:plugin` interfaces a plugin may export besides
//! `wasi:http/incoming-handler`: `lifecycle`, `hooks`, `integration`, `ui`.
//!
//! Bindings are generated from `wit/` for a host-side world that exports
//! them all; [`ExportIndices`] records which of them a component really
//! exports, looked up once when it is loaded, so a call costs no name
//! lookups. The `Runtime` methods here make each call on a fresh instance
//! (see [`Runtime::call`]).

/// Host-side bindings of the exports berth calls, generated from `wit/`.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package berth:host-side;
    
            /// Every export berth calls outside HTTP routes.
            world extensions {
                export berth:plugin/lifecycle@0.1.0;
                export berth:plugin/hooks@0.1.0;
                export berth:plugin/integration@0.1.0;
                export berth:plugin/ui@0.1.0;
            }
        ",
        world: "berth:host-side/extensions",
        exports: { default: async },
    });
}

pub use generated::berth::plugin::types::PluginError;
pub use generated::exports::berth::plugin::hooks::{HookCall, HookOutcome};
pub use generated::exports::berth::plugin::integration::{Action, Connector, Event};
pub use generated::exports::berth::plugin::{hooks, integration, lifecycle, ui};

use crate::package::Kind;
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

/// Which entry points a component exports, resolved to export indices.
#[derive(Clone)]
pub struct ExportIndices {
    /// `wasi:http/incoming-handler` (route plugins).
    pub http: Option<ProxyIndices>,
    /// `berth:plugin/lifecycle`.
    pub lifecycle: Option<lifecycle::GuestIndices>,
    /// `berth:plugin/hooks`.
    pub hooks: Option<hooks::GuestIndices>,
    /// `berth:plugin/integration`.
    pub integration: Option<integration::GuestIndices>,
    /// `berth:plugin/ui`.
    pub ui: Option<ui::GuestIndices>,
}

impl ExportIndices {
    /// Looks up every known export of `pre`'s component.
    pub fn of<T>(pre: &InstancePre<T>) -> Self {
        Self {
            http: ProxyIndices::new(pre).ok(),
            lifecycle: lifecycle::GuestIndices::new(pre).ok(),
            hooks: hooks::GuestIndices::new(pre).ok(),
            integration: integration::GuestIndices::new(pre).ok(),
            ui: ui::GuestIndices::new(pre).ok(),
        }
    }

    /// The export each of `kinds` needs that the component lacks, by
    /// interface name (`ui` needs none: its contributions may be static).
    pub fn missing_for(&self, kinds: &[Kind]) -> Vec<&'static str> {
        kinds
            .iter()
            .filter_map(|kind| match kind {
                Kind::Routes if self.http.is_none() => Some("wasi:http/incoming-handler@0.2.x"),
                Kind::Hooks if self.hooks.is_none() => Some("berth:plugin/hooks@0.1.0"),
                Kind::Integration if self.integration.is_none() => {
                    Some("berth:plugin/integration@0.1.0")
                }
                _ => None,
            })
            .collect()
    }
}
