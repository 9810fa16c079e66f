//! npm steps shared, as a source file, by the build scripts that build
//! JavaScript (the JavaScript guests' and the web console's): install the
//! locked dependencies when they are stale, and run a command or fail the
//! build saying what is missing. Uses `std` only.

use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs `npm ci` in `dir` unless `node_modules` is newer than its
/// `package-lock.json`.
pub fn install_locked(dir: &Path) {
    let modified = |path: &Path| fs::metadata(path).and_then(|m| m.modified()).ok();
    let installed = dir.join("node_modules/.package-lock.json");
    if modified(&installed) < modified(&dir.join("package-lock.json")) {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir));
    }
}

/// Runs `command`; fails the build if it cannot start or does not succeed.
pub fn run(command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| {
        panic!("running {command:?}: {e} — building JavaScript needs Node.js and npm (scripts/setup.sh)")
    });
    assert!(status.success(), "{command:?} failed");
}
