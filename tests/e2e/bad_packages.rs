//! Every kind of bad upload is refused with a 4xx and a JSON error code, and
//! changes nothing: no registry row, no audit event, no file on disk.

use crate::support::{
    OPERATOR_TOKEN, Server, config_file, files_under, guest_component, guest_manifest,
    guest_package, read_head,
};
use crate::zips::{RawEntry, raw_zip};

/// The registry and disk state a rejected upload must leave untouched.
#[derive(Debug, PartialEq)]
struct Snapshot {
    plugins: serde_json::Value,
    audit: serde_json::Value,
    package_files: Vec<String>,
    artifact_files: Vec<String>,
}

fn snapshot(server: &Server) -> Snapshot {
    Snapshot {
        plugins: server.get("/api/v1/orgs/acme/plugins").json(),
        audit: server.get("/api/v1/orgs/acme/audit").json(),
        package_files: files_under(&server.data.join("packages")),
        artifact_files: files_under(&server.data.join("artifacts")),
    }
}

/// Uploads `zip` as `content_type` and checks the refusal and that nothing changed.
fn assert_refused_as(server: &Server, content_type: &str, zip: &[u8], status: u16, code: &str) {
    let before = snapshot(server);
    let reply = server.post_bytes("/api/v1/orgs/acme/plugins", content_type, zip);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (status, code),
        "{reply:?}"
    );
    assert_eq!(
        snapshot(server),
        before,
        "a refused upload ({code}) changed state"
    );
}

fn assert_refused(server: &Server, zip: &[u8], status: u16, code: &str) {
    assert_refused_as(server, "application/zip", zip, status, code);
}

/// A server with org `acme` holding one installed plugin, so "nothing
/// changed" is checked against real state rather than an empty registry.
fn server_with(args: &[&str]) -> Server {
    let server = Server::start(args);
    server.create_org("acme");
    assert_eq!(server.install("acme", &guest_package("trap")).status, 201);
    server
}

/// [`server_with`], its `[packages]` settings `toml`; the directory holds
/// the config file.
fn server_with_packages(toml: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &format!("[packages]\n{toml}"));
    let server = server_with(&["--no-demo", "--config", config.to_str().unwrap()]);
    (server, dir)
}

/// A package of the hello guest whose manifest is `manifest` (raw bytes).
fn package_with_manifest(manifest: &[u8]) -> Vec<u8> {
    let component = guest_component("hello");
    berth::package::build_zip([
        ("manifest.json", manifest),
        ("hello.wasm", component.as_slice()),
    ])
}

fn hello_manifest_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut manifest = guest_manifest("hello");
    edit(&mut manifest);
    serde_json::to_vec(&manifest).unwrap()
}

#[test]
fn archives_that_are_not_zips_are_refused() {
    let server = server_with(&["--no-demo"]);
    assert_refused(&server, b"this is not a zip archive", 400, "invalid_zip");
    let good = guest_package("hello");
    assert_refused(&server, &good[..good.len() / 2], 400, "invalid_zip");
    assert_refused(&server, &[], 400, "invalid_zip");
}

#[test]
fn manifest_problems_are_refused() {
    let server = server_with(&["--no-demo"]);
    let component = guest_component("hello");
    let no_manifest = berth::package::build_zip([("hello.wasm", component.as_slice())]);
    assert_refused(&server, &no_manifest, 400, "missing_manifest");

    let cases: Vec<Vec<u8>> = vec![
        b"{ not json".to_vec(),
        hello_manifest_with(|m| {
            m.as_object_mut().unwrap().remove("version");
        }),
        hello_manifest_with(|m| m["kinds"] = serde_json::json!(["routes", "telepathy"])),
        hello_manifest_with(|m| m["version"] = "1.0".into()),
        hello_manifest_with(|m| m["version"] = "one.two.three".into()),
        // Reserved: the dependency resolver's "not installed".
        hello_manifest_with(|m| m["version"] = format!("1.{}.0", u64::MAX).into()),
        hello_manifest_with(|m| m["name"] = "Hello".into()),
        hello_manifest_with(|m| m["name"] = "hello_world".into()),
        hello_manifest_with(|m| m["permissions"] = serde_json::json!({ "teleport": true })),
        hello_manifest_with(|m| m["dependencies"] = serde_json::json!({ "x": "not a range!" })),
        hello_manifest_with(|m| m["api"] = "9.9.9".into()),
        hello_manifest_with(|m| m["component"] = "../hello.wasm".into()),
        hello_manifest_with(|m| {
            m.as_object_mut().unwrap().remove("component");
        }),
    ];
    for manifest in cases {
        assert_refused(
            &server,
            &package_with_manifest(&manifest),
            400,
            "invalid_manifest",
        );
    }
    let missing = hello_manifest_with(|m| m["component"] = "nowhere.wasm".into());
    assert_refused(
        &server,
        &package_with_manifest(&missing),
        400,
        "component_missing",
    );
}

#[test]
fn components_that_cannot_serve_are_refused() {
    let server = server_with(&["--no-demo"]);
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    for (component, what) in [
        (&b"not wasm at all"[..], "not wasm"),
        (b"\0asm\x01\0\0\0", "a core module"),
        (b"\0asm\x0d\0\x01\0", "a component without an HTTP handler"),
    ] {
        let zip = berth::package::build_zip([
            ("manifest.json", manifest.as_slice()),
            ("hello.wasm", component),
        ]);
        let before = snapshot(&server);
        let reply = server.install("acme", &zip);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (422, "invalid_component"),
            "{what}: {reply:?}"
        );
        assert_eq!(snapshot(&server), before, "{what} changed state");
    }
}

#[test]
fn unsafe_entry_names_are_refused() {
    let server = server_with(&["--no-demo"]);
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    let component = guest_component("hello");
    for name in [
        &b"../evil.txt"[..],
        b"assets/../../evil.txt",
        b"/etc/evil.txt",
        b"C:/evil.txt",
        b"assets\\evil.txt",
        b"evil\0.txt",
        b"bad-\xff-utf8.txt",
    ] {
        let zip = raw_zip(&[
            RawEntry::file("manifest.json", &manifest),
            RawEntry::file("hello.wasm", &component),
            RawEntry::file(name, "x"),
        ]);
        assert_refused(&server, &zip, 400, "unsafe_path");
    }
}

#[test]
fn names_no_filesystem_can_hold_are_refused_without_server_paths() {
    let server = server_with(&["--no-demo"]);
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    let component = guest_component("hello");
    let long_component = format!("assets/{}.txt", "n".repeat(252));
    let long_path = format!("assets/{}", vec!["d"; 520].join("/"));
    let cases: [(&[&str], &str); 4] = [
        (&[long_component.as_str()], "unsafe_path"),
        (&[long_path.as_str()], "unsafe_path"),
        (&["assets", "assets/x.txt"], "duplicate_entry"),
        (&["assets/X.txt/y", "assets/x.txt"], "duplicate_entry"),
    ];
    for (names, code) in cases {
        let mut entries = vec![
            RawEntry::file("manifest.json", &manifest),
            RawEntry::file("hello.wasm", &component),
        ];
        entries.extend(names.iter().map(|name| RawEntry::file(name, "x")));
        let reply = server.post_bytes(
            "/api/v1/orgs/acme/plugins",
            "application/zip",
            &raw_zip(&entries),
        );
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, code),
            "{names:?}: {reply:?}"
        );
        let data = server.data.display().to_string();
        assert!(
            !reply.body.contains(&data),
            "the error names a server path: {reply:?}"
        );
    }
    // Nothing of them was written: the snapshot after equals a fresh check.
    let before = snapshot(&server);
    let entries = [
        RawEntry::file("manifest.json", &manifest),
        RawEntry::file("hello.wasm", &component),
        RawEntry::file("assets", "x"),
        RawEntry::file("assets/x", "y"),
    ];
    assert_refused(&server, &raw_zip(&entries), 400, "duplicate_entry");
    assert_eq!(snapshot(&server), before);
}

#[test]
fn a_refused_install_compiles_nothing_to_disk_and_an_uninstall_removes_its_artifact() {
    let server = server_with(&["--no-demo"]);
    // A component not yet compiled, refused only after compiling: its
    // dependency is missing.
    let needs_ghost = crate::support::guest_package_with("hello", |m| {
        m["dependencies"] = serde_json::json!({ "ghost": "^1" });
    });
    assert_refused(&server, &needs_ghost, 422, "dependency_missing");

    let artifacts = || files_under(&server.data.join("artifacts"));
    let with_trap = artifacts();
    assert_eq!(with_trap.len(), 1, "{with_trap:?}");
    assert_eq!(server.install("acme", &guest_package("hello")).status, 201);
    assert_eq!(artifacts().len(), 2, "{:?}", artifacts());
    assert_eq!(server.delete("/api/v1/orgs/acme/plugins/hello").status, 200);
    assert_eq!(artifacts(), with_trap);
}

#[test]
fn start_up_removes_artifacts_nothing_installed_needs() {
    let mut server = server_with(&["--no-demo"]);
    let artifacts = || files_under(&server.data.join("artifacts"));
    let needed = artifacts();
    let stale_engine = server.data.join("artifacts/0000000000000000");
    std::fs::create_dir_all(&stale_engine).unwrap();
    std::fs::write(stale_engine.join("x.cwasm"), b"old").unwrap();
    let this_engine = server
        .data
        .join("artifacts")
        .join(needed[0].split('/').next().unwrap());
    std::fs::write(
        this_engine.join(format!("{}.cwasm", "ab".repeat(32))),
        b"unneeded",
    )
    .unwrap();
    server.terminate();
    let server = Server::start_in(&server.data.clone(), &["--no-demo"]);
    assert_eq!(files_under(&server.data.join("artifacts")), needed);
}

#[test]
fn symlinks_and_duplicates_are_refused() {
    let server = server_with(&["--no-demo"]);
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    let component = guest_component("hello");
    let base = || {
        vec![
            RawEntry::file("manifest.json", &manifest),
            RawEntry::file("hello.wasm", &component),
        ]
    };
    let mut link = base();
    link.push(RawEntry::symlink("assets/passwd", "/etc/passwd"));
    assert_refused(&server, &raw_zip(&link), 400, "symlink_entry");

    let mut duplicate = base();
    duplicate.push(RawEntry::file("hello.wasm", "shadow"));
    assert_refused(&server, &raw_zip(&duplicate), 400, "duplicate_entry");

    let mut case_collision = base();
    case_collision.push(RawEntry::file("Hello.WASM", "shadow"));
    assert_refused(&server, &raw_zip(&case_collision), 400, "duplicate_entry");
}

#[test]
fn size_limits_are_enforced_while_reading() {
    let (server, _dir) = server_with_packages(
        "max-entries = 5\nmax-entry-bytes = 1048576\nmax-total-bytes = 1572864\nmax-upload-bytes = 2097152\n",
    );
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    let component = guest_component("hello");
    let with_extra = |extra: Vec<RawEntry>| {
        let mut entries = vec![
            RawEntry::file("manifest.json", &manifest),
            RawEntry::file("hello.wasm", &component),
        ];
        entries.extend(extra);
        raw_zip(&entries)
    };

    let many = (0..4)
        .map(|i| RawEntry::file(format!("assets/{i}.txt"), "x"))
        .collect();
    assert_refused(&server, &with_extra(many), 413, "too_many_entries");

    // Stored, so the ratio is 1:1 and only the size limits apply.
    let big = vec![RawEntry::file("assets/big.bin", vec![7u8; 1_100_000])];
    assert_refused(&server, &with_extra(big), 413, "entry_too_large");

    let two = (0..2)
        .map(|i| RawEntry::file(format!("assets/{i}.bin"), vec![i as u8; 800_000]))
        .collect();
    assert_refused(&server, &with_extra(two), 413, "package_too_large");

    // 1 MiB of zeros deflates to about 1 KiB: a zip bomb in miniature.
    let zeros = vec![0u8; 1_000_000];
    let bomb = berth::package::build_zip([
        ("manifest.json", manifest.as_slice()),
        ("hello.wasm", component.as_slice()),
        ("assets/zeros.bin", zeros.as_slice()),
    ]);
    assert_refused(&server, &bomb, 400, "compression_ratio");

    // Too large by its declared length: refused before the body is read.
    let before = snapshot(&server);
    let (status, body) = server.raw_request(
        "POST /api/v1/orgs/acme/plugins HTTP/1.1\r\nContent-Type: application/zip\r\nContent-Length: 2200000",
        &[],
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("upload_too_large"), "{body}");
    // Too large while streaming (chunked, no length): refused at the limit.
    let mut chunked = Vec::new();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 60_000).as_bytes());
        chunked.extend_from_slice(&[1u8; 60_000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = server.raw_request(
        "POST /api/v1/orgs/acme/plugins HTTP/1.1\r\nContent-Type: application/zip\r\nTransfer-Encoding: chunked",
        &chunked,
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("upload_too_large"), "{body}");
    assert_eq!(snapshot(&server), before);
}

#[test]
fn uploads_are_told_apart_by_their_bytes_not_the_declared_type() {
    let server = server_with(&["--no-demo"]);
    for (declared, status, code) in [
        ("text/plain", 415, "unsupported_media_type"),
        (
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        ("application/zip", 400, "invalid_zip"),
    ] {
        assert_refused_as(&server, declared, b"neither a zip nor json", status, code);
    }
    // `curl --data-binary @hello.zip` declares a form; the bytes are a ZIP.
    let reply = server.post_bytes(
        "/api/v1/orgs/acme/plugins",
        "application/x-www-form-urlencoded",
        &guest_package("hello"),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
}

#[test]
fn installing_into_a_missing_org_is_refused() {
    let server = Server::start(&["--no-demo"]);
    let reply = server.install("ghost", &guest_package("hello"));
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "org_not_found")
    );
    assert!(files_under(&server.data.join("packages")).is_empty());
}

#[test]
fn components_importing_ungranted_interfaces_are_refused_naming_them() {
    let server = server_with(&["--no-demo"]);
    // The hello manifest declares only `routes`.
    let manifest = serde_json::to_vec(&guest_manifest("hello")).unwrap();
    for (interface, permission) in [
        ("wasi:http/outgoing-handler@0.2.6", "network"),
        ("berth:plugin/kv@0.1.0", "storage"),
        ("berth:plugin/config@0.1.0", "config"),
    ] {
        let component =
            wat::parse_str(format!("(component (import \"{interface}\" (instance)))")).unwrap();
        let zip = berth::package::build_zip([
            ("manifest.json", manifest.as_slice()),
            ("hello.wasm", component.as_slice()),
        ]);
        let before = snapshot(&server);
        let reply = server.install("acme", &zip);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (422, "permission_missing"),
            "{interface}: {reply:?}"
        );
        let message = reply.json()["error"]["message"].to_string();
        assert!(message.contains(interface), "{message}");
        assert!(message.contains(&format!("`{permission}")), "{message}");
        assert_eq!(snapshot(&server), before, "{interface} changed state");
    }
}

/// Starts an upload of `zip` to `org` on a raw connection, as curl sends
/// a large one (`Expect: 100-continue`). berth asks for the body once the
/// upload has its slot; then all of it but the last byte is sent, so the
/// upload holds the slot until [`finish_stalled_upload`].
fn start_stalled_upload(server: &Server, org: &str, zip: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = send_upload_head(server, org, zip.len());
    assert_eq!(status_line(&mut stream), "HTTP/1.1 100 Continue");
    stream.write_all(&zip[..zip.len() - 1]).unwrap();
    stream
}

/// Sends the head of an upload of `length` bytes to `org` that waits for
/// `100 Continue`.
fn send_upload_head(server: &Server, org: &str, length: usize) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = server.connect();
    // Its answer may wait for a compile on a busy machine.
    (stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))).unwrap();
    write!(
        stream,
        "POST /api/v1/orgs/{org}/plugins HTTP/1.1\r\nHost: berth\r\n\
         Authorization: Bearer {OPERATOR_TOKEN}\r\nContent-Type: application/zip\r\n\
         Content-Length: {length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Reads a whole response head from `stream` and returns its status line.
fn status_line(stream: &mut std::net::TcpStream) -> String {
    let head = read_head(stream);
    assert!(head.ends_with("\r\n\r\n"), "closed after {head:?}");
    head.lines().next().unwrap().to_owned()
}

/// Sends the stalled upload's last byte and returns the status line it is
/// answered with.
fn finish_stalled_upload(mut stream: std::net::TcpStream, zip: &[u8]) -> String {
    use std::io::Write;
    stream.write_all(&zip[zip.len() - 1..]).unwrap();
    status_line(&mut stream)
}

#[test]
fn uploads_past_an_orgs_slots_are_refused_while_its_neighbour_uploads() {
    let (server, _dir) =
        server_with_packages("max-concurrent-uploads = 2\nmax-concurrent-uploads-per-org = 1\n");
    server.create_org("globex");
    server.create_org("initech");
    let (hello, trap, kvprobe) = (
        guest_package("hello"),
        guest_package("trap"),
        guest_package("kvprobe"),
    );

    // An upload of acme's that is still arriving holds acme's one slot.
    let stalled = start_stalled_upload(&server, "acme", &hello);
    let before = snapshot(&server);
    let refused = server.install("acme", &kvprobe);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (429, "too_many_uploads"),
        "{refused:?}"
    );
    assert_eq!(refused.header("retry-after"), "1");
    assert_eq!(snapshot(&server), before, "a refused upload changed state");
    // A client waiting for `100 Continue` is refused without being asked
    // for its body.
    let mut waiting = send_upload_head(&server, "acme", kvprobe.len());
    assert_eq!(status_line(&mut waiting), "HTTP/1.1 429 Too Many Requests");

    // Its neighbour's uploads are not affected.
    assert_eq!(server.install("globex", &hello).status, 201);

    // With globex's own upload stalled too, the server's two slots are
    // taken: a third org waits for one, and nothing of it is written.
    let globex_stalled = start_stalled_upload(&server, "globex", &trap);
    let initech = server.install("initech", &hello);
    assert_eq!(initech.error_code(), "too_many_uploads", "{initech:?}");
    assert_eq!(
        server.get("/api/v1/orgs/initech/plugins").json(),
        serde_json::json!([])
    );

    // The stalled uploads finish normally and give their slots back.
    assert_eq!(
        finish_stalled_upload(stalled, &hello),
        "HTTP/1.1 201 Created"
    );
    assert_eq!(
        finish_stalled_upload(globex_stalled, &trap),
        "HTTP/1.1 201 Created"
    );
    assert_eq!(server.install("initech", &hello).status, 201);
    assert_eq!(server.install("acme", &kvprobe).status, 201);
}
