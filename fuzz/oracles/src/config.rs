//! `berth:plugin/config` from the guest side: four plugin instances (two
//! orgs × two plugins) with arbitrary settings, secrets and grants, read
//! with arbitrary keys, in process against a temporary registry (secrets
//! sealed at rest). A read answers exactly what the org stored for that
//! plugin, and only under its grant.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::capabilities::bindings::v0_2_0::config::{ConfigError, Host};
use berth::capabilities::config::ConfigState;
use berth::common::ids::PluginIdentity;
use berth::package::manifest::Permissions;
use berth_storage::PluginConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The (org, plugin) of each instance.
const INSTANCES: [(&str, &str); 4] = [("acme", "p"), ("acme", "q"), ("beta", "p"), ("beta", "q")];

/// What one instance's org configured and granted.
#[derive(Arbitrary, Debug)]
pub struct Configured {
    /// Settings.
    pub config: BTreeMap<String, String>,
    /// Secrets.
    pub secrets: BTreeMap<String, String>,
    /// Granted setting keys.
    pub granted_config: Vec<String>,
    /// Granted secret names.
    pub granted_secrets: Vec<String>,
}

/// Four instances' configuration and the reads to try: (instance, secret?, key).
#[derive(Arbitrary, Debug)]
pub struct Reads {
    /// What each instance's org configured (missing ones configured nothing).
    pub configured: Vec<Configured>,
    /// The reads.
    pub reads: Vec<(u8, bool, String)>,
}

/// Runs the reads and checks every answer.
pub fn check(input: &Reads) -> Verdict {
    let (_dir, registry) = crate::temporary_registry()?;
    let empty = Configured {
        config: BTreeMap::new(),
        secrets: BTreeMap::new(),
        granted_config: Vec::new(),
        granted_secrets: Vec::new(),
    };
    let configured: Vec<&Configured> = (0..INSTANCES.len())
        .map(|at| input.configured.get(at).unwrap_or(&empty))
        .collect();
    registry
        .write(|txn| {
            for ((org, plugin), configured) in INSTANCES.iter().zip(&configured) {
                let stored = PluginConfig {
                    config: configured.config.clone(),
                    secrets: configured.secrets.clone(),
                };
                txn.put_plugin_config(org, plugin, &stored)?;
            }
            Ok::<_, berth_storage::StorageError>(())
        })
        .map_err(|e| format!("storing: {e}"))?;
    let mut states: Vec<ConfigState> = INSTANCES
        .iter()
        .zip(&configured)
        .map(|(&(org, plugin), configured)| {
            let grants = Permissions {
                config: configured.granted_config.clone(),
                secrets: configured.granted_secrets.clone(),
                ..Permissions::default()
            };
            ConfigState {
                grants: Arc::new(grants),
                identity: Arc::new(PluginIdentity {
                    org: org.into(),
                    plugin: plugin.into(),
                }),
                registry: registry.clone(),
            }
        })
        .collect();
    for (who, secret, key) in input.reads.iter().take(64) {
        let who = usize::from(*who) % INSTANCES.len();
        let configured = configured[who];
        let (answer, granted, stored) = if *secret {
            let answer = states[who].get_secret(key.clone());
            (
                answer,
                configured.granted_secrets.contains(key),
                configured.secrets.get(key),
            )
        } else {
            let answer = states[who].get(key.clone());
            (
                answer,
                configured.granted_config.contains(key),
                configured.config.get(key),
            )
        };
        match answer {
            Ok(value) => ensure(granted && value.as_ref() == stored, || {
                format!(
                    "{:?} read {key:?} as {value:?} (granted: {granted})",
                    INSTANCES[who]
                )
            })?,
            Err(ConfigError::Denied(_)) => ensure(!granted, || {
                format!("{:?} denied its granted {key:?}", INSTANCES[who])
            })?,
            Err(other) => return Err(format!("{:?} reading {key:?}: {other:?}", INSTANCES[who])),
        }
    }
    Ok(())
}
