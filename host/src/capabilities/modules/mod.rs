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
pub mod merge_patch;
pub mod query;

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

use berth_storage::{Database, ModuleRecord, StorageError, WriteTxn, unix_now};
use builtin::{BuiltinModule, builtin_modules};
use contributions::{Contributions, OrgContributions};
use query::RecordQuery;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A module as `GET /api/v1/orgs/{org}/modules` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
    /// JSON Schema of its records (`None`: any JSON object).
    pub schema: Option<serde_json::Value>,
    /// Plugins besides its owner that may read its records (a plugin
    /// module's; the `database` grant alone governs built-in modules).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readers: Vec<String>,
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
    /// The record changed or went while the write was being prepared.
    #[error("`{module}` record {id} changed meanwhile; read it and try again")]
    Changed {
        /// The module.
        module: String,
        /// The record.
        id: u64,
    },
    /// The query is malformed.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
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

    /// `org`'s module `module` if it keeps records: a built-in one, or one
    /// an active plugin of `org` registered.
    pub fn record_module(&self, org: &str, module: &str) -> Result<ModuleDescriptor, ModuleError> {
        if let Ok(compiled) = self.find(module) {
            return Ok(compiled.module.descriptor.clone());
        }
        let unknown = || ModuleError::UnknownModule(module.to_owned());
        let registered = self.read_live().get(org).and_then(|c| c.module(module));
        let descriptor = registered.ok_or_else(unknown)?;
        // The name's records belong to the plugin that first wrote them; a
        // plugin registering the name since does not get them.
        let stored = self.registry.read()?.module_owner(org, module)?;
        match stored {
            Some(owner) if descriptor.owner.as_ref() != Some(&owner) => Err(unknown()),
            _ => Ok(descriptor),
        }
    }

    /// Refuses `data` that does not satisfy `org`'s module `module`'s
    /// schema (a plugin module without one takes any JSON object); returns
    /// the module.
    fn validate(
        &self,
        org: &str,
        module: &str,
        data: &serde_json::Value,
    ) -> Result<ModuleDescriptor, ModuleError> {
        let invalid = |reason: String| ModuleError::InvalidRecord {
            module: module.to_owned(),
            reason,
        };
        let (descriptor, violations): (_, Vec<String>) = match self.find(module) {
            Ok(compiled) => {
                let violations = compiled.validator.iter_errors(data).map(violation);
                (compiled.module.descriptor.clone(), violations.collect())
            }
            Err(_) => {
                let descriptor = self.record_module(org, module)?;
                let violations = match &descriptor.schema {
                    Some(schema) => jsonschema::validator_for(schema)
                        .map_err(|e| invalid(format!("its schema is not valid: {e}")))?
                        .iter_errors(data)
                        .map(violation)
                        .collect(),
                    None if data.is_object() => Vec::new(),
                    None => vec!["a record is a JSON object".to_owned()],
                };
                (descriptor, violations)
            }
        };
        if violations.is_empty() {
            Ok(descriptor)
        } else {
            Err(invalid(violations.join("; ")))
        }
    }

    /// Validates `data` against the module's schema and stores it as a new
    /// record of `org`, with its audit entry in the same transaction
    /// (`by`: the plugin writing, `None` for the HTTP API).
    pub fn create(
        &self,
        org: &str,
        module: &str,
        data: serde_json::Value,
        by: Option<&str>,
    ) -> Result<ModuleRecord, ModuleError> {
        let owner = self.validate(org, module, &data)?.owner;
        let at = unix_now();
        let created = self.registry.write(|txn| {
            // A plugin module's first record makes its registrant the owner.
            if let Some(owner) = &owner
                && &txn.claim_module(org, module, owner)? != owner
            {
                return Ok(None);
            }
            let record = txn.add_record(org, module, data.clone(), at)?;
            audit_record(txn, org, at, "record-create", module, record.id, by)?;
            Ok::<_, StorageError>(Some(record))
        })?;
        created.ok_or_else(|| ModuleError::UnknownModule(module.to_owned()))
    }

    /// Replaces the data of `org`'s record `id` of `module`, which held
    /// `previous` when the caller read it, with `data` (validated), audited
    /// in the same transaction. `Changed` if it no longer holds `previous`.
    pub fn update(
        &self,
        org: &str,
        module: &str,
        id: u64,
        previous: &serde_json::Value,
        data: serde_json::Value,
        by: Option<&str>,
    ) -> Result<ModuleRecord, ModuleError> {
        self.validate(org, module, &data)?;
        let at = unix_now();
        let updated = self.registry.write(|txn| {
            let Some(record) = txn.update_record(org, module, id, previous, data.clone(), at)?
            else {
                return Ok(None);
            };
            audit_record(txn, org, at, "record-update", module, id, by)?;
            Ok::<_, StorageError>(Some(record))
        })?;
        updated.ok_or_else(|| ModuleError::Changed {
            module: module.to_owned(),
            id,
        })
    }

    /// Removes `org`'s record `id` of `module`, which held `previous` when
    /// the caller read it, audited in the same transaction. `Changed` if it
    /// no longer holds `previous`.
    pub fn delete(
        &self,
        org: &str,
        module: &str,
        id: u64,
        previous: &serde_json::Value,
        by: Option<&str>,
    ) -> Result<(), ModuleError> {
        self.record_module(org, module)?;
        let at = unix_now();
        let deleted = self.registry.write(|txn| {
            if !txn.delete_record(org, module, id, previous)? {
                return Ok(false);
            }
            audit_record(txn, org, at, "record-delete", module, id, by)?;
            Ok::<_, StorageError>(true)
        })?;
        if deleted {
            Ok(())
        } else {
            Err(ModuleError::Changed {
                module: module.to_owned(),
                id,
            })
        }
    }

    /// One page of `org`'s records of `module` that `query` selects, and
    /// the cursor of the next page if there may be one.
    pub fn query(
        &self,
        org: &str,
        module: &str,
        query: &RecordQuery,
    ) -> Result<(Vec<ModuleRecord>, Option<u64>), ModuleError> {
        self.record_module(org, module)?;
        // One more than the page says whether another follows.
        let mut records = self.registry.read()?.records_where(
            org,
            module,
            query.after,
            query.descending,
            query.limit + 1,
            |record| query.accepts(&record.data),
        )?;
        let next = if records.len() > query.limit {
            records.truncate(query.limit);
            records.last().map(|record| record.id)
        } else {
            None
        };
        Ok((records, next))
    }

    /// `org`'s record `id` of `module`.
    pub fn record(&self, org: &str, module: &str, id: u64) -> Result<ModuleRecord, ModuleError> {
        self.record_module(org, module)?;
        (self.registry.read()?.record(org, module, id)?).ok_or_else(|| ModuleError::UnknownRecord {
            module: module.to_owned(),
            id: id.to_string(),
        })
    }
}

/// Appends the audit entry of a record write: `action` on `module/id`, by
/// the plugin `by` (or the HTTP API).
fn audit_record(
    txn: &mut WriteTxn<'_>,
    org: &str,
    at: u64,
    action: &str,
    module: &str,
    id: u64,
    by: Option<&str>,
) -> Result<(), StorageError> {
    let detail = format!("{module}/{id}");
    txn.append_audit(org, at, action, by, None, &detail)
        .map(drop)
}

/// One schema violation, for people.
fn violation(error: jsonschema::ValidationError<'_>) -> String {
    format!("{} at `{}`", error, error.instance_path())
}
