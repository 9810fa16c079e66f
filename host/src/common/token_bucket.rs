//! A token bucket: a sustained rate per second with a burst above it. Used
//! for per-org request rates (admission) and per-plugin log lines.

use std::time::Instant;

/// `rate` tokens per second, holding at most `capacity`; starts full.
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket earning `rate` tokens per second and holding `burst`
    /// (at least one).
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate),
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::{Duration, Instant};

    /// How long a bucket at `rate` per second takes to earn one token.
    fn token_interval(rate: u32) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(rate))
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 3, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + token_interval(10)));
        assert!(!bucket.take(start + token_interval(10)));
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_its_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(100, 2, start);
        let later = start + Duration::from_secs(60);
        assert!((0..2).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }
}
