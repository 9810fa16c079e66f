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

/// Host resources (HTTP fields and bodies, streams, pollables) one instance
/// may hold at once. They live in host memory, outside the guest's memory
/// limit; without a bound, a guest could keep a million of them.
const MAX_RESOURCES: usize = 4096;

/// An instance's empty resource table, holding at most [`MAX_RESOURCES`].
fn resource_table() -> ResourceTable {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    table
}

impl InstanceState {
    /// An instance's state with `capabilities`, its linear memories held to
    /// `max_memory_bytes`.
    pub fn new(capabilities: InstanceCapabilities, max_memory_bytes: usize) -> Self {
        Self {
            capabilities,
            http: WasiHttpCtx::new(),
            table: resource_table(),
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
            ctx: self.capabilities.wasi.get(),
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
    link_io_to_table(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    capabilities::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Links `wasi:io` again, over what `wasmtime_wasi` linked, reaching only
/// the resource table ([`wasmtime_wasi_io::IoView`]): `wasmtime_wasi`
/// reaches it through the whole WASI context, which would build every
/// instance's (lazy) context on its first body write (see
/// `capabilities::wasi`). The same host code runs either way.
fn link_io_to_table(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    wasmtime_wasi_io::add_to_linker_async(linker)?;
    linker.allow_shadowing(false);
    Ok(())
}

impl wasmtime_wasi_io::IoView for InstanceState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::fixture::{Fixture, ORG};
    use crate::common::settings::Limits;
    use crate::package::{ApiVersion, Kind};
    use crate::sandbox::engine::build_engine;
    use crate::sandbox::loader::Loader;
    use berth_storage::ArtifactCache;
    use http_body_util::{BodyExt, Empty};
    use serde_json::json;
    use wasmtime::Store;
    use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

    /// The capabilities of a fresh instance of `hello` granted `grants`,
    /// the directories they name created first (as an install does).
    fn prepared_instance(fixture: &Fixture, grants: serde_json::Value) -> InstanceCapabilities {
        let permissions = serde_json::from_value(grants.clone()).unwrap();
        (fixture.services.files)
            .prepare(ORG, "hello", &permissions)
            .unwrap();
        fixture.instance("hello", grants)
    }

    /// Serves one request to `hello` in a fresh store granted `grants`;
    /// returns the response body and whether the WASI context was built.
    async fn serve_hello(grants: serde_json::Value) -> (String, bool) {
        let fixture = Fixture::new();
        let capabilities = prepared_instance(&fixture, grants);
        let limits = Limits {
            max_instances: 2,
            ..Limits::default()
        };
        let engine = build_engine(&limits).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let loader = Loader::new(
            engine.clone(),
            build_linker(&engine).unwrap(),
            ArtifactCache::new(cache.path()),
        );
        let plugin = (loader)
            .load(
                berth_guests::HELLO_COMPONENT_BYTES,
                &[Kind::Routes],
                ApiVersion::NEWEST,
            )
            .unwrap();
        let mut store = Store::new(&engine, InstanceState::new(capabilities, 64 << 20));
        store.set_epoch_deadline(u64::MAX / 2);
        let request = http::Request::get("http://localhost/echo/lazy")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let request = (store.data_mut().http())
            .new_incoming_request(Scheme::Http, request)
            .unwrap();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .unwrap();
        let instance = plugin.pre.instantiate_async(&mut store).await.unwrap();
        let http = plugin.exports.http.as_ref().unwrap();
        let proxy = http.load(&mut store, &instance).unwrap();
        (proxy.wasi_http_incoming_handler())
            .call_handle(&mut store, request, out)
            .await
            .unwrap();
        let response = receiver.await.unwrap().unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let built = store.data_mut().capabilities().wasi.is_built();
        (String::from_utf8(body.to_vec()).unwrap(), built)
    }

    #[tokio::test]
    async fn a_request_through_wasi_http_and_io_alone_builds_no_context() {
        let fixture = Fixture::new();
        assert!(!fixture.instance("hello", json!({})).wasi.is_built());
        let (body, built) = serve_hello(json!({})).await;
        assert_eq!(body, r#"{"param":"lazy","path":"/echo/lazy"}"#);
        assert!(!built, "the body's stream writes built the WASI context");
    }

    #[test]
    fn a_plugin_granted_directories_gets_its_context_up_front() {
        let grants = json!({"filesystem": [{"name": "data", "mode": "ro"}]});
        assert!(prepared_instance(&Fixture::new(), grants).wasi.is_built());
    }

    #[test]
    fn a_granted_directory_that_cannot_be_opened_fails_the_grant() {
        let grants = json!({"filesystem": [{"name": "never-prepared", "mode": "ro"}]});
        let refused = Fixture::new().try_instance("hello", grants);
        assert!(
            refused.is_err(),
            "a missing directory was not noticed at setup"
        );
    }
}
