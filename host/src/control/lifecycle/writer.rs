//! How lifecycle steps run side by side. One writer at a time checks and
//! commits — one per node, and on a shared registry one in the whole
//! cluster ([`Writer`] holds both locks) — but no step holds it while a
//! plugin's guest runs: a step that must run guests (`on-activate`, UI
//! `contributions()`) lets go, runs them, and takes it back to commit. Two
//! records make that safe:
//!
//! - the org's generation in the registry, bumped by every commit that
//!   touches the org (on any node), so the step can tell whether its org
//!   changed while its guests ran (then it commits nothing: 409 `conflict`).
//! - [`PendingFiles`]: package files a step stored and has not committed
//!   yet, which the clean-up of another step (in any org sharing the
//!   content-addressed files) must not remove meanwhile.

use berth_storage::WritersLock;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The writer lock, held: this node's, then the cluster's.
pub(super) struct Writer<'l> {
    _node: MutexGuard<'l, ()>,
    _cluster: WritersLock,
}

impl<'l> Writer<'l> {
    /// Holds `node` and `cluster` until dropped.
    pub(super) fn new(node: MutexGuard<'l, ()>, cluster: WritersLock) -> Self {
        Self {
            _node: node,
            _cluster: cluster,
        }
    }
}

/// Package digests whose files were stored by steps still in flight, with
/// how many steps each.
#[derive(Debug, Default)]
pub(super) struct PendingFiles {
    digests: Mutex<HashMap<String, usize>>,
}

impl PendingFiles {
    /// Keeps `digest`'s files until the returned pin drops. Take it under
    /// the writer lock, right after storing them.
    pub(super) fn pin(&self, digest: &str) -> Pin<'_> {
        *self.lock().entry(digest.to_owned()).or_default() += 1;
        Pin {
            pending: self,
            digest: digest.to_owned(),
        }
    }

    /// Whether a step in flight still needs `digest`'s files.
    pub(super) fn contains(&self, digest: &str) -> bool {
        self.lock().contains_key(digest)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.digests.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A step's hold on stored package files (see [`PendingFiles::pin`]).
pub(super) struct Pin<'p> {
    pending: &'p PendingFiles,
    digest: String,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        let mut digests = self.pending.lock();
        if let Some(count) = digests.get_mut(&self.digest) {
            *count -= 1;
            if *count == 0 {
                digests.remove(&self.digest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PendingFiles;

    #[test]
    fn files_stay_pending_until_every_pin_drops() {
        let pending = PendingFiles::default();
        let first = pending.pin("d1");
        let second = pending.pin("d1");
        drop(first);
        assert!(pending.contains("d1"));
        drop(second);
        assert!(!pending.contains("d1"));
    }
}
