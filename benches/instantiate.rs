//! Fresh-instance-per-request cost of the `hello` plugin, in process, against
//! a native Rust handler doing the same work in the same run.
//!
//! Each iteration builds a request, lets the handler answer it and reads the
//! whole response body. For the plugin that includes creating a `Store`,
//! instantiating the component from its `InstancePre` (pooling allocator),
//! calling `wasi:http/incoming-handler` and dropping the instance.
//!
//! Run: `cargo bench -p berth-benches --bench instantiate`.

use berth::config::Limits;
use berth::engine::build_engine;
use berth::loader::Loader;
use berth::metrics::Metrics;
use berth::modules::Modules;
use berth::package::Kind;
use berth::plugin_files::PluginFiles;
use berth::router::RouteTable;
use berth::runtime::{HostServices, Runtime, build_linker};
use berth_storage::{ArtifactCache, Registry};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use std::sync::Arc;

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
    let loader = Loader::new(engine, linker, ArtifactCache::new(cache_dir.path()));
    let plugin = loader
        .load(berth_guests::HELLO_COMPONENT_BYTES, &[Kind::Routes])
        .expect("hello loads");
    let registry =
        Arc::new(Registry::open(&cache_dir.path().join("registry.redb")).expect("registry"));
    let services = HostServices {
        registry: registry.clone(),
        files: PluginFiles::new(cache_dir.path().join("orgs")),
        outbound: Arc::default(),
        modules: Arc::new(Modules::new(registry)),
    };
    let runtime = Runtime::new(limits, services);
    let routes = RouteTable::new(Arc::new(Metrics::default()));
    let grants = serde_json::from_str(include_str!("../guests/hello/manifest.json"))
        .map(|manifest: serde_json::Value| manifest["permissions"].clone())
        .and_then(serde_json::from_value)
        .expect("hello's permissions");
    routes.mount("bench", "hello", plugin, grants);
    let mounted = routes.resolve("bench", "hello").expect("mounted");

    let mut group = c.benchmark_group("hello_request");
    group.bench_function("wasm_fresh_instance", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = runtime
                    .handle(&mounted, request())
                    .await
                    .expect("plugin answers");
                assert_eq!(response.status(), StatusCode::OK);
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            })
        })
    });
    group.bench_function("native_handler", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = native_hello(request());
                assert_eq!(response.status(), StatusCode::OK);
                response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
