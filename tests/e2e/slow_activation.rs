//! No global stalls: a plugin's `on-activate` runs without the lifecycle's
//! writer lock, so while one org's activation waits inside its guest (the
//! `gate` guest, held by a server the test controls) other orgs — and
//! other steps of the same org — go on. A step that changed the org
//! meanwhile wins: the activation (or upgrade) is refused with 409
//! `conflict` and nothing of it is committed.

use crate::support::{
    Reply, Server, Upstream, admin_token, files_under, guest_package, guest_package_with,
};
use serde_json::json;

/// The `gate` package at `version`, granted to reach `upstream`.
fn gate_package(upstream: &Upstream, version: &str) -> Vec<u8> {
    let port = upstream.addr.port();
    guest_package_with("gate", |m| {
        m["version"] = json!(version);
        m["permissions"]["network"] = json!([format!("127.0.0.1:{port}")]);
    })
}

/// berth with org `acme` holding the `gate` plugin (installed, not
/// active), configured to wait on `upstream`.
fn serve_with_gate(upstream: &Upstream) -> Server {
    let server = Server::start_reaching(upstream);
    server.create_org("acme");
    assert_eq!(
        server
            .install("acme", &gate_package(upstream, "0.1.0"))
            .status,
        201
    );
    let url = format!("http://127.0.0.1:{}/wait", upstream.addr.port());
    let configured = server.put_json(
        "/api/v1/orgs/acme/plugins/gate/config",
        json!({ "config": { "wait-url": url } }),
    );
    assert_eq!(configured.status, 200, "{configured:?}");
    server
}

fn gate_state(server: &Server) -> serde_json::Value {
    server.get("/api/v1/orgs/acme/plugins/gate").json()
}

/// Runs `step` on a thread; once its guest is waiting on `upstream` (the
/// upstream's `arrivals`-th request), runs `meanwhile`, checks that the
/// step is still inside its guest, releases it and returns its answer.
fn while_in_guest(
    upstream: &Upstream,
    arrivals: usize,
    step: impl FnOnce() -> Reply + Send,
    meanwhile: impl FnOnce(),
) -> Reply {
    std::thread::scope(|scope| {
        let step = scope.spawn(step);
        assert_eq!(upstream.wait_for(arrivals).len(), arrivals);
        meanwhile();
        assert!(!step.is_finished(), "the step left its guest early");
        upstream.release();
        step.join().unwrap()
    })
}

fn assert_conflict(reply: &Reply) {
    assert_eq!(reply.status, 409, "{reply:?}");
    assert_eq!(reply.error_code(), "conflict", "{reply:?}");
    assert!(reply.error_message().contains("retry"), "{reply:?}");
}

#[test]
pub(crate) fn a_slow_on_activate_holds_up_no_other_org() {
    let upstream = Upstream::start_held();
    let server = serve_with_gate(&upstream);
    server.create_org("beta");

    let activate = || server.post("/api/v1/orgs/acme/plugins/gate/activate");
    let activated = while_in_guest(&upstream, 1, activate, || {
        // The guest is running: its on-activate asked the held upstream.
        assert!(server.logged("gate: on-activate waiting on"));
        // Another org creates a token, installs, activates and configures,
        // all while the activation is still inside its guest.
        let token = admin_token(&server, "beta");
        let beta = server.client(token["token"].as_str());
        assert_eq!(beta.install("beta", &guest_package("hello")).status, 201);
        let activated = beta.post("/api/v1/orgs/beta/plugins/hello/activate");
        assert_eq!(activated.status, 200, "{activated:?}");
        let configured = beta.put_json(
            "/api/v1/orgs/beta/plugins/hello/config",
            json!({ "config": { "greeting": "hi" } }),
        );
        assert_eq!(configured.status, 200, "{configured:?}");
        assert_eq!(server.get("/o/beta/p/hello/").status, 200);
    });
    assert_eq!(activated.status, 200, "{activated:?}");
    assert_eq!(gate_state(&server)["state"], "active");
}

#[test]
fn a_step_that_changes_the_org_meanwhile_refuses_the_activation_with_nothing_committed() {
    let upstream = Upstream::start_held();
    let server = serve_with_gate(&upstream);
    let audit = || server.get("/api/v1/orgs/acme/audit").json();

    // An activation waits in its guest while the org installs a plugin:
    // the install does not wait, and the activation is refused.
    let activate = || server.post("/api/v1/orgs/acme/plugins/gate/activate");
    let refused = while_in_guest(&upstream, 1, activate, || {
        assert_eq!(server.install("acme", &guest_package("hello")).status, 201);
    });
    assert_conflict(&refused);
    assert_eq!(gate_state(&server)["state"], "installed");
    let events = audit();
    let last = &events.as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["action"], &last["plugin"]),
        (&json!("install"), &json!("hello"))
    );

    // Retried, it goes through.
    let retried = server.post("/api/v1/orgs/acme/plugins/gate/activate");
    assert_eq!(retried.status, 200, "{retried:?}");

    // An upgrade of the active plugin runs its on-activate too: changed
    // meanwhile, it is refused, the old version keeps serving and the new
    // package's files are gone.
    let packages = server.data.join("packages");
    let stored_before = files_under(&packages);
    let audit_before = audit();
    upstream.hold();
    let upgrade = || server.install("acme", &gate_package(&upstream, "0.2.0"));
    let refused = while_in_guest(&upstream, 3, upgrade, || {
        let activated = server.post("/api/v1/orgs/acme/plugins/hello/activate");
        assert_eq!(activated.status, 200, "{activated:?}");
    });
    assert_conflict(&refused);
    let state = gate_state(&server);
    assert_eq!(
        (&state["version"], &state["state"]),
        (&json!("0.1.0"), &json!("active"))
    );
    assert_eq!(files_under(&packages), stored_before);
    let events = audit();
    assert_eq!(
        events.as_array().unwrap().len(),
        audit_before.as_array().unwrap().len() + 1,
        "only hello's activation: {events}"
    );
}
