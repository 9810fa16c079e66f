//! Crash safety: SIGKILL the server while uploads are in flight, restart it
//! on the same data directory, and check the registry and the disk agree —
//! every installation's files exist, and no file exists that none references.

use crate::support::{OPERATOR_TOKEN, Server, guest_package_with};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

fn names_in(dir: &Path, suffix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .map(|name| name.strip_suffix(suffix).unwrap_or(&name).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts registry and disk agree (the installed versions' packages and
/// the previous versions' kept for rollback); returns the installed version.
fn assert_consistent(server: &Server) -> String {
    let plugins = server.get("/api/v1/orgs/acme/plugins").json();
    let referenced: BTreeSet<String> = plugins
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| [&p["digest"], &p["previous"]["digest"]])
        .filter_map(|digest| Some(digest.as_str()?.to_owned()))
        .collect();
    let packages = server.data.join("packages");
    assert_eq!(
        names_in(&packages.join("blobs"), ".zip"),
        referenced,
        "blobs vs registry"
    );
    assert_eq!(
        names_in(&packages.join("extracted"), ""),
        referenced,
        "extracted vs registry"
    );
    for digest in &referenced {
        assert!(
            packages
                .join(format!("extracted/{digest}/manifest.json"))
                .is_file()
        );
    }
    plugins[0]["version"].as_str().unwrap_or("none").to_owned()
}

#[test]
fn sigkill_during_installs_leaves_registry_and_disk_in_agreement() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start_in(data.path(), &["--no-demo"]);
    first.create_org("acme");
    // Installed once before the crashes, so every round's uploads find the
    // component compiled and have time to commit before the kill.
    let warm_up = guest_package_with("hello", |m| m["version"] = "0.1.0".into());
    assert_eq!(first.install("acme", &warm_up).status, 201);
    drop(first);

    let mut versions = Vec::new();
    for round in 0..6u64 {
        let mut server = Server::start_in(data.path(), &["--no-demo"]);
        versions.push(assert_consistent(&server));
        let base = server.base.clone();
        let uploader = std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            for i in 0.. {
                let zip =
                    guest_package_with("hello", |m| m["version"] = format!("1.{round}.{i}").into());
                let sent = agent
                    .post(format!("{base}/api/v1/orgs/acme/plugins"))
                    .header("content-type", "application/zip")
                    .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
                    .send(&zip);
                if sent.is_err() {
                    break; // the server is gone
                }
            }
        });
        std::thread::sleep(Duration::from_millis(150 + 60 * round));
        server.kill();
        uploader.join().unwrap();
    }
    let server = Server::start_in(data.path(), &["--no-demo"]);
    versions.push(assert_consistent(&server));
    assert!(
        versions.iter().any(|v| v.starts_with("1.")),
        "no upload completed between crashes: {versions:?}"
    );
}
