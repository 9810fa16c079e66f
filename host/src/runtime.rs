//! Per-request execution: a fresh `Store` and instance for every request.
//!
//! Each request gets its own [`PluginState`] (WASI context, HTTP context,
//! resource table, memory limiter) and a new instance from the plugin's
//! `InstancePre`, bounded by a CPU deadline (epoch interruption) and a
//! wall-clock timeout. A trap, a deadline or a timeout ends that request alone.

use crate::config::Limits;
use crate::host_api;
use crate::loader::RoutePlugin;
use crate::metrics::PluginMetrics;
use bytes::Bytes;
use hyper::body::Body;
use std::sync::Arc;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Which plugin, serving which org, a store belongs to (for logs and metrics).
#[derive(Clone, Debug)]
pub struct PluginIdentity {
    /// The org the request is for.
    pub org: String,
    /// The plugin's name.
    pub plugin: String,
}

/// Everything a plugin instance may reach, owned by its `Store`.
pub struct PluginState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// Epoch ticks in which guest code was running (the CPU-time measure).
    cpu_ticks: u64,
    /// Whose request this is.
    pub identity: Arc<PluginIdentity>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Builds the linker every plugin is instantiated against: WASI preview 2,
/// `wasi:http`, and berth's host interfaces.
pub fn build_linker(engine: &Engine) -> anyhow::Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    host_api::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// How a plugin request failed, before or instead of producing a response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The guest trapped (panic, `unreachable`, out-of-bounds access, …).
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The guest used up its CPU deadline.
    #[error("plugin exceeded its CPU deadline of {0} ms")]
    CpuDeadline(u64),
    /// The whole request took longer than the wall-clock limit.
    #[error("plugin did not respond within {0} ms")]
    Timeout(u64),
    /// The guest returned without setting a response.
    #[error("plugin returned without a response")]
    NoResponse,
    /// The guest answered with a `wasi:http` error code instead of a response.
    #[error("plugin reported an error: {0}")]
    Guest(String),
    /// The host could not set up the instance (e.g. the instance pool is exhausted).
    #[error("could not start the plugin: {0}")]
    Setup(String),
}

/// Runs route plugins, one fresh instance per request.
#[derive(Clone)]
pub struct Runtime {
    limits: Arc<Limits>,
}

impl Runtime {
    /// A runtime enforcing `limits` on every request.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits: Arc::new(limits),
        }
    }

    /// Instantiates `plugin` in a fresh store and lets it handle `request`.
    ///
    /// Returns once the guest has set the response head; the body keeps
    /// streaming from the guest, still bounded by the wall-clock limit.
    pub async fn handle<B>(
        &self,
        plugin: &RoutePlugin,
        identity: Arc<PluginIdentity>,
        metrics: &PluginMetrics,
        request: http::Request<B>,
    ) -> Result<http::Response<HyperOutgoingBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let mut store = self.new_store(plugin, identity);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let setup = |e: wasmtime::Error| InvokeError::Setup(format!("{e:#}"));
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(setup)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(setup)?;

        let pre = plugin.pre.clone();
        let deadline_ms = self.limits.cpu_deadline_ms;
        let timeout = self.limits.request_timeout();
        let metrics = metrics.clone();
        let guest = tokio::spawn(tokio::time::timeout(timeout, async move {
            let started = std::time::Instant::now();
            let proxy = pre.instantiate_async(&mut store).await?;
            metrics.instantiated(started.elapsed());
            let _live = metrics.live_instance();
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        }));

        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(InvokeError::Guest(format!("{code:?}"))),
            // The guest dropped the outparam without setting it: find out why.
            Ok(Err(_)) => match guest.await {
                Ok(Ok(Ok(()))) => Err(InvokeError::NoResponse),
                Ok(Ok(Err(e))) => Err(classify_guest_error(e, deadline_ms)),
                Ok(Err(_elapsed)) => Err(InvokeError::Timeout(self.limits.request_timeout_ms)),
                Err(join) => Err(InvokeError::Trap(join.to_string())),
            },
            Err(_elapsed) => {
                guest.abort();
                Err(InvokeError::Timeout(self.limits.request_timeout_ms))
            }
        }
    }

    fn new_store(&self, plugin: &RoutePlugin, identity: Arc<PluginIdentity>) -> Store<PluginState> {
        let state = PluginState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.max_memory_bytes)
                .build(),
            cpu_ticks: 0,
            identity,
        };
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        // The deadline callback runs only while guest code executes, at most
        // once per epoch tick, so counting its calls measures CPU time at
        // tick granularity; time blocked in host calls (sleeps, I/O) costs
        // one tick at most and is bounded by the wall-clock timeout instead.
        // Each tick also yields to the executor, so a spinning guest cannot
        // hog its worker thread.
        let budget = self.limits.cpu_deadline_ticks();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            let state = ctx.data_mut();
            state.cpu_ticks += 1;
            Ok(if state.cpu_ticks >= budget {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store
    }
}

/// Maps a guest failure to what the client is told.
fn classify_guest_error(error: wasmtime::Error, deadline_ms: u64) -> InvokeError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::CpuDeadline(deadline_ms),
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Trap(format!("{error:#}")),
    }
}
