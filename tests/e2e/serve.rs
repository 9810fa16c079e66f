//! Serving plugin routes over real HTTP.

use crate::support::{Server, config_file, guest_package};

#[test]
pub(crate) fn demo_org_serves_hello_greeting_and_echoes_path_parameter() {
    let server = Server::start(&[]);

    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let root = server.get("/o/demo/p/hello/");
    assert_eq!(root.status, 200, "{root:?}");
    assert_eq!(root.body, "Hello from berth!\n");
    assert!(root.content_type.starts_with("text/plain"), "{root:?}");

    let echo = server.get("/o/demo/p/hello/echo/w%C3%B6rld-42?lang=en");
    assert_eq!(echo.status, 200, "{echo:?}");
    assert!(
        echo.content_type.starts_with("application/json"),
        "{echo:?}"
    );
    let json = echo.json();
    assert_eq!(json["param"], "w%C3%B6rld-42");
    assert_eq!(json["path"], "/echo/w%C3%B6rld-42?lang=en");

    // The demo's hooks plugin extends the built-in contacts module, whose
    // records the demo org makes public: the quick start sends no token.
    let anyone = server.client(None);
    let contact = anyone.post_json(
        "/o/demo/api/contacts",
        serde_json::json!({ "name": " Ada ", "email": "ADA@X.ORG" }),
    );
    assert_eq!(contact.status, 201, "{contact:?}");
    assert_eq!(contact.json()["data"]["email"], "ada@x.org");
    let spam = anyone.post_json(
        "/o/demo/api/contacts",
        serde_json::json!({ "name": "Spam Inc" }),
    );
    assert_eq!(spam.error_code(), "vetoed");
    assert_eq!(anyone.get("/o/demo/api/contacts").json()[0]["id"], 1);
}

#[test]
fn unknown_org_plugin_and_path_are_json_404s() {
    let server = Server::start(&[]);
    let cases = [
        ("/o/nope/p/hello/", "plugin_not_found"),
        ("/o/demo/p/nope/", "plugin_not_found"),
        ("/somewhere/else", "not_found"),
    ];
    for (path, code) in cases {
        let reply = server.get(path);
        assert_eq!(reply.status, 404, "{path}: {reply:?}");
        assert_eq!(reply.error_code(), code, "{path}");
    }
    // The plugin's own 404 passes through unchanged.
    let reply = server.get("/o/demo/p/hello/no/such/route");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");
}

#[test]
pub(crate) fn trapping_plugin_fails_its_request_and_the_server_keeps_serving() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("trap"));
    server.install_active("acme", &guest_package("hello"));

    for _ in 0..3 {
        let failed = server.get("/o/acme/p/trap/");
        assert_eq!(failed.status, 500, "{failed:?}");
        assert_eq!(failed.error_code(), "plugin_trap");

        let ok = server.get("/o/acme/p/hello/");
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(ok.body, "Hello from berth!\n");
    }
}

#[test]
fn no_demo_starts_with_no_orgs() {
    let server = Server::start(&["--no-demo"]);
    assert_eq!(server.get("/api/v1/orgs").json(), serde_json::json!([]));
    let demo = server.get("/o/demo/p/hello/");
    assert_eq!(demo.status, 404);
    assert_eq!(demo.error_code(), "plugin_not_found");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut server = Server::start(&[]);
    assert_eq!(server.get("/healthz").status, 200);
    let status = server.terminate();
    assert!(status.success(), "berth exited with {status}");
}

#[test]
fn a_thread_per_core_server_serves_on_every_thread_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[http]\nserving = \"thread-per-core\"\nthreads = 3\n";
    let config = crate::support::config_file(dir.path(), toml);
    let mut server = Server::start_in(dir.path(), &["--config", config.to_str().unwrap()]);
    // Each request on a new connection: the kernel spreads them over the
    // three listeners, and every one answers.
    let url = format!("{}/o/demo/p/hello/", server.base);
    for _ in 0..30 {
        assert_eq!(crate::support::curl(&[&url]), "Hello from berth!\n");
    }
    let threads = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("berth-serve-"))
        .count();
    assert_eq!(threads, 2, "two serving threads beside the main one");
    let status = server.terminate();
    assert!(status.success(), "berth exited with {status}");
}

#[test]
fn an_unusable_data_directory_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("occupied");
    std::fs::write(&not_a_dir, "a file, not a directory").unwrap();
    let output = crate::support::berth_command(&not_a_dir, &[])
        .output()
        .expect("running berth");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "berth started on a file as data dir"
    );
    assert!(
        stderr.contains("occupied"),
        "error does not name the path:\n{stderr}"
    );
}

#[test]
pub(crate) fn a_javascript_plugin_is_packed_installed_and_served_like_a_rust_one() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("js-hello"));
    let root = server.get("/o/acme/p/js-hello/");
    assert_eq!(
        (root.status, root.body.as_str()),
        (200, "Hello from JavaScript!\n")
    );
    let echo = server.get("/o/acme/p/js-hello/echo/hi?x=1").json();
    assert_eq!(
        echo,
        serde_json::json!({ "param": "hi", "path": "/echo/hi?x=1" })
    );
    assert_eq!(server.get("/o/acme/p/js-hello/nope").status, 404);
}

#[test]
fn a_low_soft_open_file_limit_is_raised_so_many_connections_are_served() {
    let dir = tempfile::tempdir().unwrap();
    // Idle connections stay open for the whole test.
    let config = config_file(dir.path(), "[http]\nheader-read-timeout-ms = 120000\n");
    let server = Server::start_under(
        &["prlimit", "--nofile=256:4096", "--"],
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    assert!(server.logged("raised the open-file limit from 256 to 4096"));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files"));
    let figures: Vec<_> = open_files.unwrap().split_whitespace().collect();
    assert_eq!(figures[3..5], ["4096", "4096"], "{limits}");
    // More connections than the soft limit allowed, all accepted and held…
    let idle: Vec<_> = (0..400).map(|_| server.connect()).collect();
    // …and one more is still answered: under 256 files it would wait in the
    // backlog until an idle one timed out.
    assert_eq!(server.raw_request("GET /healthz HTTP/1.1", &[]).0, 200);
    drop(idle);
}
