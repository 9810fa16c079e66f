//! The README's shell blocks, run exactly as written. A block marked
//! `<!-- README test: NAME -->` is taken from README.md and run with bash
//! against a real server on loopback; the only change is the address, since
//! tests run side by side on ephemeral ports rather than on 8080. The CLI's
//! saved profiles go to the block's temporary folder (`BERTH_CLI_CONFIG`),
//! never the user's own.

use crate::support::{OPERATOR_TOKEN, Server, guest_package};
use std::path::Path;
use std::process::Command;

/// The shell block marked `name` in README.md.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("reading README.md");
    let marker = format!("<!-- README test: {name} -->\n```sh\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no block marked {name}"))
        + marker.len();
    let length = readme[start..].find("```").expect("the block ends");
    readme[start..start + length].to_owned()
}

/// Runs block `name` with bash in `folder` against `server`, with the
/// test's `berth` first on `PATH` and `OPERATOR_TOKEN` set as the README
/// asks; returns what it printed, failing when bash fails.
fn run_block(name: &str, server: &Server, folder: &Path) -> String {
    let script = readme_block(name).replace("http://127.0.0.1:8080", &server.base);
    let berth = Path::new(env!("CARGO_BIN_EXE_berth"));
    let path = format!(
        "{}:{}",
        berth.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", &script])
        .current_dir(folder)
        .env("PATH", path)
        .env("OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("BERTH_CLI_CONFIG", folder.join("berth-cli.toml"))
        .env_remove("BERTH_TOKEN")
        .env_remove("BERTH_SERVER")
        .env_remove("BERTH_ORG")
        .env_remove("BERTH_PROFILE")
        .output()
        .expect("running bash");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "README block {name} failed:\n{printed}"
    );
    printed
}

#[test]
fn the_quick_start_calls_answer_as_the_readme_says() {
    let server = Server::start(&[]);
    let folder = tempfile::tempdir().unwrap();
    let printed = run_block("quick-start", &server, folder.path());
    for expected in [
        "Hello from berth!",
        r#"{"param":"world","path":"/echo/world"}"#,
        r#"{"status":"ok"}"#,
        r#""name":"Ada""#,
        r#""email":"ada@x.org""#,
        "vetoed",
    ] {
        assert!(printed.contains(expected), "no {expected} in:\n{printed}");
    }
}

#[test]
fn the_management_api_walkthrough_runs_as_written() {
    let server = Server::start(&["--no-demo"]);
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("hello-0.1.0.zip"),
        guest_package("hello"),
    )
    .unwrap();
    let printed = run_block("management-api", &server, folder.path());
    for expected in [
        r#""name":"hello""#,
        r#"{"param":"hi","path":"/echo/hi"}"#,
        "plugin_not_found",
        r#""action":"uninstall""#,
        "org_not_found",
    ] {
        assert!(printed.contains(expected), "no {expected} in:\n{printed}");
    }
    // The org, its token and the install happened, and nothing else failed.
    assert_eq!(printed.matches(r#""error""#).count(), 2, "{printed}");
}

#[test]
fn the_cli_walkthrough_runs_as_written() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("demo");
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("hello-0.1.0.zip"),
        guest_package("hello"),
    )
    .unwrap();
    let printed = run_block("cli", &server, folder.path());
    for expected in [
        "created org acme",
        "installed hello 0.1.0 (installed)",
        "activated hello 0.1.0 (active)",
        r#"{"param":"hi","path":"/echo/hi"}"#,
        "INFO  hello: Method::Get /echo/hi",
        "uninstalled hello",
        "berth: error: org_not_found",
        "exit 5",
    ] {
        assert!(printed.contains(expected), "no {expected} in:\n{printed}");
    }
    let plugins = printed
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_default();
    assert_eq!(
        plugins.split_whitespace().take(4).collect::<Vec<_>>(),
        ["hello", "0.1.0", "active", "0.2.0"]
    );
    assert!(folder.path().join("berth-cli.toml").exists());
}

#[test]
fn the_author_walkthrough_runs_as_written() {
    let server = Server::start(&["--no-demo"]);
    let folder = tempfile::tempdir().unwrap();
    let printed = run_block("author", &server, folder.path());
    assert!(printed.contains("Hello from greeter!"), "{printed}");
    assert!(!printed.contains(r#""error""#), "{printed}");
}
