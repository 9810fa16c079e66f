//! The org's module registry: named areas of the application with records,
//! routes and hooks. The built-in modules (`contacts`, `invoices`) are
//! registered in code; their records live in the registry's `records`
//! table, per org, and are served at `/o/{org}/api/{module}[/{id}]`.
//! Active plugins add modules and hook subscriptions ([`contributions`])
//! through `berth:plugin/modules` during `on-activate` (`host`); the serve
//! layer's `hooks` calls the subscribers when a module fires a hook.

mod builtin;
pub mod contributions;
mod host;

pub use host::{Activation, ModulesState};

use crate::capabilities::capability::{Capability, missing, retain_declared};

/// The `modules` permission: modules a plugin may `register`, and the
/// `module.hook` pairs it may `extend`.
pub const CAPABILITY: Capability = Capability {
    permission: "modules",
    imports: &["berth:plugin/modules@"],
    declared: |p| p.modules.is_some(),
    not_covered: |wanted, available| {
        let (wanted, available) = (
            wanted.modules.clone().unwrap_or_default(),
            available.modules.clone().unwrap_or_default(),
        );
        let mut lacking = missing("modules register", &wanted.register, &available.register);
        lacking.extend(missing("modules extend", &wanted.extend, &available.extend));
        lacking
    },
    narrow: |granted, declared| {
        granted.modules = match (granted.modules.take(), &declared.modules) {
            (Some(mut modules), Some(offer)) => {
                retain_declared(&mut modules.register, &offer.register);
                retain_declared(&mut modules.extend, &offer.extend);
                Some(modules)
            }
            _ => None,
        };
    },
    forget: None,
};

use berth_storage::{Database, ModuleRecord, StorageError, unix_now};
use builtin::{BuiltinModule, builtin_modules};
use contributions::{Contributions, OrgContributions};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A module as `GET /api/v1/orgs/{org}/modules` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleDescriptor {
    /// Unique name within the org.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The hooks it fires.
    pub hooks: Vec<String>,
    /// The path prefixes it serves, under `/o/{org}`.
    pub routes: Vec<String>,
    /// The plugin that registered it; `None` for built-in modules.
    pub owner: Option<String>,
}

/// Why a module call failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// No module of that name.
    #[error("no module `{0}`")]
    UnknownModule(String),
    /// No record with that id.
    #[error("module `{module}` has no record {id}")]
    UnknownRecord {
        /// The module.
        module: String,
        /// The id asked for.
        id: String,
    },
    /// The record does not satisfy the module's schema.
    #[error("invalid `{module}` record: {reason}")]
    InvalidRecord {
        /// The module.
        module: String,
        /// Every violation, joined.
        reason: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A built-in module with its compiled record schema.
struct Compiled {
    module: BuiltinModule,
    validator: jsonschema::Validator,
}

/// The modules of every org, and their records.
pub struct Modules {
    builtin: Vec<Compiled>,
    registry: Arc<Database>,
    /// Per org: what its active plugins contributed.
    live: RwLock<HashMap<String, OrgContributions>>,
}

/// Most records one list call returns.
pub const MAX_LISTED_RECORDS: usize = 1000;

impl Modules {
    /// The built-in modules, keeping records in `registry`.
    pub fn new(registry: Arc<Database>) -> Self {
        let builtin = builtin_modules()
            .into_iter()
            .map(|module| Compiled {
                validator: jsonschema::validator_for(&module.schema)
                    .expect("built-in module schemas are valid"),
                module,
            })
            .collect();
        Self {
            builtin,
            registry,
            live: RwLock::default(),
        }
    }

    /// Every module of `org`: the built-in ones first, then those its
    /// active plugins registered, by name.
    pub fn list(&self, org: &str) -> Vec<ModuleDescriptor> {
        let mut modules: Vec<ModuleDescriptor> = self
            .builtin
            .iter()
            .map(|c| c.module.descriptor.clone())
            .collect();
        if let Some(contributions) = self.read_live().get(org) {
            modules.extend(contributions.modules());
        }
        modules
    }

    /// The plugins subscribed to `module`.`hook` in `org`, in the order
    /// they run: dependencies before dependents, then by name.
    pub fn subscribers(&self, org: &str, module: &str, hook: &str) -> Vec<String> {
        self.read_live()
            .get(org)
            .map(|c| c.subscribers(module, hook))
            .unwrap_or_default()
    }

    /// Replaces what `plugin` contributes to `org`'s registry.
    pub fn set_contributions(&self, org: &str, plugin: &str, contributions: Contributions) {
        self.write_live()
            .entry(org.to_owned())
            .or_default()
            .set(plugin, contributions);
    }

    /// Removes what `plugin` contributed to `org`'s registry (deactivated).
    pub fn remove_contributions(&self, org: &str, plugin: &str) {
        if let Some(contributions) = self.write_live().get_mut(org) {
            contributions.remove(plugin);
        }
    }

    /// Sets `org`'s plugin order for hook calls: installed plugins,
    /// dependencies before dependents, then by name.
    pub fn set_order(&self, org: &str, order: Vec<String>) {
        self.write_live()
            .entry(org.to_owned())
            .or_default()
            .set_order(order);
    }

    fn read_live(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, OrgContributions>> {
        self.live.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_live(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, OrgContributions>> {
        self.live.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `module` is built in (and so has records and routes here).
    pub fn is_builtin(&self, module: &str) -> bool {
        self.find(module).is_ok()
    }

    fn find(&self, module: &str) -> Result<&Compiled, ModuleError> {
        self.builtin
            .iter()
            .find(|c| c.module.descriptor.name == module)
            .ok_or_else(|| ModuleError::UnknownModule(module.to_owned()))
    }

    /// Validates `data` against the module's schema and stores it as a new
    /// record of `org`.
    pub fn create(
        &self,
        org: &str,
        module: &str,
        data: serde_json::Value,
    ) -> Result<ModuleRecord, ModuleError> {
        let compiled = self.find(module)?;
        let violations: Vec<String> = compiled
            .validator
            .iter_errors(&data)
            .map(|e| format!("{} at `{}`", e, e.instance_path()))
            .collect();
        if !violations.is_empty() {
            return Err(ModuleError::InvalidRecord {
                module: module.to_owned(),
                reason: violations.join("; "),
            });
        }
        Ok(self
            .registry
            .write(|txn| txn.add_record(org, module, data, unix_now()))?)
    }

    /// `org`'s records of `module` after id `after`, oldest first.
    pub fn records(
        &self,
        org: &str,
        module: &str,
        after: u64,
    ) -> Result<Vec<ModuleRecord>, ModuleError> {
        self.find(module)?;
        Ok(self
            .registry
            .read()?
            .records(org, module, after, MAX_LISTED_RECORDS)?)
    }

    /// `org`'s record `id` of `module`.
    pub fn record(&self, org: &str, module: &str, id: &str) -> Result<ModuleRecord, ModuleError> {
        self.find(module)?;
        let unknown = || ModuleError::UnknownRecord {
            module: module.to_owned(),
            id: id.to_owned(),
        };
        let number: u64 = id.parse().map_err(|_| unknown())?;
        self.registry
            .read()?
            .record(org, module, number)?
            .ok_or_else(unknown)
    }
}
