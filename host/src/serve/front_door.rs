//! The front door every plugin instance passes: a route request, a module
//! request with its hooks (the `after-*` ones included), an integration's
//! `describe` or `invoke`, an activation's `on-activate` and UI
//! `contributions()`. Each is admitted under its org's limits
//! ([`Admission`]) before an instance is made; a refusal is counted in
//! `berth_org_rejected_requests_total` and answered 429.

use crate::common::admission::{Admission, Admitted, Refusal};
use crate::common::metrics::Metrics;
use std::sync::Arc;

/// Admission for every instance, with refusals counted.
#[derive(Clone)]
pub struct FrontDoor {
    admission: Arc<Admission>,
    metrics: Arc<Metrics>,
}

impl FrontDoor {
    /// A front door admitting by `admission`, counting refusals in `metrics`.
    pub fn new(admission: Arc<Admission>, metrics: Arc<Metrics>) -> Self {
        Self { admission, metrics }
    }

    /// Admits one instance (or one request running instances one after
    /// another) for `org`; the slot is held until the [`Admitted`] drops.
    pub fn admit(&self, org: &str) -> Result<Admitted, Refusal> {
        self.admission
            .admit(org)
            .inspect_err(|_| self.metrics.rejected(org))
    }

    /// The per-org limits it admits by.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }
}
