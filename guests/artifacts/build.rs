//! Build step: compiles every guest plugin in `guests/` to a wasm32-wasip2
//! component and writes `$OUT_DIR/components.rs`, which names each one
//! (`HELLO_COMPONENT` = path, `HELLO_COMPONENT_BYTES` = contents).
//!
//! Toolchain: the rustup toolchain when it has the `wasm32-wasip2` target;
//! otherwise Debian's `rustc-web` with `-Zbuild-std` (see
//! `shared/wasm-toolchain.md`); otherwise a clear error pointing at
//! `scripts/setup.sh`. Guests share one target directory across host build
//! profiles (`target/wasm-guests`), so debug and release reuse one build.

#[path = "toolchain.rs"]
mod toolchain;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use toolchain::{TARGET, Toolchain};
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

    let guests = guest_crates(guests_dir);
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());
    for file in ["Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", guests_dir.join(file).display());
    }
    for guest in &guests {
        println!(
            "cargo:rerun-if-changed={}",
            guests_dir.join(guest).display()
        );
    }

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
    let mut generated = String::new();
    let mut all = String::new();
    for guest in &guests {
        let wasm = out_dir.join(format!("{}.wasm", guest.replace('-', "_")));
        check_is_component(&wasm);
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
    writeln!(
        generated,
        "/// Every guest component: (crate name, path).\n\
         pub const ALL_COMPONENTS: &[(&str, &str)] = &[{all}];"
    )
    .expect("writing to a String");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("components.rs");
    fs::write(&out, generated).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// The guest crates: every directory of `guests/` with a `Cargo.toml`, but this one.
fn guest_crates(guests_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(guests_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", guests_dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            (name != "artifacts" && path.join("Cargo.toml").is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
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
