//! `GET /api/v1/orgs/{org}/plugins/{name}/logs`: a plugin's kept log lines
//! for its org's admins — a JSON page, or with `?follow` a stream of
//! server-sent events that stays open and carries each new line as it is
//! written, until the plugin is uninstalled (`event: end`).
//!
//! Query: `after=SEQ` (lines numbered after it; default: the newest ones),
//! `limit=N` (at most N lines, default 100, at most 1000), `follow`. A
//! follower that reconnects with `Last-Event-ID` resumes after that line.
//! Lines the ring dropped before they could be read are reported as
//! `missed` (JSON) or as a `missed` event (stream). An org holds at most
//! `limits.log-followers-per-org` streams at once.

use crate::capabilities::log::ring::{EntryKind, LogEntry, Read};
use crate::capabilities::log::{LogRing, PluginLogs};
use crate::common::bodies::channel_body;
use crate::common::error::{ApiError, json_response};
use crate::common::org_slots::{OrgSlot, OrgSlots};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Sender;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Lines in a page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// Most lines in a page.
const MAX_LIMIT: usize = 1000;
/// How often an idle stream sends a comment, so proxies keep it open and
/// a follower that has gone away is noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What the caller asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// Lines numbered after this one; `None` for the newest.
    pub after: Option<u64>,
    /// At most this many lines per page (and in a stream's backlog).
    pub limit: usize,
    /// Whether to stream.
    pub follow: bool,
}

impl LogQuery {
    /// The query from a request's query-string pairs (`value_of`) and
    /// headers: 400 `invalid_query` for a number that is not one.
    pub fn parse<'q>(
        value_of: impl Fn(&str) -> Option<&'q str>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let number = |key: &str, text: &str| {
            text.parse::<u64>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("`{key}` must be a whole number, not {text:?}"),
                )
            })
        };
        let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok());
        let after = match resume.or(value_of("after")) {
            Some(text) => Some(number("after", text)?),
            None => None,
        };
        let limit = match value_of("limit") {
            Some(text) => usize::try_from(number("limit", text)?).unwrap_or(MAX_LIMIT),
            None => DEFAULT_LIMIT,
        };
        let follow = matches!(value_of("follow"), Some("" | "true" | "1"));
        Ok(Self {
            after,
            limit: limit.clamp(1, MAX_LIMIT),
            follow,
        })
    }
}

/// One page of a plugin's log.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// The lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Lines after `after` the ring dropped before they were read.
    pub missed: u64,
    /// The `after` that continues from this page.
    pub next: u64,
}

/// One log line as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// Its number: one more than the line before it.
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// A plugin's `line`, or the host's `note` about its lines.
    pub kind: EntryKind,
    /// The message.
    pub message: String,
    /// Its key/value fields.
    pub fields: BTreeMap<String, String>,
}

impl From<&LogEntry> for LogLine {
    fn from(entry: &LogEntry) -> Self {
        Self {
            seq: entry.seq,
            time_ms: entry.time_ms,
            level: entry.level,
            kind: entry.kind,
            message: entry.message.clone(),
            fields: entry.fields.iter().cloned().collect(),
        }
    }
}

/// How the management API reads plugin logs: the kept lines, the slots
/// followers take (`limits.log-followers-per-org`), and how long a follower
/// may leave the next chunk untaken (`http.send-timeout-ms`) before its
/// stream ends.
pub struct LogReader {
    logs: Arc<PluginLogs>,
    followers: OrgSlots,
    send_timeout: Duration,
}

impl LogReader {
    /// A reader of `logs` letting each org hold `followers_per_org` streams,
    /// each ended when its client leaves a chunk untaken for `send_timeout`.
    pub fn new(
        logs: Arc<PluginLogs>,
        followers_per_org: NonZeroUsize,
        send_timeout: Duration,
    ) -> Self {
        Self {
            logs,
            followers: OrgSlots::new(
                "followed log streams",
                "too_many_log_followers",
                followers_per_org,
                None,
            ),
            send_timeout,
        }
    }

    /// The answer to `query` on the log of `org`'s `plugin`: a page, or a
    /// followed stream — 429 `too_many_log_followers` when the org already
    /// holds its limit of them.
    pub fn respond(
        &self,
        org: &str,
        plugin: &str,
        query: LogQuery,
        still_allowed: StillAllowed,
    ) -> Result<Response<HyperOutgoingBody>, ApiError> {
        let ring = self.logs.ring(org, plugin);
        if !query.follow {
            return Ok(page(&ring, &query));
        }
        let slot = self.followers.take(org)?;
        let follower = Follower {
            still_allowed,
            send_timeout: self.send_timeout,
        };
        Ok(follow(ring, query, follower, slot))
    }
}

/// One JSON page: `{"lines": [...], "missed": N, "next": SEQ}`, where
/// `next` is the `after` that continues from it.
fn page(ring: &LogRing, query: &LogQuery) -> Response<HyperOutgoingBody> {
    let Read { entries, missed } = ring.read(query.after, query.limit);
    let next = entries
        .last()
        .map(|e| e.seq)
        .or(query.after)
        .unwrap_or_default();
    let page = LogPage {
        lines: entries.iter().map(|e| LogLine::from(&**e)).collect(),
        missed,
        next,
    };
    json_response(
        StatusCode::OK,
        &serde_json::to_value(page).expect("log pages serialize"),
    )
}

/// Whether the caller following a log may still read it (checked before
/// each batch and keep-alive: a revoked token ends the stream).
pub type StillAllowed = Box<dyn Fn() -> bool + Send + Sync>;

/// What the task feeding one followed stream goes by.
struct Follower {
    still_allowed: StillAllowed,
    send_timeout: Duration,
}

impl Follower {
    /// Sends `chunk`; false once the client is gone, or has left the
    /// chunks before it untaken for the send timeout (an HTTP/2 client
    /// that never opens its flow-control window holds no write pending, so
    /// only this notices it). The task then stops; the stream's body keeps
    /// the org's slot until the client resets the stream or the connection
    /// ends.
    async fn send(&self, sender: &Sender<Bytes>, chunk: Bytes) -> bool {
        let sent = tokio::time::timeout(self.send_timeout, sender.send(chunk));
        matches!(sent.await, Ok(Ok(())))
    }
}

/// The last event of a followed log whose plugin was uninstalled…
const END_UNINSTALLED: &[u8] = b"event: end\ndata: {\"reason\":\"uninstalled\"}\n\n";
/// …or whose follower's token was revoked.
const END_REVOKED: &[u8] = b"event: end\ndata: {\"reason\":\"revoked\"}\n\n";

/// A stream of server-sent events: first the lines the query selects,
/// then each new one, as `event: line` (or `note`, for the host's notes)
/// with the line's number as `id` and the line as JSON `data`; when the
/// plugin is uninstalled or the caller's token revoked, `event: end` and
/// the end of the stream. It also ends as soon as its client goes away.
/// The stream's body holds its org's follower `slot` until the server drops
/// it: the client is gone, or stopped reading and its connection ended.
fn follow(
    ring: Arc<LogRing>,
    query: LogQuery,
    follower: Follower,
    slot: OrgSlot,
) -> Response<HyperOutgoingBody> {
    let (sender, body) = channel_body(16, slot);
    tokio::spawn(async move {
        let mut newest = ring.subscribe();
        let mut cursor = query.after;
        let mut limit = query.limit;
        loop {
            newest.borrow_and_update();
            if !(follower.still_allowed)() {
                follower
                    .send(&sender, Bytes::from_static(END_REVOKED))
                    .await;
                return;
            }
            let Read { entries, missed } = ring.read(cursor, limit);
            let mut events = String::new();
            if missed > 0 {
                events += &format!("event: missed\ndata: {{\"missed\":{missed}}}\n\n");
            }
            for entry in &entries {
                events += &event(entry);
            }
            cursor = entries.last().map(|e| e.seq).or(cursor).or(Some(0));
            if !events.is_empty() && !follower.send(&sender, Bytes::from(events)).await {
                return;
            }
            if entries.len() == limit {
                continue;
            }
            if ring.is_closed() {
                // Uninstalled: what was left is sent; the stream ends.
                follower
                    .send(&sender, Bytes::from_static(END_UNINSTALLED))
                    .await;
                return;
            }
            // After the backlog, a page of any size catches up.
            limit = MAX_LIMIT;
            tokio::select! {
                changed = newest.changed() => if changed.is_err() { return },
                () = sender.closed() => return,
                () = tokio::time::sleep(KEEP_ALIVE) => {
                    if !follower.send(&sender, Bytes::from_static(b": keep-alive\n\n")).await {
                        return;
                    }
                }
            }
        }
    });
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// One entry as a server-sent event: `event: line` (or `note`).
fn event(entry: &LogEntry) -> String {
    let kind = match entry.kind {
        EntryKind::Line => "line",
        EntryKind::Note => "note",
    };
    let data = serde_json::to_string(&LogLine::from(entry)).expect("log lines serialize");
    format!("id: {}\nevent: {kind}\ndata: {data}\n\n", entry.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&'static str, &'static str)], resume: Option<&str>) -> LogQuery {
        let mut headers = HeaderMap::new();
        if let Some(id) = resume {
            headers.insert("last-event-id", HeaderValue::from_str(id).unwrap());
        }
        LogQuery::parse(
            |key| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            &headers,
        )
        .unwrap()
    }

    #[test]
    fn queries_default_bound_and_resume_from_the_last_event() {
        let plain = query(&[], None);
        assert_eq!((plain.after, plain.limit, plain.follow), (None, 100, false));
        let asked = query(&[("after", "7"), ("limit", "5000"), ("follow", "")], None);
        assert_eq!(
            (asked.after, asked.limit, asked.follow),
            (Some(7), 1000, true)
        );
        assert_eq!(query(&[("after", "7")], Some("42")).after, Some(42));
        assert_eq!(query(&[("limit", "0")], None).limit, 1);
        let bad = LogQuery::parse(|_| Some("x"), &HeaderMap::new()).unwrap_err();
        assert_eq!(bad.code, "invalid_query");
    }
}
