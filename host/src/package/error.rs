//! Why an upload is not an acceptable package.

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
