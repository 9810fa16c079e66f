//! What a plugin contributes to the web console — pages, slot components,
//! theme tokens — from its manifest (`ui`) and/or its `berth:plugin/ui`
//! export, checked against its assets and cut down to what the `ui`
//! permission grants.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a plugin may contribute to the UI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UiPermission {
    /// Slots it may fill.
    pub slots: Vec<String>,
    /// Whether it may add pages.
    pub pages: bool,
    /// Whether it may set theme tokens.
    pub theme: bool,
}

/// A plugin's UI contributions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiContributions {
    /// Pages mounted in the console.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<Page>,
    /// Components in named slots.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<SlotComponent>,
    /// Theme tokens: CSS custom property name (without `--`) → value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub theme: BTreeMap<String, String>,
}

/// A page mounted in the console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Route under the plugin's console prefix, e.g. `/reports`.
    pub route: String,
    /// Title.
    pub title: String,
    /// Entry script: a file inside the plugin's assets.
    pub entry: String,
}

/// A component rendered in a named slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotComponent {
    /// Slot, e.g. `dashboard.widgets`.
    pub slot: String,
    /// Name, unique within the plugin.
    pub name: String,
    /// Entry script: a file inside the plugin's assets.
    pub entry: String,
    /// A route of this plugin the component fetches its data from.
    #[serde(
        default,
        rename = "data-route",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_route: Option<String>,
}

impl UiContributions {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.components.is_empty() && self.theme.is_empty()
    }

    /// These contributions followed by `more` (a later theme token wins).
    pub fn extended(mut self, more: UiContributions) -> Self {
        self.pages.extend(more.pages);
        self.components.extend(more.components);
        self.theme.extend(more.theme);
        self
    }

    /// What these contributions need that `permission` does not cover,
    /// one phrase each (empty when covered).
    pub fn not_covered(&self, permission: Option<&UiPermission>) -> Vec<String> {
        let default = UiPermission::default();
        let permission = permission.unwrap_or(&default);
        let mut missing = Vec::new();
        if !self.pages.is_empty() && !permission.pages {
            missing.push("ui.pages".to_owned());
        }
        for component in &self.components {
            if !permission.slots.contains(&component.slot) {
                missing.push(format!("ui.slots: {}", component.slot));
            }
        }
        if !self.theme.is_empty() && !permission.theme {
            missing.push("ui.theme".to_owned());
        }
        missing.dedup();
        missing
    }

    /// Only what `grant` covers.
    pub fn granted(mut self, grant: Option<&UiPermission>) -> Self {
        let default = UiPermission::default();
        let grant = grant.unwrap_or(&default);
        if !grant.pages {
            self.pages.clear();
        }
        self.components.retain(|c| grant.slots.contains(&c.slot));
        if !grant.theme {
            self.theme.clear();
        }
        self
    }

    /// Checks what a schema cannot (or, for contributions a component
    /// returns, what the manifest schema would have): entries are files
    /// `exists` confirms, names and routes are well formed, theme values
    /// cannot break out of a CSS declaration.
    pub fn check(&self, exists: impl Fn(&str) -> bool) -> Result<(), String> {
        let entries = self
            .pages
            .iter()
            .map(|p| &p.entry)
            .chain(self.components.iter().map(|c| &c.entry));
        for entry in entries {
            crate::package::check_relative_path(entry)
                .map_err(|why| format!("entry {entry:?}: {why}"))?;
            if !exists(entry) {
                return Err(format!("entry {entry:?} is not among the plugin's assets"));
            }
        }
        for page in &self.pages {
            let well_formed = page.route.starts_with('/')
                && page.route.len() <= 128
                && page
                    .route
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
            if !well_formed || page.title.is_empty() || page.title.len() > 128 {
                return Err(format!("page {:?}: bad route or title", page.route));
            }
        }
        for component in &self.components {
            let slot_ok = !component.slot.is_empty()
                && component.slot.len() <= 128
                && component
                    .slot
                    .split(['.', '-'])
                    .all(|part| !part.is_empty() && part.bytes().all(is_lower_alnum));
            if !slot_ok || crate::common::ids::validate(&component.name).is_err() {
                return Err(format!("component {:?}: bad slot or name", component.name));
            }
            if component
                .data_route
                .as_ref()
                .is_some_and(|r| !r.starts_with('/') || r.len() > 255)
            {
                return Err(format!("component {:?}: bad data-route", component.name));
            }
        }
        for (name, value) in &self.theme {
            crate::common::ids::validate(name).map_err(|e| format!("theme token {e}"))?;
            let safe = !value.is_empty()
                && value.len() <= 256
                && !value.contains([';', '{', '}', '<', '>', '\\', '"', '\''])
                && !value.chars().any(char::is_control);
            if !safe {
                return Err(format!("theme token `{name}`: unsafe or empty value"));
            }
        }
        Ok(())
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UiContributions {
        UiContributions {
            pages: vec![Page {
                route: "/reports".into(),
                title: "Reports".into(),
                entry: "reports.js".into(),
            }],
            components: vec![SlotComponent {
                slot: "dashboard.widgets".into(),
                name: "sales".into(),
                entry: "widget.js".into(),
                data_route: Some("/summary".into()),
            }],
            theme: BTreeMap::from([("color-bg".into(), "#101418".into())]),
        }
    }

    #[test]
    fn grants_cut_contributions_down() {
        let permission = UiPermission {
            slots: vec!["dashboard.widgets".into()],
            pages: false,
            theme: true,
        };
        assert_eq!(sample().not_covered(Some(&permission)), ["ui.pages"]);
        let granted = sample().granted(Some(&permission));
        assert!(granted.pages.is_empty());
        assert_eq!(granted.components.len(), 1);
        assert_eq!(granted.theme.len(), 1);
        assert!(sample().granted(None).is_empty());
        assert_eq!(
            sample().not_covered(None),
            ["ui.pages", "ui.slots: dashboard.widgets", "ui.theme"]
        );
    }

    #[test]
    fn entries_must_exist_and_theme_values_stay_inside_a_declaration() {
        let exists = |path: &str| ["reports.js", "widget.js"].contains(&path);
        assert_eq!(sample().check(exists), Ok(()));
        let mut missing = sample();
        missing.components[0].entry = "../secret.js".into();
        assert!(
            missing
                .check(exists)
                .unwrap_err()
                .contains("relative segment")
        );
        for value in ["red; background: url(x)", "}</style>", "a\\62"] {
            let mut unsafe_theme = sample();
            unsafe_theme.theme.insert("color-bg".into(), value.into());
            assert!(unsafe_theme.check(exists).is_err(), "{value}");
        }
    }
}
