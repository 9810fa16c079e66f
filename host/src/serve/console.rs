//! The web console at `/console/`: the files of the `berth-console` crate
//! (built from `host/console/web` with Vite), served like UI assets — with
//! ETags, `no-cache` and the strict Content-Security-Policy. The console
//! talks to the management API with the org-admin token it signs in with,
//! kept in the page's memory only.
//!
//! UI plugin code never runs in the console's page: each slot component and
//! page runs in a sandboxed iframe holding [`FRAME_PAGE`], served with
//! [`frame_policy`] — an opaque origin that may load scripts only from the
//! console's own bundle and the org's UI assets, and reach the network not
//! at all (it asks the console for its plugin's routes by `postMessage`).

use crate::common::error::ApiError;
use crate::serve::ui::assets::{CONTENT_SECURITY_POLICY, content_type, is_head, static_response};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Where the console is served.
pub const PREFIX: &str = "/console";

/// The page UI plugin modules run in, as `frame.html?org={org}`.
pub const FRAME_PAGE: &str = "frame.html";

/// Answers a request under [`PREFIX`]; `scheme` is berth's (`http` or `https`).
pub fn handle<B>(
    request: &Request<B>,
    scheme: &str,
) -> Result<Response<HyperOutgoingBody>, ApiError> {
    let path = request.uri().path();
    let head = is_head(request.method(), "the console")?;
    let Some(file) = path.strip_prefix("/console/") else {
        let mut redirect = Response::new(crate::common::error::full_body(Bytes::new()));
        *redirect.status_mut() = StatusCode::PERMANENT_REDIRECT;
        redirect
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/console/"));
        return Ok(redirect);
    };
    let file = if file.is_empty() { "index.html" } else { file };
    let policy = if file == FRAME_PAGE {
        frame_policy(request, scheme)?
    } else {
        HeaderValue::from_static(CONTENT_SECURITY_POLICY)
    };
    let bytes = berth_console::file(file)
        .ok_or_else(|| ApiError::not_found(format!("no console file {file}")))?;
    Ok(static_response(
        Bytes::from_static(bytes),
        content_type(file),
        request.headers(),
        head,
        policy,
    ))
}

/// The Content-Security-Policy of the frame page for the org its query
/// names (`?org=acme`): scripts and styles only from the console's bundle
/// and `/o/{org}/ui/`, images and fonts only from the latter, no network
/// access, framed only by the console, and sandboxed even when opened on
/// its own. Sources name berth's origin as the request reached it, since a
/// sandboxed document's own origin is opaque.
fn frame_policy<B>(request: &Request<B>, scheme: &str) -> Result<HeaderValue, ApiError> {
    let bad = |why: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", why);
    let org = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("org="))
        .ok_or_else(|| bad(format!("{FRAME_PAGE} needs ?org=")))?;
    crate::common::ids::validate(org).map_err(|why| bad(format!("org {why}")))?;
    let host = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(header::HOST)?.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(|| bad("a Host header naming berth is needed".to_owned()))?;
    let origin = format!("{scheme}://{host}");
    let (console, ui) = (
        format!("{origin}/console/assets/"),
        format!("{origin}/o/{org}/ui/"),
    );
    let policy = format!(
        "default-src 'none'; script-src {console} {ui}; style-src {console} {ui}; \
         img-src {ui} data:; font-src {ui}; connect-src 'none'; base-uri 'none'; \
         form-action 'none'; frame-ancestors {origin}; sandbox allow-scripts"
    );
    HeaderValue::from_str(&policy).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(uri: &str, host: &str) -> Result<HeaderValue, ApiError> {
        let request = Request::get(uri).header("host", host).body(()).unwrap();
        frame_policy(&request, "https")
    }

    #[test]
    fn the_frame_page_may_load_code_only_from_the_console_and_its_orgs_assets() {
        let policy = frame("/console/frame.html?org=acme", "berth.example:8443").unwrap();
        let policy = policy.to_str().unwrap();
        assert!(
            policy.contains(
                "script-src https://berth.example:8443/console/assets/ \
                 https://berth.example:8443/o/acme/ui/;"
            ),
            "{policy}"
        );
        assert!(policy.contains("connect-src 'none'"), "{policy}");
        assert!(policy.ends_with("sandbox allow-scripts"), "{policy}");
        assert!(!policy.contains("allow-same-origin"), "{policy}");
    }

    #[test]
    fn frame_pages_for_bad_orgs_or_hosts_are_refused() {
        for (uri, host) in [
            ("/console/frame.html", "h"),
            ("/console/frame.html?org=", "h"),
            ("/console/frame.html?org=a%20b", "h"),
            ("/console/frame.html?org=acme;script-src", "h"),
            ("/console/frame.html?org=acme", "h;script-src"),
            ("/console/frame.html?org=acme", "h *"),
        ] {
            let error = frame(uri, host).unwrap_err();
            assert_eq!(error.code, "bad_request", "{uri} {host}");
        }
    }
}
