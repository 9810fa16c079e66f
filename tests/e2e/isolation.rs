//! Request isolation on the real server: plugin responses are sandboxed and
//! cannot set state on berth's origin; callers' credentials reach a plugin
//! only when granted; route grants hold on raw, non-canonical paths (sent
//! with `curl --path-as-is`); module records need credentials unless the
//! operator makes them public; unknown orgs answer like orgs without the
//! plugin, asset or module. Every refusal is shown to change nothing.

use crate::support::{
    Reply, Server, admin_secret, admin_token, curl, guest_package, guest_package_with,
};
use serde_json::json;

/// The policy berth stamps on every plugin response.
const SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-downloads";

/// GETs `path` exactly as written (`curl --path-as-is`); returns the
/// status and the body.
fn raw_get(server: &Server, path: &str) -> (u16, String) {
    let url = format!("{}{path}", server.base);
    let stdout = curl(&["--path-as-is", "--write-out", "\n%{http_code}", &url]);
    let (body, status) = stdout.rsplit_once('\n').expect("curl wrote the status");
    (status.parse().expect("a status code"), body.to_owned())
}

/// Requires a tenant key on acme (as the operator); returns it.
fn set_tenant_key(server: &Server) -> String {
    let set = server.put_json("/api/v1/orgs/acme/tenant-key", json!({}));
    assert_eq!(set.status, 200, "{set:?}");
    set.json()["tenant-key"].as_str().unwrap().to_owned()
}

/// A server with org `acme` and the sandbox guest installed, inactive,
/// its manifest changed by `edit`.
fn acme_with_sandbox(edit: impl FnOnce(&mut serde_json::Value)) -> Server {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let installed = server.install("acme", &guest_package_with("sandbox", edit));
    assert_eq!(installed.status, 201, "{installed:?}");
    server
}

/// Activates acme's sandbox with `grant` (everything declared for `None`).
fn activate_sandbox(server: &Server, grant: Option<serde_json::Value>) {
    let path = "/api/v1/orgs/acme/plugins/sandbox/activate";
    let reply = match grant {
        Some(grant) => server.post_json(path, json!({ "grant": grant })),
        None => server.post(path),
    };
    assert_eq!(reply.status, 200, "{reply:?}");
}

/// The lines `name ` starts in the sandbox guest's `/request` answer.
fn seen(reply: &Reply, name: &str) -> Vec<String> {
    reply
        .body
        .lines()
        .filter_map(|line| line.strip_prefix(name))
        .map(str::to_owned)
        .collect()
}

#[test]
pub(crate) fn plugin_responses_are_sandboxed_and_cannot_set_state_on_the_origin() {
    let mut server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("hostile-page"));
    server.install_active("acme", &guest_package("hello"));

    let page = server.get("/o/acme/p/hostile-page/");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.content_type.starts_with("text/html"), "{page:?}");
    let policies: Vec<&str> = page
        .headers
        .get_all("content-security-policy")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    // The plugin's own policy stays (it may only tighten); berth's sandbox
    // applies beside it, so `allow-same-origin` there lifts nothing.
    assert_eq!(
        policies,
        ["sandbox allow-same-origin allow-scripts", SANDBOX],
        "{page:?}"
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    for stripped in [
        "set-cookie",
        "set-cookie2",
        "service-worker-allowed",
        "clear-site-data",
        "nel",
        "report-to",
        "strict-transport-security",
        "alt-svc",
    ] {
        assert!(!page.headers.contains_key(stripped), "{stripped}: {page:?}");
    }
    // Every plugin response, of any type, is stamped.
    let hello = server.get("/o/acme/p/hello/");
    assert_eq!(hello.header("content-security-policy"), SANDBOX);

    // No tenant path serves a service worker's script.
    for path in [
        "/o/acme/p/hostile-page/sw.js",
        "/o/acme/ui/hostile-page/sw.js",
        "/o/acme/api/contacts",
    ] {
        let refused = server.get_with(path, &[("service-worker", "script")]);
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
        assert_eq!(refused.error_code(), "service_worker_refused");
    }
    let script = server.get("/o/acme/p/hostile-page/sw.js");
    assert_eq!(script.status, 200, "{script:?}");
    assert!(!script.headers.contains_key("service-worker-allowed"));
    assert!(!server.logs_at_exit().contains("plugin request failed"));
}

#[test]
fn caller_credentials_reach_a_plugin_only_when_granted() {
    let server = acme_with_sandbox(|m| {
        m["permissions"]["headers"] = json!(["authorization", "cookie"]);
    });
    let key = set_tenant_key(&server);
    let caller = server.client(None);
    let call = || {
        let reply = caller.get_with(
            "/o/acme/p/sandbox/request",
            &[
                ("authorization", "Bearer caller-secret"),
                ("cookie", "session=caller"),
                ("x-berth-tenant-key", &key),
                ("x-trace", "kept"),
            ],
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        seen(&reply, "header ")
    };
    let activate = |grant| activate_sandbox(&server, Some(grant));

    activate(json!({ "routes": ["/"] }));
    let headers = call();
    assert!(headers.contains(&"x-trace: kept".to_owned()), "{headers:?}");
    for hidden in ["authorization", "cookie", "x-berth-tenant-key"] {
        assert!(
            !headers.iter().any(|h| h.starts_with(hidden)),
            "{hidden} reached the plugin: {headers:?}"
        );
    }

    activate(json!({ "routes": ["/"], "headers": ["authorization"] }));
    let headers = call();
    assert!(headers.contains(&"authorization: Bearer caller-secret".to_owned()));
    assert!(
        !headers.iter().any(|h| h.starts_with("cookie")),
        "{headers:?}"
    );
    assert!(!headers.iter().any(|h| h.starts_with("x-berth-tenant-key")));

    activate(json!({ "routes": ["/"], "headers": ["authorization", "cookie"] }));
    assert!(call().contains(&"cookie: session=caller".to_owned()));

    // Over plain HTTP the plugin sees the scheme `http`.
    let reply = caller.get_with("/o/acme/p/sandbox/request", &[("x-berth-tenant-key", &key)]);
    assert_eq!(seen(&reply, "scheme "), ["http"], "{reply:?}");
}

#[test]
fn non_canonical_paths_are_refused_before_the_plugin_sees_them() {
    let mut server = acme_with_sandbox(|m| {
        m["permissions"]["routes"] = json!(["/request", "/fs"]);
    });
    let files_rw = json!([{ "name": "files", "mode": "rw" }]);
    activate_sandbox(
        &server,
        Some(json!({ "routes": ["/request"], "filesystem": files_rw })),
    );
    let write = "fs/write?path=/files/pwned&content=x";
    let plugin = "/o/acme/p/sandbox";
    for path in [
        format!("{plugin}/request/../{write}"),
        format!("{plugin}/request/%2e%2e/{write}"),
        format!("{plugin}/request/%2E%2E/{write}"),
        format!("{plugin}/request/.%2e/{write}"),
        format!("{plugin}/request/./../{write}"),
        format!("{plugin}/request//../{write}"),
        format!("{plugin}/request%2f..%2f{write}"),
        format!("{plugin}/request%2F%2E%2E%2F{write}"),
        format!("{plugin}/request%5c..%5c{write}"),
        format!("{plugin}/request/%2e"),
        format!("{plugin}/request/."),
        format!("{plugin}//request"),
    ] {
        let (status, body) = raw_get(&server, &path);
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("\"route_not_granted\""), "{path}: {body}");
    }
    // A raw backslash is not even a valid request target.
    let (status, body) = raw_get(&server, &format!("{plugin}/request\\..\\{write}"));
    assert!(
        status == 400 || body.contains("route_not_granted"),
        "{status} {body}"
    );
    // Whatever the grant: with `/fs` granted too, the same paths are refused.
    activate_sandbox(&server, None);
    for path in [
        format!("{plugin}/request/../{write}"),
        format!("{plugin}/fs/%2e%2e/{write}"),
    ] {
        let (status, body) = raw_get(&server, &path);
        assert_eq!(status, 404, "{path}: {body}");
    }
    // The plugin never ran: nothing was written.
    let files = server.data.join("orgs/acme/plugins/sandbox/files");
    assert!(files.is_dir(), "the granted directory exists");
    assert!(
        !files.join("pwned").exists(),
        "a refused path reached the plugin"
    );
    // The canonical path is served, and the plugin sees it as sent.
    let (status, body) = raw_get(&server, &format!("{plugin}/request?x=%2e%2e"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("path /request?x=%2e%2e\n"), "{body}");
    assert!(!server.logs_at_exit().contains("plugin request failed"));
}

#[test]
fn module_records_need_credentials_unless_the_operator_makes_them_public() {
    let data = tempfile::tempdir().unwrap();
    let admin_token_text = {
        let server = Server::start_in(data.path(), &["--no-demo"]);
        for org in ["acme", "beta"] {
            server.create_org(org);
        }
        let admin = admin_secret(&server, "acme");
        let anyone = server.client(None);
        let beta_admin = server.client(Some(
            admin_token(&server, "beta")["token"].as_str().unwrap(),
        ));
        let contact = json!({ "name": "Ada" });

        // Without credentials, or with another org's token: 401, nothing stored.
        for client in [&anyone, &beta_admin] {
            let listed = client.get("/o/acme/api/contacts");
            assert_eq!(
                (listed.status, listed.error_code().as_str()),
                (401, "credentials_required"),
                "{listed:?}"
            );
            let posted = client.post_json("/o/acme/api/contacts", contact.clone());
            assert_eq!(posted.status, 401, "{posted:?}");
            assert_eq!(client.get("/o/acme/api/contacts/1").status, 401);
        }
        assert_eq!(server.get("/o/acme/api/contacts").json(), json!([]));

        // acme's admin token (or the operator's) reads and writes.
        let acme_admin = server.client(Some(&admin));
        let created = acme_admin.post_json("/o/acme/api/contacts", contact.clone());
        assert_eq!(created.status, 201, "{created:?}");
        assert_eq!(acme_admin.get("/o/acme/api/contacts/1").status, 200);
        assert_eq!(
            server
                .get("/o/acme/api/contacts")
                .json()
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // So does the org's tenant key.
        let key = set_tenant_key(&server);
        let keyed = anyone.get_with("/o/acme/api/contacts", &[("x-berth-tenant-key", &key)]);
        assert_eq!(keyed.status, 200, "{keyed:?}");
        let wrong = anyone.get_with(
            "/o/acme/api/contacts",
            &[("x-berth-tenant-key", "berth_tk_0")],
        );
        assert_eq!(wrong.error_code(), "credentials_required");
        assert_eq!(server.delete("/api/v1/orgs/acme/tenant-key").status, 200);

        // Only the operator makes an org's modules public.
        let refused = acme_admin.put_json(
            "/api/v1/orgs/acme/modules-public",
            json!({ "public": true }),
        );
        assert_eq!(refused.error_code(), "operator_only", "{refused:?}");
        assert_eq!(anyone.get("/o/acme/api/contacts").status, 401);
        let bad = server.put_json(
            "/api/v1/orgs/acme/modules-public",
            json!({ "public": "yes" }),
        );
        assert_eq!(bad.status, 400, "{bad:?}");
        let made = server.put_json(
            "/api/v1/orgs/acme/modules-public",
            json!({ "public": true }),
        );
        assert_eq!(
            made.json(),
            json!({ "org": "acme", "modules_public": true }),
            "{made:?}"
        );
        assert_eq!(anyone.get("/o/acme/api/contacts").status, 200);
        // beta's stay closed.
        assert_eq!(anyone.get("/o/beta/api/contacts").status, 401);
        admin
    };

    // The setting survives a restart, shows in the org list, and can be undone.
    let server = Server::start_in(data.path(), &["--no-demo"]);
    let anyone = server.client(None);
    let listed = anyone.get("/o/acme/api/contacts");
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json()[0]["data"]["name"], "Ada");
    let orgs = server
        .client(Some(&admin_token_text))
        .get("/api/v1/orgs")
        .json();
    assert_eq!(orgs[0]["modules_public"], true, "{orgs}");
    server.put_json(
        "/api/v1/orgs/acme/modules-public",
        json!({ "public": false }),
    );
    assert_eq!(anyone.get("/o/acme/api/contacts").status, 401);
}

/// `reply`'s status, code and message with `names` replaced by `…`.
fn shape(reply: &Reply, names: &[&str]) -> (u16, String, String) {
    let mut message = reply.error_message();
    for name in names {
        message = message.replace(&format!("`{name}`"), "`…`");
    }
    (reply.status, reply.error_code(), message)
}

#[test]
fn unknown_orgs_answer_like_orgs_without_the_plugin_asset_or_module() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("contact-rules"));
    let names = [
        "acme",
        "nope",
        "hello",
        "contact-rules",
        "contacts",
        "widget",
        "x.js",
    ];

    // Plugin routes: no org, no plugin, a plugin without routes.
    let unknown_org = server.get("/o/nope/p/hello/");
    assert_eq!(unknown_org.status, 404, "{unknown_org:?}");
    for other in ["/o/acme/p/hello/", "/o/acme/p/contact-rules/"] {
        assert_eq!(
            shape(&server.get(other), &names),
            shape(&unknown_org, &names),
            "{other}"
        );
    }
    // UI: the same empty manifest; the same missing asset.
    assert_eq!(
        server.get("/o/nope/ui/manifest.json").json(),
        server.get("/o/acme/ui/manifest.json").json()
    );
    let asset = server.get("/o/nope/ui/widget/x.js");
    assert_eq!(asset.status, 404, "{asset:?}");
    assert_eq!(
        shape(&server.get("/o/acme/ui/widget/x.js"), &names),
        shape(&asset, &names)
    );
    // Modules: the same 401 without credentials, the same 404 with them.
    let anyone = server.client(None);
    assert_eq!(
        shape(&anyone.get("/o/nope/api/contacts"), &names),
        shape(&anyone.get("/o/acme/api/contacts"), &names)
    );
    let missing = server.get("/o/nope/api/contacts");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(
        shape(&server.get("/o/acme/api/widget"), &names),
        shape(&missing, &names)
    );
    // Nothing was created for the unknown org.
    let posted = server.post_json("/o/nope/api/contacts", json!({ "name": "Ghost" }));
    assert_eq!(posted.status, 404, "{posted:?}");
    assert_eq!(
        server.get("/api/v1/orgs/nope/audit").error_code(),
        "org_not_found"
    );
}
