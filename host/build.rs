//! Build step: embeds the WIT package (`../wit`, with its `deps/`) so that
//! `berth wit` can print or write exactly the API the binary serves.
//! Writes `$OUT_DIR/wit_files.rs`: `WIT_FILES: &[(path, contents)]`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let wit = manifest_dir
        .join("../wit")
        .canonicalize()
        .expect("the wit/ folder");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut files = Vec::new();
    collect(&wit, &wit, &mut files);
    files.sort();
    let mut generated = String::from(
        "/// The WIT package berth serves: (path inside `wit/`, contents).\n\
         pub static WIT_FILES: &[(&str, &str)] = &[\n",
    );
    for (relative, path) in &files {
        writeln!(generated, "    ({relative:?}, include_str!({path:?})),").expect("a String");
    }
    generated.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out.join("wit_files.rs"), generated).expect("writing wit_files.rs");
}

/// Every `.wit`, `.json` and `.md` file under `dir`: (relative path, absolute path).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("reading wit/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if path
            .extension()
            .is_some_and(|e| e == "wit" || e == "json" || e == "md")
        {
            let relative = path.strip_prefix(root).expect("under wit/");
            files.push((
                relative.to_string_lossy().into_owned(),
                path.display().to_string(),
            ));
        }
    }
}
