//! Firing a module's hooks: each subscribed, active plugin is called on a
//! fresh instance, dependencies before dependents, then by name.
//!
//! Policy:
//! - `before-*` hooks run before the operation, one after another, each
//!   seeing the payload as the previous one left it. A plugin may proceed,
//!   transform the payload or veto with a reason (the operation is refused
//!   with 422 `vetoed`). A trap, timeout or plugin error **fails closed**:
//!   the operation is refused with 502 `hook_failed`, nothing is stored.
//! - `after-*` hooks run once the operation is committed, in the
//!   background (the response does not wait), still holding the admission
//!   of the request that fired them: an org's slow `after-*` hooks count
//!   against its in-flight limit until they end. A failure is logged and the
//!   next subscriber still runs; transform and veto are ignored. Plugins
//!   exporting only `berth:plugin/integration` receive them as
//!   `on-event`.

use crate::capabilities::modules::Modules;
use crate::common::admission::Admitted;
use crate::common::error::ApiError;
use crate::sandbox::active_plugins::{ActivePlugins, MountedPlugin};
use crate::sandbox::exports::{Event, HookCall, HookOutcome};
use crate::sandbox::runtime::Runtime;
use http::StatusCode;
use std::sync::Arc;

/// Why a `before-*` hook stopped an operation.
#[derive(Debug, thiserror::Error)]
pub enum HookRefusal {
    /// A plugin vetoed it.
    #[error("`{plugin}` refused this: {reason}")]
    Vetoed {
        /// The vetoing plugin.
        plugin: String,
        /// Its reason.
        reason: String,
    },
    /// A plugin failed (trap, timeout, error): the hook fails closed.
    #[error("hook of plugin `{plugin}` failed, so the operation was not performed: {error}")]
    Failed {
        /// The failing plugin.
        plugin: String,
        /// What went wrong.
        error: String,
    },
}

impl From<HookRefusal> for ApiError {
    fn from(refusal: HookRefusal) -> Self {
        let (status, code) = match &refusal {
            HookRefusal::Vetoed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "vetoed"),
            HookRefusal::Failed { .. } => (StatusCode::BAD_GATEWAY, "hook_failed"),
        };
        ApiError::new(status, code, refusal.to_string())
    }
}

/// Calls the plugins subscribed to a module's hooks.
pub struct HookDispatcher {
    modules: Arc<Modules>,
    plugins: Arc<ActivePlugins>,
    runtime: Runtime,
}

impl HookDispatcher {
    /// A dispatcher calling `org`'s active `plugins` that subscribed in `modules`.
    pub fn new(modules: Arc<Modules>, plugins: Arc<ActivePlugins>, runtime: Runtime) -> Self {
        Self {
            modules,
            plugins,
            runtime,
        }
    }

    /// Whether any active plugin of `org` is subscribed to `module`.`hook`.
    pub fn has_subscribers(&self, org: &str, module: &str, hook: &str) -> bool {
        !self.subscribers(org, module, hook).is_empty()
    }

    fn subscribers(&self, org: &str, module: &str, hook: &str) -> Vec<Arc<MountedPlugin>> {
        self.modules
            .subscribers(org, module, hook)
            .iter()
            .filter_map(|plugin| self.plugins.resolve(org, plugin).ok())
            .collect()
    }

    /// Runs the `before-*` hook `hook` of `module` on `payload` for a write
    /// at nesting level `depth`; returns the payload as the subscribers left
    /// it, or why the operation must not happen.
    pub async fn before(
        &self,
        org: &str,
        module: &str,
        hook: &str,
        mut payload: serde_json::Value,
        depth: u8,
    ) -> Result<serde_json::Value, HookRefusal> {
        for mounted in self.subscribers(org, module, hook) {
            let plugin = mounted.identity.plugin.clone();
            let call = HookCall {
                module: module.to_owned(),
                hook: hook.to_owned(),
                payload: payload.to_string(),
            };
            let failed = |error: String| {
                tracing::warn!(org, plugin, module, hook, "hook failed, refusing: {error}");
                HookRefusal::Failed {
                    plugin: plugin.clone(),
                    error,
                }
            };
            match self.runtime.handle_hook(&mounted, call, depth).await {
                Ok(HookOutcome::Proceed) => {}
                Ok(HookOutcome::Transform(json)) => {
                    payload = serde_json::from_str(&json)
                        .map_err(|e| failed(format!("it transformed into invalid JSON: {e}")))?;
                }
                Ok(HookOutcome::Veto(reason)) => {
                    return Err(HookRefusal::Vetoed { plugin, reason });
                }
                Err(error) => return Err(failed(error.to_string())),
            }
        }
        Ok(payload)
    }

    /// Fires the `after-*` hook `hook` of `module` with `payload` in the
    /// background, to the plugins subscribed now; failures are logged. The
    /// request's `admitted` slot is held until every delivery has ended.
    pub fn after(
        &self,
        org: &str,
        module: &str,
        hook: &str,
        payload: serde_json::Value,
        depth: u8,
        admitted: Admitted,
    ) {
        let subscribers = self.subscribers(org, module, hook);
        if subscribers.is_empty() {
            return;
        }
        let runtime = self.runtime.clone();
        let (org, module, hook) = (org.to_owned(), module.to_owned(), hook.to_owned());
        let payload = payload.to_string();
        tokio::spawn(async move {
            let _admitted = admitted;
            for mounted in subscribers {
                let delivered = if mounted.plugin.exports.hooks.is_some() {
                    let call = HookCall {
                        module: module.clone(),
                        hook: hook.clone(),
                        payload: payload.clone(),
                    };
                    runtime.handle_hook(&mounted, call, depth).await.map(drop)
                } else {
                    let event = Event {
                        source: module.clone(),
                        kind: hook.clone(),
                        payload: payload.clone(),
                    };
                    runtime.deliver_event(&mounted, event, depth).await
                };
                if let Err(error) = delivered {
                    let plugin = &mounted.identity.plugin;
                    tracing::warn!(
                        org,
                        plugin,
                        module,
                        hook,
                        "hook failed (continuing): {error}"
                    );
                }
            }
        });
    }
}
