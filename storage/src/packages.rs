//! Package files on disk, content-addressed by the package digest:
//! `blobs/{digest}.zip` (the upload as received) and `extracted/{digest}/…`
//! (its files). Both are shared by every org that installs the same bytes.
//!
//! Writes are staged and renamed into place, so a path under its final name
//! is always complete; [`PackageStore::collect_garbage`] removes whatever the
//! registry does not reference, and any leftover staging files or folders.

use crate::{Digest, StorageError, write_atomically};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Prefix of staging names; never a valid digest.
const STAGING_PREFIX: &str = ".staging-";

/// The package blob and extraction store under one root directory.
#[derive(Clone, Debug)]
pub struct PackageStore {
    root: PathBuf,
}

impl PackageStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }

    fn extracted(&self) -> PathBuf {
        self.root.join("extracted")
    }

    /// Path of the ZIP blob for `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(format!("{}.zip", digest.to_hex()))
    }

    /// Folder holding the extracted files of `digest`.
    pub fn files_dir(&self, digest: &Digest) -> PathBuf {
        self.extracted().join(digest.to_hex())
    }

    /// Stores the ZIP and its extracted `files` (relative path → contents),
    /// unless they are already there. Complete or absent, never partial.
    pub fn store<'a>(
        &self,
        digest: &Digest,
        zip: &[u8],
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<(), StorageError> {
        let blob = self.blob_path(digest);
        if !blob.is_file() {
            write_atomically(&blob, zip)?;
        }
        let target = self.files_dir(digest);
        if target.is_dir() {
            return Ok(());
        }
        let staging = self.extracted().join(format!(
            "{STAGING_PREFIX}{}-{}",
            digest.to_hex(),
            std::process::id()
        ));
        let result = write_tree(&staging, files).and_then(|()| {
            fs::rename(&staging, &target).map_err(StorageError::io("rename", &target))
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result?;
        sync_dir(&self.extracted())
    }

    /// Removes the blob and files of `digest`.
    pub fn remove(&self, digest: &Digest) -> Result<(), StorageError> {
        remove_file_if_present(&self.blob_path(digest))?;
        remove_dir_if_present(&self.files_dir(digest))
    }

    /// Removes every blob and extracted folder whose digest is not in
    /// `referenced`, and every staging leftover. Returns what it removed.
    pub fn collect_garbage(
        &self,
        referenced: &HashSet<String>,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let mut removed = Vec::new();
        for (dir, suffix) in [(self.blobs(), ".zip"), (self.extracted(), "")] {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io("read directory", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(StorageError::io("read directory", &dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let digest = name.strip_suffix(suffix).unwrap_or(&name);
                if referenced.contains(digest) {
                    continue;
                }
                let path = entry.path();
                if path.is_dir() {
                    remove_dir_if_present(&path)?;
                } else {
                    remove_file_if_present(&path)?;
                }
                removed.push(path);
            }
        }
        Ok(removed)
    }
}

/// Writes `files` under `root`, fsyncing each file and folder.
fn write_tree<'a>(
    root: &Path,
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), StorageError> {
    fs::create_dir_all(root).map_err(StorageError::io("create directory", root))?;
    let mut dirs = HashSet::new();
    for (relative, contents) in files {
        let path = root.join(relative);
        let parent = path.parent().unwrap_or(root).to_path_buf();
        if dirs.insert(parent.clone()) {
            fs::create_dir_all(&parent).map_err(StorageError::io("create directory", &parent))?;
        }
        let mut file = fs::File::create(&path).map_err(StorageError::io("create", &path))?;
        std::io::Write::write_all(&mut file, contents)
            .and_then(|()| file.sync_all())
            .map_err(StorageError::io("write", &path))?;
    }
    dirs.insert(root.to_path_buf());
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("sync directory", dir))
}

fn remove_file_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path)(e))
        }
        _ => Ok(()),
    }
}

fn remove_dir_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path)(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_blob_and_files_then_garbage_collects_unreferenced_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = PackageStore::new(dir.path());
        let kept = Digest::of(b"kept");
        let dropped = Digest::of(b"dropped");
        for digest in [&kept, &dropped] {
            store
                .store(
                    digest,
                    b"zip",
                    [("manifest.json", &b"{}"[..]), ("assets/a.css", b"x")],
                )
                .unwrap();
        }
        assert_eq!(
            fs::read(store.files_dir(&kept).join("assets/a.css")).unwrap(),
            b"x"
        );
        // A leftover from a crash mid-extraction.
        fs::create_dir_all(dir.path().join("extracted/.staging-abc-1/x")).unwrap();

        let removed = store
            .collect_garbage(&HashSet::from([kept.to_hex()]))
            .unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(store.blob_path(&kept).is_file());
        assert!(store.files_dir(&kept).is_dir());
        assert!(!store.blob_path(&dropped).exists());
        assert!(!store.files_dir(&dropped).exists());
        assert!(!dir.path().join("extracted/.staging-abc-1").exists());
    }
}
