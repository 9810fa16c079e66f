//! `faults`: a test route plugin that misbehaves on request, so tests can
//! show the host contains it.
//!
//! - `/spin` loops forever without calling the host (CPU deadline);
//! - `/grow` allocates memory until it fails (memory cap);
//! - `/recurse` recurses without bound (stack overflow trap);
//! - `/hoard` creates header `fields` of 1 KB each and keeps them all,
//!   without end (host resources outside the guest's memory);
//! - `/sleep/{ms}` blocks in a host call for `ms` milliseconds (wall-clock timeout);
//! - `/big/{bytes}` answers a body of `bytes` bytes (response size cap);
//! - `/drip/{chunks}` streams `chunks` chunks 100 ms apart, and goes on to
//!   the end even when the client has gone (admission held while streaming);
//! - `/status/{code}` answers `ok` with status `code` (a failing health check);
//! - `/log/{count}` writes `count` log lines, `flood line {i}` (log rate limit);
//! - `/log-forged` writes one log line holding a newline, a carriage
//!   return and a terminal escape, as if to start a line naming another
//!   org ([`FORGED_LINE`]; control characters are escaped);
//! - anything else answers `ok`.

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/route-plugin",
    generate_all,
});

use berth::plugin::log::{Level, log};
use exports::wasi::http::incoming_handler::Guest;
use std::hint::black_box;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Faults;

/// What `/log-forged` logs: after the newline, a line that looks like
/// another org's plugin wrote it.
const FORGED_LINE: &str =
    "all quiet\n INFO plugin: transfer approved org=\"victim\" plugin=\"bank\"\r\x1b[2K";

impl Guest for Faults {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        if let Some(size) = path.strip_prefix("/big/").and_then(|n| n.parse().ok()) {
            return respond(response_out, &vec![b'x'; size]);
        }
        if let Some(code) = path.strip_prefix("/status/").and_then(|n| n.parse().ok()) {
            return respond_with(response_out, code, b"ok");
        }
        if let Some(chunks) = path.strip_prefix("/drip/").and_then(|n| n.parse().ok()) {
            return drip(response_out, chunks);
        }
        if let Some(count) = path.strip_prefix("/log/").and_then(|n| n.parse::<u32>().ok()) {
            for i in 0..count {
                log(Level::Info, &format!("flood line {i}"));
            }
        }
        match path.as_str() {
            "/log-forged" => log(Level::Warn, FORGED_LINE),
            "/spin" => spin(),
            "/grow" => grow(),
            "/recurse" => {
                black_box(recurse(black_box(1)));
            }
            "/hoard" => hoard(),
            p => {
                if let Some(ms) = p.strip_prefix("/sleep/").and_then(|ms| ms.parse().ok()) {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
            }
        }
        respond(response_out, b"ok");
    }
}

/// Loops forever without touching the host.
fn spin() {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks, touching each, until allocation fails.
fn grow() {
    let mut blocks = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        block[0] = 1;
        blocks.push(black_box(block));
    }
}

/// Creates 1 KB header `fields` and keeps every one, without end.
fn hoard() {
    let mut kept = Vec::new();
    loop {
        let value = vec![b'v'; 1000];
        match Fields::from_list(&[("x-hoard".to_owned(), value)]) {
            Ok(fields) => kept.push(fields),
            Err(_) => return,
        }
    }
}

/// Recurses until the stack runs out.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    recurse(frame[3] + 1) + frame[7]
}

/// Streams `chunks` small chunks 100 ms apart, ignoring a client that left.
fn drip(out: ResponseOutparam, chunks: u32) {
    let response = OutgoingResponse::new(Fields::new());
    let body = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = body.write().expect("stream taken once");
    for _ in 0..chunks {
        let _ = stream.blocking_write_and_flush(b"drip\n");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

fn respond(out: ResponseOutparam, bytes: &[u8]) {
    respond_with(out, 200, bytes);
}

/// Answers `bytes` with status `code`.
fn respond_with(out: ResponseOutparam, code: u16, bytes: &[u8]) {
    let response = OutgoingResponse::new(Fields::new());
    if response.set_status_code(code).is_err() {
        return;
    }
    let body = response.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = body.write().expect("stream taken once");
        for chunk in bytes.chunks(4096) {
            // The host may cut the response off; stop writing then.
            if stream.blocking_write_and_flush(chunk).is_err() {
                return;
            }
        }
    }
    OutgoingBody::finish(body, None).expect("finishing the body");
}

export!(Faults);
