//! berth's persistent state on disk.
//!
//! Today this is the content-addressed file store used for precompiled
//! component artifacts ([`ArtifactCache`]); the redb registry joins it here.
//! Every write goes to a staging file, is fsynced, and is renamed into place,
//! so a crash never leaves a half-written file under a final name.

mod artifacts;
mod atomic;
mod digest;

pub use artifacts::{ArtifactCache, ArtifactKey};
pub use atomic::write_atomically;
pub use digest::Digest;

/// Errors raised by the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem operation failed; `path` names the file involved.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("write", "rename", …).
        action: &'static str,
        /// The file or directory involved.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Builds a closure that wraps an `io::Error` with what was done to which path.
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
