//! `POST …/plugins/preview`: a package checked as an install checks it and
//! shown beside the installed plugin of its name (the console's upgrade
//! diff), with nothing written — no registry row, audit event, package
//! file or artifact — and refused with the codes an install gives. A
//! plugin named `preview` is still shown and uninstalled as any other.

use crate::support::{
    Reply, Server, admin_secret, files_under, guest_component, guest_package, guest_package_with,
};
use serde_json::{Value, json};

/// Everything a preview must leave as it was: the registry as the API
/// shows it, and every file under the data directory.
#[derive(Debug, PartialEq)]
struct Snapshot {
    plugins: Value,
    audit: Value,
    data_files: Vec<String>,
}

fn snapshot(server: &Server) -> Snapshot {
    Snapshot {
        plugins: server.get("/api/v1/orgs/acme/plugins").json(),
        audit: server.get("/api/v1/orgs/acme/audit").json(),
        data_files: files_under(&server.data),
    }
}

/// Previews `zip` in `acme`, checking that nothing changed.
fn preview(server: &Server, zip: &[u8]) -> Reply {
    let before = snapshot(server);
    let reply = server.post_bytes("/api/v1/orgs/acme/plugins/preview", "application/zip", zip);
    assert_eq!(
        snapshot(server),
        before,
        "a preview changed state: {reply:?}"
    );
    reply
}

#[test]
fn a_preview_shows_the_package_beside_the_installed_plugin_and_writes_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.create_org("beta");

    // A new plugin: nothing installed under its name.
    let new = preview(&server, &guest_package("hello"));
    assert_eq!(new.status, 200, "{new:?}");
    let shown = new.json();
    assert_eq!(shown["manifest"]["name"], "hello");
    assert_eq!(shown["manifest"]["version"], "0.1.0");
    assert_eq!(shown["installed"], Value::Null);
    // The same manifest the plugin shows once installed.
    server.install_active("acme", &guest_package("hello"));
    let installed = server.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(shown["manifest"], installed["manifest"]);

    // An upgrade: the installed version and grant beside the new manifest.
    let newer = guest_package_with("hello", |m| {
        m["version"] = "0.2.0".into();
        m["permissions"]["config"] = json!(["greeting"]);
    });
    let upgrade = preview(&server, &newer);
    assert_eq!(upgrade.status, 200, "{upgrade:?}");
    let shown = upgrade.json();
    assert_eq!(shown["manifest"]["version"], "0.2.0");
    assert_eq!(
        shown["manifest"]["permissions"]["config"],
        json!(["greeting"])
    );
    assert_eq!(shown["installed"]["version"], "0.1.0");
    assert_eq!(shown["installed"]["state"], "active");
    assert_eq!(shown["installed"]["granted"], json!({ "routes": ["/"] }));
    assert_eq!(shown["installed"], installed);
    // An older version is refused as an install without ?force refuses it.
    let older = guest_package_with("hello", |m| m["version"] = "0.0.9".into());
    let refused = preview(&server, &older);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (409, "version_not_newer"),
        "{refused:?}"
    );
    // An unsigned package where the org requires signatures, likewise.
    let required = server.put_json(
        "/api/v1/orgs/beta/signature-policy",
        json!({ "require-signature": true }),
    );
    assert_eq!(required.status, 200, "{required:?}");
    let unsigned = server.post_bytes(
        "/api/v1/orgs/beta/plugins/preview",
        "application/zip",
        &guest_package("hello"),
    );
    let install = server.install("beta", &guest_package("hello"));
    assert_eq!(install.error_code(), "signature_required", "{install:?}");
    assert_eq!(
        (unsigned.status, unsigned.error_code()),
        (install.status, install.error_code()),
        "{unsigned:?}"
    );

    // Refused as an install refuses, with nothing written.
    let broken = preview(&server, b"PK\x03\x04 this is not a zip archive");
    assert_eq!(
        (broken.status, broken.error_code().as_str()),
        (400, "invalid_zip"),
        "{broken:?}"
    );
    let no_manifest =
        berth::package::build_zip([("hello.wasm", guest_component("hello").as_slice())]);
    let refused = preview(&server, &no_manifest);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (400, "missing_manifest"),
        "{refused:?}"
    );
    let bad_manifest = guest_package_with("hello", |m| m["version"] = "one".into());
    let refused = preview(&server, &bad_manifest);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (400, "invalid_manifest"),
        "{refused:?}"
    );
    let undeclared =
        guest_package_with("kvprobe", |m| m["permissions"] = json!({ "routes": ["/"] }));
    let refused = preview(&server, &undeclared);
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "permission_missing"),
        "{refused:?}"
    );
    let json_body = server.post_json(
        "/api/v1/orgs/acme/plugins/preview",
        json!({ "name": "hello" }),
    );
    assert_eq!(json_body.status, 415, "{json_body:?}");
    let ghost = server.post_bytes(
        "/api/v1/orgs/ghost/plugins/preview",
        "application/zip",
        &guest_package("hello"),
    );
    assert_eq!(ghost.error_code(), "org_not_found");
    let other = admin_secret(&server, "beta");
    let not_yours = server.client(Some(&other)).post_bytes(
        "/api/v1/orgs/acme/plugins/preview",
        "application/zip",
        &guest_package("hello"),
    );
    assert_eq!(
        (not_yours.status, not_yours.error_code().as_str()),
        (404, "org_not_found")
    );
}

#[test]
fn a_plugin_named_preview_is_shown_and_uninstalled_like_any_other() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let named = guest_package_with("hello", |m| m["name"] = "preview".into());
    let previewed = preview(&server, &named);
    assert_eq!(previewed.json()["manifest"]["name"], "preview");
    assert_eq!(server.install("acme", &named).status, 201);
    let shown = server.get("/api/v1/orgs/acme/plugins/preview");
    assert_eq!(
        (shown.status, &shown.json()["name"]),
        (200, &"preview".into())
    );
    let newer = guest_package_with("hello", |m| {
        m["name"] = "preview".into();
        m["version"] = "0.2.0".into();
    });
    let again = preview(&server, &newer);
    assert_eq!(again.json()["installed"]["name"], "preview");
    let removed = server.delete("/api/v1/orgs/acme/plugins/preview");
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(server.get("/api/v1/orgs/acme/plugins/preview").status, 404);
}
