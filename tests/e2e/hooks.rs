//! Plugins extending the module registry, through the real `contact-rules`
//! hooks guest: it transforms and vetoes contacts in `before-create`, its
//! failures follow the policy (fail closed before, log and continue
//! after), and the module it registers appears and disappears with its
//! activation — per org, and again after a restart.

use crate::support::{Server, guest_package};
use serde_json::json;

fn module_names(server: &Server, org: &str) -> Vec<String> {
    let modules = server.get(&format!("/api/v1/orgs/{org}/modules")).json();
    modules
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}

fn contact_count(server: &Server, org: &str) -> usize {
    let listed = server.get(&format!("/o/{org}/api/contacts")).json();
    listed.as_array().unwrap().len()
}

#[test]
pub(crate) fn a_hooks_plugin_transforms_vetoes_and_registers_a_module_while_active() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    assert_eq!(module_names(&server, "acme"), ["contacts", "invoices"]);
    server.install_active("acme", &guest_package("contact-rules"));

    // The module it registered, owned by it, in its org only.
    let modules = server.get("/api/v1/orgs/acme/modules").json();
    assert_eq!(
        module_names(&server, "acme"),
        ["contacts", "invoices", "loyalty"]
    );
    assert_eq!(modules[2]["owner"], "contact-rules");
    assert_eq!(modules[2]["hooks"], json!(["before-award"]));
    assert_eq!(module_names(&server, "beta"), ["contacts", "invoices"]);

    // Transform: trimmed name, lower-cased e-mail.
    let created = server.post_json(
        "/o/acme/api/contacts",
        json!({ "name": "  Ada Lovelace ", "email": "ADA@Example.COM" }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(
        created.json()["data"],
        json!({ "name": "Ada Lovelace", "email": "ada@example.com" })
    );

    // Veto, trap and endless loop in before-create: refused, nothing stored.
    let vetoed = server.post_json("/o/acme/api/contacts", json!({ "name": "Spam King" }));
    assert_eq!(
        (vetoed.status, vetoed.error_code().as_str()),
        (422, "vetoed")
    );
    assert!(vetoed.error_message().contains("may not contain \"spam\""));
    for name in ["trap me", "spin me"] {
        let failed = server.post_json("/o/acme/api/contacts", json!({ "name": name }));
        assert_eq!(
            (failed.status, failed.error_code().as_str()),
            (502, "hook_failed"),
            "{name}: {failed:?}"
        );
        assert!(failed.error_message().contains("contact-rules"));
    }
    assert_eq!(contact_count(&server, "acme"), 1);

    // A trap in after-create is logged; the contact is created all the same.
    let after = server.post_json("/o/acme/api/contacts", json!({ "name": "after trap" }));
    assert_eq!(after.status, 201, "{after:?}");
    assert_eq!(contact_count(&server, "acme"), 2);

    // Another org has no such hook.
    let spam = server.post_json("/o/beta/api/contacts", json!({ "name": "Spam King" }));
    assert_eq!(spam.status, 201, "{spam:?}");

    // After a restart the plugin registers again and its hooks run.
    server.terminate();
    let server = Server::start_in(dir.path(), &["--no-demo"]);
    assert_eq!(
        module_names(&server, "acme"),
        ["contacts", "invoices", "loyalty"]
    );
    let vetoed = server.post_json("/o/acme/api/contacts", json!({ "name": "spam" }));
    assert_eq!(vetoed.status, 422, "{vetoed:?}");

    // Deactivated: its module is gone and its hooks no longer run, at once.
    let deactivated = server.post("/api/v1/orgs/acme/plugins/contact-rules/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    assert_eq!(module_names(&server, "acme"), ["contacts", "invoices"]);
    let accepted = server.post_json("/o/acme/api/contacts", json!({ "name": "Spam Queen" }));
    assert_eq!(accepted.status, 201, "{accepted:?}");

    // Active again, then uninstalled: exactly the built-ins remain.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/contact-rules/activate")
            .status,
        200
    );
    assert_eq!(
        module_names(&server, "acme"),
        ["contacts", "invoices", "loyalty"]
    );
    // The operator's rollback switch leaves exactly the built-ins.
    assert_eq!(server.post("/api/v1/admin/deactivate-all").status, 200);
    assert_eq!(module_names(&server, "acme"), ["contacts", "invoices"]);
    let removed = server.delete("/api/v1/orgs/acme/plugins/contact-rules?force");
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(module_names(&server, "acme"), ["contacts", "invoices"]);
}

#[test]
fn an_activation_whose_registrations_are_refused_changes_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("contact-rules"));

    // The same component under another name registers `loyalty` too: a
    // conflict, so that activation fails and the first keeps its module.
    let twin = crate::support::guest_package_with("contact-rules", |m| {
        m["name"] = json!("contact-rules-twin");
    });
    assert_eq!(server.install("acme", &twin).status, 201);
    let refused = server.post("/api/v1/orgs/acme/plugins/contact-rules-twin/activate");
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "activation_failed"),
        "{refused:?}"
    );
    assert!(
        refused
            .error_message()
            .contains("`loyalty` is already registered by contact-rules"),
        "{refused:?}"
    );

    // A grant without `modules.register` is refused inside the guest, so
    // its on-activate fails; the plugin stays inactive, modules unchanged.
    let before = server.get("/api/v1/orgs/acme/modules").body;
    let audit_before = server.get("/api/v1/orgs/acme/audit").body;
    let narrowed = server.post_json(
        "/api/v1/orgs/acme/plugins/contact-rules-twin/activate",
        json!({ "grant": { "modules": { "extend": ["contacts.before-create"] } } }),
    );
    assert_eq!(narrowed.status, 422, "{narrowed:?}");
    assert!(
        narrowed
            .error_message()
            .contains("has not granted this plugin `modules.extend: contacts.after-create`"),
        "{narrowed:?}"
    );
    let twin_state = server
        .get("/api/v1/orgs/acme/plugins/contact-rules-twin")
        .json();
    assert_eq!(twin_state["state"], "installed");
    assert_eq!(server.get("/api/v1/orgs/acme/modules").body, before);
    assert_eq!(server.get("/api/v1/orgs/acme/audit").body, audit_before);
}
