//! The management API under `/api/v1/`: orgs, plugin lifecycle and
//! configuration, dependencies, the internal registries, audit log, tokens,
//! logs, and its own OpenAPI document.
//!
//! A request's route comes from the table in [`api_routes`]; unless the
//! route is public it is authenticated ([`Auth`]) and authorized
//! ([`authorize`]) before anything else. The operation then parses the
//! request, runs the step on a blocking thread (steps touch disk and may
//! compile), and answers JSON. Errors are [`ApiError`]s.

use crate::capabilities::config::ConfigUpdate;
use crate::capabilities::modules::Modules;
use crate::common::bodies::{discard, unless_refused};
use crate::common::error::{ApiError, full_body, json_response};
use crate::common::org_slots::{OrgSlot, OrgSlots};
use crate::common::request_body::{BodyReader, off_thread, parse_json};
use crate::common::settings::PackageLimits;
use crate::control::api_routes::{self, Access, Op, Params};
use crate::control::api_types::{
    ActionOutput, ActivateBody, CreateOrg, InstallByName, KeyRemoved, KvUsageView,
    ModulesPublicBody, ModulesPublicView, OrgView, PluginUsageView, PluginView, PreviewView,
    SignaturePolicyBody, TenantKeyView, TokenRevoked, TrustKey, Uninstalled,
};
use crate::control::integrations::Integrations;
use crate::control::lifecycle::{
    InstallOptions, Lifecycle, LifecycleError, PolicySetter, UninstallOptions,
};
use crate::control::openapi;
use crate::control::plugin_logs::{LogQuery, LogReader};
use crate::serve::auth::{Auth, Principal};
use crate::serve::tenant_keys;
use berth_storage::CATALOG;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use semver::VersionReq;
use serde::Serialize;
use std::sync::Arc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Most audit events in one answer (`?limit`, and the default).
const MAX_AUDIT_PAGE: usize = 1000;

/// Prefix of every management route.
pub const PREFIX: &str = "/api/v1/";

/// The management API.
pub struct Api {
    lifecycle: Arc<Lifecycle>,
    auth: Arc<Auth>,
    modules: Arc<Modules>,
    integrations: Integrations,
    logs: LogReader,
    limits: PackageLimits,
    uploads: OrgSlots,
    bodies: BodyReader,
}

type ApiResult = Result<Response<HyperOutgoingBody>, ApiError>;

impl Api {
    /// An API over `lifecycle`, `modules`, `integrations` and the plugins'
    /// `logs`, its callers checked by `auth`, accepting uploads within
    /// `limits` (their size, and how many at once) and reading request
    /// bodies with `bodies`.
    pub fn new(
        lifecycle: Arc<Lifecycle>,
        auth: Auth,
        modules: Arc<Modules>,
        integrations: Integrations,
        logs: LogReader,
        limits: PackageLimits,
        bodies: BodyReader,
    ) -> Self {
        Self {
            lifecycle,
            auth: Arc::new(auth),
            modules,
            integrations,
            logs,
            uploads: OrgSlots::new(
                "uploads",
                "too_many_uploads",
                limits.max_concurrent_uploads_per_org,
                Some(limits.max_concurrent_uploads),
            ),
            limits,
            bodies,
        }
    }

    /// Answers a request whose path starts with [`PREFIX`]: finds its route
    /// in the table, checks the caller (except on public routes), then runs
    /// the operation.
    pub async fn handle(&self, request: Request<Incoming>) -> ApiResult {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path[PREFIX.len()..]
            .trim_end_matches('/')
            .split('/')
            .collect();
        let method = request.method().clone();
        let admitted = match api_routes::find(&method, &segments) {
            Some((route, params)) if route.access == Access::Public => Ok((route, params, None)),
            found => (self.auth)
                .authenticate(request.headers().get(header::AUTHORIZATION))
                .and_then(|principal| {
                    let (route, params) = found.ok_or_else(|| {
                        ApiError::not_found(format!("no API route {method} {path}"))
                    })?;
                    authorize(&principal, route.access, params.org())?;
                    Ok((route, params, Some(principal)))
                }),
        };
        let ((route, params, principal), request) = unless_refused(admitted, request).await?;
        self.run_operation(route.op, &params, principal, request)
            .await
    }

    /// Runs `op` for an authorized caller (`None` on a public route).
    async fn run_operation(
        &self,
        op: Op,
        params: &Params<'_>,
        principal: Option<Principal>,
        request: Request<Incoming>,
    ) -> ApiResult {
        let query = request.uri().query().map(str::to_owned);
        let flag = |key: &str| query_flag(query.as_deref(), key);
        let org = params.get("org").to_owned();
        let name = params.get("name").to_owned();
        match op {
            Op::OpenApi => Ok(json_response(StatusCode::OK, openapi::document())),
            Op::ListOrgs => {
                let orgs = self.run(|l| l.orgs()).await?;
                let visible: Vec<_> = orgs
                    .into_iter()
                    .filter(|org| principal.as_ref().is_some_and(|p| p.may_act_on(&org.name)))
                    .map(OrgView::from)
                    .collect();
                Ok(ok(visible))
            }
            Op::CreateOrg => {
                let body: CreateOrg = self.bodies.json(request).await?;
                self.run(move |l| l.create_org(&body.name))
                    .await
                    .map(|org| created(OrgView::from(org)))
            }
            Op::ListPlugins => {
                let installations = self.run(move |l| l.installations(&org)).await?;
                Ok(ok(installations
                    .iter()
                    .map(PluginView::from)
                    .collect::<Vec<_>>()))
            }
            Op::InstallPlugin => {
                let force = flag("force");
                let (slot, upload) = self.read_upload(&org, request).await?;
                match upload {
                    Upload::Zip(zip) => self
                        .run_upload(slot, move |l| {
                            l.install(&org, &zip, InstallOptions { force })
                        })
                        .await
                        .map(|installed| created(PluginView::from(&installed))),
                    Upload::Json(body) => {
                        let wanted: InstallByName = parse_json(&body)?;
                        let range = wanted.version.unwrap_or(VersionReq::STAR);
                        self.run_upload(slot, move |l| {
                            l.install_from_registry(&org, &wanted.name, &range)
                        })
                        .await
                        .map(created)
                    }
                }
            }
            Op::PreviewPackage => {
                let (slot, upload) = self.read_upload(&org, request).await?;
                let zip = upload.zip()?;
                let preview = self
                    .run_upload(slot, move |l| l.preview(&org, &zip))
                    .await?;
                Ok(ok(PreviewView::from(preview)))
            }
            Op::PublishToRegistry => {
                let (slot, upload) = self.read_upload(&org, request).await?;
                let zip = upload.zip()?;
                (self.run_upload(slot, move |l| l.publish(&org, &zip)))
                    .await
                    .map(created)
            }
            Op::ListRegistry => self.run(move |l| l.registry_listing(&org)).await.map(ok),
            Op::PublishToCatalog => {
                let (slot, upload) = self.read_upload(CATALOG, request).await?;
                let zip = upload.zip()?;
                self.run_upload(slot, move |l| l.publish(CATALOG, &zip))
                    .await
                    .map(created)
            }
            Op::ListCatalog => self.run(|l| l.registry_listing(CATALOG)).await.map(ok),
            Op::ShowPlugin => {
                let installation = self.run(move |l| l.installation(&org, &name)).await?;
                Ok(ok(PluginView::from(&installation)))
            }
            Op::UninstallPlugin => {
                let options = UninstallOptions {
                    force: flag("force"),
                    cascade: flag("cascade"),
                };
                let reply = Uninstalled {
                    name: name.clone(),
                    uninstalled: true,
                };
                self.run(move |l| l.uninstall(&org, &name, options)).await?;
                Ok(ok(reply))
            }
            Op::ActivatePlugin => {
                let with_deps = flag("with-deps");
                let body: Option<ActivateBody> = self.bodies.optional_json(request).await?;
                let grant = body.map(|b| b.grant);
                self.run(move |l| l.activate(&org, &name, grant, with_deps))
                    .await
                    .map(|activated| ok(PluginView::from(&activated)))
            }
            Op::RollbackPlugin => {
                discard(request).await;
                let installation = self
                    .run(move |l| l.rollback(&org, &name, "asked through the API"))
                    .await?;
                Ok(ok(PluginView::from(&installation)))
            }
            Op::DeactivatePlugin => {
                let cascade = flag("cascade");
                self.run(move |l| l.deactivate(&org, &name, cascade))
                    .await
                    .map(|deactivated| ok(PluginView::from(&deactivated)))
            }
            Op::PluginKvUsage => self
                .run(move |l| {
                    Ok(KvUsageView::new(
                        l.kv_usage(&org, &name)?,
                        l.org_limits(&org)?,
                    ))
                })
                .await
                .map(ok),
            Op::PluginUsage => {
                let minutes = self.run(move |l| l.plugin_usage(&org, &name)).await?;
                Ok(ok(PluginUsageView::new(
                    params.get("name").to_owned(),
                    minutes,
                )))
            }
            Op::PluginLogs => {
                let query =
                    LogQuery::parse(|key| query_value(query.as_deref(), key), request.headers())?;
                let installed = self.run(move |l| l.installation(&org, &name)).await?;
                let (auth, token) = (
                    self.auth.clone(),
                    request.headers().get(header::AUTHORIZATION).cloned(),
                );
                let still_allowed = Box::new(move || auth.authenticate(token.as_ref()).is_ok());
                (self.logs).respond(&installed.org, &installed.name, query, still_allowed)
            }
            Op::PluginConfig => self
                .run(move |l| l.plugin_config(&org, &name))
                .await
                .map(ok),
            Op::SetPluginConfig => {
                let update: ConfigUpdate = self.bodies.json(request).await?;
                // Checked before the connector is asked for its schema, so
                // a malformed update never starts the plugin.
                update.validate().map_err(LifecycleError::InvalidConfig)?;
                let schema = self.config_schema(&org, &name).await?;
                self.run(move |l| l.set_plugin_config(&org, &name, update, schema.as_ref()))
                    .await
                    .map(ok)
            }
            Op::ListTrustedKeys => self.run(move |l| l.signing_policy(&org)).await.map(ok),
            Op::TrustKey => {
                let body: TrustKey = self.bodies.json(request).await?;
                let by = policy_setter(principal.as_ref());
                self.run(move |l| l.add_trusted_key(&org, &body.key, &body.comment, by))
                    .await
                    .map(created)
            }
            Op::UntrustKey => {
                let id = params.get("id").to_owned();
                let reply = KeyRemoved {
                    id: id.clone(),
                    removed: true,
                };
                self.run(move |l| l.remove_trusted_key(&org, &id)).await?;
                Ok(ok(reply))
            }
            Op::SetSignaturePolicy => {
                let body: SignaturePolicyBody = self.bodies.json(request).await?;
                let by = policy_setter(principal.as_ref());
                self.run(move |l| {
                    l.set_signature_policy(&org, body.require_signature, body.locked, by)?;
                    l.signing_policy(&org)
                })
                .await
                .map(ok)
            }
            Op::ListIntegrations => {
                let name = org.clone();
                self.run(move |l| l.require_org(&name)).await?;
                Ok(ok(self.integrations.list(&org).await?))
            }
            Op::RunIntegrationAction => {
                let input: serde_json::Value = self.bodies.json(request).await?;
                let (plugin, action) = (params.get("plugin"), params.get("action"));
                let output = self
                    .integrations
                    .invoke(&org, plugin, action, input)
                    .await?;
                Ok(ok(ActionOutput { output }))
            }
            Op::ListModules => {
                let name = org.clone();
                self.run(move |l| l.require_org(&name)).await?;
                Ok(ok(self.modules.list(&org)))
            }
            Op::DependencyGraph => {
                let dot = query_value(query.as_deref(), "format") == Some("dot");
                let graph = self.run(move |l| l.dependency_graph(&org)).await?;
                Ok(if dot {
                    text_response("text/vnd.graphviz; charset=utf-8", graph.to_dot())
                } else {
                    ok(graph)
                })
            }
            Op::GetLimits => self.run(move |l| l.org_limits(&org)).await.map(ok),
            Op::SetLimits => {
                let overrides: serde_json::Value = self.bodies.json(request).await?;
                self.run(move |l| l.set_org_limits(&org, Some(overrides)))
                    .await
                    .map(ok)
            }
            Op::ResetLimits => self
                .run(move |l| l.set_org_limits(&org, None))
                .await
                .map(ok),
            Op::Audit => {
                let after = query_value(query.as_deref(), "after")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let limit = query_value(query.as_deref(), "limit")
                    .and_then(|v| v.parse().ok())
                    .map_or(MAX_AUDIT_PAGE, |n: usize| n.clamp(1, MAX_AUDIT_PAGE));
                let plugin = query_value(query.as_deref(), "plugin").map(str::to_owned);
                self.run(move |l| l.audit(&org, after, plugin.as_deref(), limit))
                    .await
                    .map(ok)
            }
            Op::SetTenantKey => {
                let (key, hash) = tenant_keys::generate()?;
                let reply = TenantKeyView {
                    org: org.clone(),
                    tenant_key: Some(key),
                };
                self.run(move |l| l.set_tenant_key(&org, Some(hash)))
                    .await?;
                Ok(ok(reply))
            }
            Op::RemoveTenantKey => {
                let reply = TenantKeyView {
                    org: org.clone(),
                    tenant_key: None,
                };
                self.run(move |l| l.set_tenant_key(&org, None)).await?;
                Ok(ok(reply))
            }
            Op::SetModulesPublic => {
                let body: ModulesPublicBody = self.bodies.json(request).await?;
                let reply = ModulesPublicView {
                    org: org.clone(),
                    modules_public: body.public,
                };
                self.run(move |l| l.set_modules_public(&org, body.public))
                    .await?;
                Ok(ok(reply))
            }
            Op::CreateToken => {
                let auth = self.auth.clone();
                off_thread(move || auth.issue(Some(&org)))
                    .await
                    .map(created)
            }
            Op::ListTokens => {
                let auth = self.auth.clone();
                off_thread(move || auth.list(&org)).await.map(ok)
            }
            Op::RevokeToken => {
                let (id, auth) = (params.get("id").to_owned(), self.auth.clone());
                let reply = TokenRevoked {
                    id: id.clone(),
                    revoked: true,
                };
                off_thread(move || auth.revoke(&org, &id)).await?;
                Ok(ok(reply))
            }
            Op::DeactivateAll => self.run(|l| l.deactivate_all()).await.map(ok),
        }
    }

    /// Whether `headers` carry a token that may act on `org`: one of its
    /// org-admin tokens, or the operator's.
    pub fn admin_of(&self, headers: &http::HeaderMap, org: &str) -> bool {
        self.auth
            .authenticate(headers.get(header::AUTHORIZATION))
            .is_ok_and(|principal| principal.may_act_on(org))
    }

    /// 401/403 unless `request` carries the operator token (for `/metrics`).
    pub fn require_operator<B>(&self, request: &Request<B>) -> Result<(), ApiError> {
        match self
            .auth
            .authenticate(request.headers().get(header::AUTHORIZATION))?
        {
            Principal::Operator => Ok(()),
            Principal::OrgAdmin(_) => Err(operator_only()),
        }
    }

    /// The config schema of `org`'s plugin `name`, if it is an integration
    /// connector: an active one's kept `describe` answer, else asked of the
    /// installed plugin with no grants.
    async fn config_schema(
        &self,
        org: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let mounted = match self.integrations.active(org, name) {
            Some(active) => active,
            None => {
                let (org, name) = (org.to_owned(), name.to_owned());
                let describable = self.run(move |l| l.describable(&org, &name)).await?;
                match describable.filter(|m| m.plugin.exports.integration.is_some()) {
                    Some(installed) => Arc::new(installed),
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(
            self.integrations.describe(&mounted).await?.config_schema,
        ))
    }

    /// Runs a lifecycle step on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Lifecycle) -> Result<T, LifecycleError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let lifecycle = self.lifecycle.clone();
        off_thread(move || step(&lifecycle)).await
    }

    /// Runs an upload's step on a blocking thread, holding its `slot`
    /// until the step returns: a client that goes away stops waiting for
    /// the answer, not the step.
    async fn run_upload<T: Send + 'static>(
        &self,
        slot: OrgSlot,
        step: impl FnOnce(&Lifecycle) -> Result<T, LifecycleError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.run(move |l| {
            let _slot = slot;
            step(l)
        })
        .await
    }

    /// Takes an upload slot for `org` (429 `too_many_uploads` when it or
    /// the server has none free, the body unread), then reads the upload
    /// (refusing oversized bodies by `Content-Length` before reading, and by
    /// counting while reading) and tells a package from a JSON request by
    /// its bytes, whatever type the client declared: `curl -d` and
    /// `--data-binary` send a form type for both. The caller hands the slot
    /// to [`Api::run_upload`].
    async fn read_upload(
        &self,
        org: &str,
        request: Request<Incoming>,
    ) -> Result<(OrgSlot, Upload), ApiError> {
        let (slot, request) = unless_refused(self.uploads.take(org), request).await?;
        let declared = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = self
            .bodies
            .bytes(request, self.limits.max_upload_bytes)
            .await?;
        Ok((slot, Upload::sniff(body, &declared)?))
    }
}

/// What a plugin upload turned out to be.
enum Upload {
    /// A package: a ZIP by its magic bytes, or declared as one.
    Zip(Bytes),
    /// Anything else that parses as JSON: an install by name.
    Json(Bytes),
}

impl Upload {
    /// A ZIP when the body starts like one (`PK\x03\x04`, or `PK\x05\x06`
    /// for an empty archive) or is declared `application/zip` or
    /// `application/octet-stream` (then refused as `invalid_zip` if it is
    /// not one); JSON when it parses; otherwise 415.
    fn sniff(body: Bytes, declared: &str) -> Result<Self, ApiError> {
        let media_type = declared.split(';').next().unwrap_or_default().trim();
        if body.starts_with(b"PK\x03\x04") || body.starts_with(b"PK\x05\x06") {
            Ok(Self::Zip(body))
        } else if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
            Ok(Self::Json(body))
        } else if matches!(media_type, "application/zip" | "application/octet-stream") {
            Ok(Self::Zip(body))
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "send a plugin package (a ZIP) or a JSON request; this {declared:?} body is neither"
                ),
            ))
        }
    }

    /// The package, or 415 for a JSON body where only a package will do.
    fn zip(self) -> Result<Bytes, ApiError> {
        match self {
            Self::Zip(zip) => Ok(zip),
            Self::Json(_) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a plugin package (a ZIP) here, not JSON",
            )),
        }
    }
}

/// Whether `principal` may call a route of `access` on `org` (the route's
/// `{org}`, if it has one).
///
/// Org admins act only on their own org. Another org's routes answer 404
/// `org_not_found`, exactly as a missing org does, so orgs cannot be
/// enumerated. Operator routes (creating orgs, changing an org's limits,
/// tenant key or public modules, the catalog's uploads, `admin/…`) answer
/// 403 `operator_only` to org admins.
fn authorize(principal: &Principal, access: Access, org: Option<&str>) -> Result<(), ApiError> {
    if let Some(org) = org
        && !principal.may_act_on(org)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "org_not_found",
            format!("no org `{org}`"),
        ));
    }
    match access {
        Access::Public | Access::AnyToken | Access::Org => Ok(()),
        Access::OrgOperator | Access::Operator if *principal == Principal::Operator => Ok(()),
        Access::OrgOperator | Access::Operator => Err(operator_only()),
    }
}

/// 403 for an org admin asking for an operator action.
fn operator_only() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "operator_only",
        "only the operator token may do this",
    )
}

/// The value of `key` in a query string, if present (`key` alone gives "").
fn query_value<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
}

/// Who sets a signing policy or trusts a key: the operator, or (anyone
/// else admitted) an org admin.
fn policy_setter(principal: Option<&Principal>) -> PolicySetter {
    match principal {
        Some(Principal::Operator) => PolicySetter::Operator,
        _ => PolicySetter::OrgAdmin,
    }
}

/// Whether a boolean query flag is set: `?force`, `?force=true` or `?force=1`.
fn query_flag(query: Option<&str>, key: &str) -> bool {
    matches!(query_value(query, key), Some("" | "true" | "1"))
}

fn ok<T: Serialize>(value: T) -> Response<HyperOutgoingBody> {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(value).expect("API values serialize"),
    )
}

/// A 200 text response of `content_type`.
fn text_response(content_type: &'static str, text: String) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(full_body(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn created<T: Serialize>(value: T) -> Response<HyperOutgoingBody> {
    json_response(
        StatusCode::CREATED,
        &serde_json::to_value(value).expect("API values serialize"),
    )
}

#[cfg(test)]
mod tests {
    use super::{query_flag, query_value};

    #[test]
    fn query_flags_and_values() {
        assert!(query_flag(Some("force"), "force"));
        assert!(query_flag(Some("a=1&force=true"), "force"));
        assert!(!query_flag(Some("force=false"), "force"));
        assert!(!query_flag(None, "force"));
        assert_eq!(query_value(Some("after=7"), "after"), Some("7"));
        assert_eq!(query_value(Some("x=1"), "after"), None);
    }
}
