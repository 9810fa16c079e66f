//! Python plugins (componentize-py): the `py-hello` guest serves and logs
//! like its Rust twin, and a hooks project from `berth plugin new --lang
//! python` builds, packs, installs and vetoes through the built-in
//! contacts module.

use crate::support::{Server, berth_cli, guest_package};
use serde_json::json;
use std::path::Path;

#[test]
pub(crate) fn the_python_guest_serves_routes_and_logs_like_a_rust_one() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("py-hello"));
    let root = server.get("/o/acme/p/py-hello/");
    assert_eq!(
        (root.status, root.body.as_str()),
        (200, "Hello from berth, in Python!\n")
    );
    let echo = server.get("/o/acme/p/py-hello/echo/hi?x=1");
    assert_eq!(echo.header("content-type"), "application/json");
    assert_eq!(
        echo.json(),
        json!({ "param": "hi", "path": "/echo/hi?x=1" })
    );
    assert_eq!(
        server.get("/o/acme/p/py-hello/nope").error_code(),
        "not_found"
    );
    let posted = server.post("/o/acme/p/py-hello/");
    assert_eq!(
        (posted.status, posted.error_code().as_str()),
        (405, "method_not_allowed")
    );
    // Its berth:plugin/log lines reach the org's log ring.
    let logs = server.get("/api/v1/orgs/acme/plugins/py-hello/logs").json();
    let messages: Vec<&str> = (logs["lines"].as_array().unwrap().iter())
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"py-hello: GET /echo/hi?x=1"),
        "{messages:?}"
    );
}

#[test]
fn a_python_hooks_project_from_the_template_builds_installs_and_vetoes() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_str().unwrap();
    berth_cli(&[
        "plugin", "new", "pyrules", "--kind", "hooks", "--lang", "python", "--dir", dir,
    ]);
    let project = work.path().join("pyrules");
    berth_cli(&["plugin", "build", project.to_str().unwrap()]);
    assert!(project.join("pyrules.wasm").is_file());
    assert!(
        !project.join("__pycache__").exists(),
        "the build wrote bytecode into the project"
    );
    let packed = berth_cli(&["plugin", "pack", project.to_str().unwrap()]);
    let zip = packed.trim().rsplit(": ").next().unwrap();
    let package = std::fs::read(Path::new(zip)).unwrap();

    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &package);
    let vetoed = server.post_json("/o/acme/api/contacts", json!({ "name": "a pyrules-veto" }));
    assert_eq!(vetoed.status, 422, "{vetoed:?}");
    assert!(
        vetoed.error_message().contains("refused by pyrules"),
        "{vetoed:?}"
    );
    let created = server.post_json(
        "/o/acme/api/contacts",
        json!({ "name": "Ada", "email": "ada@example.org" }),
    );
    assert_eq!(created.status, 201, "{created:?}");

    // Python templates cover routes and hooks only.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "plugin", "new", "pyui", "--kind", "ui", "--lang", "python", "--dir", dir,
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("routes and hooks"));
    assert!(!work.path().join("pyui").exists());
}
