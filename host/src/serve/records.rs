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
use crate::common::admission::Admitted;
use crate::common::error::{ApiError, json_response};
use crate::common::request_body::{off_thread, read_json};
use crate::serve::hooks::HookDispatcher;
use berth_storage::ModuleRecord;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
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

/// Answers a module route of an existing org, admitted as `admitted`: the
/// slot is held while its hooks run, `after-*` ones included.
pub async fn handle(
    modules: &Arc<Modules>,
    hooks: &HookDispatcher,
    target: ModulePath,
    request: Request<Incoming>,
    admitted: Admitted,
) -> Result<Response<HyperOutgoingBody>, ApiError> {
    let ModulePath { org, module, id } = target;
    let writes = RecordWrites { modules, hooks };
    let method = request.method().clone();
    if method != Method::GET && !modules.is_builtin(&module) {
        return Err(ModuleError::UnknownModule(module).into());
    }
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
                let data = read_json(request).await?;
                let record = writes.create(&org, &module, data, admitted).await?;
                Ok(json_response(StatusCode::CREATED, &record))
            }
            method => Err(not_allowed(&method)),
        };
    };
    let current = {
        let (modules, org, module, id) = (modules.clone(), org.clone(), module.clone(), id.clone());
        off_thread(move || modules.record(&org, &module, &id)).await?
    };
    match method {
        Method::GET => Ok(json_response(StatusCode::OK, &json_record(&current))),
        Method::PUT | Method::PATCH => {
            let body: serde_json::Value = read_json(request).await?;
            let data = match method {
                Method::PUT => body,
                _ => merge_patch::apply(&current.data, &body),
            };
            let record = writes
                .update(&org, &module, current, data, admitted)
                .await?;
            Ok(json_response(StatusCode::OK, &record))
        }
        Method::DELETE => {
            let record = writes.delete(&org, &module, current, admitted).await?;
            Ok(json_response(StatusCode::OK, &record))
        }
        method => Err(not_allowed(&method)),
    }
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

/// Writes to module records, each through the module's hooks, its schema
/// and one transaction with its audit entry.
struct RecordWrites<'a> {
    modules: &'a Arc<Modules>,
    hooks: &'a HookDispatcher,
}

impl RecordWrites<'_> {
    /// Creates a record from `data`; returns it as stored.
    async fn create(
        &self,
        org: &str,
        module: &str,
        data: serde_json::Value,
        admitted: Admitted,
    ) -> Result<serde_json::Value, ApiError> {
        let data = self
            .hooks
            .before(org, module, "before-create", data)
            .await?;
        let modules = self.modules.clone();
        let (org_name, module_name) = (org.to_owned(), module.to_owned());
        let record =
            off_thread(move || modules.create(&org_name, &module_name, data, None)).await?;
        let record = json_record(&record);
        (self.hooks).after(org, module, "after-create", record.clone(), admitted);
        Ok(record)
    }

    /// Replaces `current`'s data with `data`; returns the record as stored.
    async fn update(
        &self,
        org: &str,
        module: &str,
        current: ModuleRecord,
        data: serde_json::Value,
        admitted: Admitted,
    ) -> Result<serde_json::Value, ApiError> {
        let id = current.id;
        let payload = serde_json::json!({ "id": id, "data": data, "previous": current.data });
        let mut decided = self
            .hooks
            .before(org, module, "before-update", payload)
            .await?;
        let data = decided["data"].take();
        let modules = self.modules.clone();
        let (org_name, module_name) = (org.to_owned(), module.to_owned());
        let previous = current.data;
        let kept = previous.clone();
        let record =
            off_thread(move || modules.update(&org_name, &module_name, id, &kept, data, None))
                .await?;
        let mut record = json_record(&record);
        record["previous"] = previous;
        (self.hooks).after(org, module, "after-update", record.clone(), admitted);
        record
            .as_object_mut()
            .map(|fields| fields.remove("previous"));
        Ok(record)
    }

    /// Removes `current`; returns it as it was.
    async fn delete(
        &self,
        org: &str,
        module: &str,
        current: ModuleRecord,
        admitted: Admitted,
    ) -> Result<serde_json::Value, ApiError> {
        let payload = serde_json::json!({ "id": current.id, "data": current.data });
        self.hooks
            .before(org, module, "before-delete", payload)
            .await?;
        let modules = self.modules.clone();
        let (org_name, module_name) = (org.to_owned(), module.to_owned());
        let (id, previous) = (current.id, current.data.clone());
        off_thread(move || modules.delete(&org_name, &module_name, id, &previous, None)).await?;
        let record = json_record(&current);
        (self.hooks).after(org, module, "after-delete", record.clone(), admitted);
        Ok(record)
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
