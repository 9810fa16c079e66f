//! `berth:plugin/kv` through the real `kvprobe` guest: data is private to a
//! plugin in an org, reachable only as granted, durable, and gone with the
//! plugin's uninstall.

use crate::support::{Server, guest_package, guest_package_with};
use serde_json::json;

#[test]
fn the_same_plugin_in_two_orgs_never_sees_the_other_orgs_data() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("kvprobe"));
    }
    assert_eq!(
        server.get("/o/acme/p/kvprobe/set/secret/acme-value").status,
        204
    );
    let from_beta = server.get("/o/beta/p/kvprobe/get/secret");
    assert_eq!(from_beta.status, 404, "{from_beta:?}");
    assert_eq!(
        server.get("/o/beta/p/kvprobe/list/").header("x-kv-keys"),
        ""
    );

    assert_eq!(
        server.get("/o/beta/p/kvprobe/set/secret/beta-value").status,
        204
    );
    let acme = server.get("/o/acme/p/kvprobe/get/secret");
    assert_eq!(acme.header("x-kv-value"), "acme-value");
    assert_eq!(
        server
            .get("/o/beta/p/kvprobe/get/secret")
            .header("x-kv-value"),
        "beta-value"
    );

    // Another plugin in the same org has its own space too.
    let other = guest_package_with("kvprobe", |m| m["name"] = "other".into());
    server.install_active("acme", &other);
    assert_eq!(server.get("/o/acme/p/other/get/secret").status, 404);
    assert_eq!(
        server.get("/o/acme/p/kvprobe/list/se").header("x-kv-keys"),
        "secret"
    );
}

#[test]
fn calls_outside_the_grant_are_denied_and_touch_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    assert_eq!(
        server.install("acme", &guest_package("kvprobe")).status,
        201
    );
    let activate = |grant: serde_json::Value| {
        let reply = server.post_json(
            "/api/v1/orgs/acme/plugins/kvprobe/activate",
            json!({ "grant": grant }),
        );
        assert_eq!(reply.status, 200, "{reply:?}");
    };

    activate(json!({ "routes": ["/"], "storage": ["read", "write"] }));
    assert_eq!(server.get("/o/acme/p/kvprobe/set/kept/1").status, 204);

    // Read only: writes and deletes are refused inside the guest.
    activate(json!({ "routes": ["/"], "storage": ["read"] }));
    for path in [
        "/o/acme/p/kvprobe/set/kept/2",
        "/o/acme/p/kvprobe/delete/kept",
    ] {
        let denied = server.get(path);
        assert_eq!(denied.status, 403, "{denied:?}");
        assert!(
            denied.header("x-kv-error").starts_with("denied:"),
            "{denied:?}"
        );
    }
    assert_eq!(
        server
            .get("/o/acme/p/kvprobe/get/kept")
            .header("x-kv-value"),
        "1"
    );

    // No storage at all: even reads are refused.
    activate(json!({ "routes": ["/"] }));
    let denied = server.get("/o/acme/p/kvprobe/get/kept");
    assert_eq!(denied.status, 403, "{denied:?}");

    // Oversized keys are refused by the host.
    activate(json!({ "routes": ["/"], "storage": ["read", "write"] }));
    let long_key = "k".repeat(1025);
    let too_large = server.get(&format!("/o/acme/p/kvprobe/set/{long_key}/x"));
    assert_eq!(too_large.status, 413, "{too_large:?}");
    assert_eq!(
        server
            .get("/o/acme/p/kvprobe/get/kept")
            .header("x-kv-value"),
        "1"
    );
}

#[test]
fn data_survives_restarts_and_upgrades_and_goes_with_uninstall() {
    let data = tempfile::tempdir().unwrap();
    {
        let server = Server::start_in(data.path(), &["--no-demo"]);
        server.create_org("acme");
        server.install_active("acme", &guest_package("kvprobe"));
        assert_eq!(server.get("/o/acme/p/kvprobe/set/durable/yes").status, 204);
    }
    let server = Server::start_in(data.path(), &["--no-demo"]);
    assert_eq!(
        server
            .get("/o/acme/p/kvprobe/get/durable")
            .header("x-kv-value"),
        "yes"
    );
    let upgrade = guest_package_with("kvprobe", |m| m["version"] = "0.2.0".into());
    assert_eq!(server.install("acme", &upgrade).status, 201);
    assert_eq!(
        server
            .get("/o/acme/p/kvprobe/get/durable")
            .header("x-kv-value"),
        "yes"
    );

    let removed = server.delete("/api/v1/orgs/acme/plugins/kvprobe?force");
    assert_eq!(removed.status, 200, "{removed:?}");
    server.install_active("acme", &guest_package("kvprobe"));
    assert_eq!(server.get("/o/acme/p/kvprobe/get/durable").status, 404);
}

#[test]
fn a_dependent_reads_only_what_its_declared_dependency_exposes() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        let lib = guest_package_with("kvprobe", |m| {
            m["name"] = "lib".into();
            m["exposes"] = json!(["pub-"]);
        });
        server.install_active(org, &lib);
    }
    let app = guest_package_with("kvprobe", |m| {
        m["name"] = "app".into();
        m["dependencies"] = json!({ "lib": "^0.1" });
    });
    server.install_active("acme", &app);
    let stranger = guest_package_with("kvprobe", |m| m["name"] = "stranger".into());
    server.install_active("acme", &stranger);
    for (org, value) in [("acme", "acme-shared"), ("beta", "beta-shared")] {
        let set = server.get(&format!("/o/{org}/p/lib/set/pub-greeting/{value}"));
        assert_eq!(set.status, 204);
    }
    assert_eq!(server.get("/o/acme/p/lib/set/secret/hidden").status, 204);

    let shared = server.get("/o/acme/p/app/shared/lib/pub-greeting");
    assert_eq!(shared.header("x-kv-value"), "acme-shared", "{shared:?}");
    assert_eq!(
        server.get("/o/acme/p/app/shared/lib/pub-missing").status,
        404
    );
    for (path, why) in [
        ("/o/acme/p/app/shared/lib/secret", "exposes no"),
        (
            "/o/acme/p/stranger/shared/lib/pub-greeting",
            "not a declared dependency",
        ),
        (
            "/o/acme/p/app/shared/stranger/pub-greeting",
            "not a declared dependency",
        ),
    ] {
        let refused = server.get(path);
        assert_eq!(refused.status, 404, "{path}: {refused:?}");
        assert!(
            refused.header("x-kv-error").contains(why),
            "{path}: {refused:?}"
        );
    }
    // Without `storage: read`, not even exposed data.
    let narrowed = server.post_json(
        "/api/v1/orgs/acme/plugins/app/activate",
        json!({ "grant": { "routes": ["/"] } }),
    );
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    assert_eq!(
        server.get("/o/acme/p/app/shared/lib/pub-greeting").status,
        403
    );
}
