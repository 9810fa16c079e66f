//! Upgrades that check health and roll back: an upgrade of an active
//! plugin whose new version fails its health route is refused with the old
//! version serving and nothing changed; the previous version is kept and a
//! rollback returns to it (its package and grant, the same data); and an
//! upgrade whose first requests fail is rolled back on its own.

use crate::support::{Server, config_file, files_under, guest_package_with};
use serde_json::json;

/// Guest `guest`'s package as plugin `svc` at `version`, routes `/`, with
/// `edit` applied to the manifest.
fn svc(guest: &str, version: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    guest_package_with(guest, |m| {
        m["name"] = json!("svc");
        m["version"] = json!(version);
        edit(m);
    })
}

/// What a refused upgrade must leave as it was.
fn state(server: &Server) -> (serde_json::Value, serde_json::Value, Vec<String>) {
    (
        server.get("/api/v1/orgs/acme/plugins").json(),
        server.get("/api/v1/orgs/acme/audit").json(),
        files_under(&server.data.join("packages")),
    )
}

/// The actions and details of `acme`'s audit log.
fn audit(server: &Server) -> Vec<(String, String)> {
    let events = server.get("/api/v1/orgs/acme/audit").json();
    (events.as_array().unwrap().iter())
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["detail"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

#[test]
pub(crate) fn a_failing_health_check_refuses_the_upgrade_and_the_old_version_keeps_serving() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &svc("hello", "1.0.0", |_| {}));
    let greeting = |server: &Server| server.get("/o/acme/p/svc/").body;
    assert_eq!(greeting(&server), "Hello from berth!\n");

    let before = state(&server);
    for (health, why) in [
        ("/status/503", "answered 503"),
        ("/recurse", "failed"),
        ("/elsewhere/../x", "not a canonical path"),
    ] {
        let broken = svc("faults", "2.0.0", |m| m["health"] = json!(health));
        let reply = server.install("acme", &broken);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (422, "health_check_failed"),
            "{health}: {reply:?}"
        );
        assert!(reply.error_message().contains(why), "{health}: {reply:?}");
        assert_eq!(greeting(&server), "Hello from berth!\n", "{health}");
        assert_eq!(
            state(&server),
            before,
            "{health}: a refused upgrade changed state"
        );
    }

    // A healthy new version switches; the old one is kept for rollback.
    let healthy = svc("faults", "2.0.0", |m| m["health"] = json!("/status/204"));
    assert_eq!(server.install("acme", &healthy).status, 201);
    assert_eq!(greeting(&server), "ok");
    let listed = server.get("/api/v1/orgs/acme/plugins/svc").json();
    assert_eq!(
        (&listed["version"], &listed["previous"]["version"]),
        (&json!("2.0.0"), &json!("1.0.0"))
    );

    // Rollback returns to it, and can itself be undone.
    let back = server.post("/api/v1/orgs/acme/plugins/svc/rollback");
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(
        (&back.json()["version"], &back.json()["previous"]["version"]),
        (&json!("1.0.0"), &json!("2.0.0"))
    );
    assert_eq!(greeting(&server), "Hello from berth!\n");
    assert_eq!(audit(&server).last().unwrap().0, "rollback");
    assert_eq!(
        server.post("/api/v1/orgs/acme/plugins/svc/rollback").json()["version"],
        "2.0.0"
    );
    assert_eq!(greeting(&server), "ok");
}

#[test]
pub(crate) fn a_rollback_restores_the_old_grant_keeps_the_data_and_needs_a_previous_version() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let probe = |version: &str, storage: serde_json::Value| {
        guest_package_with("kvprobe", |m| {
            m["version"] = json!(version);
            m["permissions"]["storage"] = storage;
        })
    };
    server.install_active("acme", &probe("1.0.0", json!(["read", "write"])));
    let none = server.post("/api/v1/orgs/acme/plugins/kvprobe/rollback");
    assert_eq!(
        (none.status, none.error_code().as_str()),
        (409, "no_previous_version")
    );
    assert_eq!(server.get("/o/acme/p/kvprobe/set/colour/blue").status, 204);

    // 2.0.0 only reads: its grant is narrowed to that.
    assert_eq!(
        server
            .install("acme", &probe("2.0.0", json!(["read"])))
            .status,
        201
    );
    assert_eq!(server.get("/o/acme/p/kvprobe/set/colour/red").status, 403);
    let granted = server.get("/api/v1/orgs/acme/plugins/kvprobe").json()["granted"].clone();
    assert_eq!(granted["storage"], json!(["read"]));

    let back = server.post("/api/v1/orgs/acme/plugins/kvprobe/rollback");
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.json()["granted"]["storage"], json!(["read", "write"]));
    assert_eq!(
        server
            .get("/o/acme/p/kvprobe/get/colour")
            .header("x-kv-value"),
        "blue"
    );
    assert_eq!(server.get("/o/acme/p/kvprobe/set/colour/green").status, 204);
    let (action, detail) = audit(&server).pop().unwrap();
    assert_eq!(action, "rollback");
    assert!(detail.starts_with("from 2.0.0 to 1.0.0"), "{detail}");
}

#[test]
pub(crate) fn an_upgrade_whose_first_requests_fail_is_rolled_back_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[upgrades]\nprobation-requests = 10\nmax-error-ratio = 0.2\n",
    );
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("acme");
    server.install_active("acme", &svc("hello", "1.0.0", |_| {}));
    // The old version answers this path 404; the new one traps on it.
    assert_eq!(server.get("/o/acme/p/svc/recurse").status, 404);
    assert_eq!(
        server
            .install("acme", &svc("faults", "2.0.0", |_| {}))
            .status,
        201
    );

    let failures = (0..3).filter(|_| server.get("/o/acme/p/svc/recurse").status == 500);
    assert_eq!(failures.count(), 3, "the new version traps");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.get("/api/v1/orgs/acme/plugins/svc").json()["version"] != "1.0.0" {
        assert!(
            std::time::Instant::now() < deadline,
            "not rolled back: {:?}",
            audit(&server)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(server.get("/o/acme/p/svc/").body, "Hello from berth!\n");
    let (action, detail) = audit(&server).pop().unwrap();
    assert_eq!(action, "rollback");
    assert!(
        detail.contains("automatic: 3 of its first 3 requests"),
        "{detail}"
    );
}
