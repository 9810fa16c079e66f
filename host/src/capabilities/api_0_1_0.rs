//! `berth:plugin@0.1.0`, served by the newest implementation: each 0.1.0
//! host interface is a thin adapter over its 0.2.0 counterpart, so the two
//! versions cannot drift apart and retiring 0.1.0 is deleting this file.
//!
//! What 0.1.0 plugins see differently: `kv.list-keys` returns at most the
//! first 1,000 keys (0.2.0 pages with a cursor), and a quota refusal is
//! `too-large` (0.2.0 has `quota-exceeded`).

use crate::capabilities::bindings::{v0_1_0, v0_2_0};
use crate::capabilities::config::ConfigState;
use crate::capabilities::dependencies::DependenciesState;
use crate::capabilities::kv::{KvState, MAX_LISTED_KEYS};
use crate::capabilities::log::{LogState, severity_of};
use crate::capabilities::modules::ModulesState;
use v0_1_0::log::Level as LevelV1;

severity_of!(LevelV1);

impl v0_1_0::log::Host for LogState {
    fn log(&mut self, level: LevelV1, message: String) {
        self.write(level.into(), &message, &[]);
    }
}

impl v0_1_0::kv::Host for KvState {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, v0_1_0::kv::KvError> {
        v0_2_0::kv::Host::get(self, key).map_err(kv_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), v0_1_0::kv::KvError> {
        v0_2_0::kv::Host::set(self, key, value)
            .await
            .map_err(kv_error)
    }

    async fn delete(&mut self, key: String) -> Result<bool, v0_1_0::kv::KvError> {
        v0_2_0::kv::Host::delete(self, key).await.map_err(kv_error)
    }

    fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, v0_1_0::kv::KvError> {
        v0_2_0::kv::Host::list_keys(self, prefix, None, MAX_LISTED_KEYS)
            .map(|page| page.keys)
            .map_err(kv_error)
    }

    fn get_shared(
        &mut self,
        dependency: String,
        key: String,
    ) -> Result<Option<Vec<u8>>, v0_1_0::kv::KvError> {
        v0_2_0::kv::Host::get_shared(self, dependency, key).map_err(kv_error)
    }
}

fn kv_error(error: v0_2_0::kv::KvError) -> v0_1_0::kv::KvError {
    use v0_1_0::kv::KvError as Old;
    use v0_2_0::kv::KvError as New;
    match error {
        New::Denied(why) => Old::Denied(why),
        New::TooLarge(why) | New::QuotaExceeded(why) => Old::TooLarge(why),
        New::NotFound(why) => Old::NotFound(why),
        New::Internal(why) => Old::Internal(why),
    }
}

impl v0_1_0::config::Host for ConfigState {
    fn get(&mut self, key: String) -> Result<Option<String>, v0_1_0::config::ConfigError> {
        v0_2_0::config::Host::get(self, key).map_err(config_error)
    }

    fn get_secret(&mut self, name: String) -> Result<Option<String>, v0_1_0::config::ConfigError> {
        v0_2_0::config::Host::get_secret(self, name).map_err(config_error)
    }
}

fn config_error(error: v0_2_0::config::ConfigError) -> v0_1_0::config::ConfigError {
    use v0_1_0::config::ConfigError as Old;
    use v0_2_0::config::ConfigError as New;
    match error {
        New::Denied(why) => Old::Denied(why),
        New::Internal(why) => Old::Internal(why),
    }
}

impl v0_1_0::modules::Host for ModulesState {
    fn register_module(
        &mut self,
        module: v0_1_0::modules::ModuleDescriptor,
    ) -> Result<(), v0_1_0::modules::ModuleError> {
        let module = v0_2_0::modules::ModuleDescriptor {
            name: module.name,
            description: module.description,
            hooks: module.hooks,
            routes: module.routes,
            schema: None,
            readers: Vec::new(),
        };
        v0_2_0::modules::Host::register_module(self, module).map_err(module_error)
    }

    fn subscribe(
        &mut self,
        subscription: v0_1_0::modules::HookSubscription,
    ) -> Result<(), v0_1_0::modules::ModuleError> {
        let subscription = v0_2_0::modules::HookSubscription {
            module: subscription.module,
            hook: subscription.hook,
        };
        v0_2_0::modules::Host::subscribe(self, subscription).map_err(module_error)
    }

    fn list_modules(&mut self) -> Vec<v0_1_0::modules::ModuleDescriptor> {
        v0_2_0::modules::Host::list_modules(self)
            .into_iter()
            .map(|module| v0_1_0::modules::ModuleDescriptor {
                name: module.name,
                description: module.description,
                hooks: module.hooks,
                routes: module.routes,
            })
            .collect()
    }
}

fn module_error(error: v0_2_0::modules::ModuleError) -> v0_1_0::modules::ModuleError {
    use v0_1_0::modules::ModuleError as Old;
    use v0_2_0::modules::ModuleError as New;
    match error {
        New::Denied(why) => Old::Denied(why),
        New::Conflict(why) => Old::Conflict(why),
        New::Invalid(why) => Old::Invalid(why),
    }
}

impl v0_1_0::dependencies::Host for DependenciesState {
    fn state(&mut self, name: String) -> v0_1_0::dependencies::DependencyState {
        use v0_1_0::dependencies::DependencyState as Old;
        use v0_2_0::dependencies::DependencyState as New;
        match v0_2_0::dependencies::Host::state(self, name) {
            New::Absent => Old::Absent,
            New::Installed(version) => Old::Installed(version),
            New::Active(version) => Old::Active(version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::{Fixture, ORG};
    use serde_json::json;

    #[tokio::test]
    async fn a_0_1_0_plugin_lists_without_a_cursor_and_sees_quotas_as_too_large() {
        let fixture = Fixture::new();
        fixture.install("old", json!({}), true, &[]);
        let mut kv = fixture
            .instance("old", json!({"storage": ["read", "write"]}))
            .kv;
        for key in ["k1", "k2"] {
            v0_1_0::kv::Host::set(&mut kv, key.into(), b"v".to_vec())
                .await
                .unwrap();
        }
        let keys = v0_1_0::kv::Host::list_keys(&mut kv, "k".into()).unwrap();
        assert_eq!(keys, ["k1", "k2"]);

        let mut limits = fixture.services.admission.defaults();
        limits.kv_max_keys = 2;
        fixture.services.admission.set_override(ORG, Some(limits));
        let over = v0_1_0::kv::Host::set(&mut kv, "k3".into(), b"v".to_vec()).await;
        assert!(
            matches!(over, Err(v0_1_0::kv::KvError::TooLarge(_))),
            "{over:?}"
        );
    }
}
