//! UI and theme plugins over HTTP, with the real `dark-theme` (asset-only)
//! and `sales-widget` (route + static and exported contributions) guests:
//! assets with content types, strong ETags, caching and CSP headers; path
//! traversal refused; the merged manifest in a stable order with the theme
//! rule; grants cutting contributions; deactivation removing them at once;
//! bad UI manifests refused with nothing written.

use crate::support::{Server, files_under, guest_package, guest_package_with};
use serde_json::json;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'self'; sandbox allow-scripts";

fn ui_manifest(server: &Server) -> serde_json::Value {
    let reply = server.get("/o/acme/ui/manifest.json");
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
}

#[test]
pub(crate) fn assets_are_served_with_types_etags_and_a_strict_policy() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("sales-widget"));

    let script = server.get("/o/acme/ui/sales-widget/widget.js");
    assert_eq!(script.status, 200, "{script:?}");
    assert_eq!(script.content_type, "text/javascript; charset=utf-8");
    assert!(script.body.contains("export default async function mount"));
    assert_eq!(script.header("content-security-policy"), CSP);
    assert_eq!(script.header("x-content-type-options"), "nosniff");
    assert_eq!(script.header("cache-control"), "no-cache");
    let etag = script.header("etag").to_owned();
    assert!(
        etag.starts_with('"') && etag.len() == 66,
        "strong SHA-256 ETag: {etag}"
    );

    let again = server.get_with(
        "/o/acme/ui/sales-widget/widget.js",
        &[("if-none-match", &etag)],
    );
    assert_eq!(again.status, 304);
    assert_eq!(again.body, "");
    let changed = server.get_with(
        "/o/acme/ui/sales-widget/widget.js",
        &[("if-none-match", "\"x\"")],
    );
    assert_eq!(changed.status, 200);
    let head = server.head("/o/acme/ui/sales-widget/report.js");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("etag").len(), 66);

    // The widget's data comes from the plugin's own route.
    let data = server.get("/o/acme/p/sales-widget/summary").json();
    assert_eq!(data["currency"], "EUR");

    // Traversal and other odd paths are refused before any file is read;
    // files outside the assets folder (manifest.json, the component) are
    // never reachable.
    for path in [
        "%2e%2e/manifest.json",
        "..%2fmanifest.json",
        "%2E%2E/sales_widget.wasm",
        "a%5c..%5c..%5cmanifest.json",
        "widget.js%00.png",
        "%2fetc%2fpasswd",
    ] {
        let (status, body) =
            server.raw_request(&format!("GET /o/acme/ui/sales-widget/{path} HTTP/1.1"), b"");
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("invalid_asset_path"), "{path}: {body}");
    }
    let (status, body) =
        server.raw_request("GET /o/acme/ui/sales-widget/../manifest.json HTTP/1.1", b"");
    assert!(matches!(status, 400 | 404), "{status}: {body}");
    assert!(!body.contains("sales_widget.wasm"));
    for missing in [
        "/o/acme/ui/sales-widget/nope.js",
        "/o/acme/ui/ghost/widget.js",
    ] {
        assert_eq!(server.get(missing).error_code(), "asset_not_found");
    }
    assert_eq!(
        server
            .post("/o/acme/ui/sales-widget/widget.js")
            .error_code(),
        "method_not_allowed"
    );
    // An unknown org looks like one without UI plugins.
    assert_eq!(
        server.get("/o/nope/ui/manifest.json").json(),
        serde_json::json!({ "pages": [], "slots": {}, "theme": null })
    );
    assert_eq!(
        server.get("/o/nope/ui/sales-widget/widget.js").error_code(),
        "asset_not_found"
    );
}

#[test]
pub(crate) fn the_merged_manifest_follows_activations_grants_and_the_theme_rule() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    assert_eq!(
        ui_manifest(&server),
        json!({ "pages": [], "slots": {}, "theme": null })
    );

    server.install_active("acme", &guest_package("sales-widget"));
    server.install_active("acme", &guest_package("dark-theme"));
    let merged = ui_manifest(&server);
    assert_eq!(
        merged["slots"],
        json!({ "dashboard.widgets": [{
            "plugin": "sales-widget",
            "name": "sales",
            "entry": "/o/acme/ui/sales-widget/widget.js",
            "data": "/o/acme/p/sales-widget/summary"
        }]})
    );
    // The page comes from the component's `ui` export, at activation.
    assert_eq!(
        merged["pages"],
        json!([{
            "plugin": "sales-widget",
            "route": "/report",
            "title": "Sales report",
            "entry": "/o/acme/ui/sales-widget/report.js"
        }])
    );
    assert_eq!(merged["theme"]["plugin"], "dark-theme");
    assert_eq!(merged["theme"]["tokens"]["color-bg"], "#0d1117");
    let css = server.get("/o/acme/ui/dark-theme/theme.css");
    assert_eq!(css.content_type, "text/css; charset=utf-8");

    // A second theme activated later wins; deactivated, the first is back.
    let light = guest_package_with("dark-theme", |m| {
        m["name"] = json!("light-theme");
        m["ui"]["theme"]["color-bg"] = json!("#ffffff");
    });
    server.install_active("acme", &light);
    let theme = ui_manifest(&server)["theme"].clone();
    assert_eq!(theme["plugin"], "light-theme");
    assert_eq!(theme["tokens"]["color-bg"], "#ffffff");
    assert_eq!(theme["overridden"], json!(["dark-theme"]));
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/light-theme/deactivate")
            .status,
        200
    );
    assert_eq!(ui_manifest(&server)["theme"]["plugin"], "dark-theme");

    // A narrower grant: the widget but no pages.
    let narrowed = server.post_json(
        "/api/v1/orgs/acme/plugins/sales-widget/activate",
        json!({ "grant": { "routes": ["/summary"], "ui": { "slots": ["dashboard.widgets"] } } }),
    );
    assert_eq!(narrowed.status, 200, "{narrowed:?}");
    let merged = ui_manifest(&server);
    assert_eq!(merged["pages"], json!([]));
    assert_eq!(merged["slots"]["dashboard.widgets"][0]["name"], "sales");

    // Deactivated: contributions and assets are gone at once.
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/sales-widget/deactivate")
            .status,
        200
    );
    assert_eq!(ui_manifest(&server)["slots"], json!({}));
    assert_eq!(
        server.get("/o/acme/ui/sales-widget/widget.js").error_code(),
        "asset_not_found"
    );
    assert_eq!(
        server
            .post("/api/v1/orgs/acme/plugins/dark-theme/deactivate")
            .status,
        200
    );
    assert_eq!(
        ui_manifest(&server),
        json!({ "pages": [], "slots": {}, "theme": null })
    );
}

/// A change to a manifest.
type ManifestEdit = fn(&mut serde_json::Value);

#[test]
fn ui_manifests_that_overreach_are_refused_and_write_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let cases: [(&str, ManifestEdit); 4] = [
        ("slot not declared", |m| {
            m["permissions"]["ui"]["slots"] = json!([]);
        }),
        ("theme not declared", |m| {
            m["ui"]["theme"] = json!({ "color-bg": "#000" });
        }),
        ("entry missing from assets", |m| {
            m["ui"]["components"][0]["entry"] = json!("missing.js");
        }),
        ("entry escaping assets", |m| {
            m["ui"]["components"][0]["entry"] = json!("../manifest.json");
        }),
    ];
    for (case, edit) in cases {
        let reply = server.install("acme", &guest_package_with("sales-widget", edit));
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_manifest"),
            "{case}: {reply:?}"
        );
        assert_eq!(
            server.get("/api/v1/orgs/acme/plugins").json(),
            json!([]),
            "{case}"
        );
        assert!(
            files_under(&server.data.join("packages")).is_empty(),
            "{case}"
        );
    }
}
