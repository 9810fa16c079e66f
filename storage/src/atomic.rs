//! Crash-safe file writes (stage, fsync, rename, fsync the directory), and
//! the removals, listings and folder syncs the stores around them share.

use crate::StorageError;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that `path` either does not exist or holds all
/// of `bytes`, even if the process dies mid-write.
///
/// The data goes to a uniquely named staging file beside `path`, is fsynced,
/// renamed over `path`, and the parent directory is fsynced so the rename
/// itself is durable. Missing parent directories are created.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(StorageError::io("create directory", dir))?;
    let staging = dir.join(staging_name(""));
    let result = write_and_sync(&staging, bytes)
        .and_then(|()| fs::rename(&staging, path).map_err(StorageError::io("rename", path)));
    if result.is_err() {
        // Best effort: the staging file is garbage either way.
        let _ = fs::remove_file(&staging);
        return result;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("sync directory", dir))
}

/// A staging name no other write uses at the same time, in this process or
/// another: `.staging-{what}{pid}-{n}`. Never a digest, so garbage
/// collection removes what a crash leaves under it.
pub(crate) fn staging_name(what: &str) -> String {
    /// Distinguishes concurrent staging files written by one process.
    static STAGING_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        ".staging-{what}{}-{}",
        std::process::id(),
        STAGING_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn write_and_sync(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut file = File::create(path).map_err(StorageError::io("create", path))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(StorageError::io("write", path))
}

/// Fsyncs the folder `dir`, so the entries created in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StorageError::io("sync directory", dir))
}

/// Removes the file at `path`; nothing if there is none.
pub(crate) fn remove_file_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path)(e))
        }
        _ => Ok(()),
    }
}

/// Removes the folder at `path` and everything in it; nothing if there is none.
pub(crate) fn remove_dir_if_present(path: &Path) -> Result<(), StorageError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StorageError::io("remove", path)(e))
        }
        _ => Ok(()),
    }
}

/// Removes a file, or a folder with everything in it; nothing if absent.
pub(crate) fn remove_path(path: &Path) -> Result<(), StorageError> {
    if path.is_dir() {
        remove_dir_if_present(path)
    } else {
        remove_file_if_present(path)
    }
}

/// The entries of `dir`, none if it does not exist.
pub(crate) fn read_dir_if_present(dir: &Path) -> Result<Vec<fs::DirEntry>, StorageError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<_, _>>()
            .map_err(StorageError::io("read directory", dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(StorageError::io("read directory", dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_file_and_leaves_no_staging_files() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("nested/out.bin");
        write_atomically(&target, b"first").unwrap();
        write_atomically(&target, b"second, longer").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"second, longer");
        let names: Vec<_> = fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.bin")]);
    }

    #[test]
    fn failure_names_the_path_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should go makes the rename fail.
        let target = dir.path().join("occupied");
        fs::create_dir_all(target.join("child")).unwrap();
        let err = write_atomically(&target, b"x").unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("occupied")]);
    }
}
