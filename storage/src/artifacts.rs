//! On-disk cache of precompiled component artifacts.
//!
//! Compiling a component with Cranelift takes milliseconds to seconds; loading
//! a precompiled artifact takes microseconds. Artifacts are keyed by the
//! digest of the component bytes *and* a fingerprint of the engine that
//! compiled them (wasmtime version, target, settings), so an artifact is only
//! ever loaded by an engine that can run it.

use crate::atomic::{read_dir_if_present, remove_path};
use crate::{Digest, StorageError, write_atomically};
use std::collections::HashSet;
use std::path::PathBuf;

/// Identifies one precompiled artifact: which component, compiled by which engine.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ArtifactKey {
    /// Digest of the component's original bytes.
    pub component: Digest,
    /// Fingerprint of the engine configuration that compiled it (hex).
    pub engine: String,
}

/// A directory of precompiled artifacts, one file per [`ArtifactKey`].
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    root: PathBuf,
}

impl ArtifactCache {
    /// A cache stored under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the artifact for `key` lives (whether or not it exists yet).
    pub fn path(&self, key: &ArtifactKey) -> PathBuf {
        self.root
            .join(&key.engine)
            .join(format!("{}.cwasm", key.component.to_hex()))
    }

    /// The path of the cached artifact for `key`, if there is one.
    pub fn lookup(&self, key: &ArtifactKey) -> Option<PathBuf> {
        let path = self.path(key);
        path.is_file().then_some(path)
    }

    /// Stores `artifact` for `key`, atomically, and returns its path.
    pub fn store(&self, key: &ArtifactKey, artifact: &[u8]) -> Result<PathBuf, StorageError> {
        let path = self.path(key);
        write_atomically(&path, artifact)?;
        Ok(path)
    }

    /// Removes every artifact of `engine` whose component is not in `keep`,
    /// every other engine's folder (artifacts no engine of this build can
    /// load), and any leftover of an interrupted write. Returns what it removed.
    pub fn collect_garbage(
        &self,
        engine: &str,
        keep: &HashSet<Digest>,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let kept_names: HashSet<String> = keep
            .iter()
            .map(|digest| format!("{}.cwasm", digest.to_hex()))
            .collect();
        let mut removed = Vec::new();
        for entry in read_dir_if_present(&self.root)? {
            let path = entry.path();
            if entry.file_name() != engine {
                remove_path(&path)?;
                removed.push(path);
                continue;
            }
            for artifact in read_dir_if_present(&path)? {
                let name = artifact.file_name().to_string_lossy().into_owned();
                if !kept_names.contains(&name) {
                    let path = artifact.path();
                    remove_path(&path)?;
                    removed.push(path);
                }
            }
        }
        removed.sort();
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_artifact_is_found_only_under_its_own_engine() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path());
        let key = ArtifactKey {
            component: Digest::of(b"component"),
            engine: "engine-a".into(),
        };
        assert_eq!(cache.lookup(&key), None);
        let path = cache.store(&key, b"machine code").unwrap();
        assert_eq!(cache.lookup(&key), Some(path.clone()));
        assert_eq!(std::fs::read(path).unwrap(), b"machine code");
        let other_engine = ArtifactKey {
            engine: "engine-b".into(),
            ..key
        };
        assert_eq!(cache.lookup(&other_engine), None);
    }
}
