//! Every released `berth:plugin` API version is served side by side:
//! components built against 0.1.0 and committed then (never rebuilt) serve
//! and hook exactly as before, next to plugins built against 0.2.0 — in
//! the same org and the same process — and 0.2.0's additions work.

use crate::support::{Server, api_0_1_0_package_with, guest_package, guest_package_with};
use serde_json::json;

/// `org`'s plugins and the API each uses, as the listing shows them.
fn apis(server: &Server, org: &str) -> Vec<(String, String)> {
    let listed = server.get(&format!("/api/v1/orgs/{org}/plugins")).json();
    let mut apis: Vec<(String, String)> = (listed.as_array().unwrap().iter())
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["api"].as_str().unwrap().into(),
            )
        })
        .collect();
    apis.sort();
    apis
}

/// The `berth_plugins_by_api` gauge for `api`.
fn plugins_by_api(server: &Server, api: &str) -> String {
    let metrics = server.get("/metrics").body;
    let series = format!("berth_plugins_by_api{{api=\"{api}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or("absent")
        .to_owned()
}

/// Creates a contact in `org` and returns the reply.
fn create_contact(server: &Server, org: &str, contact: serde_json::Value) -> crate::support::Reply {
    server.post_json(&format!("/o/{org}/api/contacts"), contact)
}

#[test]
pub(crate) fn components_built_against_0_1_0_serve_and_hook_beside_0_2_0_ones() {
    let server = Server::start(&["--no-demo"]);
    // Each org runs one plugin of each version.
    server.create_org("old-hello");
    server.install_active("old-hello", &api_0_1_0_package_with("hello", |_| {}));
    server.install_active("old-hello", &guest_package("contact-rules"));
    server.create_org("old-rules");
    server.install_active("old-rules", &guest_package("hello"));
    server.install_active(
        "old-rules",
        &api_0_1_0_package_with("contact-rules", |_| {}),
    );

    let pairs = |hello: &str, rules: &str| {
        vec![
            ("contact-rules".to_owned(), rules.to_owned()),
            ("hello".to_owned(), hello.to_owned()),
        ]
    };
    assert_eq!(apis(&server, "old-hello"), pairs("0.1.0", "0.2.0"));
    assert_eq!(apis(&server, "old-rules"), pairs("0.2.0", "0.1.0"));
    assert_eq!(plugins_by_api(&server, "0.1.0"), "2");
    assert_eq!(plugins_by_api(&server, "0.2.0"), "2");

    for org in ["old-hello", "old-rules"] {
        // Routes: the greeting and the echoed parameter.
        let hello = server.get(&format!("/o/{org}/p/hello/"));
        assert_eq!(
            (hello.status, hello.body.as_str()),
            (200, "Hello from berth!\n")
        );
        let echo = server.get(&format!("/o/{org}/p/hello/echo/ada"));
        assert_eq!(echo.status, 200, "{echo:?}");
        assert!(echo.body.contains("ada"), "{echo:?}");

        // Hooks: transform, veto, and the module registered in on-activate.
        let created = create_contact(
            &server,
            org,
            json!({ "name": " Ada ", "email": "ADA@X.ORG" }),
        );
        assert_eq!(created.status, 201, "{org}: {created:?}");
        assert_eq!(
            created.json()["data"],
            json!({ "name": "Ada", "email": "ada@x.org" })
        );
        let vetoed = create_contact(&server, org, json!({ "name": "Spam King" }));
        assert_eq!(
            (vetoed.status, vetoed.error_code().as_str()),
            (422, "vetoed"),
            "{org}"
        );
        let modules = server.get(&format!("/api/v1/orgs/{org}/modules")).json();
        assert!(
            modules
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "loyalty"),
            "{org}: {modules}"
        );
    }

    // Deactivating a 0.1.0 plugin (it has no on-deactivate) works as before.
    let deactivated = server.post("/api/v1/orgs/old-hello/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    assert_eq!(plugins_by_api(&server, "0.1.0"), "1");
    assert_eq!(server.get("/o/old-hello/p/hello/").status, 404);
}

#[test]
pub(crate) fn api_0_2_0_pages_keys_reports_quotas_and_calls_on_deactivate() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("kvprobe"));
    for key in ["a1", "a2", "a3", "a4", "a5", "b1"] {
        assert_eq!(
            server.get(&format!("/o/acme/p/kvprobe/set/{key}/v")).status,
            204
        );
    }
    // One page at a time, then the whole prefix through the cursor.
    let first = server.get("/o/acme/p/kvprobe/page/a/2");
    assert_eq!(
        (first.header("x-kv-keys"), first.header("x-kv-next")),
        ("a1,a2", "a2")
    );
    let second = server.get("/o/acme/p/kvprobe/page/a/2/a2");
    assert_eq!(
        (second.header("x-kv-keys"), second.header("x-kv-next")),
        ("a3,a4", "a4")
    );
    let last = server.get("/o/acme/p/kvprobe/page/a/2/a4");
    assert_eq!(last.header("x-kv-keys"), "a5");
    assert!(last.headers.get("x-kv-next").is_none(), "{last:?}");
    let all = server.get("/o/acme/p/kvprobe/list/");
    assert_eq!(
        (all.header("x-kv-keys"), all.header("x-kv-pages")),
        ("a1,a2,a3,a4,a5,b1", "1")
    );

    // on-deactivate runs after each deactivation, with the plugin's data.
    for round in 1..=2 {
        let off = server.post("/api/v1/orgs/acme/plugins/kvprobe/deactivate");
        assert_eq!(off.status, 200, "{off:?}");
        let on = server.post("/api/v1/orgs/acme/plugins/kvprobe/activate");
        assert_eq!(on.status, 200, "{on:?}");
        let count = server.get("/o/acme/p/kvprobe/get/deactivations");
        assert_eq!(count.header("x-kv-value"), round.to_string(), "{count:?}");
    }
}

#[test]
pub(crate) fn log_fields_reach_the_operators_log_as_fields() {
    let server = Server::start_with_log_filter("info,plugin=info", &["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("contact-rules"));
    let created = create_contact(&server, "acme", json!({ "name": "Grace" }));
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json()["id"].to_string();
    let wanted = format!("fields=contact-id=\"{id}\"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = server.logs();
        if logs
            .lines()
            .any(|l| l.contains("contact created") && l.contains(&wanted))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no `{wanted}` in:\n{logs}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
pub(crate) fn a_manifest_whose_api_is_not_the_components_is_refused_and_changes_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let before = server.get("/api/v1/orgs/acme/plugins").json();
    let refusals = [
        api_0_1_0_package_with("hello", |m| m["api"] = json!("0.2.0")),
        guest_package_with("hello", |m| m["api"] = json!("0.1.0")),
    ];
    for zip in refusals {
        let reply = server.install("acme", &zip);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (422, "api_mismatch"),
            "{reply:?}"
        );
        assert!(reply.error_message().contains("built against"), "{reply:?}");
    }
    let unreleased = guest_package_with("hello", |m| m["api"] = json!("0.3.0"));
    let reply = server.install("acme", &unreleased);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (400, "invalid_manifest"),
        "{reply:?}"
    );
    assert_eq!(server.get("/api/v1/orgs/acme/plugins").json(), before);
    assert_eq!(
        crate::support::files_under(&server.data.join("packages")),
        Vec::<String>::new()
    );
}
