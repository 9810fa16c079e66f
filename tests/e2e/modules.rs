//! The module registry's built-in modules over HTTP: listed per org,
//! records created (validated against the module's schema), listed and
//! read per org; every refusal stores nothing.

use crate::support::Server;
use serde_json::json;

#[test]
fn built_in_modules_are_listed_and_keep_records_per_org() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    let modules = server.get("/api/v1/orgs/acme/modules").json();
    let names: Vec<&str> = modules
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["contacts", "invoices"]);
    assert_eq!(
        modules[0]["hooks"],
        json!([
            "before-create",
            "after-create",
            "before-update",
            "after-update",
            "before-delete",
            "after-delete"
        ])
    );
    assert_eq!(modules[0]["owner"], json!(null));
    assert_eq!(
        server.get("/api/v1/orgs/nope/modules").error_code(),
        "org_not_found"
    );

    let ada = server.post_json(
        "/o/acme/api/contacts",
        json!({ "name": "Ada Lovelace", "email": "ada@example.com" }),
    );
    assert_eq!(ada.status, 201, "{ada:?}");
    assert_eq!(ada.json()["id"], 1);
    let grace = server.post_json("/o/acme/api/contacts", json!({ "name": "Grace Hopper" }));
    assert_eq!(grace.json()["id"], 2);
    let invoice = server.post_json(
        "/o/acme/api/invoices",
        json!({ "customer": "Ada Lovelace", "amount": 120.5, "currency": "EUR" }),
    );
    assert_eq!(invoice.status, 201, "{invoice:?}");
    assert_eq!(invoice.json()["id"], 1);

    let listed = server.get("/o/acme/api/contacts").json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["data"]["email"], "ada@example.com");
    assert_eq!(
        server.get("/o/acme/api/contacts?after=1").json()[0]["id"],
        2
    );
    let one = server.get("/o/acme/api/contacts/2").json();
    assert_eq!(one["data"]["name"], "Grace Hopper");

    // Another org has its own, empty, modules.
    assert_eq!(server.get("/o/beta/api/contacts").json(), json!([]));
    assert_eq!(
        server.get("/o/beta/api/contacts/1").error_code(),
        "record_not_found"
    );
}

#[test]
fn bad_records_and_routes_are_refused_and_store_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    assert_eq!(
        server
            .post_json("/o/acme/api/contacts", json!({ "name": "Kept" }))
            .status,
        201
    );
    let before = server.get("/o/acme/api/contacts").body;

    for (path, body, status, code) in [
        (
            "/o/acme/api/contacts",
            json!({ "email": "x@example.com" }),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/contacts",
            json!({ "name": "A", "email": "nope" }),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/contacts",
            json!({ "name": "A", "age": 3 }),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/contacts",
            json!(["not", "an", "object"]),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/invoices",
            json!({ "customer": "A", "amount": -1, "currency": "EUR" }),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/invoices",
            json!({ "customer": "A", "amount": 1, "currency": "euro" }),
            422,
            "invalid_record",
        ),
        (
            "/o/acme/api/tickets",
            json!({ "name": "A" }),
            404,
            "module_not_found",
        ),
        (
            "/o/nope/api/contacts",
            json!({ "name": "A" }),
            404,
            "module_not_found",
        ),
    ] {
        let refused = server.post_json(path, body.clone());
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (status, code),
            "{path} {body}"
        );
    }
    let missing = server.post_json("/o/acme/api/contacts", json!({ "email": "x@example.com" }));
    assert!(missing.body.contains("name"), "{missing:?}");
    let not_json = server.post_bytes("/o/acme/api/contacts", "application/json", b"{");
    assert_eq!(not_json.error_code(), "invalid_json");
    let post_on_a_record = server.post_json("/o/acme/api/contacts/1", json!({ "name": "B" }));
    assert_eq!(
        (
            post_on_a_record.status,
            post_on_a_record.error_code().as_str()
        ),
        (405, "method_not_allowed")
    );
    let not_json = server.patch_json("/o/acme/api/contacts/1", json!("{"));
    assert_eq!(
        not_json.error_code(),
        "invalid_record",
        "a string is not a contact"
    );
    assert_eq!(
        server.get("/o/acme/api/contacts/x").error_code(),
        "record_not_found"
    );
    assert_eq!(server.get("/o/acme/api/contacts").body, before);

    // Module routes need credentials (see isolation.rs): without any, 401.
    let locked = server.client(None).get("/o/acme/api/contacts");
    assert_eq!(
        (locked.status, locked.error_code().as_str()),
        (401, "credentials_required")
    );
}
