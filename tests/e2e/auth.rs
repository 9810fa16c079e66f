//! Management API authentication and authorization: the operator token,
//! org-admin tokens confined to their org, and refusals that change nothing.

use crate::support::{Server, admin_token, berth_command, guest_package};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// Everything an org's state consists of, as the operator sees it.
fn org_state(server: &Server, org: &str) -> (serde_json::Value, serde_json::Value) {
    let plugins = server.get(&format!("/api/v1/orgs/{org}/plugins"));
    let limits = server.get(&format!("/api/v1/orgs/{org}/limits"));
    assert_eq!(plugins.status, 200, "{plugins:?}");
    (plugins.json(), limits.json())
}

#[test]
fn the_management_api_refuses_missing_and_invalid_tokens_and_changes_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let orgs_before = server.get("/api/v1/orgs").json();
    let state_before = org_state(&server, "acme");
    let zip = guest_package("hello");

    let forged = format!("{}x", crate::support::OPERATOR_TOKEN);
    let callers = [
        server.client(None),
        server.client(Some(&forged)),
        server.client(Some("berth_000000000000_0000")),
    ];
    for caller in &callers {
        let listed = caller.get("/api/v1/orgs");
        assert_eq!(listed.status, 401, "{listed:?}");
        assert_eq!(listed.error_code(), "unauthorized");
        let created = caller.post_json("/api/v1/orgs", serde_json::json!({ "name": "evil" }));
        assert_eq!(created.status, 401, "{created:?}");
        let installed = caller.install("acme", &zip);
        assert_eq!(installed.status, 401, "{installed:?}");
        let limited = caller.put_json(
            "/api/v1/orgs/acme/limits",
            serde_json::json!({ "max-concurrent": 1, "requests-per-second": 1, "burst": 1 }),
        );
        assert_eq!(limited.status, 401, "{limited:?}");
        assert_eq!(caller.get("/metrics").status, 401);
    }
    assert_eq!(server.get("/api/v1/orgs").json(), orgs_before);
    assert_eq!(org_state(&server, "acme"), state_before);

    // A 401 tells the client how to authenticate.
    let (status, _) = server
        .client(None)
        .raw_request("GET /api/v1/orgs HTTP/1.1", &[]);
    assert_eq!(status, 401);
    let response = server.client(None).get("/api/v1/orgs");
    assert_eq!(
        response.header("www-authenticate"),
        "Bearer realm=\"berth\""
    );
    // Plugin routes stay public.
    server.install_active("acme", &zip);
    assert_eq!(server.client(None).get("/o/acme/p/hello/").status, 200);
}

#[test]
fn an_org_admin_acts_on_its_own_org_and_cannot_see_or_touch_another() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("hello"));
    }
    let token = admin_token(&server, "acme");
    assert_eq!(token["org"], "acme");
    let admin = server.client(Some(token["token"].as_str().unwrap()));

    // Its own org: full plugin lifecycle.
    let orgs = admin.get("/api/v1/orgs").json();
    let names: Vec<_> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["name"])
        .collect();
    assert_eq!(names, ["acme"], "only its own org is listed");
    let deactivated = admin.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200, "{deactivated:?}");
    let activated = admin.post("/api/v1/orgs/acme/plugins/hello/activate");
    assert_eq!(activated.status, 200, "{activated:?}");
    assert_eq!(admin.get("/api/v1/orgs/acme/limits").status, 200);
    assert_eq!(admin.get("/api/v1/orgs/acme/audit").status, 200);

    // Another org: indistinguishable from one that does not exist.
    let beta_before = org_state(&server, "beta");
    let zip = guest_package("trap");
    let attempts = [
        admin.get("/api/v1/orgs/beta/plugins"),
        admin.get("/api/v1/orgs/beta/plugins/hello"),
        admin.get("/api/v1/orgs/beta/audit"),
        admin.get("/api/v1/orgs/beta/limits"),
        admin.get("/api/v1/orgs/beta/tokens"),
        admin.post("/api/v1/orgs/beta/tokens"),
        admin.post("/api/v1/orgs/beta/plugins/hello/deactivate"),
        admin.delete("/api/v1/orgs/beta/plugins/hello?force"),
        admin.install("beta", &zip),
        admin.get("/api/v1/orgs/ghost/plugins"),
    ];
    for reply in &attempts {
        assert_eq!(reply.status, 404, "{reply:?}");
        assert_eq!(reply.error_code(), "org_not_found", "{reply:?}");
    }
    assert_eq!(attempts[0].body.replace("beta", "ghost"), attempts[9].body);
    assert_eq!(org_state(&server, "beta"), beta_before);
    assert_eq!(server.client(None).get("/o/beta/p/hello/").status, 200);

    // The operator's powers: refused, nothing changed.
    let acme_before = org_state(&server, "acme");
    let refusals = [
        admin.post_json("/api/v1/orgs", serde_json::json!({ "name": "mine" })),
        admin.put_json(
            "/api/v1/orgs/acme/limits",
            serde_json::json!({ "max-concurrent": 1000, "requests-per-second": 0, "burst": 1 }),
        ),
        admin.delete("/api/v1/orgs/acme/limits"),
        admin.post("/api/v1/admin/deactivate-all"),
        admin.get("/metrics"),
    ];
    for reply in &refusals {
        assert_eq!(reply.status, 403, "{reply:?}");
        assert_eq!(reply.error_code(), "operator_only", "{reply:?}");
    }
    assert_eq!(org_state(&server, "acme"), acme_before);
    assert_eq!(
        server.get("/api/v1/orgs").json().as_array().unwrap().len(),
        2
    );
    assert_eq!(server.get("/o/beta/p/hello/").status, 200);
    assert_eq!(server.get("/metrics").status, 200);
}

#[test]
fn tokens_are_listed_without_secrets_and_revocation_takes_effect_at_once() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    server.create_org("beta");
    let first = admin_token(&server, "acme");
    let admin = server.client(Some(first["token"].as_str().unwrap()));
    // An org admin may issue another token for its own org.
    let second = admin.post("/api/v1/orgs/acme/tokens");
    assert_eq!(second.status, 201, "{second:?}");
    let second = second.json();

    let listed = admin.get("/api/v1/orgs/acme/tokens");
    assert_eq!(listed.status, 200);
    let ids: Vec<_> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first["id"]) && ids.contains(&second["id"]));
    for secret in [&first["token"], &second["token"]] {
        assert!(
            !listed.body.contains(secret.as_str().unwrap()),
            "{listed:?}"
        );
    }

    // Beta's token cannot be revoked through acme, nor acme's through beta.
    let beta = admin_token(&server, "beta");
    let wrong_org = admin.delete(&format!(
        "/api/v1/orgs/acme/tokens/{}",
        beta["id"].as_str().unwrap()
    ));
    assert_eq!(wrong_org.status, 404, "{wrong_org:?}");
    assert_eq!(wrong_org.error_code(), "token_not_found");
    let beta_admin = server.client(Some(beta["token"].as_str().unwrap()));
    assert_eq!(beta_admin.get("/api/v1/orgs/beta/tokens").status, 200);

    let revoked = admin.delete(&format!(
        "/api/v1/orgs/acme/tokens/{}",
        first["id"].as_str().unwrap()
    ));
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(admin.get("/api/v1/orgs/acme/plugins").status, 401);
    let survivor = server.client(Some(second["token"].as_str().unwrap()));
    assert_eq!(survivor.get("/api/v1/orgs/acme/plugins").status, 200);
    let audit = server.get("/api/v1/orgs/acme/audit").json();
    let actions: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert!(actions.contains(&"token.create".into()), "{audit}");
    assert!(actions.contains(&"token.revoke".into()), "{audit}");
}

/// Starts berth on `data` without a configured operator token; returns the
/// process, its base URL and the operator token it printed, if any.
fn start_unconfigured(data: &std::path::Path) -> (std::process::Child, String, Option<String>) {
    let mut child = berth_command(data, &["--no-demo"])
        .env_remove("BERTH_OPERATOR_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning berth");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.expect("reading berth's output");
        if let Some(printed) = line
            .split(": ")
            .nth(1)
            .filter(|_| line.contains("operator token"))
        {
            token = Some(printed.to_owned());
        }
        if let Some(base) = line.strip_prefix("berth listening on ") {
            return (child, base.to_owned(), token);
        }
    }
    let status = child.wait();
    panic!("berth exited before listening: {status:?}");
}

#[test]
fn the_first_start_prints_an_operator_token_once_and_stores_only_its_hash() {
    let data = tempfile::tempdir().unwrap();
    let (mut first, base, token) = start_unconfigured(data.path());
    let token = token.expect("the first start prints the operator token");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let create = |base: &str, name: &str| {
        agent
            .post(format!("{base}/api/v1/orgs"))
            .header("authorization", format!("Bearer {token}"))
            .send_json(serde_json::json!({ "name": name }))
            .unwrap()
            .status()
    };
    assert_eq!(create(&base, "acme"), 201);
    first.kill().unwrap();
    first.wait().unwrap();

    let (mut second, base, reprinted) = start_unconfigured(data.path());
    assert_eq!(reprinted, None, "the token is shown only once");
    assert_eq!(create(&base, "beta"), 201, "the stored token still works");
    second.kill().unwrap();
    second.wait().unwrap();

    let secret = token.rsplit('_').next().unwrap();
    let registry = std::fs::read(data.path().join("registry.redb")).unwrap();
    let leaked = registry
        .windows(secret.len())
        .any(|w| w == secret.as_bytes());
    assert!(!leaked, "the token's secret is stored in the registry");
}

#[test]
fn a_configured_operator_token_shorter_than_32_characters_is_refused_at_startup() {
    let data = tempfile::tempdir().unwrap();
    let output = berth_command(data.path(), &[])
        .env("BERTH_OPERATOR_TOKEN", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("operator token"), "{stderr}");
    assert!(
        !data.path().join("registry.redb").exists(),
        "refused before any state is written"
    );
}

#[test]
fn a_tenant_key_guards_only_its_orgs_plugin_routes_and_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let key = {
        let server = Server::start_in(data.path(), &["--no-demo"]);
        for org in ["acme", "beta"] {
            server.create_org(org);
            server.install_active(org, &guest_package("hello"));
        }
        // Only the operator sets tenant keys.
        let admin = server.client(Some(
            admin_token(&server, "acme")["token"].as_str().unwrap(),
        ));
        let refused = admin.put_json("/api/v1/orgs/acme/tenant-key", serde_json::json!({}));
        assert_eq!(refused.status, 403, "{refused:?}");
        assert_eq!(server.client(None).get("/o/acme/p/hello/").status, 200);

        let set = server.put_json("/api/v1/orgs/acme/tenant-key", serde_json::json!({}));
        assert_eq!(set.status, 200, "{set:?}");
        let key = set.json()["tenant-key"].as_str().unwrap().to_owned();
        let orgs = server.get("/api/v1/orgs");
        assert!(!orgs.body.contains(&key), "the key is shown only once");
        assert_eq!(orgs.json()[0]["tenant_key_required"], true, "{orgs:?}");
        key
    };

    let server = Server::start_in(data.path(), &["--no-demo"]);
    let without = server.client(None).get("/o/acme/p/hello/");
    assert_eq!(without.status, 401, "{without:?}");
    assert_eq!(without.error_code(), "tenant_key_required");
    // Without the key the org tells nothing of its plugins: a plugin it
    // does not have answers as one it has.
    let missing = server.client(None).get("/o/acme/p/nope/");
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (401, "tenant_key_required"),
        "{missing:?}"
    );
    let (status, body) = server.client(None).raw_request(
        "GET /o/acme/p/hello/ HTTP/1.1\r\nX-Berth-Tenant-Key: berth_tk_wrong",
        &[],
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_tenant_key"), "{body}");
    let (status, body) = server.client(None).raw_request(
        &format!("GET /o/acme/p/hello/ HTTP/1.1\r\nX-Berth-Tenant-Key: {key}"),
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.client(None).raw_request(
        &format!("GET /o/acme/p/nope/ HTTP/1.1\r\nX-Berth-Tenant-Key: {key}"),
        &[],
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("plugin_not_found"), "{body}");
    // Another org without a key stays open; the key is acme's alone.
    assert_eq!(server.client(None).get("/o/beta/p/hello/").status, 200);

    let removed = server.delete("/api/v1/orgs/acme/tenant-key");
    assert_eq!(removed.status, 200, "{removed:?}");
    assert_eq!(server.client(None).get("/o/acme/p/hello/").status, 200);
}
