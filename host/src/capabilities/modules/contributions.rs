//! What active plugins add to their org's module registry: modules they
//! registered and hook subscriptions, kept live (in memory) per org and
//! rebuilt from `lifecycle.on-activate` whenever a plugin is activated.

use super::ModuleDescriptor;
use std::collections::{BTreeMap, HashMap};

/// A subscription to one hook of one module.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subscription {
    /// The module, e.g. `contacts`.
    pub module: String,
    /// The hook, e.g. `before-create`.
    pub hook: String,
}

/// What one active plugin contributed during its `on-activate`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contributions {
    /// Modules it registered (each owned by it).
    pub modules: Vec<ModuleDescriptor>,
    /// Hooks it subscribed to.
    pub subscriptions: Vec<Subscription>,
}

/// One org's plugin contributions and the order subscribers run in.
#[derive(Default)]
pub(super) struct OrgContributions {
    by_plugin: BTreeMap<String, Contributions>,
    /// Installed plugins, dependencies before dependents, then by name.
    order: Vec<String>,
}

impl OrgContributions {
    /// Every plugin-registered module, by name.
    pub(super) fn modules(&self) -> Vec<ModuleDescriptor> {
        let mut modules: Vec<ModuleDescriptor> = self
            .by_plugin
            .values()
            .flat_map(|c| c.modules.iter().cloned())
            .collect();
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        modules
    }

    /// The plugin-registered module `name` (the first plugin's by name, if
    /// several registered it).
    pub(super) fn module(&self, name: &str) -> Option<ModuleDescriptor> {
        (self.by_plugin.values().flat_map(|c| &c.modules))
            .find(|m| m.name == name)
            .cloned()
    }

    /// The plugins subscribed to `module`.`hook`, in the order they run:
    /// dependencies before dependents, then by name.
    pub(super) fn subscribers(&self, module: &str, hook: &str) -> Vec<String> {
        let rank: HashMap<&str, usize> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        let mut subscribers: Vec<&String> = self
            .by_plugin
            .iter()
            .filter(|(_, c)| {
                c.subscriptions
                    .iter()
                    .any(|s| s.module == module && s.hook == hook)
            })
            .map(|(plugin, _)| plugin)
            .collect();
        subscribers.sort_by_key(|plugin| {
            let position = rank.get(plugin.as_str()).copied().unwrap_or(usize::MAX);
            (position, plugin.as_str())
        });
        subscribers.into_iter().cloned().collect()
    }

    pub(super) fn set(&mut self, plugin: &str, contributions: Contributions) {
        self.by_plugin.insert(plugin.to_owned(), contributions);
    }

    pub(super) fn remove(&mut self, plugin: &str) {
        self.by_plugin.remove(plugin);
    }

    pub(super) fn set_order(&mut self, order: Vec<String>) {
        self.order = order;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(module: &str, hook: &str) -> Contributions {
        Contributions {
            modules: Vec::new(),
            subscriptions: vec![Subscription {
                module: module.to_owned(),
                hook: hook.to_owned(),
            }],
        }
    }

    #[test]
    fn subscribers_run_in_dependency_order_then_by_name() {
        let mut org = OrgContributions::default();
        for plugin in ["zeta", "alpha", "mid", "other"] {
            org.set(plugin, subscribed("contacts", "before-create"));
        }
        org.set("unrelated", subscribed("contacts", "after-create"));
        // `zeta` is a dependency of `alpha`, so it comes first; plugins the
        // order does not name yet run after those it does, by name.
        org.set_order(vec!["zeta".into(), "alpha".into(), "mid".into()]);
        assert_eq!(
            org.subscribers("contacts", "before-create"),
            ["zeta", "alpha", "mid", "other"]
        );
        org.remove("alpha");
        assert_eq!(
            org.subscribers("contacts", "before-create"),
            ["zeta", "mid", "other"]
        );
        assert_eq!(
            org.subscribers("invoices", "before-create"),
            Vec::<String>::new()
        );
    }
}
