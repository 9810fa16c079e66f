//! Finding a compiler for wasm32-wasip2 components and building a cargo
//! project with it. Shared, as a source file, by the guests' build step and
//! `berth plugin build`: the rustup toolchain when it has the target;
//! otherwise Debian's `rustc-web` with `-Zbuild-std` (see
//! `shared/wasm-toolchain.md`). Uses `std` only.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugin components are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Which compiler builds components.
pub enum Toolchain {
    /// The current (rustup) toolchain, which has the wasm32-wasip2 target.
    Rustup,
    /// Debian's `rustc-web`, building `std` from source for the target.
    Debian,
}

impl Toolchain {
    /// The toolchain this machine has, or why there is none.
    pub fn detect() -> Result<Self, String> {
        let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        if sysroot(&rustc).is_some_and(|root| root.join("lib/rustlib").join(TARGET).is_dir()) {
            return Ok(Self::Rustup);
        }
        let debian_has_std_source = sysroot("/usr/bin/rustc")
            .is_some_and(|root| root.join("lib/rustlib/src/rust/library").is_dir());
        if debian_has_std_source && Path::new("/usr/bin/cargo").is_file() {
            return Ok(Self::Debian);
        }
        Err(format!(
            "no toolchain can build {TARGET} components: the rustup toolchain lacks the \
             target (`rustup target add {TARGET}`) and Debian's rustc-web is not installed \
             (berth's `scripts/setup.sh` installs it)"
        ))
    }

    /// A release `cargo build` of the project in `dir` for the target, into
    /// `target_dir`, with any outer cargo build's environment scrubbed so
    /// nothing meant for the host leaks in.
    pub fn cargo_build(&self, dir: &Path, target_dir: &Path) -> Command {
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
        cmd.current_dir(dir)
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
