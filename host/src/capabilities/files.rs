//! Plugins' own directories (the `filesystem` permission).
//!
//! Each granted directory lives at `{data}/orgs/{org}/plugins/{plugin}/{name}`
//! — the path is built from validated names, never taken from a manifest —
//! and is preopened for the guest at `/{name}`, read-only or read-write as
//! granted. wasmtime-wasi resolves every guest path inside the preopen with
//! cap-std, so `..`, absolute paths and symlinks cannot leave it; a plugin
//! without a `filesystem` grant sees no directory at all. Directories are
//! created when the plugin is activated (never by a request, so a request
//! still running during an uninstall cannot bring one back) and removed
//! when it is uninstalled.

use crate::capabilities::capability::Capability;
use crate::package::manifest::{DirectoryMode, Permissions};
use berth_storage::StorageError;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The `filesystem` permission: named directories, read-only or
/// read-write. A read-write grant covers a read-only one. (The directories
/// themselves are removed after an uninstall commits: see [`PluginFiles`].)
pub const CAPABILITY: Capability = Capability {
    permission: "filesystem",
    imports: &[],
    declared: |p| !p.filesystem.is_empty(),
    not_covered: |wanted, available| {
        (wanted.filesystem.iter())
            .filter(|dir| {
                !available.filesystem.iter().any(|offer| {
                    offer.name == dir.name
                        && (offer.mode == DirectoryMode::Rw || dir.mode == DirectoryMode::Ro)
                })
            })
            .map(|dir| format!("filesystem {} ({})", dir.name, dir.mode.as_str()))
            .collect()
    },
    narrow: |granted, declared| {
        granted.filesystem.retain_mut(|dir| {
            let offer = declared
                .filesystem
                .iter()
                .find(|offer| offer.name == dir.name);
            if offer.is_some_and(|offer| offer.mode == DirectoryMode::Ro) {
                dir.mode = DirectoryMode::Ro;
            }
            offer.is_some()
        });
    },
    forget: None,
};

/// The root of every org's plugin directories, `{data}/orgs`.
#[derive(Clone, Debug)]
pub struct PluginFiles {
    root: Arc<Path>,
    /// Whether `root` is this node's alone (not a filesystem every node
    /// of a cluster mounts).
    node_local: bool,
}

impl PluginFiles {
    /// Plugin directories under `root` (normally `{data}/orgs`), on this
    /// node alone.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into().into(),
            node_local: true,
        }
    }

    /// Plugin directories under `root`, a filesystem every node of a
    /// cluster mounts (the `shared-files` setting).
    pub fn shared(root: impl Into<PathBuf>) -> Self {
        Self {
            node_local: false,
            ..Self::new(root)
        }
    }

    /// Whether other nodes see different directories than this one.
    pub fn is_node_local(&self) -> bool {
        self.node_local
    }

    /// `{root}/{org}/plugins/{plugin}`: everything the plugin stores in `org`.
    pub fn plugin_dir(&self, org: &str, plugin: &str) -> PathBuf {
        self.root.join(org).join("plugins").join(plugin)
    }

    /// Creates each directory `grants` names that does not exist yet.
    pub fn prepare(
        &self,
        org: &str,
        plugin: &str,
        grants: &Permissions,
    ) -> Result<(), StorageError> {
        let base = self.plugin_dir(org, plugin);
        for dir in &grants.filesystem {
            let path = base.join(&dir.name);
            std::fs::create_dir_all(&path).map_err(StorageError::io("create directory", &path))?;
        }
        Ok(())
    }

    /// Preopens each directory `grants` names (see [`Self::prepare`]).
    pub fn preopen(
        &self,
        wasi: &mut WasiCtxBuilder,
        org: &str,
        plugin: &str,
        grants: &Permissions,
    ) -> wasmtime::Result<()> {
        if grants.filesystem.is_empty() {
            return Ok(());
        }
        let base = self.plugin_dir(org, plugin);
        for dir in &grants.filesystem {
            let host_path = base.join(&dir.name);
            let perms = match dir.mode {
                DirectoryMode::Ro => FsPerms::ReadOnly,
                DirectoryMode::Rw => FsPerms::ReadWrite,
            };
            wasi.preopened_dir(&host_path, format!("/{}", dir.name), perms)?;
        }
        Ok(())
    }

    /// Deletes everything the plugin stored in `org`.
    pub fn remove(&self, org: &str, plugin: &str) -> Result<(), StorageError> {
        let dir = self.plugin_dir(org, plugin);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(StorageError::io("remove", &dir)(e))
            }
            _ => Ok(()),
        }
    }

    /// Removes the directories of plugins no longer installed (left behind
    /// by a crash between an uninstall's commit and its cleanup). Returns
    /// what was removed; entries that are not directories are left alone.
    pub fn collect_garbage(
        &self,
        installed: &HashSet<(String, String)>,
    ) -> Result<Vec<PathBuf>, StorageError> {
        let mut removed = Vec::new();
        for org in read_dir_names(&self.root)? {
            for plugin in read_dir_names(&self.root.join(&org).join("plugins"))? {
                if !installed.contains(&(org.clone(), plugin.clone())) {
                    self.remove(&org, &plugin)?;
                    removed.push(self.plugin_dir(&org, &plugin));
                }
            }
        }
        Ok(removed)
    }
}

/// The names of the subdirectories of `dir`; none if it does not exist.
fn read_dir_names(dir: &Path) -> Result<Vec<String>, StorageError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("read", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io("read", dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_only_what_is_not_installed() {
        let data = tempfile::tempdir().unwrap();
        let files = PluginFiles::new(data.path());
        for (org, plugin) in [("a", "keep"), ("a", "gone"), ("b", "keep")] {
            std::fs::create_dir_all(files.plugin_dir(org, plugin).join("files")).unwrap();
        }
        std::fs::write(data.path().join("stray"), "").unwrap();
        std::fs::write(data.path().join("a/plugins/stray"), "").unwrap();
        let installed: HashSet<_> = [("a", "keep"), ("b", "keep")]
            .map(|(o, p)| (o.to_owned(), p.to_owned()))
            .into();
        let removed = files.collect_garbage(&installed).unwrap();
        assert_eq!(removed, [files.plugin_dir("a", "gone")]);
        assert!(files.plugin_dir("a", "keep").is_dir());
        assert!(files.plugin_dir("b", "keep").is_dir());
        files.remove("b", "keep").unwrap();
        files.remove("b", "keep").unwrap();
        assert!(!files.plugin_dir("b", "keep").exists());
    }
}
