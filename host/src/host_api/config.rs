//! `berth:plugin/config`: the settings and secrets the org configured for
//! this plugin (`PUT …/plugins/{name}/config`).
//!
//! A key is readable only if the org granted it: `config` lists the setting
//! keys, `secrets` the secret names. Anything else fails with `denied`
//! before the store is read. Org and plugin come from the store's identity,
//! so no call can reach another org's or plugin's configuration. Values are
//! never logged.

use super::berth::plugin::config::{ConfigError, Host};
use crate::runtime::PluginState;
use berth_storage::PluginConfig;

/// Which of the two kinds of configuration a call reads.
#[derive(Clone, Copy)]
enum Kind {
    Setting,
    Secret,
}

impl PluginState {
    fn read_config(&self, kind: Kind, key: String) -> Result<Option<String>, ConfigError> {
        let (granted, permission) = match kind {
            Kind::Setting => (&self.grants.config, "config"),
            Kind::Secret => (&self.grants.secrets, "secrets"),
        };
        if !granted.contains(&key) {
            return Err(ConfigError::Denied(format!(
                "the org has not granted this plugin `{permission}: {key}`"
            )));
        }
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        let mut stored: PluginConfig = self
            .registry
            .read()
            .and_then(|read| read.plugin_config(org, plugin))
            .map_err(|error| {
                tracing::error!(org, plugin, "reading plugin configuration: {error}");
                ConfigError::Internal("the host's store failed".into())
            })?;
        Ok(match kind {
            Kind::Setting => stored.config.remove(&key),
            Kind::Secret => stored.secrets.remove(&key),
        })
    }
}

impl Host for PluginState {
    fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        self.read_config(Kind::Setting, key)
    }

    fn get_secret(&mut self, name: String) -> Result<Option<String>, ConfigError> {
        self.read_config(Kind::Secret, name)
    }
}
