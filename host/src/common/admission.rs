//! Per-org admission control: how many requests an org may have in flight
//! and how many it may start per second. A request over either limit is
//! refused at once with 429 and `Retry-After`, before any instance is made,
//! so one flooding org cannot starve the others.
//!
//! Limits come from the settings, overridable per org (management API).
//! [`TenantLimits`] also carries the org's other per-tenant limits (its
//! plugins' key-value quotas), so one override record holds them all.

use crate::common::token_bucket::TokenBucket;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One org's limits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TenantLimits {
    /// Most requests the org may have in flight at once.
    pub max_concurrent: u32,
    /// Requests per second the org may start, sustained (0 = unlimited).
    pub requests_per_second: u32,
    /// Requests the org may start in a burst above the sustained rate.
    pub burst: u32,
    /// The org's share of guest CPU relative to other busy orgs (an org of
    /// weight 2 gets twice the CPU of an org of weight 1 when both want
    /// more than they get). At least 1.
    #[schema(value_type = u32, minimum = 1)]
    pub cpu_weight: NonZeroU32,
    /// Most bytes of key-value data (keys and values) each of its plugins may keep.
    pub kv_max_bytes: u64,
    /// Most key-value keys each of its plugins may keep.
    pub kv_max_keys: u64,
}

impl TenantLimits {
    /// These limits with the fields `overrides` (a JSON object) names
    /// replaced: a field it leaves out keeps its value here, so records and
    /// requests written before a field existed still apply; an unknown
    /// field or a value of the wrong type is refused.
    pub fn overlaid(self, overrides: &serde_json::Value) -> Result<Self, serde_json::Error> {
        let mut merged = serde_json::to_value(self)?;
        let (Some(fields), Some(given)) = (merged.as_object_mut(), overrides.as_object()) else {
            return Err(serde::de::Error::custom("limits must be a JSON object"));
        };
        fields.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        serde_json::from_value(merged)
    }
}

/// Why a request was not admitted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The org already has its limit of requests in flight.
    #[error("org has {0} requests in flight, its limit")]
    Concurrency(u32),
    /// The org exceeded its request rate.
    #[error("org exceeded {0} requests per second")]
    Rate(u32),
}

/// Seconds a refused client is told to wait (`Retry-After`): both limits
/// free up capacity within a second at any rate of at least 1/s.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Admission state for every org that has had traffic (orgs without
/// traffic cost nothing).
pub struct Admission {
    defaults: TenantLimits,
    overrides: RwLock<HashMap<String, TenantLimits>>,
    gates: RwLock<HashMap<String, Arc<Gate>>>,
}

/// One org's live counters.
struct Gate {
    limits: TenantLimits,
    in_flight: Arc<Semaphore>,
    bucket: Mutex<TokenBucket>,
}

/// A held admission: the org's slot is released when this is dropped.
pub struct Admitted {
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// Admission with `defaults` for every org without an override.
    pub fn new(defaults: TenantLimits) -> Self {
        Self {
            defaults,
            overrides: RwLock::default(),
            gates: RwLock::default(),
        }
    }

    /// The limits of every org without an override.
    pub fn defaults(&self) -> TenantLimits {
        self.defaults
    }

    /// The limits in force for `org`.
    pub fn limits(&self, org: &str) -> TenantLimits {
        let overrides = self.overrides.read().unwrap_or_else(|p| p.into_inner());
        overrides.get(org).copied().unwrap_or(self.defaults)
    }

    /// Sets (or, with `None`, clears) `org`'s override; takes effect for new requests.
    pub fn set_override(&self, org: &str, limits: Option<TenantLimits>) {
        let mut overrides = self.overrides.write().unwrap_or_else(|p| p.into_inner());
        match limits {
            Some(limits) => overrides.insert(org.to_owned(), limits),
            None => overrides.remove(org),
        };
        drop(overrides);
        self.gates
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(org);
    }

    /// Admits one request for `org`, or says why not.
    pub fn admit(&self, org: &str) -> Result<Admitted, Refusal> {
        let gate = self.gate(org);
        let slot = gate
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Concurrency(gate.limits.max_concurrent))?;
        if gate.limits.requests_per_second > 0 {
            let mut bucket = gate.bucket.lock().unwrap_or_else(|p| p.into_inner());
            if !bucket.take(Instant::now()) {
                return Err(Refusal::Rate(gate.limits.requests_per_second));
            }
        }
        Ok(Admitted { _slot: slot })
    }

    fn gate(&self, org: &str) -> Arc<Gate> {
        if let Some(gate) = self
            .gates
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(org)
        {
            return gate.clone();
        }
        let limits = self.limits(org);
        let mut gates = self.gates.write().unwrap_or_else(|p| p.into_inner());
        gates
            .entry(org.to_owned())
            .or_insert_with(|| {
                Arc::new(Gate {
                    limits,
                    in_flight: Arc::new(Semaphore::new(limits.max_concurrent as usize)),
                    bucket: Mutex::new(TokenBucket::new(
                        limits.requests_per_second,
                        limits.burst,
                        Instant::now(),
                    )),
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_concurrent: u32, requests_per_second: u32, burst: u32) -> TenantLimits {
        TenantLimits {
            max_concurrent,
            requests_per_second,
            burst,
            cpu_weight: NonZeroU32::MIN,
            kv_max_bytes: 1000,
            kv_max_keys: 10,
        }
    }

    #[test]
    fn concurrency_is_limited_per_org_and_released_on_drop() {
        let admission = Admission::new(limits(2, 0, 0));
        let a1 = admission.admit("a").unwrap();
        let _a2 = admission.admit("a").unwrap();
        assert_eq!(admission.admit("a").err(), Some(Refusal::Concurrency(2)));
        // Another org is unaffected.
        assert!(admission.admit("b").is_ok());
        drop(a1);
        assert!(admission.admit("a").is_ok());
    }

    #[test]
    fn overrides_apply_to_one_org_only() {
        let admission = Admission::new(limits(1, 0, 0));
        admission.set_override("big", Some(limits(3, 0, 0)));
        let _held: Vec<_> = (0..3).map(|_| admission.admit("big").unwrap()).collect();
        let _one = admission.admit("small").unwrap();
        assert!(admission.admit("small").is_err());
        assert_eq!(admission.limits("big").max_concurrent, 3);
        admission.set_override("big", None);
        assert_eq!(admission.limits("big").max_concurrent, 1);
    }

    #[test]
    fn overrides_overlay_the_defaults_field_by_field() {
        let defaults = limits(4, 0, 100);
        let older_record =
            serde_json::json!({ "max-concurrent": 8, "requests-per-second": 2, "burst": 5 });
        let overlaid = defaults.overlaid(&older_record).unwrap();
        assert_eq!(
            overlaid,
            TenantLimits {
                kv_max_bytes: 1000,
                kv_max_keys: 10,
                ..limits(8, 2, 5)
            }
        );
        let kv_only = defaults
            .overlaid(&serde_json::json!({ "kv-max-keys": 3 }))
            .unwrap();
        assert_eq!(
            kv_only,
            TenantLimits {
                kv_max_keys: 3,
                ..defaults
            }
        );
        assert_eq!(defaults.overlaid(&serde_json::json!({})).unwrap(), defaults);
        for bad in [
            serde_json::json!({ "kv-max-keys": 3, "x": 1 }),
            serde_json::json!({ "max-concurrent": -1 }),
            serde_json::json!({ "kv-max-bytes": "lots" }),
            serde_json::json!([1, 2]),
        ] {
            assert!(defaults.overlaid(&bad).is_err(), "{bad}");
        }
    }
}
