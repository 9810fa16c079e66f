//! What an org grants a plugin, compared with what the plugin declares.
//!
//! A grant is a [`Permissions`] value like the manifest's: activation grants
//! everything declared unless the org admin sends a narrower one. A grant
//! may never exceed the declaration, and an upgrade that declares more than
//! was granted waits, inactive, for a new grant.

use crate::package::manifest::{DirectoryMode, ForwardedHeader, Permissions, StorageAccess};

/// Each item of `wanted` that `available` does not cover, described for
/// people (`network api.example.com`, `filesystem data (rw)`, `ui pages`).
pub fn not_covered(wanted: &Permissions, available: &Permissions) -> Vec<String> {
    let mut missing = Vec::new();
    let mut list = |kind: &str, wanted: Vec<String>, available: Vec<String>| {
        for item in wanted {
            if !available.contains(&item) {
                missing.push(format!("{kind} {item}"));
            }
        }
    };
    list("routes", wanted.routes.clone(), available.routes.clone());
    list("storage", names(&wanted.storage), names(&available.storage));
    list("network", wanted.network.clone(), available.network.clone());
    list("config", wanted.config.clone(), available.config.clone());
    list("secrets", wanted.secrets.clone(), available.secrets.clone());
    list(
        "headers",
        header_names(&wanted.headers),
        header_names(&available.headers),
    );
    let ui = (
        wanted.ui.clone().unwrap_or_default(),
        available.ui.clone().unwrap_or_default(),
    );
    list("ui slot", ui.0.slots, ui.1.slots);
    list("ui", flag("pages", ui.0.pages), flag("pages", ui.1.pages));
    list("ui", flag("theme", ui.0.theme), flag("theme", ui.1.theme));
    let modules = (
        wanted.modules.clone().unwrap_or_default(),
        available.modules.clone().unwrap_or_default(),
    );
    list("modules register", modules.0.register, modules.1.register);
    list("modules extend", modules.0.extend, modules.1.extend);
    for dir in &wanted.filesystem {
        let covered = available.filesystem.iter().any(|offer| {
            offer.name == dir.name
                && (offer.mode == DirectoryMode::Rw || dir.mode == DirectoryMode::Ro)
        });
        if !covered {
            missing.push(format!("filesystem {} ({})", dir.name, dir.mode.as_str()));
        }
    }
    missing
}

/// Whether a request path (without its query) falls under one of the
/// granted route prefixes: `/api` covers `/api` and `/api/…`, not `/apix`.
///
/// Only canonical paths are granted (see [`is_canonical`]): berth never
/// rewrites a path, so a path a browser or proxy would normalise into
/// another route is refused rather than checked in one form and served in
/// another.
pub fn route_granted(prefixes: &[String], path: &str) -> bool {
    is_canonical(path)
        && prefixes.iter().any(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// Whether `path` is absolute and means what it says: no segment is `.` or
/// `..` (also percent-encoded, `%2e`), no segment is empty but a trailing
/// one (`//`), and it holds no backslash, encoded slash or backslash
/// (`%2f`, `%5c`) and no encoded control character.
pub fn is_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    segments.iter().enumerate().all(|(i, segment)| {
        let decoded = decode_dots(segment);
        (!segment.is_empty() || i == last)
            && decoded != "."
            && decoded != ".."
            && !segment.contains('\\')
            && !has_encoded_separator_or_control(segment)
    })
}

/// `segment` with `%2e`/`%2E` read as `.` (all a dot segment can hide behind).
fn decode_dots(segment: &str) -> String {
    segment.replace("%2e", ".").replace("%2E", ".")
}

/// Whether `segment` holds `%2f`, `%5c` (either case) or an encoded
/// control character (`%00`–`%1f`, `%7f`).
fn has_encoded_separator_or_control(segment: &str) -> bool {
    segment.split('%').skip(1).any(|escaped| {
        let hex = escaped.get(..2).unwrap_or(escaped).to_ascii_lowercase();
        matches!(hex.as_str(), "2f" | "5c" | "7f") || hex.starts_with('0') || hex.starts_with('1')
    })
}

fn names(access: &[StorageAccess]) -> Vec<String> {
    access.iter().map(|a| a.as_str().to_owned()).collect()
}

fn header_names(headers: &[ForwardedHeader]) -> Vec<String> {
    headers.iter().map(|h| h.as_str().to_owned()).collect()
}

fn flag(name: &str, set: bool) -> Vec<String> {
    if set {
        vec![name.to_owned()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permissions(json: serde_json::Value) -> Permissions {
        serde_json::from_value(json).unwrap()
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

    #[test]
    fn route_prefixes_match_whole_segments() {
        let prefixes = vec!["/api".to_owned(), "/hooks/".to_owned()];
        assert!(route_granted(&prefixes, "/api"));
        assert!(route_granted(&prefixes, "/api/v1/x"));
        assert!(route_granted(&prefixes, "/hooks/in"));
        assert!(!route_granted(&prefixes, "/apix"));
        assert!(!route_granted(&prefixes, "/"));
        assert!(route_granted(&["/".to_owned()], "/anything/at/all"));
        assert!(route_granted(&["/".to_owned()], "/"));
        assert!(
            route_granted(&prefixes, "/api/v1/"),
            "a trailing slash is fine"
        );
    }

    #[test]
    fn only_canonical_paths_are_granted() {
        let api = vec!["/api".to_owned()];
        let everything = vec!["/".to_owned()];
        for path in [
            "/api/../admin",
            "/api/%2e%2e/admin",
            "/api/%2E%2E/admin",
            "/api/.%2e/admin",
            "/api/./x",
            "/api/%2e/x",
            "/api/..",
            "/api//x",
            "/api/%2fx",
            "/api/a%2F..%2Fb",
            "/api/a%5cb",
            "/api\\..\\admin",
            "/api/a\\b",
            "/api/x%00y",
            "/api/x%0a",
            "api/x",
            "",
        ] {
            assert!(!route_granted(&api, path), "{path}");
            assert!(!route_granted(&everything, path), "{path}");
        }
        for path in [
            "/api/x.y",
            "/api/...",
            "/api/a%2e",
            "/api/w%C3%B6rld",
            "/api/x/",
        ] {
            assert!(route_granted(&api, path), "{path}");
        }
    }
}
