//! Module routes: `/o/{org}/api/{module}` (`GET` lists, `POST` creates,
//! firing `before-create` and `after-create`) and
//! `/o/{org}/api/{module}/{id}` (`GET` reads one record).

use crate::capabilities::modules::{ModuleError, Modules};
use crate::common::admission::Admitted;
use crate::common::error::{ApiError, json_response};
use crate::common::request_body::{off_thread, read_json};
use crate::serve::hooks::HookDispatcher;
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
    let modules = modules.clone();
    let (status, body) = match (request.method().clone(), id) {
        (Method::GET, None) => {
            let after = request
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("after=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let records = off_thread(move || modules.records(&org, &module, after)).await?;
            (StatusCode::OK, serde_json::to_value(records))
        }
        (Method::POST, None) => {
            if !modules.is_builtin(&module) {
                return Err(ModuleError::UnknownModule(module).into());
            }
            let data: serde_json::Value = read_json(request).await?;
            let data = hooks.before(&org, &module, "before-create", data).await?;
            let (org_name, module_name) = (org.clone(), module.clone());
            let record = off_thread(move || modules.create(&org_name, &module_name, data)).await?;
            let record = serde_json::to_value(record).expect("records serialize");
            hooks.after(&org, &module, "after-create", record.clone(), admitted);
            (StatusCode::CREATED, Ok(record))
        }
        (Method::GET, Some(id)) => {
            let record = off_thread(move || modules.record(&org, &module, &id)).await?;
            (StatusCode::OK, serde_json::to_value(record))
        }
        (method, _) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not supported on module routes"),
            ));
        }
    };
    Ok(json_response(status, &body.expect("records serialize")))
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
