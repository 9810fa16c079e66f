//! Components that cannot be served are refused at startup with a clear
//! error naming the file and the reason, and a non-zero exit.

use crate::support::berth_command;

/// Runs `berth serve --plugin acme/bad=FILE` with `bytes` in FILE and
/// returns (exit success, stderr).
fn serve_with_component(bytes: &[u8]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.wasm");
    std::fs::write(&file, bytes).unwrap();
    let spec = format!("acme/bad={}", file.display());
    let output = berth_command(&dir.path().join("data"), &["--plugin", &spec])
        .output()
        .expect("running berth");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr, file.display().to_string())
}

fn assert_refused(bytes: &[u8], reason: &str) {
    let (ok, stderr, file) = serve_with_component(bytes);
    assert!(!ok, "berth started with a bad component; stderr:\n{stderr}");
    assert!(
        stderr.contains(&file),
        "error does not name {file}:\n{stderr}"
    );
    assert!(
        stderr.contains(reason),
        "error does not say `{reason}`:\n{stderr}"
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    assert_refused(b"#!/bin/sh\necho hi\n", "not a WebAssembly file");
}

#[test]
fn a_core_module_is_refused() {
    // The smallest valid core module: magic + version 1.
    assert_refused(
        b"\0asm\x01\0\0\0",
        "a core WebAssembly module, not a component",
    );
}

#[test]
fn a_component_without_an_http_handler_is_refused() {
    // The smallest valid component: magic + component version/layer.
    assert_refused(b"\0asm\x0d\0\x01\0", "exports no HTTP handler");
}

#[test]
fn a_missing_file_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let output = berth_command(data.path(), &["--plugin", "acme/x=/no/such/file.wasm"])
        .output()
        .expect("running berth");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("/no/such/file.wasm"), "{stderr}");
}
