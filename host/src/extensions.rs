//! The `berth:plugin` interfaces a plugin may export besides
//! `wasi:http/incoming-handler`: `lifecycle`, `hooks`, `integration`, `ui`.
//!
//! Bindings are generated from `wit/` for a host-side world that exports
//! them all; [`ExportIndices`] records which of them a component really
//! exports, looked up once when it is loaded, so a call costs no name
//! lookups. The `Runtime` methods here make each call on a fresh instance
//! (see [`Runtime::call`]).

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

pub use self::berth::plugin::types::PluginError;
pub use exports::berth::plugin::hooks::{HookCall, HookOutcome};
pub use exports::berth::plugin::integration::{Action, Connector, Event};
use exports::berth::plugin::{hooks, integration, lifecycle, ui};

use crate::host_api::Activation;
use crate::modules::contributions::Contributions;
use crate::package::Kind;
use crate::router::MountedPlugin;
use crate::runtime::{GuestCall, InvokeError, PluginState, Runtime};
use crate::ui::{Page, SlotComponent, UiContributions};
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};
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

/// Why a call into one of these exports failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportCallError {
    /// The component does not export the interface.
    #[error("the plugin does not export `{0}`")]
    NotExported(&'static str),
    /// The instance trapped, ran out of time, or could not be set up.
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The plugin returned an error.
    #[error("{}: {}", .0.code, .0.message)]
    Plugin(PluginError),
}

impl Runtime {
    /// Runs the plugin's `lifecycle.on-activate` with `activation` in its
    /// store and returns what it registered. A plugin without the export
    /// registers nothing.
    pub async fn on_activate(
        &self,
        mounted: &MountedPlugin,
        activation: Activation,
    ) -> Result<Contributions, ExportCallError> {
        let Some(indices) = mounted.plugin.exports.lifecycle.clone() else {
            return Ok(Contributions::default());
        };
        let (outcome, activation) = self
            .call(
                mounted,
                |state| state.activation = Some(activation),
                move |store, instance| {
                    Box::pin(async move {
                        let guest = indices.load(&mut *store, &instance)?;
                        let outcome = guest.call_on_activate(&mut *store).await?;
                        Ok((outcome, store.data_mut().activation.take()))
                    })
                },
            )
            .await?;
        outcome.map_err(ExportCallError::Plugin)?;
        Ok(activation.map(|a| a.contributions).unwrap_or_default())
    }

    /// Calls the plugin's `hooks.handle`.
    pub async fn handle_hook(
        &self,
        mounted: &MountedPlugin,
        call: HookCall,
    ) -> Result<HookOutcome, ExportCallError> {
        let indices = exported(&mounted.plugin.exports.hooks, "berth:plugin/hooks")?;
        self.call_guest(mounted, indices, move |guest: hooks::Guest, store| {
            Box::pin(async move { guest.call_handle(store, &call).await })
        })
        .await
    }

    /// Calls the plugin's `integration.describe`.
    pub async fn describe(&self, mounted: &MountedPlugin) -> Result<Connector, ExportCallError> {
        let indices = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        self.call_guest(mounted, indices, |guest: integration::Guest, store| {
            Box::pin(async move { guest.call_describe(store).await.map(Ok) })
        })
        .await
    }

    /// Calls the plugin's `integration.invoke` with `action` and its JSON `input`.
    pub async fn invoke_action(
        &self,
        mounted: &MountedPlugin,
        action: String,
        input: String,
    ) -> Result<String, ExportCallError> {
        let indices = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        self.call_guest(mounted, indices, move |guest: integration::Guest, store| {
            Box::pin(async move { guest.call_invoke(store, &action, &input).await })
        })
        .await
    }

    /// Delivers `event` to the plugin's `integration.on-event`.
    pub async fn deliver_event(
        &self,
        mounted: &MountedPlugin,
        event: Event,
    ) -> Result<(), ExportCallError> {
        let indices = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        self.call_guest(mounted, indices, move |guest: integration::Guest, store| {
            Box::pin(async move { guest.call_on_event(store, &event).await })
        })
        .await
    }

    /// The plugin's `ui.contributions()`, if it exports `ui` (else none).
    pub async fn ui_contributions(
        &self,
        mounted: &MountedPlugin,
    ) -> Result<UiContributions, ExportCallError> {
        let Some(indices) = mounted.plugin.exports.ui.clone() else {
            return Ok(UiContributions::default());
        };
        let found = self
            .call_guest(mounted, indices, |guest: ui::Guest, store| {
                Box::pin(async move { guest.call_contributions(store).await.map(Ok) })
            })
            .await?;
        Ok(UiContributions {
            pages: found
                .pages
                .into_iter()
                .map(|p| Page {
                    route: p.route,
                    title: p.title,
                    entry: p.entry,
                })
                .collect(),
            components: found
                .components
                .into_iter()
                .map(|c| SlotComponent {
                    slot: c.slot,
                    name: c.name,
                    entry: c.entry,
                    data_route: c.data_route,
                })
                .collect(),
            theme: found.theme.into_iter().map(|t| (t.name, t.value)).collect(),
        })
    }

    /// Loads the interface `indices` name in a fresh instance and runs
    /// `call` on it; a plugin error becomes [`ExportCallError::Plugin`].
    async fn call_guest<I: GuestLoader, T: Send + 'static>(
        &self,
        mounted: &MountedPlugin,
        indices: I,
        call: impl for<'a> FnOnce(
            I::Guest,
            &'a mut Store<PluginState>,
        ) -> GuestCall<'a, Result<T, PluginError>>
        + Send
        + 'static,
    ) -> Result<T, ExportCallError> {
        let outcome = self
            .call(
                mounted,
                |_| {},
                move |store, instance| {
                    Box::pin(async move {
                        let guest = indices.load_guest(&mut *store, &instance)?;
                        call(guest, store).await
                    })
                },
            )
            .await?;
        outcome.map_err(ExportCallError::Plugin)
    }
}

/// The exported interface an integration plugin needs.
const INTEGRATION: &str = "berth:plugin/integration";

/// Generated export indices that load their interface from an instance.
trait GuestLoader: Send + 'static {
    /// The loaded interface, ready to call.
    type Guest: Send;

    fn load_guest(
        &self,
        store: &mut Store<PluginState>,
        instance: &Instance,
    ) -> wasmtime::Result<Self::Guest>;
}

/// Implements [`GuestLoader`] for the generated indices of each interface.
macro_rules! guest_loaders {
    ($($interface:ident),*) => {$(
        impl GuestLoader for $interface::GuestIndices {
            type Guest = $interface::Guest;

            fn load_guest(
                &self,
                store: &mut Store<PluginState>,
                instance: &Instance,
            ) -> wasmtime::Result<$interface::Guest> {
                self.load(store, instance)
            }
        }
    )*};
}

guest_loaders!(hooks, integration, ui);

/// The indices of an export, or why it cannot be called.
fn exported<I: Clone>(indices: &Option<I>, interface: &'static str) -> Result<I, ExportCallError> {
    indices
        .clone()
        .ok_or(ExportCallError::NotExported(interface))
}
