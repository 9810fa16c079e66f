//! Plugin packages: a ZIP with `manifest.json`, a component and assets,
//! parsed and validated entirely in memory before anything is written.

pub mod api_version;
mod archive;
mod error;
pub mod manifest;
pub mod signing;
pub mod ui;
mod writer;

pub use api_version::ApiVersion;
pub use archive::{Files, check_relative_path};
pub use error::PackageError;
pub use manifest::{Kind, Manifest};
pub use writer::build_zip;

use crate::common::settings::PackageLimits;
use berth_storage::Digest;

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
