//! The OpenAPI document (`GET /api/v1/openapi.json`) kept true against the
//! real server: a walk calls every documented operation and checks that
//! each succeeds at least once, and that every answer — success or error —
//! has a documented status and matches its documented JSON Schema; a path
//! outside the document is no route at all.

use crate::support::{
    Reply, Server, Upstream, admin_secret, berth_cli, guest_package, guest_package_with,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The document, and which operations answered with success.
struct Conformance {
    doc: Value,
    succeeded: BTreeSet<(String, String)>,
}

impl Conformance {
    /// The operation `method` `template` of the document.
    fn operation(&self, method: &str, template: &str) -> &Value {
        let operation = &self.doc["paths"][template][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        operation
    }

    /// Checks `reply` to `method` `template` against the document.
    fn check(&mut self, method: &str, template: &str, reply: &Reply) {
        let operation = self.operation(method, template).clone();
        let status = reply.status.to_string();
        let class = format!("{}XX", &status[..1]);
        let documented = &operation["responses"];
        let response = documented
            .get(&status)
            .or_else(|| documented.get(&class))
            .unwrap_or_else(|| {
                panic!("{method} {template} answered {status}, undocumented: {reply:?}")
            });
        let media_type = reply
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        let content = &response["content"][media_type];
        assert!(
            content.is_object(),
            "{method} {template} answered {status} as {media_type:?}, undocumented"
        );
        if media_type == "application/json" {
            let body: Value = serde_json::from_str(&reply.body).expect("a JSON answer");
            let mut schema = content["schema"].clone();
            schema["components"] = self.doc["components"].clone();
            let validator = jsonschema::validator_for(&schema).expect("a valid schema");
            let errors: Vec<String> = validator
                .iter_errors(&body)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {template} answered {status} not matching its schema: {errors:?}\n{body:#}"
            );
        }
        if reply.status < 300 {
            self.succeeded
                .insert((method.to_owned(), template.to_owned()));
        }
    }
}

/// `template` with its `{name}` parameters filled from `values`.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut path = template.to_owned();
    for (name, value) in values {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

#[test]
fn every_documented_operation_answers_as_documented_and_nothing_else_is_routed() {
    let upstream = Upstream::start();
    let server = Server::start_reaching(&upstream);
    let public = server.client(None).get("/api/v1/openapi.json");
    assert_eq!(
        public.status, 200,
        "the document needs no token: {public:?}"
    );
    let mut api = Conformance {
        doc: public.json(),
        succeeded: BTreeSet::new(),
    };
    assert_eq!(api.doc["openapi"], "3.1.0");
    api.check("GET", "/api/v1/openapi.json", &public);

    let keys = tempfile::tempdir().unwrap();
    berth_cli(&["keygen", "--out", keys.path().to_str().unwrap()]);
    let public_key = std::fs::read_to_string(keys.path().join("berth.pub")).unwrap();
    let port = upstream.addr.port();
    let webhook = guest_package_with("webhook", |m| {
        m["permissions"]["network"] = json!([format!("127.0.0.1:{port}")]);
    });
    let newer = guest_package_with("hello", |m| m["version"] = "0.2.0".into());
    let zip = "application/zip";

    // The walk: (method, template, parameters, body), each step asserted
    // to succeed; a step's answer may name what a later one needs.
    let step = |api: &mut Conformance,
                method: &str,
                template: &str,
                values: &[(&str, &str)],
                body: Option<Body>| {
        let path = fill(template, values);
        let reply = match (method, body) {
            ("GET", None) => server.get(&path),
            ("DELETE", None) => server.delete(&path),
            ("POST", None) => server.post(&path),
            ("POST", Some(Body::Json(json))) => server.post_json(&path, json),
            ("POST", Some(Body::Zip(bytes))) => server.post_bytes(&path, zip, &bytes),
            ("PUT", None) => server.put_json(&path, json!(null)),
            ("PUT", Some(Body::Json(json))) => server.put_json(&path, json),
            other => panic!("no such step {other:?}"),
        };
        api.check(method, template, &reply);
        assert!(reply.status < 300, "{method} {path} failed: {reply:?}");
        reply
    };
    let org = [("org", "acme")];
    let hello = [("org", "acme"), ("name", "hello")];
    let hooks = [("org", "acme"), ("name", "webhook")];
    step(
        &mut api,
        "POST",
        "/api/v1/orgs",
        &[],
        Some(Body::Json(json!({ "name": "acme" }))),
    );
    step(&mut api, "GET", "/api/v1/orgs", &[], None);
    let token = step(&mut api, "POST", "/api/v1/orgs/{org}/tokens", &org, None);
    let token_id = token.json()["id"].as_str().unwrap().to_owned();
    step(&mut api, "GET", "/api/v1/orgs/{org}/tokens", &org, None);
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins",
        &org,
        Some(Body::Zip(guest_package("hello"))),
    );
    let preview = step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins/preview",
        &org,
        Some(Body::Zip(guest_package_with("hello", |m| {
            m["version"] = "0.1.1".into()
        }))),
    );
    assert_eq!(preview.json()["installed"]["version"], "0.1.0");
    step(&mut api, "GET", "/api/v1/orgs/{org}/plugins", &org, None);
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/plugins/{name}",
        &hello,
        None,
    );
    let grant = json!({ "grant": { "routes": ["/"] } });
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins/{name}/activate",
        &hello,
        Some(Body::Json(grant)),
    );
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/plugins/{name}/kv-usage",
        &hello,
        None,
    );
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/plugins/{name}/logs",
        &hello,
        None,
    );
    let usage = step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/plugins/{name}/usage",
        &hello,
        None,
    );
    assert_eq!(usage.json()["minutes"].as_array().unwrap().len(), 60);
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/plugins/{name}/config",
        &hello,
        None,
    );
    let config = json!({ "config": { "greeting": "hi" } });
    step(
        &mut api,
        "PUT",
        "/api/v1/orgs/{org}/plugins/{name}/config",
        &hello,
        Some(Body::Json(config)),
    );
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/registry",
        &org,
        Some(Body::Zip(newer)),
    );
    step(&mut api, "GET", "/api/v1/orgs/{org}/registry", &org, None);
    step(
        &mut api,
        "POST",
        "/api/v1/catalog",
        &[],
        Some(Body::Zip(guest_package("kvprobe"))),
    );
    step(&mut api, "GET", "/api/v1/catalog", &[], None);
    let by_name = json!({ "name": "hello", "version": "^0.2" });
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins",
        &org,
        Some(Body::Json(by_name)),
    );
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins/{name}/rollback",
        &hello,
        None,
    );
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins/{name}/deactivate",
        &hello,
        None,
    );
    let trusted = step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/trusted-keys",
        &org,
        Some(Body::Json(json!({ "key": public_key }))),
    );
    let key_id = trusted.json()["id"].as_str().unwrap().to_owned();
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/trusted-keys",
        &org,
        None,
    );
    let policy = json!({ "require-signature": false });
    step(
        &mut api,
        "PUT",
        "/api/v1/orgs/{org}/signature-policy",
        &org,
        Some(Body::Json(policy)),
    );
    step(
        &mut api,
        "DELETE",
        "/api/v1/orgs/{org}/trusted-keys/{id}",
        &[("org", "acme"), ("id", &key_id)],
        None,
    );
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins",
        &org,
        Some(Body::Zip(webhook)),
    );
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/plugins/{name}/activate",
        &hooks,
        None,
    );
    let url = format!("http://127.0.0.1:{port}/hook");
    let secret =
        json!({ "config": { "url": url }, "secrets": { "api-key": "sk-live-0123456789" } });
    step(
        &mut api,
        "PUT",
        "/api/v1/orgs/{org}/plugins/{name}/config",
        &hooks,
        Some(Body::Json(secret)),
    );
    // A refused value's error lists its fields, as documented.
    let refused = server.put_json(
        &fill("/api/v1/orgs/{org}/plugins/{name}/config", &hooks),
        json!({ "config": { "url": "ftp://elsewhere" } }),
    );
    assert_eq!(refused.error_code(), "config_rejected", "{refused:?}");
    assert!(refused.json()["error"]["fields"].is_array(), "{refused:?}");
    api.check("PUT", "/api/v1/orgs/{org}/plugins/{name}/config", &refused);
    let detail = &api.doc["components"]["schemas"]["ErrorDetail"];
    assert!(detail["properties"]["fields"].is_object(), "{detail}");
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/integrations",
        &org,
        None,
    );
    let action = [("org", "acme"), ("plugin", "webhook"), ("action", "send")];
    let message = json!({ "message": "hello" });
    step(
        &mut api,
        "POST",
        "/api/v1/orgs/{org}/integrations/{plugin}/actions/{action}",
        &action,
        Some(Body::Json(message)),
    );
    step(&mut api, "GET", "/api/v1/orgs/{org}/modules", &org, None);
    step(
        &mut api,
        "GET",
        "/api/v1/orgs/{org}/dependencies",
        &org,
        None,
    );
    let dot = server.get("/api/v1/orgs/acme/dependencies?format=dot");
    api.check("GET", "/api/v1/orgs/{org}/dependencies", &dot);
    step(&mut api, "GET", "/api/v1/orgs/{org}/limits", &org, None);
    step(
        &mut api,
        "PUT",
        "/api/v1/orgs/{org}/limits",
        &org,
        Some(Body::Json(json!({ "max-concurrent": 8 }))),
    );
    step(&mut api, "DELETE", "/api/v1/orgs/{org}/limits", &org, None);
    step(&mut api, "GET", "/api/v1/orgs/{org}/audit", &org, None);
    step(&mut api, "PUT", "/api/v1/orgs/{org}/tenant-key", &org, None);
    step(
        &mut api,
        "DELETE",
        "/api/v1/orgs/{org}/tenant-key",
        &org,
        None,
    );
    step(
        &mut api,
        "PUT",
        "/api/v1/orgs/{org}/modules-public",
        &org,
        Some(Body::Json(json!({ "public": true }))),
    );
    step(&mut api, "POST", "/api/v1/admin/deactivate-all", &[], None);
    step(
        &mut api,
        "DELETE",
        "/api/v1/orgs/{org}/plugins/{name}",
        &hello,
        None,
    );
    step(
        &mut api,
        "DELETE",
        "/api/v1/orgs/{org}/tokens/{id}",
        &[("org", "acme"), ("id", &token_id)],
        None,
    );

    // Every documented operation succeeded once.
    let documented: BTreeSet<(String, String)> = (api.doc["paths"].as_object().unwrap().iter())
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let missed: Vec<_> = documented.difference(&api.succeeded).collect();
    assert!(
        missed.is_empty(),
        "documented but never answered with success: {missed:?}"
    );

    // Errors are documented and match the error schema: an org that is not
    // there, on every operation that names one; a caller without a token.
    let ghost_admin = admin_secret(&server, "acme");
    let admin = server.client(Some(&ghost_admin));
    for (method, template) in &documented {
        if !template.contains("{org}") || method != "GET" {
            continue;
        }
        let path = fill(
            template,
            &[
                ("org", "ghost"),
                ("name", "x"),
                ("id", "x"),
                ("plugin", "x"),
                ("action", "x"),
            ],
        );
        let missing = server.get(&path);
        assert_eq!(missing.status, 404, "{path}: {missing:?}");
        api.check(method, template, &missing);
        let not_yours = admin.get(&fill(template, &[("org", "demo-other"), ("name", "x")]));
        api.check(method, template, &not_yours);
    }
    let anonymous = server.client(None).get("/api/v1/orgs");
    assert_eq!(anonymous.status, 401);
    api.check("GET", "/api/v1/orgs", &anonymous);
    let forbidden = admin.post_json("/api/v1/orgs", json!({ "name": "nope" }));
    assert_eq!(forbidden.status, 403);
    api.check("POST", "/api/v1/orgs", &forbidden);

    // Nothing outside the document is routed.
    for (method, path) in [
        ("GET", "/api/v1/nothing"),
        ("GET", "/api/v1/orgs/acme/plugins/hello/activate"),
        ("PATCH", "/api/v1/orgs"),
    ] {
        let reply = match method {
            "GET" => server.get(path),
            _ => server.patch_json(path, json!({})),
        };
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (404, "not_found"),
            "{method} {path}"
        );
        assert!(
            reply.error_message().starts_with("no API route"),
            "{reply:?}"
        );
    }
}

/// A step's body.
#[derive(Debug)]
enum Body {
    Json(Value),
    Zip(Vec<u8>),
}
