//! How lifecycle steps run side by side. One writer at a time checks and
//! commits, but no step holds it while a plugin's guest runs: a step that
//! must run guests (`on-activate`, UI `contributions()`) lets go, runs them,
//! and takes it back to commit. Two records make that safe:
//!
//! - [`Changes`], behind the writer lock: a generation per org, bumped by
//!   every commit that touches the org, so the step can tell whether its org
//!   changed while its guests ran (then it commits nothing: 409 `conflict`).
//! - [`PendingFiles`]: package files a step stored and has not committed
//!   yet, which the clean-up of another step (in any org sharing the
//!   content-addressed files) must not remove meanwhile.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// What commits have changed, per org; held as the writer lock.
#[derive(Debug, Default)]
pub(super) struct Changes {
    generations: HashMap<String, u64>,
}

impl Changes {
    /// How many commits have changed `org` since berth started.
    pub(super) fn generation(&self, org: &str) -> u64 {
        self.generations.get(org).copied().unwrap_or(0)
    }

    /// Records that a commit changed `org`.
    pub(super) fn changed(&mut self, org: &str) {
        *self.generations.entry(org.to_owned()).or_default() += 1;
    }
}

/// The writer lock, held: the steps' shared [`Changes`].
pub(super) type Writer<'l> = MutexGuard<'l, Changes>;

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
    use super::{Changes, PendingFiles};

    #[test]
    fn generations_count_changes_per_org() {
        let mut changes = Changes::default();
        assert_eq!(changes.generation("acme"), 0);
        changes.changed("acme");
        changes.changed("acme");
        assert_eq!(changes.generation("acme"), 2);
        assert_eq!(changes.generation("beta"), 0);
    }

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
