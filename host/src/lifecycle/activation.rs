//! Starting plugins: before a step that makes plugins serve commits, each
//! of them (dependencies first) runs its `lifecycle.on-activate` in a fresh
//! instance and registers its modules and hook subscriptions. A failure
//! refuses the whole step, with nothing changed. After the commit the
//! plugins serve and their registrations go live; stopping a plugin removes
//! both at once.

use super::{Lifecycle, LifecycleError, granted_permissions};
use crate::host_api::Activation;
use crate::loader::LoadedPlugin;
use crate::modules::ModuleDescriptor;
use crate::modules::contributions::Contributions;
use berth_storage::Installation;
use std::future::Future;
use std::sync::Arc;

/// A plugin about to serve: its record, its component (none for
/// asset-only plugins) and what its `on-activate` registered.
pub(super) struct Starting {
    pub installation: Installation,
    pub plugin: Option<Arc<LoadedPlugin>>,
    pub contributions: Contributions,
}

impl Lifecycle {
    /// Runs `on-activate` for each plugin of `batch`, in order; later ones
    /// see the modules earlier ones registered.
    pub(super) fn start(
        &self,
        batch: Vec<(Installation, Option<Arc<LoadedPlugin>>)>,
    ) -> Result<Vec<Starting>, LifecycleError> {
        let mut started: Vec<Starting> = Vec::with_capacity(batch.len());
        for (installation, plugin) in batch {
            let contributions = match &plugin {
                Some(plugin) => self.on_activate(&installation, plugin.clone(), &started)?,
                None => Contributions::default(),
            };
            started.push(Starting {
                installation,
                plugin,
                contributions,
            });
        }
        Ok(started)
    }

    fn on_activate(
        &self,
        installation: &Installation,
        plugin: Arc<LoadedPlugin>,
        earlier: &[Starting],
    ) -> Result<Contributions, LifecycleError> {
        let (org, name) = (&installation.org, &installation.name);
        let batch_names: Vec<&str> = earlier
            .iter()
            .map(|s| s.installation.name.as_str())
            .chain([name.as_str()])
            .collect();
        let others: Vec<ModuleDescriptor> = self
            .live
            .modules
            .list(org)
            .into_iter()
            .filter(|m| {
                m.owner
                    .as_deref()
                    .is_none_or(|owner| !batch_names.contains(&owner))
            })
            .chain(earlier.iter().flat_map(|s| s.contributions.modules.clone()))
            .collect();
        let activation = Activation {
            others,
            exports_hooks: plugin.exports.hooks.is_some(),
            exports_integration: plugin.exports.integration.is_some(),
            contributions: Contributions::default(),
        };
        let grants = granted_permissions(installation)?;
        let mounted = self.live.routes.detached(org, name, plugin, grants);
        block_on(self.live.runtime.on_activate(&mounted, activation)).map_err(|error| {
            LifecycleError::ActivationFailed {
                plugin: name.clone(),
                reason: error.to_string(),
            }
        })
    }

    /// Makes a started plugin serve: its routes (if it has a component) and
    /// its registrations.
    pub(super) fn serve(&self, starting: Starting) -> Result<(), LifecycleError> {
        let Starting {
            installation,
            plugin,
            contributions,
        } = starting;
        let (org, name) = (&installation.org, &installation.name);
        match plugin {
            Some(plugin) => {
                let grants = granted_permissions(&installation)?;
                self.live.routes.mount(org, name, plugin, grants);
            }
            None => self.live.routes.unmount(org, name),
        }
        self.live
            .modules
            .set_contributions(org, name, contributions);
        Ok(())
    }

    /// Stops `org`/`name` serving: routes answer 404 and its modules and
    /// subscriptions are gone, at once.
    pub(super) fn stop_serving(&self, org: &str, name: &str) {
        self.live.routes.unmount(org, name);
        self.live.modules.remove_contributions(org, name);
    }

    /// Recomputes the order `org`'s hook subscribers run in.
    pub(super) fn refresh_order(&self, org: &str) {
        match self.org_graph(org) {
            Ok(graph) => self.live.modules.set_order(org, graph.dependency_order()),
            Err(e) => tracing::warn!(org, "hook order not refreshed: {e}"),
        }
    }
}

/// Runs `future` to completion from synchronous lifecycle code, which runs
/// on a blocking thread (management API) or at start-up, outside the
/// runtime's workers.
fn block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
            .block_on(future),
    }
}
