//! `berth:plugin/config`: the settings and secrets the org configured for
//! this plugin (`PUT …/plugins/{name}/config`); and `wasi:config/store`,
//! the standard interface, reading the same settings (never secrets: the
//! standard has no notion of them).
//!
//! A key is readable only if the org granted it: `config` lists the setting
//! keys, `secrets` the secret names. Anything else fails with `denied`
//! before the store is read. Org and plugin come from the store's identity,
//! so no call can reach another org's or plugin's configuration. Values are
//! never logged.

use crate::capabilities::bindings::v0_2_0::config::{ConfigError, Host};
use crate::capabilities::bindings::wasi_config;
use crate::common::ids::PluginIdentity;
use crate::package::manifest::Permissions;
use berth_storage::{Database, PluginConfig};
use std::sync::Arc;

/// One instance's configuration capability: the keys the org granted and
/// where their values are kept.
pub struct ConfigState {
    /// What the org granted; this unit reads `config` and `secrets`.
    pub grants: Arc<Permissions>,
    /// Whose configuration this is.
    pub identity: Arc<PluginIdentity>,
    /// The registry holding it.
    pub registry: Arc<Database>,
}

/// Which of the two kinds of configuration a call reads.
#[derive(Clone, Copy)]
enum Kind {
    Setting,
    Secret,
}

impl ConfigState {
    /// The stored configuration of this plugin.
    fn stored(&self) -> Result<PluginConfig, ConfigError> {
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        (self.registry.read())
            .and_then(|read| read.plugin_config(org, plugin))
            .map_err(|error| {
                tracing::error!(org, plugin, "reading plugin configuration: {error}");
                ConfigError::Internal("the host's store failed".into())
            })
    }

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
        let mut stored = self.stored()?;
        Ok(match kind {
            Kind::Setting => stored.config.remove(&key),
            Kind::Secret => stored.secrets.remove(&key),
        })
    }
}

impl Host for ConfigState {
    fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        self.read_config(Kind::Setting, key)
    }

    fn get_secret(&mut self, name: String) -> Result<Option<String>, ConfigError> {
        self.read_config(Kind::Secret, name)
    }
}

impl wasi_config::Host for ConfigState {
    fn get(&mut self, key: String) -> Result<Option<String>, wasi_config::Error> {
        self.read_config(Kind::Setting, key).map_err(standard_error)
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, wasi_config::Error> {
        let stored = self.stored().map_err(standard_error)?;
        let granted = &self.grants.config;
        Ok((stored.config.into_iter())
            .filter(|(key, _)| granted.contains(key))
            .collect())
    }
}

/// A `berth:plugin/config` failure as `wasi:config` reports it: a refusal
/// as `upstream`, the host's failure as `io`.
fn standard_error(error: ConfigError) -> wasi_config::Error {
    match error {
        ConfigError::Denied(why) => wasi_config::Error::Upstream(why),
        ConfigError::Internal(why) => wasi_config::Error::Io(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::{Fixture, ORG};
    use serde_json::json;

    /// `probe` installed with settings `url` and `mode` and secret
    /// `api-key`, and an instance granted `url` and `api-key`.
    fn configured_probe(fixture: &Fixture) -> ConfigState {
        fixture.install("probe", json!({}), true, &[]);
        let mut stored = PluginConfig::default();
        stored
            .config
            .insert("url".into(), "https://x.example".into());
        stored.config.insert("mode".into(), "fast".into());
        stored.secrets.insert("api-key".into(), "s3cret".into());
        (fixture.services.registry)
            .write(|txn| txn.put_plugin_config(ORG, "probe", &stored))
            .unwrap();
        let grants = json!({"config": ["url"], "secrets": ["api-key"]});
        fixture.instance("probe", grants).config
    }

    #[test]
    fn wasi_config_reads_the_granted_settings_and_never_a_secret() {
        let fixture = Fixture::new();
        let mut config = configured_probe(&fixture);
        let url = wasi_config::Host::get(&mut config, "url".into()).unwrap();
        assert_eq!(url.as_deref(), Some("https://x.example"));
        for refused in ["mode", "api-key"] {
            let read = wasi_config::Host::get(&mut config, refused.into());
            assert!(
                matches!(read, Err(wasi_config::Error::Upstream(_))),
                "{refused}"
            );
        }
        let all = wasi_config::Host::get_all(&mut config).unwrap();
        assert_eq!(all, [("url".to_owned(), "https://x.example".to_owned())]);
    }

    #[test]
    fn only_granted_keys_are_read_and_uninstall_forgets_them() {
        let fixture = Fixture::new();
        let mut config = configured_probe(&fixture);
        assert_eq!(
            config.get("url".into()).unwrap().as_deref(),
            Some("https://x.example")
        );
        assert_eq!(
            config.get_secret("api-key".into()).unwrap().as_deref(),
            Some("s3cret")
        );
        assert!(matches!(
            config.get("mode".into()),
            Err(ConfigError::Denied(_))
        ));
        assert!(matches!(
            config.get_secret("url".into()),
            Err(ConfigError::Denied(_))
        ));
        assert!(matches!(
            config.get("api-key".into()),
            Err(ConfigError::Denied(_))
        ));

        let forget = crate::capabilities::config::CAPABILITY
            .forget
            .expect("config forgets its values");
        (fixture.services.registry)
            .write(|txn| forget(txn, ORG, "probe"))
            .unwrap();
        assert_eq!(config.get("url".into()).unwrap(), None);
    }
}
