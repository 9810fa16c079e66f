//! Grants on activation: the org grants what the plugin declares (or less),
//! never more; routes outside the grant are refused; an upgrade declaring
//! more than was granted waits, inactive, for a new grant.

use crate::support::{Server, guest_package_with};
use serde_json::json;

/// The hello guest at `version`, declaring `routes`.
fn hello(version: &str, routes: serde_json::Value) -> Vec<u8> {
    guest_package_with("hello", |m| {
        m["version"] = version.into();
        m["permissions"]["routes"] = routes;
    })
}

fn activate(server: &Server, body: serde_json::Value) -> crate::support::Reply {
    server.post_json("/api/v1/orgs/acme/plugins/hello/activate", body)
}

#[test]
fn a_narrower_grant_limits_the_routes_and_a_wider_one_is_refused() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let installed = server.install("acme", &hello("0.1.0", json!(["/", "/echo"])));
    assert_eq!(installed.status, 201, "{installed:?}");

    // More than declared: refused, nothing changes.
    let audit_before = server.get("/api/v1/orgs/acme/audit").json();
    for grant in [
        json!({ "routes": ["/", "/admin"] }),
        json!({ "routes": ["/"], "network": ["example.com"] }),
        json!({ "storage": ["write"] }),
    ] {
        let refused = activate(&server, json!({ "grant": grant }));
        assert_eq!(refused.status, 422, "{refused:?}");
        assert_eq!(refused.error_code(), "grant_exceeds_declaration");
    }
    let unknown = activate(&server, json!({ "grant": { "teleport": true } }));
    assert_eq!(unknown.status, 400, "{unknown:?}");
    let plugin = server.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(plugin["state"], "installed");
    assert_eq!(server.get("/api/v1/orgs/acme/audit").json(), audit_before);
    assert_eq!(
        server.get("/o/acme/p/hello/echo/x").error_code(),
        "plugin_not_found"
    );

    // Only /echo granted: the greeting at / is out of bounds.
    let active = activate(&server, json!({ "grant": { "routes": ["/echo"] } }));
    assert_eq!(active.status, 200, "{active:?}");
    assert_eq!(active.json()["granted"], json!({ "routes": ["/echo"] }));
    assert_eq!(server.get("/o/acme/p/hello/echo/x").status, 200);
    let outside = server.get("/o/acme/p/hello/");
    assert_eq!(outside.status, 404, "{outside:?}");
    assert_eq!(outside.error_code(), "route_not_granted");
    assert_eq!(
        server.get("/o/acme/p/hello/echoes").error_code(),
        "route_not_granted"
    );

    // Activating again without a body grants everything declared, at once.
    let widened = server.post("/api/v1/orgs/acme/plugins/hello/activate");
    assert_eq!(widened.status, 200, "{widened:?}");
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
}

#[test]
fn an_upgrade_declaring_more_waits_inactive_until_granted() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &hello("0.1.0", json!(["/echo"])));
    assert_eq!(server.get("/o/acme/p/hello/echo/x").status, 200);

    // The same permissions: the upgrade serves at once.
    let same = server.install("acme", &hello("0.2.0", json!(["/echo"])));
    assert_eq!(same.json()["state"], "active", "{same:?}");

    // Asking for more: installed, but inactive until the org grants it.
    let more = server.install("acme", &hello("0.3.0", json!(["/", "/echo"])));
    assert_eq!(more.status, 201, "{more:?}");
    assert_eq!(more.json()["state"], "installed", "{more:?}");
    assert_eq!(
        server.get("/o/acme/p/hello/echo/x").error_code(),
        "plugin_not_found"
    );
    let audit = server.get("/api/v1/orgs/acme/audit").json();
    let last = audit.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "upgrade");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("inactive until granted: routes /"),
        "{last}"
    );

    let granted = server.post("/api/v1/orgs/acme/plugins/hello/activate");
    assert_eq!(granted.status, 200, "{granted:?}");
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
    assert_eq!(server.get("/o/acme/p/hello/echo/x").status, 200);
}

#[test]
fn an_upgrade_keeps_only_the_part_of_the_grant_it_still_declares() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let version = |version: &str, hosts: serde_json::Value, secrets: serde_json::Value| {
        guest_package_with("hello", |m| {
            m["version"] = version.into();
            m["permissions"]["network"] = hosts;
            m["permissions"]["secrets"] = secrets;
        })
    };
    let first = version(
        "0.1.0",
        json!(["a.example.com", "b.example.com"]),
        json!(["key", "old-key"]),
    );
    server.install_active("acme", &first);
    let narrower = version("0.2.0", json!(["a.example.com"]), json!(["key"]));
    assert_eq!(server.install("acme", &narrower).status, 201);
    let plugin = server.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(plugin["state"], "active");
    assert_eq!(plugin["granted"]["network"], json!(["a.example.com"]));
    assert_eq!(plugin["granted"]["secrets"], json!(["key"]));
    // What it dropped is not granted back when a later version asks again:
    // that waits for consent, inactive.
    let asks_again = version(
        "0.3.0",
        json!(["a.example.com", "b.example.com"]),
        json!(["key"]),
    );
    assert_eq!(server.install("acme", &asks_again).status, 201);
    let plugin = server.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(plugin["state"], "installed");
    assert_eq!(plugin["granted"]["network"], json!(["a.example.com"]));
}
