//! Host-side bindings of berth's `berth:plugin` imports, generated from
//! `wit/` (the same files plugin authors use): every released API version
//! side by side — [`v0_2_0`], the newest, from `wit/`, and [`v0_1_0`] from
//! `wit/versions/0.1.0/`, and the standard `wasi:config/store` 0.2.0 plugins
//! may import. Generated items carry the WIT's own documentation.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: ["../wit", "../wit/versions/0.1.0"],
    inline: "
        package berth:host-side;

        /// The host API of every released version, linked side by side.
        world imports {
            include berth:plugin/host@0.1.0;
            include berth:plugin/host@0.2.0;
        }
    ",
    world: "berth:host-side/imports",
    // Writes commit to disk; they run on a blocking thread (see `kv`).
    imports: {
        "berth:plugin/kv.set": async,
        "berth:plugin/kv.delete": async,
        // A query may scan a whole module: it runs on a blocking thread.
        "berth:plugin/records.query": async,
        // Writes run the module's hooks in other instances.
        "berth:plugin/records.create": async,
        "berth:plugin/records.replace": async,
        "berth:plugin/records.patch": async,
        "berth:plugin/records.delete": async,
    },
});

pub use self::berth::plugin0_1_0 as v0_1_0;
pub use self::berth::plugin0_2_0 as v0_2_0;
pub use self::wasi::config::store as wasi_config;
