//! The built-in modules: standing in for the existing system's
//! `ModuleRegistryService`, registered in code. Each has a record schema
//! (JSON Schema, checked on every write) and fires `before-*` and `after-*`
//! hooks for create, update and delete.

use super::ModuleDescriptor;

/// The hooks every built-in module fires.
const HOOKS: [&str; 6] = [
    "before-create",
    "after-create",
    "before-update",
    "after-update",
    "before-delete",
    "after-delete",
];

/// A module registered in code, with the schema its records must satisfy.
pub struct BuiltinModule {
    /// Name, description, hooks, routes.
    pub descriptor: ModuleDescriptor,
    /// JSON Schema of a record.
    pub schema: serde_json::Value,
}

/// Every built-in module, in listing order.
pub fn builtin_modules() -> Vec<BuiltinModule> {
    vec![
        module(
            "contacts",
            "People and companies the org works with",
            serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["name"],
                "properties": {
                    "name": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "email": { "type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$", "maxLength": 254 },
                    "company": { "type": "string", "maxLength": 200 },
                    "phone": { "type": "string", "maxLength": 50 }
                }
            }),
        ),
        module(
            "invoices",
            "Invoices issued to the org's customers",
            serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["customer", "amount", "currency"],
                "properties": {
                    "customer": { "type": "string", "minLength": 1, "maxLength": 200 },
                    "amount": { "type": "number", "minimum": 0 },
                    "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
                    "due": { "type": "string", "format": "date" }
                }
            }),
        ),
    ]
}

fn module(name: &str, description: &str, schema: serde_json::Value) -> BuiltinModule {
    BuiltinModule {
        descriptor: ModuleDescriptor {
            name: name.to_owned(),
            description: description.to_owned(),
            hooks: HOOKS.map(str::to_owned).to_vec(),
            routes: vec![format!("/api/{name}")],
            owner: None,
            schema: Some(schema.clone()),
            readers: Vec::new(),
        },
        schema,
    }
}
