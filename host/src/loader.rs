//! Turns component bytes into something ready to instantiate.
//!
//! Each distinct component is compiled once: the precompiled artifact is
//! cached on disk keyed by the component's digest and the engine's
//! fingerprint, so a restart (or another org installing the same bytes)
//! loads machine code instead of recompiling. The result is a
//! [`ProxyPre`] — an `InstancePre` whose imports are already resolved.

use crate::engine::engine_fingerprint;
use crate::runtime::PluginState;
use berth_storage::{ArtifactCache, ArtifactKey, Digest};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, wasmparser};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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
    /// The component does not export `wasi:http/incoming-handler`.
    #[error("exports no HTTP handler (`wasi:http/incoming-handler@0.2.x`): {0:#}")]
    NoHandler(anyhow::Error),
    /// The artifact cache could not be written.
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
}

/// A route plugin ready for per-request instantiation.
pub struct RoutePlugin {
    /// Digest of the component's bytes.
    pub digest: Digest,
    /// The pre-instantiated component.
    pub pre: ProxyPre<PluginState>,
}

/// Compiles components (or loads them from the artifact cache) and links them.
pub struct Loader {
    engine: Engine,
    linker: Linker<PluginState>,
    cache: ArtifactCache,
    fingerprint: String,
}

impl Loader {
    /// A loader for `engine`, linking against `linker`, caching in `cache`.
    pub fn new(engine: Engine, linker: Linker<PluginState>, cache: ArtifactCache) -> Self {
        let fingerprint = engine_fingerprint(&engine);
        Self {
            engine,
            linker,
            cache,
            fingerprint,
        }
    }

    /// Validates, compiles (or loads from cache) and pre-instantiates a route plugin.
    ///
    /// A freshly compiled artifact is written to the cache only once the
    /// component has proven servable, so a rejected component leaves nothing.
    pub fn load_route_plugin(&self, bytes: &[u8]) -> Result<RoutePlugin, LoadError> {
        check_is_component(bytes)?;
        let digest = Digest::of(bytes);
        let key = ArtifactKey {
            component: digest,
            engine: self.fingerprint.clone(),
        };
        let (component, freshly_compiled) = match self.cached(&key) {
            Some(component) => (component, false),
            None => (
                Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid(e.into()))?,
                true,
            ),
        };
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports(e.into()))?;
        let pre = ProxyPre::new(pre).map_err(|e| LoadError::NoHandler(e.into()))?;
        if freshly_compiled {
            let artifact = component
                .serialize()
                .map_err(|e| LoadError::Invalid(e.into()))?;
            self.cache.store(&key, &artifact)?;
        }
        Ok(RoutePlugin { digest, pre })
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
    use crate::config::Limits;
    use crate::engine::build_engine;
    use crate::runtime::build_linker;

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
        let first = loader(dir.path()).load_route_plugin(bytes).unwrap();
        let artifacts = cached_artifacts(dir.path());
        assert_eq!(artifacts.len(), 1);
        assert!(artifacts[0].ends_with(format!("{}.cwasm", first.digest.to_hex())));
        let written = std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap();

        // A new loader (as after a restart) loads the artifact instead of
        // compiling and writing it again.
        let second = loader(dir.path()).load_route_plugin(bytes).unwrap();
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
        loader(dir.path()).load_route_plugin(bytes).unwrap();
        let artifact = cached_artifacts(dir.path()).remove(0);
        std::fs::write(&artifact, b"garbage").unwrap();

        loader(dir.path()).load_route_plugin(bytes).unwrap();
        assert_ne!(std::fs::read(&artifact).unwrap(), b"garbage");
    }

    #[test]
    fn non_components_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let loader = loader(dir.path());
        let err = |bytes: &[u8]| loader.load_route_plugin(bytes).err().unwrap();
        assert!(matches!(err(b"hello"), LoadError::NotWasm));
        assert!(matches!(err(b"\0asm\x01\0\0\0"), LoadError::CoreModule));
        assert!(matches!(err(b"\0asm\x0d\0\x01\0"), LoadError::NoHandler(_)));
        // Nothing rejected was compiled into the cache.
        assert!(cached_artifacts(dir.path()).is_empty());
    }
}
