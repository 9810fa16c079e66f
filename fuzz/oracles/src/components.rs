//! Components from anywhere through the install-time import gate and the
//! loader, which must refuse or accept them, never crash: arbitrary bytes
//! (seeded with the guests' real components), and components wrapping a
//! `wasm-smith`-generated core module — valid code of every shape, which
//! the loader compiles with Cranelift before it looks at the exports.

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

/// Checks `data`: as it is when it starts like a wasm binary (`\0asm`, as
/// the seeded guest components do), else as the recipe for a generated
/// module wrapped in a component.
pub fn check_input(data: &[u8]) -> Verdict {
    if data.starts_with(b"\0asm") {
        return check(data);
    }
    smith_component(data).map_or(Ok(()), |component| check(&component))
}

/// A component instantiating one `wasm-smith` module made from `data`
/// (without imports, so it needs no arguments); `None` if `data` is too
/// short to make one.
pub fn smith_component(data: &[u8]) -> Option<Vec<u8>> {
    let mut input = arbitrary::Unstructured::new(data);
    let mut config: wasm_smith::Config = input.arbitrary().ok()?;
    config.max_imports = 0;
    config.max_memory32_bytes = config.max_memory32_bytes.min(16 << 20);
    let module = wasm_smith::Module::new(config, &mut input).ok()?.to_bytes();
    let mut component = wasm_encoder::Component::new();
    component.section(&wasm_encoder::RawSection {
        id: wasm_encoder::ComponentSectionId::CoreModule as u8,
        data: &module,
    });
    let mut instances = wasm_encoder::InstanceSection::new();
    instances.instantiate(0, Vec::<(&str, wasm_encoder::ModuleArg)>::new());
    component.section(&instances);
    Some(component.finish())
}

/// Checks `bytes` as a plugin's component.
pub fn check(bytes: &[u8]) -> Verdict {
    if let Some(imports) = component_imports(bytes) {
        let _ = missing_permissions(&imports, &Permissions::default());
    }
    let _ = loader().load(bytes, &[Kind::Routes], ApiVersion::NEWEST);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_modules_become_components_the_loader_compiles() {
        let data: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let component = smith_component(&data).expect("enough input for a module");
        assert!(component.starts_with(b"\0asm\x0d\0\x01\0"));
        // Valid, but exporting no handler: refused, not crashed.
        let refused = loader().load(&component, &[Kind::Routes], ApiVersion::NEWEST);
        assert!(refused.is_err());
        assert_eq!(check_input(&[1]), Ok(()));
        assert_eq!(check_input(b"\0asm not really"), Ok(()));
    }
}
