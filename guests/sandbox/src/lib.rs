//! `sandbox`: a test plugin that tries whatever its routes say with the
//! powers a plugin has — files, outbound HTTP, configuration — so tests can
//! prove what the host allows and refuses.
//!
//! - `GET /fs/read?path=P` → 200 with the file as body;
//! - `GET /fs/write?path=P&content=C` → 204;
//! - `GET /fs/list?path=P` → 200 with the entry names, one per line;
//! - `GET /net/get?url=U` → 200 with the upstream body, its status in
//!   `x-upstream-status`;
//! - `GET /net/tcp?addr=HOST:PORT` → 200 if a TCP connection opens
//!   (through `wasi:sockets`, which berth never allows);
//! - `GET /config/get?key=K`, `GET /config/secret?name=N` → 200 with the
//!   value, 404 when unset;
//! - `GET /deps/state?name=D` → 200 with `absent`, `installed VERSION` or
//!   `active VERSION`;
//! - `GET /request` → 200 with what the plugin sees of the request, one
//!   line each: `scheme S`, `path P`, then `header NAME: VALUE` per header.
//!
//! A refusal answers 403 (permission), 404 (not found), 502 (outbound HTTP
//! error) or 500, with what the guest was told in `x-error`.

wit_bindgen::generate!({
    // The route world, plus the `wasi:sockets` a plugin may import (and
    // never use: berth gives no instance a socket).
    inline: "
        package test:sandbox;
        world sandbox {
            include berth:plugin/route-plugin@0.2.0;
            import wasi:sockets/instance-network@0.2.12;
            import wasi:sockets/tcp-create-socket@0.2.12;
        }
    ",
    path: "../../wit",
    world: "test:sandbox/sandbox",
    generate_all,
});

use berth::plugin::config::{self, ConfigError};
use berth::plugin::dependencies::{self, DependencyState};
use exports::wasi::http::incoming_handler::Guest;
use std::io::ErrorKind;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};
use wasi::io::streams::StreamError;

/// What a route answers: status, extra header, body.
struct Answer {
    status: u16,
    header: Option<(&'static str, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            header: None,
            body: body.into(),
        }
    }

    fn status(status: u16) -> Self {
        Self {
            status,
            header: None,
            body: Vec::new(),
        }
    }

    /// A refusal; the error is flattened to printable ASCII to fit a header.
    fn refused(status: u16, error: String) -> Self {
        let printable = error.replace(|c: char| !(' '..='~').contains(&c), " ");
        Self {
            status,
            header: Some(("x-error", printable)),
            body: Vec::new(),
        }
    }
}

struct Sandbox;

impl Guest for Sandbox {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |name: &str| query_param(query, name).unwrap_or_default();
        let answer = match path {
            "/fs/read" => std::fs::read(param("path")).map_or_else(io_refusal, Answer::ok),
            "/fs/write" => std::fs::write(param("path"), param("content"))
                .map_or_else(io_refusal, |()| Answer::status(204)),
            "/fs/list" => list(&param("path")).map_or_else(io_refusal, Answer::ok),
            "/net/get" => fetch(&param("url")),
            "/net/tcp" => tcp_connect(&param("addr")),
            "/config/get" => config_answer(config::get(&param("key"))),
            "/config/secret" => config_answer(config::get_secret(&param("name"))),
            "/deps/state" => Answer::ok(match dependencies::state(&param("name")) {
                DependencyState::Absent => "absent".to_owned(),
                DependencyState::Installed(version) => format!("installed {version}"),
                DependencyState::Active(version) => format!("active {version}"),
            }),
            "/request" => Answer::ok(describe(&request, &target)),
            _ => Answer::status(400),
        };
        send(response_out, answer);
    }
}

/// What the plugin sees of `request` (whose path and query are `target`).
fn describe(request: &IncomingRequest, target: &str) -> String {
    let scheme = match request.scheme() {
        Some(Scheme::Http) => "http".to_owned(),
        Some(Scheme::Https) => "https".to_owned(),
        Some(Scheme::Other(other)) => other,
        None => "none".to_owned(),
    };
    let mut lines = format!("scheme {scheme}\npath {target}\n");
    for (name, value) in request.headers().entries() {
        lines.push_str(&format!("header {name}: {}\n", String::from_utf8_lossy(&value)));
    }
    lines
}

fn list(dir: &str) -> std::io::Result<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names.join("\n"))
}

fn io_refusal(error: std::io::Error) -> Answer {
    let status = match error.kind() {
        ErrorKind::NotFound => 404,
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => 403,
        _ => 500,
    };
    Answer::refused(status, format!("{:?}: {error}", error.kind()))
}

/// Opens a TCP connection to `addr` (`A.B.C.D:PORT`) through `wasi:sockets`.
fn tcp_connect(addr: &str) -> Answer {
    use wasi::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
    let Some((ip, port)) = addr.split_once(':') else {
        return Answer::status(400);
    };
    let octets: Vec<u8> = ip.split('.').filter_map(|o| o.parse().ok()).collect();
    let (Ok([a, b, c, d]), Ok(port)) = (<[u8; 4]>::try_from(octets), port.parse()) else {
        return Answer::status(400);
    };
    let socket = match wasi::sockets::tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(socket) => socket,
        Err(e) => return Answer::refused(403, format!("create: {e:?}")),
    };
    let network = wasi::sockets::instance_network::instance_network();
    let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (a, b, c, d),
    });
    if let Err(e) = socket.start_connect(&network, remote) {
        return Answer::refused(403, format!("connect: {e:?}"));
    }
    socket.subscribe().block();
    match socket.finish_connect() {
        Ok(_) => Answer::ok("connected"),
        Err(e) => Answer::refused(403, format!("connect: {e:?}")),
    }
}

fn config_answer(result: Result<Option<String>, ConfigError>) -> Answer {
    match result {
        Ok(Some(value)) => Answer::ok(value),
        Ok(None) => Answer::status(404),
        Err(ConfigError::Denied(m)) => Answer::refused(403, format!("denied: {m}")),
        Err(ConfigError::Internal(m)) => Answer::refused(500, format!("internal: {m}")),
    }
}

/// GETs `url` (`http://` or `https://`) through `wasi:http/outgoing-handler`.
fn fetch(url: &str) -> Answer {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return Answer::status(400),
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let built = request
        .set_scheme(Some(&scheme))
        .and(request.set_authority(Some(authority)))
        .and(request.set_path_with_query(Some(path)));
    if built.is_err() {
        return Answer::status(400);
    }
    let refused = |error| Answer::refused(502, format!("{error:?}"));
    let pending = match outgoing_handler::handle(request, None) {
        Ok(pending) => pending,
        Err(error) => return refused(error),
    };
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return refused(error),
        _ => return Answer::status(500),
    };
    let status = response.status();
    let Ok(body) = response.consume() else {
        return Answer::status(500);
    };
    let Ok(stream) = body.stream() else {
        return Answer::status(500);
    };
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                let message = e.to_debug_string();
                let first_line = message.lines().next().unwrap_or_default();
                return Answer::refused(502, first_line.to_owned());
            }
        }
    }
    Answer {
        status: 200,
        header: Some(("x-upstream-status", status.to_string())),
        body: bytes,
    }
}

/// The percent-decoded value of `name` in `query`.
fn query_param(query: &str, name: &str) -> Option<String> {
    let raw = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

fn send(response_out: ResponseOutparam, answer: Answer) {
    let headers: Vec<(String, Vec<u8>)> = answer
        .header
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into_bytes()))
        .collect();
    let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid headers"));
    response.set_status_code(answer.status).expect("valid status");
    let body = response.body().expect("body taken once");
    ResponseOutparam::set(response_out, Ok(response));
    let stream = body.write().expect("stream taken once");
    for chunk in answer.body.chunks(4096) {
        stream.blocking_write_and_flush(chunk).expect("client reads");
    }
    drop(stream);
    OutgoingBody::finish(body, None).expect("body finishes");
}

export!(Sandbox);
