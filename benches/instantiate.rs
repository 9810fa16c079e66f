//! Fresh-instance-per-request cost of the `hello` plugin (Rust) and its
//! JavaScript and Python twins `js-hello` (componentize-js) and `py-hello`
//! (componentize-py), in process, against a
//! native Rust handler doing the same work in the same run; the same
//! request to `hello` built against API 0.1.0 (the committed fixture) and
//! 0.2.0, each alone and side by side; and each component's cold start:
//! first load (compile) and load from the cache.
//!
//! Each iteration builds a request, lets the handler answer it and reads the
//! whole response body. For the plugin that includes creating a `Store`,
//! instantiating the component from its `InstancePre` (pooling allocator),
//! calling `wasi:http/incoming-handler` and dropping the instance.
//! `hello_request/wasm_instance_only` is the floor under that: the same
//! instance created and dropped, nothing called.
//!
//! Run: `cargo bench -p berth-benches --bench instantiate`.

use berth::capabilities::HostServices;
use berth::capabilities::files::PluginFiles;
use berth::capabilities::log::PluginLogs;
use berth::capabilities::modules::Modules;
use berth::common::admission::Admission;
use berth::common::metrics::Metrics;
use berth::common::settings::Limits;
use berth::package::{ApiVersion, Kind};
use berth::sandbox::active_plugins::{ActivePlugins, MountedPlugin};
use berth::sandbox::engine::build_engine;
use berth::sandbox::instance_state::build_linker;
use berth::sandbox::loader::Loader;
use berth::sandbox::runtime::Runtime;
use berth::sandbox::scheduler::CpuScheduler;
use berth_storage::{ArtifactCache, Database, SecretKeys};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use std::sync::Arc;

/// `hello` as built against API 0.1.0, committed then and never rebuilt.
static HELLO_0_1_0: &[u8] = include_bytes!("../tests/fixtures/api-0.1.0/hello/hello.wasm");

/// The request both handlers answer: the echo route, which parses the path
/// and builds a JSON body.
const PATH: &str = "/echo/criterion?x=1";

fn request() -> Request<Empty<Bytes>> {
    Request::get(format!("http://localhost{PATH}"))
        .body(Empty::new())
        .expect("valid request")
}

/// What `guests/hello` does for `GET /echo/{param}`, natively.
fn native_hello(request: Request<Empty<Bytes>>) -> Response<Full<Bytes>> {
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let param = request
        .uri()
        .path()
        .strip_prefix("/echo/")
        .unwrap_or_default();
    let body = serde_json::json!({ "param": param, "path": path }).to_string();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

/// Grants from a guest's manifest.
fn permissions(manifest: &str) -> berth::package::manifest::Permissions {
    serde_json::from_str(manifest)
        .map(|manifest: serde_json::Value| manifest["permissions"].clone())
        .and_then(serde_json::from_value)
        .expect("the guest's permissions")
}

/// One request to `mounted`, the whole body read.
async fn call(runtime: &Runtime, mounted: &MountedPlugin) -> Bytes {
    let response = runtime
        .handle(mounted, request(), ())
        .await
        .expect("plugin answers");
    read_ok(response).await
}

/// A fresh instance of `mounted`, created and dropped without calling it.
async fn instance_only(runtime: &Runtime, mounted: &MountedPlugin) {
    runtime
        .call(mounted, |_| {}, |_, _| Box::pin(async { Ok(()) }))
        .await
        .expect("the plugin instantiates");
}

/// The body of a 200 response.
async fn read_ok<B: hyper::body::Body>(response: Response<B>) -> Bytes
where
    B::Error: std::fmt::Debug,
{
    assert_eq!(response.status(), StatusCode::OK);
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

fn bench(c: &mut Criterion) {
    // One thread, as a server worker runs a connection and its guest task.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let limits = Limits::default();
    let engine = build_engine(&limits).expect("engine");
    let linker = build_linker(&engine).expect("linker");
    let cache_dir = tempfile::tempdir().expect("temp dir");
    let new_loader = |dir: &std::path::Path| {
        Loader::new(engine.clone(), linker.clone(), ArtifactCache::new(dir))
    };
    let loader = new_loader(cache_dir.path());
    let registry = Arc::new(
        Database::open(
            &cache_dir.path().join("registry.redb"),
            SecretKeys::ephemeral(),
        )
        .expect("registry"),
    );
    let services = HostServices {
        registry: registry.clone(),
        admission: Arc::new(Admission::new(limits.tenant_defaults())),
        files: PluginFiles::new(cache_dir.path().join("orgs")),
        outbound: Arc::default(),
        modules: Arc::new(Modules::new(registry)),
        record_writer: Default::default(),
    };
    let scheduler = Arc::new(CpuScheduler::new(
        limits.run_slots(),
        limits.epoch_tick(),
        |_| 1,
    ));
    let runtime = Runtime::new(limits.clone(), services, scheduler);
    let routes = ActivePlugins::new(
        Arc::new(Metrics::default()),
        limits.log_rate(),
        Arc::new(PluginLogs::new(limits.log_ring())),
    );
    let guests = [
        (
            "hello",
            berth_guests::HELLO_COMPONENT_BYTES,
            include_str!("../guests/hello/manifest.json"),
        ),
        (
            "js-hello",
            berth_guests::JS_HELLO_COMPONENT_BYTES,
            include_str!("../guests/js-hello/manifest.json"),
        ),
        (
            "py-hello",
            berth_guests::PY_HELLO_COMPONENT_BYTES,
            include_str!("../guests/py-hello/manifest.json"),
        ),
    ];
    for (name, bytes, manifest) in guests {
        let plugin = loader
            .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
            .expect("the guest loads");
        // Saved as an install saves it, for `cold_start/*_load_from_cache`.
        loader.keep(&plugin).expect("the artifact is saved");
        routes.mount("bench", name, plugin, permissions(manifest));
    }
    let hello = routes.resolve("bench", "hello").expect("mounted");
    let js = routes.resolve("bench", "js-hello").expect("mounted");
    let python = routes.resolve("bench", "py-hello").expect("mounted");
    let old_hello = loader
        .load(HELLO_0_1_0, &[Kind::Routes], ApiVersion::V0_1_0)
        .expect("the 0.1.0 build loads");
    let old_hello = routes.mount(
        "bench",
        "hello-0.1.0",
        old_hello,
        permissions(include_str!(
            "../tests/fixtures/api-0.1.0/hello/manifest.json"
        )),
    );

    let mut group = c.benchmark_group("hello_request");
    group.bench_function("wasm_fresh_instance", |b| {
        b.iter(|| rt.block_on(call(&runtime, &hello)))
    });
    // The floor under the request: the same fresh instance created and
    // dropped (store, grants, fair scheduling, instantiation, memory reset),
    // with no export called.
    group.bench_function("wasm_instance_only", |b| {
        b.iter(|| rt.block_on(instance_only(&runtime, &hello)))
    });
    group.bench_function("js_fresh_instance", |b| {
        b.iter(|| rt.block_on(call(&runtime, &js)))
    });
    group.bench_function("py_fresh_instance", |b| {
        b.iter(|| rt.block_on(call(&runtime, &python)))
    });
    group.bench_function("native_handler", |b| {
        b.iter(|| rt.block_on(read_ok(native_hello(request()))))
    });
    group.finish();

    // Both API versions are linked in every run; these show what serving
    // a 0.1.0 build (its host calls go through the 0.1.0 adapters) and
    // mixing the two cost per request, against 0.2.0 alone.
    let mut group = c.benchmark_group("api_versions");
    group.bench_function("0.2.0_alone", |b| {
        b.iter(|| rt.block_on(call(&runtime, &hello)))
    });
    group.bench_function("0.1.0_alone", |b| {
        b.iter(|| rt.block_on(call(&runtime, &old_hello)))
    });
    let mut turn = 0u64;
    group.bench_function("side_by_side", |b| {
        b.iter(|| {
            turn += 1;
            let mounted = if turn.is_multiple_of(2) {
                &hello
            } else {
                &old_hello
            };
            rt.block_on(call(&runtime, mounted))
        })
    });
    group.finish();

    // Cold start: the first load of a component (compile with Cranelift,
    // write the precompiled artifact), and a load after a restart (the
    // artifact from the cache), each with a fresh loader.
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(10);
    for (name, bytes, _) in guests {
        group.bench_function(format!("{name}_first_load"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("temp dir"),
                |dir| {
                    new_loader(dir.path())
                        .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                        .map(drop)
                },
                criterion::BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("{name}_load_from_cache"), |b| {
            b.iter(|| {
                new_loader(cache_dir.path())
                    .load(bytes, &[Kind::Routes], ApiVersion::NEWEST)
                    .map(drop)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
