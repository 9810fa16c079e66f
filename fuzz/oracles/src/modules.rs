//! `berth:plugin/modules` from the guest side: arbitrary `register-module`,
//! `subscribe` and `list-modules` calls — arbitrary names, hooks, routes,
//! JSON Schema text and readers — by a plugin with an arbitrary `modules`
//! grant, during its `on-activate` or outside it. What the activation
//! collects must keep the rules: only granted names and pairs, valid
//! names, routes inside the route grant, schemas that compile, no name
//! taken twice or from a built-in or another plugin, no subscription to a
//! module its owner does not share, at most 64 registrations; outside
//! `on-activate` nothing registers at all.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::capabilities::bindings::v0_2_0::modules::{
    HookSubscription, Host, ModuleDescriptor, ModuleError,
};
use berth::capabilities::modules::contributions::Contributions;
use berth::capabilities::modules::{
    Activation, ModuleDescriptor as Descriptor, Modules, ModulesState,
};
use berth::capabilities::routes::route_granted;
use berth::common::ids::{self, PluginIdentity};
use berth::package::manifest::Permissions;
use serde_json::json;
use std::sync::Arc;

/// Names a case draws from (modulo their number), so grants and calls meet.
const NAMES: [&str; 6] = ["loyalty", "contacts", "points", "shared", "Bad Name", ""];
/// Hooks a case draws from.
const HOOKS: [&str; 4] = ["before-create", "after-create", "after-delete", "nope!"];
/// Route prefixes a case draws from.
const ROUTES: [&str; 4] = ["/", "/api", "/api/points", "relative"];
/// The plugin calling.
const ME: &str = "p";

/// One case: the plugin's grant and exports, and its calls.
#[derive(Arbitrary, Debug)]
pub struct Case {
    /// Names it may register (indices into [`NAMES`]).
    pub register: Vec<u8>,
    /// `module.hook` pairs it may extend (indices into [`NAMES`] and [`HOOKS`]).
    pub extend: Vec<(u8, u8)>,
    /// Route prefixes it is granted (indices into [`ROUTES`]).
    pub routes: Vec<u8>,
    /// Whether it exports `berth:plugin/hooks`.
    pub exports_hooks: bool,
    /// Whether it exports `berth:plugin/integration`.
    pub exports_integration: bool,
    /// Whether the calls run inside `on-activate`.
    pub activating: bool,
    /// The calls.
    pub calls: Vec<Call>,
}

/// A `berth:plugin/modules` call.
#[derive(Arbitrary, Debug)]
pub enum Call {
    /// `register-module`.
    Register {
        /// Name (index into [`NAMES`]), or this arbitrary text.
        name: Result<u8, String>,
        /// Hooks (indices into [`HOOKS`]).
        hooks: Vec<u8>,
        /// Routes (indices into [`ROUTES`]).
        routes: Vec<u8>,
        /// Schema text, if any.
        schema: Option<String>,
        /// Readers.
        readers: Vec<String>,
    },
    /// `subscribe` (indices into [`NAMES`] and [`HOOKS`]).
    Subscribe(u8, u8),
    /// `list-modules`.
    List,
}

/// Runs `case` and checks what the activation collected.
pub fn check(case: &Case) -> Verdict {
    let (_dir, registry) = crate::temporary_registry()?;
    let modules = Arc::new(Modules::new(registry));
    let pick = |list: &[&'static str], i: &u8| list[usize::from(*i) % list.len()];
    let register: Vec<&str> = case.register.iter().map(|i| pick(&NAMES, i)).collect();
    let extend: Vec<String> = (case.extend.iter())
        .map(|(m, h)| format!("{}.{}", pick(&NAMES, m), pick(&HOOKS, h)))
        .collect();
    let routes: Vec<&str> = case.routes.iter().map(|i| pick(&ROUTES, i)).collect();
    let grant = json!({ "routes": routes, "modules": { "register": register, "extend": extend } });
    let Ok(grants) = serde_json::from_value::<Permissions>(grant) else {
        return Ok(());
    };
    // Another plugin's module, shared with this one only if `shared`.
    let mut others = modules.list("acme");
    for (name, readers) in [("points", vec![]), ("shared", vec![ME.to_owned()])] {
        others.push(Descriptor {
            name: name.into(),
            description: String::new(),
            hooks: vec!["after-create".into()],
            routes: Vec::new(),
            owner: Some("other".into()),
            schema: None,
            readers,
        });
    }
    let mut state = ModulesState {
        grants: Arc::new(grants),
        identity: Arc::new(PluginIdentity {
            org: "acme".into(),
            plugin: ME.into(),
        }),
        modules,
        activation: case.activating.then(|| Activation {
            others: others.clone(),
            exports_hooks: case.exports_hooks,
            exports_integration: case.exports_integration,
            contributions: Contributions::default(),
        }),
    };
    for call in case.calls.iter().take(80) {
        match call {
            Call::Register {
                name,
                hooks,
                routes,
                schema,
                readers,
            } => {
                let name = match name {
                    Ok(i) => pick(&NAMES, i).to_owned(),
                    Err(text) => text.clone(),
                };
                let descriptor = ModuleDescriptor {
                    name: name.clone(),
                    description: String::new(),
                    hooks: hooks.iter().map(|i| pick(&HOOKS, i).to_owned()).collect(),
                    routes: routes.iter().map(|i| pick(&ROUTES, i).to_owned()).collect(),
                    schema: schema.clone(),
                    readers: readers.clone(),
                };
                let answer = state.register_module(descriptor);
                let granted = register.contains(&name.as_str());
                ensure(
                    granted != matches!(answer, Err(ModuleError::Denied(_))),
                    || format!("register {name:?} (granted: {granted}) answered {answer:?}"),
                )?;
            }
            Call::Subscribe(m, h) => {
                let pair = format!("{}.{}", pick(&NAMES, m), pick(&HOOKS, h));
                let answer = state.subscribe(HookSubscription {
                    module: pick(&NAMES, m).into(),
                    hook: pick(&HOOKS, h).into(),
                });
                ensure(
                    extend.contains(&pair) || matches!(answer, Err(ModuleError::Denied(_))),
                    || format!("subscribe {pair} without its grant answered {answer:?}"),
                )?;
            }
            Call::List => {
                let listed = state.list_modules();
                ensure(listed.iter().any(|m| m.name == "contacts"), || {
                    "the built-in modules are not listed".into()
                })?;
            }
        }
    }
    let Some(activation) = state.activation else {
        return Ok(());
    };
    let collected = &activation.contributions;
    ensure(
        collected.modules.len() + collected.subscriptions.len() <= 64,
        || "more than 64 registrations".into(),
    )?;
    for (i, module) in collected.modules.iter().enumerate() {
        let why = |what: &str| format!("registered {module:?}: {what}");
        ensure(register.contains(&module.name.as_str()), || {
            why("not granted")
        })?;
        ensure(ids::validate(&module.name).is_ok(), || {
            why("an invalid name")
        })?;
        ensure(module.owner.as_deref() == Some(ME), || {
            why("not owned by the plugin")
        })?;
        ensure(!others.iter().any(|o| o.name == module.name), || {
            why("a name taken")
        })?;
        ensure(
            !collected.modules[..i].iter().any(|m| m.name == module.name),
            || why("twice"),
        )?;
        ensure(
            module
                .routes
                .iter()
                .all(|r| r.starts_with('/') && route_granted(&state.grants.routes, r)),
            || why("a route outside the grant"),
        )?;
        if let Some(schema) = &module.schema {
            ensure(jsonschema::validator_for(schema).is_ok(), || {
                why("a schema that does not compile")
            })?;
        }
    }
    for (i, subscription) in collected.subscriptions.iter().enumerate() {
        let pair = format!("{}.{}", subscription.module, subscription.hook);
        let why = |what: &str| format!("subscribed {pair}: {what}");
        ensure(extend.contains(&pair), || why("not granted"))?;
        ensure(!collected.subscriptions[..i].contains(subscription), || {
            why("twice")
        })?;
        let target =
            (others.iter().chain(&collected.modules)).find(|m| m.name == subscription.module);
        let Some(target) = target else {
            return Err(why("no such module"));
        };
        ensure(target.hooks.contains(&subscription.hook), || {
            why("a hook the module does not fire")
        })?;
        ensure(
            target
                .owner
                .as_deref()
                .is_none_or(|o| o == ME || target.readers.iter().any(|r| r == ME)),
            || why("a module its owner does not share"),
        )?;
        ensure(
            case.exports_hooks
                || (case.exports_integration && !subscription.hook.starts_with("before-")),
            || why("delivered through an export the plugin lacks"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_activation_keeps_the_rules() {
        let register = |name: u8, schema: Option<&str>| Call::Register {
            name: Ok(name),
            hooks: vec![0, 1],
            routes: vec![2],
            schema: schema.map(str::to_owned),
            readers: vec!["q".into()],
        };
        let case = Case {
            register: vec![0, 1],
            extend: vec![(1, 0), (2, 1), (3, 1), (0, 0)],
            routes: vec![1],
            exports_hooks: true,
            exports_integration: false,
            activating: true,
            calls: vec![
                register(0, Some(r#"{"type": "object"}"#)),
                register(0, None),
                register(1, None),
                register(2, None),
                register(0, Some("not json")),
                Call::Subscribe(1, 0),
                Call::Subscribe(2, 1),
                Call::Subscribe(3, 1),
                Call::Subscribe(0, 0),
                Call::Subscribe(1, 3),
                Call::List,
            ],
        };
        assert_eq!(check(&case), Ok(()));
        let outside = Case {
            activating: false,
            ..case
        };
        assert_eq!(check(&outside), Ok(()));
    }
}
