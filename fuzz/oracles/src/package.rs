//! Uploaded packages: arbitrary bytes, or archives built from arbitrary
//! entries, through the real validation. A refusal must be one of the
//! documented 4xx codes; an accepted package must keep to the limits and
//! extract completely, every file under its folder, on this filesystem.

use crate::{Verdict, ensure};
use arbitrary::Arbitrary;
use berth::common::error::ApiError;
use berth::common::settings::PackageLimits;
use berth::package::{Package, check_relative_path};
use berth_storage::PackageStore;
use std::io::Write;

/// Limits small enough for fuzzing to reach every one of them.
pub fn limits() -> PackageLimits {
    PackageLimits {
        max_upload_bytes: 1 << 20,
        max_entries: 32,
        max_entry_bytes: 64 << 10,
        max_total_bytes: 256 << 10,
        max_compression_ratio: 100,
        ..PackageLimits::default()
    }
}

/// Checks an upload of `bytes`.
pub fn check_bytes(bytes: &[u8]) -> Verdict {
    match Package::parse(bytes, &limits()) {
        Err(error) => {
            let status = ApiError::from(error.clone()).status;
            ensure(status.is_client_error(), || {
                format!("refusal `{error}` answers {status}, not a 4xx")
            })
        }
        Ok(package) => check_accepted(&package),
    }
}

/// One entry of a structured archive.
#[derive(Arbitrary, Debug)]
pub struct Entry {
    /// Its name, as written to the archive.
    pub name: String,
    /// Its contents.
    pub data: Vec<u8>,
    /// A folder entry instead of a file.
    pub folder: bool,
    /// Stored instead of deflated.
    pub stored: bool,
}

/// An archive of arbitrary entries beside a manifest that names some of them.
#[derive(Arbitrary, Debug)]
pub struct Archive {
    /// The entries, in order.
    pub entries: Vec<Entry>,
    /// `assets` for the manifest, if any.
    pub assets: Option<String>,
    /// Whether to add the manifest at all.
    pub with_manifest: bool,
}

impl Archive {
    /// The ZIP bytes (entries the writer itself refuses are left out).
    pub fn to_zip(&self) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        if self.with_manifest {
            let manifest = serde_json::json!({
                "name": "fuzzed",
                "version": "1.0.0",
                "description": "a fuzzed package",
                "kinds": ["ui"],
                "api": "0.1.0",
                "assets": self.assets,
                "ui": {},
                "permissions": {},
            });
            let options = zip::write::SimpleFileOptions::default();
            if zip.start_file("manifest.json", options).is_ok() {
                let _ = zip.write_all(manifest.to_string().as_bytes());
            }
        }
        for entry in &self.entries {
            let method = match entry.stored {
                true => zip::CompressionMethod::Stored,
                false => zip::CompressionMethod::Deflated,
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            if entry.folder {
                let _ = zip.add_directory(entry.name.as_str(), options);
            } else if zip.start_file(entry.name.as_str(), options).is_ok() {
                let _ = zip.write_all(&entry.data);
            }
        }
        zip.finish().map(|c| c.into_inner()).unwrap_or_default()
    }
}

/// Checks an accepted package: limits, names, and a real extraction.
fn check_accepted(package: &Package) -> Verdict {
    let limits = limits();
    ensure(package.files.len() <= limits.max_entries, || {
        format!("{} files accepted", package.files.len())
    })?;
    let total: u64 = package.files.values().map(|f| f.len() as u64).sum();
    ensure(total <= limits.max_total_bytes, || {
        format!("{total} bytes accepted")
    })?;
    for (name, bytes) in &package.files {
        ensure(
            check_relative_path(name).is_ok() && !name.ends_with('/'),
            || format!("accepted an unsafe name {name:?}"),
        )?;
        ensure(bytes.len() as u64 <= limits.max_entry_bytes, || {
            format!("accepted {name:?} of {} bytes", bytes.len())
        })?;
    }
    let dir = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let store = PackageStore::new(dir.path());
    let files = package
        .files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()));
    store
        .store(&package.digest, b"zip", files)
        .map_err(|e| format!("an accepted package does not extract: {e}"))?;
    let root = store
        .files_dir(&package.digest)
        .canonicalize()
        .map_err(|e| format!("extracted folder: {e}"))?;
    for (name, bytes) in &package.files {
        let path = root.join(name);
        let real = path
            .canonicalize()
            .map_err(|e| format!("extracted {name:?} is missing: {e}"))?;
        ensure(real.starts_with(&root), || {
            format!("{name:?} extracted outside its folder")
        })?;
        let read = std::fs::read(&real).map_err(|e| format!("reading {name:?}: {e}"))?;
        ensure(&read == bytes, || {
            format!("{name:?} extracted with other contents")
        })?;
    }
    Ok(())
}
