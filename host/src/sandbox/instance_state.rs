//! What one plugin instance's `Store` holds: its capabilities, the
//! `wasi:http` context, the resource table and its memory limit; and the
//! linker every component is instantiated against.

use crate::capabilities::{self, HasCapabilities, InstanceCapabilities};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of one instance's `Store`.
pub struct InstanceState {
    capabilities: InstanceCapabilities,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl InstanceState {
    /// An instance's state with `capabilities`, its linear memories held to
    /// `max_memory_bytes`.
    pub fn new(capabilities: InstanceCapabilities, max_memory_bytes: usize) -> Self {
        Self {
            capabilities,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(max_memory_bytes)
                .build(),
        }
    }

    /// The memory limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
    }
}

impl HasCapabilities for InstanceState {
    fn capabilities(&mut self) -> &mut InstanceCapabilities {
        &mut self.capabilities
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.capabilities.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.capabilities.network,
        }
    }
}

/// Builds the linker every plugin is instantiated against: WASI preview 2,
/// `wasi:http`, and berth's host interfaces.
pub fn build_linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    capabilities::add_to_linker(&mut linker)?;
    Ok(linker)
}
