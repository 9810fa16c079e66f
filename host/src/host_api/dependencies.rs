//! `berth:plugin/dependencies`: where the plugin's declared dependencies
//! stand in its org, so it can adapt when an optional one is absent.
//!
//! Only names the plugin declares are answered; any other name reads as
//! `absent`, so a plugin cannot probe what else an org has installed.

use super::berth::plugin::dependencies::{DependencyState, Host};
use crate::runtime::PluginState;
use berth_storage::{PluginState as Lifecycle, StorageError};

impl PluginState {
    fn dependency_state(&self, name: &str) -> Result<DependencyState, StorageError> {
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        let read = self.registry.read()?;
        let declared = read
            .dependency_edges(org, plugin)?
            .iter()
            .any(|edge| edge.name == name);
        if !declared {
            return Ok(DependencyState::Absent);
        }
        Ok(match read.installation(org, name)? {
            None => DependencyState::Absent,
            Some(found) if found.state == Lifecycle::Active => {
                DependencyState::Active(found.version)
            }
            Some(found) => DependencyState::Installed(found.version),
        })
    }
}

impl Host for PluginState {
    fn state(&mut self, name: String) -> DependencyState {
        self.dependency_state(&name).unwrap_or_else(|error| {
            tracing::error!("reading dependency state: {error}");
            DependencyState::Absent
        })
    }
}
