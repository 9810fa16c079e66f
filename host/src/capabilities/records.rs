//! `berth:plugin/records`: the org's module records, read and written by a
//! plugin as the HTTP API reads and writes them.
//!
//! The `database` permission names the modules a plugin may `read` and
//! `write`; every call checks it first — and, for a module a plugin
//! registered, that its owner allows it (the owner reads and writes, the
//! plugins it names as `readers` read); and the org is always the
//! instance's own (from its identity, never an argument), so no call can
//! reach another org's records. Reads go straight to the module registry.
//! Writes go to the [`RecordWriter`] the serve layer binds at start-up —
//! the same path as `POST`/`PUT`/`PATCH`/`DELETE` on `/o/{org}/api/…`:
//! `before-*` hooks (which may transform or veto), the module's schema, one
//! transaction with its audit entry, `after-*` hooks. Each instance knows
//! how deep in writing hooks it runs ([`RecordsState::depth`]); a write
//! past [`MAX_WRITE_DEPTH`] fails with `too-deep`, so hooks that write
//! cannot loop forever.

use crate::capabilities::bindings::v0_2_0::records::{
    Comparison as WitComparison, Host, ModuleRecord as WitRecord, Page, RecordQuery as WitQuery,
    RecordsError,
};
use crate::capabilities::capability::{Capability, missing, retain_declared};
use crate::capabilities::modules::query::{
    Comparison, DEFAULT_PAGE, Filter, MAX_FILTERS, MAX_PAGE, RecordQuery, check_filter,
};
use crate::capabilities::modules::{ModuleError, Modules};
use crate::common::ids::PluginIdentity;
use crate::common::request_body::MAX_JSON_BODY;
use crate::package::manifest::Permissions;
use berth_storage::ModuleRecord;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};

/// The `database` permission: modules whose records a plugin may `read`
/// and `write`.
pub const CAPABILITY: Capability = Capability {
    permission: "database",
    imports: &["berth:plugin/records@"],
    declared: |p| !p.database.is_empty(),
    not_covered: |wanted, available| {
        let (wanted, available) = (&wanted.database, &available.database);
        let mut lacking = missing("database read", &wanted.read, &available.read);
        lacking.extend(missing("database write", &wanted.write, &available.write));
        lacking
    },
    narrow: |granted, declared| {
        retain_declared(&mut granted.database.read, &declared.database.read);
        retain_declared(&mut granted.database.write, &declared.database.write);
    },
    forget: Some(forget_owned_records),
};

/// At uninstall: the records of the modules whose records the plugin owns
/// (it registered them and wrote their first record).
fn forget_owned_records(
    txn: &mut berth_storage::WriteTxn<'_>,
    org: &str,
    plugin: &str,
) -> Result<(), berth_storage::StorageError> {
    for module in txn.owned_modules(org, plugin)? {
        txn.delete_module_records(org, &module)?;
    }
    Ok(())
}

/// Deepest a write may be nested: a write from an HTTP request or a route
/// is level 1, a write from a hook that level 1 fired is level 2, and so on.
pub const MAX_WRITE_DEPTH: u8 = 4;

/// A write a plugin asks for.
#[derive(Debug)]
pub enum RecordWrite {
    /// Create a record of `module` from `data`.
    Create {
        /// The module.
        module: String,
        /// The new record's fields.
        data: serde_json::Value,
    },
    /// Replace record `id`'s data.
    Replace {
        /// The module.
        module: String,
        /// The record.
        id: u64,
        /// Its new fields.
        data: serde_json::Value,
    },
    /// Merge a JSON Merge Patch into record `id`.
    Patch {
        /// The module.
        module: String,
        /// The record.
        id: u64,
        /// The patch.
        patch: serde_json::Value,
    },
    /// Delete record `id`.
    Delete {
        /// The module.
        module: String,
        /// The record.
        id: u64,
    },
}

impl RecordWrite {
    /// The module it writes to.
    pub fn module(&self) -> &str {
        match self {
            RecordWrite::Create { module, .. }
            | RecordWrite::Replace { module, .. }
            | RecordWrite::Patch { module, .. }
            | RecordWrite::Delete { module, .. } => module,
        }
    }

    /// The `after-*` hook it fires once committed.
    pub fn after_hook(&self) -> &'static str {
        match self {
            RecordWrite::Create { .. } => "after-create",
            RecordWrite::Replace { .. } | RecordWrite::Patch { .. } => "after-update",
            RecordWrite::Delete { .. } => "after-delete",
        }
    }
}

/// Why a write was not made.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordFailure {
    /// No such module or record.
    NotFound(String),
    /// The data breaks the module's schema.
    Invalid(String),
    /// A `before-*` hook vetoed it or failed.
    Vetoed(String),
    /// The record changed meanwhile.
    Conflict(String),
    /// The host failed.
    Internal(String),
}

/// A write in flight.
pub type WriteFuture = Pin<Box<dyn Future<Output = Result<ModuleRecord, RecordFailure>> + Send>>;

/// Makes record writes the way the HTTP API does (implemented by the serve
/// layer, which runs hooks).
pub trait RecordWriter: Send + Sync {
    /// Makes `write` in `org` for `plugin`, at nesting level `depth` (the
    /// hooks it fires run at that level); returns the record as stored (as
    /// it was, for a delete).
    fn write(&self, org: &str, plugin: &str, depth: u8, write: RecordWrite) -> WriteFuture;
}

/// Where plugins' record writes go: bound once the serve layer's record
/// service exists (it needs the runtime, which needs these services).
pub type RecordWriterSlot = Arc<OnceLock<Weak<dyn RecordWriter>>>;

/// One instance's records capability.
pub struct RecordsState {
    /// What the org granted; this unit reads `database`.
    pub grants: Arc<Permissions>,
    /// Whose org this is, and who writes.
    pub identity: Arc<PluginIdentity>,
    /// The module registry (reads).
    pub modules: Arc<Modules>,
    /// The record writer (writes).
    pub writer: RecordWriterSlot,
    /// How deep in writing hooks this instance runs: 0 for a route or an
    /// activation, the firing write's level for a hook.
    pub depth: u8,
}

impl RecordsState {
    /// Refuses `access` (`read` or `write`) to `module` unless the org
    /// granted it and — for a module a plugin registered — its owner
    /// allows it: the owner reads and writes, its `readers` only read.
    fn require(&self, access: &str, module: &str) -> Result<(), RecordsError> {
        let granted = match access {
            "read" => &self.grants.database.read,
            _ => &self.grants.database.write,
        };
        if !granted.iter().any(|m| m == module) {
            return Err(RecordsError::Denied(format!(
                "the org has not granted this plugin `database: {access}` on `{module}`"
            )));
        }
        let me = &self.identity.plugin;
        let descriptor = (self.modules)
            .record_module(&self.identity.org, module)
            .map_err(failed)?;
        match descriptor.owner {
            Some(owner)
                if &owner != me && (access != "read" || !descriptor.readers.contains(me)) =>
            {
                Err(RecordsError::Denied(format!(
                    "`{module}` belongs to `{owner}`, which lets {}",
                    if access == "read" {
                        "other readers"
                    } else {
                        "no one else write"
                    }
                )))
            }
            _ => Ok(()),
        }
    }

    /// Makes a write to `module` through the writer, one level deeper:
    /// checks the grant first — so an ungranted call is denied whatever it
    /// sends — then lets `make` build the write (parsing the guest's JSON).
    async fn write(
        &self,
        module: String,
        make: impl FnOnce(String) -> Result<RecordWrite, RecordsError>,
    ) -> Result<ModuleRecord, RecordsError> {
        self.require("write", &module)?;
        let write = make(module)?;
        let depth = self.depth + 1;
        if depth > MAX_WRITE_DEPTH {
            return Err(RecordsError::TooDeep(format!(
                "writes nest at most {MAX_WRITE_DEPTH} levels deep in hooks"
            )));
        }
        let writer = (self.writer.get().and_then(Weak::upgrade))
            .ok_or_else(|| RecordsError::Internal("record writes are not available".into()))?;
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        writer
            .write(org, plugin, depth, write)
            .await
            .map_err(|failure| match failure {
                RecordFailure::NotFound(why) => RecordsError::NotFound(why),
                RecordFailure::Invalid(why) => RecordsError::Invalid(why),
                RecordFailure::Vetoed(why) => RecordsError::Vetoed(why),
                RecordFailure::Conflict(why) => RecordsError::Conflict(why),
                RecordFailure::Internal(why) => RecordsError::Internal(why),
            })
    }
}

/// A registry failure as the guest sees it.
fn failed(error: ModuleError) -> RecordsError {
    match error {
        ModuleError::UnknownModule(_) | ModuleError::UnknownRecord { .. } => {
            RecordsError::NotFound(error.to_string())
        }
        ModuleError::InvalidRecord { .. } | ModuleError::InvalidQuery(_) => {
            RecordsError::Invalid(error.to_string())
        }
        ModuleError::Changed { .. } => RecordsError::Conflict(error.to_string()),
        ModuleError::Storage(e) => {
            tracing::error!("plugin records call: {e}");
            RecordsError::Internal("the host's store failed".into())
        }
    }
}

/// A record as the guest sees it.
fn to_guest(record: ModuleRecord) -> WitRecord {
    WitRecord {
        id: record.id,
        data: record.data.to_string(),
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

/// Parses JSON text a guest passed, at most [`MAX_JSON_BODY`] bytes: the
/// most a record write over HTTP may send.
fn json(text: &str) -> Result<serde_json::Value, RecordsError> {
    if text.len() as u64 > MAX_JSON_BODY {
        return Err(RecordsError::Invalid(format!(
            "at most {MAX_JSON_BODY} bytes of JSON"
        )));
    }
    serde_json::from_str(text).map_err(|e| RecordsError::Invalid(format!("not JSON: {e}")))
}

/// A guest's query as the registry takes it, within the limits the HTTP
/// API's queries have: at most [`MAX_FILTERS`] filters, valid field names,
/// short values.
fn to_query(query: WitQuery) -> Result<RecordQuery, RecordsError> {
    if query.filters.len() > MAX_FILTERS {
        return Err(RecordsError::Invalid(format!(
            "at most {MAX_FILTERS} filters"
        )));
    }
    let filters = (query.filters.into_iter())
        .map(|filter| {
            check_filter(&filter.field, &filter.value).map_err(RecordsError::Invalid)?;
            Ok(Filter {
                field: filter.field,
                comparison: match filter.comparison {
                    WitComparison::Eq => Comparison::Eq,
                    WitComparison::Ne => Comparison::Ne,
                    WitComparison::Gt => Comparison::Gt,
                    WitComparison::Gte => Comparison::Gte,
                    WitComparison::Lt => Comparison::Lt,
                    WitComparison::Lte => Comparison::Lte,
                },
                value: json(&filter.value)?,
            })
        })
        .collect::<Result<Vec<_>, RecordsError>>()?;
    let limit = match query.limit as usize {
        0 => DEFAULT_PAGE,
        limit => limit.min(MAX_PAGE),
    };
    Ok(RecordQuery {
        filters,
        descending: query.newest_first,
        after: query.after,
        limit,
    })
}

impl Host for RecordsState {
    fn get(&mut self, module: String, id: u64) -> Result<Option<WitRecord>, RecordsError> {
        self.require("read", &module)?;
        match self.modules.record(&self.identity.org, &module, id) {
            Ok(record) => Ok(Some(to_guest(record))),
            Err(ModuleError::UnknownRecord { .. }) => Ok(None),
            Err(error) => Err(failed(error)),
        }
    }

    /// Runs on a blocking thread: a query may scan the org's whole module,
    /// and must not hold up the executor thread other instances run on.
    async fn query(&mut self, module: String, query: WitQuery) -> Result<Page, RecordsError> {
        self.require("read", &module)?;
        let query = to_query(query)?;
        let (modules, org) = (self.modules.clone(), self.identity.org.clone());
        let scanned =
            tokio::task::spawn_blocking(move || modules.query(&org, &module, &query)).await;
        let (records, next) = scanned
            .map_err(|e| RecordsError::Internal(format!("the query stopped: {e}")))?
            .map_err(failed)?;
        Ok(Page {
            records: records.into_iter().map(to_guest).collect(),
            next,
        })
    }

    async fn create(&mut self, module: String, data: String) -> Result<WitRecord, RecordsError> {
        self.write(module, |module| {
            Ok(RecordWrite::Create {
                module,
                data: json(&data)?,
            })
        })
        .await
        .map(to_guest)
    }

    async fn replace(
        &mut self,
        module: String,
        id: u64,
        data: String,
    ) -> Result<WitRecord, RecordsError> {
        self.write(module, |module| {
            Ok(RecordWrite::Replace {
                module,
                id,
                data: json(&data)?,
            })
        })
        .await
        .map(to_guest)
    }

    async fn patch(
        &mut self,
        module: String,
        id: u64,
        patch: String,
    ) -> Result<WitRecord, RecordsError> {
        self.write(module, |module| {
            Ok(RecordWrite::Patch {
                module,
                id,
                patch: json(&patch)?,
            })
        })
        .await
        .map(to_guest)
    }

    async fn delete(&mut self, module: String, id: u64) -> Result<(), RecordsError> {
        self.write(module, |module| Ok(RecordWrite::Delete { module, id }))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::bindings::v0_2_0::records::Filter as WitFilter;
    use crate::capabilities::fixture::{Fixture, ORG};
    use crate::capabilities::modules::query::MAX_FILTER_VALUE_BYTES;
    use serde_json::json;

    /// A fixture with plugin `probe` installed and one invoice, `{"amount": 1}`.
    fn with_an_invoice() -> Fixture {
        let fixture = Fixture::new();
        fixture.install("probe", json!({}), true, &[]);
        (fixture.services.registry)
            .write(|txn| {
                txn.add_record(ORG, "invoices", json!({"amount": 1}), 0)
                    .map(drop)
            })
            .unwrap();
        fixture
    }

    #[tokio::test]
    async fn every_call_needs_its_grant_and_writes_stop_at_the_nesting_limit() {
        let fixture = with_an_invoice();
        let mut none = fixture.instance("probe", json!({})).records;
        assert!(matches!(
            none.get("invoices".into(), 1),
            Err(RecordsError::Denied(_))
        ));
        let create = none.create("invoices".into(), "{}".into()).await;
        assert!(matches!(create, Err(RecordsError::Denied(_))));

        let reader = json!({"database": {"read": ["invoices"], "write": ["invoices"]}});
        let mut records = fixture.instance("probe", reader).records;
        let found = records.get("invoices".into(), 1).unwrap().unwrap();
        assert_eq!((found.id, found.data.as_str()), (1, r#"{"amount":1}"#));
        assert!(records.get("invoices".into(), 2).unwrap().is_none());
        assert!(matches!(
            records.get("contacts".into(), 1),
            Err(RecordsError::Denied(_))
        ));

        records.depth = MAX_WRITE_DEPTH;
        let too_deep = records.create("invoices".into(), "{}".into()).await;
        assert!(
            matches!(too_deep, Err(RecordsError::TooDeep(_))),
            "{too_deep:?}"
        );
        records.depth = 0;
        let unbound = records.create("invoices".into(), "{}".into()).await;
        assert!(
            matches!(unbound, Err(RecordsError::Internal(_))),
            "{unbound:?}"
        );
    }

    /// A query of `filters`, each `amount != value`.
    fn query_of(filters: Vec<(&str, String)>) -> WitQuery {
        WitQuery {
            filters: (filters.into_iter())
                .map(|(field, value)| WitFilter {
                    field: field.into(),
                    comparison: WitComparison::Ne,
                    value,
                })
                .collect(),
            newest_first: false,
            after: None,
            limit: 0,
        }
    }

    #[tokio::test]
    async fn queries_and_writes_are_bounded_as_over_http() {
        let fixture = with_an_invoice();
        let grant = json!({"database": {"read": ["invoices"], "write": ["invoices"]}});
        let mut records = fixture.instance("probe", grant).records;

        let most = vec![("amount", "0".to_owned()); MAX_FILTERS];
        let page = records.query("invoices".into(), query_of(most)).await;
        assert_eq!(page.unwrap().records.len(), 1);
        let too_many = vec![("amount", "0".to_owned()); MAX_FILTERS + 1];
        let long_value = format!("\"{}\"", "x".repeat(MAX_FILTER_VALUE_BYTES));
        for refused in [
            query_of(too_many),
            query_of(vec![("not a field", "0".to_owned())]),
            query_of(vec![("amount", long_value)]),
        ] {
            let answer = records.query("invoices".into(), refused).await;
            assert!(
                matches!(answer, Err(RecordsError::Invalid(_))),
                "{answer:?}"
            );
        }

        let huge = format!(r#"{{"note":"{}"}}"#, "x".repeat(MAX_JSON_BODY as usize));
        let refused = records.create("invoices".into(), huge).await;
        assert!(
            matches!(refused, Err(RecordsError::Invalid(_))),
            "{refused:?}"
        );
        // Nothing was written: the one invoice is all there is.
        let all = records.query("invoices".into(), query_of(Vec::new())).await;
        assert_eq!(all.unwrap().records.len(), 1);
    }
}
