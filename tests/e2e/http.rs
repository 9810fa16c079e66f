//! HTTP hardening on the real server: header count and timeout, request
//! body limits before buffering, the deadline on bodies berth reads whole,
//! response size cap, connections whose client stops reading.

use crate::support::{OPERATOR_TOKEN, Server, config_file, guest_package};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[http]\nheader-read-timeout-ms = 500\nbody-read-timeout-ms = 1000\nmax-request-body-bytes = 100000\nmax-response-body-bytes = 100000\n",
    );
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("faults"));
    server.install_active("acme", &guest_package("hello"));
    (server, dir)
}

#[test]
fn too_many_headers_get_431() {
    let (server, _dir) = server();
    let headers: String = (0..101).map(|i| format!("\r\nX-H{i}: v")).collect();
    let (status, _) = server.raw_request(&format!("GET /o/acme/p/hello/ HTTP/1.1{headers}"), &[]);
    assert_eq!(status, 431);
    let fine: String = (0..50).map(|i| format!("\r\nX-H{i}: v")).collect();
    let (status, _) = server.raw_request(&format!("GET /o/acme/p/hello/ HTTP/1.1{fine}"), &[]);
    assert_eq!(status, 200);
}

#[test]
fn an_oversized_plugin_request_body_is_refused_before_it_is_sent() {
    let (server, _dir) = server();
    // Only the head is sent: the 413 must come without waiting for the body.
    let (status, body) = server.raw_request(
        "POST /o/acme/p/hello/ HTTP/1.1\r\nContent-Length: 100001",
        &[],
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request_body_too_large"), "{body}");
}

#[test]
fn a_slow_header_trickle_is_cut_off() {
    let (server, _dir) = server();
    let mut stream = server.connect();
    let started = Instant::now();
    stream
        .write_all(b"GET /o/acme/p/hello/ HTTP/1.1\r\nX-Slow: ")
        .unwrap();
    // Never finish the headers; the server must give up on its own.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "header timeout did not fire: {waited:?}"
    );
    // The server still serves — on a new connection: the same timeout has
    // closed the test client's idle pooled ones by now.
    let (status, _) = server.raw_request("GET /healthz HTTP/1.1", &[]);
    assert_eq!(status, 200);
}

#[test]
fn responses_past_the_cap_are_cut_off() {
    let (server, _dir) = server();
    assert_eq!(server.get("/o/acme/p/faults/big/50000").body.len(), 50000);
    let mut stream = server.connect();
    write!(
        stream,
        "GET /o/acme/p/faults/big/300000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    assert!(
        received.len() < 150_000,
        "received {} bytes past a 100000-byte cap",
        received.len()
    );
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
}

#[test]
fn a_stalled_record_body_takes_no_org_slot_and_is_cut_off() {
    let (server, _dir) = server();
    server.limit_to_one_in_flight("acme");
    let mut stalled = server.connect();
    let started = Instant::now();
    write!(
        stalled,
        "POST /o/acme/api/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The org's only slot is free while the body is awaited.
    let served = server.get("/o/acme/p/hello/");
    assert_eq!(served.status, 200, "{served:?}");
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_body_timeout"), "{answer}");
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(5)).contains(&waited),
        "answered after {waited:?}"
    );
    // Nothing was stored.
    assert_eq!(
        server.get("/o/acme/api/contacts").json(),
        serde_json::json!([])
    );
}

#[test]
fn a_client_that_stops_reading_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[http]\nsend-timeout-ms = 1000\n");
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("faults"));
    let mut stalled = server.connect();
    // 20 MB, more than the socket buffers between us hold; the guest's
    // request timeout (10 s) is far off, so only the send timeout can end it.
    write!(
        stalled,
        "GET /o/acme/p/faults/big/20000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut received = 0;
    let mut buffer = vec![0u8; 1 << 20];
    while let Ok(read @ 1..) = stalled.read(&mut buffer) {
        received += read;
    }
    assert!(
        received < 20_000_000,
        "received the whole {received} bytes: the stalled connection was kept"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.get("/o/acme/p/faults/").status, 200);
}
