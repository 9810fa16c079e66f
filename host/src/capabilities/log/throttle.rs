//! Per-plugin log rate limits: a token bucket per mounted plugin, shared by
//! all its instances (one per request). Lines over the limit are dropped
//! and counted; the host reports them in one summary line — in its own
//! output and as a note in the plugin's ring — a second after dropping began, so a flooding plugin costs at most about one summary a
//! second, and the last lines it dropped are reported even if it falls
//! silent. The request path never waits: a line takes a lock held for a
//! few arithmetic operations, and the summary is written by a timer task.

use super::ring::{EntryKind, LogRing};
use crate::common::ids::PluginIdentity;
use crate::common::settings::LogRate;
use crate::common::token_bucket::TokenBucket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long after the first dropped line its summary is written.
const SUMMARY_DELAY: Duration = Duration::from_secs(1);

/// One mounted plugin's log budget, and the ring its lines go to.
pub struct LogThrottle {
    identity: Arc<PluginIdentity>,
    ring: Arc<LogRing>,
    rate: LogRate,
    budget: Mutex<Budget>,
}

/// The bucket, and the lines dropped since the last summary.
struct Budget {
    bucket: TokenBucket,
    dropped: u64,
    summary_pending: bool,
}

/// What becomes of one line.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Write it.
    Write,
    /// Drop it; `first` if no summary is pending yet (so one must be scheduled).
    Drop { first: bool },
}

impl Budget {
    fn line(&mut self, now: Instant) -> Verdict {
        if self.bucket.take(now) {
            return Verdict::Write;
        }
        self.dropped += 1;
        let first = !self.summary_pending;
        self.summary_pending = true;
        Verdict::Drop { first }
    }

    /// The lines dropped since the last summary; starts counting afresh.
    fn take_dropped(&mut self) -> u64 {
        self.summary_pending = false;
        std::mem::take(&mut self.dropped)
    }
}

impl LogThrottle {
    /// A full budget of `rate` for the plugin `identity`, whose lines go
    /// to `ring`.
    pub fn new(rate: LogRate, identity: Arc<PluginIdentity>, ring: Arc<LogRing>) -> Self {
        Self {
            identity,
            ring,
            rate,
            budget: Mutex::new(Budget {
                bucket: TokenBucket::new(rate.lines_per_second, rate.burst, Instant::now()),
                dropped: 0,
                summary_pending: false,
            }),
        }
    }

    /// Whether the plugin may write one more line now. A line refused is
    /// counted for the next summary, which the first refusal schedules.
    pub fn admit(self: &Arc<Self>) -> bool {
        if self.rate.lines_per_second == 0 {
            return true;
        }
        let verdict = self.lock().line(Instant::now());
        match verdict {
            Verdict::Write => true,
            Verdict::Drop { first } => {
                if first {
                    self.schedule_summary();
                }
                false
            }
        }
    }

    /// The plugin's ring.
    pub fn ring(&self) -> &LogRing {
        &self.ring
    }

    fn schedule_summary(self: &Arc<Self>) {
        let throttle = Arc::clone(self);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(SUMMARY_DELAY).await;
                    throttle.summarize();
                });
            }
            // Outside a runtime there is no timer: report at once.
            Err(_) => throttle.summarize(),
        }
    }

    /// Writes the summary of the lines dropped since the last one.
    fn summarize(&self) {
        let dropped = self.lock().take_dropped();
        let (org, plugin) = (&self.identity.org, &self.identity.plugin);
        let LogRate {
            lines_per_second,
            burst,
        } = self.rate;
        let note = format!(
            "dropped {dropped} log lines of the plugin over its limit of {lines_per_second} per second (burst {burst})"
        );
        tracing::warn!(org, plugin, dropped, "{note}");
        (self.ring).push("warn", EntryKind::Note, note, Vec::new());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::log::{PluginLogs, RingSize};

    fn budget(rate: u32, burst: u32, now: Instant) -> Budget {
        Budget {
            bucket: TokenBucket::new(rate, burst, now),
            dropped: 0,
            summary_pending: false,
        }
    }

    #[test]
    fn lines_past_the_burst_are_dropped_and_counted_for_one_summary() {
        let start = Instant::now();
        let mut budget = budget(10, 3, start);
        assert!((0..3).all(|_| budget.line(start) == Verdict::Write));
        assert_eq!(budget.line(start), Verdict::Drop { first: true });
        for _ in 0..9 {
            assert_eq!(budget.line(start), Verdict::Drop { first: false });
        }
        // The rate refills the bucket: lines pass again.
        assert_eq!(
            budget.line(start + Duration::from_millis(100)),
            Verdict::Write
        );
        assert_eq!(budget.take_dropped(), 10);
        assert_eq!(budget.take_dropped(), 0);
        // After a summary, the next refusal schedules another.
        let later = start + Duration::from_millis(100);
        assert_eq!(budget.line(later), Verdict::Drop { first: true });
        assert_eq!(budget.take_dropped(), 1);
    }

    #[tokio::test]
    async fn instances_of_one_plugin_share_a_budget_and_unlimited_never_drops() {
        let identity = Arc::new(PluginIdentity {
            org: "acme".into(),
            plugin: "noisy".into(),
        });
        let rate = |lines_per_second| LogRate {
            lines_per_second,
            burst: 2,
        };
        let ring = || {
            PluginLogs::new(RingSize {
                lines: 10,
                bytes: 1024,
                total_bytes: usize::MAX,
            })
            .ring("acme", "noisy")
        };
        let shared = Arc::new(LogThrottle::new(rate(1), identity.clone(), ring()));
        let (first, second) = (Arc::clone(&shared), Arc::clone(&shared));
        assert!(first.admit() && second.admit());
        assert!(!first.admit() && !second.admit());
        assert_eq!(shared.lock().dropped, 2);
        let unlimited = Arc::new(LogThrottle::new(rate(0), identity, ring()));
        assert!((0..100).all(|_| unlimited.admit()));
    }

    #[test]
    fn the_summary_is_a_note_in_the_plugins_ring() {
        let identity = Arc::new(PluginIdentity {
            org: "acme".into(),
            plugin: "noisy".into(),
        });
        let logs = PluginLogs::new(RingSize {
            lines: 10,
            bytes: 1024,
            total_bytes: usize::MAX,
        });
        let rate = LogRate {
            lines_per_second: 1,
            burst: 1,
        };
        let throttle = Arc::new(LogThrottle::new(rate, identity, logs.ring("acme", "noisy")));
        assert!(throttle.admit());
        // Outside a runtime the summary is written at once.
        assert!(!throttle.admit());
        let read = logs.ring("acme", "noisy").read(None, 10);
        assert_eq!(read.entries.len(), 1);
        let note = &read.entries[0];
        assert_eq!((note.kind, note.level), (EntryKind::Note, "warn"));
        assert!(
            note.message.starts_with("dropped 1 log lines"),
            "{}",
            note.message
        );
    }
}
