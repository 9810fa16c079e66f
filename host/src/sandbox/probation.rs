//! Probation: the first requests a plugin version serves after an upgrade,
//! watched for server errors. When more of them fail than the operator
//! allows, the probation trips once and hands the reason to whoever set it
//! up (the lifecycle, which rolls the upgrade back).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// What a probation watches: how many requests, and how many of them may
/// fail.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbationPolicy {
    /// Requests watched after the switch.
    pub requests: u32,
    /// Most of them that may answer 5xx (or fail) without tripping.
    pub max_failures: u32,
}

impl ProbationPolicy {
    /// A policy watching `requests` requests, tripping when more than
    /// `max_ratio` of them fail; `None` if it watches none.
    pub fn new(requests: u32, max_ratio: f64) -> Option<Self> {
        let max_ratio = max_ratio.clamp(0.0, 1.0);
        (requests > 0).then(|| Self {
            requests,
            max_failures: (f64::from(requests) * max_ratio).floor() as u32,
        })
    }
}

/// One version's probation.
pub struct Probation {
    policy: ProbationPolicy,
    seen: AtomicU32,
    failed: AtomicU32,
    tripped: AtomicBool,
    trip: Box<dyn Fn(String) + Send + Sync>,
}

impl Probation {
    /// A probation under `policy` that calls `trip` with the reason, once,
    /// when too many requests fail.
    pub fn new(policy: ProbationPolicy, trip: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self {
            policy,
            seen: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            tripped: AtomicBool::new(false),
            trip: Box::new(trip),
        }
    }

    /// Counts one answered request (`failed`: 5xx, or no answer at all).
    pub fn record(&self, failed: bool) {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if seen > self.policy.requests || !failed {
            return;
        }
        let failures = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        if failures > self.policy.max_failures && !self.tripped.swap(true, Ordering::Relaxed) {
            (self.trip)(format!(
                "{failures} of its first {seen} requests after the upgrade failed (at most {} of {} may)",
                self.policy.max_failures, self.policy.requests
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn watched(requests: u32, ratio: f64) -> (Probation, Arc<Mutex<Vec<String>>>) {
        let trips = Arc::new(Mutex::new(Vec::new()));
        let seen = trips.clone();
        let policy = ProbationPolicy::new(requests, ratio).unwrap();
        let probation = Probation::new(policy, move |why| seen.lock().unwrap().push(why));
        (probation, trips)
    }

    #[test]
    fn trips_once_past_the_ratio_within_the_window_only() {
        assert_eq!(ProbationPolicy::new(0, 0.5), None);
        let (probation, trips) = watched(10, 0.5);
        for _ in 0..5 {
            probation.record(true);
        }
        assert!(trips.lock().unwrap().is_empty(), "5 of 10 may fail");
        probation.record(true);
        probation.record(true);
        let trips = trips.lock().unwrap();
        assert_eq!(trips.len(), 1, "{trips:?}");
        assert!(
            trips[0].starts_with("6 of its first 6 requests"),
            "{}",
            trips[0]
        );

        let (late, late_trips) = watched(4, 0.25);
        for failed in [false, false, false, false, true, true, true] {
            late.record(failed);
        }
        assert!(
            late_trips.lock().unwrap().is_empty(),
            "failures after the window"
        );
    }
}
