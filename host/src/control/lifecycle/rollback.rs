//! Rolling back: each upgrade keeps the version it replaced (its record
//! and package files); a rollback returns to it in one step — its package,
//! the grant the org had given it, its dependencies — with the plugin's
//! data and configuration untouched, checked against today's signature
//! policy and dependency graph. The version rolled back from becomes
//! the previous one in turn, so a rollback can itself be undone.
//!
//! Automatic rollback: once [watching](Lifecycle::watch_upgrades), an
//! upgrade of an active plugin serves on [probation](Probation); when too
//! many of its first requests fail, it is rolled back on its own, with the
//! reason in the audit log.

use super::install::{PlannedInstall, previous_version};
use super::{Lifecycle, LifecycleError, granted_permissions, parse_digest};
use crate::capabilities::coverage::narrowed;
use crate::common::settings::UpgradeSettings;
use crate::package::{Manifest, Package};
use crate::sandbox::probation::{Probation, ProbationPolicy};
use berth_storage::{Installation, PluginState, StorageError, unix_now};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};

/// Where tripped probations are sent, and the policy they follow.
pub(super) struct UpgradeWatch {
    policy: ProbationPolicy,
    trips: Mutex<Sender<Trip>>,
}

/// A tripped probation: which upgrade to roll back (its package and the
/// time it was made, so a later step's version is never rolled back), and why.
struct Trip {
    org: String,
    name: String,
    digest: String,
    updated_at: u64,
    reason: String,
}

impl Lifecycle {
    /// Returns `org`'s plugin `name` to its previous version, keeping its
    /// state: an active plugin's previous version runs `on-activate` and
    /// serves from the moment the step commits. `why` goes into the audit
    /// entry. Refused if there is no previous version, or if returning to
    /// it would break a dependency.
    pub fn rollback(
        &self,
        org: &str,
        name: &str,
        why: &str,
    ) -> Result<Installation, LifecycleError> {
        self.rollback_from(org, name, None, why)
    }

    /// [Rolls back](Self::rollback) if the installation is still the one
    /// `expected` names (package digest and `updated_at`, when given);
    /// else refused with `Conflict`.
    fn rollback_from(
        &self,
        org: &str,
        name: &str,
        expected: Option<(&str, u64)>,
        why: &str,
    ) -> Result<Installation, LifecycleError> {
        let writer = self.lock()?;
        let current = self.require_installation(org, name)?;
        let moved_on = expected.is_some_and(|(digest, updated_at)| {
            digest != current.digest || updated_at != current.updated_at
        });
        if moved_on {
            return Err(LifecycleError::Conflict(org.to_owned()));
        }
        let Some(target) = current.previous.clone() else {
            return Err(LifecycleError::NoPreviousVersion(name.to_owned()));
        };
        let manifest: Manifest = serde_json::from_value(target.manifest.clone())
            .map_err(|e| StorageError::Corrupt(format!("previous manifest of {name}: {e}")))?;
        let stays_active = current.state == PluginState::Active;
        self.check_dependencies(org, &manifest, stays_active)?;
        // Today's signature policy and trusted keys decide, as for an upload.
        self.ensure_package(&target.digest)?;
        let blob = self.packages.blob_path(&parse_digest(&target.digest)?);
        let zip = std::fs::read(&blob).map_err(StorageError::io("read", &blob))?;
        let signed_by = self.check_signature(org, &Package::parse(&zip, &self.limits)?)?;
        let current_edges = self.registry.read()?.dependency_edges(org, name)?;
        let installation = Installation {
            org: org.to_owned(),
            name: name.to_owned(),
            version: target.version.clone(),
            digest: target.digest.clone(),
            state: current.state,
            manifest: target.manifest.clone(),
            granted: restored_grant(&current, &manifest, &target.granted)?,
            installed_at: current.installed_at,
            updated_at: unix_now(),
            activated_at: current.activated_at,
            signed_by,
            previous: Some(Box::new(previous_version(&current, current_edges))),
        };
        let plugin = self.load(&installation)?;
        if stays_active {
            self.prepare_files(&installation)?;
        }
        let detail = format!("from {} to {}: {why}", current.version, target.version);
        self.commit_install(
            writer,
            PlannedInstall {
                installation,
                edges: target.edges,
                previous: Some(current),
                plugin,
                action: "rollback",
                detail,
                health_check: false,
            },
        )
    }
}

impl Lifecycle {
    /// Puts every later upgrade of an active plugin on probation under
    /// `settings`, and rolls back (on a thread of its own) those that trip
    /// it. Nothing if `settings` watch no requests.
    pub fn watch_upgrades(self: &Arc<Self>, settings: UpgradeSettings) {
        let Some(policy) =
            ProbationPolicy::new(settings.probation_requests, settings.max_error_ratio)
        else {
            return;
        };
        let (sender, trips) = channel::<Trip>();
        let watch = UpgradeWatch {
            policy,
            trips: Mutex::new(sender),
        };
        if self.upgrade_watch.set(watch).is_err() {
            return;
        }
        let lifecycle = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("berth-auto-rollback".into())
            .spawn(move || {
                for trip in trips {
                    let Some(lifecycle) = lifecycle.upgrade() else {
                        return;
                    };
                    let Trip {
                        org,
                        name,
                        digest,
                        updated_at,
                        reason,
                    } = trip;
                    let why = format!("automatic: {reason}");
                    let expected = Some((digest.as_str(), updated_at));
                    match lifecycle.rollback_from(&org, &name, expected, &why) {
                        Ok(back) => tracing::warn!(
                            org,
                            plugin = name,
                            version = back.version,
                            "rolled back automatically: {reason}"
                        ),
                        Err(e) => {
                            tracing::warn!(org, plugin = name, "automatic rollback not done: {e}")
                        }
                    }
                }
            })
            .expect("starting the automatic rollback thread");
    }

    /// Puts the just-upgraded, serving `installation` on probation, if
    /// upgrades are watched.
    pub(super) fn start_probation(&self, installation: &Installation) {
        let Some(watch) = self.upgrade_watch.get() else {
            return;
        };
        let (org, name) = (&installation.org, &installation.name);
        let Ok(mounted) = self.live.routes.resolve(org, name) else {
            return;
        };
        let trips = watch
            .trips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (org, name, digest) = (org.clone(), name.clone(), installation.digest.clone());
        let updated_at = installation.updated_at;
        let probation = Probation::new(watch.policy, move |reason| {
            let trip = Trip {
                org: org.clone(),
                name: name.clone(),
                digest: digest.clone(),
                updated_at,
                reason,
            };
            // The watcher is gone only when the server is stopping.
            let _ = trips.send(trip);
        });
        let _ = mounted.probation.set(probation);
    }
}

/// The grant a rollback restores: the one the org gave the previous
/// version — or, if that version was never granted anything and the
/// plugin is active now, the current grant cut to what the previous
/// version declares (never "everything it declares").
fn restored_grant(
    current: &Installation,
    previous: &Manifest,
    granted: &serde_json::Value,
) -> Result<serde_json::Value, LifecycleError> {
    if !granted.is_null() || current.state != PluginState::Active {
        return Ok(granted.clone());
    }
    let kept = narrowed(&granted_permissions(current)?, &previous.permissions);
    Ok(serde_json::to_value(kept).expect("permissions serialize"))
}
