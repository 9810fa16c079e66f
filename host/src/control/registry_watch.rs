//! Following a shared registry: what other nodes commit is applied to what
//! this node serves, and whether this node is in step is its readiness
//! (`/readyz`). A lone node's registry is its own, so it is always ready.

use crate::control::lifecycle::Lifecycle;
use berth_storage::RegistryEvent;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Starts applying `events` to `lifecycle` (on the current runtime);
/// unready until the first full sync is done, and whenever the registry
/// is lost until it is back and synced again.
pub fn follow(
    lifecycle: Arc<Lifecycle>,
    mut events: UnboundedReceiver<RegistryEvent>,
) -> Readiness {
    let readiness = Readiness(Arc::new(AtomicBool::new(false)));
    let ready = readiness.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let lifecycle = lifecycle.clone();
            match event {
                RegistryEvent::Lost => {
                    if ready.is_ready() {
                        tracing::warn!("registry unreachable: serving what this node has");
                    }
                    ready.set(false);
                }
                RegistryEvent::Resync => {
                    let synced = tokio::task::spawn_blocking(move || lifecycle.sync_all()).await;
                    match synced {
                        Ok(Ok(())) => {
                            tracing::info!("in step with the registry");
                            ready.set(true);
                        }
                        Ok(Err(e)) => tracing::error!("syncing with the registry: {e}"),
                        Err(e) => tracing::error!("syncing with the registry: {e}"),
                    }
                }
                RegistryEvent::Changed(org) => {
                    let synced =
                        tokio::task::spawn_blocking(move || lifecycle.sync_org(&org)).await;
                    if let Ok(Err(e)) = synced {
                        tracing::error!("syncing an org with the registry: {e}");
                    }
                }
            }
        }
    });
    readiness
}
