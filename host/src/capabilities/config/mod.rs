//! Per-org settings and secrets of one plugin, as the management API
//! changes and shows them (`…/plugins/{name}/config`).
//!
//! A `PUT` replaces the settings when it names `config`, and sets each named
//! secret (`null` removes it), keeping secrets it does not name — an admin
//! never has to resend a secret to change a setting. Secret values are
//! write-only: answers and the audit log name secrets, never their values.
//! Plugins read both through `berth:plugin/config`, under their grant, and
//! the settings also through the standard `wasi:config/store`.

mod host;

pub use host::ConfigState;

use crate::capabilities::capability::{Capability, missing, retain_declared};

/// The `config` and `secrets` permissions: the setting keys and secret
/// names a plugin may read.
pub const CAPABILITY: Capability = Capability {
    permission: "config` or `secrets",
    imports: &["berth:plugin/config@", "wasi:config/store@"],
    declared: |p| !p.config.is_empty() || !p.secrets.is_empty(),
    not_covered: |wanted, available| {
        let mut lacking = missing("config", &wanted.config, &available.config);
        lacking.extend(missing("secrets", &wanted.secrets, &available.secrets));
        lacking
    },
    narrow: |granted, declared| {
        retain_declared(&mut granted.config, &declared.config);
        retain_declared(&mut granted.secrets, &declared.secrets);
    },
    forget: Some(|txn, org, plugin| txn.remove_plugin_config(org, plugin)),
};

use berth_storage::PluginConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most settings, and most secrets, one plugin may have.
const MAX_ENTRIES: usize = 256;
/// Longest key or secret name.
const MAX_KEY_LEN: usize = 128;

/// A `PUT …/config` body.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    /// New settings, replacing all old ones; absent keeps them.
    #[serde(default)]
    pub config: Option<BTreeMap<String, String>>,
    /// Secrets to set (`null` removes); secrets not named are kept.
    #[serde(default)]
    pub secrets: BTreeMap<String, Option<String>>,
}

impl ConfigUpdate {
    /// Checks every key name; `Err` says which is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        let settings = self.config.iter().flat_map(|c| c.keys());
        for key in settings.chain(self.secrets.keys()) {
            let valid = !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid {
                return Err(format!(
                    "key `{key}` must be 1–{MAX_KEY_LEN} characters of A–Z, a–z, 0–9, `-`, `_`, `.`"
                ));
            }
        }
        Ok(())
    }

    /// `current` with this update applied; `Err` if the result holds too many entries.
    pub fn apply(self, mut current: PluginConfig) -> Result<PluginConfig, String> {
        if let Some(config) = self.config {
            current.config = config;
        }
        for (name, value) in self.secrets {
            match value {
                Some(value) => current.secrets.insert(name, value),
                None => current.secrets.remove(&name),
            };
        }
        if current.config.len() > MAX_ENTRIES || current.secrets.len() > MAX_ENTRIES {
            return Err(format!(
                "a plugin has at most {MAX_ENTRIES} settings and {MAX_ENTRIES} secrets"
            ));
        }
        Ok(current)
    }

    /// What changed, for the audit log: key and secret names only.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(config) = &self.config {
            let keys: Vec<&str> = config.keys().map(String::as_str).collect();
            parts.push(format!("settings replaced: [{}]", keys.join(", ")));
        }
        for (name, value) in &self.secrets {
            let verb = if value.is_some() { "set" } else { "removed" };
            parts.push(format!("secret `{name}` {verb}"));
        }
        parts.join("; ")
    }
}

/// What the API shows: settings with values, secrets by name only.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigView {
    /// The plugin.
    pub plugin: String,
    /// Its settings.
    pub config: BTreeMap<String, String>,
    /// The names of its secrets.
    pub secrets: Vec<String>,
}

impl ConfigView {
    /// The view of `stored` for `plugin`.
    pub fn of(plugin: &str, stored: PluginConfig) -> Self {
        Self {
            plugin: plugin.to_owned(),
            config: stored.config,
            secrets: stored.secrets.into_keys().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: serde_json::Value) -> ConfigUpdate {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn settings_are_replaced_and_unnamed_secrets_kept() {
        let first = update(serde_json::json!({
            "config": {"url": "http://a", "mode": "x"},
            "secrets": {"api-key": "s1", "old": "s2"}
        }))
        .apply(PluginConfig::default())
        .unwrap();
        let second = update(serde_json::json!({
            "config": {"url": "http://b"},
            "secrets": {"old": null}
        }))
        .apply(first)
        .unwrap();
        assert_eq!(second.config.len(), 1);
        assert_eq!(second.config["url"], "http://b");
        assert_eq!(second.secrets.keys().collect::<Vec<_>>(), ["api-key"]);
        let view = ConfigView::of("p", second);
        assert_eq!(view.secrets, ["api-key"]);
        assert!(!serde_json::to_string(&view).unwrap().contains("s1"));
    }

    #[test]
    fn bad_names_and_unknown_fields_are_refused() {
        assert!(
            update(serde_json::json!({"config": {"a b": "x"}}))
                .validate()
                .is_err()
        );
        assert!(
            update(serde_json::json!({"secrets": {"": "x"}}))
                .validate()
                .is_err()
        );
        assert!(
            update(serde_json::json!({"config": {"ok.key-1_": "x"}}))
                .validate()
                .is_ok()
        );
        let unknown = serde_json::from_value::<ConfigUpdate>(serde_json::json!({"secret": {}}));
        assert!(unknown.is_err());
    }

    #[test]
    fn the_audit_detail_names_secrets_but_not_values() {
        let detail = update(serde_json::json!({"secrets": {"api-key": "hunter2"}})).describe();
        assert_eq!(detail, "secret `api-key` set");
    }
}
