//! A plugin that spins, exhausts memory, recurses or blocks fails only its
//! own request; the host and other tenants keep serving.

use crate::support::{Server, config_file, guest_package};
use std::time::{Duration, Instant};

/// A server with tight limits, org `bad` running `faults` and org `good` running `hello`.
fn server() -> (Server, tempfile::TempDir) {
    server_with_limits("")
}

/// [`server`] with `more`, further `key = value` lines of the `[limits]` table.
pub fn server_with_limits(more: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        &format!(
            "[limits]\ncpu-deadline-ms = 300\nrequest-timeout-ms = 1500\nmax-memory-bytes = 33554432\n{more}"
        ),
    );
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("bad");
    server.install_active("bad", &guest_package("faults"));
    server.create_org("good");
    server.install_active("good", &guest_package("hello"));
    (server, dir)
}

#[test]
fn a_spinning_guest_is_interrupted_while_other_orgs_keep_serving() {
    let (server, _dir) = server();
    let url = format!("{}/o/bad/p/faults/spin", server.base);
    let started = Instant::now();
    let spinner = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent.get(&url).call().expect("spin request");
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
            started.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..5 {
        let ok = server.get("/o/good/p/hello/");
        assert_eq!(ok.status, 200, "{ok:?}");
    }
    let (status, body, elapsed) = spinner.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("plugin_cpu_deadline"), "{body}");
    assert!(
        elapsed < Duration::from_secs(3),
        "interrupted only after {elapsed:?}"
    );
    assert_eq!(server.get("/o/bad/p/faults/fine").body, "ok");
}

#[test]
fn a_guest_exhausting_memory_fails_and_host_memory_stays_bounded() {
    let (server, _dir) = server();
    for _ in 0..3 {
        let reply = server.get("/o/bad/p/faults/grow");
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (500, "plugin_trap"),
            "{reply:?}"
        );
    }
    assert_eq!(server.get("/o/good/p/hello/").status, 200);
    let rss = server.rss_bytes();
    assert!(rss < 512 << 20, "host RSS grew to {} MiB", rss >> 20);
}

#[test]
fn unbounded_recursion_traps_and_the_process_survives() {
    let (server, _dir) = server();
    let reply = server.get("/o/bad/p/faults/recurse");
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (500, "plugin_trap"),
        "{reply:?}"
    );
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.get("/o/bad/p/faults/fine").body, "ok");
}

#[test]
fn a_guest_blocked_past_the_wall_clock_limit_is_stopped() {
    let (server, _dir) = server();
    let started = Instant::now();
    let reply = server.get("/o/bad/p/faults/sleep/10000");
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (504, "plugin_timeout"),
        "{reply:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // A short sleep within the limit is fine.
    assert_eq!(server.get("/o/bad/p/faults/sleep/10").body, "ok");
}

#[test]
fn metrics_count_requests_failures_and_instantiations_per_plugin() {
    let (server, _dir) = server();
    for _ in 0..3 {
        assert_eq!(server.get("/o/good/p/hello/").status, 200);
    }
    assert_eq!(server.get("/o/bad/p/faults/recurse").status, 500);
    assert_eq!(server.get("/o/bad/p/faults/spin").status, 503);
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("application/openmetrics-text"),
        "{metrics:?}"
    );
    for line in [
        r#"berth_plugin_requests_total{org="good",plugin="hello",kind="2xx"} 3"#,
        r#"berth_plugin_requests_total{org="bad",plugin="faults",kind="5xx"} 2"#,
        r#"berth_plugin_failures_total{org="bad",plugin="faults",kind="trap"} 1"#,
        r#"berth_plugin_failures_total{org="bad",plugin="faults",kind="cpu_deadline"} 1"#,
        r#"berth_plugin_instantiation_duration_seconds_count{org="good",plugin="hello"} 3"#,
        r#"berth_plugin_live_instances{org="good",plugin="hello"} 0"#,
    ] {
        assert!(
            metrics.body.contains(line),
            "missing {line} in\n{}",
            metrics.body
        );
    }
}
