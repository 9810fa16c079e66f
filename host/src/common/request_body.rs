//! Reading request bodies: a whole body under a size limit (413 beyond) and
//! a deadline (408 past it), small JSON bodies (400 when they do not
//! parse), and running a step that touches disk on a blocking thread.

use crate::common::error::ApiError;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use std::time::Duration;

/// Largest JSON body accepted by non-upload endpoints.
pub const MAX_JSON_BODY: u64 = 64 * 1024;

/// Runs a step that touches disk on a blocking thread.
pub async fn off_thread<T, E>(
    step: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Send + 'static,
    ApiError: From<E>,
{
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| ApiError::internal("internal", e))?
        .map_err(ApiError::from)
}

/// How berth reads the request bodies it consumes whole (the management
/// API's, module records'): within a size limit and a deadline. A client
/// that stalls mid-body is answered 408 `request_body_timeout` when the
/// deadline passes, so it holds a connection for that long at most.
#[derive(Clone, Copy, Debug)]
pub struct BodyReader {
    deadline: Duration,
}

impl BodyReader {
    /// Reads bodies that must arrive whole within `deadline`.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }

    /// Reads the whole body, up to `limit` bytes (413 `upload_too_large`
    /// beyond, before reading when the declared length is already larger).
    pub async fn bytes(&self, request: Request<Incoming>, limit: u64) -> Result<Bytes, ApiError> {
        Ok(self.whole(request, limit).await?.into_body())
    }

    /// `request` with its whole body read, as [`BodyReader::bytes`] reads it.
    pub async fn whole(
        &self,
        request: Request<Incoming>,
        limit: u64,
    ) -> Result<Request<Bytes>, ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_too_large",
                format!("the request body exceeds the limit of {limit} bytes"),
            )
        };
        if declared_length(request.headers()).is_some_and(|length| length > limit) {
            return Err(too_large());
        }
        let (parts, body) = request.into_parts();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let reading = Limited::new(body, limit).collect();
        let Ok(read) = tokio::time::timeout(self.deadline, reading).await else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_body_timeout",
                format!(
                    "the request body did not arrive within {} ms",
                    self.deadline.as_millis()
                ),
            ));
        };
        match read {
            Ok(body) => Ok(Request::from_parts(parts, body.to_bytes())),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Err(e) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("reading the request body: {e}"),
            )),
        }
    }

    /// Reads and parses a small JSON body; an empty body is `None`.
    pub async fn optional_json<T: serde::de::DeserializeOwned>(
        &self,
        request: Request<Incoming>,
    ) -> Result<Option<T>, ApiError> {
        let body = self.bytes(request, MAX_JSON_BODY).await?;
        if body.is_empty() {
            return Ok(None);
        }
        parse_json(&body).map(Some)
    }

    /// Reads and parses a small JSON body.
    pub async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: Request<Incoming>,
    ) -> Result<T, ApiError> {
        let body = self.bytes(request, MAX_JSON_BODY).await?;
        parse_json(&body)
    }
}

/// The body length a request's `Content-Length` declares, if it is a number.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    (headers.get(header::CONTENT_LENGTH)).and_then(|v| v.to_str().ok()?.parse().ok())
}

/// Parses a JSON body (400 `invalid_json` when it does not parse).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}
