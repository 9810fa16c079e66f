//! The web console in a real browser: headless Chromium driven by
//! Playwright (`tests/browser/*.mjs`) against this server.
//!
//! - `console.mjs`: sign in, upload and activate a plugin, see its widget
//!   render with its data, open its page, switch the theme and see the
//!   computed style change, view the dependency graph, deactivate and see
//!   it gone.
//! - `isolation.mjs`: with a hostile UI plugin and a hostile route plugin
//!   active beside a good widget, every attempt on the console's token,
//!   storage, the management API or a service worker fails, and the good
//!   widget still renders.
//!
//! Screenshots land in `target/tmp/browser-artifacts/`.

use crate::support::{Server, admin_token, guest_package};
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
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/setup.sh, which installs Debian's chromium"
    );
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    for amount in [2800; 16].into_iter().chain([3450]) {
        let invoice = serde_json::json!({ "customer": "c", "amount": amount, "currency": "EUR" });
        assert_eq!(
            server.post_json("/o/acme/api/invoices", invoice).status,
            201
        );
    }
    let token = admin_token(&server, "acme")["token"]
        .as_str()
        .unwrap()
        .to_owned();
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
