//! Turns component bytes into something ready to instantiate.
//!
//! Each distinct component is compiled once, even when two installs race
//! (single-flight per digest): the precompiled artifact is cached on disk
//! keyed by the component's digest and the engine's fingerprint, so a
//! restart (or another org installing the same bytes) loads machine code
//! instead of recompiling. A fresh artifact stays in memory until the
//! lifecycle [keeps](Loader::keep) it, once the install that needed it has
//! committed, so a refused upload writes nothing; artifacts no installed
//! component needs are [collected](Loader::collect_garbage). The result is a
//! [`LoadedPlugin`]: an `InstancePre` whose imports are already resolved,
//! with the indices of the entry points it exports.

use crate::package::{ApiVersion, Kind};
use crate::sandbox::engine::engine_fingerprint;
use crate::sandbox::exports::{BuiltAgainst, ExportIndices};
use crate::sandbox::instance_state::InstanceState;
use berth_storage::{ArtifactCache, ArtifactKey, Digest};
use std::collections::{HashMap, HashSet};
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
    /// The component is built against another `berth:plugin` version than
    /// the manifest's `api` says (or several, or an unreleased one).
    #[error("the manifest says api {declared}, but the component is built against {found}")]
    ApiMismatch {
        /// The manifest's `api`.
        declared: ApiVersion,
        /// The versions the component's imports and exports name.
        found: String,
    },
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
    /// Its freshly compiled artifact, until [`Loader::keep`] writes it.
    unsaved_artifact: Mutex<Option<Vec<u8>>>,
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
    /// One lock per digest being compiled, so racing loads compile it once.
    compiling: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
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
            compiling: Mutex::default(),
        }
    }

    /// Validates, compiles (or loads from cache) and pre-instantiates a
    /// plugin whose manifest declares `kinds` and `api`, or returns the one
    /// already loaded for the same bytes. Every kind's export must be
    /// present, and the component must be built against `api`.
    pub fn load(
        &self,
        bytes: &[u8],
        kinds: &[Kind],
        api: ApiVersion,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let digest = Digest::of(bytes);
        let plugin = match self.live_plugin(&digest) {
            Some(plugin) => plugin,
            None => self.load_once(digest, bytes)?,
        };
        check_api(&plugin.exports.built_against, api)?;
        check_exports(&plugin.exports, kinds)?;
        Ok(plugin)
    }

    /// Compiles and links `digest` unless a racing load did meanwhile.
    fn load_once(&self, digest: Digest, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        let gate = lock(&self.compiling).entry(digest).or_default().clone();
        let compiling = lock(&gate);
        let loaded = match self.live_plugin(&digest) {
            Some(plugin) => Ok(plugin),
            None => self.compile_and_link(digest, bytes),
        };
        drop(compiling);
        lock(&self.compiling).remove(&digest);
        loaded
    }

    fn compile_and_link(
        &self,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let (component, unsaved_artifact) = self.compile(digest, bytes)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(e.into()))?;
        let plugin = Arc::new(LoadedPlugin {
            digest,
            exports: ExportIndices::of(&pre),
            pre,
            unsaved_artifact: Mutex::new(unsaved_artifact),
        });
        let mut live = lock(&self.live);
        live.retain(|_, weak| weak.strong_count() > 0);
        live.insert(digest, Arc::downgrade(&plugin));
        Ok(plugin)
    }

    /// Writes `plugin`'s freshly compiled artifact to the cache (once the
    /// install that loaded it has committed); nothing if it came from there.
    pub fn keep(&self, plugin: &LoadedPlugin) -> Result<(), LoadError> {
        let Some(artifact) = lock(&plugin.unsaved_artifact).take() else {
            return Ok(());
        };
        self.cache.store(&self.key(plugin.digest), &artifact)?;
        Ok(())
    }

    /// Removes every cached artifact but those of `components` and of
    /// plugins loaded now, and every other engine's; returns what it removed.
    pub fn collect_garbage(
        &self,
        components: &HashSet<Digest>,
    ) -> Result<Vec<std::path::PathBuf>, berth_storage::StorageError> {
        let mut keep = components.clone();
        keep.extend(
            lock(&self.live)
                .iter()
                .filter(|(_, weak)| weak.strong_count() > 0)
                .map(|(digest, _)| *digest),
        );
        self.cache.collect_garbage(&self.fingerprint, &keep)
    }

    fn key(&self, component: Digest) -> ArtifactKey {
        ArtifactKey {
            component,
            engine: self.fingerprint.clone(),
        }
    }

    fn live_plugin(&self, digest: &Digest) -> Option<Arc<LoadedPlugin>> {
        lock(&self.live).get(digest).and_then(Weak::upgrade)
    }

    /// The compiled component, from the cache when it holds a usable one;
    /// otherwise freshly compiled, with its artifact still to be kept.
    fn compile(
        &self,
        digest: Digest,
        bytes: &[u8],
    ) -> Result<(Component, Option<Vec<u8>>), LoadError> {
        check_is_component(bytes)?;
        if let Some(component) = self.cached(&self.key(digest)) {
            return Ok((component, None));
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(e.into()))?;
        let artifact = component
            .serialize()
            .map_err(|e| LoadError::Invalid(e.into()))?;
        Ok((component, Some(artifact)))
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

/// Locks `mutex`, carrying on past a panic elsewhere (the maps stay valid).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Refuses a component built against another API version than `api`.
fn check_api(built_against: &BuiltAgainst, api: ApiVersion) -> Result<(), LoadError> {
    let found = match built_against {
        _ if built_against.matches(api) => return Ok(()),
        BuiltAgainst::Version(version) => version.to_string(),
        BuiltAgainst::Unknown(versions) => versions.join(" and "),
        BuiltAgainst::Any => unreachable!("matches every version"),
    };
    Err(LoadError::ApiMismatch {
        declared: api,
        found,
    })
}

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
        let loader_a = loader(dir.path());
        let first = loader_a
            .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
            .unwrap();
        assert!(
            cached_artifacts(dir.path()).is_empty(),
            "written before kept"
        );
        loader_a.keep(&first).unwrap();
        let artifacts = cached_artifacts(dir.path());
        assert_eq!(artifacts.len(), 1);
        assert!(artifacts[0].ends_with(format!("{}.cwasm", first.digest.to_hex())));
        let written = std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap();

        // A new loader (as after a restart) loads the artifact instead of
        // compiling and writing it again.
        let second = loader(dir.path())
            .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
            .unwrap();
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
        let first = loader(dir.path());
        first
            .keep(
                &first
                    .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                    .unwrap(),
            )
            .unwrap();
        let artifact = cached_artifacts(dir.path()).remove(0);
        std::fs::write(&artifact, b"garbage").unwrap();

        let second = loader(dir.path());
        second
            .keep(
                &second
                    .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                    .unwrap(),
            )
            .unwrap();
        assert_ne!(std::fs::read(&artifact).unwrap(), b"garbage");
    }

    #[test]
    fn non_components_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let loader = loader(dir.path());
        let err = |bytes: &[u8]| {
            loader
                .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                .err()
                .unwrap()
        };
        assert!(matches!(err(b"hello"), LoadError::NotWasm));
        assert!(matches!(err(b"\0asm\x01\0\0\0"), LoadError::CoreModule));
        assert!(matches!(
            err(b"\0asm\x0d\0\x01\0"),
            LoadError::MissingExports(_)
        ));
        // Nothing rejected was compiled into the cache.
        assert!(cached_artifacts(dir.path()).is_empty());
    }

    #[test]
    fn racing_loads_compile_once_and_share_the_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let loader = loader(dir.path());
        let bytes = berth_guests::HELLO_COMPONENT_BYTES;
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| {
                loader
                    .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                    .unwrap()
            });
            let b = scope.spawn(|| {
                loader
                    .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                    .unwrap()
            });
            (a.join().unwrap(), b.join().unwrap())
        });
        assert!(Arc::ptr_eq(&a, &b), "compiled twice");
    }

    #[test]
    fn garbage_collection_keeps_only_needed_artifacts_of_this_engine() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = berth_guests::HELLO_COMPONENT_BYTES;
        let loader = loader(dir.path());
        let plugin = loader
            .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
            .unwrap();
        loader.keep(&plugin).unwrap();
        let other_engine = dir.path().join("0123456789abcdef");
        std::fs::create_dir_all(&other_engine).unwrap();
        std::fs::write(other_engine.join("x.cwasm"), b"old").unwrap();

        // Needed (loaded now): only the other engine's folder goes.
        let removed = loader.collect_garbage(&HashSet::new()).unwrap();
        assert_eq!(removed, vec![other_engine]);
        assert_eq!(cached_artifacts(dir.path()).len(), 1);

        // Neither loaded nor installed: it goes too.
        let digest = plugin.digest;
        drop(plugin);
        assert!(
            loader
                .collect_garbage(&HashSet::from([digest]))
                .unwrap()
                .is_empty()
        );
        assert_eq!(loader.collect_garbage(&HashSet::new()).unwrap().len(), 1);
        assert!(cached_artifacts(dir.path()).is_empty());
    }
}
