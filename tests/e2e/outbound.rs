//! The `network` permission through the real `sandbox` guest: outbound
//! HTTP reaches only granted hosts, never private, loopback, link-local or
//! metadata addresses (even through a granted name) unless the operator
//! allowed that address — here a local stand-in for a third-party service.

use crate::support::{Server, Upstream, config_file, guest_package_with, query_value};
use serde_json::json;

fn fetch(server: &Server, url: &str) -> crate::support::Reply {
    server.get(&format!(
        "/o/acme/p/sandbox/net/get?url={}",
        query_value(url)
    ))
}

/// Starts berth allowing `allowed` as a private address, with the sandbox
/// plugin active in `acme`, granted `network`.
fn serve_sandbox(dir: &std::path::Path, outbound: &str, network: serde_json::Value) -> Server {
    let config = config_file(dir, &format!("[outbound]\n{outbound}\n"));
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("acme");
    let package = guest_package_with("sandbox", |m| m["permissions"]["network"] = network);
    server.install_active("acme", &package);
    server
}

#[test]
fn only_granted_hosts_at_permitted_addresses_are_reached() {
    let allowed = Upstream::start();
    let forbidden = Upstream::start();
    let (a, f) = (allowed.addr.port(), forbidden.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sandbox(
        dir.path(),
        &format!("allow-private = ['127.0.0.1:{a}']"),
        json!([
            format!("127.0.0.1:{a}"),
            format!("localhost:{a}"),
            format!("127.0.0.1:{f}"),
            format!("localhost:{f}"),
            format!("[::ffff:127.0.0.1]:{f}"),
            "[::ffff:127.0.0.1]",
            "127.0.0.1",
            "169.254.169.254",
        ]),
    );

    // The operator-allowed address, by IP and by a name resolving to it.
    let reached = fetch(&server, &format!("http://127.0.0.1:{a}/hello?x=1"));
    assert_eq!(reached.status, 200, "{reached:?}");
    assert_eq!(reached.header("x-upstream-status"), "200");
    assert_eq!(reached.body, "upstream says hi");
    let by_name = fetch(&server, &format!("http://localhost:{a}/by-name"));
    assert_eq!(by_name.status, 200, "{by_name:?}");
    let seen = allowed.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("GET /hello?x=1 HTTP/1.1\r\n"),
        "{seen:?}"
    );
    assert!(
        seen[0]
            .to_lowercase()
            .contains(&format!("host: 127.0.0.1:{a}"))
    );

    // Granted, but private/loopback/metadata and not allowed by the operator.
    for url in [
        format!("http://127.0.0.1:{f}/"),
        format!("http://localhost:{f}/"),
        format!("http://[::ffff:127.0.0.1]:{f}/"),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://127.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let refused = fetch(&server, &url);
        assert_eq!(refused.status, 502, "{url}: {refused:?}");
        assert!(
            refused
                .header("x-error")
                .contains("DestinationIpProhibited"),
            "{url}: {refused:?}"
        );
    }
    // Not granted at all, whatever the address.
    for url in [
        "http://example.org/".to_owned(),
        format!("http://127.0.0.1:{}/", a.wrapping_add(1)),
        "http://10.0.0.1/".to_owned(),
        format!("http://user:pass@127.0.0.1:{a}/"),
    ] {
        let refused = fetch(&server, &url);
        assert_eq!(refused.status, 502, "{url}: {refused:?}");
        assert!(
            refused.header("x-error").contains("HttpRequestDenied"),
            "{url}: {refused:?}"
        );
    }
    assert_eq!(forbidden.requests(), Vec::<String>::new());
    assert_eq!(allowed.requests().len(), 2);

    // Granted without `network`, even the allowed upstream is out of reach.
    let narrowed = server.post_json(
        "/api/v1/orgs/acme/plugins/sandbox/activate",
        json!({ "grant": { "routes": ["/"] } }),
    );
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    let refused = fetch(&server, &format!("http://127.0.0.1:{a}/"));
    assert!(
        refused.header("x-error").contains("HttpRequestDenied"),
        "{refused:?}"
    );
    assert_eq!(allowed.requests().len(), 2);
}

#[test]
fn responses_larger_than_the_cap_fail_inside_the_guest() {
    let upstream = Upstream::start();
    let port = upstream.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sandbox(
        dir.path(),
        &format!("allow-private = ['127.0.0.1:{port}']\nmax-response-bytes = 8"),
        json!([format!("127.0.0.1:{port}")]),
    );
    let capped = fetch(&server, &format!("http://127.0.0.1:{port}/"));
    assert_eq!(capped.status, 502, "{capped:?}");
    assert_eq!(
        capped.header("x-error"),
        "HTTP response body size exceeds limit: 8 bytes"
    );
}

#[test]
fn wasi_sockets_link_but_no_socket_is_ever_opened_even_to_a_granted_allowed_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let server = serve_sandbox(
        dir.path(),
        &format!("allow-private = ['127.0.0.1:{port}']"),
        json!([format!("127.0.0.1:{port}")]),
    );
    let reply = server.get(&format!("/o/acme/p/sandbox/net/tcp?addr=127.0.0.1:{port}"));
    assert_ne!(reply.status, 200, "{reply:?}");
    assert!(
        reply.header("x-error").contains("access-denied"),
        "{reply:?}"
    );
    // The listener never saw a connection.
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{accepted:?}"
    );
}

#[test]
fn an_orgs_requests_in_flight_are_bounded_and_its_neighbour_keeps_its_own() {
    let upstream = Upstream::start_held();
    let port = upstream.addr.port();
    let dir = tempfile::tempdir().unwrap();
    let outbound = format!(
        "allow-private = ['127.0.0.1:{port}']\nconnect-timeout-ms = 500\nmax-in-flight-per-org = 1"
    );
    let server = serve_sandbox(dir.path(), &outbound, json!([format!("127.0.0.1:{port}")]));
    server.create_org("beta");
    let package = guest_package_with("sandbox", |m| {
        m["permissions"]["network"] = json!([format!("127.0.0.1:{port}")]);
    });
    server.install_active("beta", &package);
    let url = format!("http://127.0.0.1:{port}/held");
    let get = |org: &str| {
        let path = format!("/o/{org}/p/sandbox/net/get?url={}", query_value(&url));
        let client = server.client(None);
        std::thread::spawn(move || client.get(&path))
    };

    // acme's one permit is taken by a request the upstream holds.
    let first = get("acme");
    assert_eq!(upstream.wait_for(1).len(), 1);
    // A second acme request waits for it, until its connect deadline.
    let waited = fetch(&server, &url);
    assert_eq!(waited.status, 502, "{waited:?}");
    assert_eq!(
        waited.header("x-error"),
        "ErrorCode::ConnectionTimeout",
        "{waited:?}"
    );
    // beta's own permit is free: its request is still waiting on the
    // upstream past acme's deadline, not refused.
    let neighbour = get("beta");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert!(!neighbour.is_finished());
    upstream.release();
    assert_eq!(first.join().unwrap().status, 200);
    assert_eq!(neighbour.join().unwrap().status, 200);
    // The permit came back with the connection.
    assert_eq!(fetch(&server, &url).status, 200);
}
