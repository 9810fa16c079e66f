//! Package files on disk, content-addressed by the package digest:
//! `blobs/{digest}.zip` (the upload as received) and `extracted/{digest}/…`
//! (its files). Both are shared by every org that installs the same bytes.
//!
//! Writes are staged and renamed into place, so a path under its final name
//! is always complete; [`PackageStore::collect_garbage`] removes whatever the
//! registry does not reference, and any leftover staging files or folders.

use crate::atomic::{
    read_dir_if_present, remove_dir_if_present, remove_file_if_present, remove_path, staging_name,
    sync_dir,
};
use crate::{Digest, StorageError, write_atomically};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The package blob and extraction store under one root directory.
#[derive(Clone, Debug)]
pub struct PackageStore {
    root: PathBuf,
    /// Held by every write and removal, shared by the store's clones: two
    /// stores of one digest (a cluster node fetches packages outside the
    /// lifecycle lock) must not rename over, or clean up after, each other.
    writing: Arc<Mutex<()>>,
}

impl PackageStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            writing: Arc::default(),
        }
    }

    /// Excludes every other write and removal of this store while held.
    fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// unless they are already there. Complete or absent, never partial: an
    /// extracted tree already present is checked against `files` (a crash or
    /// a hand edit may have damaged it) and written again if it differs, and
    /// a blob this call wrote is removed again if extraction fails.
    pub fn store<'a>(
        &self,
        digest: &Digest,
        zip: &[u8],
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<(), StorageError> {
        let files: Vec<(&str, &[u8])> = files.into_iter().collect();
        let _writing = self.exclusive();
        let blob = self.blob_path(digest);
        let wrote_blob = !blob.is_file();
        let stored = if wrote_blob {
            write_atomically(&blob, zip)
        } else {
            Ok(())
        };
        // A failed write may still have renamed the blob into place (the
        // folder's fsync failing after it): it goes, as after a failed
        // extraction.
        let stored = stored.and_then(|()| self.extract(digest, &files));
        if stored.is_err() && wrote_blob {
            let _ = remove_file_if_present(&blob);
        }
        stored
    }

    /// Writes `files` to `extracted/{digest}` through a staging folder,
    /// unless a complete copy is there.
    fn extract(&self, digest: &Digest, files: &[(&str, &[u8])]) -> Result<(), StorageError> {
        let target = self.files_dir(digest);
        if target.is_dir() {
            if holds_files(&target, files) {
                return Ok(());
            }
            remove_dir_if_present(&target)?;
        }
        let staging = (self.extracted()).join(staging_name(&format!("{}-", digest.to_hex())));
        let result = write_tree(&staging, files).and_then(|()| {
            fs::rename(&staging, &target).map_err(StorageError::io("rename", &target))
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result?;
        // Not durable under its name: the caller is told it failed, so the
        // folder goes rather than outlive the failure unreferenced.
        sync_dir(&self.extracted()).inspect_err(|_| {
            let _ = fs::remove_dir_all(&target);
        })
    }

    /// Removes the blob and files of `digest`.
    pub fn remove(&self, digest: &Digest) -> Result<(), StorageError> {
        let _writing = self.exclusive();
        remove_file_if_present(&self.blob_path(digest))?;
        remove_dir_if_present(&self.files_dir(digest))
    }

    /// Removes every blob and extracted folder whose digest is not in
    /// `referenced`, and every staging leftover. Returns what it removed.
    pub fn collect_garbage(
        &self,
        referenced: &HashSet<String>,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let _writing = self.exclusive();
        let mut removed = Vec::new();
        for (dir, suffix) in [(self.blobs(), ".zip"), (self.extracted(), "")] {
            for entry in read_dir_if_present(&dir)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let digest = name.strip_suffix(suffix).unwrap_or(&name);
                if referenced.contains(digest) {
                    continue;
                }
                let path = entry.path();
                remove_path(&path)?;
                removed.push(path);
            }
        }
        Ok(removed)
    }
}

/// Writes `files` under `root`, fsyncing each file and every folder made.
fn write_tree(root: &Path, files: &[(&str, &[u8])]) -> Result<(), StorageError> {
    fs::create_dir_all(root).map_err(StorageError::io("create directory", root))?;
    let mut dirs = HashSet::from([root.to_path_buf()]);
    for (relative, contents) in files {
        let path = root.join(relative);
        for folder in path.ancestors().skip(1).take_while(|a| *a != root) {
            if !dirs.insert(folder.to_path_buf()) {
                break;
            }
        }
        let parent = path.parent().unwrap_or(root);
        fs::create_dir_all(parent).map_err(StorageError::io("create directory", parent))?;
        let mut file = fs::File::create(&path).map_err(StorageError::io("create", &path))?;
        std::io::Write::write_all(&mut file, contents)
            .and_then(|()| file.sync_all())
            .map_err(StorageError::io("write", &path))?;
    }
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Whether `root` holds every one of `files`, each at its full length.
fn holds_files(root: &Path, files: &[(&str, &[u8])]) -> bool {
    files.iter().all(|(relative, contents)| {
        fs::metadata(root.join(relative))
            .is_ok_and(|meta| meta.is_file() && meta.len() == contents.len() as u64)
    })
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

    #[test]
    fn a_damaged_extracted_tree_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = PackageStore::new(dir.path());
        let digest = Digest::of(b"package");
        let files = [("manifest.json", &b"{}"[..]), ("assets/deep/a.css", b"xyz")];
        store.store(&digest, b"zip", files).unwrap();
        let css = store.files_dir(&digest).join("assets/deep/a.css");
        fs::write(&css, b"x").unwrap();
        store.store(&digest, b"zip", files).unwrap();
        assert_eq!(fs::read(&css).unwrap(), b"xyz");
        fs::remove_file(&css).unwrap();
        store.store(&digest, b"zip", files).unwrap();
        assert_eq!(fs::read(&css).unwrap(), b"xyz");
    }

    #[test]
    fn a_failed_extraction_leaves_neither_blob_nor_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = PackageStore::new(dir.path());
        let digest = Digest::of(b"package");
        // `a` as a file and as a folder: no filesystem extracts both.
        let result = store.store(&digest, b"zip", [("a", &b"1"[..]), ("a/b", b"2")]);
        assert!(result.is_err());
        assert!(!store.blob_path(&digest).exists());
        assert!(!store.files_dir(&digest).exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("extracted"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
