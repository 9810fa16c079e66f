//! The web console in a real browser: headless Chromium driven by
//! Playwright (`tests/browser/*.mjs`) against this server.
//!
//! - `console.mjs`: sign in, upload and activate a plugin, see its widget
//!   render with its data, open its page, switch the theme and see the
//!   computed style change, view the dependency graph, deactivate and see
//!   it gone.
//! - `isolation.mjs`: with a hostile UI plugin and a hostile route plugin
//!   active beside a good widget, every attempt on the console's token,
//!   storage, the management API or a service worker fails (so does a
//!   location hash walking the token to a tenant's route), and the good
//!   widget still renders.
//!
//! - `admin.mjs`: the org administration — consent in words narrowed by
//!   keyboard (and cancelled with Escape), an upgrade's difference, a connector's settings form with a
//!   secret and field errors, an integration action's output and error,
//!   a followed log, the traffic charts, a token created, copied and
//!   revoked, the locked signing policy, the audit log paged and filtered,
//!   every view at 375 px — with axe-core finding no serious or critical
//!   accessibility violation on any of them.
//!
//! Screenshots land in `target/tmp/browser-artifacts/`.

use crate::support::{Server, Upstream, admin_secret, guest_package, guest_package_with};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the browser tests' screenshots go.
fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts")
}

/// A server with org `acme` and one of its admin tokens; `acme` has
/// invoices worth 48,250 EUR over 17 deals, which the sales widget shows.
fn server_with_admin() -> (Server, String) {
    seeded(Server::start(&["--no-demo"]))
}

/// `server` with org `acme`, its invoices, and one of its admin tokens.
fn seeded(server: Server) -> (Server, String) {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/setup.sh, which installs Debian's chromium"
    );
    server.create_org("acme");
    for amount in [2800; 16].into_iter().chain([3450]) {
        let invoice = serde_json::json!({ "customer": "c", "amount": amount, "currency": "EUR" });
        assert_eq!(
            server.post_json("/o/acme/api/invoices", invoice).status,
            201
        );
    }
    let token = admin_secret(&server, "acme");
    (server, token)
}

/// Runs `tests/browser/{script}` against `server` as `acme`'s admin, with
/// `extra` environment; asserts it succeeds and says `{passed}`.
fn run_browser_script(
    server: &Server,
    token: &str,
    script: &str,
    extra: &[(&str, &Path)],
    passed: &str,
) {
    let repo = repo();
    let mut command = Command::new("node");
    command
        .arg(repo.join("tests/browser").join(script))
        .env("BERTH_BASE", &server.base)
        .env("BERTH_ORG", "acme")
        .env("BERTH_TOKEN", token)
        .env("ARTIFACTS", artifacts())
        .env("CONSOLE_DIR", repo.join("host/console"))
        .env("CHROMIUM", CHROMIUM);
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = command.output().expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(passed), "{stdout}");
}

#[test]
fn the_console_manages_plugins_and_shows_their_ui_in_a_browser() {
    let (server, token) = server_with_admin();
    let packages = tempfile::tempdir().unwrap();
    let widget = packages.path().join("sales-widget-0.1.0.zip");
    let theme = packages.path().join("dark-theme-0.1.0.zip");
    std::fs::write(&widget, guest_package("sales-widget")).unwrap();
    std::fs::write(&theme, guest_package("dark-theme")).unwrap();

    run_browser_script(
        &server,
        &token,
        "console.mjs",
        &[("WIDGET_ZIP", &widget), ("THEME_ZIP", &theme)],
        "console browser test passed",
    );
    assert!(artifacts().join("03-dashboard-widget.png").is_file());

    // What the browser did is what the server holds.
    let plugins = server.get("/api/v1/orgs/acme/plugins").json();
    let state = |name: &str| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["state"].clone())
    };
    assert_eq!(state("sales-widget"), Some("installed".into()));
    assert_eq!(state("dark-theme"), Some("active".into()));
}

#[test]
fn the_console_administers_an_org_in_a_browser() {
    const SECRET: &str = "sk-console-5e6f7a8b9c";
    let upstream = Upstream::start();
    let (server, token) = seeded(Server::start_reaching(&upstream));
    let locked = server.put_json(
        "/api/v1/orgs/acme/signature-policy",
        json!({ "require-signature": false, "locked": true }),
    );
    assert_eq!(locked.status, 200, "{locked:?}");
    let packages = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = packages.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    // hello declares more than it uses, so that the admin can refuse some.
    let hello = write(
        "hello-0.1.0.zip",
        guest_package_with("hello", |m| {
            m["permissions"] =
                json!({ "routes": ["/"], "storage": ["read", "write"], "config": ["greeting"] });
        }),
    );
    let upgrade = write(
        "hello-0.2.0.zip",
        guest_package_with("hello", |m| {
            m["version"] = json!("0.2.0");
            m["permissions"] = json!({
                "routes": ["/"], "storage": ["read", "write"],
                "network": ["api.example.com"]
            });
        }),
    );
    let port = upstream.addr.port();
    let webhook = write(
        "webhook-0.1.0.zip",
        guest_package_with("webhook", |m| {
            m["permissions"]["network"] = json!([format!("127.0.0.1:{port}")]);
        }),
    );
    let upstream_url = PathBuf::from(format!("http://127.0.0.1:{port}/hook"));

    run_browser_script(
        &server,
        &token,
        "admin.mjs",
        &[
            ("HELLO_ZIP", &hello),
            ("HELLO_UPGRADE_ZIP", &upgrade),
            ("WEBHOOK_ZIP", &webhook),
            ("UPSTREAM_URL", &upstream_url),
            ("SECRET", Path::new(SECRET)),
        ],
        "admin browser test passed",
    );
    assert!(artifacts().join("30-narrow-plugins.png").is_file());

    // What the browser did is what the server holds: the narrowed grant,
    // upgraded with the new host; the connector configured with the secret,
    // which delivered the action's message. Writing, refused for 0.1.0,
    // stays refused for 0.2.0, which still asks for it.
    let hello = server.get("/api/v1/orgs/acme/plugins/hello").json();
    assert_eq!(
        (&hello["version"], &hello["state"]),
        (&json!("0.2.0"), &json!("active"))
    );
    assert_eq!(hello["granted"]["storage"], json!(["read"]));
    assert_eq!(hello["granted"]["network"], json!(["api.example.com"]));
    assert_eq!(hello["granted"].get("config"), None, "no longer asked for");
    let config = server
        .get("/api/v1/orgs/acme/plugins/webhook/config")
        .json();
    assert_eq!(config["secrets"], json!(["api-key"]));
    let delivered = upstream.requests();
    assert!(
        delivered
            .iter()
            .any(|r| r.contains("hello from the console") && r.contains(SECRET)),
        "{delivered:?}"
    );
    let tokens = server.get("/api/v1/orgs/acme/tokens").json();
    assert_eq!(
        tokens.as_array().unwrap().len(),
        1,
        "only the test's token is left: {tokens}"
    );
}

#[test]
pub(crate) fn hostile_plugins_get_nothing_of_the_consoles_powers_in_a_browser() {
    let (server, token) = server_with_admin();
    for guest in ["sales-widget", "hostile-widget", "hostile-page"] {
        server.install_active("acme", &guest_package(guest));
    }
    let plugins_before = server.get("/api/v1/orgs/acme/plugins").json();
    let audit_before = server.get("/api/v1/orgs/acme/audit").json();

    run_browser_script(
        &server,
        &token,
        "isolation.mjs",
        &[],
        "isolation browser test passed",
    );
    assert!(artifacts().join("11-hostile-page.png").is_file());

    // Nothing the hostile plugins tried changed anything on the server.
    assert_eq!(
        server.get("/api/v1/orgs/acme/plugins").json(),
        plugins_before
    );
    assert_eq!(server.get("/api/v1/orgs/acme/audit").json(), audit_before);
}
