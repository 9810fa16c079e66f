//! Build step: compiles every guest plugin in `guests/` to a wasm32-wasip2
//! component and writes `$OUT_DIR/components.rs`, which names each one
//! (`HELLO_COMPONENT` = path, `HELLO_COMPONENT_BYTES` = contents).
//!
//! Toolchain: the rustup toolchain when it has the `wasm32-wasip2` target;
//! otherwise Debian's `rustc-web` with `-Zbuild-std` (see
//! `shared/wasm-toolchain.md`); otherwise a clear error pointing at
//! `scripts/setup.sh`. Guests share one target directory across host build
//! profiles (`target/wasm-guests`), so debug and release reuse one build.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
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

    let mut cargo = Toolchain::detect().cargo_build(guests_dir, &target_dir);
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

/// Which compiler builds the guests.
enum Toolchain {
    /// The current (rustup) toolchain, which has the wasm32-wasip2 target.
    Rustup,
    /// Debian's `rustc-web`, building `std` from source for the target.
    Debian,
}

impl Toolchain {
    fn detect() -> Self {
        let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        if sysroot(&rustc).is_some_and(|root| root.join("lib/rustlib").join(TARGET).is_dir()) {
            return Self::Rustup;
        }
        let debian_has_std_source = sysroot("/usr/bin/rustc")
            .is_some_and(|root| root.join("lib/rustlib/src/rust/library").is_dir());
        if debian_has_std_source && Path::new("/usr/bin/cargo").is_file() {
            return Self::Debian;
        }
        panic!(
            "no toolchain can build {TARGET} guest components: the rustup toolchain lacks the \
             target and Debian's rustc-web is not installed. Run `scripts/setup.sh`."
        );
    }

    /// A `cargo build` of the guest workspace, with the outer build's
    /// environment scrubbed so nothing meant for the host leaks in.
    fn cargo_build(&self, guests_dir: &Path, target_dir: &Path) -> Command {
        let mut cmd = match self {
            Self::Rustup => Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into())),
            Self::Debian => Command::new("/usr/bin/cargo"),
        };
        for (key, _) in env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if key.starts_with("CARGO_PROFILE_")
                || key.starts_with("CARGO_BUILD_")
                || key.starts_with("__CARGO")
                || matches!(
                    key,
                    "CARGO_ENCODED_RUSTFLAGS"
                        | "RUSTFLAGS"
                        | "CARGO_TARGET_DIR"
                        | "RUSTC"
                        | "RUSTDOC"
                        | "RUSTC_WRAPPER"
                        | "RUSTC_WORKSPACE_WRAPPER"
                )
            {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(guests_dir)
            .args(["build", "--release", "--target", TARGET, "--target-dir"])
            .arg(target_dir);
        if let Self::Debian = self {
            cmd.env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("RUSTFLAGS", "-L /usr/lib/wasm32-wasi")
                .arg("-Zbuild-std=std,panic_abort");
        }
        cmd
    }
}

/// `rustc --print sysroot`, if that rustc runs.
fn sysroot(rustc: &str) -> Option<PathBuf> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
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
