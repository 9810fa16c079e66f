//! Module routes: `/o/{org}/api/{module}` (`GET` queries — filters,
//! order, cursor, page size, see [`RecordQuery`] — and `POST` creates) and
//! `/o/{org}/api/{module}/{id}` (`GET` reads, `PUT` replaces, `PATCH`
//! merges a JSON Merge Patch, `DELETE` removes). Every write runs the
//! module's `before-*` hooks (which may transform or veto), is validated
//! against the module's schema, commits with its audit entry, and then
//! fires the `after-*` hooks. A write prepared against a record that
//! changed meanwhile is refused with 409 `record_changed`.
//!
//! Hook payloads: `before-create` the new data; `before-update`
//! `{"id", "data", "previous"}` (a transform returns that shape, its `data`
//! is stored); `before-delete` `{"id", "data"}` (veto only); `after-*` the
//! record as stored (`after-update` with `previous`, the data it replaced).

use crate::capabilities::modules::merge_patch;
use crate::capabilities::modules::query::RecordQuery;
use crate::capabilities::modules::{ModuleError, Modules};
use crate::capabilities::records::{RecordFailure, RecordWrite, RecordWriter, WriteFuture};
use crate::common::admission::Admitted;
use crate::common::error::{ApiError, json_response};
use crate::common::request_body::{off_thread, parse_json};
use crate::serve::front_door::FrontDoor;
use crate::serve::hooks::{HookDispatcher, HookRefusal};
use berth_storage::ModuleRecord;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use std::sync::Arc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A parsed module route.
#[derive(Debug, PartialEq, Eq)]
pub struct ModulePath {
    /// The org segment.
    pub org: String,
    /// The module segment.
    pub module: String,
    /// The record id segment, if any.
    pub id: Option<String>,
}

impl ModulePath {
    /// Parses `/o/{org}/api/{module}[/{id}]`; `None` for other paths.
    pub fn parse(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("/o/")?;
        let (org, rest) = rest.split_once('/')?;
        let rest = rest.strip_prefix("api/")?.trim_end_matches('/');
        let (module, id) = match rest.split_once('/') {
            Some((module, id)) if !id.contains('/') => (module, Some(id)),
            Some(_) => return None,
            None => (rest, None),
        };
        (!org.is_empty() && !module.is_empty()).then(|| Self {
            org: org.to_owned(),
            module: module.to_owned(),
            id: id.map(str::to_owned),
        })
    }
}

impl From<ModuleError> for ApiError {
    fn from(error: ModuleError) -> Self {
        let (status, code) = match &error {
            ModuleError::UnknownModule(_) => (StatusCode::NOT_FOUND, "module_not_found"),
            ModuleError::UnknownRecord { .. } => (StatusCode::NOT_FOUND, "record_not_found"),
            ModuleError::InvalidRecord { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_record")
            }
            ModuleError::Changed { .. } => (StatusCode::CONFLICT, "record_changed"),
            ModuleError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ModuleError::Storage(_) => {
                return ApiError::internal("storage_error", format!("module request: {error}"));
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

/// Answers a module route of an existing org, its body already read,
/// admitted as `admitted`: the slot is held while its hooks run, `after-*`
/// ones included. `admin`: whether the caller is the org's admin (or the
/// operator).
pub async fn handle(
    records: &RecordService,
    target: ModulePath,
    request: Request<Bytes>,
    admitted: Admitted,
    admin: bool,
) -> Result<Response<HyperOutgoingBody>, ApiError> {
    let ModulePath { org, module, id } = target;
    let modules = &records.modules;
    let method = request.method().clone();
    // A plugin's own module: only the org's admins read it here (its
    // owner decides which plugins may), and nobody writes it here.
    if !modules.is_builtin(&module) && (method != Method::GET || !admin) {
        return Err(ModuleError::UnknownModule(module).into());
    }
    let author = Author::api(admitted);
    let Some(id) = id else {
        return match method {
            Method::GET => {
                let query = RecordQuery::from_url_query(request.uri().query().unwrap_or(""))
                    .map_err(ModuleError::InvalidQuery)?;
                let modules = modules.clone();
                let (org, module) = (org.clone(), module.clone());
                let (records, next) =
                    off_thread(move || modules.query(&org, &module, &query)).await?;
                let mut response = json_response(StatusCode::OK, &serde_json::json!(records));
                if let Some(next) = next {
                    let value = http::HeaderValue::from(next);
                    response.headers_mut().insert("x-next-cursor", value);
                }
                Ok(response)
            }
            Method::POST => {
                let data = parse_json(request.body())?;
                let record = records.create(&org, &module, data, author).await?;
                Ok(json_response(StatusCode::CREATED, &json_record(&record)))
            }
            method => Err(not_allowed(&method)),
        };
    };
    let Ok(id) = id.parse::<u64>() else {
        // No such record; but first, as for any id, no such module.
        modules.record_module(&org, &module)?;
        return Err(ModuleError::UnknownRecord { module, id }.into());
    };
    let current = records.current(&org, &module, id).await?;
    let record = match method {
        Method::GET => current,
        Method::PUT => {
            let data = parse_json(request.body())?;
            records.update(&org, &module, current, data, author).await?
        }
        Method::PATCH => {
            let patch: serde_json::Value = parse_json(request.body())?;
            let data = merge_patch::apply(&current.data, &patch);
            records.update(&org, &module, current, data, author).await?
        }
        Method::DELETE => records.delete(&org, &module, current, author).await?,
        method => return Err(not_allowed(&method)),
    };
    Ok(json_response(StatusCode::OK, &json_record(&record)))
}

/// 405 for a method module routes do not take.
fn not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not supported on module routes"),
    )
}

/// A record as JSON.
fn json_record(record: &ModuleRecord) -> serde_json::Value {
    serde_json::to_value(record).expect("records serialize")
}

/// Who makes a write, and so which nesting level its hooks run at and
/// what holds the org's slot while its `after-*` hooks run.
pub struct Author {
    /// The plugin writing (`None`: the HTTP API), named in the audit entry.
    plugin: Option<String>,
    /// The write's nesting level (1 from the HTTP API).
    depth: u8,
    /// The admission its `after-*` hooks hold (`None`: the org was at its
    /// limit, so they are not fired).
    admitted: Option<Admitted>,
}

impl Author {
    /// A write from the HTTP API, under the request's admission.
    fn api(admitted: Admitted) -> Self {
        Self {
            plugin: None,
            depth: 1,
            admitted: Some(admitted),
        }
    }
}

/// Module record writes, each through the module's hooks, its schema and
/// one transaction with its audit entry — for the HTTP API and, as the
/// [`RecordWriter`] plugins' `berth:plugin/records` calls reach, for
/// plugins.
#[derive(Clone)]
pub struct RecordService {
    modules: Arc<Modules>,
    hooks: Arc<HookDispatcher>,
    front_door: FrontDoor,
}

impl RecordService {
    /// Writes through `hooks` into `modules`; plugins' `after-*` hooks are
    /// admitted at `front_door`.
    pub fn new(modules: Arc<Modules>, hooks: Arc<HookDispatcher>, front_door: FrontDoor) -> Self {
        Self {
            modules,
            hooks,
            front_door,
        }
    }

    /// `org`'s record `id` of `module`, as it is now.
    async fn current(&self, org: &str, module: &str, id: u64) -> Result<ModuleRecord, ApiError> {
        let modules = self.modules.clone();
        let (org, module) = (org.to_owned(), module.to_owned());
        off_thread(move || modules.record(&org, &module, id)).await
    }

    /// Fires `after` hooks with `record` under `author`'s admission.
    fn after(
        &self,
        org: &str,
        module: &str,
        hook: &str,
        record: serde_json::Value,
        author: Author,
    ) {
        match author.admitted {
            Some(admitted) => (self.hooks).after(org, module, hook, record, author.depth, admitted),
            None if !self.hooks.has_subscribers(org, module, hook) => {}
            None => tracing::warn!(org, module, hook, "not fired: the org is at its limit"),
        }
    }

    /// Creates a record from `data`.
    async fn create(
        &self,
        org: &str,
        module: &str,
        data: serde_json::Value,
        author: Author,
    ) -> Result<ModuleRecord, ApiError> {
        let hooks = &self.hooks;
        let data = hooks
            .before(org, module, "before-create", data, author.depth)
            .await?;
        let modules = self.modules.clone();
        let (org_name, module_name, by) =
            (org.to_owned(), module.to_owned(), author.plugin.clone());
        let record =
            off_thread(move || modules.create(&org_name, &module_name, data, by.as_deref()))
                .await?;
        self.after(org, module, "after-create", json_record(&record), author);
        Ok(record)
    }

    /// Replaces `current`'s data with `data`.
    async fn update(
        &self,
        org: &str,
        module: &str,
        current: ModuleRecord,
        data: serde_json::Value,
        author: Author,
    ) -> Result<ModuleRecord, ApiError> {
        let id = current.id;
        let payload = serde_json::json!({ "id": id, "data": data, "previous": current.data });
        let hooks = &self.hooks;
        let decided = hooks
            .before(org, module, "before-update", payload, author.depth)
            .await?;
        // A transform must keep the shape; anything else fails closed.
        let Some(data) = decided.get("data").cloned() else {
            return Err(ApiError::from(HookRefusal::Failed {
                plugin: "a before-update subscriber".into(),
                error: "it transformed the payload into one without `data`".into(),
            }));
        };
        let modules = self.modules.clone();
        let (org_name, module_name, by) =
            (org.to_owned(), module.to_owned(), author.plugin.clone());
        let previous = current.data;
        let kept = previous.clone();
        let record = off_thread(move || {
            modules.update(&org_name, &module_name, id, &kept, data, by.as_deref())
        })
        .await?;
        let mut fired = json_record(&record);
        fired["previous"] = previous;
        self.after(org, module, "after-update", fired, author);
        Ok(record)
    }

    /// Removes `current`; returns it as it was.
    async fn delete(
        &self,
        org: &str,
        module: &str,
        current: ModuleRecord,
        author: Author,
    ) -> Result<ModuleRecord, ApiError> {
        let payload = serde_json::json!({ "id": current.id, "data": current.data });
        (self.hooks)
            .before(org, module, "before-delete", payload, author.depth)
            .await?;
        let modules = self.modules.clone();
        let (org_name, module_name, by) =
            (org.to_owned(), module.to_owned(), author.plugin.clone());
        let (id, previous) = (current.id, current.data.clone());
        off_thread(move || modules.delete(&org_name, &module_name, id, &previous, by.as_deref()))
            .await?;
        self.after(org, module, "after-delete", json_record(&current), author);
        Ok(current)
    }

    /// Makes a plugin's `write`.
    async fn write_for_plugin(
        &self,
        org: &str,
        write: RecordWrite,
        author: Author,
    ) -> Result<ModuleRecord, ApiError> {
        let module = write.module().to_owned();
        match write {
            RecordWrite::Create { data, .. } => self.create(org, &module, data, author).await,
            RecordWrite::Replace { id, data, .. } => {
                let current = self.current(org, &module, id).await?;
                self.update(org, &module, current, data, author).await
            }
            RecordWrite::Patch { id, patch, .. } => {
                let current = self.current(org, &module, id).await?;
                let data = merge_patch::apply(&current.data, &patch);
                self.update(org, &module, current, data, author).await
            }
            RecordWrite::Delete { id, .. } => {
                let current = self.current(org, &module, id).await?;
                self.delete(org, &module, current, author).await
            }
        }
    }
}

impl RecordWriter for RecordService {
    fn write(&self, org: &str, plugin: &str, depth: u8, write: RecordWrite) -> WriteFuture {
        let service = self.clone();
        // A slot for the `after-*` hooks, if any will run.
        let admitted = (self
            .hooks
            .has_subscribers(org, write.module(), write.after_hook()))
        .then(|| self.front_door.admit(org).ok())
        .flatten();
        let author = Author {
            plugin: Some(plugin.to_owned()),
            depth,
            admitted,
        };
        let org = org.to_owned();
        Box::pin(async move {
            (service.write_for_plugin(&org, write, author).await).map_err(|error| {
                let why = error.message;
                match error.code {
                    "module_not_found" | "record_not_found" => RecordFailure::NotFound(why),
                    "invalid_record" => RecordFailure::Invalid(why),
                    "vetoed" | "hook_failed" => RecordFailure::Vetoed(why),
                    "record_changed" => RecordFailure::Conflict(why),
                    _ => RecordFailure::Internal(why),
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ModulePath;

    #[test]
    fn module_paths_parse() {
        let path = ModulePath::parse("/o/acme/api/contacts/7").unwrap();
        assert_eq!(
            (path.org.as_str(), path.module.as_str(), path.id.as_deref()),
            ("acme", "contacts", Some("7"))
        );
        let list = ModulePath::parse("/o/acme/api/contacts/").unwrap();
        assert_eq!(list.id, None);
        assert!(ModulePath::parse("/o/acme/p/contacts").is_none());
        assert!(ModulePath::parse("/o/acme/api/").is_none());
        assert!(ModulePath::parse("/o/acme/api/contacts/1/x").is_none());
    }
}
