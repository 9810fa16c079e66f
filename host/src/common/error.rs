//! The one place errors become HTTP responses: `{"error":{"code","message"}}`.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
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
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
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

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The JSON response for this error.
    pub fn into_response(self) -> Response<HyperOutgoingBody> {
        let body = serde_json::json!({
            "error": { "code": self.code, "message": self.message }
        });
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
