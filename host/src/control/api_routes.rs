//! The management API's route table: every operation under `/api/v1/` with
//! its method, path, who may call it, what it takes and what it answers.
//! The one table both dispatches requests ([`find`]) and writes the
//! OpenAPI document ([`super::openapi`]), so the two cannot drift apart.

use super::api_types::{
    ActionOutput, ActivateBody, CreateOrg, ErrorBody, InstallByName, KeyRemoved, KvUsageView,
    ModulesPublicBody, ModulesPublicView, OrgView, PluginUsageView, PluginView, PreviewView,
    SignaturePolicyBody, TenantKeyView, TokenRevoked, TrustKey, Uninstalled,
};
use super::dependencies::GraphView;
use super::integrations::IntegrationView;
use super::lifecycle::{RegistryInstall, RegistryListing, SigningPolicy};
use super::plugin_logs::LogPage;
use crate::capabilities::config::{ConfigUpdate, ConfigView};
use crate::capabilities::modules::ModuleDescriptor;
use crate::common::admission::TenantLimits;
use crate::serve::auth::{IssuedToken, TokenSummary};
use berth_storage::{AuditEvent, Installation, PublishedPackage, TrustedKeyRecord};
use http::Method;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema};

/// Named schemas gathered while the document is written.
pub type Schemas = Vec<(String, RefOr<Schema>)>;
/// Writes a body's schema: a reference to a named one it adds to the list.
pub type SchemaFn = fn(&mut Schemas) -> RefOr<Schema>;

/// `T`'s schema, by reference (adding `T` and what it uses to `schemas`).
pub fn one<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
    Ref::from_schema_name(T::name()).into()
}

/// An array of `T`.
pub fn list<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    ArrayBuilder::new().items(one::<T>(schemas)).into()
}

/// Any JSON object.
fn object(_: &mut Schemas) -> RefOr<Schema> {
    ObjectBuilder::new().into()
}

/// What an install answers: the installed plugin (a package upload), or
/// what the resolution installed (an install by name).
fn installed(schemas: &mut Schemas) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(one::<PluginView>(schemas))
        .item(one::<RegistryInstall>(schemas))
        .into()
}

/// The error body every failure answers.
pub fn error(schemas: &mut Schemas) -> RefOr<Schema> {
    one::<ErrorBody>(schemas)
}

/// Who may call a route, once the caller's token is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any valid token (the answer holds only what the caller may see).
    AnyToken,
    /// The org's admins and the operator; another org's admin gets 404
    /// `org_not_found`, exactly as a missing org answers.
    Org,
    /// Only the operator, on an org (403 `operator_only` for its admins).
    OrgOperator,
    /// Only the operator.
    Operator,
}

/// What a route takes as its body.
#[derive(Clone, Copy)]
pub enum Takes {
    /// Nothing.
    Nothing,
    /// JSON of this schema.
    Json(SchemaFn),
    /// Optionally, JSON of this schema.
    OptionalJson(SchemaFn),
    /// A plugin package (ZIP).
    Package,
    /// A plugin package, or JSON of this schema.
    PackageOrJson(SchemaFn),
}

/// What a route answers on success.
#[derive(Clone, Copy)]
pub enum Gives {
    /// JSON of this schema.
    Json(SchemaFn),
    /// JSON of this schema, or (as its query asks) text of this media type.
    JsonOrText(SchemaFn, &'static str),
    /// JSON of this schema, or with `?follow` a stream of server-sent events.
    JsonOrEvents(SchemaFn),
}

/// Each management operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// This document: the management API in OpenAPI 3.1.
    OpenApi,
    /// List the orgs the caller may act on.
    ListOrgs,
    /// Create an org.
    CreateOrg,
    /// List the org's plugins.
    ListPlugins,
    /// Install or upgrade a plugin: a package, or by name from the registries.
    InstallPlugin,
    /// Check a package as an install would and show it beside the installed plugin, writing nothing.
    PreviewPackage,
    /// One installed plugin.
    ShowPlugin,
    /// Uninstall a plugin, its data, configuration and files.
    UninstallPlugin,
    /// Grant permissions and start serving.
    ActivatePlugin,
    /// Stop serving; files and data stay.
    DeactivatePlugin,
    /// Return to the previous version.
    RollbackPlugin,
    /// The plugin's key-value data against its quotas.
    PluginKvUsage,
    /// The plugin's requests, errors, p99 latency and CPU per minute over the last hour.
    PluginUsage,
    /// The plugin's recent log lines, or with follow a stream of server-sent events.
    PluginLogs,
    /// The plugin's settings, and its secrets by name only.
    PluginConfig,
    /// Replace the settings, set or remove named secrets.
    SetPluginConfig,
    /// Publish a package to the org's registry.
    PublishToRegistry,
    /// What the org can install, from its registry and the catalog.
    ListRegistry,
    /// Publish a package to the shared catalog.
    PublishToCatalog,
    /// The shared catalog.
    ListCatalog,
    /// The org's signature policy and trusted keys.
    ListTrustedKeys,
    /// Trust a minisign public key.
    TrustKey,
    /// Stop trusting a key.
    UntrustKey,
    /// Whether installs need a trusted signature.
    SetSignaturePolicy,
    /// The org's active integration connectors.
    ListIntegrations,
    /// Run a connector's action with a JSON input.
    RunIntegrationAction,
    /// The org's module registry.
    ListModules,
    /// The org's dependency graph (Graphviz DOT with format=dot).
    DependencyGraph,
    /// The org's limits in force.
    GetLimits,
    /// Override some of the org's limits.
    SetLimits,
    /// Drop the org's overrides.
    ResetLimits,
    /// The org's lifecycle events, oldest first.
    Audit,
    /// Require a new tenant key on the org's plugin routes.
    SetTenantKey,
    /// Open the org's plugin routes again.
    RemoveTenantKey,
    /// Whether module records answer without credentials.
    SetModulesPublic,
    /// Create an org-admin token, shown this once.
    CreateToken,
    /// The org's tokens, never their secrets.
    ListTokens,
    /// Revoke a token at once.
    RevokeToken,
    /// The rollback switch: deactivate every plugin in every org.
    DeactivateAll,
}

/// One operation of the table.
pub struct Route {
    /// Which operation.
    pub op: Op,
    /// Its method.
    pub method: Method,
    /// Its path under `/api/v1/`, parameters in braces (`orgs/{org}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it does, in a line.
    pub summary: &'static str,
    /// Its query parameters: name and meaning.
    pub query: &'static [(&'static str, &'static str)],
    /// Its body.
    pub takes: Takes,
    /// Its success status.
    pub status: u16,
    /// Its success answer.
    pub gives: Gives,
}

/// The table's shorthand for a route.
#[allow(clippy::too_many_arguments)]
const fn route(
    op: Op,
    method: Method,
    path: &'static str,
    access: Access,
    summary: &'static str,
    query: &'static [(&'static str, &'static str)],
    takes: Takes,
    status: u16,
    gives: Gives,
) -> Route {
    Route {
        op,
        method,
        path,
        access,
        summary,
        query,
        takes,
        status,
        gives,
    }
}

const FORCE_INSTALL: (&str, &str) = (
    "force",
    "flag: replace the installed version even if this one is not newer",
);
const FORCE_UNINSTALL: (&str, &str) = ("force", "flag: uninstall even while active");
const CASCADE: (&str, &str) = (
    "cascade",
    "flag: also deactivate the active plugins that depend on it",
);

use Access::{AnyToken, Operator, Org, OrgOperator, Public};
use Gives::{Json, JsonOrEvents, JsonOrText};
use Takes::{Nothing, OptionalJson, Package, PackageOrJson};

/// Every management operation.
pub static ROUTES: &[Route] = &[
    route(
        Op::OpenApi,
        Method::GET,
        "openapi.json",
        Public,
        "This document: the management API in OpenAPI 3.1",
        &[],
        Nothing,
        200,
        Json(object),
    ),
    route(
        Op::ListOrgs,
        Method::GET,
        "orgs",
        AnyToken,
        "List the orgs the caller may act on",
        &[],
        Nothing,
        200,
        Json(list::<OrgView>),
    ),
    route(
        Op::CreateOrg,
        Method::POST,
        "orgs",
        Operator,
        "Create an org",
        &[],
        Takes::Json(one::<CreateOrg>),
        201,
        Json(one::<OrgView>),
    ),
    route(
        Op::ListPlugins,
        Method::GET,
        "orgs/{org}/plugins",
        Org,
        "List the org's plugins",
        &[],
        Nothing,
        200,
        Json(list::<PluginView>),
    ),
    route(
        Op::InstallPlugin,
        Method::POST,
        "orgs/{org}/plugins",
        Org,
        "Install or upgrade a plugin: a package, or by name from the registries",
        &[FORCE_INSTALL],
        PackageOrJson(one::<InstallByName>),
        201,
        Json(installed),
    ),
    route(
        Op::PreviewPackage,
        Method::POST,
        "orgs/{org}/plugins/preview",
        Org,
        "Check a package as an install without force would (without compiling it) and show its manifest beside the installed plugin of that name; nothing is written",
        &[],
        Package,
        200,
        Json(one::<PreviewView>),
    ),
    route(
        Op::ShowPlugin,
        Method::GET,
        "orgs/{org}/plugins/{name}",
        Org,
        "One installed plugin",
        &[],
        Nothing,
        200,
        Json(one::<PluginView>),
    ),
    route(
        Op::UninstallPlugin,
        Method::DELETE,
        "orgs/{org}/plugins/{name}",
        Org,
        "Uninstall a plugin, its data, configuration and files",
        &[FORCE_UNINSTALL, CASCADE],
        Nothing,
        200,
        Json(one::<Uninstalled>),
    ),
    route(
        Op::ActivatePlugin,
        Method::POST,
        "orgs/{org}/plugins/{name}/activate",
        Org,
        "Grant permissions and start serving",
        &[(
            "with-deps",
            "flag: activate its inactive dependencies first",
        )],
        OptionalJson(one::<ActivateBody>),
        200,
        Json(one::<PluginView>),
    ),
    route(
        Op::DeactivatePlugin,
        Method::POST,
        "orgs/{org}/plugins/{name}/deactivate",
        Org,
        "Stop serving; files and data stay",
        &[CASCADE],
        Nothing,
        200,
        Json(one::<PluginView>),
    ),
    route(
        Op::RollbackPlugin,
        Method::POST,
        "orgs/{org}/plugins/{name}/rollback",
        Org,
        "Return to the previous version",
        &[],
        Nothing,
        200,
        Json(one::<PluginView>),
    ),
    route(
        Op::PluginKvUsage,
        Method::GET,
        "orgs/{org}/plugins/{name}/kv-usage",
        Org,
        "The plugin's key-value data against its quotas",
        &[],
        Nothing,
        200,
        Json(one::<KvUsageView>),
    ),
    route(
        Op::PluginUsage,
        Method::GET,
        "orgs/{org}/plugins/{name}/usage",
        Org,
        "The plugin's requests, errors, p99 latency and CPU per minute over the last hour (this node, since it started)",
        &[],
        Nothing,
        200,
        Json(one::<PluginUsageView>),
    ),
    route(
        Op::PluginLogs,
        Method::GET,
        "orgs/{org}/plugins/{name}/logs",
        Org,
        "The plugin's recent log lines, or with follow a stream of server-sent events",
        &[
            ("after", "lines numbered after this one"),
            (
                "limit",
                "at most this many lines (default 100, at most 1000)",
            ),
            ("follow", "flag: stream new lines as server-sent events"),
        ],
        Nothing,
        200,
        JsonOrEvents(one::<LogPage>),
    ),
    route(
        Op::PluginConfig,
        Method::GET,
        "orgs/{org}/plugins/{name}/config",
        Org,
        "The plugin's settings, and its secrets by name only",
        &[],
        Nothing,
        200,
        Json(one::<ConfigView>),
    ),
    route(
        Op::SetPluginConfig,
        Method::PUT,
        "orgs/{org}/plugins/{name}/config",
        Org,
        "Replace the settings, set or remove named secrets",
        &[],
        Takes::Json(one::<ConfigUpdate>),
        200,
        Json(one::<ConfigView>),
    ),
    route(
        Op::PublishToRegistry,
        Method::POST,
        "orgs/{org}/registry",
        Org,
        "Publish a package to the org's registry",
        &[],
        Package,
        201,
        Json(one::<PublishedPackage>),
    ),
    route(
        Op::ListRegistry,
        Method::GET,
        "orgs/{org}/registry",
        Org,
        "What the org can install, from its registry and the catalog",
        &[],
        Nothing,
        200,
        Json(list::<RegistryListing>),
    ),
    route(
        Op::PublishToCatalog,
        Method::POST,
        "catalog",
        Operator,
        "Publish a package to the shared catalog",
        &[],
        Package,
        201,
        Json(one::<PublishedPackage>),
    ),
    route(
        Op::ListCatalog,
        Method::GET,
        "catalog",
        AnyToken,
        "The shared catalog",
        &[],
        Nothing,
        200,
        Json(list::<RegistryListing>),
    ),
    route(
        Op::ListTrustedKeys,
        Method::GET,
        "orgs/{org}/trusted-keys",
        Org,
        "The org's signature policy and trusted keys",
        &[],
        Nothing,
        200,
        Json(one::<SigningPolicy>),
    ),
    route(
        Op::TrustKey,
        Method::POST,
        "orgs/{org}/trusted-keys",
        Org,
        "Trust a minisign public key",
        &[],
        Takes::Json(one::<TrustKey>),
        201,
        Json(one::<TrustedKeyRecord>),
    ),
    route(
        Op::UntrustKey,
        Method::DELETE,
        "orgs/{org}/trusted-keys/{id}",
        Org,
        "Stop trusting a key",
        &[],
        Nothing,
        200,
        Json(one::<KeyRemoved>),
    ),
    route(
        Op::SetSignaturePolicy,
        Method::PUT,
        "orgs/{org}/signature-policy",
        Org,
        "Whether installs need a trusted signature",
        &[],
        Takes::Json(one::<SignaturePolicyBody>),
        200,
        Json(one::<SigningPolicy>),
    ),
    route(
        Op::ListIntegrations,
        Method::GET,
        "orgs/{org}/integrations",
        Org,
        "The org's active integration connectors",
        &[],
        Nothing,
        200,
        Json(list::<IntegrationView>),
    ),
    route(
        Op::RunIntegrationAction,
        Method::POST,
        "orgs/{org}/integrations/{plugin}/actions/{action}",
        Org,
        "Run a connector's action with a JSON input",
        &[],
        Takes::Json(object),
        200,
        Json(one::<ActionOutput>),
    ),
    route(
        Op::ListModules,
        Method::GET,
        "orgs/{org}/modules",
        Org,
        "The org's module registry",
        &[],
        Nothing,
        200,
        Json(list::<ModuleDescriptor>),
    ),
    route(
        Op::DependencyGraph,
        Method::GET,
        "orgs/{org}/dependencies",
        Org,
        "The org's dependency graph (Graphviz DOT with format=dot)",
        &[("format", "`dot` for Graphviz DOT")],
        Nothing,
        200,
        JsonOrText(one::<GraphView>, "text/vnd.graphviz"),
    ),
    route(
        Op::GetLimits,
        Method::GET,
        "orgs/{org}/limits",
        Org,
        "The org's limits in force",
        &[],
        Nothing,
        200,
        Json(one::<TenantLimits>),
    ),
    route(
        Op::SetLimits,
        Method::PUT,
        "orgs/{org}/limits",
        OrgOperator,
        "Override some of the org's limits",
        &[],
        Takes::Json(object),
        200,
        Json(one::<TenantLimits>),
    ),
    route(
        Op::ResetLimits,
        Method::DELETE,
        "orgs/{org}/limits",
        OrgOperator,
        "Drop the org's overrides",
        &[],
        Nothing,
        200,
        Json(one::<TenantLimits>),
    ),
    route(
        Op::Audit,
        Method::GET,
        "orgs/{org}/audit",
        Org,
        "The org's lifecycle events, oldest first",
        &[
            ("after", "events numbered after this one"),
            ("plugin", "only this plugin's events"),
            ("limit", "at most this many events (default and most 1000)"),
        ],
        Nothing,
        200,
        Json(list::<AuditEvent>),
    ),
    route(
        Op::SetTenantKey,
        Method::PUT,
        "orgs/{org}/tenant-key",
        OrgOperator,
        "Require a new tenant key on the org's plugin routes",
        &[],
        Nothing,
        200,
        Json(one::<TenantKeyView>),
    ),
    route(
        Op::RemoveTenantKey,
        Method::DELETE,
        "orgs/{org}/tenant-key",
        OrgOperator,
        "Open the org's plugin routes again",
        &[],
        Nothing,
        200,
        Json(one::<TenantKeyView>),
    ),
    route(
        Op::SetModulesPublic,
        Method::PUT,
        "orgs/{org}/modules-public",
        OrgOperator,
        "Whether module records answer without credentials",
        &[],
        Takes::Json(one::<ModulesPublicBody>),
        200,
        Json(one::<ModulesPublicView>),
    ),
    route(
        Op::CreateToken,
        Method::POST,
        "orgs/{org}/tokens",
        Org,
        "Create an org-admin token, shown this once",
        &[],
        Nothing,
        201,
        Json(one::<IssuedToken>),
    ),
    route(
        Op::ListTokens,
        Method::GET,
        "orgs/{org}/tokens",
        Org,
        "The org's tokens, never their secrets",
        &[],
        Nothing,
        200,
        Json(list::<TokenSummary>),
    ),
    route(
        Op::RevokeToken,
        Method::DELETE,
        "orgs/{org}/tokens/{id}",
        Org,
        "Revoke a token at once",
        &[],
        Nothing,
        200,
        Json(one::<TokenRevoked>),
    ),
    route(
        Op::DeactivateAll,
        Method::POST,
        "admin/deactivate-all",
        Operator,
        "The rollback switch: deactivate every plugin in every org",
        &[],
        Nothing,
        200,
        Json(list::<Installation>),
    ),
];

/// A matched route's path parameters.
pub struct Params<'p> {
    pairs: Vec<(&'static str, &'p str)>,
}

impl<'p> Params<'p> {
    /// The parameter `name` (empty if the route has none of that name).
    pub fn get(&self, name: &str) -> &'p str {
        (self.pairs.iter())
            .find(|(n, _)| *n == name)
            .map_or("", |(_, value)| value)
    }

    /// The `org` parameter, if the route has one.
    pub fn org(&self) -> Option<&'p str> {
        self.pairs
            .iter()
            .find(|(n, _)| *n == "org")
            .map(|(_, v)| *v)
    }
}

/// The route for `method` and the path `segments` under `/api/v1/`, with
/// its parameters; `None` if there is none.
pub fn find<'p>(method: &Method, segments: &[&'p str]) -> Option<(&'static Route, Params<'p>)> {
    ROUTES
        .iter()
        .filter(|r| r.method == *method)
        .find_map(|route| {
            let mut pattern = route.path.split('/');
            let mut pairs = Vec::new();
            for segment in segments {
                let part = pattern.next()?;
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !segment.is_empty() => pairs.push((name, *segment)),
                    Some(_) => return None,
                    None if part == *segment => {}
                    None => return None,
                }
            }
            // The whole pattern matched, not only its start.
            pattern
                .next()
                .is_none()
                .then_some((route, Params { pairs }))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_their_parameters() {
        let (route, params) = find(
            &Method::POST,
            &["orgs", "acme", "plugins", "hello", "activate"],
        )
        .unwrap();
        assert_eq!(route.op, Op::ActivatePlugin);
        assert_eq!((params.org(), params.get("name")), (Some("acme"), "hello"));
        assert!(
            find(
                &Method::GET,
                &["orgs", "acme", "plugins", "hello", "activate"]
            )
            .is_none()
        );
        assert!(find(&Method::GET, &["orgs", "", "plugins"]).is_none());
        assert!(find(&Method::GET, &["nothing"]).is_none());
        assert_eq!(find(&Method::GET, &["orgs"]).unwrap().0.op, Op::ListOrgs);
    }

    #[test]
    fn only_post_of_plugins_preview_is_the_preview() {
        let op = |method, name| {
            let segments = ["orgs", "acme", "plugins", name];
            find(&method, &segments).map(|(route, params)| (route.op, params.get("name")))
        };
        assert_eq!(op(Method::POST, "preview"), Some((Op::PreviewPackage, "")));
        assert_eq!(
            op(Method::GET, "preview"),
            Some((Op::ShowPlugin, "preview"))
        );
        assert_eq!(
            op(Method::DELETE, "preview"),
            Some((Op::UninstallPlugin, "preview"))
        );
        assert_eq!(op(Method::POST, "hello"), None);
    }

    #[test]
    fn every_operation_has_one_route_and_no_two_routes_overlap() {
        for (i, a) in ROUTES.iter().enumerate() {
            assert_eq!(
                ROUTES.iter().filter(|r| r.op == a.op).count(),
                1,
                "{:?}",
                a.op
            );
            for b in &ROUTES[i + 1..] {
                assert!(
                    a.method != b.method || a.path != b.path,
                    "{} {}",
                    a.method,
                    a.path
                );
            }
        }
    }
}
