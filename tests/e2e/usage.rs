//! `GET …/plugins/{name}/usage`: a plugin's requests, errors, p99 latency
//! and guest CPU per minute over the last hour, counted as its requests are
//! answered, kept across deactivation, forgotten at uninstall, and shown
//! only to its own org's admins.

use crate::support::{Server, admin_secret, guest_package};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until the current minute has at least 10 seconds left, so the
/// requests that follow fall in one minute; returns that minute's start.
fn a_fresh_minute() -> u64 {
    while unix_seconds() % 60 >= 50 {
        std::thread::sleep(Duration::from_millis(200));
    }
    unix_seconds() / 60 * 60
}

/// `acme`'s plugin `name`'s usage, checked for its shape; returns the minutes.
fn usage(server: &Server, name: &str) -> Vec<Value> {
    let reply = server.get(&format!("/api/v1/orgs/acme/plugins/{name}/usage"));
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(
        (&body["plugin"], &body["minute_seconds"]),
        (&name.into(), &60.into())
    );
    let minutes = body["minutes"].as_array().unwrap().clone();
    assert_eq!(minutes.len(), 60);
    let starts: Vec<u64> = minutes
        .iter()
        .map(|m| m["start"].as_u64().unwrap())
        .collect();
    assert!(starts.iter().all(|start| start % 60 == 0), "{starts:?}");
    assert!(starts.windows(2).all(|w| w[1] == w[0] + 60), "{starts:?}");
    minutes
}

/// The upper bound of a latency bucket: 0.05 ms · √2^k.
fn is_bucket_bound(ms: f64) -> bool {
    let k = (2.0 * (ms / 0.05).log2()).round();
    let bound = 0.05 * 2f64.powf(k / 2.0);
    k >= 0.0 && ((bound - ms) / bound).abs() < 1e-4
}

#[test]
fn usage_counts_requests_errors_latency_and_cpu_per_minute_for_its_org_only() {
    let server = Server::start(&["--no-demo"]);
    for org in ["acme", "beta"] {
        server.create_org(org);
    }
    server.install_active("acme", &guest_package("hello"));
    server.install_active("acme", &guest_package("faults"));
    let before = usage(&server, "hello");
    assert!(
        before
            .iter()
            .all(|m| m["requests"] == 0 && m["errors"] == 0 && m["p99_ms"].is_null()),
        "{before:?}"
    );

    let minute = a_fresh_minute();
    for _ in 0..5 {
        assert_eq!(server.get("/o/acme/p/hello/").status, 200);
    }
    assert_eq!(server.get("/o/acme/p/hello/nothing-here").status, 404);
    assert_eq!(server.get("/o/acme/p/faults/fine").status, 200);
    assert_eq!(server.get("/o/acme/p/faults/status/503").status, 503);
    let trapped = server.get("/o/acme/p/faults/recurse");
    assert_eq!(
        (trapped.status, trapped.error_code().as_str()),
        (500, "plugin_trap")
    );

    let hello = usage(&server, "hello");
    let now = &hello[59];
    assert_eq!(now["start"], minute, "{now}");
    assert_eq!(
        (&now["requests"], &now["errors"]),
        (&6.into(), &0.into()),
        "{now}"
    );
    assert!(now["cpu_ms"].as_f64().unwrap() > 0.0, "{now}");
    let p99 = now["p99_ms"].as_f64().unwrap();
    assert!(is_bucket_bound(p99), "{now}");
    assert!(
        hello[..59]
            .iter()
            .all(|m| m["requests"] == 0 && m["p99_ms"].is_null() && m["cpu_ms"] == 0.0),
        "{hello:?}"
    );
    let faults = usage(&server, "faults");
    let now = &faults[59];
    assert_eq!(
        (&now["requests"], &now["errors"]),
        (&3.into(), &2.into()),
        "{now}"
    );
    assert!(now["cpu_ms"].as_f64().unwrap() > 0.0, "{now}");
    assert!(is_bucket_bound(now["p99_ms"].as_f64().unwrap()), "{now}");

    // Kept while the plugin is deactivated and activated again.
    let deactivated = server.post("/api/v1/orgs/acme/plugins/hello/deactivate");
    assert_eq!(deactivated.status, 200);
    assert_eq!(usage(&server, "hello")[59]["requests"], 6);
    server.post("/api/v1/orgs/acme/plugins/hello/activate");
    assert_eq!(server.get("/o/acme/p/hello/").status, 200);
    let total: u64 = (usage(&server, "hello").iter())
        .map(|m| m["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 7);

    // Only the org's own admins see it; an unknown plugin is not found.
    let other = admin_secret(&server, "beta");
    let refused = server
        .client(Some(&other))
        .get("/api/v1/orgs/acme/plugins/hello/usage");
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (404, "org_not_found")
    );
    let own = admin_secret(&server, "acme");
    let shown = server
        .client(Some(&own))
        .get("/api/v1/orgs/acme/plugins/hello/usage");
    assert_eq!(shown.status, 200, "{shown:?}");
    let unknown = server.get("/api/v1/orgs/acme/plugins/ghost/usage");
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (404, "plugin_not_found")
    );

    // Forgotten at uninstall: installed again, it starts from zero.
    let removed = server.delete("/api/v1/orgs/acme/plugins/hello?force");
    assert_eq!(removed.status, 200, "{removed:?}");
    server.install_active("acme", &guest_package("hello"));
    assert!(
        usage(&server, "hello").iter().all(|m| m["requests"] == 0),
        "usage outlived the uninstall"
    );
}
