//! The one place errors become HTTP responses: `{"error":{"code","message"}}`,
//! with `fields` when a value was refused field by field.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// An error as the client sees it: a status, a stable machine-readable code
/// and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code (`snake_case`).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Seconds to wait before retrying, sent as `Retry-After`.
    pub retry_after: Option<u64>,
    /// What was wrong with each field of a refused value (sent as
    /// `fields` unless empty).
    pub fields: Vec<FieldProblem>,
}

/// One field of a refused value and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field: a top-level property's name, a JSON pointer without its
    /// leading slash for a nested one, empty for the whole value.
    pub field: String,
    /// The JSON Schema keyword it fails (`required`, `pattern`, …).
    pub keyword: String,
    /// What is wrong, in a short sentence that never holds the value.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            fields: Vec::new(),
        }
    }

    /// The same error, with what was wrong field by field.
    pub fn with_fields(mut self, fields: Vec<FieldProblem>) -> Self {
        self.fields = fields;
        self
    }

    /// The same error, telling the client to retry after `secs` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 429 `too_many_requests` with `Retry-After`: an org over its limits
    /// ([`crate::common::admission`]).
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
            .with_retry_after(crate::common::admission::RETRY_AFTER_SECS)
    }

    /// A 500 with `code` for a fault of the server's own (storage, the
    /// registry): `detail` goes to the operator's log, never to the client,
    /// since it may name server paths.
    pub fn internal(code: &'static str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(code, "internal error: {detail}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            code,
            "the server failed to complete this request; its log has the details",
        )
    }

    /// 503 with code `registry_unavailable`: a cluster node cannot reach
    /// its PostgreSQL registry right now (`detail` is logged).
    pub fn registry_unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!("registry unreachable: {detail}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "registry_unavailable",
            "the registry cannot be reached right now; nothing was changed",
        )
    }

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The JSON response for this error.
    pub fn into_response(self) -> Response<HyperOutgoingBody> {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if !self.fields.is_empty() {
            error["fields"] = serde_json::to_value(&self.fields).expect("field problems serialize");
        }
        let body = serde_json::json!({ "error": error });
        let mut response = json_response(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"berth\""),
            );
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

impl From<crate::common::admission::Refusal> for ApiError {
    fn from(refusal: crate::common::admission::Refusal) -> Self {
        Self::too_many_requests(refusal.to_string())
    }
}

/// A JSON response with `status` and `body`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// A complete in-memory body of the type plugin responses use.
pub fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON body of `error`'s response.
    fn body(error: ApiError) -> serde_json::Value {
        let response = error.into_response();
        let bytes = bytes_of(response.into_body());
        serde_json::from_slice(&bytes).unwrap()
    }

    fn bytes_of(body: HyperOutgoingBody) -> Bytes {
        let collected = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(body.collect());
        collected.map(|c| c.to_bytes()).unwrap_or_default()
    }

    #[test]
    fn fields_are_sent_only_when_there_are_some() {
        let plain = body(ApiError::not_found("no such thing"));
        assert_eq!(
            plain,
            serde_json::json!({ "error": { "code": "not_found", "message": "no such thing" } })
        );
        let problem = FieldProblem {
            field: "url".into(),
            keyword: "pattern".into(),
            message: "does not match the required pattern".into(),
        };
        let refused = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "config_rejected", "bad")
            .with_fields(vec![problem]);
        assert_eq!(
            body(refused)["error"]["fields"],
            serde_json::json!([{
                "field": "url",
                "keyword": "pattern",
                "message": "does not match the required pattern"
            }])
        );
    }
}
