//! An instance's WASI context (`wasi:cli`, clocks, random, filesystem,
//! sockets), built when the guest first calls one of those interfaces.
//!
//! Building a context seeds two random number generators and allocates a
//! dozen small objects, twice (wasmtime's builder replaces itself with a
//! fresh default when it builds): about 0.8 µs, 5 % of a whole `hello`
//! request in process, and `hello` calls none of these interfaces.
//! `wasi:io` (the streams of `wasi:http` bodies) reaches only the resource
//! table, so it never builds one (see `sandbox::instance_state`). A plugin
//! granted directories gets its context up front, so that a directory that
//! cannot be opened fails the request at setup, as it always did.

use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// The builder every instance's WASI context starts from: wasmtime's
/// defaults (no environment, arguments or stdio, no network, nothing
/// preopened). A setting every plugin should get belongs here, so that
/// contexts built up front and on first use agree.
pub fn builder() -> WasiCtxBuilder {
    WasiCtx::builder()
}

/// A WASI context, or the promise of a default one.
pub struct LazyWasi(Option<WasiCtx>);

impl LazyWasi {
    /// A context built on first use, with nothing preopened.
    pub fn unbuilt() -> Self {
        Self(None)
    }

    /// `ctx`, built already.
    pub fn built(ctx: WasiCtx) -> Self {
        Self(Some(ctx))
    }

    /// Whether the context exists yet.
    pub fn is_built(&self) -> bool {
        self.0.is_some()
    }

    /// The context, built now if it was not.
    pub fn get(&mut self) -> &mut WasiCtx {
        self.0.get_or_insert_with(|| builder().build())
    }
}
