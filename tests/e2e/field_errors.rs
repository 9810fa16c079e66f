//! Values refused by a JSON Schema — a connector's configuration, an
//! action's input — answer their problems field by field in the error's
//! `fields` (field, schema keyword, a short sentence), never with the
//! submitted values; other errors carry no `fields`.

use crate::support::{Reply, Server, guest_package};
use serde_json::{Value, json};

/// A refusal's `fields`, as sorted (field, keyword, message) triples.
fn fields(reply: &Reply) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let mut fields: Vec<_> = (reply.json()["error"]["fields"].as_array())
        .unwrap_or_else(|| panic!("no fields in {reply:?}"))
        .iter()
        .map(|f| (text(&f["field"]), text(&f["keyword"]), text(&f["message"])))
        .collect();
    fields.sort();
    fields
}

/// Owned triples, for comparing with [`fields`].
fn expected(rows: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    (rows.iter())
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn refused_configuration_and_action_input_name_each_field_without_its_value() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("webhook"));
    let config = "/api/v1/orgs/acme/plugins/webhook/config";

    // A bad url and a missing api-key.
    let rejected = server.put_json(config, json!({ "config": { "url": "ftp://elsewhere" } }));
    assert_eq!(
        (rejected.status, rejected.error_code().as_str()),
        (422, "config_rejected"),
        "{rejected:?}"
    );
    assert!(rejected.error_message().contains("api-key"), "{rejected:?}");
    assert_eq!(
        fields(&rejected),
        expected(&[
            ("api-key", "required", "is required"),
            ("url", "pattern", "does not match the required pattern"),
        ])
    );
    assert!(!rejected.body.contains("elsewhere"), "{rejected:?}");

    // A secret too short: named, its value never shown.
    let secret = "s3cr3t!";
    let rejected = server.put_json(
        config,
        json!({ "config": { "url": "https://hooks.example.com/x" }, "secrets": { "api-key": secret } }),
    );
    assert_eq!(rejected.error_code(), "config_rejected", "{rejected:?}");
    assert_eq!(
        fields(&rejected),
        expected(&[("api-key", "minLength", "must be at least 8 characters long")])
    );
    assert!(!rejected.body.contains(secret), "{rejected:?}");

    // An action input with an unknown property and without `message`.
    let send = "/api/v1/orgs/acme/integrations/webhook/actions/send";
    let refused = server.post_json(send, json!({ "text": "no message" }));
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "invalid_input"),
        "{refused:?}"
    );
    assert!(!refused.body.contains("no message"), "{refused:?}");
    assert_eq!(
        fields(&refused),
        expected(&[
            ("message", "required", "is required"),
            ("text", "additionalProperties", "is not allowed"),
        ])
    );
    let refused = server.post_json(send, json!({ "message": "" }));
    assert_eq!(
        fields(&refused),
        expected(&[("message", "minLength", "must be at least 1 character long")])
    );
    let refused = server.post_json(send, json!({ "message": 4711 }));
    assert_eq!(
        fields(&refused),
        expected(&[("message", "type", "must be of type string")])
    );
    assert!(!refused.body.contains("4711"), "{refused:?}");

    // Other errors have no `fields`.
    let missing = server.post_json(
        "/api/v1/orgs/acme/integrations/webhook/actions/nope",
        json!({}),
    );
    assert_eq!(missing.error_code(), "action_not_found");
    assert!(
        missing.json()["error"].get("fields").is_none(),
        "{missing:?}"
    );
}
