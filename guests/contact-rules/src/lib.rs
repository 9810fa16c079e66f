//! `contact-rules`: an example hooks plugin extending the built-in
//! `contacts` module, and registering a module of its own.
//!
//! - `on-activate` subscribes to `contacts.before-create`,
//!   `contacts.after-create`, `contacts.before-update` and
//!   `contacts.before-delete`, and registers the `loyalty` module (records
//!   `{contact, points}`, readable by `recprobe` too).
//! - `before-create` and `before-update` also veto an e-mail another
//!   contact already has (a query of the org's contacts);
//! - `before-update`: checks and normalises the new data like a new
//!   contact's; `before-delete`: vetoes deleting a contact whose name holds
//!   "keep".
//! - `before-create`: trims the name and lower-cases the e-mail
//!   (transform); vetoes names containing "spam"; a contact named
//!   `trap me` makes it trap and `spin me` loop forever (so tests can show
//!   a failing `before-*` hook fails closed).
//! - `after-create`: logs the new contact's id (a `contact-id` log field)
//!   and gives it 10 loyalty points (a `loyalty` record); a contact named
//!   `after trap` makes it trap (so tests can show `after-*` failures are
//!   logged and ignored), and one named `after sleep {ms}` makes it block
//!   in a host call for `ms` milliseconds first (a slow `after-*` hook).

wit_bindgen::generate!({
    path: "../../wit",
    world: "berth:plugin/hooks-plugin",
    generate_all,
});

use berth::plugin::log::{Field, Level, log, log_fields};
use berth::plugin::records::{self, Comparison, Filter, RecordQuery};
use berth::plugin::modules::{HookSubscription, ModuleDescriptor, ModuleError, register_module, subscribe};
use berth::plugin::types::PluginError;
use exports::berth::plugin::hooks::{self, HookCall, HookOutcome};
use exports::berth::plugin::lifecycle;
use serde_json::Value;

struct ContactRules;

/// What a `loyalty` record holds.
const LOYALTY_SCHEMA: &str = r#"{
    "type": "object",
    "additionalProperties": false,
    "required": ["contact", "points"],
    "properties": { "contact": { "type": "integer" }, "points": { "type": "integer" } }
}"#;

impl lifecycle::Guest for ContactRules {
    fn on_activate() -> Result<(), PluginError> {
        for hook in ["before-create", "after-create", "before-update", "before-delete"] {
            subscribe(&HookSubscription {
                module: "contacts".into(),
                hook: hook.into(),
            })
            .map_err(refused)?;
        }
        register_module(&ModuleDescriptor {
            name: "loyalty".into(),
            description: "Loyalty points earned by contacts".into(),
            hooks: vec!["before-award".into()],
            routes: Vec::new(),
            schema: Some(LOYALTY_SCHEMA.into()),
            readers: vec!["recprobe".into()],
        })
        .map_err(refused)
    }

    fn on_deactivate() -> Result<(), PluginError> {
        Ok(())
    }
}

impl hooks::Guest for ContactRules {
    fn handle(call: HookCall) -> Result<HookOutcome, PluginError> {
        let mut record: Value = serde_json::from_str(&call.payload).map_err(|e| PluginError {
            code: "invalid_payload".into(),
            message: e.to_string(),
        })?;
        match (call.module.as_str(), call.hook.as_str()) {
            ("contacts", "before-create") => Ok(match taken_email(&record, None) {
                Some(veto) => veto,
                None => before_create(&mut record),
            }),
            ("contacts", "before-update") => {
                // `{"id", "data", "previous"}`: the new data is checked like a new contact's.
                if let Some(veto) = taken_email(&record["data"], record["id"].as_u64()) {
                    return Ok(veto);
                }
                Ok(match before_create(&mut record["data"]) {
                    HookOutcome::Transform(_) => HookOutcome::Transform(record.to_string()),
                    outcome => outcome,
                })
            }
            ("contacts", "before-delete") => {
                let name = record["data"]["name"].as_str().unwrap_or_default();
                Ok(if name.to_lowercase().contains("keep") {
                    HookOutcome::Veto(format!("contacts named like {name:?} are kept"))
                } else {
                    HookOutcome::Proceed
                })
            }
            ("contacts", "after-create") => {
                let name = record["data"]["name"].as_str().unwrap_or_default();
                if name == "after trap" {
                    panic!("contact-rules: asked to trap after create");
                }
                if let Some(ms) = name.strip_prefix("after sleep ").and_then(|ms| ms.parse().ok()) {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
                let id = Field {
                    key: "contact-id".into(),
                    value: record["id"].to_string(),
                };
                log_fields(Level::Info, "contact created", &[id]);
                // Every new contact starts with 10 loyalty points.
                let points = serde_json::json!({ "contact": record["id"], "points": 10 });
                if let Err(e) = records::create("loyalty", &points.to_string()) {
                    log(Level::Warn, &format!("no loyalty points for contact {}: {e:?}", record["id"]));
                }
                Ok(HookOutcome::Proceed)
            }
            _ => Ok(HookOutcome::Proceed),
        }
    }
}

/// A veto if another contact (not `id`) already has `contact`'s e-mail,
/// compared lower-cased, as stored: found by querying the org's contacts
/// through `berth:plugin/records` (permission `database: read contacts`).
/// A failed query vetoes too: better no duplicate than a silent one.
fn taken_email(contact: &Value, id: Option<u64>) -> Option<HookOutcome> {
    let email = contact["email"].as_str()?.to_lowercase();
    let same = Filter {
        field: "email".into(),
        comparison: Comparison::Eq,
        value: Value::String(email.clone()).to_string(),
    };
    let query = RecordQuery { filters: vec![same], newest_first: false, after: None, limit: 2 };
    match records::query("contacts", &query) {
        Ok(page) if page.records.iter().all(|other| Some(other.id) == id) => None,
        Ok(_) => Some(HookOutcome::Veto(format!("a contact with e-mail {email} exists"))),
        Err(e) => Some(HookOutcome::Veto(format!("could not check for duplicates: {e:?}"))),
    }
}

/// Normalises a new contact, or vetoes it.
fn before_create(contact: &mut Value) -> HookOutcome {
    if !contact.is_object() {
        return HookOutcome::Proceed; // the module's schema refuses it
    }
    let name = contact["name"].as_str().unwrap_or_default().trim().to_owned();
    match name.as_str() {
        "trap me" => panic!("contact-rules: asked to trap"),
        "spin me" => loop {
            std::hint::spin_loop();
        },
        _ => {}
    }
    if name.to_lowercase().contains("spam") {
        return HookOutcome::Veto(format!("contact names may not contain \"spam\" (got {name:?})"));
    }
    contact["name"] = Value::String(name);
    if let Some(email) = contact["email"].as_str() {
        contact["email"] = Value::String(email.to_lowercase());
    }
    HookOutcome::Transform(contact.to_string())
}

fn refused(error: ModuleError) -> PluginError {
    let (code, message) = match error {
        ModuleError::Denied(m) => ("denied", m),
        ModuleError::Conflict(m) => ("conflict", m),
        ModuleError::Invalid(m) => ("invalid", m),
    };
    PluginError {
        code: code.into(),
        message,
    }
}

export!(ContactRules);
