//! `berth:plugin/log`: an org admin reads each plugin's recent lines (a
//! page, or followed as server-sent events) and never another org's; the
//! ring keeps at most its size. Under abuse: a plugin flooding its log
//! loses the lines over its rate (counted, and summarized about once a
//! second, in the operator's log and as a note in the ring) while another
//! org's plugin keeps being served and logged; a plugin cannot start a log
//! line of its own.

use crate::faults::server_with_limits;
use crate::support::{Client, Server, admin_secret, admin_token, content_length};
use std::io::{BufRead, BufReader, Write};
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
    let path = format!("/o/bad/p/faults/log/{lines_per_request}");
    let client = server.client(None);
    let flooder = std::thread::spawn(move || {
        let mut requests = 0;
        while started.elapsed() < flood_for {
            assert_eq!(client.get(&path).status, 200);
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
        let neighbour = log_lines(&server, &["plugin: hello:", "org=\"good\""]).len();
        let all_in = written + summarized == flood_total && neighbour == good_requests;
        if all_in || Instant::now() > deadline {
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

    // The org's admin reads the same summaries as notes in the plugin's ring.
    let ring = server
        .get("/api/v1/orgs/bad/plugins/faults/logs?limit=1000")
        .json();
    let notes: Vec<&serde_json::Value> = (ring["lines"].as_array().unwrap().iter())
        .filter(|line| line["kind"] == "note")
        .collect();
    assert_eq!(notes.len(), summaries.len(), "{notes:#?}");
    let noted: u64 = notes
        .iter()
        .map(|note| dropped_in(note["message"].as_str().unwrap()))
        .sum();
    assert_eq!(noted, dropped);
    assert!(notes.iter().all(|note| note["level"] == "warn"));

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
    let mut quiet = Server::start_with_log_filter("info", &[]);
    let mut loud = Server::start_with_log_filter("info,plugin=info", &[]);
    for server in [&quiet, &loud] {
        assert_eq!(server.get("/o/demo/p/hello/").status, 200);
    }
    // hello logs each request at info.
    let hello_line = |logs: &str| {
        logs.lines()
            .any(|line| line.contains("plugin: hello:") && line.contains("org=\"demo\""))
    };
    let (quiet, loud) = (quiet.logs_at_exit(), loud.logs_at_exit());
    assert!(!hello_line(&quiet), "{quiet}");
    assert!(hello_line(&loud), "{loud}");
    // berth's own info lines are still there.
    assert!(quiet.contains("INFO"), "{quiet}");
}

/// The logs API path of `org`'s `plugin`, with `query`.
fn logs_path(org: &str, plugin: &str, query: &str) -> String {
    format!("/api/v1/orgs/{org}/plugins/{plugin}/logs{query}")
}

/// The messages of a logs page.
fn messages(page: &serde_json::Value) -> Vec<String> {
    (page["lines"].as_array().expect("lines").iter())
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect()
}

/// `org`'s admin client.
fn admin(server: &Server, org: &str) -> Client {
    server.client(Some(&admin_secret(server, org)))
}

#[test]
fn an_org_admin_reads_its_plugins_recent_lines_within_the_ring_and_never_another_orgs() {
    let (server, _dir) = server_with_limits("log-ring-lines-per-plugin = 5\n");
    let good = admin(&server, "good");
    for path in ["one", "two", "three"] {
        assert_eq!(
            server.get(&format!("/o/good/p/hello/echo/{path}")).status,
            200
        );
    }
    let page = good.get(&logs_path("good", "hello", "")).json();
    assert_eq!(
        messages(&page),
        [
            "hello: Method::Get /echo/one",
            "hello: Method::Get /echo/two",
            "hello: Method::Get /echo/three"
        ]
    );
    let first = &page["lines"][0];
    assert_eq!(
        (first["level"].as_str(), first["kind"].as_str()),
        (Some("info"), Some("line"))
    );
    assert_eq!(
        (first["seq"].as_u64(), page["next"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(first["time_ms"].as_u64().unwrap() > 1_700_000_000_000);
    // Paging on from a line, a limited number at a time.
    let next = good
        .get(&logs_path("good", "hello", "?after=1&limit=1"))
        .json();
    assert_eq!(messages(&next), ["hello: Method::Get /echo/two"]);
    assert_eq!(
        (next["next"].as_u64(), next["missed"].as_u64()),
        (Some(2), Some(0))
    );

    // The ring keeps its last five lines; a reader from the start learns
    // how many it missed.
    assert_eq!(server.get("/o/bad/p/faults/log/8").status, 200);
    let all = server.get(&logs_path("bad", "faults", "?after=0")).json();
    let kept: Vec<String> = (3..8).map(|i| format!("flood line {i}")).collect();
    assert_eq!(messages(&all), kept);
    assert_eq!(all["missed"].as_u64(), Some(3));

    // Another org's lines are not there, and its logs are not the admin's to read.
    assert!(!messages(&page).iter().any(|m| m.contains("flood")));
    let refused = good.get(&logs_path("bad", "faults", ""));
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (404, "org_not_found")
    );
    let missing = good.get(&logs_path("good", "nothing", ""));
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "plugin_not_found")
    );
    let bad_query = good.get(&logs_path("good", "hello", "?after=soon"));
    assert_eq!(
        (bad_query.status, bad_query.error_code().as_str()),
        (400, "invalid_query")
    );

    // Uninstalling forgets the lines: a reinstalled plugin starts afresh.
    let uninstalled = server.delete("/api/v1/orgs/bad/plugins/faults?force");
    assert_eq!(uninstalled.status, 200, "{uninstalled:?}");
    server.install_active("bad", &crate::support::guest_package("faults"));
    let fresh = server.get(&logs_path("bad", "faults", "")).json();
    assert_eq!(messages(&fresh), Vec::<String>::new());
}

/// A followed log: the server-sent event stream of one plugin's lines.
struct Follow {
    reader: BufReader<std::net::TcpStream>,
}

/// One server-sent event.
#[derive(Debug, PartialEq, Eq)]
struct Event {
    id: Option<u64>,
    event: String,
    data: serde_json::Value,
}

impl Follow {
    /// Follows `path` (with `?follow`) as `token`, resuming after `last`.
    fn start(server: &Server, path: &str, token: &str, last: Option<u64>) -> Self {
        Self::open(server, path, token, last).unwrap_or_else(|refusal| panic!("{refusal}"))
    }

    /// Follows `path` as [`Follow::start`] does; when the server answers
    /// anything but a stream, that answer (head and body) instead.
    fn open(server: &Server, path: &str, token: &str, last: Option<u64>) -> Result<Self, String> {
        let mut stream = server.connect();
        let resume = last.map_or(String::new(), |id| format!("last-event-id: {id}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n{resume}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        while !head.ends_with("\r\n\r\n") {
            assert_ne!(reader.read_line(&mut head).unwrap(), 0, "{head}");
        }
        if !head.starts_with("HTTP/1.1 200") {
            let mut body = vec![0; content_length(&head)];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            return Err(head + &String::from_utf8_lossy(&body));
        }
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        Ok(Self { reader })
    }

    /// The next event (chunked framing lines and comments skipped).
    fn next(&mut self) -> Event {
        let (mut id, mut event, mut data) = (None, String::new(), None);
        loop {
            let mut line = String::new();
            assert_ne!(
                self.reader.read_line(&mut line).expect("an event in time"),
                0
            );
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(value) = line.strip_prefix("id: ") {
                id = value.parse().ok();
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = value.to_owned();
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).expect("JSON data"));
            } else if line.is_empty()
                && let Some(data) = data.take()
            {
                return Event { id, event, data };
            }
        }
    }
}

#[test]
fn following_a_plugins_log_streams_each_new_line_and_resumes_after_the_last_event() {
    let (server, _dir) = server_with_limits("");
    let token = admin_secret(&server, "good");
    for path in ["a", "b"] {
        server.get(&format!("/o/good/p/hello/echo/{path}"));
    }
    let path = logs_path("good", "hello", "?follow&limit=1");
    let mut follow = Follow::start(&server, &path, &token, None);
    // The backlog: the newest line.
    let backlog = follow.next();
    assert_eq!((backlog.id, backlog.event.as_str()), (Some(2), "line"));
    assert_eq!(backlog.data["message"], "hello: Method::Get /echo/b");
    // Then each new line as it is written.
    for (n, path) in [(3, "c"), (4, "d")] {
        server.get(&format!("/o/good/p/hello/echo/{path}"));
        let event = follow.next();
        assert_eq!(event.id, Some(n));
        assert_eq!(
            event.data["message"],
            format!("hello: Method::Get /echo/{path}")
        );
    }
    drop(follow);
    // A follower that reconnects with the last id it saw gets what it missed.
    for path in ["e", "f"] {
        server.get(&format!("/o/good/p/hello/echo/{path}"));
    }
    let path = logs_path("good", "hello", "?follow");
    let mut resumed = Follow::start(&server, &path, &token, Some(4));
    let events = [resumed.next(), resumed.next()];
    assert_eq!(events.map(|e| e.id), [Some(5), Some(6)]);
    // Another org's admin cannot follow it.
    let other = admin_secret(&server, "bad");
    let refused = server.client(Some(&other)).get(&path);
    assert_eq!(refused.status, 404);
    // Revoking a follower's token ends its stream before the next line.
    let revocable = admin_token(&server, "good");
    let secret = revocable["token"].as_str().unwrap();
    let mut revoked = Follow::start(&server, &path, secret, Some(6));
    let id = revocable["id"].as_str().unwrap();
    let revoke = server.delete(&format!("/api/v1/orgs/good/tokens/{id}"));
    assert_eq!(revoke.status, 200, "{revoke:?}");
    server.get("/o/good/p/hello/echo/g");
    let end = revoked.next();
    assert_eq!(
        (end.event.as_str(), &end.data),
        ("end", &serde_json::json!({"reason": "revoked"}))
    );
    assert_eq!(resumed.next().id, Some(7), "the other follower goes on");
    // Uninstalling the plugin ends its followers' streams.
    let uninstalled = server.delete("/api/v1/orgs/good/plugins/hello?force");
    assert_eq!(uninstalled.status, 200, "{uninstalled:?}");
    let end = resumed.next();
    assert_eq!(
        (end.event.as_str(), &end.data),
        ("end", &serde_json::json!({"reason": "uninstalled"}))
    );
}

#[test]
fn an_org_follows_at_most_its_limit_of_logs_and_a_follower_that_leaves_frees_its_slot() {
    let (server, _dir) = server_with_limits("log-followers-per-org = 2\n");
    let (good, bad) = (admin_secret(&server, "good"), admin_secret(&server, "bad"));
    let path = logs_path("good", "hello", "?follow");
    let first = Follow::start(&server, &path, &good, None);
    let mut second = Follow::start(&server, &path, &good, None);
    let refused = Follow::open(&server, &path, &good, None)
        .err()
        .expect("a third follower is refused");
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("too_many_log_followers"), "{refused}");
    // Reading a page is not following: it is still answered.
    assert_eq!(
        server
            .client(Some(&good))
            .get(&logs_path("good", "hello", ""))
            .status,
        200
    );
    // Another org's admin follows its own plugin meanwhile.
    let mut neighbour = Follow::start(&server, &logs_path("bad", "faults", "?follow"), &bad, None);
    // A follower that leaves gives its slot back once its connection closes.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut third = loop {
        match Follow::open(&server, &path, &good, None) {
            Ok(follow) => break follow,
            Err(refusal) => assert!(Instant::now() < deadline, "still refused: {refusal}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Every stream held open is live.
    server.get("/o/good/p/hello/echo/x");
    assert_eq!(second.next().data["message"], "hello: Method::Get /echo/x");
    assert_eq!(third.next().data["message"], "hello: Method::Get /echo/x");
    server.get("/o/bad/p/faults/log/1");
    assert_eq!(neighbour.next().event, "line");
}
