//! HTTPS with a certificate generated at test time: a rustls client and
//! `curl --cacert` both get the plugin route; ALPN offers HTTP/2; plugins
//! see the scheme `https`; the CLI reaches the server with `--ca-cert`.

use crate::support::{Server, curl, guest_package};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::sync::Arc;

/// Writes a self-signed certificate for localhost/127.0.0.1 and its key.
fn certificate(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    CertificateDer<'static>,
) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().clone())
}

fn tls_server(dir: &std::path::Path) -> (Server, CertificateDer<'static>) {
    let (cert, key, der) = certificate(dir);
    let server = Server::start(&tls_args(&cert, &key));
    assert!(server.base.starts_with("https://"), "{}", server.base);
    (server, der)
}

/// The flags serving TLS with `cert` and `key`.
fn tls_args<'a>(cert: &'a std::path::Path, key: &'a std::path::Path) -> [&'a str; 4] {
    [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]
}

/// GETs `path` from the TLS server on `port` with curl (and `extra`
/// arguments), trusting `dir`'s certificate; returns what curl printed.
fn curl_https(dir: &std::path::Path, port: &str, path: &str, extra: &[&str]) -> String {
    let cert = dir.join("cert.pem");
    let url = format!("https://localhost:{port}{path}");
    let mut args = vec!["--cacert", cert.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

#[test]
fn plugins_see_the_https_scheme_under_tls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let plain = Server::start_in(&data, &["--no-demo"]);
        plain.create_org("acme");
        plain.install_active("acme", &guest_package("sandbox"));
        let seen = plain.get("/o/acme/p/sandbox/request").body;
        assert!(seen.starts_with("scheme http\n"), "{seen}");
    }
    let (cert, key, _) = certificate(dir.path());
    let server = Server::start_in(&data, &tls_args(&cert, &key));
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let seen = curl_https(dir.path(), &port, "/o/acme/p/sandbox/request", &[]);
    assert!(seen.starts_with("scheme https\npath /request\n"), "{seen}");
}

#[test]
fn a_rustls_client_gets_the_plugin_route_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (server, der) = tls_server(dir.path());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = server.base.trim_start_matches("https://").to_owned();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let mut tls =
        rustls::StreamOwned::new(connection, std::net::TcpStream::connect(&addr).unwrap());
    write!(
        tls,
        "GET /o/demo/p/hello/echo/tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""param":"tls""#), "{response}");
}

#[test]
fn curl_with_cacert_gets_the_route_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = tls_server(dir.path());
    let port = server.base.rsplit(':').next().unwrap();
    let stdout = curl_https(
        dir.path(),
        port,
        "/o/demo/p/hello/",
        &["--http2", "--write-out", "\n%{http_version} %{http_code}"],
    );
    assert_eq!(stdout, "Hello from berth!\n\n2 200");
}

#[test]
fn plain_http_to_the_tls_port_does_not_reach_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = tls_server(dir.path());
    let addr = server.base.trim_start_matches("https://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /o/demo/p/hello/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    assert!(!String::from_utf8_lossy(&response).contains("Hello from berth"));
}

#[test]
fn the_cli_trusts_a_self_signed_server_only_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = tls_server(dir.path());
    let port = server.base.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");
    let cli = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["org", "list", "--json", "--server", &url])
            .args(["--token", crate::support::OPERATOR_TOKEN])
            .args(extra)
            .env("BERTH_CLI_CONFIG", dir.path().join("cli.toml"))
            .output()
            .unwrap()
    };
    let trusted = cli(&["--ca-cert", dir.path().join("cert.pem").to_str().unwrap()]);
    assert!(trusted.status.success(), "{trusted:?}");
    let orgs: serde_json::Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert_eq!(orgs[0]["name"], "demo");
    // Without it the certificate is not trusted: the server is not reached.
    let untrusted = cli(&[]);
    assert_eq!(untrusted.status.code(), Some(3), "{untrusted:?}");
}
