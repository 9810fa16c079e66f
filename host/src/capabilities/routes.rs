//! The `routes` grant: which request paths a plugin serves, and which
//! paths it may register module routes under. A route is granted by whole
//! path segments, and only in its canonical form.

use crate::capabilities::capability::{Capability, missing, retain_declared};
use crate::package::manifest::Permissions;

/// The `routes` permission (no import needs it: it limits what reaches the
/// plugin's HTTP handler).
pub const CAPABILITY: Capability = Capability {
    permission: "routes",
    imports: &[],
    declared: |p| !p.routes.is_empty(),
    not_covered: |wanted: &Permissions, available: &Permissions| {
        missing("routes", &wanted.routes, &available.routes)
    },
    narrow: |granted, declared| retain_declared(&mut granted.routes, &declared.routes),
    forget: None,
};

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
/// (`%2f`, `%5c`) and no control character, raw or encoded. (HTTP cannot
/// carry a raw one, but the rule does not lean on that.)
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
            && !segment.chars().any(|c| c.is_ascii_control())
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

#[cfg(test)]
mod tests {
    use super::*;

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
            "/api/x\ny",
            "/api/\u{7f}",
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
