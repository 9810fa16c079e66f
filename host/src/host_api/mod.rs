//! berth's own host interfaces: the `berth:plugin` imports a plugin may call.
//!
//! Bindings are generated from `wit/` (the same files plugin authors use);
//! each interface's implementation lives in its own submodule, and
//! [`add_to_linker`] wires in the ones the host provides.

mod config;
mod dependencies;
mod kv;
mod log;
mod modules;

pub use log::{LogRate, LogThrottle};
pub use modules::Activation;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "berth:plugin/host",
    // Writes commit to disk; they run on a blocking thread (see `kv`).
    imports: {
        "berth:plugin/kv.set": async,
        "berth:plugin/kv.delete": async,
    },
});

use crate::runtime::PluginState;
use wasmtime::component::{HasSelf, Linker};

/// Adds berth's host interfaces to `linker`.
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    berth::plugin::log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    berth::plugin::kv::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    berth::plugin::config::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    berth::plugin::modules::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    berth::plugin::dependencies::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}
