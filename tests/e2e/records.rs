//! Module records over HTTP: create, read, replace (`PUT`), merge
//! (`PATCH`), delete — each through the module's `before-*` hooks (which
//! transform or veto), its schema and one transaction with its audit
//! entry, with nothing written on any refusal — and queries with filters,
//! order, a cursor and a page size, never seeing another org's records.

use crate::support::{Server, guest_package};
use serde_json::json;

/// The record `id` of `acme`'s contacts.
fn contact(server: &Server, id: u64) -> crate::support::Reply {
    server.get(&format!("/o/acme/api/contacts/{id}"))
}

/// The contact-write entries of `acme`'s audit log: (action, detail).
fn record_audit(server: &Server) -> Vec<(String, String)> {
    let events = server.get("/api/v1/orgs/acme/audit").json();
    (events.as_array().unwrap().iter())
        .filter(|e| e["action"].as_str().unwrap().starts_with("record-"))
        .filter(|e| e["detail"].as_str().unwrap().starts_with("contacts/"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["detail"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
pub(crate) fn records_are_replaced_patched_and_deleted_through_their_hooks() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("contact-rules"));
    for name in ["Ada", "Bob", "Keep Me"] {
        let created = server.post_json(
            "/o/acme/api/contacts",
            json!({ "name": name, "company": "X" }),
        );
        assert_eq!(created.status, 201, "{created:?}");
    }

    // PATCH merges, and before-update transforms (the e-mail lower-cased).
    let patched = server.patch_json("/o/acme/api/contacts/1", json!({ "email": "ADA@X.ORG" }));
    assert_eq!(patched.status, 200, "{patched:?}");
    let expected = json!({ "name": "Ada", "company": "X", "email": "ada@x.org" });
    assert_eq!(patched.json()["data"], expected);
    assert!(patched.json()["updated_at"].is_u64(), "{patched:?}");
    assert_eq!(contact(&server, 1).json()["data"], expected);

    // Refusals change nothing: a veto, a schema violation, a missing record.
    let before = (contact(&server, 1).json(), record_audit(&server));
    let vetoed = server.patch_json("/o/acme/api/contacts/1", json!({ "name": "Spam Inc" }));
    assert_eq!(
        (vetoed.status, vetoed.error_code().as_str()),
        (422, "vetoed")
    );
    let invalid = server.patch_json("/o/acme/api/contacts/1", json!({ "name": 5 }));
    assert_eq!(
        (invalid.status, invalid.error_code().as_str()),
        (422, "invalid_record")
    );
    let replaced_badly = server.put_json("/o/acme/api/contacts/1", json!({ "company": "Y" }));
    assert_eq!(
        replaced_badly.error_code(),
        "invalid_record",
        "name is required"
    );
    let missing = server.patch_json("/o/acme/api/contacts/99", json!({ "name": "x" }));
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "record_not_found")
    );
    assert_eq!((contact(&server, 1).json(), record_audit(&server)), before);

    // PUT replaces the whole record; `null` in a PATCH removes a field.
    let put = server.put_json("/o/acme/api/contacts/2", json!({ "name": " Bob B " }));
    assert_eq!(put.json()["data"], json!({ "name": "Bob B" }));
    let removed = server.patch_json("/o/acme/api/contacts/1", json!({ "company": null }));
    assert_eq!(
        removed.json()["data"],
        json!({ "name": "Ada", "email": "ada@x.org" })
    );

    // before-delete may veto; a delete answers the record as it was.
    let kept = server.delete("/o/acme/api/contacts/3");
    assert_eq!((kept.status, kept.error_code().as_str()), (422, "vetoed"));
    assert_eq!(contact(&server, 3).status, 200);
    let deleted = server.delete("/o/acme/api/contacts/2");
    assert_eq!(
        (deleted.status, &deleted.json()["data"]["name"]),
        (200, &json!("Bob B"))
    );
    assert_eq!(contact(&server, 2).error_code(), "record_not_found");
    assert_eq!(server.delete("/o/acme/api/contacts/2").status, 404);

    // A deleted id is never given out again.
    let created = server.post_json("/o/acme/api/contacts", json!({ "name": "Cy" }));
    assert_eq!(created.json()["id"], 4);
    let deleted_last = server.delete("/o/acme/api/contacts/4");
    assert_eq!(deleted_last.status, 200);
    let next = server.post_json("/o/acme/api/contacts", json!({ "name": "Di" }));
    assert_eq!(next.json()["id"], 5);

    // Each write has its audit entry, committed with it.
    let audit: Vec<(String, String)> = record_audit(&server);
    let expected: Vec<(String, String)> = [
        ("record-create", "contacts/1"),
        ("record-create", "contacts/2"),
        ("record-create", "contacts/3"),
        ("record-update", "contacts/1"),
        ("record-update", "contacts/2"),
        ("record-update", "contacts/1"),
        ("record-delete", "contacts/2"),
        ("record-create", "contacts/4"),
        ("record-delete", "contacts/4"),
        ("record-create", "contacts/5"),
    ]
    .map(|(a, d)| (a.to_owned(), d.to_owned()))
    .to_vec();
    assert_eq!(audit, expected);
    let post_on_id = server.post_json("/o/acme/api/contacts/1", json!({}));
    assert_eq!(post_on_id.status, 405);
}

#[test]
pub(crate) fn queries_filter_order_and_page_within_one_org() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    let invoices = [
        ("a", 50.0, "EUR"),
        ("b", 150.0, "EUR"),
        ("c", 250.0, "USD"),
        ("d", 350.0, "EUR"),
        ("e", 450.5, "EUR"),
        ("f", 1000.0, "EUR"),
    ];
    for (customer, amount, currency) in invoices {
        let invoice = json!({ "customer": customer, "amount": amount, "currency": currency });
        assert_eq!(
            server.post_json("/o/acme/api/invoices", invoice).status,
            201
        );
    }
    assert_eq!(
        server
            .post_json(
                "/o/beta/api/invoices",
                json!({ "customer": "z", "amount": 200, "currency": "EUR" })
            )
            .status,
        201
    );
    let customers = |reply: &crate::support::Reply| -> Vec<String> {
        (reply.json().as_array().unwrap().iter())
            .map(|r| r["data"]["customer"].as_str().unwrap().to_owned())
            .collect()
    };

    let base = "/o/acme/api/invoices?currency=EUR&amount.gte=100&amount.lt=1000";
    let all = server.get(base);
    assert_eq!(customers(&all), ["b", "d", "e"]);
    assert!(all.headers.get("x-next-cursor").is_none());

    // Newest first, two per page, following the cursor.
    let first = server.get(&format!("{base}&order=-id&limit=2"));
    assert_eq!(customers(&first), ["e", "d"]);
    let cursor = first.header("x-next-cursor").to_owned();
    assert_eq!(cursor, "4");
    let second = server.get(&format!("{base}&order=-id&limit=2&after={cursor}"));
    assert_eq!(customers(&second), ["b"]);
    assert!(second.headers.get("x-next-cursor").is_none());

    let quoted = server.get("/o/acme/api/invoices?customer=%22c%22");
    assert_eq!(customers(&quoted), ["c"]);
    let not_eur = server.get("/o/acme/api/invoices?currency.ne=EUR");
    assert_eq!(customers(&not_eur), ["c"]);
    // The other org's invoice matches the filter but is never seen.
    let beta = server.get("/o/beta/api/invoices?amount.gte=100");
    assert_eq!(customers(&beta), ["z"]);

    for bad in ["limit=0", "order=amount", "amount.like=1", "after=-1"] {
        let reply = server.get(&format!("/o/acme/api/invoices?{bad}"));
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_query"),
            "{bad}"
        );
    }
}

/// The `recprobe` plugin's answer to `path` in `org`.
fn probe(server: &Server, org: &str, path: &str) -> crate::support::Reply {
    server.get(&format!("/o/{org}/p/recprobe{path}"))
}

#[test]
pub(crate) fn a_plugin_reads_and_writes_records_within_its_grant_its_org_and_the_hooks() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    server.install_active("acme", &guest_package("recprobe"));
    server.install_active("acme", &guest_package("contact-rules"));
    // beta grants only invoices.
    assert_eq!(
        server.install("beta", &guest_package("recprobe")).status,
        201
    );
    let grant = json!({ "grant": {
        "routes": ["/"],
        "database": { "read": ["invoices"], "write": ["invoices"] },
        "modules": { "extend": ["invoices.before-create"] },
    }});
    let activated = server.post_json("/api/v1/orgs/beta/plugins/recprobe/activate", grant);
    assert_eq!(activated.status, 200, "{activated:?}");

    // Within the grant: create, read, patch, delete — audited as the plugin.
    let created = probe(&server, "acme", "/create/contacts?name=Ada&email=ada@x.org");
    assert_eq!(
        (created.status, created.header("x-record-id")),
        (201, "1"),
        "{created:?}"
    );
    assert_eq!(
        probe(&server, "acme", "/get/contacts/1").json()["name"],
        "Ada"
    );
    let patched = probe(&server, "acme", "/patch/contacts/1?company=Lovelace+Ltd");
    assert_eq!(
        patched.json(),
        json!({ "name": "Ada", "email": "ada@x.org", "company": "Lovelace Ltd" })
    );
    let audit = server.get("/api/v1/orgs/acme/audit").json();
    let by_plugin = (audit.as_array().unwrap().iter())
        .filter(|e| e["action"] == "record-update" && e["plugin"] == "recprobe")
        .count();
    assert_eq!(by_plugin, 1, "{audit}");

    // The hooks apply to a plugin's writes: contact-rules vetoes these, and
    // the invoices schema refuses an incomplete one. Nothing is stored.
    let before = server.get("/o/acme/api/contacts").body;
    for (path, error) in [
        ("/create/contacts?name=Spam+King", "vetoed: "),
        ("/create/contacts?name=Ada+Two&email=ADA@X.ORG", "vetoed: "),
        ("/create/invoices?customer=nobody", "invalid: "),
    ] {
        let refused = probe(&server, "acme", path);
        assert_eq!(refused.status, 422, "{path}: {refused:?}");
        assert!(
            refused.header("x-records-error").starts_with(error),
            "{path}: {refused:?}"
        );
    }
    assert_eq!(server.get("/o/acme/api/contacts").body, before);

    // Outside the grant: denied, nothing written; another org's records are
    // not there at all.
    let invoice = probe(
        &server,
        "acme",
        "/create/invoices?customer=acme-only&amount=5&currency=EUR",
    );
    assert_eq!(invoice.status, 201, "{invoice:?}");
    for path in ["/get/contacts/1", "/create/contacts?name=Eve"] {
        let denied = probe(&server, "beta", path);
        assert_eq!(denied.status, 403, "{path}: {denied:?}");
        assert!(denied.header("x-records-error").starts_with("denied: "));
    }
    assert_eq!(server.get("/o/beta/api/contacts").json(), json!([]));
    let id = invoice.header("x-record-id");
    assert_eq!(
        probe(&server, "beta", &format!("/get/invoices/{id}")).status,
        404
    );
    assert_eq!(probe(&server, "beta", "/count/invoices").body, "0");

    // Pages through a cursor, ten at a time.
    for i in 0..24 {
        let invoice = json!({ "customer": format!("c{i}"), "amount": i, "currency": "EUR" });
        assert_eq!(
            server.post_json("/o/acme/api/invoices", invoice).status,
            201
        );
    }
    let counted = probe(&server, "acme", "/count/invoices");
    assert_eq!(
        (counted.body.as_str(), counted.header("x-pages")),
        ("25", "3")
    );

    let deleted = probe(&server, "acme", "/delete/contacts/1");
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(probe(&server, "acme", "/get/contacts/1").status, 404);
}

#[test]
pub(crate) fn hooks_that_write_are_cut_off_at_the_nesting_limit() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("recprobe"));
    // Each chain-N invoice's before-create hook creates chain-(N+1) first.
    let first = json!({ "customer": "chain-0", "amount": 1, "currency": "EUR" });
    let created = server.post_json("/o/acme/api/invoices", first);
    assert_eq!(created.status, 201, "{created:?}");
    let chained: Vec<String> = (server
        .get("/o/acme/api/invoices")
        .json()
        .as_array()
        .unwrap()
        .iter())
    .map(|r| r["data"]["customer"].as_str().unwrap().to_owned())
    .collect();
    // chain-0 is written at level 1; the hooks write chain-1 to chain-3 at
    // levels 2 to 4; chain-4 would be level 5 and is refused (`too-deep`).
    assert_eq!(chained, ["chain-3", "chain-2", "chain-1", "chain-0"]);
}

#[test]
pub(crate) fn the_sales_widget_sums_the_orgs_invoices() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("sales-widget"));
    let summary = |server: &Server| server.get("/o/acme/p/sales-widget/summary").json();
    assert_eq!(
        (
            summary(&server)["total"].as_f64(),
            &summary(&server)["deals"]
        ),
        (Some(0.0), &json!(0))
    );
    for (amount, currency) in [(1200.5, "EUR"), (300.0, "USD"), (800.0, "EUR")] {
        let invoice = json!({ "customer": "c", "amount": amount, "currency": currency });
        assert_eq!(
            server.post_json("/o/acme/api/invoices", invoice).status,
            201
        );
    }
    let after = summary(&server);
    assert_eq!(
        (after["total"].as_f64(), &after["deals"]),
        (Some(2000.5), &json!(2))
    );
}

/// Runs `action` (`activate`, `deactivate`) on `acme`'s `plugin`,
/// asserting it succeeds.
fn lifecycle(server: &Server, plugin: &str, action: &str) {
    let reply = server.post(&format!("/api/v1/orgs/acme/plugins/{plugin}/{action}"));
    assert_eq!(reply.status, 200, "{action} {plugin}: {reply:?}");
}

/// Waits until `path` answers `status` (an `after-*` hook writes in the
/// background), or fails after 10 s.
fn eventually(server: &Server, path: &str, status: u16) -> crate::support::Reply {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = server.get(path);
        if reply.status == status {
            return reply;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {reply:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
pub(crate) fn a_plugins_own_module_keeps_records_its_owner_writes_for_the_readers_it_names() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("contact-rules"));
    server.install_active("acme", &guest_package("recprobe"));
    let stranger =
        crate::support::guest_package_with("recprobe", |m| m["name"] = json!("stranger"));
    server.install_active("acme", &stranger);

    // contact-rules' after-create gives each new contact 10 loyalty points
    // in its own `loyalty` module, which lets `recprobe` read it.
    assert_eq!(
        server
            .post_json("/o/acme/api/contacts", json!({ "name": "Ada" }))
            .status,
        201
    );
    let points = eventually(&server, "/o/acme/p/recprobe/get/loyalty/1", 200);
    assert_eq!(points.json(), json!({ "contact": 1, "points": 10 }));
    let audit = server.get("/api/v1/orgs/acme/audit").json();
    let by_owner = (audit.as_array().unwrap().iter())
        .any(|e| e["detail"] == "loyalty/1" && e["plugin"] == "contact-rules");
    assert!(by_owner, "{audit}");

    // Only its owner writes it; a plugin it does not name reads nothing,
    // whatever the org granted.
    let written = probe(&server, "acme", "/create/loyalty?contact=1&points=99");
    assert_eq!(written.status, 403, "{written:?}");
    let read = server.get("/o/acme/p/stranger/get/loyalty/1");
    assert_eq!(read.status, 403, "{read:?}");
    assert!(
        read.header("x-records-error")
            .contains("belongs to `contact-rules`"),
        "{read:?}"
    );
    // The org's admins read it over HTTP; nobody writes it there.
    assert_eq!(
        server.get("/o/acme/api/loyalty").json()[0]["data"]["points"],
        10
    );
    let over_http = server.post_json("/o/acme/api/loyalty", json!({ "contact": 1, "points": 1 }));
    assert_eq!(over_http.error_code(), "module_not_found");

    // Tenant-key or public access never reaches a plugin's module.
    let public = server.put_json(
        "/api/v1/orgs/acme/modules-public",
        json!({ "public": true }),
    );
    assert_eq!(public.status, 200, "{public:?}");
    assert_eq!(server.client(None).get("/o/acme/api/contacts").status, 200);
    let anonymous = server.client(None).get("/o/acme/api/loyalty");
    assert_eq!(anonymous.error_code(), "module_not_found");

    // Another plugin that may register the name neither takes the records
    // over nor deletes them at its uninstall.
    let rival = crate::support::guest_package_with("contact-rules", |m| m["name"] = json!("rival"));
    assert_eq!(server.install("acme", &rival).status, 201);
    lifecycle(&server, "contact-rules", "deactivate");
    lifecycle(&server, "rival", "activate");
    assert_eq!(
        probe(&server, "acme", "/get/loyalty/1").status,
        404,
        "not rival's records"
    );
    assert_eq!(
        server
            .delete("/api/v1/orgs/acme/plugins/rival?force")
            .status,
        200
    );
    lifecycle(&server, "contact-rules", "activate");
    assert_eq!(
        probe(&server, "acme", "/get/loyalty/1").json()["points"],
        10
    );

    // The module goes with its owner's activation, its records stay; they
    // go with its uninstall.
    lifecycle(&server, "contact-rules", "deactivate");
    assert_eq!(probe(&server, "acme", "/get/loyalty/1").status, 404);
    lifecycle(&server, "contact-rules", "activate");
    assert_eq!(probe(&server, "acme", "/get/loyalty/1").status, 200);
    assert_eq!(
        server
            .delete("/api/v1/orgs/acme/plugins/contact-rules?force")
            .status,
        200
    );
    server.install_active("acme", &guest_package("contact-rules"));
    assert_eq!(probe(&server, "acme", "/get/loyalty/1").status, 404);
}
