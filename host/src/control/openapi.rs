//! The management API as an OpenAPI 3.1 document (`GET
//! /api/v1/openapi.json`), written from the route table
//! ([`super::api_routes::ROUTES`]) and the JSON Schemas its body types
//! derive — never by hand.

use super::api_routes::{self, Access, Gives, ROUTES, Route, Schemas, Takes};
use http::Method;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    InfoBuilder, OpenApi, OpenApiBuilder, Required, ResponseBuilder, ServerBuilder,
};

/// The security scheme every non-public operation names.
const BEARER: &str = "bearer";

/// The document, as JSON: written once, from the static route table.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(build()).expect("the OpenAPI document serializes"))
}

/// The document.
fn build() -> OpenApi {
    let mut schemas = Schemas::new();
    let mut paths = PathsBuilder::new();
    for route in ROUTES {
        let operation = operation(route, &mut schemas);
        paths = paths.path(
            format!("/api/v1/{}", route.path),
            PathItem::new(http_method(&route.method), operation),
        );
    }
    let mut components = ComponentsBuilder::new().security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The operator token, or an org-admin token (`berth_{id}_{secret}`)",
                ))
                .build(),
        ),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("berth management API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Orgs, tokens, plugin lifecycle and configuration, registries, \
                     signing keys, limits, logs and audit of a berth server. Every \
                     error answers `{\"error\": {\"code\", \"message\"}}`, with \
                     `fields` when a value was refused field by field.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new().url("/").build()]))
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// One route as an operation.
fn operation(route: &Route, schemas: &mut Schemas) -> utoipa::openapi::path::Operation {
    let mut operation = OperationBuilder::new()
        .operation_id(Some(format!("{:?}", route.op)))
        .summary(Some(route.summary))
        .description(Some(access_note(route.access)))
        .tag(
            route
                .path
                .split('/')
                .find(|s| !s.starts_with('{') && *s != "orgs")
                .unwrap_or("orgs"),
        );
    if route.access != Access::Public {
        operation =
            operation.securities(Some([SecurityRequirement::new::<_, _, &str>(BEARER, [])]));
    }
    for name in path_parameters(route.path) {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(string())),
        );
    }
    for (name, description) in route.query {
        operation = operation.parameter(
            ParameterBuilder::new()
                .name(*name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(*description))
                .schema(Some(string())),
        );
    }
    if let Some(body) = request_body(route.takes, schemas) {
        operation = operation.request_body(Some(body));
    }
    let success = match route.gives {
        Gives::Json(schema) => ResponseBuilder::new()
            .description("Success")
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build()),
        Gives::JsonOrText(schema, text) => ResponseBuilder::new()
            .description("Success")
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build())
            .content(text, ContentBuilder::new().schema(Some(string())).build()),
        Gives::JsonOrEvents(schema) => ResponseBuilder::new()
            .description("Success: a page, or with `follow` a stream of server-sent events (`event: line|note|missed`, `id: SEQ`, `data:` a line as JSON)")
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build())
            .content("text/event-stream", ContentBuilder::new().schema(Some(string())).build()),
    };
    let failure = |description: &str, schemas: &mut Schemas| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(api_routes::error(schemas)))
                    .build(),
            )
            .build()
    };
    operation
        .response(route.status.to_string(), success.build())
        .response("4XX", failure("Refused; nothing changed", schemas))
        .response(
            "5XX",
            failure("The server failed; its log has the details", schemas),
        )
        .build()
}

/// Who may call a route, in words.
fn access_note(access: Access) -> &'static str {
    match access {
        Access::Public => "Needs no token.",
        Access::AnyToken => "Any valid token; the answer holds only what the caller may act on.",
        Access::Org => {
            "The org's admins and the operator; another org's admin gets 404 `org_not_found`."
        }
        Access::OrgOperator => "The operator only (an org admin gets 403 `operator_only`).",
        Access::Operator => "The operator only (an org admin gets 403 `operator_only`).",
    }
}

/// The request body a route takes, if any.
fn request_body(
    takes: Takes,
    schemas: &mut Schemas,
) -> Option<utoipa::openapi::request_body::RequestBody> {
    let zip = || ContentBuilder::new().schema(Some(binary())).build();
    let body = match takes {
        Takes::Nothing => return None,
        Takes::Json(schema) => RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build()),
        Takes::OptionalJson(schema) => RequestBodyBuilder::new()
            .required(Some(Required::False))
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build()),
        Takes::Package => RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some("A plugin package (ZIP)"))
            .content("application/zip", zip()),
        Takes::PackageOrJson(schema) => RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some("A plugin package (ZIP), or JSON naming one to install from the registries; told apart by the body's bytes"))
            .content("application/zip", zip())
            .content("application/json", ContentBuilder::new().schema(Some(schema(schemas))).build()),
    };
    Some(body.build())
}

/// The `{name}` parameters of a path.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        _ => HttpMethod::Get,
    }
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(Type::String))
}

fn binary() -> ObjectBuilder {
    string().content_media_type("application/zip")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_an_operation_and_every_reference_resolves() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let operations: usize = (doc["paths"].as_object().unwrap().values())
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, ROUTES.len());
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{name} is not in the document"
            );
        }
        let logs = &doc["paths"]["/api/v1/orgs/{org}/plugins/{name}/logs"]["get"];
        assert_eq!(logs["operationId"], "PluginLogs");
        assert!(
            logs["responses"]["200"]["content"]
                .get("text/event-stream")
                .is_some()
        );
    }
}
