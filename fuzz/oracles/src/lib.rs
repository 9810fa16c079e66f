//! What berth's fuzz targets assert. Each module checks one surface that
//! takes untrusted input and returns `Err` with an explanation when an
//! invariant breaks (the targets in `fuzz/` panic on it, so libFuzzer keeps
//! the input). The regression tests in `tests/regressions.rs` run every
//! committed input of `fuzz/regressions/{target}/` through the same
//! checks, in the ordinary test suite.

#![deny(missing_docs)]

pub mod components;
pub mod config;
pub mod kv;
pub mod modules;
pub mod package;
pub mod paths;
pub mod records;
pub mod resolver;
pub mod signature;

/// An empty registry in a temporary folder (kept while the folder lives),
/// with ephemeral secret keys.
pub fn temporary_registry()
-> Result<(tempfile::TempDir, std::sync::Arc<berth_storage::Database>), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let path = dir.path().join("r.redb");
    let registry = berth_storage::Database::open(&path, berth_storage::SecretKeys::ephemeral())
        .map_err(|e| format!("registry: {e}"))?;
    Ok((dir, std::sync::Arc::new(registry)))
}

/// A broken invariant, described.
pub type Verdict = Result<(), String>;

/// `Err(why)` unless `holds`.
pub fn ensure(holds: bool, why: impl FnOnce() -> String) -> Verdict {
    if holds { Ok(()) } else { Err(why()) }
}
