//! Plugin packages: a ZIP with `manifest.json`, a component and assets,
//! parsed and validated entirely in memory before anything is written.

mod archive;
pub mod manifest;
mod writer;

pub use archive::{Files, check_relative_path};
pub use manifest::{Kind, Manifest};
pub use writer::build_zip;

use crate::config::PackageLimits;
use crate::error::ApiError;
use berth_storage::Digest;
use http::StatusCode;

/// The file every package carries at its root.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A validated package, still only in memory.
#[derive(Debug)]
pub struct Package {
    /// SHA-256 of the ZIP bytes.
    pub digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// Every file, by normalized relative path.
    pub files: Files,
}

impl Package {
    /// Validates a ZIP upload: archive safety, limits, manifest, file references.
    /// (Whether the component is a servable component is the loader's check.)
    pub fn parse(zip: &[u8], limits: &PackageLimits) -> Result<Self, PackageError> {
        let files = archive::read_files(zip, limits)?;
        let manifest_bytes = files
            .get(MANIFEST_FILE)
            .ok_or(PackageError::MissingManifest)?;
        let manifest = Manifest::parse(manifest_bytes, &files)?;
        Ok(Self {
            digest: Digest::of(zip),
            manifest,
            files,
        })
    }

    /// The component's bytes, if the plugin has one.
    pub fn component(&self) -> Option<&[u8]> {
        let path = self.manifest.component.as_ref()?;
        self.files.get(path).map(Vec::as_slice)
    }
}

/// Why an upload is not an acceptable package.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    /// Not a ZIP, truncated, corrupt or encrypted.
    #[error("not a readable ZIP archive: {0}")]
    InvalidZip(String),
    /// No `manifest.json` at the root.
    #[error("the package has no manifest.json at its root")]
    MissingManifest,
    /// The manifest is not JSON, fails the schema, or is inconsistent.
    #[error("invalid manifest.json: {0}")]
    InvalidManifest(String),
    /// The manifest names a component file the archive lacks.
    #[error("the component {0:?} named in manifest.json is not in the package")]
    ComponentMissing(String),
    /// An entry name escapes the package or is malformed.
    #[error("unsafe entry name {0}")]
    UnsafePath(String),
    /// A symbolic link entry.
    #[error("entry `{0}` is a symbolic link; packages may not contain links")]
    SymlinkEntry(String),
    /// Two entries with the same name, or names differing only in case.
    #[error("duplicate entry: {0}")]
    DuplicateEntry(String),
    /// More entries than allowed.
    #[error("the package has {count} entries; the limit is {limit}")]
    TooManyEntries {
        /// Entries found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One file inflates past the per-file limit.
    #[error("entry `{name}` is larger than the per-file limit of {limit} bytes")]
    EntryTooLarge {
        /// The entry.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// All files together inflate past the total limit.
    #[error("the package inflates to more than {limit} bytes")]
    PackageTooLarge {
        /// The limit.
        limit: u64,
    },
    /// An entry inflates suspiciously much (zip bomb).
    #[error("entry `{name}` has a compression ratio above {limit}:1")]
    CompressionRatio {
        /// The entry.
        name: String,
        /// The limit.
        limit: u64,
    },
}

impl From<PackageError> for ApiError {
    fn from(error: PackageError) -> Self {
        use PackageError as E;
        let (status, code) = match &error {
            E::InvalidZip(_) => (StatusCode::BAD_REQUEST, "invalid_zip"),
            E::MissingManifest => (StatusCode::BAD_REQUEST, "missing_manifest"),
            E::InvalidManifest(_) => (StatusCode::BAD_REQUEST, "invalid_manifest"),
            E::ComponentMissing(_) => (StatusCode::BAD_REQUEST, "component_missing"),
            E::UnsafePath(_) => (StatusCode::BAD_REQUEST, "unsafe_path"),
            E::SymlinkEntry(_) => (StatusCode::BAD_REQUEST, "symlink_entry"),
            E::DuplicateEntry(_) => (StatusCode::BAD_REQUEST, "duplicate_entry"),
            E::TooManyEntries { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_entries"),
            E::EntryTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "entry_too_large"),
            E::PackageTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "package_too_large"),
            E::CompressionRatio { .. } => (StatusCode::BAD_REQUEST, "compression_ratio"),
        };
        ApiError::new(status, code, error.to_string())
    }
}
