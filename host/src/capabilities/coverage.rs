//! What an org grants a plugin, compared with what the plugin declares.
//!
//! A grant is a [`Permissions`] value like the manifest's: activation grants
//! everything declared unless the org admin sends a narrower one. A grant
//! may never exceed the declaration, and an upgrade that declares more than
//! was granted waits, inactive, for a new grant. Each capability says what
//! its own part of a grant covers; this asks them all.

use crate::capabilities::units::ALL;
use crate::package::manifest::Permissions;

/// Each item of `wanted` that `available` does not cover, described for
/// people (`network api.example.com`, `filesystem data (rw)`, `ui pages`).
pub fn not_covered(wanted: &Permissions, available: &Permissions) -> Vec<String> {
    ALL.iter()
        .flat_map(|capability| (capability.not_covered)(wanted, available))
        .collect()
}

/// What of `granted` `declared` still asks for: the grant an upgrade keeps,
/// each capability narrowing its own part.
pub fn narrowed(granted: &Permissions, declared: &Permissions) -> Permissions {
    let mut narrowed = granted.clone();
    for capability in ALL {
        (capability.narrow)(&mut narrowed, declared);
    }
    narrowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions(json: serde_json::Value) -> Permissions {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_upgrade_keeps_only_what_both_grant_and_declaration_hold() {
        let granted = permissions(serde_json::json!({
            "routes": ["/api", "/old"],
            "storage": ["read", "write"],
            "network": ["api.example.com", "old.example.com"],
            "config": ["url", "old"],
            "secrets": ["key", "old-key"],
            "filesystem": [{ "name": "data", "mode": "rw" }, { "name": "old", "mode": "rw" }],
            "ui": { "slots": ["dashboard.widgets"], "pages": true, "theme": true },
            "modules": { "register": ["tickets"], "extend": ["contacts.before-create"] },
            "headers": ["cookie"],
        }));
        let declared = permissions(serde_json::json!({
            "routes": ["/api", "/new"],
            "storage": ["read"],
            "network": ["api.example.com", "new.example.com"],
            "config": ["url"],
            "secrets": ["key", "new-key"],
            "filesystem": [{ "name": "data", "mode": "ro" }],
            "ui": { "slots": ["dashboard.widgets"], "pages": true },
        }));
        let kept = narrowed(&granted, &declared);
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            serde_json::json!({
                "routes": ["/api"],
                "storage": ["read"],
                "network": ["api.example.com"],
                "config": ["url"],
                "secrets": ["key"],
                "filesystem": [{ "name": "data", "mode": "ro" }],
                "ui": { "slots": ["dashboard.widgets"], "pages": true, "theme": false },
            })
        );
        assert!(not_covered(&kept, &declared).is_empty());
        assert!(not_covered(&kept, &granted).is_empty());
    }

    #[test]
    fn a_narrower_grant_is_covered_and_a_wider_one_is_not() {
        let declared = permissions(serde_json::json!({
            "routes": ["/api"],
            "storage": ["read", "write"],
            "network": ["api.example.com"],
            "filesystem": [{ "name": "data", "mode": "rw" }],
            "ui": { "slots": ["dashboard.widgets"], "pages": true },
        }));
        let narrower = permissions(serde_json::json!({
            "routes": ["/api"],
            "storage": ["read"],
            "filesystem": [{ "name": "data", "mode": "ro" }],
        }));
        assert!(not_covered(&narrower, &declared).is_empty());
        assert_eq!(
            not_covered(&declared, &narrower),
            [
                "storage write",
                "network api.example.com",
                "ui slot dashboard.widgets",
                "ui pages",
                "filesystem data (rw)"
            ]
        );
        let wider = permissions(serde_json::json!({
            "network": ["evil.example.com"],
            "ui": { "theme": true },
            "headers": ["cookie"],
        }));
        assert_eq!(
            not_covered(&wider, &declared),
            ["network evil.example.com", "headers cookie", "ui theme"]
        );
    }
}
