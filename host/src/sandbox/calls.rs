//! Calls into the `berth:plugin` exports other than HTTP (`lifecycle`,
//! `hooks`, `integration`, `ui`), each on a fresh instance under the same
//! limits as a request (see [`Runtime::call`]).

use crate::capabilities::HasCapabilities;
use crate::capabilities::modules::Activation;
use crate::capabilities::modules::contributions::Contributions;
use crate::package::ui::{Page, SlotComponent, UiContributions};
use crate::sandbox::active_plugins::MountedPlugin;
use crate::sandbox::exports::{
    Connector, Event, HookCall, HookOutcome, PluginError, hooks, integration, ui,
};
use crate::sandbox::instance_state::InstanceState;
use crate::sandbox::runtime::{GuestCall, InvokeError, Runtime};
use wasmtime::Store;
use wasmtime::component::Instance;

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
                |state| state.capabilities().modules.activation = Some(activation),
                move |store, instance| {
                    Box::pin(async move {
                        let guest = indices.load(&mut *store, &instance)?;
                        let outcome = guest.call_on_activate(&mut *store).await?;
                        Ok((
                            outcome,
                            store.data_mut().capabilities().modules.activation.take(),
                        ))
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
            &'a mut Store<InstanceState>,
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
        store: &mut Store<InstanceState>,
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
                store: &mut Store<InstanceState>,
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
