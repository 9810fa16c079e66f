//! Which declared permission each import of a component needs.
//!
//! Checked at install, before anything is compiled or written: a component
//! that imports a gated interface without declaring the permission behind it
//! is refused, naming the interface. Interfaces every plugin may import
//! (`berth:plugin/log`, clocks, random, stdio, the filesystem API — which
//! sees no directories unless `filesystem` is granted) are not gated.

use crate::capabilities::units::ALL;
use crate::package::Package;
use crate::package::manifest::Permissions;
use wasmtime::wasmparser::{Parser, Payload};

/// An import the manifest does not cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingPermission {
    /// The imported interface, e.g. `wasi:http/outgoing-handler@0.2.6`.
    pub import: String,
    /// The permission it needs, e.g. `network`.
    pub permission: &'static str,
}

/// What `package`'s component imports without the permission behind it
/// (nothing for a package without a component, or with a non-component,
/// which the loader refuses on its own).
pub fn package_missing_permissions(package: &Package) -> Vec<MissingPermission> {
    match package.component().and_then(component_imports) {
        Some(imports) => missing_permissions(&imports, &package.manifest.permissions),
        None => Vec::new(),
    }
}

/// One sentence per uncovered import.
pub fn describe_missing(missing: &[MissingPermission]) -> String {
    missing
        .iter()
        .map(|m| {
            format!(
                "the component imports `{}` but the manifest declares no `{}` permission",
                m.import, m.permission
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The names a component imports at its top level (nested modules and
/// components are satisfied inside it). `None` if `bytes` do not parse as a
/// component; the loader reports why.
pub fn component_imports(bytes: &[u8]) -> Option<Vec<String>> {
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.checked_sub(1)?,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    imports.push(import.ok()?.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Some(imports)
}

/// The imports among `imports` that `declared` does not cover.
pub fn missing_permissions(imports: &[String], declared: &Permissions) -> Vec<MissingPermission> {
    imports
        .iter()
        .filter_map(|import| {
            let capability = ALL.iter().find(|capability| {
                (capability.imports.iter()).any(|prefix| import.starts_with(prefix))
            })?;
            (!(capability.declared)(declared)).then(|| MissingPermission {
                import: import.clone(),
                permission: capability.permission,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component_importing(names: &[&str]) -> Vec<u8> {
        let imports: String = names
            .iter()
            .map(|name| format!("(import \"{name}\" (instance))"))
            .collect();
        wat::parse_str(format!(
            "(component {imports} (component (import \"x\" (func))))"
        ))
        .unwrap()
    }

    #[test]
    fn top_level_imports_are_listed_and_nested_ones_are_not() {
        let bytes =
            component_importing(&["wasi:http/outgoing-handler@0.2.6", "berth:plugin/log@0.1.0"]);
        assert_eq!(
            component_imports(&bytes).unwrap(),
            ["wasi:http/outgoing-handler@0.2.6", "berth:plugin/log@0.1.0"]
        );
        assert_eq!(component_imports(b"not wasm"), None);
    }

    #[test]
    fn gated_imports_need_their_permission() {
        let imports: Vec<String> = [
            "wasi:http/outgoing-handler@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "berth:plugin/kv@0.1.0",
            "berth:plugin/config@0.1.0",
            "wasi:config/store@0.2.0-draft",
            "berth:plugin/log@0.1.0",
            "wasi:filesystem/preopens@0.2.6",
        ]
        .map(String::from)
        .to_vec();
        let none = missing_permissions(&imports, &Permissions::default());
        let needed: Vec<_> = none.iter().map(|m| m.permission).collect();
        let config = "config` or `secrets";
        // `wasi:sockets` is not gated: no instance gets a socket.
        assert_eq!(needed, ["network", "storage", config, config]);

        let all: Permissions = serde_json::from_value(serde_json::json!({
            "network": ["api.example.com"],
            "storage": ["read"],
            "secrets": ["api-key"],
        }))
        .unwrap();
        assert_eq!(missing_permissions(&imports, &all), []);
    }

    #[test]
    fn the_hello_guest_needs_no_gated_permission() {
        let imports = component_imports(berth_guests::HELLO_COMPONENT_BYTES).unwrap();
        assert!(
            imports.iter().any(|i| i.starts_with("berth:plugin/log@")),
            "{imports:?}"
        );
        assert_eq!(missing_permissions(&imports, &Permissions::default()), []);
    }
}
