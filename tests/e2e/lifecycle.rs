//! The plugin lifecycle over the management API, against the real server:
//! install → activate → call → deactivate → activate → uninstall, across a
//! restart, with upgrades, sharing between orgs and the audit log.

use crate::support::{Server, files_under, guest_package, guest_package_with};

const PLUGINS: &str = "/api/v1/orgs/acme/plugins";

fn actions(server: &Server) -> Vec<String> {
    server
        .get("/api/v1/orgs/acme/audit")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["plugin"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

#[test]
fn full_lifecycle_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), &["--no-demo"]);
    server.create_org("acme");

    let installed = server.install("acme", &guest_package("hello"));
    assert_eq!(installed.status, 201, "{installed:?}");
    let installed = installed.json();
    assert_eq!(installed["state"], "installed");
    assert_eq!(installed["version"], "0.1.0");
    let digest = installed["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        server.get("/o/acme/p/hello/").error_code(),
        "plugin_not_found"
    );

    assert_eq!(
        server.post(&format!("{PLUGINS}/hello/activate")).json()["state"],
        "active"
    );
    assert_eq!(server.get("/o/acme/p/hello/echo/a").json()["param"], "a");

    assert_eq!(
        server.post(&format!("{PLUGINS}/hello/deactivate")).json()["state"],
        "installed"
    );
    let gone = server.get("/o/acme/p/hello/");
    assert_eq!(
        (gone.status, gone.error_code().as_str()),
        (404, "plugin_not_found")
    );
    // Files stay while deactivated.
    assert!(
        server
            .data
            .join(format!("packages/extracted/{digest}/hello.wasm"))
            .is_file()
    );

    assert_eq!(
        server.post(&format!("{PLUGINS}/hello/activate")).status,
        200
    );
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);

    // Restart on the same data directory: state and routes come back.
    assert!(server.terminate().success());
    let server = Server::start_in(data.path(), &["--no-demo"]);
    assert_eq!(server.get("/o/acme/p/hello/").body, "Hello from berth!\n");
    let listed = server.get(PLUGINS).json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["digest"], digest.as_str());

    // An active plugin is not uninstalled without force.
    let refused = server.delete(&format!("{PLUGINS}/hello"));
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "plugin_active")
    );
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);

    assert_eq!(
        server.post(&format!("{PLUGINS}/hello/deactivate")).status,
        200
    );
    assert_eq!(server.delete(&format!("{PLUGINS}/hello")).status, 200);
    assert_eq!(server.get(PLUGINS).json(), serde_json::json!([]));
    assert_eq!(
        server.get(&format!("{PLUGINS}/hello")).error_code(),
        "plugin_not_found"
    );
    assert!(files_under(&server.data.join("packages")).is_empty());

    assert_eq!(
        actions(&server),
        [
            "org.create -",
            "install hello",
            "activate hello",
            "deactivate hello",
            "activate hello",
            "deactivate hello",
            "uninstall hello"
        ]
    );
}

#[test]
fn upgrades_keep_state_and_older_versions_need_force() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("hello"));

    let v2 = guest_package_with("hello", |m| m["version"] = "0.2.0".into());
    let upgraded = server.install("acme", &v2);
    assert_eq!(upgraded.status, 201, "{upgraded:?}");
    assert_eq!(upgraded.json()["version"], "0.2.0");
    assert_eq!(
        upgraded.json()["state"],
        "active",
        "an upgrade keeps the plugin active"
    );
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);

    for stale in [guest_package("hello"), v2.clone()] {
        let refused = server.install("acme", &stale);
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (409, "version_not_newer")
        );
    }
    assert_eq!(
        server.get(&format!("{PLUGINS}/hello")).json()["version"],
        "0.2.0"
    );

    let downgraded = server.install_forced("acme", &guest_package("hello"));
    assert_eq!(downgraded.json()["version"], "0.1.0");
    // Only the installed version's files remain, and the previous one's,
    // kept for rollback.
    let packages = files_under(&server.data.join("packages/blobs"));
    assert_eq!(packages.len(), 2, "{packages:?}");
    let listed = server.get(&format!("{PLUGINS}/hello")).json();
    assert_eq!(listed["previous"]["version"], "0.2.0");
    let v3 = guest_package_with("hello", |m| m["version"] = "0.3.0".into());
    assert_eq!(server.install("acme", &v3).status, 201);
    let packages = files_under(&server.data.join("packages/blobs"));
    assert_eq!(packages.len(), 2, "0.2.0 is no longer kept: {packages:?}");
    assert_eq!(
        actions(&server)[3..],
        ["upgrade hello", "upgrade hello", "upgrade hello"]
    );
}

#[test]
fn one_package_in_two_orgs_shares_files_and_compiled_artifact() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "globex"] {
        server.create_org(org);
        server.install_active(org, &guest_package("hello"));
        assert_eq!(server.get(&format!("/o/{org}/p/hello/")).status, 200);
    }
    assert_eq!(files_under(&server.data.join("packages/blobs")).len(), 1);
    assert_eq!(files_under(&server.data.join("artifacts")).len(), 1);

    // Uninstalling from one org keeps the files the other still uses.
    server.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(server.delete("/api/v1/orgs/acme/plugins/hello").status, 200);
    assert_eq!(server.get("/o/globex/p/hello/").status, 200);
    assert_eq!(files_under(&server.data.join("packages/blobs")).len(), 1);
}

#[test]
fn deactivate_all_turns_every_org_off() {
    let server = Server::start(&[]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("hello"));
    assert_eq!(server.get("/o/demo/p/hello/").status, 200);

    let reply = server.post("/api/v1/admin/deactivate-all");
    assert_eq!(reply.status, 200);
    // demo's hello and contact-rules, acme's hello.
    assert_eq!(reply.json().as_array().unwrap().len(), 3);
    for org in ["demo", "acme"] {
        assert_eq!(
            server.get(&format!("/o/{org}/p/hello/")).error_code(),
            "plugin_not_found"
        );
        let listed = server.get(&format!("/api/v1/orgs/{org}/plugins")).json();
        assert_eq!(listed[0]["state"], "installed");
    }
}

#[test]
fn org_names_are_validated_and_unique() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let again = server.post_json("/api/v1/orgs", serde_json::json!({ "name": "acme" }));
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (409, "org_exists")
    );
    let bad = server.post_json("/api/v1/orgs", serde_json::json!({ "name": "Not Valid" }));
    assert_eq!(
        (bad.status, bad.error_code().as_str()),
        (400, "invalid_name")
    );
    let names: Vec<_> = server
        .get("/api/v1/orgs")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["acme"]);
}

crate::support::also_on_postgres!(
    full_lifecycle_survives_a_restart,
    upgrades_keep_state_and_older_versions_need_force,
    one_package_in_two_orgs_shares_files_and_compiled_artifact,
    deactivate_all_turns_every_org_off,
    org_names_are_validated_and_unique,
);
