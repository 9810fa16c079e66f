//! The web console in a real browser: headless Chromium driven by
//! Playwright (`tests/browser/console.mjs`) against this server — sign in,
//! upload and activate a plugin, see its widget render with its data, open
//! its page, switch the theme and see the computed style change, view the
//! dependency graph, deactivate and see it gone. Screenshots land in
//! `target/tmp/browser-artifacts/`.

use crate::support::{Server, admin_token, guest_package};
use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn the_console_manages_plugins_and_shows_their_ui_in_a_browser() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/setup.sh, which installs Debian's chromium"
    );
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let token = admin_token(&server, "acme")["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let packages = tempfile::tempdir().unwrap();
    let widget = packages.path().join("sales-widget-0.1.0.zip");
    let theme = packages.path().join("dark-theme-0.1.0.zip");
    std::fs::write(&widget, guest_package("sales-widget")).unwrap();
    std::fs::write(&theme, guest_package("dark-theme")).unwrap();

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    let output = Command::new("node")
        .arg(repo.join("tests/browser/console.mjs"))
        .env("BERTH_BASE", &server.base)
        .env("BERTH_ORG", "acme")
        .env("BERTH_TOKEN", &token)
        .env("WIDGET_ZIP", &widget)
        .env("THEME_ZIP", &theme)
        .env("ARTIFACTS", &artifacts)
        .env("CONSOLE_DIR", repo.join("host/console"))
        .env("CHROMIUM", CHROMIUM)
        .output()
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("console browser test passed"), "{stdout}");
    assert!(artifacts.join("03-dashboard-widget.png").is_file());

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
