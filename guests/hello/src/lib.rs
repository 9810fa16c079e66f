//! `hello`: the example route plugin.
//!
//! - `GET /` answers `Hello from berth!`;
//! - `GET /echo/{param}` answers `{"param": "...", "path": "..."}`;
//! - other paths answer a JSON 404, other methods a JSON 405.
//!
//! Every request is logged through the `berth:plugin/log` host import.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/route-plugin",
    generate_all,
});

use berth::plugin::log::{Level, log};
use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".to_owned());
        let method = request.method();
        log(Level::Info, &format!("hello: {method:?} {path}"));
        let (status, content_type, body) = route(&method, &path);
        respond(response_out, status, content_type, body.as_bytes());
    }
}

/// Decides the status, content type and body for a request.
fn route(method: &Method, path_with_query: &str) -> (u16, &'static str, String) {
    let path = path_with_query.split('?').next().unwrap_or("/");
    if !matches!(method, Method::Get | Method::Head) {
        return (405, JSON, error_body("method_not_allowed", "only GET is supported"));
    }
    if path == "/" {
        return (200, TEXT, "Hello from berth!\n".to_owned());
    }
    match path.strip_prefix("/echo/") {
        Some(param) if !param.is_empty() && !param.contains('/') => {
            let body = format!(
                "{{\"param\":{},\"path\":{}}}",
                json_string(param),
                json_string(path_with_query)
            );
            (200, JSON, body)
        }
        _ => (404, JSON, error_body("not_found", &format!("no route for {path}"))),
    }
}

/// A berth-style JSON error body.
fn error_body(code: &str, message: &str) -> String {
    format!(
        "{{\"error\":{{\"code\":{},\"message\":{}}}}}",
        json_string(code),
        json_string(message)
    )
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Sends a complete response.
fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::from_list(&[(
        "content-type".to_owned(),
        content_type.as_bytes().to_vec(),
    )])
    .expect("valid header");
    let response = OutgoingResponse::new(headers);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("stream taken once");
        // `blocking-write-and-flush` accepts at most 4096 bytes per call.
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .expect("writing the body");
        }
    }
    OutgoingBody::finish(outgoing, None).expect("finishing the body");
}

export!(Hello);
