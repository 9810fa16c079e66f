//! Host-side bindings of berth's `berth:plugin` imports, generated from
//! `wit/` (the same files plugin authors use). Generated items carry the
//! WIT's own documentation, where it has any.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "berth:plugin/host",
    // Writes commit to disk; they run on a blocking thread (see `kv`).
    imports: {
        "berth:plugin/kv.set": async,
        "berth:plugin/kv.delete": async,
    },
});
