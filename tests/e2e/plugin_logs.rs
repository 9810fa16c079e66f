//! `berth:plugin/log` under abuse: a plugin flooding its log loses the
//! lines over its rate (counted, and summarized about once a second) while
//! another org's plugin keeps being served and logged; a plugin cannot
//! start a log line of its own.

use crate::faults::server_with_limits;
use crate::support::Server;
use std::time::{Duration, Instant};

/// The log rate the tests give each plugin, lines per second…
const LINES_PER_SECOND: u64 = 20;
/// …and its burst.
const BURST: u64 = 50;

/// A server with a tight log rate: org `bad` runs `faults`, org `good` runs `hello`.
fn server() -> (Server, tempfile::TempDir) {
    server_with_limits(&format!(
        "log-lines-per-second-per-plugin = {LINES_PER_SECOND}\nlog-burst-per-plugin = {BURST}\n"
    ))
}

/// The lines of the server's log that contain every one of `parts`.
fn log_lines(server: &Server, parts: &[&str]) -> Vec<String> {
    server
        .logs()
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}

/// The `N` of a summary line (`… dropped N log lines …`).
fn dropped_in(summary: &str) -> u64 {
    let count = summary.split("dropped ").nth(1).expect("a summary");
    count
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary}"))
}

/// `berth_plugin_log_lines_dropped_total` of `org`'s `plugin` (0 if absent).
fn dropped_metric(server: &Server, org: &str, plugin: &str) -> u64 {
    let series =
        format!("berth_plugin_log_lines_dropped_total{{org=\"{org}\",plugin=\"{plugin}\"}} ");
    server
        .get("/metrics")
        .body
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flooding_plugin_loses_lines_over_its_rate_with_a_summary_and_a_neighbour_is_unaffected() {
    let (server, _dir) = server();
    let started = Instant::now();
    let flood_for = Duration::from_millis(2500);
    let lines_per_request = 500;
    let url = format!("{}/o/bad/p/faults/log/{lines_per_request}", server.base);
    let flooder = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut requests = 0;
        while started.elapsed() < flood_for {
            let status = agent.get(&url).call().expect("flood").status();
            assert_eq!(status, 200);
            requests += 1;
        }
        requests
    });
    let good_requests = 20;
    for _ in 0..good_requests {
        let reply = server.get("/o/good/p/hello/");
        assert_eq!(reply.status, 200, "{reply:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let flood_total = flooder.join().unwrap() * lines_per_request;
    let flooded_for = started.elapsed();

    // Every dropped line is counted, and reported in a summary about once a
    // second while the flood lasts, the last within a second of its end.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (written, dropped, summaries) = loop {
        let written = log_lines(&server, &["flood line", "org=\"bad\""]).len() as u64;
        let summaries = log_lines(&server, &["dropped", "org=\"bad\"", "plugin=\"faults\""]);
        let summarized: u64 = summaries.iter().map(|line| dropped_in(line)).sum();
        if written + summarized == flood_total || Instant::now() > deadline {
            break (written, summarized, summaries);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    assert_eq!(written + dropped, flood_total, "{summaries:#?}");
    assert_eq!(dropped_metric(&server, "bad", "faults"), dropped);
    let allowed = BURST + LINES_PER_SECOND * (flooded_for.as_secs() + 1);
    assert!(
        written <= allowed,
        "{written} lines written in {flooded_for:?}, more than {allowed}"
    );
    assert!(
        (2..=elapsed.as_secs() + 1).contains(&(summaries.len() as u64)),
        "{} summaries in {elapsed:?}: {summaries:#?}",
        summaries.len()
    );

    // The neighbour's requests were all served and all logged: its budget is its own.
    let good = log_lines(&server, &["plugin: hello:", "org=\"good\""]);
    assert_eq!(good.len(), good_requests, "{good:#?}");
    assert_eq!(dropped_metric(&server, "good", "hello"), 0);
}

#[test]
fn a_plugin_cannot_start_a_log_line_of_its_own() {
    let (server, _dir) = server();
    assert_eq!(server.get("/o/bad/p/faults/log-forged").body, "ok");
    let escaped =
        r#"all quiet\n INFO plugin: transfer approved org="victim" plugin="bank"\r\u{1b}[2K"#;
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        if let Some(line) = log_lines(&server, &[escaped]).pop() {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no escaped line in\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.ends_with(r#"org="bad" plugin="faults""#), "{line}");
    let logs = server.logs();
    assert!(
        !logs
            .lines()
            .any(|l| l.contains("transfer approved") && !l.contains(escaped)),
        "{logs}"
    );
    assert!(!logs.contains('\u{1b}'), "{logs}");
}

#[test]
fn by_default_only_a_plugins_warnings_and_errors_reach_the_operators_log() {
    let quiet = Server::start_with_log_filter("info", &[]);
    let loud = Server::start_with_log_filter("info,plugin=info", &[]);
    for server in [&quiet, &loud] {
        assert_eq!(server.get("/o/demo/p/hello/").status, 200);
    }
    // hello logs each request at info.
    let logged =
        |server: &Server| !log_lines(server, &["plugin: hello:", "org=\"demo\""]).is_empty();
    assert!(!logged(&quiet), "{}", quiet.logs());
    assert!(logged(&loud), "{}", loud.logs());
    // berth's own info lines are still there.
    assert!(quiet.logs().contains("INFO"), "{}", quiet.logs());
}
