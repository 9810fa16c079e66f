//! Build step: compiles every guest plugin in `guests/` to a component —
//! Rust crates for wasm32-wasip2, JavaScript guests (a `package.json`)
//! with componentize-js, Python guests (an `app.py`) with componentize-py
//! — and writes `$OUT_DIR/components.rs`, which names each one
//! (`HELLO_COMPONENT` = path, `HELLO_COMPONENT_BYTES` = contents).
//!
//! Everything it writes goes under the target directory: JavaScript and
//! Python guests are built from a copy of their folder there (with its
//! `node_modules/` or `__pycache__/`), so the watched `guests/` holds only
//! sources and a second build with nothing changed reruns nothing.
//!
//! Toolchain: the rustup toolchain when it has the `wasm32-wasip2` target;
//! otherwise Debian's `rustc-web` with `-Zbuild-std` (see
//! `shared/wasm-toolchain.md`); otherwise a clear error pointing at
//! `scripts/setup.sh`. Guests share one target directory across host build
//! profiles (`target/wasm-guests`), so debug and release reuse one build.

#[path = "componentize_py.rs"]
mod componentize_py;
#[path = "npm.rs"]
mod npm;
#[path = "toolchain.rs"]
mod toolchain;
#[path = "wasi_relabel.rs"]
mod wasi_relabel;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use toolchain::{TARGET, Toolchain};
use wasi_relabel::relabel_for_componentize_js;
/// The first eight bytes of every component binary: magic, version 0x0d, layer 1.
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\0\x01\0";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let guests_dir = manifest_dir.parent().expect("artifacts lives in guests/");
    let repo = guests_dir.parent().expect("guests lives in the repo");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
        .join("wasm-guests");

    let guests = guests_with(guests_dir, "Cargo.toml");
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());
    // Every guest's sources; a new guest folder (asset-only ones too) must
    // reach `foreach_guest!`.
    println!("cargo:rerun-if-changed={}", guests_dir.display());

    let toolchain = Toolchain::detect().unwrap_or_else(|e| panic!("{e}"));
    let mut cargo = toolchain.cargo_build(guests_dir, &target_dir);
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("running {cargo:?}: {e}"));
    assert!(
        status.success(),
        "building the guest plugins failed: {cargo:?}"
    );

    let out_dir = target_dir.join(TARGET).join("release");
    let mut built: Vec<(String, PathBuf)> = guests
        .iter()
        .map(|guest| {
            let wasm = out_dir.join(format!("{}.wasm", guest.replace('-', "_")));
            (guest.clone(), wasm)
        })
        .collect();
    for guest in guests_with(guests_dir, "package.json") {
        let wasm = build_js_guest(&guests_dir.join(&guest), &repo.join("wit"), &target_dir);
        built.push((guest, wasm));
    }
    for guest in guests_with(guests_dir, "app.py") {
        let wasm = build_python_guest(&guests_dir.join(&guest), &repo.join("wit"), &target_dir);
        built.push((guest, wasm));
    }
    built.sort();
    let mut generated = String::new();
    let mut all = String::new();
    let mut each = String::new();
    for (guest, wasm) in &built {
        check_is_component(wasm);
        let constant = guest.to_uppercase().replace('-', "_");
        let path = wasm.display();
        writeln!(
            generated,
            "/// Path of the `{guest}` guest component.\n\
             pub const {constant}_COMPONENT: &str = {path:?};\n\
             /// Bytes of the `{guest}` guest component.\n\
             pub static {constant}_COMPONENT_BYTES: &[u8] = include_bytes!({path:?});"
        )
        .expect("writing to a String");
        write!(all, "({guest:?}, {constant}_COMPONENT), ").expect("writing to a String");
    }
    for guest in guests_with(guests_dir, "manifest.json") {
        write!(each, "$mac!({}); ", guest.replace('-', "_")).expect("writing to a String");
    }
    writeln!(
        generated,
        "/// Every guest component: (crate name, path).\n\
         pub const ALL_COMPONENTS: &[(&str, &str)] = &[{all}];\n\
         /// Invokes `$mac!(guest)` once per guest plugin (every folder with a\n\
         /// `manifest.json`, asset-only ones too), named in snake case\n\
         /// (`contact_rules`), so a consumer can require one item per guest:\n\
         /// the e2e suite requires a test, and a guest without one fails to compile.\n\
         #[macro_export]\n\
         macro_rules! foreach_guest {{ ($mac:ident) => {{ {each}}}; }}"
    )
    .expect("writing to a String");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("components.rs");
    fs::write(&out, generated).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// The folders of `guests/` (but this one, `artifacts`) holding `file`:
/// `Cargo.toml` for the Rust guests, `package.json` for the JavaScript
/// ones, `app.py` for the Python ones, `manifest.json` for every guest
/// plugin (asset-only ones too).
fn guests_with(guests_dir: &Path, file: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(guests_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", guests_dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            (name != "artifacts" && path.join(file).is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// Builds the JavaScript guest in `dir` with its `npm run build`
/// (componentize-js), in a copy of its folder under `target_dir`, after
/// `npm ci` there when its dependencies are stale. Its WIT is its own
/// `wit/` plus berth's WASI deps relabelled 0.2.10, the version
/// componentize-js 0.23's engine implements (berth links any 0.2.x).
/// Returns the component's path.
fn build_js_guest(dir: &Path, wit: &Path, target_dir: &Path) -> PathBuf {
    let name = dir.file_name().expect("a guest folder").to_string_lossy();
    let stage = target_dir.join("js-src").join(&*name);
    copy_sources(dir, &stage);
    npm::install_locked(&stage);
    let js_wit = target_dir.join("js-wit").join(&*name);
    let _ = fs::remove_dir_all(&js_wit);
    copy_wit(&dir.join("wit"), &js_wit, false);
    copy_wit(&wit.join("deps"), &js_wit.join("deps"), true);
    let out = target_dir
        .join("js")
        .join(format!("{}.wasm", name.replace('-', "_")));
    fs::create_dir_all(out.parent().expect("a folder")).expect("creating the js output folder");
    npm::run(
        Command::new("npm")
            .args(["run", "--silent", "build"])
            .env("BERTH_WIT", &js_wit)
            .env("BERTH_OUT", &out)
            .current_dir(&stage),
    );
    out
}

/// Copies the files under `from` to `to` (which keeps what else it holds,
/// such as an earlier `node_modules/`), skipping build outputs a guest
/// folder may hold from older builds (`node_modules/`, `__pycache__/`).
fn copy_sources(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display())) {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().expect("a name");
        if name == "node_modules" || name == "__pycache__" {
            continue;
        }
        let target = to.join(name);
        if path.is_dir() {
            copy_sources(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
        }
    }
}

/// Builds the Python guest in `dir` with componentize-py, in a copy of its
/// folder under `target_dir` (where its `__pycache__/` lands). Its WIT: its
/// own `wit/world.wit`, with berth's package in `deps/berth/` and the WASI
/// packages beside it (componentize-py reads only the top-level `deps/`).
/// Returns the component's path.
fn build_python_guest(dir: &Path, wit: &Path, target_dir: &Path) -> PathBuf {
    let name = dir.file_name().expect("a guest folder").to_string_lossy();
    let stage = target_dir.join("py-src").join(&*name);
    let _ = fs::remove_dir_all(&stage);
    copy_sources(dir, &stage);
    let py_wit = stage.join("wit");
    copy_wit(&wit.join("deps"), &py_wit.join("deps"), false);
    let berth = py_wit.join("deps").join("berth");
    fs::create_dir_all(&berth).expect("creating the berth WIT folder");
    for entry in fs::read_dir(wit).unwrap_or_else(|e| panic!("reading {}: {e}", wit.display())) {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "wit") {
            fs::copy(&path, berth.join(path.file_name().expect("a name")))
                .expect("copying a WIT file");
        }
    }
    let out = target_dir
        .join("py")
        .join(format!("{}.wasm", name.replace('-', "_")));
    fs::create_dir_all(out.parent().expect("a folder")).expect("creating the py output folder");
    let mut command = componentize_py::componentize(&stage, &py_wit, &out);
    let status = command.status().unwrap_or_else(|e| {
        panic!("running {command:?}: {e} — building Python guests needs python3 (scripts/setup.sh)")
    });
    assert!(
        status.success(),
        "{command:?} failed — building Python guests needs componentize-py {} (scripts/setup.sh)",
        componentize_py::VERSION
    );
    out
}

/// Copies the `.wit` files under `from` to `to`; with `relabel`, WASI
/// 0.2.11/0.2.12 versions become 0.2.10.
fn copy_wit(from: &Path, to: &Path, relabel: bool) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display())) {
        let path = entry.expect("a directory entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_wit(&path, &target, relabel);
        } else if path.extension().is_some_and(|e| e == "wit") {
            let mut text = fs::read_to_string(&path).expect("reading a WIT file");
            if relabel {
                text = relabel_for_componentize_js(&text);
            }
            fs::write(&target, text).expect("writing a WIT file");
        }
    }
}

/// Fails the build unless `wasm` is a component binary.
fn check_is_component(wasm: &Path) {
    let bytes = fs::read(wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    assert!(
        bytes.starts_with(&COMPONENT_HEADER),
        "{} is not a WebAssembly component",
        wasm.display()
    );
}
