//! The application: berth's state and how each request is dispatched.

use crate::capabilities::HostServices;
use crate::capabilities::files::PluginFiles;
use crate::capabilities::log::PluginLogs;
use crate::capabilities::modules::{ModuleError, Modules};
use crate::capabilities::network::Outbound;
use crate::capabilities::records::{RecordWriter, RecordWriterSlot};
use crate::capabilities::routes::route_granted;
use crate::common::admission::Admission;
use crate::common::bodies::{limit_request, limit_response, unless_refused};
use crate::common::error::{ApiError, json_response};
use crate::common::metrics::Metrics;
use crate::common::request_body::{MAX_JSON_BODY, declared_length};
use crate::common::settings::HttpLimits;
use crate::common::settings::Settings;
use crate::control::api::{self, Api};
use crate::control::demo;
use crate::control::integrations::Integrations;
use crate::control::lifecycle::{Lifecycle, LifecycleError, LiveState, OperatorSigning};
use crate::control::plugin_logs::LogReader;
use crate::control::registry_watch::{self, Readiness};
use crate::sandbox::active_plugins::ActivePlugins;
use crate::sandbox::engine::{EpochTicker, build_engine};
use crate::sandbox::instance_state::build_linker;
use crate::sandbox::loader::Loader;
use crate::sandbox::runtime::InvokeError;
use crate::sandbox::runtime::Runtime;
use crate::sandbox::scheduler::CpuScheduler;
use crate::serve::auth::{Auth, MIN_CONFIGURED_TOKEN_LEN};
use crate::serve::console;
use crate::serve::front_door::FrontDoor;
use crate::serve::hooks::HookDispatcher;
use crate::serve::plugin_headers;
use crate::serve::records::{self as module_routes, ModulePath, RecordService};
use crate::serve::tenant_keys::TenantKeys;
use crate::serve::tenant_path::TenantPath;
use crate::serve::ui::UiTable;
use crate::serve::ui::routes::{self as ui_routes, UiPath};
use berth_storage::{ArtifactCache, Database, PackageStore, SecretKeys};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use std::sync::{Arc, Weak};
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// berth's running state: the engine, the registry, the live routes.
pub struct App {
    routes: Arc<ActivePlugins>,
    front_door: FrontDoor,
    tenant_keys: Arc<TenantKeys>,
    metrics: Arc<Metrics>,
    http: HttpLimits,
    runtime: Runtime,
    api: Api,

    records: Arc<RecordService>,
    ui: Arc<UiTable>,
    /// Whether this node is in step with the registry (`/readyz`).
    readiness: Readiness,
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
            .map(|key| crate::package::signing::parse_public_key(key))
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
        let logs = Arc::new(PluginLogs::new(settings.limits.log_ring()));
        let routes = Arc::new(ActivePlugins::new(
            metrics.clone(),
            settings.limits.log_rate(),
            logs.clone(),
        ));
        let admission = Arc::new(Admission::new(settings.limits.tenant_defaults()));
        let front_door = FrontDoor::new(admission.clone(), metrics.clone());
        let tenant_keys = Arc::new(TenantKeys::default());
        let secret_keys = SecretKeys::load_or_create(&settings.secrets_key_path())?;
        let registry = Arc::new(match &settings.registry {
            Some(url) => Database::connect(url, secret_keys)?,
            None => Database::open(&settings.data.join("registry.redb"), secret_keys)?,
        });
        registry.check_secrets_key()?;
        let resealed = registry.reseal_secrets()?;
        if resealed > 0 {
            tracing::info!(resealed, "sealed plugin secrets under the current key");
        }
        let auth = Auth::new(registry.clone(), settings.operator_token.as_deref());
        let new_operator_token = auth
            .bootstrap_operator()
            .map_err(|e| StartupError::OperatorToken(e.to_string()))?;
        let files = match &settings.shared_files {
            Some(root) => PluginFiles::shared(root),
            None => PluginFiles::new(settings.data.join("orgs")),
        };
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
        let record_writer = RecordWriterSlot::default();
        let runtime = Runtime::new(
            settings.limits.clone(),
            HostServices {
                registry: registry.clone(),
                admission: admission.clone(),
                files: files.clone(),
                outbound: Arc::new(Outbound::new(settings.outbound.clone())),
                modules: modules.clone(),
                record_writer: record_writer.clone(),
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
            OperatorSigning {
                keys: operator_keys,
                require_signature: settings.require_signature,
            },
        )?;
        if settings.demo {
            demo::seed_if_empty(&lifecycle)?;
        }
        let lifecycle = Arc::new(lifecycle);
        lifecycle.watch_upgrades(settings.upgrades);
        let readiness = match registry.watch() {
            Some(events) => registry_watch::follow(lifecycle.clone(), events),
            None => Readiness::always(),
        };
        let integrations = Integrations::new(routes.clone(), runtime.clone(), front_door.clone());
        let hooks = HookDispatcher::new(modules.clone(), routes.clone(), runtime.clone());
        let records = Arc::new(RecordService::new(
            modules.clone(),
            Arc::new(hooks),
            front_door.clone(),
        ));
        let writer: Weak<dyn RecordWriter> = Arc::downgrade(&records) as Weak<dyn RecordWriter>;
        let _ = record_writer.set(writer);
        let app = Self {
            ui,
            readiness,
            records,
            routes,
            front_door,
            tenant_keys,
            metrics,
            http: settings.http.clone(),
            runtime,
            api: Api::new(
                lifecycle,
                auth,
                modules,
                integrations,
                LogReader::new(
                    logs,
                    settings.limits.log_followers_per_org,
                    Duration::from_millis(settings.http.send_timeout_ms),
                ),
                settings.packages.clone(),
                settings.http.body_reader(),
            ),
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
        if path.starts_with("/o/") {
            plugin_headers::refuse_service_worker_scripts(request.headers())?;
        }
        let Some(surface) = Surface::of(path, request.uri().query()) else {
            return Err(ApiError::not_found(format!("no route for {path}")));
        };
        match surface {
            Surface::Health => Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "status": "ok" }),
            )),
            Surface::Ready if self.readiness.is_ready() => Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "status": "ready" }),
            )),
            Surface::Ready => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "not in step with the registry: it is unreachable, or this node is catching up",
            )),
            Surface::Metrics => {
                self.api.require_operator(&request)?;
                Ok(self.metrics_page())
            }
            Surface::Console => console::handle(&request, self.scheme),
            Surface::Api => self.api.handle(request).await,
            Surface::Ui(target) => ui_routes::handle(&self.ui, target, &request).await,
            Surface::Records(target) => self.serve_records(target, request).await,
            Surface::Plugin(tenant) => {
                let (org, plugin) = (tenant.org.to_owned(), tenant.plugin.to_owned());
                let plugin_path = tenant.plugin_path.clone();
                self.serve_plugin(&org, &plugin, &plugin_path, request)
                    .await
            }
        }
    }

    /// `/metrics`, in the OpenMetrics text format.
    fn metrics_page(&self) -> Response<HyperOutgoingBody> {
        let mut response = Response::new(crate::common::error::full_body(self.metrics.encode()));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        response
    }

    /// A module's records, `/o/{org}/api/{module}[/{id}]`. Tenant paths
    /// answer an unknown org exactly as an org without the module: orgs
    /// cannot be enumerated. Module requests run hook plugins, so they are
    /// admitted like plugin requests, and the slot is held until their
    /// `after-*` hooks end. The body is read whole before the slot is
    /// taken: a client stalling mid-body holds its connection, never one of
    /// the org's slots.
    async fn serve_records(
        &self,
        target: ModulePath,
        request: Request<Incoming>,
    ) -> Result<Response<HyperOutgoingBody>, ApiError> {
        let org = &target.org.clone();
        let admin = self.api.admin_of(request.headers(), org);
        let key = self
            .tenant_keys
            .check_modules(org, request.headers(), admin);
        let ((), request) = unless_refused(key, request).await?;
        if !self.routes.has_org(org) {
            return Err(ModuleError::UnknownModule(target.module).into());
        }
        let request = (self.http.body_reader())
            .whole(request, MAX_JSON_BODY)
            .await?;
        let admitted = self.front_door.admit(org)?;
        module_routes::handle(&self.records, target, request, admitted, admin).await
    }

    /// A plugin route, `/o/{org}/p/{plugin}/{plugin_path}`: checked
    /// against the plugin's grants, then handled by a fresh instance.
    async fn serve_plugin(
        &self,
        org: &str,
        plugin: &str,
        plugin_path: &str,
        request: Request<Incoming>,
    ) -> Result<Response<HyperOutgoingBody>, ApiError> {
        let plugin_not_found = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "plugin_not_found",
                format!("org `{org}` has no active plugin `{plugin}` serving routes"),
            )
        };
        // The key first: an org with a tenant key tells a caller without it
        // nothing, not even which plugins it has.
        let key = self.tenant_keys.check(org, request.headers());
        let ((), request) = unless_refused(key, request).await?;
        let mounted = (self.routes)
            .resolve(org, plugin)
            .map_err(|_| plugin_not_found())?;
        if mounted.plugin.exports.http.is_none() {
            return Err(plugin_not_found());
        }
        let path_only = plugin_path.split('?').next().unwrap_or("/");
        if !route_granted(&mounted.grants.routes, path_only) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_granted",
                format!(
                    "`{path_only}` is not a canonical path within the routes org `{org}` granted plugin `{plugin}`"
                ),
            ));
        }
        let max_body = self.http.max_request_body_bytes;
        if declared_length(request.headers()).is_some_and(|length| length > max_body) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_body_too_large",
                format!("the request body exceeds the limit of {max_body} bytes"),
            ));
        }
        // Held while the guest runs, streaming included, and no longer: a
        // client that stops reading a finished guest's response holds its
        // connection, never the org's slot.
        let admitted = self.front_door.admit(org)?;
        let started = std::time::Instant::now();
        let uri = plugin_uri(&request, self.scheme, plugin_path)?;
        let (mut parts, body) = request.into_parts();
        parts.uri = uri;
        plugin_headers::to_plugin(&mut parts.headers, &mounted.grants.headers);
        let request = Request::from_parts(parts, limit_request(body, max_body));
        let max_response = self.http.max_response_body_bytes;
        let metrics = &mounted.metrics;
        let result = (self.runtime).handle(&mounted, request, admitted).await;
        match result {
            Ok(mut response) => {
                mounted.responded(response.status().as_u16(), started.elapsed(), false);
                plugin_headers::from_plugin(response.headers_mut());
                Ok(response.map(|body| limit_response(body, max_response)))
            }
            Err(error) => {
                tracing::warn!(org, plugin, "plugin request failed: {error}");
                match error {
                    InvokeError::Trap(_) => metrics.trapped(),
                    InvokeError::CpuDeadline(_) => metrics.hit_cpu_deadline(),
                    InvokeError::Timeout(_) => metrics.timed_out(),
                    _ => {}
                }
                let by_the_host = matches!(error, InvokeError::Setup(_));
                let error = ApiError::from(error);
                mounted.responded(error.status.as_u16(), started.elapsed(), by_the_host);
                Err(error)
            }
        }
    }
}

/// The route table: every surface berth answers, chosen from the path.
enum Surface<'a> {
    /// `/healthz`: the process answers.
    Health,
    /// `/readyz`: in step with the registry.
    Ready,
    /// `/metrics` (operator only).
    Metrics,
    /// `/console/…`, the web console.
    Console,
    /// `/api/v1/…`, the management API.
    Api,
    /// `/o/{org}/ui/…`, UI plugins' assets and the merged UI manifest.
    Ui(UiPath),
    /// `/o/{org}/api/{module}[/{id}]`, module records.
    Records(ModulePath),
    /// `/o/{org}/p/{plugin}/…`, plugin routes.
    Plugin(TenantPath<'a>),
}

impl<'a> Surface<'a> {
    /// The surface `path` belongs to, the first pattern matching in table
    /// order; `None` when nothing answers it.
    fn of(path: &'a str, query: Option<&str>) -> Option<Self> {
        match path {
            "/healthz" => Some(Self::Health),
            "/readyz" => Some(Self::Ready),
            "/metrics" => Some(Self::Metrics),
            _ if path == console::PREFIX || path.starts_with("/console/") => Some(Self::Console),
            _ if path.starts_with(api::PREFIX) => Some(Self::Api),
            _ => (UiPath::parse(path).map(Self::Ui))
                .or_else(|| ModulePath::parse(path).map(Self::Records))
                .or_else(|| TenantPath::parse(path, query).map(Self::Plugin)),
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
