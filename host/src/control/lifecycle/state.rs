//! Activation state: activate (with grants and dependencies),
//! deactivate, uninstall, and the operator's deactivate-all.

use super::{Lifecycle, LifecycleError, declared_permissions, put_with_audit};
use crate::capabilities::{self, coverage::not_covered};
use crate::package::manifest::Permissions;
use berth_storage::{Installation, PluginState, unix_now};

/// Options of an uninstall.
#[derive(Clone, Copy, Debug, Default)]
pub struct UninstallOptions {
    /// Uninstall even if the plugin is active.
    pub force: bool,
    /// Deactivate the active plugins that depend on it first.
    pub cascade: bool,
}

impl Lifecycle {
    /// Activates a plugin: loads its component and makes its routes answer.
    /// Activating an active plugin changes nothing.
    ///
    /// The org grants `grant` (default: everything the plugin declares); a
    /// grant exceeding the declaration is refused. Activating an active
    /// plugin with the grant it has changes nothing; with another grant, the
    /// new grant takes effect at once.
    ///
    /// Every required dependency must be installed at a satisfying version
    /// and active; `with_deps` activates inactive ones first (dependencies
    /// first, each with everything it declares), all in one transaction.
    ///
    /// Their `on-activate` and UI `contributions()` run without the writer
    /// lock (see [`writer`]): if the org changed meanwhile, nothing is
    /// activated (`Conflict`).
    pub fn activate(
        &self,
        org: &str,
        name: &str,
        grant: Option<Permissions>,
        with_deps: bool,
    ) -> Result<Installation, LifecycleError> {
        let writer = self.lock()?;
        let installation = self.require_installation(org, name)?;
        let declared = declared_permissions(&installation)?;
        let grant = grant.unwrap_or_else(|| declared.clone());
        let exceeding = not_covered(&grant, &declared);
        if !exceeding.is_empty() {
            return Err(LifecycleError::GrantExceedsDeclaration(exceeding));
        }
        let grant = serde_json::to_value(&grant).expect("permissions serialize");
        if installation.state == PluginState::Active && installation.granted == grant {
            return Ok(installation);
        }
        let graph = self.org_graph(org)?;
        let unmet = graph.unmet_requirements(name);
        if !unmet.is_empty() {
            return Err(LifecycleError::Dependencies(unmet));
        }
        let inactive = graph.inactive_requirements(name);
        if !inactive.is_empty() && !with_deps {
            return Err(LifecycleError::DependenciesInactive(inactive));
        }
        // Active in the registry is not enough: one that failed to start
        // (at boot, say) would leave this plugin serving on it.
        let mut not_serving = Vec::new();
        for dependency in graph.active_requirements(name) {
            if !self.serves(&self.require_installation(org, &dependency)?) {
                not_serving.push(dependency);
            }
        }
        if !not_serving.is_empty() {
            return Err(LifecycleError::DependenciesNotServing(not_serving));
        }
        let mut targets = Vec::new();
        for dependency in &inactive {
            let installation = self.require_installation(org, dependency)?;
            let declared = serde_json::to_value(declared_permissions(&installation)?)
                .expect("permissions serialize");
            targets.push((installation, declared));
        }
        targets.push((installation, grant));

        let at = unix_now();
        let mut batch = Vec::new();
        for (mut installation, grant) in targets {
            let plugin = self.load(&installation)?;
            installation.state = PluginState::Active;
            installation.activated_at = Some(at);
            installation.granted = grant;
            self.prepare_files(&installation)?;
            batch.push((installation, plugin));
        }
        let (writer, started) = self.start_unlocked(writer, org, batch, |_| Ok(()))?;
        let installations: Vec<&Installation> = started.iter().map(|s| &s.installation).collect();
        self.commit_state_changes(&writer, org, &installations, "activate", at)?;
        let activated = started
            .last()
            .expect("the plugin itself")
            .installation
            .clone();
        for starting in started {
            self.serve(starting);
        }
        self.refresh_order(org);
        Ok(activated)
    }

    /// Deactivates a plugin: its routes answer 404 at once; files, data and
    /// configuration stay. Then its `on-deactivate` runs (it cannot veto).
    /// Deactivating an inactive plugin changes nothing.
    ///
    /// Refused while active plugins require it, unless `cascade`, which
    /// deactivates them too (dependents first), in one transaction.
    pub fn deactivate(
        &self,
        org: &str,
        name: &str,
        cascade: bool,
    ) -> Result<Installation, LifecycleError> {
        let writer = self.lock()?;
        let installation = self.require_installation(org, name)?;
        if installation.state != PluginState::Active {
            return Ok(installation);
        }
        let mut stopped = self.stop_dependents(org, name, cascade)?;
        let mut installation = installation;
        installation.state = PluginState::Installed;
        stopped.push(installation);
        let installations: Vec<&Installation> = stopped.iter().collect();
        self.commit_state_changes(&writer, org, &installations, "deactivate", unix_now())?;
        let mut was_serving = Vec::new();
        for stopped in &stopped {
            was_serving.extend(self.live.routes.resolve(org, &stopped.name).ok());
            self.stop_serving(org, &stopped.name);
        }
        drop(writer);
        self.notify_deactivated(was_serving);
        Ok(stopped.pop().expect("the plugin itself"))
    }

    /// The active dependents of `name`, set inactive (not yet committed),
    /// dependents first; refused unless `cascade` when there are any.
    pub(super) fn stop_dependents(
        &self,
        org: &str,
        name: &str,
        cascade: bool,
    ) -> Result<Vec<Installation>, LifecycleError> {
        let dependents = self.org_graph(org)?.active_dependents(name);
        if !dependents.is_empty() && !cascade {
            return Err(LifecycleError::HasDependents {
                plugin: name.to_owned(),
                dependents,
            });
        }
        dependents
            .iter()
            .map(|dependent| {
                let mut installation = self.require_installation(org, dependent)?;
                installation.state = PluginState::Installed;
                Ok(installation)
            })
            .collect()
    }

    /// Uninstalls a plugin: removes its records, its key-value data,
    /// configuration and directories in this org and (if no other org uses
    /// the same package) its files. An active plugin needs `force`; one that
    /// installed plugins require (active or not) needs `cascade`, which
    /// deactivates the active ones in the same transaction and leaves them
    /// all installed, waiting for the dependency to return.
    pub fn uninstall(
        &self,
        org: &str,
        name: &str,
        options: UninstallOptions,
    ) -> Result<(), LifecycleError> {
        let writer = self.lock()?;
        let installation = self.require_installation(org, name)?;
        if installation.state == PluginState::Active && !options.force {
            return Err(LifecycleError::PluginActive(name.to_owned()));
        }
        let required_by = self.org_graph(org)?.required_by(name);
        if !required_by.is_empty() && !options.cascade {
            return Err(LifecycleError::HasDependents {
                plugin: name.to_owned(),
                dependents: required_by,
            });
        }
        let stopped = self.stop_dependents(org, name, options.cascade)?;
        let at = unix_now();
        self.commit(&writer, org, |txn| {
            for dependent in &stopped {
                put_with_audit(txn, dependent, "deactivate", at)?;
            }
            // Each capability forgets first: one reads what the manifest declared.
            for forget in capabilities::ALL.iter().filter_map(|c| c.forget) {
                forget(txn, org, name)?;
            }
            txn.remove_installation(org, name)?;
            txn.append_audit(
                org,
                unix_now(),
                "uninstall",
                Some(name),
                Some(&installation.version),
                "",
            )?;
            Ok::<_, LifecycleError>(())
        })?;
        for stopped in &stopped {
            self.stop_serving(org, &stopped.name);
        }
        self.stop_serving(org, name);
        self.live.routes.forget(org, name);
        self.refresh_order(org);
        for digest in installation.digests() {
            self.remove_files_if_unreferenced(&writer, digest);
        }
        if let Err(e) = self.files.remove(org, name) {
            tracing::warn!(org, plugin = name, "removing the plugin's directory: {e}");
        }
        Ok(())
    }

    /// The operator's rollback switch: deactivates every active plugin in
    /// every org, in one transaction. Returns what was deactivated.
    pub fn deactivate_all(&self) -> Result<Vec<Installation>, LifecycleError> {
        let _writer = self.lock()?;
        let at = unix_now();
        let deactivated = self.registry.write(|txn| {
            let mut deactivated = Vec::new();
            for mut installation in txn.all_installations()? {
                if installation.state != PluginState::Active {
                    continue;
                }
                installation.state = PluginState::Installed;
                let edges = txn.dependency_edges(&installation.org, &installation.name)?;
                txn.put_installation(&installation, &edges)?;
                txn.changed_org(&installation.org)?;
                txn.append_audit(
                    &installation.org,
                    at,
                    "deactivate",
                    Some(&installation.name),
                    Some(&installation.version),
                    "operator deactivate-all",
                )?;
                deactivated.push(installation);
            }
            Ok::<_, LifecycleError>(deactivated)
        })?;
        for installation in &deactivated {
            self.stop_serving(&installation.org, &installation.name);
        }
        Ok(deactivated)
    }
}
