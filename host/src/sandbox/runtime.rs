//! Per-request execution: a fresh `Store` and instance for every request.
//!
//! Each request gets its own [`InstanceState`] (its capabilities, HTTP
//! context, resource table, memory limiter) and a new instance from the plugin's
//! `InstancePre`, bounded by a CPU deadline (epoch interruption) and a
//! wall-clock timeout. A trap, a deadline or a timeout ends that request alone.

use crate::capabilities::{Grantee, HostServices};
use crate::common::bodies::collapse_if_complete;
use crate::common::settings::Limits;
use crate::sandbox::active_plugins::MountedPlugin;
use crate::sandbox::instance_state::InstanceState;
use crate::sandbox::scheduler::{CpuMeter, CpuScheduler};
use bytes::Bytes;
use hyper::body::Body;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use wasmtime::component::Instance;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

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
    /// The host could not set up the instance (e.g. the instance pool is
    /// exhausted): the plugin is unavailable for now.
    #[error("could not start the plugin: {0}")]
    Setup(String),
}

/// How a guest's run ended: its own result, or the wall-clock timeout.
type GuestOutcome = Result<wasmtime::Result<()>, tokio::time::error::Elapsed>;

/// One call into an instance's exports, borrowing its store (see [`Runtime::call`]).
pub type GuestCall<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// Runs route plugins, one fresh instance per request.
#[derive(Clone)]
pub struct Runtime {
    limits: Arc<Limits>,
    services: HostServices,
    scheduler: Arc<CpuScheduler>,
}

impl Runtime {
    /// A runtime enforcing `limits` on every request, giving plugins the
    /// `services` their grants allow, running guests on `scheduler`'s slots.
    pub fn new(limits: Limits, services: HostServices, scheduler: Arc<CpuScheduler>) -> Self {
        Self {
            limits: Arc::new(limits),
            services,
            scheduler,
        }
    }

    /// Instantiates the mounted plugin in a fresh store and lets it handle
    /// `request`, with the powers the org granted it.
    ///
    /// Returns once the guest has set the response head; the body keeps
    /// streaming from the guest, still bounded by the wall-clock limit.
    /// `guard` (e.g. the org's admission) is kept until the guest has ended,
    /// even if the client goes away while it streams.
    pub async fn handle<B, G: Send + 'static>(
        &self,
        mounted: &MountedPlugin,
        request: http::Request<B>,
        guard: G,
    ) -> Result<http::Response<HyperOutgoingBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let (plugin, metrics) = (&mounted.plugin, &mounted.metrics);
        let setup = |e: wasmtime::Error| InvokeError::Setup(format!("{e:#}"));
        let meter = Arc::new(CpuMeter::default());
        let mut store = self.new_store(mounted, meter.clone()).map_err(setup)?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let scheme = match request.uri().scheme_str() {
            Some("https") => Scheme::Https,
            _ => Scheme::Http,
        };
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)
            .map_err(setup)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(setup)?;

        let plugin = plugin.clone();
        let deadline_ms = self.limits.cpu_deadline_ms;
        let timeout = self.limits.request_timeout();
        let guest_metrics = metrics.clone();
        let metrics = metrics.clone();
        let run = Box::pin(async move {
            let http = plugin
                .exports
                .http
                .as_ref()
                .ok_or_else(|| wasmtime::format_err!("the plugin exports no HTTP handler"))?;
            let started = std::time::Instant::now();
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            let proxy = http.load(&mut store, &instance)?;
            metrics.instantiated(started.elapsed());
            let _live = metrics.live_instance();
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        });
        let fair = self
            .scheduler
            .schedule(&mounted.identity.org, meter, guest_metrics, run);
        let mut guest = Box::pin(tokio::time::timeout(timeout, fair));

        // Drive the guest on this task until it sets the response head or
        // finishes. Most guests finish within that first poll (the body sits
        // in the response channel), so the instance is freed before the head
        // is returned and no task is spawned.
        let mut receiver = receiver;
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(head) = Pin::new(&mut receiver).poll(cx) {
                return Poll::Ready(Ok(head));
            }
            guest.as_mut().poll(cx).map(Err)
        })
        .await;
        let timeout_ms = self.limits.request_timeout_ms;
        let without_response = |finished: GuestOutcome| match finished {
            Ok(Ok(())) => InvokeError::NoResponse,
            Ok(Err(e)) => classify_guest_error(e, deadline_ms),
            Err(_elapsed) => InvokeError::Timeout(timeout_ms),
        };
        let (head, finished) = match first {
            Ok(Ok(head)) => {
                let running =
                    std::future::poll_fn(|cx| Poll::Ready(guest.as_mut().poll(cx).is_pending()))
                        .await;
                if running {
                    // Still streaming: let it finish on its own task, still
                    // bounded by the wall-clock timeout, holding `guard`.
                    tokio::spawn(async move {
                        let outcome = guest.await;
                        drop(guard);
                        outcome
                    });
                }
                (head, !running)
            }
            // The guest dropped the outparam without setting it: find out why.
            Ok(Err(_dropped)) => return Err(without_response(guest.await)),
            Err(finished) => match receiver.try_recv() {
                Ok(head) => (head, true),
                Err(_) => return Err(without_response(finished)),
            },
        };
        let response = head.map_err(|code| InvokeError::Guest(format!("{code:?}")))?;
        Ok(if finished {
            response.map(collapse_if_complete)
        } else {
            response
        })
    }

    /// Instantiates the mounted plugin in a fresh store and runs `call` on
    /// the instance (an export other than the HTTP handler), under the same
    /// CPU deadline and wall-clock limit as a request. `prepare` may set up
    /// the store's state first (e.g. an activation context).
    pub async fn call<T>(
        &self,
        mounted: &MountedPlugin,
        prepare: impl FnOnce(&mut InstanceState),
        call: impl for<'a> FnOnce(&'a mut Store<InstanceState>, Instance) -> GuestCall<'a, T> + Send,
    ) -> Result<T, InvokeError> {
        let meter = Arc::new(CpuMeter::default());
        let mut store = self
            .new_store(mounted, meter.clone())
            .map_err(|e| InvokeError::Setup(format!("{e:#}")))?;
        prepare(store.data_mut());
        let (plugin, metrics) = (&mounted.plugin, &mounted.metrics);
        let run = Box::pin(async {
            let started = std::time::Instant::now();
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            metrics.instantiated(started.elapsed());
            let _live = metrics.live_instance();
            call(&mut store, instance).await
        });
        let fair = (self.scheduler).schedule(&mounted.identity.org, meter, metrics.clone(), run);
        let outcome = tokio::time::timeout(self.limits.request_timeout(), fair).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify_guest_error(e, self.limits.cpu_deadline_ms)),
            Err(_elapsed) => Err(InvokeError::Timeout(self.limits.request_timeout_ms)),
        }
    }

    fn new_store(
        &self,
        mounted: &MountedPlugin,
        meter: Arc<CpuMeter>,
    ) -> wasmtime::Result<Store<InstanceState>> {
        let capabilities = self.services.grant(Grantee {
            identity: &mounted.identity,
            grants: &mounted.grants,
            metrics: &mounted.metrics,
            log: &mounted.log,
        })?;
        let state = InstanceState::new(capabilities, self.limits.max_memory_bytes);
        let plugin = &mounted.plugin;
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(InstanceState::limiter);
        // The deadline callback runs while guest code executes, once per
        // epoch tick. It checks the CPU time the scheduler measured (time
        // blocked in host calls, such as sleeps, is not counted; the
        // wall-clock timeout bounds it), and otherwise ends the poll, so the
        // executor's other tasks get their turn; when guests wait for a run
        // slot, the guest also gives its slot up and queues for the next.
        let budget = self.limits.cpu_deadline();
        store.set_epoch_deadline(1);
        let scheduler = self.scheduler.clone();
        store.epoch_deadline_callback(move |_| {
            meter.ticked();
            Ok(if meter.used() >= budget {
                UpdateDeadline::Interrupt
            } else if scheduler.contended() {
                meter.preempt();
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        Ok(store)
    }
}

/// Maps a guest failure to what the client is told.
fn classify_guest_error(error: wasmtime::Error, deadline_ms: u64) -> InvokeError {
    if error.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        return InvokeError::Setup(format!("{error:#}"));
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => InvokeError::CpuDeadline(deadline_ms),
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Trap(format!("{error:#}")),
    }
}
