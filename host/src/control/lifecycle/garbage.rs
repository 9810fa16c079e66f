//! Removing what nothing references any more: package blobs and extracted
//! trees, uninstalled plugins' directories, and compiled artifacts. Run at
//! start-up for whatever a crash left behind, and after each step that
//! dereferences a package.

use super::writer::Writer;
use super::{Lifecycle, LifecycleError, parse_digest};
use crate::sandbox::loader::LoadedPlugin;
use berth_storage::{Digest, StorageError};
use std::collections::{HashMap, HashSet};

impl Lifecycle {
    /// Removes package files (and, in a shared registry, package ZIPs),
    /// plugin directories and compiled artifacts that no installation or
    /// published package references.
    pub(super) fn collect_garbage_at_start(&self) -> Result<(), LifecycleError> {
        let snapshot = self.registry.read()?;
        let installations = snapshot.all_installations()?;
        let referenced: HashSet<String> = installations
            .iter()
            .flat_map(|i| i.digests().map(str::to_owned))
            .chain(snapshot.published_digests()?)
            .collect();
        for path in self.packages.collect_garbage(&referenced)? {
            tracing::info!(path = %path.display(), "removed unreferenced package file");
        }
        // Only a shared registry keeps package ZIPs.
        if self.registry.is_shared() {
            for digest in self.registry.write(|txn| txn.collect_blob_garbage())? {
                tracing::info!(digest, "removed an unreferenced package from the registry");
            }
        }
        let installed = installations
            .iter()
            .map(|i| (i.org.clone(), i.name.clone()))
            .collect();
        match self.files.collect_garbage(&installed) {
            Ok(removed) => {
                for path in removed {
                    tracing::info!(path = %path.display(), "removed an uninstalled plugin's directory");
                }
            }
            Err(e) => tracing::warn!("cleaning up plugin directories: {e}"),
        }
        self.collect_artifact_garbage();
        Ok(())
    }

    /// Removes a package's files (and its ZIP in a shared registry) once no
    /// installation in any org, no registry and no step in flight
    /// references them, and then the
    /// compiled artifacts no installed component needs; under the `writer`
    /// lock, so no step stores and pins them meanwhile.
    pub(super) fn remove_files_if_unreferenced(&self, _writer: &Writer<'_>, digest_hex: &str) {
        // Checked in a write transaction, which drops the package from a
        // shared registry too: no node's step can reference it meanwhile.
        let still_used = self.registry.write(|txn| {
            let installed =
                (txn.all_installations()?.iter()).any(|i| i.digests().any(|d| d == digest_hex));
            let published = txn.published_digests()?.iter().any(|d| d == digest_hex);
            let used = installed || published || self.pending_files.contains(digest_hex);
            if !used {
                txn.remove_blob(digest_hex)?;
            }
            Ok::<_, StorageError>(used)
        });
        match (still_used, parse_digest(digest_hex)) {
            (Ok(false), Ok(digest)) => {
                if let Err(e) = self.packages.remove(&digest) {
                    // Start-up garbage collection will retry.
                    tracing::warn!("removing package files {digest_hex}: {e}");
                }
                self.collect_artifact_garbage();
            }
            (Ok(true), _) => {}
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("package cleanup of {digest_hex} skipped: {e}")
            }
        }
    }

    /// Writes a freshly compiled artifact to the cache, once the step that
    /// loaded it has committed. A failure costs only a compile later.
    pub(super) fn keep_artifact(&self, plugin: &LoadedPlugin) {
        if let Err(e) = self.loader.keep(plugin) {
            tracing::warn!("caching a compiled artifact: {e}");
        }
    }

    /// Removes compiled artifacts that no installed component needs (nor
    /// any plugin loaded now). Skipped, with a warning, when an installed
    /// component cannot be read: better an extra file than a lost one.
    fn collect_artifact_garbage(&self) {
        let removed = self
            .installed_components()
            .and_then(|components| Ok(self.loader.collect_garbage(&components)?));
        match removed {
            Ok(removed) => {
                for path in removed {
                    tracing::info!(path = %path.display(), "removed an unneeded compiled artifact");
                }
            }
            Err(e) => tracing::warn!("cleaning up compiled artifacts: {e}"),
        }
    }

    /// The digests of every installed component (previous versions kept
    /// for rollback too), read from its package.
    fn installed_components(&self) -> Result<HashSet<Digest>, LifecycleError> {
        let component =
            |manifest: &serde_json::Value| manifest["component"].as_str().map(str::to_owned);
        let packages: HashMap<String, Option<String>> = self
            .registry
            .read()?
            .all_installations()?
            .into_iter()
            .flat_map(|i| {
                let previous =
                    (i.previous.as_ref()).map(|p| (p.digest.clone(), component(&p.manifest)));
                std::iter::once((i.digest.clone(), component(&i.manifest))).chain(previous)
            })
            .collect();
        let mut components = HashSet::new();
        for (digest, component) in packages {
            let Some(component) = component else {
                continue;
            };
            let file = self
                .packages
                .files_dir(&parse_digest(&digest)?)
                .join(component);
            let bytes = std::fs::read(&file).map_err(StorageError::io("read", &file))?;
            components.insert(Digest::of(&bytes));
        }
        Ok(components)
    }
}
