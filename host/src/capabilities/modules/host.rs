//! `berth:plugin/modules`: the org's module registry as a plugin sees it.
//!
//! `register-module` and `subscribe` work only while the host runs the
//! plugin's `lifecycle.on-activate` (the store then carries an
//! [`Activation`]); what they collect becomes live when the activation
//! commits and disappears when the plugin is deactivated. Each needs the
//! `modules` grant naming the module (`register`) or the `module.hook`
//! pair (`extend`).

use crate::capabilities::bindings::v0_2_0::modules::{
    HookSubscription, Host, ModuleDescriptor, ModuleError,
};
use crate::capabilities::modules::ModuleDescriptor as Descriptor;
use crate::capabilities::modules::Modules;
use crate::capabilities::modules::contributions::{Contributions, Subscription};
use crate::capabilities::routes::route_granted;
use crate::common::ids;
use crate::common::ids::PluginIdentity;
use crate::package::manifest::Permissions;
use std::sync::Arc;

/// One instance's modules capability: what the org granted, the org's
/// module registry, and — during `on-activate` only — the activation
/// collecting what the plugin registers.
pub struct ModulesState {
    /// What the org granted; this unit reads `modules` and `routes`.
    pub grants: Arc<Permissions>,
    /// The plugin registering.
    pub identity: Arc<PluginIdentity>,
    /// The module registry.
    pub modules: Arc<Modules>,
    /// Set while the host runs the plugin's `lifecycle.on-activate`.
    pub activation: Option<Activation>,
}

/// Most modules and subscriptions one plugin may register.
const MAX_REGISTRATIONS: usize = 64;

/// A plugin's `on-activate` in progress: what its org has besides it, and
/// what it registers.
pub struct Activation {
    /// The org's modules not owned by this plugin: built-in, other active
    /// plugins', and those of plugins activated in the same step.
    pub others: Vec<Descriptor>,
    /// Whether the plugin exports `berth:plugin/hooks`.
    pub exports_hooks: bool,
    /// Whether the plugin exports `berth:plugin/integration`.
    pub exports_integration: bool,
    /// What it registered so far.
    pub contributions: Contributions,
}

impl Activation {
    fn module(&self, name: &str) -> Option<&Descriptor> {
        self.others
            .iter()
            .chain(&self.contributions.modules)
            .find(|m| m.name == name)
    }

    fn is_full(&self) -> bool {
        self.contributions.modules.len() + self.contributions.subscriptions.len()
            >= MAX_REGISTRATIONS
    }
}

/// Longest module description, in bytes.
const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Most hooks, routes or readers one module may name, each.
const MAX_NAMES: usize = 64;
/// Longest route prefix a module may serve, in bytes.
const MAX_ROUTE_BYTES: usize = 256;
/// Largest module schema, in bytes of JSON text.
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Refuses a descriptor too large to keep: registered modules live in host
/// memory for as long as their plugin is active, outside its memory limit.
fn check_size(module: &ModuleDescriptor) -> Result<(), ModuleError> {
    if module.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(invalid(format!(
            "its description is over {MAX_DESCRIPTION_BYTES} bytes"
        )));
    }
    let lists = [
        ("hooks", module.hooks.len()),
        ("routes", module.routes.len()),
        ("readers", module.readers.len()),
    ];
    if let Some((list, _)) = lists.iter().find(|(_, len)| *len > MAX_NAMES) {
        return Err(invalid(format!("it names over {MAX_NAMES} {list}")));
    }
    if module
        .routes
        .iter()
        .any(|route| route.len() > MAX_ROUTE_BYTES)
    {
        return Err(invalid(format!("a route is over {MAX_ROUTE_BYTES} bytes")));
    }
    if module
        .schema
        .as_ref()
        .is_some_and(|s| s.len() > MAX_SCHEMA_BYTES)
    {
        return Err(invalid(format!(
            "its schema is over {MAX_SCHEMA_BYTES} bytes"
        )));
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> ModuleError {
    ModuleError::Invalid(message.into())
}

fn outside_activation() -> ModuleError {
    invalid("modules are registered and hooks subscribed only during lifecycle.on-activate")
}

impl ModulesState {
    fn register(&mut self, module: ModuleDescriptor) -> Result<(), ModuleError> {
        let register = self.grants.modules.as_ref().map(|m| &m.register);
        if !register.is_some_and(|names| names.contains(&module.name)) {
            return Err(ModuleError::Denied(format!(
                "the org has not granted this plugin `modules.register: {}`",
                module.name
            )));
        }
        ids::validate(&module.name).map_err(invalid)?;
        check_size(&module)?;
        for hook in &module.hooks {
            ids::validate(hook).map_err(|e| invalid(format!("hook {e}")))?;
        }
        if let Some(route) = module
            .routes
            .iter()
            .find(|route| !route.starts_with('/') || !route_granted(&self.grants.routes, route))
        {
            return Err(invalid(format!(
                "route `{route}` is not within the plugin's granted routes"
            )));
        }
        let schema = match &module.schema {
            Some(text) => {
                let schema: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| invalid(format!("its schema is not JSON: {e}")))?;
                jsonschema::validator_for(&schema)
                    .map_err(|e| invalid(format!("its schema is not a JSON Schema: {e}")))?;
                Some(schema)
            }
            None => None,
        };
        for reader in &module.readers {
            ids::validate(reader).map_err(|e| invalid(format!("reader {e}")))?;
        }
        let owner = self.identity.plugin.clone();
        let activation = self.activation.as_mut().ok_or_else(outside_activation)?;
        if activation.is_full() {
            return Err(invalid(format!(
                "at most {MAX_REGISTRATIONS} modules and subscriptions"
            )));
        }
        if let Some(existing) = activation.module(&module.name) {
            let by = existing.owner.as_deref().unwrap_or("berth (built in)");
            return Err(ModuleError::Conflict(format!(
                "module `{}` is already registered by {by}",
                module.name
            )));
        }
        activation.contributions.modules.push(Descriptor {
            name: module.name,
            description: module.description,
            hooks: module.hooks,
            routes: module.routes,
            owner: Some(owner),
            schema,
            readers: module.readers,
        });
        Ok(())
    }

    fn subscribe_to(&mut self, subscription: HookSubscription) -> Result<(), ModuleError> {
        let HookSubscription { module, hook } = subscription;
        let pair = format!("{module}.{hook}");
        let extend = self.grants.modules.as_ref().map(|m| &m.extend);
        if !extend.is_some_and(|pairs| pairs.contains(&pair)) {
            return Err(ModuleError::Denied(format!(
                "the org has not granted this plugin `modules.extend: {pair}`"
            )));
        }
        let me = self.identity.plugin.clone();
        let activation = self.activation.as_mut().ok_or_else(outside_activation)?;
        let Some(target) = activation
            .module(&module)
            .filter(|m| m.hooks.contains(&hook))
        else {
            return Err(invalid(format!("no module `{module}` firing `{hook}`")));
        };
        // A plugin's module shows its records to the plugins its owner names.
        if let Some(owner) = target
            .owner
            .as_ref()
            .filter(|o| **o != me && !target.readers.contains(&me))
        {
            return Err(ModuleError::Denied(format!(
                "`{module}` belongs to `{owner}`, which does not name this plugin among its readers"
            )));
        }
        let handles = if hook.starts_with("before-") {
            activation.exports_hooks
        } else {
            activation.exports_hooks || activation.exports_integration
        };
        if !handles {
            return Err(invalid(format!(
                "`{pair}` is delivered through an export the plugin lacks \
                 (berth:plugin/hooks{})",
                if hook.starts_with("before-") {
                    ""
                } else {
                    " or berth:plugin/integration"
                }
            )));
        }
        let subscription = Subscription { module, hook };
        if !activation
            .contributions
            .subscriptions
            .contains(&subscription)
        {
            if activation.is_full() {
                return Err(invalid(format!(
                    "at most {MAX_REGISTRATIONS} modules and subscriptions"
                )));
            }
            activation.contributions.subscriptions.push(subscription);
        }
        Ok(())
    }
}

impl Host for ModulesState {
    fn register_module(&mut self, module: ModuleDescriptor) -> Result<(), ModuleError> {
        self.register(module)
    }

    fn subscribe(&mut self, subscription: HookSubscription) -> Result<(), ModuleError> {
        self.subscribe_to(subscription)
    }

    fn list_modules(&mut self) -> Vec<ModuleDescriptor> {
        self.modules
            .list(&self.identity.org)
            .into_iter()
            .map(|m| ModuleDescriptor {
                name: m.name,
                description: m.description,
                hooks: m.hooks,
                routes: m.routes,
                schema: m.schema.map(|schema| schema.to_string()),
                readers: m.readers,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::Fixture;
    use serde_json::json;

    fn loyalty() -> ModuleDescriptor {
        ModuleDescriptor {
            name: "loyalty".into(),
            description: "Loyalty points".into(),
            hooks: vec!["before-create".into()],
            routes: vec!["/loyalty".into()],
            schema: Some(r#"{"type": "object", "required": ["points"]}"#.into()),
            readers: vec!["reports".into()],
        }
    }

    fn activation(fixture: &Fixture) -> Activation {
        Activation {
            others: fixture
                .services
                .modules
                .list(crate::capabilities::fixture::ORG),
            exports_hooks: true,
            exports_integration: false,
            contributions: Contributions::default(),
        }
    }

    #[test]
    fn registering_needs_an_activation_the_grant_and_a_free_name() {
        let fixture = Fixture::new();
        let granted = json!({
            "routes": ["/loyalty"],
            "modules": {"register": ["loyalty", "contacts"], "extend": ["contacts.before-create"]},
        });
        let mut modules = fixture.instance("probe", granted.clone()).modules;
        let outside = modules.register_module(loyalty());
        assert!(
            matches!(outside, Err(ModuleError::Invalid(_))),
            "{outside:?}"
        );

        modules.activation = Some(activation(&fixture));
        modules.register_module(loyalty()).unwrap();
        let builtin = ModuleDescriptor {
            name: "contacts".into(),
            ..loyalty()
        };
        let taken = modules.register_module(builtin);
        assert!(matches!(taken, Err(ModuleError::Conflict(_))), "{taken:?}");
        let hook = HookSubscription {
            module: "contacts".into(),
            hook: "before-create".into(),
        };
        modules.subscribe(hook).unwrap();
        for (schema, readers) in [
            (Some("{"), vec![]),
            (Some(r#"{"type": 5}"#), vec![]),
            (None, vec!["Not A Name".to_owned()]),
        ] {
            let bad = ModuleDescriptor {
                name: "loyalty".into(),
                schema: schema.map(str::to_owned),
                readers,
                ..loyalty()
            };
            let refused = modules.register_module(bad);
            assert!(
                matches!(refused, Err(ModuleError::Invalid(_))),
                "{refused:?}"
            );
        }
        // Descriptors too large to keep for the plugin's lifetime.
        let registered =
            |m: &ModulesState| m.activation.as_ref().map(|a| a.contributions.modules.len());
        let before = registered(&modules);
        let many = || vec!["before-create".to_owned(); MAX_NAMES + 1];
        let big_schema = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        for oversized in [
            ModuleDescriptor {
                description: "x".repeat(MAX_DESCRIPTION_BYTES + 1),
                ..loyalty()
            },
            ModuleDescriptor {
                hooks: many(),
                ..loyalty()
            },
            ModuleDescriptor {
                schema: Some(big_schema),
                ..loyalty()
            },
        ] {
            let refused = modules.register_module(oversized);
            assert!(
                matches!(refused, Err(ModuleError::Invalid(_))),
                "{refused:?}"
            );
        }
        assert_eq!(registered(&modules), before, "nothing was registered");
        // Another plugin's module: subscribing needs its owner to name us.
        let theirs = |readers: Vec<String>| Descriptor {
            name: "notes".into(),
            description: String::new(),
            hooks: vec!["after-create".into()],
            routes: Vec::new(),
            owner: Some("other".into()),
            schema: None,
            readers,
        };
        let mut extender = fixture
            .instance(
                "probe",
                json!({"modules": {"extend": ["notes.after-create"]}}),
            )
            .modules;
        for (readers, allowed) in [(vec![], false), (vec!["probe".to_owned()], true)] {
            let mut with_notes = activation(&fixture);
            with_notes.others.push(theirs(readers));
            extender.activation = Some(with_notes);
            let hook = HookSubscription {
                module: "notes".into(),
                hook: "after-create".into(),
            };
            let subscribed = extender.subscribe(hook);
            assert_eq!(subscribed.is_ok(), allowed, "{subscribed:?}");
        }
        let registered = modules.activation.take().unwrap().contributions;
        assert_eq!(registered.modules.len(), 1);
        assert_eq!(registered.modules[0].owner.as_deref(), Some("probe"));
        assert_eq!(registered.modules[0].readers, ["reports"]);
        assert_eq!(
            registered.modules[0].schema.as_ref().unwrap()["required"],
            json!(["points"])
        );
        assert_eq!(registered.subscriptions.len(), 1);

        let mut ungranted = fixture
            .instance("probe", json!({"routes": ["/loyalty"]}))
            .modules;
        ungranted.activation = Some(activation(&fixture));
        let denied = ungranted.register_module(loyalty());
        assert!(matches!(denied, Err(ModuleError::Denied(_))), "{denied:?}");
        let outside_routes =
            fixture.instance("probe", json!({"modules": {"register": ["loyalty"]}}));
        let mut outside_routes = outside_routes.modules;
        outside_routes.activation = Some(activation(&fixture));
        let refused = outside_routes.register_module(loyalty());
        assert!(
            matches!(refused, Err(ModuleError::Invalid(_))),
            "{refused:?}"
        );
        assert!(
            ungranted
                .activation
                .unwrap()
                .contributions
                .modules
                .is_empty()
        );
    }
}
