//! Protocols changed since routing's snapshot last saw them: writers mark
//! a protocol's id, and the task that keeps the snapshot fresh patches just
//! those protocols into it (`SharedDirectory::patch_protocols`) instead of
//! reloading the whole directory. Marks made while a patch is running are
//! kept for the next one, so a burst of events costs a few small patches.
//!
//! Each mark gets a sequence number, and the task publishes the highest
//! one it has patched in, so a writer can wait until routing sees its
//! change: a call placed right after an event is answered rings the new
//! owner.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

#[derive(Clone)]
pub struct ProtocolChanges {
    inner: Arc<Inner>,
}

struct Inner {
    marked: Mutex<Marked>,
    notify: Notify,
    patched: watch::Sender<u64>,
}

#[derive(Default)]
struct Marked {
    ids: BTreeSet<i64>,
    seq: u64,
}

/// Protocols to patch in, and the last mark they cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub ids: Vec<i64>,
    pub upto: u64,
}

impl Default for ProtocolChanges {
    fn default() -> Self {
        ProtocolChanges {
            inner: Arc::new(Inner {
                marked: Mutex::default(),
                notify: Notify::new(),
                patched: watch::channel(0).0,
            }),
        }
    }
}

impl std::fmt::Debug for ProtocolChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolChanges").finish_non_exhaustive()
    }
}

impl ProtocolChanges {
    /// Protocol `id` changed in the store (after the commit); returns the
    /// mark's sequence number, for [`ProtocolChanges::seen`].
    pub fn mark(&self, id: i64) -> u64 {
        let seq = {
            let mut m = self.inner.marked.lock().unwrap_or_else(|p| p.into_inner());
            m.ids.insert(id);
            m.seq += 1;
            m.seq
        };
        // Keeps a permit when nobody waits, so no mark is missed.
        self.inner.notify.notify_one();
        seq
    }

    /// Waits for marks and takes them all. Cancel-safe: ids are only
    /// taken by a call that returns them.
    pub async fn next_batch(&self) -> Batch {
        loop {
            {
                let mut m = self.inner.marked.lock().unwrap_or_else(|p| p.into_inner());
                if !m.ids.is_empty() {
                    let ids = std::mem::take(&mut m.ids).into_iter().collect();
                    return Batch { ids, upto: m.seq };
                }
            }
            self.inner.notify.notified().await;
        }
    }

    /// The snapshot now holds every mark up to `upto` (patched in, or
    /// given up on after an error, which the next reload mends).
    pub fn patched(&self, upto: u64) {
        self.inner.patched.send_if_modified(|v| {
            let newer = upto > *v;
            if newer {
                *v = upto;
            }
            newer
        });
    }

    /// The last mark the snapshot holds.
    pub fn patched_upto(&self) -> u64 {
        *self.inner.patched.borrow()
    }

    /// Waits, at most `limit`, until mark `seq` is in routing's snapshot;
    /// whether it is.
    pub async fn seen(&self, seq: u64, limit: Duration) -> bool {
        let mut rx = self.inner.patched.subscribe();
        let seen = tokio::time::timeout(limit, rx.wait_for(|v| *v >= seq))
            .await
            .is_ok_and(|r| r.is_ok());
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn marks_before_the_wait_are_not_lost() {
        let c = ProtocolChanges::default();
        c.mark(3);
        c.mark(1);
        let seq = c.mark(3);
        let b = c.next_batch().await;
        assert_eq!(
            b,
            Batch {
                ids: vec![1, 3],
                upto: seq
            }
        );
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.next_batch().await }
        });
        c.mark(7);
        assert_eq!(waiter.await.unwrap().ids, vec![7]);
    }

    #[tokio::test]
    async fn a_writer_waits_for_its_patch() {
        let c = ProtocolChanges::default();
        let seq = c.mark(1);
        assert!(!c.seen(seq, Duration::from_millis(10)).await);
        let patcher = tokio::spawn({
            let c = c.clone();
            async move {
                let b = c.next_batch().await;
                c.patched(b.upto);
            }
        });
        assert!(c.seen(seq, Duration::from_secs(5)).await);
        patcher.await.unwrap();
    }
}
