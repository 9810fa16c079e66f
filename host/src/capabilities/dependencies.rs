//! `berth:plugin/dependencies`: where the plugin's declared dependencies
//! stand in its org, so it can adapt when an optional one is absent.
//!
//! Only names the plugin declares are answered; any other name reads as
//! `absent`, so a plugin cannot probe what else an org has installed.

use crate::capabilities::bindings::v0_2_0::dependencies::{DependencyState, Host};
use crate::common::ids::PluginIdentity;
use berth_storage::{Database, PluginState as Lifecycle, StorageError};
use std::sync::Arc;

/// One instance's view of its dependencies: whose they are, and the
/// registry recording them.
pub struct DependenciesState {
    /// The plugin asking.
    pub identity: Arc<PluginIdentity>,
    /// The registry holding installations and dependency edges.
    pub registry: Arc<Database>,
}

impl DependenciesState {
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

impl Host for DependenciesState {
    fn state(&mut self, name: String) -> DependencyState {
        self.dependency_state(&name).unwrap_or_else(|error| {
            tracing::error!("reading dependency state: {error}");
            DependencyState::Absent
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::Fixture;
    use serde_json::json;

    #[test]
    fn declared_dependencies_show_their_state_and_others_read_as_absent() {
        let fixture = Fixture::new();
        fixture.install("active-dep", json!({}), true, &[]);
        fixture.install("idle-dep", json!({}), false, &[]);
        fixture.install("secret", json!({}), true, &[]);
        fixture.install(
            "probe",
            json!({}),
            true,
            &["active-dep", "idle-dep", "missing"],
        );
        let mut deps = fixture.instance("probe", json!({})).dependencies;
        let active = deps.state("active-dep".into());
        assert!(
            matches!(&active, DependencyState::Active(v) if v == "1.0.0"),
            "{active:?}"
        );
        let idle = deps.state("idle-dep".into());
        assert!(
            matches!(&idle, DependencyState::Installed(v) if v == "1.0.0"),
            "{idle:?}"
        );
        assert!(matches!(
            deps.state("missing".into()),
            DependencyState::Absent
        ));
        assert!(matches!(
            deps.state("secret".into()),
            DependencyState::Absent
        ));
    }
}
