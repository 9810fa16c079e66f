//! Plugin dependencies over HTTP: install-time validation (missing,
//! conflicting, circular), activation in dependency order, refusals to
//! stop a plugin others need, and the graph endpoint. Every refusal leaves
//! the registry as it was.

use crate::support::{Reply, Server, guest_package_with};
use serde_json::{Value, json};
use std::path::Path;

/// The `hello` guest as plugin `name` at `version`, declaring `dependencies`.
fn package(name: &str, version: &str, dependencies: Value) -> Vec<u8> {
    guest_package_with("hello", |m| {
        m["name"] = name.into();
        m["version"] = version.into();
        m["dependencies"] = dependencies;
    })
}

/// Everything the registry shows about `acme`'s plugins and their graph.
fn snapshot(server: &Server) -> (Value, Value) {
    let plugins = server.get("/api/v1/orgs/acme/plugins").json();
    let graph = server.get("/api/v1/orgs/acme/dependencies").json();
    (plugins, graph)
}

/// Runs `step`, which must be refused with `expected` (status, code) and
/// leave [`snapshot`] as it was; returns the refusal.
fn refused_unchanged(
    server: &Server,
    step: impl FnOnce() -> Reply,
    expected: (u16, &str),
) -> Reply {
    let before = snapshot(server);
    let refused = step();
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        expected,
        "{refused:?}"
    );
    assert_eq!(snapshot(server), before);
    refused
}

fn states(server: &Server) -> Vec<(String, String)> {
    let plugins = server.get("/api/v1/orgs/acme/plugins").json();
    let mut states: Vec<(String, String)> = plugins
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    states.sort();
    states
}

#[test]
fn installs_that_would_break_the_graph_are_refused_and_change_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    assert_eq!(
        server
            .install("acme", &package("base", "1.0.0", json!({})))
            .status,
        201
    );
    let needs_base = package("a", "1.0.0", json!({ "base": "^1" }));
    assert_eq!(server.install("acme", &needs_base).status, 201);
    let before = snapshot(&server);

    let refusals = [
        (
            package("app", "1.0.0", json!({ "crm": "^1" })),
            422,
            "dependency_missing",
            "app@1.0.0 needs `crm` ^1, which is not installed",
        ),
        (
            package("app", "1.0.0", json!({ "base": ">=2.0, <3" })),
            409,
            "dependency_conflict",
            "`base` 1.0.0 is installed, but app@1.0.0 needs >=2.0, <3",
        ),
        (
            package("base", "1.1.0", json!({ "a": "^1" })),
            422,
            "dependency_cycle",
            "circular dependency: a@1.0.0 -> base@1.1.0 -> a",
        ),
        (
            package("base", "2.0.0", json!({})),
            409,
            "dependency_conflict",
            "`base` 2.0.0 is installed, but a@1.0.0 needs ^1",
        ),
    ];
    for (zip, status, code, message) in refusals {
        let refused = server.install("acme", &zip);
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (status, code)
        );
        let text = refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(text, message);
        assert_eq!(snapshot(&server), before, "{code} changed the registry");
    }

    // An absent optional dependency is fine; a compatible upgrade too.
    let optional = json!({ "stats": { "version": "^1", "optional": true }, "base": "^1" });
    assert_eq!(
        server
            .install("acme", &package("app", "1.0.0", optional))
            .status,
        201
    );
    assert_eq!(
        server
            .install("acme", &package("base", "1.2.0", json!({})))
            .status,
        201
    );
}

#[test]
fn no_step_leaves_an_active_plugin_on_a_dependency_that_is_not_serving() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), &["--no-demo"]);
    server.create_org("acme");
    for (name, deps) in [("base", json!({})), ("app", json!({ "base": "^1" }))] {
        assert_eq!(
            server.install("acme", &package(name, "1.0.0", deps)).status,
            201
        );
    }
    let activated = server.post("/api/v1/orgs/acme/plugins/app/activate?with-deps");
    assert_eq!(activated.status, 200, "{activated:?}");

    // An upgrade asking for more than base was granted would leave it
    // inactive under an active app: refused, naming app.
    let wider = guest_package_with("hello", |m| {
        m["name"] = "base".into();
        m["version"] = "1.1.0".into();
        m["permissions"]["network"] = json!(["api.example.com"]);
    });
    let refused = refused_unchanged(
        &server,
        || server.install("acme", &wider),
        (409, "plugin_has_dependents"),
    );
    assert!(
        refused.error_message().contains("required by app"),
        "{refused:?}"
    );

    // An inactive dependent counts too: uninstalling what it requires needs ?cascade.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/app/deactivate")
            .status,
        200
    );
    refused_unchanged(
        &server,
        || server.delete("/api/v1/orgs/acme/plugins/base?force"),
        (409, "plugin_has_dependents"),
    );

    // After a restart, a plugin whose dependency cannot start does not serve.
    assert_eq!(
        server.post("/api/v1/orgs/acme/plugins/app/activate").status,
        200
    );
    let plugins = server.get("/api/v1/orgs/acme/plugins").json();
    let base = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "base")
        .unwrap();
    let digest = base["digest"].as_str().unwrap().to_owned();
    server.terminate();
    let component = data
        .path()
        .join("packages/extracted")
        .join(&digest)
        .join("hello.wasm");
    assert!(Path::new(&component).is_file(), "{component:?}");
    std::fs::write(
        &component,
        b"\0asm\x0d\0\x01\0 no longer a servable component",
    )
    .unwrap();
    let server = Server::start_in(data.path(), &["--no-demo"]);
    assert_eq!(server.get("/o/acme/p/base/").status, 404);
    assert_eq!(server.get("/o/acme/p/app/").status, 404);
    assert!(
        server.logged("required dependencies are not serving: base"),
        "{}",
        server.logs()
    );
    // Nor can app be started again on it: base is active but not serving.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/app/deactivate")
            .status,
        200
    );
    let refused = refused_unchanged(
        &server,
        || server.post("/api/v1/orgs/acme/plugins/app/activate"),
        (409, "dependencies_not_serving"),
    );
    assert!(refused.error_message().contains("base"), "{refused:?}");
    assert_eq!(server.get("/o/acme/p/app/").status, 404);
}

#[test]
fn activation_follows_dependencies_and_stopping_a_needed_plugin_is_refused() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    for (name, deps) in [
        ("base", json!({})),
        ("mid", json!({ "base": "^1" })),
        (
            "app",
            json!({ "mid": "~1.0", "extra": { "version": "*", "optional": true } }),
        ),
    ] {
        assert_eq!(
            server.install("acme", &package(name, "1.0.0", deps)).status,
            201
        );
    }
    let all_installed = states(&server);

    let refused = server.post("/api/v1/orgs/acme/plugins/app/activate");
    assert_eq!(refused.error_code(), "dependencies_inactive");
    assert!(
        refused.body.contains("not active: base, mid"),
        "{refused:?}"
    );
    assert_eq!(states(&server), all_installed);

    let activated = server.post("/api/v1/orgs/acme/plugins/app/activate?with-deps");
    assert_eq!(activated.status, 200, "{activated:?}");
    assert!(states(&server).iter().all(|(_, state)| state == "active"));
    assert_eq!(server.get("/o/acme/p/base/").status, 200);
    let all_active = snapshot(&server);

    for path in [
        "/api/v1/orgs/acme/plugins/base/deactivate",
        "/api/v1/orgs/acme/plugins/mid/deactivate",
    ] {
        let refused = server.post(path);
        assert_eq!(refused.error_code(), "plugin_has_dependents", "{path}");
    }
    let uninstall = server.delete("/api/v1/orgs/acme/plugins/base?force");
    assert_eq!(uninstall.error_code(), "plugin_has_dependents");
    assert!(
        uninstall.body.contains("`base` is required by mid"),
        "{uninstall:?}"
    );
    assert_eq!(snapshot(&server), all_active);

    let cascade = server.post("/api/v1/orgs/acme/plugins/mid/deactivate?cascade");
    assert_eq!(cascade.status, 200, "{cascade:?}");
    let expected = [
        ("app", "installed"),
        ("base", "active"),
        ("mid", "installed"),
    ]
    .map(|(n, s)| (n.to_owned(), s.to_owned()));
    assert_eq!(states(&server), expected);
    assert_eq!(server.get("/o/acme/p/app/").status, 404);

    let graph = server.get("/api/v1/orgs/acme/dependencies").json();
    let edge = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["from"] == "app" && e["to"] == "mid")
        .cloned()
        .unwrap();
    assert_eq!(edge["range"], "~1.0");
    assert_eq!(edge["resolved"], "1.0.0");
    assert_eq!(edge["satisfied"], true);
    let dot = server.get("/api/v1/orgs/acme/dependencies?format=dot");
    assert!(dot.content_type.starts_with("text/vnd.graphviz"), "{dot:?}");
    assert!(
        dot.body.contains("\"app\" -> \"mid\" [label=\"~1.0\"];"),
        "{}",
        dot.body
    );
    assert!(
        dot.body
            .contains("\"app\" -> \"extra\" [label=\"*\", style=dashed];")
    );

    // Uninstalling with cascade stops the dependents in the same step.
    server.post("/api/v1/orgs/acme/plugins/app/activate?with-deps");
    let removed = server.delete("/api/v1/orgs/acme/plugins/base?force&cascade");
    assert_eq!(removed.status, 200, "{removed:?}");
    let expected =
        [("app", "installed"), ("mid", "installed")].map(|(n, s)| (n.to_owned(), s.to_owned()));
    assert_eq!(states(&server), expected);
    let refused = server.post("/api/v1/orgs/acme/plugins/mid/activate");
    assert_eq!(refused.error_code(), "dependency_missing");
}

#[test]
fn a_plugin_sees_its_optional_dependency_come_and_go_and_nothing_else() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let sandbox = guest_package_with("sandbox", |m| {
        m["dependencies"] = json!({ "stats": { "version": "^1", "optional": true } });
    });
    server.install_active("acme", &sandbox);
    let state = |name: &str| {
        server
            .get(&format!("/o/acme/p/sandbox/deps/state?name={name}"))
            .body
    };
    assert_eq!(state("stats"), "absent");

    assert_eq!(
        server
            .install("acme", &package("stats", "1.2.0", json!({})))
            .status,
        201
    );
    assert_eq!(state("stats"), "installed 1.2.0");
    server.post("/api/v1/orgs/acme/plugins/stats/activate");
    assert_eq!(state("stats"), "active 1.2.0");

    // Installed, but not a declared dependency: the plugin cannot tell.
    server.install_active("acme", &package("other", "1.0.0", json!({})));
    assert_eq!(state("other"), "absent");
}

crate::support::also_on_postgres!(
    installs_that_would_break_the_graph_are_refused_and_change_nothing,
    no_step_leaves_an_active_plugin_on_a_dependency_that_is_not_serving,
    activation_follows_dependencies_and_stopping_a_needed_plugin_is_refused,
    a_plugin_sees_its_optional_dependency_come_and_go_and_nothing_else,
);
