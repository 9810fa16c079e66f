//! The web console at `/console/`: the files of the `berth-console` crate
//! (built from `host/console/web` with Vite), served like UI assets — with
//! ETags, `no-cache` and the strict Content-Security-Policy. The console
//! talks to the management API with the org-admin token it signs in with.

use crate::error::ApiError;
use crate::ui::assets::{CONTENT_SECURITY_POLICY, content_type, is_head, static_response};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Where the console is served.
pub const PREFIX: &str = "/console";

/// Answers a request under [`PREFIX`].
pub fn handle<B>(request: &Request<B>) -> Result<Response<HyperOutgoingBody>, ApiError> {
    let path = request.uri().path();
    let head = is_head(request.method(), "the console")?;
    let Some(file) = path.strip_prefix("/console/") else {
        let mut redirect = Response::new(crate::error::full_body(Bytes::new()));
        *redirect.status_mut() = StatusCode::PERMANENT_REDIRECT;
        redirect
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/console/"));
        return Ok(redirect);
    };
    let file = if file.is_empty() { "index.html" } else { file };
    let bytes = berth_console::file(file)
        .ok_or_else(|| ApiError::not_found(format!("no console file {file}")))?;
    Ok(static_response(
        Bytes::from_static(bytes),
        content_type(file),
        request.headers(),
        head,
        CONTENT_SECURITY_POLICY,
    ))
}
