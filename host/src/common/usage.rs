//! One plugin's usage over the last hour, minute by minute: requests,
//! errors (responses with status 500 or more), a latency histogram for the
//! 99th percentile, and guest CPU time.
//!
//! Kept in memory on this node only, and lost on restart. Only minutes
//! that had traffic are kept (at most [`MINUTES`] of them), so a plugin
//! without requests costs an empty series. Recording a response, or the
//! guest CPU of a request, hook or action, is a clock read and one short
//! lock of the plugin's own series, in the minute it happens.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds per entry of the series.
pub const MINUTE_SECONDS: u64 = 60;

/// Entries in a reading: the last hour, the current (partial) minute last.
pub const MINUTES: usize = 60;

/// Latency histogram buckets per minute. Bucket `i` holds latencies up to
/// [`bucket_bound`]`(i)`: 50 µs, growing by a factor of √2; the last
/// bucket holds everything slower than the one before it.
const BUCKETS: usize = 32;

/// The upper bound of latency bucket `i`, in nanoseconds: 50 µs · √2^i
/// (√2 rounded to 70.711 µs / 50 µs, doubling every second bucket).
const fn bucket_bound(i: usize) -> u64 {
    let base = if i.is_multiple_of(2) { 50_000 } else { 70_711 };
    base << (i / 2)
}

/// The bounds of every bucket but the last, open one.
const BOUNDS: [u64; BUCKETS - 1] = {
    let mut bounds = [0; BUCKETS - 1];
    let mut i = 0;
    while i < BUCKETS - 1 {
        bounds[i] = bucket_bound(i);
        i += 1;
    }
    bounds
};

/// The bucket `latency` falls in (a binary search of the bounds).
fn bucket_of(latency: Duration) -> usize {
    let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    BOUNDS.partition_point(|&bound| bound < nanos)
}

/// One minute with traffic.
struct Minute {
    /// Minutes since the Unix epoch.
    index: u64,
    requests: u32,
    errors: u32,
    cpu_nanos: u64,
    /// The slowest response, for a percentile in the last, open bucket.
    slowest_nanos: u64,
    latency: [u32; BUCKETS],
}

impl Minute {
    fn new(index: u64) -> Self {
        Self {
            index,
            requests: 0,
            errors: 0,
            cpu_nanos: 0,
            slowest_nanos: 0,
            latency: [0; BUCKETS],
        }
    }

    /// The upper bound of the bucket holding the 99th percentile latency,
    /// in nanoseconds (the slowest response if that is the last, open
    /// bucket); `None` without requests.
    fn p99_nanos(&self) -> Option<u64> {
        let rank = u64::from(self.requests).saturating_mul(99).div_ceil(100);
        let mut seen = 0;
        for (i, count) in self.latency.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank.max(1) {
                return Some(if i == BUCKETS - 1 {
                    self.slowest_nanos
                } else {
                    bucket_bound(i)
                });
            }
        }
        None
    }

    fn view(&self) -> MinuteUsage {
        MinuteUsage {
            start: self.index * MINUTE_SECONDS,
            requests: self.requests.into(),
            errors: self.errors.into(),
            p99_ms: self.p99_nanos().map(|nanos| nanos as f64 / 1e6),
            cpu_ms: (self.cpu_nanos / 1_000) as f64 / 1e3,
        }
    }
}

/// One minute of a reading.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MinuteUsage {
    /// When the minute starts, seconds since the Unix epoch (a multiple of 60).
    pub start: u64,
    /// Responses in the minute.
    pub requests: u64,
    /// Responses with status 500 or more (traps, timeouts and CPU
    /// deadlines among them).
    pub errors: u64,
    /// An upper bound of the 99th percentile latency to the response head,
    /// in milliseconds: the bound of the histogram bucket holding it
    /// (buckets from 0.05 ms, growing by √2). `null` without requests.
    pub p99_ms: Option<f64>,
    /// Guest CPU time, in milliseconds.
    pub cpu_ms: f64,
}

/// One plugin's series: only minutes with traffic, oldest first.
#[derive(Default)]
pub struct UsageSeries {
    minutes: Mutex<VecDeque<Minute>>,
}

impl UsageSeries {
    /// Records a response with `status`, `latency` after admission, now.
    pub fn responded(&self, status: u16, latency: Duration) {
        self.responded_at(unix_minute(SystemTime::now()), status, latency);
    }

    /// Adds guest CPU time, now.
    pub fn used_cpu(&self, spent: Duration) {
        self.used_cpu_at(unix_minute(SystemTime::now()), spent);
    }

    /// The last hour as of now: [`MINUTES`] entries, oldest first.
    pub fn last_hour(&self) -> Vec<MinuteUsage> {
        self.last_hour_at(unix_minute(SystemTime::now()))
    }

    fn used_cpu_at(&self, now: u64, spent: Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        let mut minutes = self.lock();
        let minute = current(&mut minutes, now);
        minute.cpu_nanos = minute.cpu_nanos.saturating_add(nanos);
    }

    fn responded_at(&self, now: u64, status: u16, latency: Duration) {
        let latency_nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let bucket = bucket_of(latency);
        let mut minutes = self.lock();
        let minute = current(&mut minutes, now);
        minute.requests = minute.requests.saturating_add(1);
        if status >= 500 {
            minute.errors = minute.errors.saturating_add(1);
        }
        minute.slowest_nanos = minute.slowest_nanos.max(latency_nanos);
        minute.latency[bucket] = minute.latency[bucket].saturating_add(1);
    }

    fn last_hour_at(&self, now: u64) -> Vec<MinuteUsage> {
        let first = now.saturating_sub(MINUTES as u64 - 1);
        let kept: Vec<MinuteUsage> = {
            let mut minutes = self.lock();
            trim(&mut minutes, now);
            minutes.iter().map(Minute::view).collect()
        };
        let mut kept = kept.into_iter().peekable();
        (first..=now)
            .map(|index| {
                let start = index * MINUTE_SECONDS;
                // Entries of a clock that went back may precede `first`.
                while kept.next_if(|m| m.start < start).is_some() {}
                kept.next_if(|m| m.start == start)
                    .unwrap_or_else(|| Minute::new(index).view())
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Minute>> {
        self.minutes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The entry of minute `now`, added if it has none (a clock that went back
/// counts in the newest entry); minutes older than an hour are dropped.
fn current(minutes: &mut VecDeque<Minute>, now: u64) -> &mut Minute {
    if minutes.back().is_none_or(|last| last.index < now) {
        trim(minutes, now);
        minutes.push_back(Minute::new(now));
    }
    minutes.back_mut().expect("an entry was just ensured")
}

/// Drops minutes older than the hour ending at minute `now`, and the
/// buffer itself once nothing is left.
fn trim(minutes: &mut VecDeque<Minute>, now: u64) {
    while minutes
        .front()
        .is_some_and(|m| m.index + MINUTES as u64 <= now)
    {
        minutes.pop_front();
    }
    if minutes.is_empty() {
        *minutes = VecDeque::new();
    }
}

/// Minutes since the Unix epoch at `time`.
fn unix_minute(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / MINUTE_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 29_000_000;

    #[test]
    fn buckets_grow_by_the_square_root_of_two_from_50_microseconds() {
        assert_eq!(bucket_bound(0), 50_000);
        assert_eq!(bucket_bound(1), 70_711);
        assert_eq!(bucket_bound(2), 100_000);
        assert_eq!(bucket_bound(30), 50_000 << 15);
        assert_eq!(bucket_of(Duration::from_micros(10)), 0);
        assert_eq!(bucket_of(Duration::from_micros(50)), 0);
        assert_eq!(bucket_of(Duration::from_micros(51)), 1);
        assert_eq!(bucket_of(Duration::from_micros(100)), 2);
        assert_eq!(bucket_of(Duration::from_secs(3600)), BUCKETS - 1);
    }

    #[test]
    fn a_reading_has_sixty_minutes_oldest_first_zeros_without_traffic() {
        let series = UsageSeries::default();
        let hour = series.last_hour_at(NOW);
        assert_eq!(hour.len(), MINUTES);
        assert_eq!(hour[0].start, (NOW - 59) * 60);
        assert_eq!(hour[59].start, NOW * 60);
        assert!(hour.iter().all(|m| m.requests == 0 && m.p99_ms.is_none()));
        assert_eq!(series.lock().capacity(), 0, "nothing allocated");
    }

    #[test]
    fn responses_count_per_minute_with_errors_cpu_and_p99() {
        let series = UsageSeries::default();
        series.responded_at(NOW - 2, 404, Duration::from_millis(1));
        // CPU of a hook in a minute without responses is counted there.
        series.used_cpu_at(NOW - 1, Duration::from_micros(250));
        series.used_cpu_at(NOW, Duration::from_micros(1500));
        for _ in 0..98 {
            series.responded_at(NOW, 200, Duration::from_micros(40));
        }
        series.responded_at(NOW, 503, Duration::from_micros(90));
        series.responded_at(NOW, 500, Duration::from_secs(5));
        series.used_cpu_at(NOW, Duration::from_micros(500));
        let hour = series.last_hour_at(NOW);
        let now = &hour[59];
        assert_eq!((now.requests, now.errors), (100, 2));
        // 99 of 100 answered within the 100 µs bucket.
        assert_eq!(now.p99_ms, Some(0.1));
        assert_eq!(now.cpu_ms, 2.0);
        assert_eq!((hour[58].cpu_ms, hour[58].requests), (0.25, 0));
        assert_eq!(hour[57].requests, 1);
        assert_eq!(hour[57].p99_ms, Some(1.131_376));
    }

    #[test]
    fn a_clock_that_went_back_counts_in_the_newest_minute() {
        let series = UsageSeries::default();
        series.responded_at(NOW, 200, Duration::from_micros(10));
        series.responded_at(NOW - 2, 200, Duration::from_micros(10));
        let hour = series.last_hour_at(NOW);
        assert_eq!((hour[57].requests, hour[59].requests), (0, 2));
    }

    #[test]
    fn p99_in_the_open_bucket_is_the_slowest_response() {
        let series = UsageSeries::default();
        series.responded_at(NOW, 504, Duration::from_secs(30));
        let hour = series.last_hour_at(NOW);
        assert_eq!(hour[59].p99_ms, Some(30_000.0));
        assert_eq!(hour[59].errors, 1);
    }

    #[test]
    fn minutes_older_than_an_hour_are_dropped() {
        let series = UsageSeries::default();
        series.responded_at(NOW - 60, 200, Duration::from_micros(10));
        series.responded_at(NOW - 59, 200, Duration::from_micros(10));
        series.responded_at(NOW - 59, 200, Duration::from_micros(10));
        let hour = series.last_hour_at(NOW);
        assert_eq!(hour[0].requests, 2);
        assert_eq!(hour.iter().map(|m| m.requests).sum::<u64>(), 2);
        assert_eq!(series.lock().len(), 1);
        series.last_hour_at(NOW + 60);
        assert_eq!(series.lock().capacity(), 0, "freed once empty");
    }
}
