//! Every plugin instance goes through its org's front door: `after-*` hook
//! deliveries hold the admission of the module request that fired them,
//! integration calls and activations are admitted like requests (429 when
//! the org is at its limit), and a connector's `describe` runs once per
//! activation, not once per action. Another org is measured alongside.

use crate::support::{Reply, Server, Upstream, guest_package, guest_package_with};
use serde_json::json;
use std::time::{Duration, Instant};

/// Sets `org`'s in-flight limit to `max_concurrent` (no rate limit).
fn limit_in_flight(server: &Server, org: &str, max_concurrent: u32) {
    let limits =
        json!({ "max-concurrent": max_concurrent, "requests-per-second": 0, "burst": 100 });
    let set = server.put_json(&format!("/api/v1/orgs/{org}/limits"), limits);
    assert_eq!(set.status, 200, "{set:?}");
}

fn assert_too_many_requests(reply: &Reply) {
    assert_eq!(reply.status, 429, "{reply:?}");
    assert_eq!(reply.error_code(), "too_many_requests", "{reply:?}");
    assert_eq!(reply.header("retry-after"), "1", "{reply:?}");
}

/// Sends `send` until it is no longer refused with 429 (within 20 s) and
/// returns that answer.
fn once_admitted(send: impl Fn() -> Reply) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = send();
        if reply.status != 429 || Instant::now() > deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the series `name` with `labels` on `/metrics` (0 if absent).
fn metric(server: &Server, name: &str, labels: &[(&str, &str)]) -> u64 {
    let metrics = server.get("/metrics").body;
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    metrics
        .lines()
        .find(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l.as_str())))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// 429s counted for `org`.
fn rejected(server: &Server, org: &str) -> u64 {
    metric(server, "berth_org_rejected_requests_total", &[("org", org)])
}

/// berth reaching `upstream`, with org `acme` running the `webhook`
/// connector, granted the upstream's port.
fn serve_webhook(upstream: &Upstream) -> Server {
    let server = Server::start_reaching(upstream);
    server.create_org("acme");
    let port = upstream.addr.port();
    let webhook = guest_package_with("webhook", |m| {
        m["permissions"]["network"] = json!([format!("127.0.0.1:{port}")]);
    });
    server.install_active("acme", &webhook);
    server
}

#[test]
fn slow_after_hooks_hold_their_orgs_admission_and_spare_other_orgs() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("contact-rules"));
    }
    limit_in_flight(&server, "acme", 2);

    // A flood of writes whose after-create hook sleeps: the response does
    // not wait for it, but its admission does, so the org's two slots stay
    // taken and the rest of the flood is refused.
    let flood = 8;
    let barrier = std::sync::Barrier::new(flood);
    let statuses: Vec<Reply> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..flood)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let contact = json!({ "name": "after sleep 5000" });
                    server.post_json("/o/acme/api/contacts", contact)
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let created = statuses.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 2, "{statuses:?}");
    for refused in statuses.iter().filter(|r| r.status != 201) {
        assert_too_many_requests(refused);
    }

    // Meanwhile the other org is served in full, and this one still refused.
    for n in 0..5 {
        let other = server.post_json("/o/beta/api/contacts", json!({ "name": format!("B{n}") }));
        assert_eq!(other.status, 201, "{other:?}");
    }
    assert_too_many_requests(&server.post_json("/o/acme/api/contacts", json!({ "name": "Ada" })));
    assert_eq!(rejected(&server, "acme"), 7);
    assert_eq!(rejected(&server, "beta"), 0);

    // Once the hooks have finished, the org is admitted again.
    let later =
        once_admitted(|| server.post_json("/o/acme/api/contacts", json!({ "name": "Ada" })));
    assert_eq!(later.status, 201, "{later:?}");
    // The second sleeping hook may still hold the other slot: the listing
    // waits its turn too.
    let listed = once_admitted(|| server.get("/o/acme/api/contacts"));
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json().as_array().unwrap().len(), 3, "{listed:?}");
}

#[test]
fn integration_calls_and_activations_wait_their_turn_at_the_front_door() {
    let upstream = Upstream::start_held();
    let server = serve_webhook(&upstream);
    let port = upstream.addr.port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let configured = server.put_json(
        "/api/v1/orgs/acme/plugins/webhook/config",
        json!({ "config": { "url": url }, "secrets": { "api-key": "sk-front-door-0001" } }),
    );
    assert_eq!(configured.status, 200, "{configured:?}");
    for package in [
        guest_package("contact-rules"),
        guest_package_with("webhook", |m| m["name"] = json!("webhook-b")),
    ] {
        assert_eq!(server.install("acme", &package).status, 201);
    }
    limit_in_flight(&server, "acme", 1);

    // A new contact's after-create event is posted to the held upstream:
    // its delivery keeps the org's only slot.
    let created = server.post_json("/o/acme/api/contacts", json!({ "name": "Ada" }));
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(upstream.wait_for(1).len(), 1);

    let send = || {
        server.post_json(
            "/api/v1/orgs/acme/integrations/webhook/actions/send",
            json!({ "message": "hi" }),
        )
    };
    assert_too_many_requests(&send());
    // Activating a plugin runs its on-activate: refused too, nothing changes.
    let activation = server.post("/api/v1/orgs/acme/plugins/contact-rules/activate");
    assert_too_many_requests(&activation);
    let state = server.get("/api/v1/orgs/acme/plugins/contact-rules").json();
    assert_eq!(state["state"], "installed");
    // Configuring an inactive connector asks its describe: refused too.
    let configured = server.put_json(
        "/api/v1/orgs/acme/plugins/webhook-b/config",
        json!({ "config": { "url": "https://example.com/" } }),
    );
    assert_too_many_requests(&configured);
    // The listing runs no instance: the connector's description is kept.
    let listed = server.get("/api/v1/orgs/acme/integrations");
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.json()[0]["name"], "Webhook");

    // Once the delivery ends, the org is admitted again.
    upstream.release();
    let sent = once_admitted(send);
    assert_eq!(sent.status, 200, "{sent:?}");
    assert_eq!(sent.json(), json!({ "output": { "status": 200 } }));
    let activated = server.post("/api/v1/orgs/acme/plugins/contact-rules/activate");
    assert_eq!(activated.status, 200, "{activated:?}");
}

#[test]
fn a_connector_describes_itself_once_per_activation() {
    let upstream = Upstream::start();
    let server = serve_webhook(&upstream);
    let port = upstream.addr.port();
    let instances = || {
        let name = "berth_plugin_instantiation_duration_seconds_count";
        metric(&server, name, &[("org", "acme"), ("plugin", "webhook")])
    };
    let send = || {
        let sent = server.post_json(
            "/api/v1/orgs/acme/integrations/webhook/actions/send",
            json!({ "message": "hi" }),
        );
        assert_eq!(sent.status, 200, "{sent:?}");
    };
    let configure = || {
        let url = format!("http://127.0.0.1:{port}/hook");
        let body = json!({ "config": { "url": url }, "secrets": { "api-key": "sk-cached-00001" } });
        let configured = server.put_json("/api/v1/orgs/acme/plugins/webhook/config", body);
        assert_eq!(configured.status, 200, "{configured:?}");
    };

    // The first call that needs the description runs `describe` (one
    // instance); listing, configuring and running actions reuse it.
    let activated = instances();
    configure();
    assert_eq!(instances(), activated + 1);
    send();
    send();
    configure();
    assert_eq!(server.get("/api/v1/orgs/acme/integrations").status, 200);
    assert_eq!(instances(), activated + 3, "one describe, two invokes");

    // A new activation describes anew, once.
    for step in ["deactivate", "activate"] {
        let reply = server.post(&format!("/api/v1/orgs/acme/plugins/webhook/{step}"));
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    let reactivated = instances();
    send();
    send();
    assert_eq!(instances(), reactivated + 3, "one describe, two invokes");
    assert_eq!(upstream.requests().len(), 4);
}

#[test]
fn an_activation_refused_at_start_up_is_logged_and_berth_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(dir.path(), &["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
        server.install_active(org, &guest_package("contact-rules"));
    }
    // An org admitting nothing cannot run its plugins' on-activate when
    // berth starts again: that is logged, and every other org is served.
    limit_in_flight(&server, "acme", 0);
    server.terminate();
    let server = Server::start_in(dir.path(), &["--no-demo"]);
    assert!(
        server.logged("starting plugin `contact-rules` was refused"),
        "{}",
        server.logs()
    );
    let modules = server.get("/api/v1/orgs/acme/modules").json();
    assert_eq!(modules.as_array().unwrap().len(), 2, "only the built-ins");
    let vetoed = server.post_json("/o/beta/api/contacts", json!({ "name": "Spam" }));
    assert_eq!(vetoed.status, 422, "{vetoed:?}");
}
