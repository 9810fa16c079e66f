//! Per-org plugin settings and secrets: set through the management API
//! (secrets write-only), read by the real `sandbox` guest only as granted,
//! never across orgs, and gone with the plugin.

use crate::support::{Server, admin_token, guest_package};
use serde_json::json;

const ACME_SECRET: &str = "acme-api-key-d41d8cd98f00b204";

fn config_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/plugins/sandbox/config")
}

#[test]
fn settings_and_secrets_reach_only_their_plugin_in_their_org_as_granted() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("sandbox"));
    }
    let set = server.put_json(
        &config_path("acme"),
        json!({
            "config": { "url": "https://acme.example", "other": "not granted" },
            "secrets": { "api-key": ACME_SECRET }
        }),
    );
    assert_eq!(set.status, 200, "{set:?}");
    let shown = server.get(&config_path("acme"));
    for reply in [&set, &shown] {
        assert_eq!(reply.json()["config"]["url"], "https://acme.example");
        assert_eq!(reply.json()["secrets"], json!(["api-key"]));
        assert!(!reply.body.contains(ACME_SECRET), "{reply:?}");
    }

    let get = |org: &str, route: &str| server.get(&format!("/o/{org}/p/sandbox/config/{route}"));
    let url = get("acme", "get?key=url");
    assert_eq!(
        (url.status, url.body.as_str()),
        (200, "https://acme.example")
    );
    let secret = get("acme", "secret?name=api-key");
    assert_eq!((secret.status, secret.body.as_str()), (200, ACME_SECRET));
    // Set, but not granted: denied inside the guest.
    let other = get("acme", "get?key=other");
    assert_eq!(other.status, 403, "{other:?}");
    assert!(other.header("x-error").starts_with("denied:"), "{other:?}");
    // The same plugin in another org sees nothing of acme's.
    assert_eq!(get("beta", "get?key=url").status, 404);
    assert_eq!(get("beta", "secret?name=api-key").status, 404);

    // A setting change keeps the secret; a narrower grant hides it.
    let changed = server.put_json(
        &config_path("acme"),
        json!({ "config": { "url": "https://b" } }),
    );
    assert_eq!(changed.json()["secrets"], json!(["api-key"]));
    let narrowed = server.post_json(
        "/api/v1/orgs/acme/plugins/sandbox/activate",
        json!({ "grant": { "routes": ["/"], "config": ["url"] } }),
    );
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    assert_eq!(get("acme", "get?key=url").body, "https://b");
    assert_eq!(get("acme", "secret?name=api-key").status, 403);

    // beta's admin can neither read nor change acme's configuration.
    let beta_token = admin_token(&server, "beta");
    let beta = server.client(Some(beta_token["token"].as_str().unwrap()));
    assert_eq!(beta.get(&config_path("acme")).status, 404);
    let refused = beta.put_json(&config_path("acme"), json!({ "config": {} }));
    assert_eq!(refused.error_code(), "org_not_found");
    assert_eq!(
        server.get(&config_path("acme")).json()["config"]["url"],
        "https://b"
    );

    // The audit log names the secret, never its value.
    let audit = server.get("/api/v1/orgs/acme/audit");
    assert!(audit.body.contains("secret `api-key` set"), "{audit:?}");
    assert!(!audit.body.contains(ACME_SECRET));

    // Uninstalling forgets the configuration.
    server.delete("/api/v1/orgs/acme/plugins/sandbox?force=true");
    server.install_active("acme", &guest_package("sandbox"));
    let fresh = server.get(&config_path("acme")).json();
    assert_eq!(fresh["config"], json!({}));
    assert_eq!(fresh["secrets"], json!([]));
}

#[test]
fn bad_configuration_updates_are_refused_and_change_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("sandbox"));
    let before = json!({ "config": { "url": "u" }, "secrets": { "api-key": "k" } });
    assert_eq!(server.put_json(&config_path("acme"), before).status, 200);
    let snapshot = server.get(&config_path("acme")).body;

    for (body, status, code) in [
        (
            json!({ "config": { "bad key": "x" } }),
            400,
            "invalid_config",
        ),
        (json!({ "secrets": { "": "x" } }), 400, "invalid_config"),
        (json!({ "config": { "url": 5 } }), 400, "invalid_json"),
        (json!({ "settings": {} }), 400, "invalid_json"),
    ] {
        let refused = server.put_json(&config_path("acme"), body.clone());
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (status, code),
            "{body}"
        );
    }
    let missing = server.put_json("/api/v1/orgs/acme/plugins/nope/config", json!({}));
    assert_eq!(missing.error_code(), "plugin_not_found");
    assert_eq!(server.get(&config_path("acme")).body, snapshot);
    assert_eq!(
        server
            .get("/o/acme/p/sandbox/config/secret?name=api-key")
            .body,
        "k"
    );
}

#[test]
fn secrets_are_sealed_at_rest_and_open_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), &["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("sandbox"));
    let set = server.put_json(
        &config_path("acme"),
        json!({ "secrets": { "api-key": ACME_SECRET } }),
    );
    assert_eq!(set.status, 200, "{set:?}");
    server.terminate();

    let registry = std::fs::read(data.path().join("registry.redb")).unwrap();
    let secret = ACME_SECRET.as_bytes();
    assert!(
        !registry
            .windows(secret.len())
            .any(|window| window == secret),
        "the secret is in registry.redb in the clear"
    );
    let key_file = data.path().join("secrets.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let server = Server::start_in(data.path(), &["--no-demo"]);
    let read = server.get("/o/acme/p/sandbox/config/secret?name=api-key");
    assert_eq!((read.status, read.body.as_str()), (200, ACME_SECRET));
}
