//! The plugin log lines an org admin reads back (`GET …/plugins/{name}/logs`):
//! one bounded ring per org and plugin, kept in memory. A ring holds at most
//! the operator's number of lines and bytes, dropping its oldest lines when
//! either is full; lines are numbered, so a reader that fell behind learns
//! how many it missed. Followers wait for the next line without polling.
//!
//! Every ring of the server also shares one memory budget
//! (`log-ring-bytes-total`): a ring holds at most its equal part of it, so
//! ten thousand tenants' logs cost what a few tenants' do.

use crate::common::per_plugin::PerPlugin;
pub use crate::common::settings::RingSize;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A line the plugin wrote.
    Line,
    /// The host's note about the plugin's lines (e.g. how many it dropped
    /// over its rate).
    Note,
}

/// One kept log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Its number: one more than the line before it in this ring.
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// A plugin's line or the host's note.
    pub kind: EntryKind,
    /// The message, escaped and cut to the log capability's bounds.
    pub message: String,
    /// Its key/value fields, escaped and cut likewise.
    pub fields: Vec<(String, String)>,
}

/// Memory an entry takes beside its text: the entry, its `Arc` and the
/// ring's slot, approximately.
const ENTRY_OVERHEAD: usize = 128;

impl LogEntry {
    /// Bytes the entry counts against its ring.
    fn weight(&self) -> usize {
        self.message.len()
            + (self.fields.iter())
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// What a reader gets: the entries after its cursor, and how many it
/// missed because the ring had dropped them before it asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// The entries, oldest first.
    pub entries: Vec<Arc<LogEntry>>,
    /// Entries after the cursor that the ring no longer holds.
    pub missed: u64,
}

/// The memory budget every ring shares, and how many rings share it.
#[derive(Debug)]
struct SharedBudget {
    total: usize,
    rings: AtomicUsize,
}

impl SharedBudget {
    /// The memory one ring may hold now: its equal part.
    fn part(&self) -> usize {
        self.total / self.rings.load(Ordering::Relaxed).max(1)
    }
}

/// One org's plugin's ring.
pub struct LogRing {
    size: RingSize,
    budget: Arc<SharedBudget>,
    kept: Mutex<Kept>,
    /// The number of the newest entry; followers wait on its changes.
    newest: watch::Sender<u64>,
    /// Set when the plugin is uninstalled: followers end their streams.
    closed: AtomicBool,
}

/// The entries, their bytes, and the memory they take.
#[derive(Default)]
struct Kept {
    entries: VecDeque<Arc<LogEntry>>,
    bytes: usize,
    memory: usize,
    next_seq: u64,
}

impl LogRing {
    fn new(size: RingSize, budget: Arc<SharedBudget>) -> Self {
        Self {
            size,
            budget,
            kept: Mutex::new(Kept {
                next_seq: 1,
                ..Kept::default()
            }),
            newest: watch::Sender::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Keeps one entry, dropping the oldest ones past the ring's size,
    /// and wakes its followers.
    pub fn push(
        &self,
        level: &'static str,
        kind: EntryKind,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        if self.size.lines == 0 {
            return;
        }
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let seq = {
            let mut kept = self.lock();
            let seq = kept.next_seq;
            kept.next_seq += 1;
            let entry = Arc::new(LogEntry {
                seq,
                time_ms,
                level,
                kind,
                message,
                fields,
            });
            kept.bytes += entry.weight();
            kept.memory += entry.weight() + ENTRY_OVERHEAD;
            kept.entries.push_back(entry);
            let memory = self.budget.part();
            while kept.entries.len() > self.size.lines
                || ((kept.bytes > self.size.bytes || kept.memory > memory)
                    && kept.entries.len() > 1)
            {
                if let Some(oldest) = kept.entries.pop_front() {
                    kept.bytes -= oldest.weight();
                    kept.memory -= oldest.weight() + ENTRY_OVERHEAD;
                }
            }
            seq
        };
        self.newest.send_replace(seq);
    }

    /// The entries numbered after `after`, at most `limit` of them: the
    /// oldest ones when `after` is given, else the newest (a tail).
    pub fn read(&self, after: Option<u64>, limit: usize) -> Read {
        let kept = self.lock();
        let Some(after) = after else {
            let skip = kept.entries.len().saturating_sub(limit);
            return Read {
                entries: kept.entries.iter().skip(skip).cloned().collect(),
                missed: 0,
            };
        };
        let oldest = kept.entries.front().map_or(kept.next_seq, |e| e.seq);
        let missed = oldest.saturating_sub(after + 1).min(kept.next_seq - 1);
        let start = usize::try_from((after + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        Read {
            entries: kept
                .entries
                .iter()
                .skip(start)
                .take(limit)
                .cloned()
                .collect(),
            missed,
        }
    }

    /// A receiver that sees the number of each newest entry, and is woken
    /// once more when the ring is closed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// Whether the plugin was uninstalled: nothing more will be written.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the ring closed and wakes its followers.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.newest.send_modify(|_| {});
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Every org's plugins' rings, created on a plugin's first line.
pub struct PluginLogs {
    size: RingSize,
    budget: Arc<SharedBudget>,
    rings: PerPlugin<LogRing>,
}

impl PluginLogs {
    /// No rings yet; each will be `size`.
    pub fn new(size: RingSize) -> Self {
        Self {
            size,
            budget: Arc::new(SharedBudget {
                total: size.total_bytes,
                rings: AtomicUsize::new(0),
            }),
            rings: PerPlugin::default(),
        }
    }

    /// `org`'s `plugin`'s ring, created empty if it has none.
    pub fn ring(&self, org: &str, plugin: &str) -> Arc<LogRing> {
        self.rings.get_or_insert_with(org, plugin, || {
            self.budget.rings.fetch_add(1, Ordering::Relaxed);
            LogRing::new(self.size, self.budget.clone())
        })
    }

    /// Drops `org`'s `plugin`'s ring (when it is uninstalled) and closes
    /// it: its followers get what was left and their streams end.
    pub fn forget(&self, org: &str, plugin: &str) {
        if let Some(ring) = self.rings.remove(org, plugin) {
            self.budget.rings.fetch_sub(1, Ordering::Relaxed);
            ring.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(lines: usize, bytes: usize) -> RingSize {
        RingSize {
            lines,
            bytes,
            total_bytes: usize::MAX,
        }
    }

    fn ring(lines: usize, bytes: usize) -> Arc<LogRing> {
        PluginLogs::new(size(lines, bytes)).ring("acme", "hello")
    }

    fn push(ring: &LogRing, message: &str) {
        ring.push("info", EntryKind::Line, message.to_owned(), Vec::new());
    }

    fn messages(read: &Read) -> Vec<&str> {
        read.entries.iter().map(|e| e.message.as_str()).collect()
    }

    #[test]
    fn a_full_ring_drops_its_oldest_lines_and_readers_learn_what_they_missed() {
        let ring = ring(3, 1 << 20);
        for n in 1..=5 {
            push(&ring, &format!("line {n}"));
        }
        let tail = ring.read(None, 10);
        assert_eq!(messages(&tail), ["line 3", "line 4", "line 5"]);
        assert_eq!(tail.missed, 0);
        assert_eq!(ring.read(None, 2).entries[0].seq, 4);
        // A cursor at line 1: lines 2 is gone.
        let behind = ring.read(Some(1), 10);
        assert_eq!(behind.missed, 1);
        assert_eq!(messages(&behind), ["line 3", "line 4", "line 5"]);
        // A cursor inside the ring, with a page limit.
        let page = ring.read(Some(3), 1);
        assert_eq!((messages(&page), page.missed), (vec!["line 4"], 0));
        assert!(ring.read(Some(5), 10).entries.is_empty());
    }

    #[test]
    fn the_byte_bound_holds_but_the_newest_line_is_always_kept() {
        let ring = ring(100, 10);
        push(&ring, "12345");
        push(&ring, "67890");
        push(&ring, "abc");
        assert_eq!(messages(&ring.read(None, 10)), ["67890", "abc"]);
        push(&ring, &"x".repeat(50));
        let read = ring.read(None, 10);
        assert_eq!(read.entries.len(), 1);
        assert_eq!(read.entries[0].seq, 4);
    }

    #[test]
    fn a_zero_sized_ring_keeps_nothing() {
        let ring = ring(0, 1 << 20);
        push(&ring, "gone");
        assert!(ring.read(None, 10).entries.is_empty());
    }

    #[tokio::test]
    async fn followers_are_woken_by_a_new_line() {
        let ring = ring(10, 1 << 20);
        let mut newest = ring.subscribe();
        let writer = ring.clone();
        tokio::spawn(async move { push(&writer, "hello") });
        newest.changed().await.expect("the ring is alive");
        assert_eq!(*newest.borrow(), 1);
        assert_eq!(messages(&ring.read(Some(0), 10)), ["hello"]);
    }

    #[test]
    fn rings_share_the_servers_budget_equally() {
        // Each line takes its text plus the overhead: 4 + 128 bytes.
        let logs = PluginLogs::new(RingSize {
            lines: 1000,
            bytes: 1 << 20,
            total_bytes: 10 * (4 + ENTRY_OVERHEAD),
        });
        let alone = logs.ring("acme", "a");
        (0..20).for_each(|n| push(&alone, &format!("{n:04}")));
        assert_eq!(
            alone.read(None, 100).entries.len(),
            10,
            "alone: the whole budget"
        );
        let other = logs.ring("beta", "b");
        (0..20).for_each(|n| push(&other, &format!("{n:04}")));
        assert_eq!(other.read(None, 100).entries.len(), 5, "two: half each");
        push(&alone, "next");
        assert_eq!(
            alone.read(None, 100).entries.len(),
            5,
            "the first shrinks as it writes"
        );
        logs.forget("beta", "b");
        (0..20).for_each(|n| push(&alone, &format!("{n:04}")));
        assert_eq!(alone.read(None, 100).entries.len(), 10, "alone again");
    }

    #[tokio::test]
    async fn forgetting_a_ring_closes_it_and_wakes_its_followers() {
        let logs = PluginLogs::new(size(10, 1 << 20));
        let ring = logs.ring("acme", "hello");
        let mut newest = ring.subscribe();
        newest.borrow_and_update();
        assert!(!ring.is_closed());
        logs.forget("acme", "hello");
        newest.changed().await.expect("woken");
        assert!(ring.is_closed());
        assert!(
            !logs.ring("acme", "hello").is_closed(),
            "a new ring is open"
        );
    }

    #[test]
    fn rings_are_per_org_and_plugin_and_forgotten_on_request() {
        let logs = PluginLogs::new(size(10, 1 << 20));
        push(&logs.ring("acme", "hello"), "acme's");
        assert!(
            logs.ring("other", "hello")
                .read(None, 10)
                .entries
                .is_empty()
        );
        assert_eq!(
            messages(&logs.ring("acme", "hello").read(None, 10)),
            ["acme's"]
        );
        logs.forget("acme", "hello");
        assert!(logs.ring("acme", "hello").read(None, 10).entries.is_empty());
    }
}
