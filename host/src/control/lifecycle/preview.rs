//! Previewing an upload: what installing a package would bring, beside
//! what it would replace, checked as an install checks it and with nothing
//! written.

use super::install::refuse_unless_newer;
use super::{Lifecycle, LifecycleError};
use berth_storage::Installation;

/// A package as an install would read it, and the plugin it would replace.
#[derive(Debug)]
pub struct PackagePreview {
    /// Its manifest, as an installation record keeps it.
    pub manifest: serde_json::Value,
    /// The org's installed plugin of that name, if any.
    pub installed: Option<Installation>,
}

impl Lifecycle {
    /// Reads and checks `zip` for `org` as [`Lifecycle::install`] does
    /// before it compiles or writes anything — archive, manifest,
    /// signature against the org's policy, the component's imports against
    /// the declared permissions, and that an upgrade is newer — and writes
    /// nothing: no blob, files, artifact, record or audit event. Its
    /// component is not compiled: a preview runs nothing.
    pub fn preview(&self, org: &str, zip: &[u8]) -> Result<PackagePreview, LifecycleError> {
        let package = self.checked_upload(org, zip)?;
        let name = &package.manifest.name;
        let installed = self.registry.read()?.installation(org, name)?;
        refuse_unless_newer(&package.manifest, installed.as_ref())?;
        Ok(PackagePreview {
            manifest: package.manifest.to_json(),
            installed,
        })
    }
}
