//! `kvprobe`: a test plugin that calls `berth:plugin/kv` as its routes say,
//! so tests can try what a plugin may and may not do with its data.
//!
//! - `GET /get/{key}` → 200 with the value in `x-kv-value`, or 404;
//! - `GET /set/{key}/{value}` → 204;
//! - `GET /delete/{key}` → 204 (`x-kv-existed: true|false`);
//! - `GET /list/{prefix}` → 200 with the keys, comma-separated, in `x-kv-keys`;
//! - `GET /shared/{dependency}/{key}` → like `get`, through `get-shared`.
//!
//! A refused call answers 403 (`denied`), 413 (`too-large`), 404
//! (`not-found`) or 500 (`internal`) with the host's message in `x-kv-error`.
//! Answers carry no body: everything is in the status and headers.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/route-plugin",
    generate_all,
});

use berth::plugin::kv::{self, KvError};
use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

struct KvProbe;

impl Guest for KvProbe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (status, headers) = match segments.as_slice() {
            ["get", key] => found(kv::get(key)),
            ["set", key, value] => match kv::set(key, value.as_bytes()) {
                Ok(()) => (204, Vec::new()),
                Err(error) => refused(error),
            },
            ["delete", key] => match kv::delete(key) {
                Ok(existed) => (204, vec![("x-kv-existed", existed.to_string().into_bytes())]),
                Err(error) => refused(error),
            },
            ["shared", dependency, key] => found(kv::get_shared(dependency, key)),
            ["list", prefix] => match kv::list_keys(prefix) {
                Ok(keys) => (200, vec![("x-kv-keys", keys.join(",").into_bytes())]),
                Err(error) => refused(error),
            },
            _ => (400, Vec::new()),
        };
        let fields: Vec<(String, Vec<u8>)> = headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let response = OutgoingResponse::new(Fields::from_list(&fields).expect("valid headers"));
        response.set_status_code(status).expect("valid status");
        ResponseOutparam::set(response_out, Ok(response));
    }
}

/// 200 with the value in `x-kv-value`, 404 without one, or the refusal.
fn found(result: Result<Option<Vec<u8>>, KvError>) -> (u16, Vec<(&'static str, Vec<u8>)>) {
    match result {
        Ok(Some(value)) => (200, vec![("x-kv-value", value)]),
        Ok(None) => (404, Vec::new()),
        Err(error) => refused(error),
    }
}

/// The status and `x-kv-error` header for a refused call.
fn refused(error: KvError) -> (u16, Vec<(&'static str, Vec<u8>)>) {
    let (status, message) = match error {
        KvError::Denied(m) => (403, format!("denied: {m}")),
        KvError::TooLarge(m) => (413, format!("too-large: {m}")),
        KvError::NotFound(m) => (404, format!("not-found: {m}")),
        KvError::Internal(m) => (500, format!("internal: {m}")),
    };
    (status, vec![("x-kv-error", message.into_bytes())])
}

export!(KvProbe);
