//! The author's path, as a newcomer would walk it with the real `berth`
//! CLI: `plugin new` (every kind) → `plugin build` → `plugin pack` →
//! `keygen` + `plugin sign` → `registry publish` → install by range in an org
//! that requires signatures → activate → call the route. The other kinds'
//! templates, and the JavaScript one, are installed and shown to work too.

use crate::support::{Server, admin_secret, berth_cli};
use std::path::Path;

/// `plugin new` + `plugin build` + `plugin pack` for `name` of `kind`;
/// returns the package path.
fn make_plugin(work: &Path, name: &str, kind: &str) -> String {
    let dir = work.to_str().unwrap();
    berth_cli(&["plugin", "new", name, "--kind", kind, "--dir", dir]);
    let project = work.join(name);
    // One target directory for every project, so the standard library
    // and wit-bindgen are built once.
    let target = work.join("target");
    let built = berth_cli(&[
        "plugin",
        "build",
        project.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
    ]);
    let folder = built.trim().strip_prefix("built into ").unwrap();
    let component = Path::new(folder).join(format!("{}.wasm", name.replace('-', "_")));
    let packed = berth_cli(&[
        "plugin",
        "pack",
        project.to_str().unwrap(),
        "--component",
        component.to_str().unwrap(),
    ]);
    packed.trim().rsplit(": ").next().unwrap().to_owned()
}

#[test]
fn a_new_author_goes_from_templates_to_a_signed_plugin_serving_in_an_org() {
    let work = tempfile::tempdir().unwrap();
    let greeter = make_plugin(work.path(), "greeter", "routes");
    let keys = work.path().join("keys");
    berth_cli(&["keygen", "--out", keys.to_str().unwrap()]);
    let secret = keys.join("berth.key");
    berth_cli(&[
        "plugin",
        "sign",
        &greeter,
        "--key",
        secret.to_str().unwrap(),
    ]);
    let public = keys.join("berth.pub");
    berth_cli(&[
        "plugin",
        "verify",
        &greeter,
        "--key",
        public.to_str().unwrap(),
    ]);

    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let key = std::fs::read_to_string(&public).unwrap();
    let trusted = server.post_json(
        "/api/v1/orgs/acme/trusted-keys",
        serde_json::json!({ "key": key }),
    );
    assert_eq!(trusted.status, 201, "{trusted:?}");
    let required = serde_json::json!({ "require-signature": true });
    assert_eq!(
        server
            .put_json("/api/v1/orgs/acme/signature-policy", required)
            .status,
        200
    );
    let token = admin_secret(&server, "acme");
    berth_cli(&[
        "registry",
        "publish",
        &greeter,
        "--org",
        "acme",
        "--server",
        &server.base,
        "--token",
        &token,
    ]);

    let installed = server.post_json(
        "/api/v1/orgs/acme/plugins",
        serde_json::json!({ "name": "greeter", "version": "^0.1" }),
    );
    assert_eq!(installed.status, 201, "{installed:?}");
    assert!(installed.json()["installed"][0]["signed_by"].is_string());
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/greeter/activate")
            .status,
        200
    );
    let greeting = server.get("/o/acme/p/greeter/");
    assert_eq!(
        (greeting.status, greeting.body.as_str()),
        (200, "Hello from greeter!\n")
    );

    // The other templates build, pack and work in an org without the policy.
    server.create_org("plain");
    for (name, kind) in [
        ("stamper", "hooks"),
        ("connector", "integration"),
        ("panel", "ui"),
    ] {
        let package = std::fs::read(make_plugin(work.path(), name, kind)).unwrap();
        server.install_active("plain", &package);
    }
    let created = server.post_json(
        "/o/plain/api/contacts",
        serde_json::json!({ "name": "Ada" }),
    );
    assert_eq!(
        created.status, 201,
        "the hooks template lets contacts through: {created:?}"
    );
    let pong = server.post_json(
        "/api/v1/orgs/plain/integrations/connector/actions/ping",
        serde_json::json!({}),
    );
    assert_eq!(
        pong.json(),
        serde_json::json!({ "output": { "pong": true } }),
        "{pong:?}"
    );
    let ui = server.get("/o/plain/ui/manifest.json").json();
    assert_eq!(ui["slots"]["dashboard.widgets"][0]["plugin"], "panel");
    let widget = server.get("/o/plain/ui/panel/widget.js");
    assert!(widget.body.contains("Hello from panel"), "{widget:?}");

    // A JavaScript route plugin, through the same commands.
    let dir = work.path().to_str().unwrap();
    berth_cli(&["plugin", "new", "js-greeter", "--lang", "js", "--dir", dir]);
    let project = work.path().join("js-greeter");
    berth_cli(&["plugin", "build", project.to_str().unwrap()]);
    let packed = berth_cli(&["plugin", "pack", project.to_str().unwrap()]);
    let package = std::fs::read(packed.trim().rsplit(": ").next().unwrap()).unwrap();
    server.install_active("plain", &package);
    let greeting = server.get("/o/plain/p/js-greeter/");
    assert_eq!(
        (greeting.status, greeting.body.as_str()),
        (200, "Hello from js-greeter!\n")
    );

    // A JavaScript hooks plugin (sharing the first project's npm install).
    berth_cli(&[
        "plugin", "new", "js-stamp", "--kind", "hooks", "--lang", "js", "--dir", dir,
    ]);
    let hooks = work.path().join("js-stamp");
    std::os::unix::fs::symlink(project.join("node_modules"), hooks.join("node_modules")).unwrap();
    berth_cli(&["plugin", "build", hooks.to_str().unwrap()]);
    let packed = berth_cli(&["plugin", "pack", hooks.to_str().unwrap()]);
    let package = std::fs::read(packed.trim().rsplit(": ").next().unwrap()).unwrap();
    server.install_active("plain", &package);
    let vetoed = server.post_json(
        "/o/plain/api/contacts",
        serde_json::json!({ "name": "js-stamp-veto" }),
    );
    assert_eq!(vetoed.error_code(), "vetoed", "{vetoed:?}");
}
