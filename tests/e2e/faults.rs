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
    let client = server.client(None);
    let started = Instant::now();
    let spinner = std::thread::spawn(move || {
        let reply = client.get("/o/bad/p/faults/spin");
        (reply.status, reply.body, started.elapsed())
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
fn a_guest_hoarding_host_resources_is_stopped_at_the_table_limit() {
    let (server, _dir) = server();
    // Every `fields` lives in host memory; the instance's resource table
    // refuses one past its limit, which traps the guest long before its
    // CPU deadline would.
    let reply = server.get("/o/bad/p/faults/hoard");
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (500, "plugin_trap"),
        "{reply:?}"
    );
    assert!(
        reply.error_message().contains("resource table"),
        "{reply:?}"
    );
    assert_eq!(server.get("/o/good/p/hello/").status, 200);
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

#[test]
pub(crate) fn many_spinning_requests_of_one_org_leave_the_other_org_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[limits]\ncpu-deadline-ms = 200\nrequest-timeout-ms = 20000\n",
    );
    let server = Server::start(&["--no-demo", "--config", config.to_str().unwrap()]);
    server.create_org("bad");
    server.install_active("bad", &guest_package("faults"));
    server.create_org("good");
    server.install_active("good", &guest_package("hello"));
    let spinners: Vec<_> = (0..12)
        .map(|_| {
            let client = server.client(None);
            std::thread::spawn(move || {
                let reply = client.get("/o/bad/p/faults/spin");
                (reply.status, reply.body)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..20 {
        let ok = server.get("/o/good/p/hello/");
        assert_eq!(ok.status, 200, "{ok:?}");
    }
    for spinner in spinners {
        let (status, body) = spinner.join().unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("plugin_cpu_deadline"), "{body}");
    }
    // Each spinner was charged its whole deadline, from the same measure.
    let metrics = server.get("/metrics").body;
    let bad_cpu = metric_value(&metrics, r#"berth_org_cpu_seconds_total{org="bad"}"#);
    assert!(
        (2.4..4.0).contains(&bad_cpu),
        "bad used {bad_cpu} s\n{metrics}"
    );
    let good_cpu = metric_value(
        &metrics,
        r#"berth_plugin_cpu_seconds_total{org="good",plugin="hello"}"#,
    );
    assert!(good_cpu > 0.0 && good_cpu < 1.0, "good used {good_cpu} s");
}

#[test]
fn a_full_instance_pool_answers_503_and_recovers() {
    let server = Server::start(&["--no-demo", "--max-instances", "2"]);
    server.create_org("bad");
    server.install_active("bad", &guest_package("faults"));
    server.create_org("good");
    server.install_active("good", &guest_package("hello"));
    let sleepers: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{}/o/bad/p/faults/sleep/3000", server.base);
            std::thread::spawn(move || ureq::get(&url).call().map(|r| r.status().as_u16()))
        })
        .collect();
    let live = r#"berth_plugin_live_instances{org="bad",plugin="faults"} 2"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.get("/metrics").body.contains(live) {
        assert!(Instant::now() < deadline, "the sleepers never both ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let full = server.get("/o/good/p/hello/");
    assert_eq!(
        (full.status, full.error_code().as_str()),
        (503, "plugin_unavailable"),
        "{full:?}"
    );
    for sleeper in sleepers {
        assert_eq!(sleeper.join().unwrap().ok(), Some(200));
    }
    assert_eq!(server.get("/o/good/p/hello/").status, 200);
}

/// The value of the metric line starting with `series`.
fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[test]
fn a_streaming_guest_keeps_its_orgs_slot_after_the_client_leaves() {
    use std::io::{Read, Write};
    let server = Server::start(&["--no-demo"]);
    server.create_org("bad");
    server.install_active("bad", &guest_package("faults"));
    server.limit_to_one_in_flight("bad");
    let mut client = server.connect();
    write!(
        client,
        "GET /o/bad/p/faults/drip/20 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 256];
    let read = client.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    drop(client);
    std::thread::sleep(Duration::from_millis(300));
    // The guest streams on for about two seconds: its slot is still taken.
    let refused = server.get("/o/bad/p/faults/");
    assert_eq!(refused.error_code(), "too_many_requests", "{refused:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eventually_served(&server, "/o/bad/p/faults/");
}

/// Asserts that `path` answers 200 within ten seconds (polled).
fn assert_eventually_served(server: &Server, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.get(path);
        if reply.status == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "{reply:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_client_that_stops_reading_frees_its_orgs_slot_when_the_guest_ends() {
    use std::io::Write;
    let (server, _dir) = server();
    server.limit_to_one_in_flight("bad");
    let mut client = server.connect();
    // 20 MB: more than the socket buffers hold, so the guest blocks on its
    // writes until its 1.5 s timeout ends it; the client never reads.
    write!(
        client,
        "GET /o/bad/p/faults/big/20000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let refused = server.get("/o/bad/p/faults/");
    assert_eq!(refused.error_code(), "too_many_requests", "{refused:?}");
    // The guest ends (its timeout): its slot is free although the response is unread.
    assert_eventually_served(&server, "/o/bad/p/faults/");
    drop(client);
}
