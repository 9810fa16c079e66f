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
pub(crate) fn calls_outside_the_grant_are_denied_and_touch_nothing() {
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

/// `org`'s `kvprobe` usage as the management API shows it.
fn kv_usage(server: &Server, org: &str) -> serde_json::Value {
    let usage = server.get(&format!("/api/v1/orgs/{org}/plugins/kvprobe/kv-usage"));
    assert_eq!(usage.status, 200, "{usage:?}");
    usage.json()
}

/// The value of the `berth_plugin_kv_*` gauge `name` for `org`'s `kvprobe`.
fn kv_gauge(server: &Server, name: &str, org: &str) -> String {
    let metrics = server.get("/metrics").body;
    let series = format!("berth_plugin_kv_{name}{{org=\"{org}\",plugin=\"kvprobe\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
        .to_owned()
}

#[test]
fn a_plugin_at_its_orgs_quota_is_refused_inside_the_guest_and_a_neighbour_keeps_writing() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_in(data.path(), &["--no-demo"]);
    for org in ["tight", "roomy"] {
        server.create_org(org);
        server.install_active(org, &guest_package("kvprobe"));
    }
    let quota = server.put_json(
        "/api/v1/orgs/tight/limits",
        json!({ "kv-max-bytes": 40, "kv-max-keys": 3 }),
    );
    assert_eq!(quota.status, 200, "{quota:?}");
    assert_eq!(quota.json()["kv-max-keys"], 3);

    // Fill the key quota: three keys, 2 + 10 bytes each.
    for key in ["k1", "k2", "k3"] {
        let set = server.get(&format!("/o/tight/p/kvprobe/set/{key}/0123456789"));
        assert_eq!(set.status, 204, "{set:?}");
    }
    let full = json!({ "bytes": 36, "keys": 3, "max-bytes": 40, "max-keys": 3 });
    assert_eq!(kv_usage(&server, "tight"), full);

    // A new key is past the key quota; a longer value past the byte quota.
    // Meanwhile the neighbour writes as much as it likes.
    for round in 0..10 {
        let new_key = server.get(&format!("/o/tight/p/kvprobe/set/k4-{round}/x"));
        assert_eq!(new_key.status, 507, "{new_key:?}");
        let message = new_key.header("x-kv-error");
        assert!(
            message.starts_with("quota-exceeded: key quota"),
            "{message}"
        );
        let longer = server.get("/o/tight/p/kvprobe/set/k1/0123456789abcdef");
        assert_eq!(longer.status, 507, "{longer:?}");
        let message = longer.header("x-kv-error");
        assert!(
            message.starts_with("quota-exceeded: byte quota"),
            "{message}"
        );

        let neighbour = server.get(&format!("/o/roomy/p/kvprobe/set/n{round}/0123456789"));
        assert_eq!(neighbour.status, 204, "{neighbour:?}");
    }
    assert_eq!(kv_usage(&server, "roomy")["keys"], 10);

    // Nothing the refused writes carried was stored.
    assert_eq!(kv_usage(&server, "tight"), full);
    assert_eq!(
        server.get("/o/tight/p/kvprobe/list/").header("x-kv-keys"),
        "k1,k2,k3"
    );
    assert_eq!(
        server.get("/o/tight/p/kvprobe/get/k1").header("x-kv-value"),
        "0123456789"
    );
    assert_eq!(kv_gauge(&server, "keys", "tight"), "3");
    assert_eq!(kv_gauge(&server, "bytes", "tight"), "36");

    // Deleting frees room; overwriting with something shorter always works.
    assert_eq!(server.get("/o/tight/p/kvprobe/delete/k2").status, 204);
    assert_eq!(server.get("/o/tight/p/kvprobe/set/k4/x").status, 204);
    assert_eq!(server.get("/o/tight/p/kvprobe/set/k1/short").status, 204);
    let after = json!({ "bytes": 22, "keys": 3, "max-bytes": 40, "max-keys": 3 });
    assert_eq!(kv_usage(&server, "tight"), after);

    // The usage is kept across a restart, and exported again on mount.
    drop(server);
    let server = Server::start_in(data.path(), &["--no-demo"]);
    assert_eq!(kv_usage(&server, "tight"), after);
    assert_eq!(kv_gauge(&server, "bytes", "tight"), "22");
    assert_eq!(kv_gauge(&server, "keys", "roomy"), "10");
    let refused = server.get("/o/tight/p/kvprobe/set/k5/x");
    assert_eq!(refused.status, 507, "{refused:?}");
}

crate::support::also_on_postgres!(
    the_same_plugin_in_two_orgs_never_sees_the_other_orgs_data,
    calls_outside_the_grant_are_denied_and_touch_nothing,
    data_survives_restarts_and_upgrades_and_goes_with_uninstall,
    a_dependent_reads_only_what_its_declared_dependency_exposes,
    a_plugin_at_its_orgs_quota_is_refused_inside_the_guest_and_a_neighbour_keeps_writing,
);
