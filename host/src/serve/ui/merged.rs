//! The org's merged UI manifest (`GET /o/{org}/ui/manifest.json`): every
//! active plugin's granted contributions, in a stable order — plugins by
//! name, each plugin's contributions in the order it declared them, slots
//! by name.
//!
//! Themes: when several active plugins set theme tokens, **the plugin
//! activated most recently wins**: its tokens are the
//! org's theme, and the others are listed under `overridden`. Activating a
//! theme plugin therefore switches the theme, and deactivating it falls
//! back to the previous one.

use super::OrgUi;
use serde::Serialize;
use std::collections::BTreeMap;

/// The merged manifest.
#[derive(Debug, PartialEq, Serialize)]
pub struct MergedUi {
    /// Pages, by plugin name.
    pub pages: Vec<PageEntry>,
    /// Slot name → components in it, by plugin name.
    pub slots: BTreeMap<String, Vec<ComponentEntry>>,
    /// The org's theme, if any plugin sets one.
    pub theme: Option<ThemeEntry>,
}

/// A page, with its URLs resolved.
#[derive(Debug, PartialEq, Serialize)]
pub struct PageEntry {
    /// Contributing plugin.
    pub plugin: String,
    /// Route under the plugin's console prefix.
    pub route: String,
    /// Title.
    pub title: String,
    /// URL of the entry script.
    pub entry: String,
}

/// A slot component, with its URLs resolved.
#[derive(Debug, PartialEq, Serialize)]
pub struct ComponentEntry {
    /// Contributing plugin.
    pub plugin: String,
    /// Component name.
    pub name: String,
    /// URL of the entry script.
    pub entry: String,
    /// URL of the plugin route it fetches data from.
    pub data: Option<String>,
}

/// The theme in force.
#[derive(Debug, PartialEq, Serialize)]
pub struct ThemeEntry {
    /// The plugin whose theme is in force.
    pub plugin: String,
    /// CSS custom properties (name without `--` → value).
    pub tokens: BTreeMap<String, String>,
    /// Other active theme plugins, by name.
    pub overridden: Vec<String>,
}

/// Merges `plugins`' contributions for `org`.
pub fn merge(org: &str, plugins: &OrgUi) -> MergedUi {
    let asset = |plugin: &str, entry: &str| format!("/o/{org}/ui/{plugin}/{entry}");
    let mut merged = MergedUi {
        pages: Vec::new(),
        slots: BTreeMap::new(),
        theme: None,
    };
    for (plugin, ui) in plugins {
        let contributions = &ui.contributions;
        for page in &contributions.pages {
            merged.pages.push(PageEntry {
                plugin: plugin.clone(),
                route: page.route.clone(),
                title: page.title.clone(),
                entry: asset(plugin, &page.entry),
            });
        }
        for component in &contributions.components {
            merged
                .slots
                .entry(component.slot.clone())
                .or_default()
                .push(ComponentEntry {
                    plugin: plugin.clone(),
                    name: component.name.clone(),
                    entry: asset(plugin, &component.entry),
                    data: component
                        .data_route
                        .as_ref()
                        .map(|route| format!("/o/{org}/p/{plugin}{route}")),
                });
        }
    }
    let mut themes: Vec<(&String, &super::ActiveUi)> = plugins
        .iter()
        .filter(|(_, ui)| !ui.contributions.theme.is_empty())
        .map(|(plugin, ui)| (plugin, ui.as_ref()))
        .collect();
    // Latest activation first.
    themes.sort_by_key(|(_, ui)| std::cmp::Reverse((ui.activated_at, ui.sequence)));
    if let Some(((plugin, ui), rest)) = themes.split_first() {
        let mut overridden: Vec<String> = rest.iter().map(|(p, _)| (*p).clone()).collect();
        overridden.sort();
        merged.theme = Some(ThemeEntry {
            plugin: (*plugin).clone(),
            tokens: ui.contributions.theme.clone(),
            overridden,
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::ui::{SlotComponent, UiContributions};
    use crate::serve::ui::ActiveUi;
    use std::sync::Arc;

    fn themed(color: &str, activated_at: u64) -> Arc<ActiveUi> {
        Arc::new(ActiveUi {
            assets: None,
            contributions: UiContributions {
                theme: BTreeMap::from([("color-bg".into(), color.into())]),
                ..UiContributions::default()
            },
            activated_at,
            ..ActiveUi::default()
        })
    }

    #[test]
    fn the_latest_activated_theme_wins_and_slots_are_stable() {
        let widget = |name: &str| SlotComponent {
            slot: "dashboard.widgets".into(),
            name: name.into(),
            entry: format!("{name}.js"),
            data_route: Some("/data".into()),
        };
        let mut plugins = OrgUi::new();
        plugins.insert("light".into(), themed("#fff", 10));
        plugins.insert("dark".into(), themed("#000", 20));
        plugins.insert(
            "zeta-widgets".into(),
            Arc::new(ActiveUi {
                contributions: UiContributions {
                    components: vec![widget("b"), widget("a")],
                    ..UiContributions::default()
                },
                ..ActiveUi::default()
            }),
        );
        let merged = merge("acme", &plugins);
        let theme = merged.theme.unwrap();
        assert_eq!(
            (theme.plugin.as_str(), theme.overridden),
            ("dark", vec!["light".to_owned()])
        );
        assert_eq!(theme.tokens["color-bg"], "#000");
        let widgets = &merged.slots["dashboard.widgets"];
        let names: Vec<&str> = widgets.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["b", "a"], "declared order kept");
        assert_eq!(widgets[0].entry, "/o/acme/ui/zeta-widgets/b.js");
        assert_eq!(
            widgets[0].data.as_deref(),
            Some("/o/acme/p/zeta-widgets/data")
        );

        plugins.insert("light".into(), themed("#fff", 30));
        assert_eq!(merge("acme", &plugins).theme.unwrap().plugin, "light");
    }
}
