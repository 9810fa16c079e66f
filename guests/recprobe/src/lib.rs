//! `recprobe`: a test plugin that calls `berth:plugin/records` as its
//! routes say, so tests can try what a plugin may and may not do with the
//! org's records.
//!
//! - `GET /get/{module}/{id}` → 200 with the record's data, or 404;
//! - `GET /create/{module}?field=value&…` → 201 with the record (a value
//!   that parses as a number is stored as one);
//! - `GET /patch/{module}/{id}?field=value&…` → 201 with the record;
//! - `GET /delete/{module}/{id}` → 204;
//! - `GET /count/{module}` → 200 with the number of records, read page by
//!   page (`x-pages`: how many pages).
//!
//! A refused call answers 403 (`denied`), 404 (`not-found`), 422
//! (`invalid`, `vetoed`), 409 (`conflict`), 508 (`too-deep`) or 500
//! (`internal`) with the host's message in `x-records-error`.
//!
//! Its `invoices.before-create` hook, for an invoice whose customer is
//! `chain-{n}`, first creates invoice `chain-{n+1}` — a chain of writing
//! hooks the host must cut off — then lets the invoice through.

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package test:recprobe;

        world recprobe {
            include berth:plugin/route-plugin@0.2.0;
            export berth:plugin/hooks@0.2.0;
            export berth:plugin/lifecycle@0.2.0;
        }
    ",
    world: "test:recprobe/recprobe",
    generate_all,
});

use berth::plugin::log::{Level, log};
use berth::plugin::modules::{HookSubscription, subscribe};
use berth::plugin::records::{self, ModuleRecord, RecordQuery, RecordsError};
use berth::plugin::types::PluginError;
use exports::berth::plugin::hooks::{self, HookCall, HookOutcome};
use exports::berth::plugin::lifecycle;
use exports::wasi::http::incoming_handler::Guest;
use serde_json::{Map, Value};
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct RecProbe;

/// A status, headers and body.
type Answer = (u16, Vec<(&'static str, String)>, String);

impl Guest for RecProbe {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path_and_query = request.path_with_query().unwrap_or_default();
        let (path, query) = path_and_query.split_once('?').unwrap_or((&path_and_query, ""));
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (status, headers, body) = match segments.as_slice() {
            ["get", module, id] => match records::get(module, id.parse().unwrap_or(0)) {
                Ok(Some(record)) => (200, Vec::new(), record.data),
                Ok(None) => (404, Vec::new(), String::new()),
                Err(error) => refused(error),
            },
            ["create", module] => written(records::create(module, &fields(query))),
            ["patch", module, id] => {
                written(records::patch(module, id.parse().unwrap_or(0), &fields(query)))
            }
            ["delete", module, id] => match records::delete(module, id.parse().unwrap_or(0)) {
                Ok(()) => (204, Vec::new(), String::new()),
                Err(error) => refused(error),
            },
            ["count", module] => match count(module) {
                Ok((records, pages)) => (200, vec![("x-pages", pages.to_string())], records.to_string()),
                Err(error) => refused(error),
            },
            _ => (400, Vec::new(), String::new()),
        };
        respond(response_out, status, headers, body);
    }
}

impl lifecycle::Guest for RecProbe {
    fn on_activate() -> Result<(), PluginError> {
        let hook = HookSubscription { module: "invoices".into(), hook: "before-create".into() };
        subscribe(&hook).map_err(|e| PluginError { code: "subscribe".into(), message: format!("{e:?}") })
    }

    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl hooks::Guest for RecProbe {
    fn handle(call: HookCall) -> Result<HookOutcome, PluginError> {
        let invoice: Value = serde_json::from_str(&call.payload).unwrap_or_default();
        let customer = invoice["customer"].as_str().unwrap_or_default();
        if let Some(n) = customer.strip_prefix("chain-").and_then(|n| n.parse::<u32>().ok()) {
            let next = serde_json::json!({
                "customer": format!("chain-{}", n + 1),
                "amount": 1,
                "currency": "EUR",
            });
            if let Err(error) = records::create("invoices", &next.to_string()) {
                log(Level::Warn, &format!("recprobe: chain-{} not created: {error:?}", n + 1));
            }
        }
        Ok(HookOutcome::Proceed)
    }
}

/// `a=1&b=x` as a JSON object (`{"a": 1, "b": "x"}`), as text.
fn fields(query: &str) -> String {
    let mut object = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match value.parse::<f64>() {
            Ok(number) => serde_json::json!(number),
            Err(_) => Value::String(value.replace('+', " ")),
        };
        object.insert(name.to_owned(), value);
    }
    Value::Object(object).to_string()
}

/// Every record of `module`, ten per page: how many, over how many pages.
fn count(module: &str) -> Result<(usize, u32), RecordsError> {
    let (mut records, mut pages, mut after) = (0, 0, None);
    loop {
        let page = records::query(module, &RecordQuery { filters: Vec::new(), newest_first: false, after, limit: 10 })?;
        records += page.records.len();
        pages += 1;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok((records, pages)),
        }
    }
}

/// The answer to a write.
fn written(result: Result<ModuleRecord, RecordsError>) -> Answer {
    match result {
        Ok(record) => (201, vec![("x-record-id", record.id.to_string())], record.data),
        Err(error) => refused(error),
    }
}

/// The status and `x-records-error` header for a refused call.
fn refused(error: RecordsError) -> Answer {
    let (status, message) = match error {
        RecordsError::Denied(m) => (403, format!("denied: {m}")),
        RecordsError::NotFound(m) => (404, format!("not-found: {m}")),
        RecordsError::Invalid(m) => (422, format!("invalid: {m}")),
        RecordsError::Vetoed(m) => (422, format!("vetoed: {m}")),
        RecordsError::Conflict(m) => (409, format!("conflict: {m}")),
        RecordsError::TooDeep(m) => (508, format!("too-deep: {m}")),
        RecordsError::Internal(m) => (500, format!("internal: {m}")),
    };
    (status, vec![("x-records-error", message)], String::new())
}

fn respond(out: ResponseOutparam, status: u16, headers: Vec<(&str, String)>, body: String) {
    let fields: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.replace(['\n', '\r'], " ").into_bytes()))
        .collect();
    let response = OutgoingResponse::new(Fields::from_list(&fields).expect("valid headers"));
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("a body");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("a stream");
    stream.blocking_write_and_flush(body.as_bytes()).expect("writing the body");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finishing the body");
}

export!(RecProbe);
