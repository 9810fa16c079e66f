//! Fairness between tenants: an org over its concurrency or rate limit gets
//! 429 with `Retry-After`; other orgs keep being served. Limits are
//! overridable per org through the management API and survive restarts.

use crate::support::{Server, guest_package};

fn put_limits(server: &Server, org: &str, limits: serde_json::Value) -> crate::support::Reply {
    server.put_json(&format!("/api/v1/orgs/{org}/limits"), limits)
}

#[test]
fn a_flooding_org_gets_429s_and_another_org_is_still_served() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("flood");
    server.install_active("flood", &guest_package("faults"));
    server.create_org("calm");
    server.install_active("calm", &guest_package("hello"));
    let set = put_limits(
        &server,
        "flood",
        serde_json::json!({ "max-concurrent": 2, "requests-per-second": 0, "burst": 1 }),
    );
    assert_eq!(set.status, 200, "{set:?}");

    let flooders: Vec<_> = (0..6)
        .map(|_| {
            let client = server.client(None);
            std::thread::spawn(move || {
                let reply = client.get("/o/flood/p/faults/sleep/3000");
                let retry_after =
                    (reply.headers.get("retry-after")).map(|v| v.to_str().unwrap().to_owned());
                (reply.status, retry_after)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    for _ in 0..5 {
        assert_eq!(server.get("/o/calm/p/hello/").status, 200);
    }
    let results: Vec<_> = flooders.into_iter().map(|t| t.join().unwrap()).collect();
    let served = results.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == 429)
        .collect();
    assert_eq!(served, 2, "{results:?}");
    assert_eq!(refused.len(), 4, "{results:?}");
    assert!(
        refused
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "{results:?}"
    );
}

#[test]
fn the_request_rate_is_limited_per_org_and_overrides_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(data.path(), &["--no-demo"]);
    server.create_org("acme");
    server.install_active("acme", &guest_package("hello"));
    // Fields left out (the key-value quotas) keep the defaults.
    let defaults = server.get("/api/v1/orgs/acme/limits").json();
    let traffic = serde_json::json!({
        "max-concurrent": 10, "requests-per-second": 1, "burst": 3, "cpu-weight": 3
    });
    let mut limits = defaults.clone();
    for (field, value) in traffic.as_object().unwrap() {
        limits[field] = value.clone();
    }
    assert_eq!(put_limits(&server, "acme", traffic).json(), limits);
    assert_eq!(limits["kv-max-keys"], 100_000);

    let statuses = |server: &Server| -> Vec<u16> {
        (0..5)
            .map(|_| server.get("/o/acme/p/hello/").status)
            .collect()
    };
    assert_eq!(statuses(&server), [200, 200, 200, 429, 429]);
    let refused = server.get("/o/acme/p/hello/");
    assert_eq!(refused.error_code(), "too_many_requests");

    assert!(server.terminate().success());
    let server = Server::start_in(data.path(), &["--no-demo"]);
    assert_eq!(server.get("/api/v1/orgs/acme/limits").json(), limits);
    assert_eq!(statuses(&server)[3..], [429, 429]);

    // A new override replaces the old one: what it leaves out is the default again.
    let replaced = put_limits(&server, "acme", serde_json::json!({ "burst": 7 })).json();
    let mut expected = defaults.clone();
    expected["burst"] = 7.into();
    assert_eq!(replaced, expected);

    // Clearing the override restores the defaults (no rate limit).
    assert_eq!(server.delete("/api/v1/orgs/acme/limits").json(), defaults);
    assert_eq!(defaults["requests-per-second"], 0);
    assert_eq!(defaults["cpu-weight"], 1);
    assert_eq!(statuses(&server), [200; 5]);
}

#[test]
fn malformed_limits_are_refused_and_change_nothing() {
    let server = Server::start(&["--no-demo"]);
    server.create_org("acme");
    let before = server.get("/api/v1/orgs/acme/limits").json();
    for bad in [
        serde_json::json!({ "max-concurrent": -1, "requests-per-second": 0, "burst": 1 }),
        serde_json::json!({ "kv-max-bytes": "lots" }),
        serde_json::json!({ "max-concurrent": 1, "requests-per-second": 0, "burst": 1, "x": 1 }),
        serde_json::json!({ "max-concurrent": 1, "requests-per-second": 0, "burst": 1, "cpu-weight": 0 }),
        serde_json::json!(["max-concurrent", 1]),
    ] {
        let reply = put_limits(&server, "acme", bad);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_json")
        );
    }
    assert_eq!(server.get("/api/v1/orgs/acme/limits").json(), before);
    let missing = put_limits(&server, "ghost", before.clone());
    assert_eq!(missing.error_code(), "org_not_found");
}
