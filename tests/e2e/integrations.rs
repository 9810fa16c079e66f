//! Integration plugins through the real `webhook` connector guest, against
//! a local HTTP server standing in for the third-party service: described
//! in the management API, configured (validated against its config
//! schema), delivering new contacts and running actions with the secret
//! API key — and sending nothing when deactivated or when its `network`
//! grant does not cover the host. The secret never appears in an API
//! answer or a log line.

use crate::support::{Server, Upstream, guest_package, guest_package_with};
use serde_json::json;

const SECRET: &str = "sk-live-4f9a8b7c6d5e";

/// berth allowing the upstream's loopback address, with the webhook
/// plugin active in `acme` (granted the upstream's port) and in `beta`
/// (granted another port only).
fn serve(upstream: &Upstream) -> Server {
    let port = upstream.addr.port();
    let server = Server::start_reaching(upstream);
    for (org, granted) in [("acme", port), ("beta", port.wrapping_add(1))] {
        server.create_org(org);
        let package = guest_package_with("webhook", |m| {
            m["permissions"]["network"] = json!([format!("127.0.0.1:{granted}")]);
        });
        server.install_active(org, &package);
    }
    server
}

fn configure(server: &Server, org: &str, url: &str, key: &str) -> crate::support::Reply {
    server.put_json(
        &format!("/api/v1/orgs/{org}/plugins/webhook/config"),
        json!({ "config": { "url": url }, "secrets": { "api-key": key } }),
    )
}

#[test]
pub(crate) fn the_webhook_connector_delivers_contacts_and_runs_actions_with_its_secret() {
    let upstream = Upstream::start();
    let mut server = serve(&upstream);
    let url = format!("http://127.0.0.1:{}/hook", upstream.addr.port());
    let mut answers = Vec::new();

    // Described: connector, actions and schemas.
    let listed = server.get("/api/v1/orgs/acme/integrations");
    assert_eq!(listed.status, 200, "{listed:?}");
    let connector = &listed.json()[0];
    assert_eq!(connector["plugin"], "webhook");
    assert_eq!(connector["name"], "Webhook");
    assert_eq!(
        connector["config_schema"]["required"],
        json!(["url", "api-key"])
    );
    assert_eq!(connector["actions"][0]["name"], "send");
    answers.push(listed.body);

    // Configuration is checked against the connector's schema; refusals
    // name keys, never values, and store nothing.
    let config_before = server.get("/api/v1/orgs/acme/plugins/webhook/config").body;
    let rejected = configure(&server, "acme", "ftp://elsewhere", "short");
    assert_eq!(
        (rejected.status, rejected.error_code().as_str()),
        (422, "config_rejected"),
        "{rejected:?}"
    );
    assert!(rejected.body.contains("`api-key`") && !rejected.body.contains("short"));
    answers.push(rejected.body);
    let missing = server.put_json(
        "/api/v1/orgs/acme/plugins/webhook/config",
        json!({ "config": { "url": url } }),
    );
    assert_eq!(missing.status, 422, "{missing:?}");
    assert_eq!(
        server.get("/api/v1/orgs/acme/plugins/webhook/config").body,
        config_before
    );
    let accepted = configure(&server, "acme", &url, SECRET);
    assert_eq!(accepted.status, 200, "{accepted:?}");
    answers.push(accepted.body);

    // A new contact is posted to the third party with the secret header.
    let created = server.post_json(
        "/o/acme/api/contacts",
        json!({ "name": "Ada Lovelace", "email": "ada@example.com" }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let received = upstream.wait_for(1);
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(
        received[0].starts_with("POST /hook HTTP/1.1\r\n"),
        "{received:?}"
    );
    assert!(
        received[0]
            .to_lowercase()
            .contains(&format!("x-api-key: {SECRET}")),
        "{received:?}"
    );
    let body: serde_json::Value =
        serde_json::from_str(received[0].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["source"], "contacts");
    assert_eq!(body["kind"], "after-create");
    assert_eq!(body["record"]["data"]["name"], "Ada Lovelace");

    // An action: input checked against its schema first, then run.
    let sent = server.post_json(
        "/api/v1/orgs/acme/integrations/webhook/actions/send",
        json!({ "message": "hello third party" }),
    );
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.json(), json!({ "output": { "status": 200 } }));
    let received = upstream.wait_for(2);
    assert!(received[1].contains("hello third party"), "{received:?}");
    answers.push(sent.body);
    for (path, input, status, code) in [
        (
            "send",
            json!({ "text": "no message" }),
            422,
            "invalid_input",
        ),
        ("nope", json!({}), 404, "action_not_found"),
    ] {
        let refused = server.post_json(
            &format!("/api/v1/orgs/acme/integrations/webhook/actions/{path}"),
            input,
        );
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (status, code)
        );
        answers.push(refused.body);
    }
    let unknown = server.post_json(
        "/api/v1/orgs/acme/integrations/hello/actions/send",
        json!({ "message": "x" }),
    );
    assert_eq!(unknown.error_code(), "integration_not_found");
    assert_eq!(upstream.requests().len(), 2);

    // Not granted the upstream's port: the call is refused by the host and
    // nothing reaches the third party.
    assert_eq!(configure(&server, "beta", &url, SECRET).status, 200);
    let blocked = server.post_json(
        "/api/v1/orgs/beta/integrations/webhook/actions/send",
        json!({ "message": "from beta" }),
    );
    assert_eq!(
        (blocked.status, blocked.error_code().as_str()),
        (502, "action_failed"),
        "{blocked:?}"
    );
    answers.push(blocked.body);
    assert_eq!(
        server
            .post_json("/o/beta/api/contacts", json!({ "name": "Beta Contact" }))
            .status,
        201
    );

    // Deactivated: contacts are created, nothing is sent. Activated again,
    // the next contact arrives — and it is the only new request.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/webhook/deactivate")
            .status,
        200
    );
    let quiet = server.post_json("/o/acme/api/contacts", json!({ "name": "While Off" }));
    assert_eq!(quiet.status, 201);
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/webhook/activate")
            .status,
        200
    );
    server.post_json("/o/acme/api/contacts", json!({ "name": "Back On" }));
    let received = upstream.wait_for(3);
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(received[2].contains("Back On"), "{received:?}");
    assert!(
        !received
            .iter()
            .any(|r| r.contains("While Off") || r.contains("Beta Contact"))
    );

    // The secret is never in an answer of the API or in the server's log.
    answers.push(server.get("/api/v1/orgs/acme/plugins/webhook/config").body);
    answers.push(server.get("/api/v1/orgs/acme/plugins/webhook").body);
    answers.push(server.get("/api/v1/orgs/acme/audit").body);
    answers.push(server.get("/api/v1/orgs/acme/integrations").body);
    for answer in &answers {
        assert!(!answer.contains(SECRET), "secret in an answer: {answer}");
    }
    let logs = server.logs_at_exit();
    assert!(logs.contains("webhook"), "the log is captured");
    assert!(!logs.contains(SECRET), "secret in the log");
}

#[test]
fn a_malformed_config_is_refused_before_the_connector_is_asked_for_its_schema() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    assert_eq!(
        server.install("acme", &guest_package("webhook")).status,
        201
    );
    server.install_active("acme", &guest_package("faults"));
    server.limit_to_one_in_flight("acme");
    // The org's only slot is taken, so starting the connector would wait
    // for it; a bad key must not get that far.
    let url = format!("{}/o/acme/p/faults/sleep/1500", server.base);
    let sleeper = std::thread::spawn(move || ureq::get(&url).call().map(|r| r.status().as_u16()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let refused = server.put_json(
        "/api/v1/orgs/acme/plugins/webhook/config",
        json!({ "config": { "a b": "x" } }),
    );
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (400, "invalid_config"),
        "{refused:?}"
    );
    assert_eq!(sleeper.join().unwrap().ok(), Some(200));
    let config = server
        .get("/api/v1/orgs/acme/plugins/webhook/config")
        .json();
    assert_eq!(config["config"], json!({}), "{config}");
}
