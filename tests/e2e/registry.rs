//! The internal registries over HTTP: publish to an org's registry and the
//! operator's catalog, list, and install by name and range with the missing
//! dependencies resolved together — or nothing at all.

use crate::support::{Server, admin_token, guest_package_with};
use serde_json::{Value, json};

/// The `hello` guest as plugin `name` at `version`, declaring `dependencies`.
fn package(name: &str, version: &str, dependencies: Value) -> Vec<u8> {
    guest_package_with("hello", |m| {
        m["name"] = name.into();
        m["version"] = version.into();
        m["dependencies"] = dependencies;
    })
}

fn publish(server: &Server, path: &str, name: &str, version: &str, deps: Value) {
    let zip = package(name, version, deps);
    let reply = server.post_bytes(path, "application/zip", &zip);
    assert_eq!(reply.status, 201, "{name} {version}: {reply:?}");
}

/// The org's plugins, graph and registry listing.
fn snapshot(server: &Server) -> (Value, Value, Value) {
    (
        server.get("/api/v1/orgs/acme/plugins").json(),
        server.get("/api/v1/orgs/acme/dependencies").json(),
        server.get("/api/v1/orgs/acme/registry").json(),
    )
}

#[test]
fn install_by_range_resolves_dependencies_together_or_changes_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let registry = "/api/v1/orgs/acme/registry";
    for (name, version, deps) in [
        ("base", "1.0.0", json!({})),
        ("base", "1.5.0", json!({})),
        ("base", "2.0.0", json!({})),
        ("mid", "1.0.0", json!({ "base": "^1" })),
        ("mid", "2.0.0", json!({ "base": "^2" })),
        ("app", "1.0.0", json!({ "mid": "^1" })),
        ("app", "1.2.0", json!({ "mid": "^1", "base": ">=1.5" })),
        ("app", "2.0.0", json!({ "mid": "^2" })),
        ("needs-new-base", "1.0.0", json!({ "base": "^2" })),
    ] {
        publish(&server, registry, name, version, deps);
    }
    publish(&server, "/api/v1/catalog", "shared", "1.0.0", json!({}));

    let listing = server.get(registry).json();
    let names: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "base", "mid", "needs-new-base", "shared"]);
    assert_eq!(listing[4]["versions"][0]["source"], "catalog");
    assert_eq!(listing[1]["versions"].as_array().unwrap().len(), 3);

    let installed = server.post_json(
        "/api/v1/orgs/acme/plugins",
        json!({ "name": "app", "version": "^1" }),
    );
    assert_eq!(installed.status, 201, "{installed:?}");
    assert_eq!(
        installed.json()["resolved"],
        json!({ "app": "1.2.0", "base": "1.5.0", "mid": "1.0.0" })
    );
    assert_eq!(installed.json()["installed"].as_array().unwrap().len(), 3);
    let activated = server.post("/api/v1/orgs/acme/plugins/app/activate?with-deps");
    assert_eq!(activated.status, 200, "{activated:?}");
    assert_eq!(server.get("/o/acme/p/app/").body, "Hello from berth!\n");

    // From the catalog, by name alone.
    let shared = server.post_json("/api/v1/orgs/acme/plugins", json!({ "name": "shared" }));
    assert_eq!(shared.json()["resolved"], json!({ "shared": "1.0.0" }));

    // Refusals leave plugins, graph and registry as they were.
    let before = snapshot(&server);
    let again = server.post_bytes(
        registry,
        "application/zip",
        &package("base", "1.0.0", json!({})),
    );
    assert_eq!(again.error_code(), "version_exists");
    let unknown = server.post_json("/api/v1/orgs/acme/plugins", json!({ "name": "nope" }));
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (404, "package_not_found")
    );
    // base 1.5.0 is installed; nothing published needs-new-base can use.
    let conflict = server.post_json(
        "/api/v1/orgs/acme/plugins",
        json!({ "name": "needs-new-base", "version": "*" }),
    );
    assert_eq!(
        (conflict.status, conflict.error_code().as_str()),
        (409, "no_resolution")
    );
    let explanation = conflict.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(explanation.contains("base"), "{explanation}");
    let bad = server.post_json(
        "/api/v1/orgs/acme/plugins",
        json!({ "name": "app", "version": "^^1" }),
    );
    assert_eq!(bad.error_code(), "invalid_json");
    assert_eq!(snapshot(&server), before);
}

#[test]
fn registries_are_per_org_and_the_catalog_is_the_operators() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    publish(
        &server,
        "/api/v1/orgs/acme/registry",
        "private",
        "1.0.0",
        json!({}),
    );
    publish(&server, "/api/v1/catalog", "shared", "1.0.0", json!({}));

    let token = admin_token(&server, "beta");
    let beta = server.client(Some(token["token"].as_str().unwrap()));
    assert_eq!(
        beta.get("/api/v1/orgs/acme/registry").error_code(),
        "org_not_found"
    );
    let listing = beta.get("/api/v1/orgs/beta/registry").json();
    assert_eq!(listing.as_array().unwrap().len(), 1, "{listing}");
    assert_eq!(listing[0]["name"], "shared");
    assert_eq!(beta.get("/api/v1/catalog").json()[0]["name"], "shared");
    let refused = beta.post_bytes(
        "/api/v1/catalog",
        "application/zip",
        &package("x", "1.0.0", json!({})),
    );
    assert_eq!(refused.error_code(), "operator_only");
    let private = beta.post_json("/api/v1/orgs/beta/plugins", json!({ "name": "private" }));
    assert_eq!(private.error_code(), "package_not_found");
    assert_eq!(
        beta.get("/api/v1/catalog").json().as_array().unwrap().len(),
        1
    );
}

#[test]
fn install_by_name_upgrades_an_installed_plugin_like_a_zip_upgrade() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let registry = "/api/v1/orgs/acme/registry";
    publish(&server, registry, "app", "1.0.0", json!({}));
    // As `curl -d` sends it: a form content type around a JSON body.
    let install = |range: &str| {
        let body = json!({ "name": "app", "version": range }).to_string();
        let form = "application/x-www-form-urlencoded";
        server.post_bytes("/api/v1/orgs/acme/plugins", form, body.as_bytes())
    };
    assert_eq!(install("^1").status, 201);
    assert_eq!(
        server.post("/api/v1/orgs/acme/plugins/app/activate").status,
        200
    );
    let app = || server.get("/api/v1/orgs/acme/plugins/app").json();

    // Nothing newer in range: refused like a ZIP of the same version.
    let before = snapshot(&server);
    let same = install("^1");
    assert_eq!(
        (same.status, same.error_code().as_str()),
        (409, "version_not_newer")
    );
    // Build metadata makes neither a new version nor a newer one.
    let rebuilt = server.post_bytes(
        registry,
        "application/zip",
        &package("app", "1.0.0+rebuilt", json!({})),
    );
    assert_eq!(rebuilt.error_code(), "version_exists");
    let zip = server.install("acme", &package("app", "1.0.0+rebuilt", json!({})));
    assert_eq!(zip.error_code(), "version_not_newer");
    assert_eq!(snapshot(&server), before);

    // A newer version in range: upgraded in place, still active, serving.
    publish(&server, registry, "app", "1.1.0", json!({}));
    let upgraded = install("^1");
    assert_eq!(upgraded.status, 201, "{upgraded:?}");
    assert_eq!(upgraded.json()["installed"][0]["version"], "1.1.0");
    assert_eq!(
        (app()["version"].clone(), app()["state"].clone()),
        (json!("1.1.0"), json!("active"))
    );
    assert_eq!(server.get("/o/acme/p/app/").status, 200);
    let audit = server.get("/api/v1/orgs/acme/audit").json();
    assert!(audit.to_string().contains("\"upgrade\""), "{audit}");

    // A version needing a new dependency cannot arrive under an active plugin …
    publish(&server, registry, "base", "1.0.0", json!({}));
    publish(&server, registry, "app", "1.2.0", json!({ "base": "^1" }));
    let before = snapshot(&server);
    let refused = install("^1");
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "dependencies_inactive")
    );
    assert!(refused.error_message().contains("base"), "{refused:?}");
    assert_eq!(snapshot(&server), before);

    // … but an inactive one upgrades together with it, in one step.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/app/deactivate")
            .status,
        200
    );
    let together = install("^1");
    assert_eq!(together.status, 201, "{together:?}");
    let installed = together.json();
    let names: Vec<&str> = installed["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "base"]);
    assert_eq!(app()["version"], "1.2.0");
    let activated = server.post("/api/v1/orgs/acme/plugins/app/activate?with-deps");
    assert_eq!(activated.status, 200, "{activated:?}");
}
