//! Turns component bytes into something ready to instantiate.
//!
//! Each distinct component is compiled once: the precompiled artifact is
//! cached on disk keyed by the component's digest and the engine's
//! fingerprint, so a restart (or another org installing the same bytes)
//! loads machine code instead of recompiling. The result is a
//! [`LoadedPlugin`]: an `InstancePre` whose imports are already resolved,
//! with the indices of the entry points it exports.

use crate::package::Kind;
use crate::sandbox::engine::engine_fingerprint;
use crate::sandbox::exports::ExportIndices;
use crate::sandbox::instance_state::InstanceState;
use berth_storage::{ArtifactCache, ArtifactKey, Digest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, wasmparser};

/// Why a component cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file")]
    NotWasm,
    /// A core wasm module, not a component.
    #[error(
        "a core WebAssembly module, not a component (build for wasm32-wasip2 or run `wasm-tools component new`)"
    )]
    CoreModule,
    /// The component failed validation or compilation.
    #[error("invalid component: {0:#}")]
    Invalid(anyhow::Error),
    /// The component imports something berth does not provide.
    #[error("unsatisfied import: {0:#}")]
    Imports(anyhow::Error),
    /// The component lacks an export one of the manifest's kinds needs.
    #[error("the manifest's kinds need exports the component lacks: {}", .0.join(", "))]
    MissingExports(Vec<&'static str>),
    /// The artifact cache could not be written.
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
}

/// A plugin component ready for per-call instantiation.
pub struct LoadedPlugin {
    /// Digest of the component's bytes.
    pub digest: Digest,
    /// The pre-instantiated component.
    pub pre: InstancePre<InstanceState>,
    /// The entry points it exports.
    pub exports: ExportIndices,
}

/// Compiles components (or loads them from the artifact cache) and links them.
///
/// Loaded plugins are shared: while any org serves a digest, every other
/// org that activates the same bytes gets the same `InstancePre`.
pub struct Loader {
    engine: Engine,
    linker: Linker<InstanceState>,
    cache: ArtifactCache,
    fingerprint: String,
    live: Mutex<HashMap<Digest, Weak<LoadedPlugin>>>,
}

impl Loader {
    /// A loader for `engine`, linking against `linker`, caching in `cache`.
    pub fn new(engine: Engine, linker: Linker<InstanceState>, cache: ArtifactCache) -> Self {
        let fingerprint = engine_fingerprint(&engine);
        Self {
            engine,
            linker,
            cache,
            fingerprint,
            live: Mutex::default(),
        }
    }

    /// Validates, compiles (or loads from cache) and pre-instantiates a
    /// plugin whose manifest declares `kinds`, or returns the one already
    /// loaded for the same bytes. Every kind's export must be present.
    pub fn load(&self, bytes: &[u8], kinds: &[Kind]) -> Result<Arc<LoadedPlugin>, LoadError> {
        let digest = Digest::of(bytes);
        let plugin = match self.live_plugin(&digest) {
            Some(plugin) => plugin,
            None => {
                let (component, artifact) = self.compile(digest, bytes)?;
                let pre = self
                    .linker
                    .instantiate_pre(&component)
                    .map_err(|e| LoadError::Imports(e.into()))?;
                let exports = ExportIndices::of(&pre);
                check_exports(&exports, kinds)?;
                self.persist(artifact)?;
                let plugin = Arc::new(LoadedPlugin {
                    digest,
                    pre,
                    exports,
                });
                let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                live.retain(|_, weak| weak.strong_count() > 0);
                live.insert(digest, Arc::downgrade(&plugin));
                return Ok(plugin);
            }
        };
        check_exports(&plugin.exports, kinds)?;
        Ok(plugin)
    }

    fn live_plugin(&self, digest: &Digest) -> Option<Arc<LoadedPlugin>> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(digest).and_then(Weak::upgrade)
    }

    /// The compiled component, from the cache when it holds a usable one;
    /// otherwise freshly compiled, with the artifact still to be persisted.
    fn compile(
        &self,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<(Component, Option<FreshArtifact>), LoadError> {
        check_is_component(bytes)?;
        let key = ArtifactKey {
            component: digest,
            engine: self.fingerprint.clone(),
        };
        if let Some(component) = self.cached(&key) {
            return Ok((component, None));
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(e.into()))?;
        let artifact = component
            .serialize()
            .map_err(|e| LoadError::Invalid(e.into()))?;
        Ok((component, Some((key, artifact))))
    }

    /// Writes a fresh artifact to the cache — called only once the component
    /// has proven usable, so a rejected component leaves nothing on disk.
    fn persist(&self, artifact: Option<FreshArtifact>) -> Result<(), LoadError> {
        if let Some((key, bytes)) = artifact {
            self.cache.store(&key, &bytes)?;
        }
        Ok(())
    }

    /// The precompiled component for `key`, if the cache holds a usable one.
    fn cached(&self, key: &ArtifactKey) -> Option<Component> {
        let path = self.cache.lookup(key)?;
        // SAFETY: the cache holds only artifacts berth wrote with
        // `Component::serialize`, keyed by the engine fingerprint, in
        // berth's own data directory.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {e:#}");
                None
            }
        }
    }
}

/// A just-compiled artifact not yet written to the cache: its key and bytes.
type FreshArtifact = (ArtifactKey, Vec<u8>);

/// Refuses a component lacking an export one of `kinds` needs.
fn check_exports(exports: &ExportIndices, kinds: &[Kind]) -> Result<(), LoadError> {
    let missing = exports.missing_for(kinds);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LoadError::MissingExports(missing))
    }
}

/// Tells a component from a core module or non-wasm bytes, before compiling.
fn check_is_component(bytes: &[u8]) -> Result<(), LoadError> {
    if wasmparser::Parser::is_component(bytes) {
        Ok(())
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        Err(LoadError::CoreModule)
    } else {
        Err(LoadError::NotWasm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::settings::Limits;
    use crate::sandbox::engine::build_engine;
    use crate::sandbox::instance_state::build_linker;

    fn loader(cache_dir: &std::path::Path) -> Loader {
        let limits = Limits {
            max_instances: 4,
            ..Limits::default()
        };
        let engine = build_engine(&limits).unwrap();
        let linker = build_linker(&engine).unwrap();
        Loader::new(engine, linker, ArtifactCache::new(cache_dir))
    }

    fn cached_artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for engine_dir in std::fs::read_dir(dir).unwrap() {
            for file in std::fs::read_dir(engine_dir.unwrap().path()).unwrap() {
                found.push(file.unwrap().path());
            }
        }
        found
    }

    #[test]
    fn compiled_artifact_is_cached_and_reused_by_a_new_loader() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = berth_guests::HELLO_COMPONENT_BYTES;
        let first = loader(dir.path()).load(bytes, &[Kind::Routes]).unwrap();
        let artifacts = cached_artifacts(dir.path());
        assert_eq!(artifacts.len(), 1);
        assert!(artifacts[0].ends_with(format!("{}.cwasm", first.digest.to_hex())));
        let written = std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap();

        // A new loader (as after a restart) loads the artifact instead of
        // compiling and writing it again.
        let second = loader(dir.path()).load(bytes, &[Kind::Routes]).unwrap();
        assert_eq!(second.digest, first.digest);
        assert_eq!(cached_artifacts(dir.path()), artifacts);
        let after = std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(after, written, "artifact was rewritten");
    }

    #[test]
    fn a_corrupt_cached_artifact_is_replaced_by_a_fresh_compile() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = berth_guests::HELLO_COMPONENT_BYTES;
        loader(dir.path()).load(bytes, &[Kind::Routes]).unwrap();
        let artifact = cached_artifacts(dir.path()).remove(0);
        std::fs::write(&artifact, b"garbage").unwrap();

        loader(dir.path()).load(bytes, &[Kind::Routes]).unwrap();
        assert_ne!(std::fs::read(&artifact).unwrap(), b"garbage");
    }

    #[test]
    fn non_components_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let loader = loader(dir.path());
        let err = |bytes: &[u8]| loader.load(bytes, &[Kind::Routes]).err().unwrap();
        assert!(matches!(err(b"hello"), LoadError::NotWasm));
        assert!(matches!(err(b"\0asm\x01\0\0\0"), LoadError::CoreModule));
        assert!(matches!(
            err(b"\0asm\x0d\0\x01\0"),
            LoadError::MissingExports(_)
        ));
        // Nothing rejected was compiled into the cache.
        assert!(cached_artifacts(dir.path()).is_empty());
    }
}
