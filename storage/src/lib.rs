//! berth's persistent state on disk.
//!
//! - [`Database`]: all lifecycle state (orgs, installations, dependency
//!   edges, audit log) in one redb file, changed one transaction at a time;
//! - [`PackageStore`]: package ZIPs and their extracted files,
//!   content-addressed by digest and shared across orgs;
//! - [`ArtifactCache`]: precompiled components keyed by digest and engine.
//!
//! Every file write goes to a staging name, is fsynced, and is renamed into
//! place, so a crash never leaves a half-written file under a final name;
//! files are written before the registry transaction that references them
//! commits, and anything unreferenced is garbage-collected at start-up.

#![deny(missing_docs)]

mod artifacts;
mod atomic;
mod database;
mod digest;
mod packages;
mod sealing;
#[cfg(any(test, feature = "testing"))]
pub mod throwaway_postgres;

pub use artifacts::{ArtifactCache, ArtifactKey};
pub use atomic::write_atomically;
pub use database::{
    AuditEvent, CATALOG, Database, DependencyEdge, Installation, KvQuota, KvUsage, ModuleRecord,
    OrgRecord, PluginConfig, PluginState, PreviousVersion, PublishedPackage, QuotaExceeded,
    ReadTxn, RegistryEvent, TokenRecord, TrustedKeyRecord, WriteTxn, WritersLock, unix_now,
};
pub use digest::Digest;
pub use packages::PackageStore;
pub use sealing::{SealingError, SecretKeys};

/// Errors raised by the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation failed; `path` names the file involved.
    #[error("{action} {path}: {error}")]
    Io {
        /// What was being done ("write", "rename", …).
        action: &'static str,
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error (part of the message, so not chained again).
        error: std::io::Error,
    },
    /// The registry database failed.
    #[error("registry database: {0}")]
    Database(#[from] redb::Error),
    /// The PostgreSQL registry refused or failed a statement.
    #[error("registry database: {0}")]
    Postgres(String),
    /// The PostgreSQL registry cannot be reached (down, restarting, or the
    /// connection broke); nothing was changed.
    #[error("registry unreachable: {0}")]
    Unavailable(String),
    /// Another node's (or request's) transaction changed what this one
    /// read; nothing was written, and the step can be tried again.
    #[error("the registry changed concurrently; nothing was written, try again")]
    Conflict,
    /// A registry record could not be decoded.
    #[error("corrupt registry record: {0}")]
    Corrupt(String),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Sealing(#[from] SealingError),
}

impl StorageError {
    /// Builds a closure that wraps an `io::Error` with what was done to which path.
    pub fn io<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |error| Self::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }
}
