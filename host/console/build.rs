//! Build step: builds the console from `web/` with Vite (installing the
//! locked npm dependencies first when needed) into `$OUT_DIR/console`, and
//! writes `$OUT_DIR/console_files.rs`, which embeds every built file as
//! `FILES: &[(path, bytes)]`. Needs Node.js and npm (`scripts/setup.sh`).

#[path = "../../guests/artifacts/npm.rs"]
mod npm;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for input in ["web", "package.json", "package-lock.json", "vite.config.js"] {
        println!("cargo:rerun-if-changed={}", dir.join(input).display());
    }

    npm::install_locked(&dir);
    let built = out.join("console");
    npm::run(
        Command::new("node")
            .arg(dir.join("node_modules/vite/bin/vite.js"))
            .arg("build")
            .env("BERTH_CONSOLE_OUT", &built)
            .current_dir(&dir),
    );

    let mut files = Vec::new();
    collect(&built, &built, &mut files);
    files.sort();
    let mut generated = String::from(
        "/// Every file of the built console: path relative to `/console/`, bytes.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (relative, path) in &files {
        writeln!(generated, "    ({relative:?}, include_bytes!({path:?})),").expect("a String");
    }
    generated.push_str("];\n");
    fs::write(out.join("console_files.rs"), generated).expect("writing console_files.rs");
}

/// Every file under `dir`, as (path relative to `root`, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            files.push((relative, path.display().to_string()));
        }
    }
}
