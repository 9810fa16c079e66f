//! Headers crossing the boundary between a caller and a plugin's HTTP
//! handler, both ways.
//!
//! In: the caller's credentials (`Authorization`, `Cookie`) reach the plugin
//! only when the org granted them (`permissions.headers`); the tenant key
//! never does. Out: plugin routes answer on berth's own origin, beside the
//! console and the management API, so every plugin response runs in a
//! sandbox — an opaque origin that cannot read the console's storage or
//! cookies, call the API as the console, or register a service worker —
//! and cannot set state on berth's origin (cookies, service-worker scopes,
//! clearing the console's site data, report endpoints, HSTS and the like).

use crate::common::error::ApiError;
use crate::package::manifest::ForwardedHeader;
use crate::serve::{auth, tenant_keys};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

/// The Content-Security-Policy stamped on every plugin response: a sandbox
/// without `allow-same-origin`, so its documents run in an opaque origin.
pub const SANDBOX_POLICY: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// Response headers a plugin may not set: the browser keeps what they say
/// for berth's whole origin (or host), which the console and every other
/// tenant share — cookies, service-worker scopes, clearing site data,
/// network-error and report endpoints that would receive every later URL
/// of the origin (`NEL`, `Report-To`), HSTS, alternative services, client
/// hints, login status, storage access, agent clustering, and the obsolete
/// pinning headers.
const STRIPPED_FROM_RESPONSES: [&str; 15] = [
    "set-cookie",
    "set-cookie2",
    "service-worker-allowed",
    "clear-site-data",
    "nel",
    "report-to",
    "strict-transport-security",
    "alt-svc",
    "accept-ch",
    "critical-ch",
    "set-login",
    "activate-storage-access",
    "origin-agent-cluster",
    "expect-ct",
    "public-key-pins",
];

/// The request header a browser sends when it fetches a service worker's
/// script (`Service-Worker: script`).
const SERVICE_WORKER: &str = "service-worker";

/// Prepares a caller's request headers for a plugin granted `granted`:
/// removes the tenant key, and `Authorization` and `Cookie` unless granted
/// — and `Authorization` even then when it carries a berth token, so a
/// plugin never holds the keys to berth's management API.
pub fn to_plugin(headers: &mut HeaderMap, granted: &[ForwardedHeader]) {
    headers.remove(tenant_keys::HEADER);
    for credential in ForwardedHeader::ALL {
        if !granted.contains(&credential) {
            headers.remove(credential.as_str());
        }
    }
    if headers
        .get(header::AUTHORIZATION)
        .is_some_and(auth::carries_berth_token)
    {
        headers.remove(header::AUTHORIZATION);
    }
}

/// Makes a plugin's response headers safe to serve on berth's origin:
/// removes the headers in [`STRIPPED_FROM_RESPONSES`], adds
/// [`SANDBOX_POLICY`] beside any policy the plugin set (every policy
/// applies, so a plugin can tighten its sandbox but never lift it), and
/// forbids content sniffing.
pub fn from_plugin(headers: &mut HeaderMap) {
    // One walk over the response's own few headers: removing each listed
    // name in turn hashed all fifteen on every response.
    let stripped: Vec<HeaderName> = (headers.keys())
        .filter(|name| STRIPPED_FROM_RESPONSES.contains(&name.as_str()))
        .cloned()
        .collect();
    for name in stripped {
        headers.remove(name);
    }
    headers.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// 403 `service_worker_refused` for a browser fetching a service worker's
/// script: tenant paths never serve one, whatever the content, so no
/// tenant can install a worker on berth's origin.
pub fn refuse_service_worker_scripts(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(SERVICE_WORKER) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "service_worker_refused",
            "tenant paths do not serve service worker scripts",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn credentials_reach_a_plugin_only_when_granted() {
        let caller = headers(&[
            ("authorization", "Bearer secret"),
            ("cookie", "session=1"),
            ("x-berth-tenant-key", "berth_tk_x"),
            ("accept", "text/html"),
        ]);
        let mut none = caller.clone();
        to_plugin(&mut none, &[]);
        let names: Vec<&str> = none.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);

        let mut granted = caller;
        to_plugin(&mut granted, &[ForwardedHeader::Authorization]);
        assert_eq!(granted["authorization"], "Bearer secret");
        assert!(!granted.contains_key("cookie"));
        assert!(!granted.contains_key("x-berth-tenant-key"));

        // berth's own tokens never reach a plugin, granted or not.
        for token in ["Bearer berth_0123456789ab_secret", "bearer  berth_x"] {
            let mut admin = headers(&[("authorization", token)]);
            to_plugin(&mut admin, &[ForwardedHeader::Authorization]);
            assert!(!admin.contains_key("authorization"), "{token}");
        }
    }

    #[test]
    fn plugin_responses_are_sandboxed_and_cannot_set_origin_state() {
        let mut response = headers(&[
            ("content-type", "text/html"),
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2"),
            ("Set-Cookie2", "c=3"),
            ("service-worker-allowed", "/"),
            ("clear-site-data", "\"*\""),
            (
                "content-security-policy",
                "sandbox allow-same-origin allow-scripts",
            ),
            ("x-content-type-options", "sniff-please"),
        ]);
        from_plugin(&mut response);
        let policies: Vec<&HeaderValue> =
            response.get_all("content-security-policy").iter().collect();
        assert_eq!(
            policies,
            ["sandbox allow-same-origin allow-scripts", SANDBOX_POLICY]
        );
        assert!(!SANDBOX_POLICY.contains("allow-same-origin"));
        assert_eq!(response["x-content-type-options"], "nosniff");
        for gone in STRIPPED_FROM_RESPONSES {
            assert!(!response.contains_key(gone), "{gone}");
        }
        assert_eq!(response["content-type"], "text/html");
    }

    #[test]
    fn service_worker_script_fetches_are_refused() {
        let refused =
            refuse_service_worker_scripts(&headers(&[("service-worker", "script")])).unwrap_err();
        assert_eq!(
            (refused.status, refused.code),
            (StatusCode::FORBIDDEN, "service_worker_refused")
        );
        assert!(refuse_service_worker_scripts(&headers(&[("accept", "*/*")])).is_ok());
    }
}
