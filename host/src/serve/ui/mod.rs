//! UI and theme plugins: each active plugin's static assets, served at
//! `/o/{org}/ui/{plugin}/{path}` ([`assets`]), and the org's merged
//! contributions — pages, slot components, theme — at
//! `/o/{org}/ui/manifest.json` ([`merged`]). The table here is kept in step
//! with activation by the lifecycle: a deactivated plugin's assets and
//! contributions are gone at once.

pub mod assets;
pub mod merged;
pub mod routes;

use crate::package::ui::UiContributions;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// An active plugin's UI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActiveUi {
    /// Its extracted assets folder, if it has one.
    pub assets: Option<PathBuf>,
    /// What it contributes, cut down to its grant.
    pub contributions: UiContributions,
    /// When it was activated (seconds since the epoch): the latest theme wins.
    pub activated_at: u64,
    /// Order among activations within the same second (set by [`UiTable::set`]).
    pub sequence: u64,
}

/// One org's active UI plugins, by name.
pub type OrgUi = BTreeMap<String, Arc<ActiveUi>>;

/// The active UI plugins of every org.
#[derive(Default)]
pub struct UiTable {
    orgs: RwLock<HashMap<String, OrgUi>>,
    sequence: AtomicU64,
}

impl UiTable {
    /// Makes `plugin`'s UI live in `org` (replacing any previous one).
    pub fn set(&self, org: &str, plugin: &str, mut ui: ActiveUi) {
        ui.sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        self.orgs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org.to_owned())
            .or_default()
            .insert(plugin.to_owned(), Arc::new(ui));
    }

    /// Removes `plugin`'s UI from `org`, at once.
    pub fn remove(&self, org: &str, plugin: &str) {
        if let Some(plugins) = self
            .orgs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(org)
        {
            plugins.remove(plugin);
        }
    }

    /// `org`'s active UI plugins.
    pub fn org(&self, org: &str) -> OrgUi {
        self.orgs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
            .cloned()
            .unwrap_or_default()
    }

    /// `plugin`'s UI in `org`, if it is active.
    pub fn plugin(&self, org: &str, plugin: &str) -> Option<Arc<ActiveUi>> {
        self.orgs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)?
            .get(plugin)
            .cloned()
    }
}
