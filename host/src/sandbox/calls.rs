//! Calls into the `berth:plugin` exports other than HTTP (`lifecycle`,
//! `hooks`, `integration`, `ui`), each on a fresh instance under the same
//! limits as a request (see [`Runtime::call`]).

use crate::capabilities::HasCapabilities;
use crate::capabilities::modules::Activation;
use crate::capabilities::modules::contributions::Contributions;
use crate::package::ui::{Page, SlotComponent, UiContributions};
use crate::sandbox::active_plugins::MountedPlugin;
use crate::sandbox::exports::{Connector, Event, ExportFunc, HookCall, HookOutcome, PluginError};
use crate::sandbox::instance_state::InstanceState;
use crate::sandbox::runtime::{InvokeError, Runtime};
use wasmtime::component::{ComponentNamedList, Lift, Lower};

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
        let Some(lifecycle) = mounted.plugin.exports.lifecycle.clone() else {
            return Ok(Contributions::default());
        };
        let on_activate = lifecycle.on_activate;
        let ((outcome,), activation) = self
            .call(
                mounted,
                |state| state.capabilities().modules.activation = Some(activation),
                move |store, instance| {
                    Box::pin(async move {
                        let outcome = on_activate.call(&mut *store, &instance, ()).await?;
                        let activation = store.data_mut().capabilities().modules.activation.take();
                        Ok((outcome, activation))
                    })
                },
            )
            .await?;
        outcome.map_err(ExportCallError::Plugin)?;
        Ok(activation.map(|a| a.contributions).unwrap_or_default())
    }

    /// Runs the plugin's `lifecycle.on-deactivate` (API 0.2.0 and later);
    /// nothing for a plugin without it.
    pub async fn on_deactivate(&self, mounted: &MountedPlugin) -> Result<(), ExportCallError> {
        let lifecycle = mounted.plugin.exports.lifecycle.as_ref();
        let Some(on_deactivate) = lifecycle.and_then(|l| l.on_deactivate.clone()) else {
            return Ok(());
        };
        let (outcome,) = self.call_export(mounted, on_deactivate, ()).await?;
        outcome.map_err(ExportCallError::Plugin)
    }

    /// Calls the plugin's `hooks.handle` for a write at nesting level
    /// `depth` (see `capabilities::records`).
    pub async fn handle_hook(
        &self,
        mounted: &MountedPlugin,
        call: HookCall,
        depth: u8,
    ) -> Result<HookOutcome, ExportCallError> {
        let handle = exported(&mounted.plugin.exports.hooks, "berth:plugin/hooks")?;
        let (outcome,) = self.call_export_at(mounted, handle, (call,), depth).await?;
        outcome.map_err(ExportCallError::Plugin)
    }

    /// Calls the plugin's `integration.describe`.
    pub async fn describe(&self, mounted: &MountedPlugin) -> Result<Connector, ExportCallError> {
        let integration = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        let (connector,) = self.call_export(mounted, integration.describe, ()).await?;
        Ok(connector)
    }

    /// Calls the plugin's `integration.invoke` with `action` and its JSON `input`.
    pub async fn invoke_action(
        &self,
        mounted: &MountedPlugin,
        action: String,
        input: String,
    ) -> Result<String, ExportCallError> {
        let integration = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        let (outcome,) = (self.call_export(mounted, integration.invoke, (action, input))).await?;
        outcome.map_err(ExportCallError::Plugin)
    }

    /// Delivers `event` to the plugin's `integration.on-event`, for a write
    /// at nesting level `depth`.
    pub async fn deliver_event(
        &self,
        mounted: &MountedPlugin,
        event: Event,
        depth: u8,
    ) -> Result<(), ExportCallError> {
        let integration = exported(&mounted.plugin.exports.integration, INTEGRATION)?;
        let on_event = integration.on_event;
        let (outcome,) = self
            .call_export_at(mounted, on_event, (event,), depth)
            .await?;
        outcome.map_err(ExportCallError::Plugin)
    }

    /// The plugin's `ui.contributions()`, if it exports `ui` (else none).
    pub async fn ui_contributions(
        &self,
        mounted: &MountedPlugin,
    ) -> Result<UiContributions, ExportCallError> {
        let Some(contributions) = mounted.plugin.exports.ui.clone() else {
            return Ok(UiContributions::default());
        };
        let (found,) = self.call_export(mounted, contributions, ()).await?;
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

    /// Runs `func` with `params` in a fresh instance.
    async fn call_export<P, R>(
        &self,
        mounted: &MountedPlugin,
        func: ExportFunc<P, R>,
        params: P,
    ) -> Result<R, InvokeError>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        self.call_export_at(mounted, func, params, 0).await
    }

    /// Runs `func` with `params` in a fresh instance whose record writes
    /// nest at level `depth`.
    async fn call_export_at<P, R>(
        &self,
        mounted: &MountedPlugin,
        func: ExportFunc<P, R>,
        params: P,
        depth: u8,
    ) -> Result<R, InvokeError>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let at_depth = move |state: &mut InstanceState| state.capabilities().records.depth = depth;
        self.call(mounted, at_depth, move |store, instance| {
            Box::pin(async move { func.call(store, &instance, params).await })
        })
        .await
    }
}

/// The exported interface an integration plugin needs.
const INTEGRATION: &str = "berth:plugin/integration";

/// The export, or why it cannot be called.
fn exported<I: Clone>(export: &Option<I>, interface: &'static str) -> Result<I, ExportCallError> {
    export
        .clone()
        .ok_or(ExportCallError::NotExported(interface))
}
