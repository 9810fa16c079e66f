//! Following a shared registry: what other nodes commit is applied to what
//! this node serves, and whether this node is in step is its readiness
//! (`/readyz`). A lone node's registry is its own, so it is always ready.

use crate::control::lifecycle::{Lifecycle, LifecycleError};
use berth_storage::RegistryEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Whether this node is in step with the registry.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Always ready: a node whose registry is its own.
    pub fn always() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Whether this node serves what the registry says, as far as it knows.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
}

/// How long after a failed sync everything is synced again.
const RETRY: Duration = Duration::from_secs(1);

/// Starts applying `events` to `lifecycle` (on the current runtime):
/// unready until the first full sync is done, and whenever the registry
/// is lost or a sync fails, until a full sync (retried every second)
/// succeeds.
pub fn follow(
    lifecycle: Arc<Lifecycle>,
    mut events: UnboundedReceiver<RegistryEvent>,
) -> Readiness {
    let readiness = Readiness(Arc::new(AtomicBool::new(false)));
    let ready = readiness.clone();
    tokio::spawn(async move {
        // When to sync everything again, while connected and out of step.
        let mut resync_at: Option<Instant> = None;
        loop {
            let due = async {
                match resync_at {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                event = events.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
                () = due => RegistryEvent::Resync,
            };
            let (synced, whole) = match event {
                RegistryEvent::Lost => {
                    if ready.is_ready() {
                        tracing::warn!("registry unreachable: serving what this node has");
                    }
                    ready.set(false);
                    resync_at = None;
                    continue;
                }
                RegistryEvent::Resync => (sync(&lifecycle, |l| l.sync_all()).await, true),
                RegistryEvent::Changed(org) => {
                    (sync(&lifecycle, move |l| l.sync_org(&org)).await, false)
                }
            };
            if !synced {
                ready.set(false);
                resync_at = Some(Instant::now() + RETRY);
            } else if whole {
                // One org's sync leaves a pending whole one pending.
                resync_at = None;
                if !ready.is_ready() {
                    tracing::info!("in step with the registry");
                }
                ready.set(true);
            }
        }
    });
    readiness
}

/// Runs `step` on a blocking thread; whether it succeeded (failures are
/// logged).
async fn sync(
    lifecycle: &Arc<Lifecycle>,
    step: impl FnOnce(&Lifecycle) -> Result<(), LifecycleError> + Send + 'static,
) -> bool {
    let lifecycle = lifecycle.clone();
    match tokio::task::spawn_blocking(move || step(&lifecycle)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!("not in step with the registry: {e}");
            false
        }
        Err(e) => {
            tracing::error!("syncing with the registry: {e}");
            false
        }
    }
}
