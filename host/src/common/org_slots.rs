//! Slots for long or heavy management work that each org may hold only a
//! few of at once: uploads (`packages.max-concurrent-uploads` for the
//! server, `packages.max-concurrent-uploads-per-org` for one org), followed
//! log streams (`limits.log-followers-per-org`).
//!
//! A slot is taken before the work starts — an upload's body is not read
//! yet — and given back when dropped, so what the work holds (memory, a
//! task, a connection) is bounded per org and server-wide, and one org
//! never takes every slot. One more is refused at once with 429 and
//! `Retry-After`.

use crate::common::admission::RETRY_AFTER_SECS;
use crate::common::error::ApiError;
use http::StatusCode;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

/// One kind of work's slots.
#[derive(Clone)]
pub struct OrgSlots {
    inner: Arc<Slots>,
}

/// The kind of work, its limits and the slots taken.
struct Slots {
    /// The work, plural, for messages (`uploads`).
    what: &'static str,
    /// The refusal's error code (`too_many_uploads`).
    code: &'static str,
    org_limit: usize,
    server_limit: usize,
    taken: Mutex<Taken>,
}

/// Slots in use. An org holding none has no entry, so the map never grows
/// past the work in progress.
#[derive(Default)]
struct Taken {
    total: usize,
    per_org: HashMap<String, usize>,
}

/// One slot, given back when dropped.
pub struct OrgSlot {
    slots: Arc<Slots>,
    org: String,
}

impl OrgSlots {
    /// Slots for `what` (plural, for messages), at most `org_limit` per org
    /// and `server_limit` (if any) in all; refusals carry `code`.
    pub fn new(
        what: &'static str,
        code: &'static str,
        org_limit: NonZeroUsize,
        server_limit: Option<NonZeroUsize>,
    ) -> Self {
        Self {
            inner: Arc::new(Slots {
                what,
                code,
                org_limit: org_limit.get(),
                server_limit: server_limit.map_or(usize::MAX, NonZeroUsize::get),
                taken: Mutex::default(),
            }),
        }
    }

    /// A slot for `org`, or 429 with the slots' code when the org or the
    /// server already has its limit in progress.
    pub fn take(&self, org: &str) -> Result<OrgSlot, ApiError> {
        let slots = &self.inner;
        let mut taken = slots.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let org_count = taken.per_org.get(org).copied().unwrap_or(0);
        if org_count >= slots.org_limit {
            return Err(slots.refusal(format!(
                "this org already has {org_count} {} in progress, its limit; retry when one ends",
                slots.what
            )));
        }
        if taken.total >= slots.server_limit {
            return Err(slots.refusal(format!(
                "the server already has {} {} in progress, its limit; retry shortly",
                taken.total, slots.what
            )));
        }
        taken.total += 1;
        *taken.per_org.entry(org.to_owned()).or_default() += 1;
        Ok(OrgSlot {
            slots: slots.clone(),
            org: org.to_owned(),
        })
    }
}

impl Slots {
    /// 429 with this kind's code, retry after a second.
    fn refusal(&self, message: String) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, self.code, message)
            .with_retry_after(RETRY_AFTER_SECS)
    }
}

impl Drop for OrgSlot {
    fn drop(&mut self) {
        let mut taken = (self.slots.taken.lock()).unwrap_or_else(PoisonError::into_inner);
        taken.total -= 1;
        if let Some(count) = taken.per_org.get_mut(&self.org) {
            *count -= 1;
            if *count == 0 {
                taken.per_org.remove(&self.org);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(org: usize, server: Option<usize>) -> OrgSlots {
        OrgSlots::new(
            "uploads",
            "too_many_uploads",
            NonZeroUsize::new(org).unwrap(),
            server.map(|n| NonZeroUsize::new(n).unwrap()),
        )
    }

    #[test]
    fn an_org_at_its_limit_is_refused_while_another_org_is_admitted() {
        let slots = slots(2, Some(3));
        let _first = slots.take("acme").unwrap();
        let _second = slots.take("acme").unwrap();
        let refused = slots.take("acme").err().unwrap();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "too_many_uploads");
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECS));
        assert!(refused.message.contains("2 uploads"), "{}", refused.message);
        assert!(slots.take("globex").is_ok());
    }

    #[test]
    fn the_server_limit_binds_across_orgs() {
        let slots = slots(2, Some(2));
        let _a = slots.take("acme").unwrap();
        let _b = slots.take("globex").unwrap();
        let refused = slots.take("initech").err().unwrap();
        assert!(
            refused.message.contains("the server"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn without_a_server_limit_only_the_org_limit_binds() {
        let slots = slots(1, None);
        let held: Vec<_> = (0..100)
            .map(|i| slots.take(&format!("org-{i}")).unwrap())
            .collect();
        assert!(slots.take("org-0").is_err());
        drop(held);
    }

    #[test]
    fn a_dropped_slot_is_given_back_and_leaves_no_entry() {
        let slots = slots(1, Some(1));
        drop(slots.take("acme").unwrap());
        let again = slots.take("acme").unwrap();
        assert!(slots.take("globex").is_err());
        drop(again);
        let taken = slots.inner.taken.lock().unwrap();
        assert_eq!(taken.total, 0);
        assert!(taken.per_org.is_empty());
    }
}
