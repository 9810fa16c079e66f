//! Starting plugins: before a step that makes plugins serve commits, each
//! of them (dependencies first) runs its `lifecycle.on-activate` in a fresh
//! instance and registers its modules and hook subscriptions, and its UI
//! contributions (manifest and `ui` export) are gathered and cut to its
//! grant. Those instances are admitted at the org's front door like any
//! request, and run without the writer lock. A failure (or a refusal, or a
//! change to the org meanwhile) refuses the whole step, with nothing
//! changed. After the commit the plugins serve and their registrations and
//! UI go live; stopping a plugin removes all of it at once.

use super::cluster::Served;
use super::writer::Writer;
use super::{Lifecycle, LifecycleError, granted_permissions, parse_digest, stored_manifest};
use crate::capabilities::modules::Activation;
use crate::capabilities::modules::ModuleDescriptor;
use crate::capabilities::modules::contributions::Contributions;
use crate::common::admission::Admitted;
use crate::package::Manifest;
use crate::package::manifest::Permissions;
use crate::sandbox::active_plugins::MountedPlugin;
use crate::sandbox::loader::LoadedPlugin;
use crate::serve::ui::ActiveUi;
use berth_storage::Installation;
use std::future::Future;
use std::sync::Arc;

/// A plugin about to serve: its record, its component (none for
/// asset-only plugins), what its `on-activate` registered and its UI.
pub(super) struct Starting {
    pub installation: Installation,
    pub plugin: Option<Arc<LoadedPlugin>>,
    pub grants: Permissions,
    pub contributions: Contributions,
    pub ui: Option<ActiveUi>,
}

impl Lifecycle {
    /// Lets go of the `writer` lock, [starts](Self::start) `batch` and runs
    /// `check` on what started — so a slow guest delays no other step — and
    /// takes the lock back. Refused with `Conflict` if a step changed `org`
    /// meanwhile: the guests may have seen state that is gone.
    pub(super) fn start_unlocked<'l>(
        &'l self,
        writer: Writer<'l>,
        org: &str,
        batch: Vec<(Installation, Option<Arc<LoadedPlugin>>)>,
        check: impl FnOnce(&[Starting]) -> Result<(), LifecycleError>,
    ) -> Result<(Writer<'l>, Vec<Starting>), LifecycleError> {
        let seen = self.registry.read()?.org_generation(org)?;
        drop(writer);
        let started = self.start(batch)?;
        check(&started)?;
        let writer = self.lock()?;
        if self.registry.read()?.org_generation(org)? != seen {
            return Err(LifecycleError::Conflict(org.to_owned()));
        }
        Ok((writer, started))
    }

    /// Runs `on-activate` for each plugin of `batch`, in order; later ones
    /// see the modules earlier ones registered.
    pub(super) fn start(
        &self,
        batch: Vec<(Installation, Option<Arc<LoadedPlugin>>)>,
    ) -> Result<Vec<Starting>, LifecycleError> {
        let mut started: Vec<Starting> = Vec::with_capacity(batch.len());
        for (installation, plugin) in batch {
            let manifest = stored_manifest(&installation)?;
            let grants = granted_permissions(&installation)?;
            let mounted = match &plugin {
                Some(plugin) => Some(self.live.routes.detached(
                    &installation.org,
                    &installation.name,
                    plugin.clone(),
                    grants.clone(),
                )),
                None => None,
            };
            let _admitted = match &mounted {
                Some(mounted) => self.admit(mounted)?,
                None => None,
            };
            let contributions = match &mounted {
                Some(mounted) => self.on_activate(&installation, mounted, &started)?,
                None => Contributions::default(),
            };
            let ui = self.active_ui(&installation, &manifest, mounted.as_ref())?;
            started.push(Starting {
                installation,
                plugin,
                grants,
                contributions,
                ui,
            });
        }
        Ok(started)
    }

    /// The plugin's UI: its assets folder and its contributions (manifest,
    /// then its `ui` export's, checked against its assets) cut to its
    /// grant; `None` if it has neither assets nor contributions.
    fn active_ui(
        &self,
        installation: &Installation,
        manifest: &Manifest,
        mounted: Option<&MountedPlugin>,
    ) -> Result<Option<ActiveUi>, LifecycleError> {
        let failed = |reason: String| LifecycleError::ActivationFailed {
            plugin: installation.name.clone(),
            reason,
        };
        let digest = parse_digest(&installation.digest)?;
        let assets = (manifest.assets.as_ref()).map(|a| self.packages.files_dir(&digest).join(a));
        let mut contributions = manifest.ui.clone().unwrap_or_default();
        if let Some(mounted) = mounted {
            let exported = block_on(self.live.runtime.ui_contributions(mounted))
                .map_err(|e| failed(e.to_string()))?;
            exported
                .check(|entry| assets.as_ref().is_some_and(|dir| dir.join(entry).is_file()))
                .map_err(|why| failed(format!("its ui export: {why}")))?;
            contributions = contributions.extended(exported);
        }
        let grants = granted_permissions(installation)?;
        let contributions = contributions.granted(grants.ui.as_ref());
        if assets.is_none() && contributions.is_empty() {
            return Ok(None);
        }
        Ok(Some(ActiveUi {
            assets,
            contributions,
            activated_at: installation.activated_at.unwrap_or_default(),
            sequence: 0,
        }))
    }

    /// A slot at the org's front door for `mounted`'s `on-activate` and UI
    /// `contributions()` (one after the other); `None` if it exports
    /// neither, so no instance runs.
    fn admit(&self, mounted: &MountedPlugin) -> Result<Option<Admitted>, LifecycleError> {
        let exports = &mounted.plugin.exports;
        if exports.lifecycle.is_none() && exports.ui.is_none() {
            return Ok(None);
        }
        let identity = &mounted.identity;
        let admitted = self.live.front_door.admit(&identity.org);
        admitted.map(Some).map_err(|refusal| LifecycleError::Busy {
            plugin: identity.plugin.clone(),
            refusal,
        })
    }

    fn on_activate(
        &self,
        installation: &Installation,
        mounted: &MountedPlugin,
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
            exports_hooks: mounted.plugin.exports.hooks.is_some(),
            exports_integration: mounted.plugin.exports.integration.is_some(),
            contributions: Contributions::default(),
        };
        block_on(self.live.runtime.on_activate(mounted, activation)).map_err(|error| {
            LifecycleError::ActivationFailed {
                plugin: name.clone(),
                reason: error.to_string(),
            }
        })
    }

    /// Makes a started plugin serve: its routes and key-value usage metrics
    /// (if it has a component) and its registrations. Runs after the step
    /// committed, so it cannot fail: a usage figure the registry cannot
    /// give now is logged and left for the plugin's next write to set.
    pub(super) fn serve(&self, starting: Starting) {
        let Starting {
            installation,
            plugin,
            grants,
            contributions,
            ui,
        } = starting;
        let (org, name) = (&installation.org, &installation.name);
        match plugin {
            Some(plugin) => {
                let usage = (self.registry.read()).and_then(|r| r.kv_usage(org, name));
                let mounted = self.live.routes.mount(org, name, plugin, grants);
                match usage {
                    Ok(usage) => mounted.metrics.kv_usage(usage),
                    Err(e) => tracing::warn!(org, plugin = name, "key-value usage unknown: {e}"),
                }
            }
            None => self.live.routes.unmount(org, name),
        }
        self.live
            .modules
            .set_contributions(org, name, contributions);
        match ui {
            Some(ui) => self.live.ui.set(org, name, ui),
            None => self.live.ui.remove(org, name),
        }
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        served.insert((org.clone(), name.clone()), Served::of(&installation));
    }

    /// Stops `org`/`name` serving: routes answer 404 and its modules and
    /// subscriptions are gone, at once.
    pub(super) fn stop_serving(&self, org: &str, name: &str) {
        self.live.routes.unmount(org, name);
        self.live.modules.remove_contributions(org, name);
        self.live.ui.remove(org, name);
        let mut served = self.served.lock().unwrap_or_else(|p| p.into_inner());
        served.remove(&(org.to_owned(), name.to_owned()));
    }

    /// Runs each stopped plugin's `on-deactivate` (API 0.2.0 and later), in
    /// a fresh instance admitted at its org's front door like a request,
    /// after the step committed and without the writer lock. It cannot
    /// undo the step: a failure or a busy org is only logged.
    pub(super) fn notify_deactivated(&self, stopped: Vec<Arc<MountedPlugin>>) {
        for mounted in stopped {
            let has_export = (mounted.plugin.exports.lifecycle.as_ref())
                .is_some_and(|l| l.on_deactivate.is_some());
            if !has_export {
                continue;
            }
            let (org, plugin) = (&mounted.identity.org, &mounted.identity.plugin);
            let outcome = match self.live.front_door.admit(org) {
                Ok(_admitted) => {
                    block_on(self.live.runtime.on_deactivate(&mounted)).map_err(|e| e.to_string())
                }
                Err(refusal) => Err(format!("not admitted: {refusal}")),
            };
            if let Err(error) = outcome {
                tracing::warn!(org, plugin, "on-deactivate failed: {error}");
            }
        }
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
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime starts")
            .block_on(future),
    }
}
