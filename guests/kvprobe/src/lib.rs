//! `kvprobe`: a test plugin that calls `berth:plugin/kv` as its routes say,
//! so tests can try what a plugin may and may not do with its data.
//!
//! - `GET /get/{key}` → 200 with the value in `x-kv-value`, or 404;
//! - `GET /set/{key}/{value}` → 204;
//! - `GET /delete/{key}` → 204 (`x-kv-existed: true|false`);
//! - `GET /list/{prefix}` → 200 with every key, page after page,
//!   comma-separated, in `x-kv-keys` (and the number of pages in `x-kv-pages`);
//! - `GET /page/{prefix}/{limit}[/{cursor}]` → 200 with one page of keys in
//!   `x-kv-keys` and the next cursor, if any, in `x-kv-next`;
//! - `GET /shared/{dependency}/{key}` → like `get`, through `get-shared`.
//!
//! A refused call answers 403 (`denied`), 413 (`too-large`), 507
//! (`quota-exceeded`), 404 (`not-found`) or 500 (`internal`) with the
//! host's message in `x-kv-error`. Answers carry no body: everything is in
//! the status and headers.
//!
//! Its `lifecycle.on-deactivate` adds one to the key `deactivations`, so
//! tests can see it ran.

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package berth:kvprobe;

        world kvprobe {
            include berth:plugin/route-plugin@0.2.0;
            export berth:plugin/lifecycle@0.2.0;
        }
    ",
    world: "berth:kvprobe/kvprobe",
    generate_all,
});

use berth::plugin::kv::{self, KvError};
use berth::plugin::types::PluginError;
use exports::berth::plugin::lifecycle;
use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

struct KvProbe;

impl lifecycle::Guest for KvProbe {
    fn on_activate() -> Result<(), PluginError> {
        Ok(())
    }

    fn on_deactivate() -> Result<(), PluginError> {
        let count = kv::get("deactivations")
            .ok()
            .flatten()
            .and_then(|v| String::from_utf8(v).ok()?.parse::<u32>().ok())
            .unwrap_or(0);
        kv::set("deactivations", (count + 1).to_string().as_bytes()).map_err(|e| PluginError {
            code: "kv_failed".into(),
            message: format!("{e:?}"),
        })
    }
}

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
            ["list", prefix] => match list_all(prefix) {
                Ok((keys, pages)) => (
                    200,
                    vec![
                        ("x-kv-keys", keys.join(",").into_bytes()),
                        ("x-kv-pages", pages.to_string().into_bytes()),
                    ],
                ),
                Err(error) => refused(error),
            },
            ["page", prefix, limit, cursor @ ..] => {
                let limit = limit.parse().unwrap_or(0);
                match kv::list_keys(prefix, cursor.first().copied(), limit) {
                    Ok(page) => {
                        let mut headers = vec![("x-kv-keys", page.keys.join(",").into_bytes())];
                        if let Some(next) = page.next {
                            headers.push(("x-kv-next", next.into_bytes()));
                        }
                        (200, headers)
                    }
                    Err(error) => refused(error),
                }
            }
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

/// Every key starting with `prefix`, following the cursor page by page,
/// and how many pages that took.
fn list_all(prefix: &str) -> Result<(Vec<String>, u32), KvError> {
    let (mut keys, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = kv::list_keys(prefix, cursor.as_deref(), 0)?;
        keys.extend(page.keys);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((keys, pages)),
        }
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
        KvError::QuotaExceeded(m) => (507, format!("quota-exceeded: {m}")),
        KvError::NotFound(m) => (404, format!("not-found: {m}")),
        KvError::Internal(m) => (500, format!("internal: {m}")),
    };
    (status, vec![("x-kv-error", message.into_bytes())])
}

export!(KvProbe);
