//! Answers for UI files: the content type from the extension, a strong
//! ETag (the SHA-256 of the bytes) honouring `If-None-Match` with 304,
//! `Cache-Control: no-cache` (browsers revalidate, since an upgrade serves
//! new bytes at the same URL), `X-Content-Type-Options: nosniff`,
//! `Access-Control-Allow-Origin: *` (the files are public, and the sandboxed
//! frames UI plugins run in load them from an opaque origin), and a strict
//! Content-Security-Policy: scripts, styles, fonts and data load only from
//! berth itself, nothing may frame the page but berth, and no plugin script
//! can pull code from elsewhere.

use crate::common::error::{ApiError, full_body};
use berth_storage::Digest;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The Content-Security-Policy of the console's files: besides the strict
/// defaults, the console may frame its own pages (the sandboxed frames UI
/// plugins run in) and may start no worker at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     frame-src 'self'; worker-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'self'";

/// The Content-Security-Policy of plugin assets: strict defaults like the
/// console's, plus a sandbox, so a plugin's HTML or SVG opened directly runs
/// in an opaque origin and cannot reach the console's session or the API
/// with it. (Module scripts the plugin frames import are not affected: a
/// policy on a script response does not apply to the document importing it.)
pub const PLUGIN_ASSET_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts";

/// The media type served for a file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The file path an asset URL names: percent-decoded, then held to the
/// rules of package entry names (no `..`, `.`, empty segments, absolute
/// paths, backslashes, NUL or control characters). 400
/// `invalid_asset_path` otherwise.
pub fn decode_asset_path(raw: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_asset_path",
            format!("asset path {raw:?}: {why}"),
        )
    };
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        if b == b'%' {
            let hex = [input.next(), input.next()];
            // Two hex digits exactly (`from_str_radix` alone would take a sign).
            let decoded = match hex {
                [Some(h), Some(l)] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                    std::str::from_utf8(&[h, l])
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok())
                }
                _ => None,
            };
            bytes.push(decoded.ok_or_else(|| invalid("bad percent-encoding"))?);
        } else {
            bytes.push(b);
        }
    }
    let path = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    crate::package::check_relative_path(&path).map_err(invalid)?;
    if path.ends_with('/') {
        return Err(invalid("names a folder"));
    }
    Ok(path)
}

/// Whether a request for static files is a `HEAD` (`false` for `GET`);
/// other methods are refused with 405, naming `what` is served there.
pub fn is_head(method: &Method, what: &str) -> Result<bool, ApiError> {
    match *method {
        Method::GET => Ok(false),
        Method::HEAD => Ok(true),
        ref other => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{other} is not supported on {what}"),
        )),
    }
}

/// `bytes` served as `content_type` with the UI headers and `policy` as
/// the Content-Security-Policy; 304 without a body when `request_headers`
/// hold a matching `If-None-Match`, and no body for `HEAD`.
pub fn static_response(
    bytes: Bytes,
    content_type: &'static str,
    request_headers: &HeaderMap,
    head: bool,
    policy: HeaderValue,
) -> Response<HyperOutgoingBody> {
    let etag = format!("\"{}\"", Digest::of(&bytes).to_hex());
    let not_modified = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let (status, body) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if head {
        (StatusCode::OK, Bytes::new())
    } else {
        (StatusCode::OK, bytes.clone())
    };
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == StatusCode::OK {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_are_decoded_then_confined() {
        assert_eq!(decode_asset_path("css/theme.css").unwrap(), "css/theme.css");
        assert_eq!(decode_asset_path("a%20b.js").unwrap(), "a b.js");
        for bad in [
            "../manifest.json",
            "%2e%2e/secret",
            "a/%2E%2E/%2E%2E/x",
            "/etc/passwd",
            "%2fetc/passwd",
            "a\\..\\b",
            "a%5c..%5cb",
            "x%00.js",
            "a//b",
            "dir/",
            "%zz",
            "%+d",
            "a%-1b",
        ] {
            let error = decode_asset_path(bad).unwrap_err();
            assert_eq!(error.code, "invalid_asset_path", "{bad}");
        }
    }

    #[test]
    fn etags_are_strong_hashes_and_matching_requests_get_304() {
        let bytes = Bytes::from_static(b"body { color: red }");
        let first = static_response(
            bytes.clone(),
            content_type("a.css"),
            &HeaderMap::new(),
            false,
            HeaderValue::from_static(PLUGIN_ASSET_POLICY),
        );
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        assert!(etag.to_str().unwrap().starts_with('"'));
        assert_eq!(
            first.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        assert_eq!(first.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let mut revalidate = HeaderMap::new();
        revalidate.insert(header::IF_NONE_MATCH, etag);
        let policy = HeaderValue::from_static(PLUGIN_ASSET_POLICY);
        let second = static_response(bytes, "text/css", &revalidate, false, policy);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert!(
            second
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }
}
