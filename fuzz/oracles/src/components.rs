//! Components from anywhere: arbitrary bytes (seeded with the guests'
//! real components) through the install-time import gate and the loader,
//! which must refuse or accept them, never crash.

use crate::Verdict;
use berth::capabilities::gates::{component_imports, missing_permissions};
use berth::common::settings::Limits;
use berth::package::manifest::Permissions;
use berth::package::{ApiVersion, Kind};
use berth::sandbox::engine::build_engine;
use berth::sandbox::instance_state::build_linker;
use berth::sandbox::loader::Loader;
use berth_storage::ArtifactCache;
use std::sync::OnceLock;

/// One loader for the whole run, over a small pool and a throwaway cache.
fn loader() -> &'static Loader {
    static LOADER: OnceLock<Loader> = OnceLock::new();
    LOADER.get_or_init(|| {
        let limits = Limits {
            max_instances: 4,
            ..Limits::default()
        };
        let engine = build_engine(&limits).expect("an engine");
        let linker = build_linker(&engine).expect("a linker");
        let cache = tempfile::tempdir().expect("a cache folder").keep();
        Loader::new(engine, linker, ArtifactCache::new(cache))
    })
}

/// Checks `bytes` as a plugin's component.
pub fn check(bytes: &[u8]) -> Verdict {
    if let Some(imports) = component_imports(bytes) {
        let _ = missing_permissions(&imports, &Permissions::default());
    }
    let _ = loader().load(bytes, &[Kind::Routes], ApiVersion::NEWEST);
    Ok(())
}
