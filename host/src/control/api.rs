//! The management API under `/api/v1/`: orgs, plugin lifecycle and
//! configuration, dependencies, the internal registries, audit log, tokens.
//!
//! Every request is authenticated ([`Auth`]) and authorized ([`authorize`])
//! before anything else. Handlers then parse the request, run the step on a
//! blocking thread (steps touch disk and may compile), and answer JSON.
//! Errors are [`ApiError`]s.

use crate::capabilities::config::ConfigUpdate;
use crate::capabilities::log::PluginLogs;
use crate::capabilities::modules::Modules;
use crate::common::admission::TenantLimits;
use crate::common::bodies::discard;
use crate::common::error::{ApiError, full_body, json_response};
use crate::common::request_body::{
    off_thread, parse_json, read_body, read_json, read_optional_json,
};
use crate::common::settings::PackageLimits;
use crate::control::integrations::Integrations;
use crate::control::lifecycle::{
    InstallOptions, Lifecycle, LifecycleError, PolicySetter, UninstallOptions,
};
use crate::control::plugin_logs::{self, LogQuery};
use crate::package::manifest::Permissions;
use crate::serve::auth::{Auth, Principal};
use crate::serve::tenant_keys;
use berth_storage::{CATALOG, Installation, KvUsage, OrgRecord};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use semver::VersionReq;
use serde::Serialize;
use std::sync::Arc;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Prefix of every management route.
pub const PREFIX: &str = "/api/v1/";

/// The management API.
pub struct Api {
    lifecycle: Arc<Lifecycle>,
    auth: Arc<Auth>,
    modules: Arc<Modules>,
    integrations: Integrations,
    logs: Arc<PluginLogs>,
    limits: PackageLimits,
}

type ApiResult = Result<Response<HyperOutgoingBody>, ApiError>;

impl Api {
    /// An API over `lifecycle`, `modules`, `integrations` and the plugins'
    /// `logs`, its callers checked by `auth`, accepting uploads within
    /// `limits`.
    pub fn new(
        lifecycle: Arc<Lifecycle>,
        auth: Auth,
        modules: Arc<Modules>,
        integrations: Integrations,
        logs: Arc<PluginLogs>,
        limits: PackageLimits,
    ) -> Self {
        Self {
            lifecycle,
            auth: Arc::new(auth),
            modules,
            integrations,
            logs,
            limits,
        }
    }

    /// Answers a request whose path starts with [`PREFIX`].
    pub async fn handle(&self, request: Request<Incoming>) -> ApiResult {
        let path = request.uri().path().to_owned();
        let segments: Vec<&str> = path[PREFIX.len()..]
            .trim_end_matches('/')
            .split('/')
            .collect();
        let force = query_flag(request.uri().query(), "force");
        let method = request.method().clone();
        let allowed = self
            .auth
            .authenticate(request.headers().get(header::AUTHORIZATION))
            .and_then(|principal| authorize(&principal, &method, &segments).map(|()| principal));
        let principal = match allowed {
            Ok(principal) => principal,
            Err(refusal) => {
                discard(request.into_body()).await;
                return Err(refusal);
            }
        };
        match (&method, segments.as_slice()) {
            (&Method::GET, ["orgs"]) => {
                let orgs = self.run(|l| l.orgs()).await?;
                let visible: Vec<_> = orgs
                    .into_iter()
                    .filter(|org| principal.may_act_on(&org.name))
                    .map(OrgView::from)
                    .collect();
                Ok(ok(visible))
            }
            (&Method::POST, ["orgs"]) => {
                let body: CreateOrg = read_json(request).await?;
                self.run(move |l| l.create_org(&body.name))
                    .await
                    .map(|org| created(OrgView::from(org)))
            }
            (&Method::GET, ["orgs", org, "plugins"]) => {
                let org = org.to_string();
                let installations = self.run(move |l| l.installations(&org)).await?;
                Ok(ok(installations
                    .iter()
                    .map(plugin_view)
                    .collect::<Vec<_>>()))
            }
            (&Method::POST, ["orgs", org, "plugins"]) => {
                let org = org.to_string();
                match self.read_upload(request).await? {
                    Upload::Zip(zip) => self
                        .run(move |l| l.install(&org, &zip, InstallOptions { force }))
                        .await
                        .map(|installed| created(plugin_view(&installed))),
                    Upload::Json(body) => {
                        let wanted: InstallByName = parse_json(&body)?;
                        let range = wanted.version.unwrap_or(VersionReq::STAR);
                        self.run(move |l| l.install_from_registry(&org, &wanted.name, &range))
                            .await
                            .map(created)
                    }
                }
            }
            (&Method::POST, ["orgs", org, "registry"]) => {
                let org = org.to_string();
                let zip = self.read_upload(request).await?.zip()?;
                self.run(move |l| l.publish(&org, &zip)).await.map(created)
            }
            (&Method::GET, ["orgs", org, "registry"]) => {
                let org = org.to_string();
                self.run(move |l| l.registry_listing(&org)).await.map(ok)
            }
            (&Method::POST, ["catalog"]) => {
                let zip = self.read_upload(request).await?.zip()?;
                self.run(move |l| l.publish(CATALOG, &zip))
                    .await
                    .map(created)
            }
            (&Method::GET, ["catalog"]) => self.run(|l| l.registry_listing(CATALOG)).await.map(ok),
            (&Method::GET, ["orgs", org, "plugins", name]) => {
                let (org, name) = (org.to_string(), name.to_string());
                let installation = self.run(move |l| l.installation(&org, &name)).await?;
                Ok(ok(plugin_view(&installation)))
            }
            (&Method::DELETE, ["orgs", org, "plugins", name]) => {
                let (org, name) = (org.to_string(), name.to_string());
                let reply = serde_json::json!({ "name": name, "uninstalled": true });
                let options = UninstallOptions {
                    force,
                    cascade: query_flag(request.uri().query(), "cascade"),
                };
                self.run(move |l| l.uninstall(&org, &name, options)).await?;
                Ok(json_response(StatusCode::OK, &reply))
            }
            (&Method::POST, ["orgs", org, "plugins", name, "activate"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                let with_deps = query_flag(request.uri().query(), "with-deps");
                let body: Option<ActivateBody> = read_optional_json(request).await?;
                let grant = body.map(|b| b.grant);
                self.run(move |l| l.activate(&org, &name, grant, with_deps))
                    .await
                    .map(|activated| ok(plugin_view(&activated)))
            }
            (&Method::POST, ["orgs", org, "plugins", name, "rollback"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                discard(request.into_body()).await;
                let installation = self
                    .run(move |l| l.rollback(&org, &name, "asked through the API"))
                    .await?;
                Ok(ok(plugin_view(&installation)))
            }
            (&Method::POST, ["orgs", org, "plugins", name, "deactivate"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                let cascade = query_flag(request.uri().query(), "cascade");
                self.run(move |l| l.deactivate(&org, &name, cascade))
                    .await
                    .map(|deactivated| ok(plugin_view(&deactivated)))
            }
            (&Method::GET, ["orgs", org, "plugins", name, "kv-usage"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                self.run(move |l| {
                    Ok(KvUsageView::new(
                        l.kv_usage(&org, &name)?,
                        l.org_limits(&org)?,
                    ))
                })
                .await
                .map(ok)
            }
            (&Method::GET, ["orgs", org, "plugins", name, "logs"]) => {
                let query = request.uri().query();
                let query = LogQuery::parse(|key| query_value(query, key), request.headers())?;
                let (org, name) = (org.to_string(), name.to_string());
                let installed = self.run(move |l| l.installation(&org, &name)).await?;
                let ring = self.logs.ring(&installed.org, &installed.name);
                Ok(plugin_logs::respond(ring, query))
            }
            (&Method::GET, ["orgs", org, "plugins", name, "config"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                self.run(move |l| l.plugin_config(&org, &name))
                    .await
                    .map(ok)
            }
            (&Method::PUT, ["orgs", org, "plugins", name, "config"]) => {
                let (org, name) = (org.to_string(), name.to_string());
                let update: ConfigUpdate = read_json(request).await?;
                let schema = self.config_schema(&org, &name).await?;
                self.run(move |l| l.set_plugin_config(&org, &name, update, schema.as_ref()))
                    .await
                    .map(ok)
            }
            (&Method::GET, ["orgs", org, "trusted-keys"]) => {
                let org = org.to_string();
                self.run(move |l| l.signing_policy(&org)).await.map(ok)
            }
            (&Method::POST, ["orgs", org, "trusted-keys"]) => {
                let org = org.to_string();
                let body: TrustKey = read_json(request).await?;
                self.run(move |l| l.add_trusted_key(&org, &body.key, &body.comment))
                    .await
                    .map(created)
            }
            (&Method::DELETE, ["orgs", org, "trusted-keys", id]) => {
                let (org, id) = (org.to_string(), id.to_string());
                let reply = serde_json::json!({ "id": id, "removed": true });
                self.run(move |l| l.remove_trusted_key(&org, &id)).await?;
                Ok(ok(reply))
            }
            (&Method::PUT, ["orgs", org, "signature-policy"]) => {
                let org = org.to_string();
                let body: SignaturePolicyBody = read_json(request).await?;
                let by = match principal {
                    Principal::Operator => PolicySetter::Operator,
                    Principal::OrgAdmin(_) => PolicySetter::OrgAdmin,
                };
                self.run(move |l| {
                    l.set_signature_policy(&org, body.require_signature, body.locked, by)?;
                    l.signing_policy(&org)
                })
                .await
                .map(ok)
            }
            (&Method::GET, ["orgs", org, "integrations"]) => {
                let name = org.to_string();
                self.run(move |l| l.require_org(&name)).await?;
                Ok(ok(self.integrations.list(org).await?))
            }
            (&Method::POST, ["orgs", org, "integrations", plugin, "actions", action]) => {
                let input: serde_json::Value = read_json(request).await?;
                let output = self.integrations.invoke(org, plugin, action, input).await?;
                Ok(ok(serde_json::json!({ "output": output })))
            }
            (&Method::GET, ["orgs", org, "modules"]) => {
                let name = org.to_string();
                self.run(move |l| l.require_org(&name)).await?;
                Ok(ok(self.modules.list(org)))
            }
            (&Method::GET, ["orgs", org, "dependencies"]) => {
                let org = org.to_string();
                let dot = query_value(request.uri().query(), "format") == Some("dot");
                let graph = self.run(move |l| l.dependency_graph(&org)).await?;
                Ok(if dot {
                    text_response("text/vnd.graphviz; charset=utf-8", graph.to_dot())
                } else {
                    ok(graph)
                })
            }
            (&Method::GET, ["orgs", org, "limits"]) => {
                let org = org.to_string();
                self.run(move |l| l.org_limits(&org)).await.map(ok)
            }
            (&Method::PUT, ["orgs", org, "limits"]) => {
                let org = org.to_string();
                let overrides: serde_json::Value = read_json(request).await?;
                self.run(move |l| l.set_org_limits(&org, Some(overrides)))
                    .await
                    .map(ok)
            }
            (&Method::DELETE, ["orgs", org, "limits"]) => {
                let org = org.to_string();
                self.run(move |l| l.set_org_limits(&org, None))
                    .await
                    .map(ok)
            }
            (&Method::GET, ["orgs", org, "audit"]) => {
                let org = org.to_string();
                let after = query_value(request.uri().query(), "after")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.run(move |l| l.audit(&org, after)).await.map(ok)
            }
            (&Method::PUT, ["orgs", org, "tenant-key"]) => {
                let org = org.to_string();
                let (key, hash) = tenant_keys::generate()?;
                let reply = serde_json::json!({ "org": org, "tenant-key": key });
                self.run(move |l| l.set_tenant_key(&org, Some(hash)))
                    .await?;
                Ok(json_response(StatusCode::OK, &reply))
            }
            (&Method::DELETE, ["orgs", org, "tenant-key"]) => {
                let org = org.to_string();
                let reply = serde_json::json!({ "org": org, "tenant-key": null });
                self.run(move |l| l.set_tenant_key(&org, None)).await?;
                Ok(json_response(StatusCode::OK, &reply))
            }
            (&Method::PUT, ["orgs", org, "modules-public"]) => {
                let org = org.to_string();
                let body: ModulesPublicBody = read_json(request).await?;
                let reply = serde_json::json!({ "org": org, "modules_public": body.public });
                self.run(move |l| l.set_modules_public(&org, body.public))
                    .await?;
                Ok(ok(reply))
            }
            (&Method::POST, ["orgs", org, "tokens"]) => {
                let (org, auth) = (org.to_string(), self.auth.clone());
                off_thread(move || auth.issue(Some(&org)))
                    .await
                    .map(created)
            }
            (&Method::GET, ["orgs", org, "tokens"]) => {
                let (org, auth) = (org.to_string(), self.auth.clone());
                off_thread(move || auth.list(&org)).await.map(ok)
            }
            (&Method::DELETE, ["orgs", org, "tokens", id]) => {
                let (org, id, auth) = (org.to_string(), id.to_string(), self.auth.clone());
                let reply = serde_json::json!({ "id": id, "revoked": true });
                off_thread(move || auth.revoke(&org, &id)).await?;
                Ok(json_response(StatusCode::OK, &reply))
            }
            (&Method::POST, ["admin", "deactivate-all"]) => {
                self.run(|l| l.deactivate_all()).await.map(ok)
            }
            _ => Err(ApiError::not_found(format!("no API route {method} {path}"))),
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

    /// Reads an upload (refusing oversized bodies by `Content-Length`
    /// before reading, and by counting while reading) and tells a package
    /// from a JSON request by its bytes, whatever type the client declared:
    /// `curl -d` and `--data-binary` send a form type for both.
    async fn read_upload(&self, request: Request<Incoming>) -> Result<Upload, ApiError> {
        let declared = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = read_body(request, self.limits.max_upload_bytes).await?;
        Upload::sniff(body, &declared)
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
                "publish a plugin package (a ZIP), not JSON",
            )),
        }
    }
}

/// A body asking to install from the registries by name.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallByName {
    name: String,
    /// A semver range; absent means any version.
    #[serde(default)]
    version: Option<VersionReq>,
}

/// Whether `principal` may call `method` on the route `segments`.
///
/// Org admins act only on their own org. Another org's routes answer 404
/// `org_not_found`, exactly as a missing org does, so orgs cannot be
/// enumerated. Creating orgs, changing an org's traffic limits, tenant
/// key or public modules and `/api/v1/admin/…` are the operator's (403 `operator_only`); `GET
/// /api/v1/orgs` lists only the orgs the caller may act on.
fn authorize(principal: &Principal, method: &Method, segments: &[&str]) -> Result<(), ApiError> {
    match segments {
        ["orgs"] | ["catalog"] if method == Method::GET => Ok(()),
        ["orgs", org, rest @ ..] => {
            if !principal.may_act_on(org) {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "org_not_found",
                    format!("no org `{org}`"),
                ));
            }
            let operators_setting = method != Method::GET
                && matches!(rest, ["limits"] | ["tenant-key"] | ["modules-public"]);
            if operators_setting && *principal != Principal::Operator {
                return Err(operator_only());
            }
            Ok(())
        }
        _ if *principal == Principal::Operator => Ok(()),
        _ => Err(operator_only()),
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

/// An org as the API shows it: never its tenant key's hash.
#[derive(Serialize)]
struct OrgView {
    name: String,
    created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<serde_json::Value>,
    /// Whether its plugin routes require a tenant key.
    tenant_key_required: bool,
    /// Whether its module records answer without credentials.
    modules_public: bool,
}

impl From<OrgRecord> for OrgView {
    fn from(org: OrgRecord) -> Self {
        Self {
            name: org.name,
            created_at: org.created_at,
            limits: org.limits,
            tenant_key_required: org.tenant_key_sha256.is_some(),
            modules_public: org.modules_public,
        }
    }
}

/// An installed plugin as the API lists it: its record, with the API
/// version it targets (`api`) and, as `previous`, the version and digest a
/// rollback returns to (`null` if none) rather than that version's whole
/// record.
fn plugin_view(installation: &Installation) -> serde_json::Value {
    let mut view = serde_json::to_value(installation).expect("installations serialize");
    if let Some(fields) = view.as_object_mut() {
        fields.insert("api".into(), installation.manifest["api"].clone());
        let previous = (installation.previous.as_ref())
            .map(|p| serde_json::json!({ "version": p.version, "digest": p.digest }));
        fields.insert("previous".into(), previous.into());
    }
    view
}

/// A plugin's key-value data against its org's quotas.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct KvUsageView {
    /// Bytes of keys and values.
    bytes: u64,
    /// Number of keys.
    keys: u64,
    /// The byte quota.
    max_bytes: u64,
    /// The key quota.
    max_keys: u64,
}

impl KvUsageView {
    fn new(usage: KvUsage, limits: TenantLimits) -> Self {
        Self {
            bytes: usage.bytes,
            keys: usage.keys,
            max_bytes: limits.kv_max_bytes,
            max_keys: limits.kv_max_keys,
        }
    }
}

/// The body of `POST /api/v1/orgs`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOrg {
    name: String,
}

/// The body of `POST …/trusted-keys`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustKey {
    /// A minisign public key (`.pub` file content or its base64 line).
    key: String,
    /// Who the key belongs to.
    #[serde(default)]
    comment: String,
}

/// The body of `PUT …/signature-policy`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SignaturePolicyBody {
    /// Whether only plugins signed by a trusted key may be installed.
    require_signature: bool,
    /// Operator only: keep org admins from changing it (`false` lifts that).
    #[serde(default)]
    locked: Option<bool>,
}

/// The body of `PUT …/modules-public`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ModulesPublicBody {
    /// Whether the org's module records answer without credentials.
    public: bool,
}

/// The optional body of `POST …/activate`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    /// The permissions the org grants (at most those declared).
    grant: Permissions,
}

/// The value of `key` in a query string, if present (`key` alone gives "").
fn query_value<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then_some(v)
    })
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
