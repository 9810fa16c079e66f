//! The application: berth's state and how each request is dispatched.

use crate::config::Settings;
use crate::demo;
use crate::engine::{EpochTicker, build_engine};
use crate::error::{ApiError, json_response};
use crate::loader::Loader;
use crate::router::{Miss, RouteTable, TenantPath};
use crate::runtime::{Runtime, build_linker};
use berth_storage::ArtifactCache;
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use std::sync::Arc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// berth's running state: the engine, the loaded plugins and the runtime.
pub struct App {
    routes: RouteTable,
    runtime: Runtime,
    loader: Loader,
    _epoch: EpochTicker,
}

/// Why berth could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A plugin given to serve could not be read.
    #[error("plugin {org}/{name}: cannot read {path}: {source}")]
    Read {
        /// Org of the plugin.
        org: String,
        /// Name of the plugin.
        name: String,
        /// File that failed.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plugin given to serve is not a usable route component.
    #[error("plugin {org}/{name} ({path}): {source}")]
    Load {
        /// Org of the plugin.
        org: String,
        /// Name of the plugin.
        name: String,
        /// File (or `embedded`) that failed.
        path: String,
        /// Why.
        source: crate::loader::LoadError,
    },
    /// The engine or linker could not be set up.
    #[error("{0:#}")]
    Engine(anyhow::Error),
}

impl App {
    /// Sets up the engine and loads every plugin `settings` names (or the
    /// embedded demo when it names none).
    pub fn start(settings: &Settings) -> Result<Self, StartupError> {
        let engine = build_engine(&settings.limits).map_err(StartupError::Engine)?;
        let linker = build_linker(&engine).map_err(StartupError::Engine)?;
        let cache = ArtifactCache::new(settings.data.join("artifacts"));
        let app = Self {
            routes: RouteTable::default(),
            runtime: Runtime::new(settings.limits.clone()),
            loader: Loader::new(engine.clone(), linker, cache),
            _epoch: EpochTicker::start(engine, &settings.limits),
        };
        if settings.plugins.is_empty() {
            for plugin in demo::PLUGINS {
                app.mount(demo::ORG, plugin.name, plugin.bytes, "embedded")?;
            }
        }
        for spec in &settings.plugins {
            let path = spec.path.display().to_string();
            let bytes = std::fs::read(&spec.path).map_err(|source| StartupError::Read {
                org: spec.org.clone(),
                name: spec.name.clone(),
                path: path.clone(),
                source,
            })?;
            app.mount(&spec.org, &spec.name, &bytes, &path)?;
        }
        Ok(app)
    }

    fn mount(&self, org: &str, name: &str, bytes: &[u8], origin: &str) -> Result<(), StartupError> {
        let plugin = self
            .loader
            .load_route_plugin(bytes)
            .map_err(|source| StartupError::Load {
                org: org.to_owned(),
                name: name.to_owned(),
                path: origin.to_owned(),
                source,
            })?;
        tracing::info!(org, plugin = name, digest = %plugin.digest, "plugin mounted");
        self.routes.mount(org, name, Arc::new(plugin));
        Ok(())
    }

    /// Answers one HTTP request.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<HyperOutgoingBody> {
        match self.dispatch(request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn dispatch(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<HyperOutgoingBody>, ApiError> {
        let path = request.uri().path();
        if path == "/healthz" {
            return Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "status": "ok" }),
            ));
        }
        let Some(tenant) = TenantPath::parse(path, request.uri().query()) else {
            return Err(ApiError::not_found(format!("no route for {path}")));
        };
        let mounted =
            self.routes
                .resolve(tenant.org, tenant.plugin)
                .map_err(|miss| match miss {
                    Miss::Org => ApiError::new(
                        StatusCode::NOT_FOUND,
                        "org_not_found",
                        format!("no org `{}`", tenant.org),
                    ),
                    Miss::Plugin => ApiError::new(
                        StatusCode::NOT_FOUND,
                        "plugin_not_found",
                        format!(
                            "org `{}` has no active plugin `{}`",
                            tenant.org, tenant.plugin
                        ),
                    ),
                })?;
        let uri = plugin_uri(&request, &tenant.plugin_path)?;
        let (mut parts, body) = request.into_parts();
        parts.uri = uri;
        let request = Request::from_parts(parts, body);
        self.runtime
            .handle(&mounted.plugin, mounted.identity.clone(), request)
            .await
            .map_err(|error| {
                let (org, plugin) = (&mounted.identity.org, &mounted.identity.plugin);
                tracing::warn!(org, plugin, "plugin request failed: {error}");
                ApiError::from(error)
            })
    }
}

/// The absolute URI the plugin sees: the client's authority, the rewritten path.
fn plugin_uri(request: &Request<Incoming>, plugin_path: &str) -> Result<Uri, ApiError> {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(http::header::HOST)?.to_str().ok())
        .unwrap_or("localhost");
    Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(plugin_path)
        .build()
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("invalid request URI: {e}"),
            )
        })
}
