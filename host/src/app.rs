//! The application: berth's state and how each request is dispatched.

use crate::admission::Admission;
use crate::api::{self, Api};
use crate::auth::{Auth, MIN_CONFIGURED_TOKEN_LEN};
use crate::bodies::{discard, hold_until_done, limit_request, limit_response};
use crate::config::HttpLimits;
use crate::config::Settings;
use crate::console;
use crate::demo;
use crate::engine::{EpochTicker, build_engine};
use crate::error::{ApiError, json_response};
use crate::front_door::FrontDoor;
use crate::grants::route_granted;
use crate::integrations::Integrations;
use crate::lifecycle::{Lifecycle, LifecycleError, LiveState};
use crate::loader::Loader;
use crate::metrics::Metrics;
use crate::modules::hooks::HookDispatcher;
use crate::modules::routes::{self as module_routes, ModulePath};
use crate::modules::{ModuleError, Modules};
use crate::plugin_files::PluginFiles;
use crate::plugin_headers;
use crate::router::{RouteTable, TenantPath};
use crate::runtime::InvokeError;
use crate::runtime::{HostServices, Runtime, build_linker};
use crate::scheduler::CpuScheduler;
use crate::tenant_keys::TenantKeys;
use crate::ui::UiTable;
use crate::ui::routes::{self as ui_routes, UiPath};
use berth_storage::{ArtifactCache, PackageStore, Registry};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use std::sync::Arc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// berth's running state: the engine, the registry, the live routes.
pub struct App {
    routes: Arc<RouteTable>,
    front_door: FrontDoor,
    tenant_keys: Arc<TenantKeys>,
    metrics: Arc<Metrics>,
    http: HttpLimits,
    runtime: Runtime,
    api: Api,
    modules: Arc<Modules>,
    hooks: HookDispatcher,
    ui: Arc<UiTable>,
    /// `https` when berth terminates TLS, else `http`: what plugins see.
    scheme: &'static str,
    _epoch: EpochTicker,
}

/// Why berth could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The engine or linker could not be set up.
    #[error("{0:#}")]
    Engine(anyhow::Error),
    /// The registry or package store could not be opened, or the demo not seeded.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// Storage could not be opened.
    #[error(transparent)]
    Storage(#[from] berth_storage::StorageError),
    /// The operator token could not be set up.
    #[error("operator token: {0}")]
    OperatorToken(String),
    /// A configured trusted key is not a minisign public key.
    #[error("trusted-keys: {0}")]
    TrustedKey(String),
}

impl App {
    /// Sets up the engine, opens the registry in `settings.data`, mounts
    /// every active plugin, and seeds the demo org on first start.
    ///
    /// Also returns the operator token when this start created it (first
    /// start without a configured one): the only time its text exists.
    pub fn start(settings: &Settings) -> Result<(Self, Option<String>), StartupError> {
        if let Some(token) = &settings.operator_token
            && token.len() < MIN_CONFIGURED_TOKEN_LEN
        {
            return Err(StartupError::OperatorToken(format!(
                "must be at least {MIN_CONFIGURED_TOKEN_LEN} characters"
            )));
        }
        let operator_keys = settings
            .trusted_keys
            .iter()
            .map(|key| crate::signing::parse_public_key(key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartupError::TrustedKey)?;
        let engine = build_engine(&settings.limits).map_err(StartupError::Engine)?;
        let linker = build_linker(&engine).map_err(StartupError::Engine)?;
        let loader = Loader::new(
            engine.clone(),
            linker,
            ArtifactCache::new(settings.data.join("artifacts")),
        );
        let metrics = Arc::new(Metrics::default());
        let routes = Arc::new(RouteTable::new(metrics.clone(), settings.limits.log_rate()));
        let admission = Arc::new(Admission::new(settings.limits.tenant_defaults()));
        let front_door = FrontDoor::new(admission.clone(), metrics.clone());
        let tenant_keys = Arc::new(TenantKeys::default());
        let registry = Arc::new(Registry::open(&settings.data.join("registry.redb"))?);
        let auth = Auth::new(registry.clone(), settings.operator_token.as_deref());
        let new_operator_token = auth
            .bootstrap_operator()
            .map_err(|e| StartupError::OperatorToken(e.to_string()))?;
        let files = PluginFiles::new(settings.data.join("orgs"));
        let modules = Arc::new(Modules::new(registry.clone()));
        let ui = Arc::new(UiTable::default());
        let scheduler = {
            let admission = admission.clone();
            Arc::new(CpuScheduler::new(
                settings.limits.run_slots(),
                settings.limits.epoch_tick(),
                move |org| admission.limits(org).cpu_weight.get(),
            ))
        };
        let runtime = Runtime::new(
            settings.limits.clone(),
            HostServices {
                registry: registry.clone(),
                admission: admission.clone(),
                files: files.clone(),
                outbound: Arc::new(settings.outbound.clone()),
                modules: modules.clone(),
            },
            scheduler,
        );
        let lifecycle = Lifecycle::open(
            registry.clone(),
            PackageStore::new(settings.data.join("packages")),
            files,
            loader,
            LiveState {
                routes: routes.clone(),
                modules: modules.clone(),
                ui: ui.clone(),
                runtime: runtime.clone(),
                front_door: front_door.clone(),
                tenant_keys: tenant_keys.clone(),
            },
            settings.packages.clone(),
            operator_keys,
        )?;
        if settings.demo {
            demo::seed_if_empty(&lifecycle)?;
        }
        let integrations = Integrations::new(routes.clone(), runtime.clone(), front_door.clone());
        let app = Self {
            ui,
            hooks: HookDispatcher::new(modules.clone(), routes.clone(), runtime.clone()),
            routes,
            front_door,
            tenant_keys,
            metrics,
            http: settings.http.clone(),
            runtime,
            api: Api::new(
                Arc::new(lifecycle),
                auth,
                modules.clone(),
                integrations,
                settings.packages.clone(),
            ),
            modules,
            scheme: if settings.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
            _epoch: EpochTicker::start(engine, &settings.limits),
        };
        Ok((app, new_operator_token))
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
        if path == "/metrics" {
            self.api.require_operator(&request)?;
            let mut response = Response::new(crate::error::full_body(self.metrics.encode()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            return Ok(response);
        }
        if path == console::PREFIX || path.starts_with("/console/") {
            return console::handle(&request, self.scheme);
        }
        if path.starts_with(api::PREFIX) {
            return self.api.handle(request).await;
        }
        if path.starts_with("/o/") {
            plugin_headers::refuse_service_worker_scripts(request.headers())?;
        }
        // Tenant paths answer an unknown org exactly as an org without the
        // plugin, asset or module asked for: orgs cannot be enumerated.
        if let Some(target) = UiPath::parse(path) {
            return ui_routes::handle(&self.ui, target, &request).await;
        }
        if let Some(target) = ModulePath::parse(path) {
            let admin = self.api.admin_of(request.headers(), &target.org);
            let allowed = self
                .tenant_keys
                .check_modules(&target.org, request.headers(), admin);
            if let Err(refusal) = allowed {
                discard(request.into_body()).await;
                return Err(refusal);
            }
            if !self.routes.has_org(&target.org) {
                return Err(ModuleError::UnknownModule(target.module).into());
            }
            // Module requests run hook plugins: admitted like plugin
            // requests, and the slot is held until their `after-*` hooks end.
            let admitted = self.front_door.admit(&target.org)?;
            return module_routes::handle(&self.modules, &self.hooks, target, request, admitted)
                .await;
        }
        let Some(tenant) = TenantPath::parse(path, request.uri().query()) else {
            return Err(ApiError::not_found(format!("no route for {path}")));
        };
        let plugin_not_found = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "plugin_not_found",
                format!(
                    "org `{}` has no active plugin `{}` serving routes",
                    tenant.org, tenant.plugin
                ),
            )
        };
        let mounted = self
            .routes
            .resolve(tenant.org, tenant.plugin)
            .map_err(|_| plugin_not_found())?;
        if let Err(refusal) = self.tenant_keys.check(tenant.org, request.headers()) {
            discard(request.into_body()).await;
            return Err(refusal);
        }
        if mounted.plugin.exports.http.is_none() {
            return Err(plugin_not_found());
        }
        let plugin_path = tenant.plugin_path.split('?').next().unwrap_or("/");
        if !route_granted(&mounted.grants.routes, plugin_path) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_granted",
                format!(
                    "`{}` is not a canonical path within the routes org `{}` granted plugin `{}`",
                    plugin_path, tenant.org, tenant.plugin
                ),
            ));
        }
        let max_body = self.http.max_request_body_bytes;
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_body) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_body_too_large",
                format!("the request body exceeds the limit of {max_body} bytes"),
            ));
        }
        // Held by the response body and by a guest still streaming it, so
        // the org's slot is freed when both are done.
        let admitted = Arc::new(self.front_door.admit(tenant.org)?);
        let started = std::time::Instant::now();
        let uri = plugin_uri(&request, self.scheme, &tenant.plugin_path)?;
        let (mut parts, body) = request.into_parts();
        parts.uri = uri;
        plugin_headers::to_plugin(&mut parts.headers, &mounted.grants.headers);
        let request = Request::from_parts(parts, limit_request(body, max_body));
        let max_response = self.http.max_response_body_bytes;
        let metrics = &mounted.metrics;
        let result = (self.runtime)
            .handle(&mounted, request, admitted.clone())
            .await;
        match result {
            Ok(mut response) => {
                metrics.responded(response.status().as_u16(), started.elapsed());
                plugin_headers::from_plugin(response.headers_mut());
                Ok(response
                    .map(|body| hold_until_done(limit_response(body, max_response), admitted)))
            }
            Err(error) => {
                let (org, plugin) = (&mounted.identity.org, &mounted.identity.plugin);
                tracing::warn!(org, plugin, "plugin request failed: {error}");
                match error {
                    InvokeError::Trap(_) => metrics.trapped(),
                    InvokeError::CpuDeadline(_) => metrics.hit_cpu_deadline(),
                    InvokeError::Timeout(_) => metrics.timed_out(),
                    _ => {}
                }
                let error = ApiError::from(error);
                metrics.responded(error.status.as_u16(), started.elapsed());
                Err(error)
            }
        }
    }
}

/// The absolute URI the plugin sees: berth's scheme, the client's
/// authority, the rewritten path.
fn plugin_uri(
    request: &Request<Incoming>,
    scheme: &str,
    plugin_path: &str,
) -> Result<Uri, ApiError> {
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| request.headers().get(http::header::HOST)?.to_str().ok())
        .unwrap_or("localhost");
    Uri::builder()
        .scheme(scheme)
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
