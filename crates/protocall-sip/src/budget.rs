//! The transaction budget: how many SIP transactions the proxy may hold at
//! once, in total and per source address, so that neither a flood nor one
//! busy (or hostile) host can make it hold unbounded state.
//!
//! A [`TxnPermit`] is taken before a transaction is created and stored in
//! the transaction's record; dropping the record returns it (RAII), so no
//! code path can leak a slot. Trusted peers skip the per-source cap (a
//! carrier trunk carries the whole desk's calls) but not the total.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus::IntCounter;

use crate::net::TrustedPeers;

/// Per-source counters are split over this many locks so concurrent
/// workers rarely meet.
const SHARDS: usize = 64;

/// Transaction slots, shared by clones.
#[derive(Clone)]
pub struct TxnBudget {
    inner: Arc<Inner>,
}

struct Inner {
    /// Off (`security.enabled = false`): permits are handed out uncounted.
    enabled: bool,
    total: usize,
    per_source: usize,
    exempt: TrustedPeers,
    in_use: AtomicUsize,
    hasher: RandomState,
    /// Slots held per untrusted source; a source at zero has no entry, so
    /// the map never outgrows the transactions held.
    shards: Box<[Mutex<HashMap<IpAddr, usize>>]>,
    /// `protocall_requests_dropped_total{reason="txn_cap"}`.
    refused: IntCounter,
}

/// One transaction slot, returned when dropped.
pub struct TxnPermit {
    inner: Arc<Inner>,
    /// The source whose per-source count this permit holds, when it holds
    /// one (untrusted sources only).
    source: Option<IpAddr>,
    counted: bool,
}

impl std::fmt::Debug for TxnPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxnPermit")
            .field("source", &self.source)
            .field("counted", &self.counted)
            .finish()
    }
}

impl TxnBudget {
    /// At most `total` transactions, and `per_source` from any one source
    /// outside `exempt`. Refusals count on `refused`.
    pub fn new(
        total: usize,
        per_source: usize,
        exempt: TrustedPeers,
        refused: IntCounter,
    ) -> TxnBudget {
        Self::build(true, total, per_source, exempt, refused)
    }

    /// A budget that never refuses (the guard switched off).
    pub fn unlimited(refused: IntCounter) -> TxnBudget {
        Self::build(
            false,
            usize::MAX,
            usize::MAX,
            TrustedPeers::default(),
            refused,
        )
    }

    fn build(
        enabled: bool,
        total: usize,
        per_source: usize,
        exempt: TrustedPeers,
        refused: IntCounter,
    ) -> TxnBudget {
        TxnBudget {
            inner: Arc::new(Inner {
                enabled,
                total,
                per_source,
                exempt,
                in_use: AtomicUsize::new(0),
                hasher: RandomState::new(),
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                refused,
            }),
        }
    }

    /// A slot for a transaction from `src`, or `None` (counted as
    /// `txn_cap`) when the total or the source's share is used up.
    pub fn try_acquire(&self, src: IpAddr) -> Option<TxnPermit> {
        let inner = &self.inner;
        if !inner.enabled {
            return Some(TxnPermit {
                inner: inner.clone(),
                source: None,
                counted: false,
            });
        }
        // Taken only when below the cap, so the count never overshoots.
        let took = inner
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < inner.total).then_some(n + 1)
            });
        if took.is_err() {
            inner.refused.inc();
            return None;
        }
        let src = src.to_canonical();
        if inner.exempt.contains(src) {
            return Some(TxnPermit {
                inner: inner.clone(),
                source: None,
                counted: true,
            });
        }
        {
            let mut shard = inner.shard(src);
            if shard.get(&src).copied().unwrap_or(0) < inner.per_source {
                *shard.entry(src).or_insert(0) += 1;
                return Some(TxnPermit {
                    inner: inner.clone(),
                    source: Some(src),
                    counted: true,
                });
            }
        }
        inner.in_use.fetch_sub(1, Ordering::AcqRel);
        inner.refused.inc();
        None
    }

    /// Slots held now (0 when the budget is unlimited).
    pub fn in_use(&self) -> usize {
        self.inner.in_use.load(Ordering::Acquire)
    }

    /// Slots held now by `src`.
    pub fn in_use_by(&self, src: IpAddr) -> usize {
        let src = src.to_canonical();
        self.inner.shard(src).get(&src).copied().unwrap_or(0)
    }
}

impl Inner {
    fn shard(&self, ip: IpAddr) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        let i = (self.hasher.hash_one(ip) as usize) % self.shards.len();
        // A panic elsewhere while holding the lock left plain counters: use them.
        #[allow(clippy::indexing_slicing, reason = "i < len: the modulo above")]
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for TxnPermit {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        if let Some(src) = self.source {
            let mut shard = self.inner.shard(src);
            if let Some(held) = shard.get_mut(&src) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    shard.remove(&src);
                }
            }
        }
        self.inner.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn budget(total: usize, per_source: usize, trusted: &[&str]) -> (TxnBudget, IntCounter) {
        let refused = IntCounter::new("refused", "refused").unwrap();
        let b = TxnBudget::new(
            total,
            per_source,
            TrustedPeers::parse(trusted).unwrap(),
            refused.clone(),
        );
        (b, refused)
    }

    #[test]
    fn per_source_cap_refuses_the_excess_and_counts_it() {
        let (b, refused) = budget(100, 3, &[]);
        let held: Vec<_> = (0..3)
            .map(|_| b.try_acquire(ip("192.0.2.1")).unwrap())
            .collect();
        assert!(b.try_acquire(ip("192.0.2.1")).is_none());
        assert_eq!(refused.get(), 1);
        // Another source is not affected by the first one's share.
        assert!(b.try_acquire(ip("192.0.2.2")).is_some());
        assert_eq!(b.in_use_by(ip("192.0.2.1")), 3);
        drop(held);
        assert_eq!(b.in_use_by(ip("192.0.2.1")), 0);
        assert!(b.try_acquire(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn total_cap_binds_everyone_and_drop_releases() {
        let (b, refused) = budget(4, 3, &["10.0.0.0/8"]);
        let mut held = vec![
            b.try_acquire(ip("192.0.2.1")).unwrap(),
            b.try_acquire(ip("192.0.2.2")).unwrap(),
            b.try_acquire(ip("10.1.1.1")).unwrap(),
            b.try_acquire(ip("10.1.1.1")).unwrap(),
        ];
        assert_eq!(b.in_use(), 4);
        // Full: a trusted peer is refused too, and a failed attempt
        // holds nothing.
        assert!(b.try_acquire(ip("10.1.1.1")).is_none());
        assert!(b.try_acquire(ip("192.0.2.3")).is_none());
        assert_eq!(refused.get(), 2);
        assert_eq!(b.in_use(), 4);
        held.pop();
        assert_eq!(b.in_use(), 3);
        assert!(b.try_acquire(ip("192.0.2.3")).is_some());
    }

    #[test]
    fn trusted_peers_skip_the_per_source_cap() {
        let (b, refused) = budget(100, 2, &["10.0.0.0/8"]);
        let held: Vec<_> = (0..50)
            .map(|_| b.try_acquire(ip("10.1.1.1")).unwrap())
            .collect();
        assert_eq!(held.len(), 50);
        assert_eq!(refused.get(), 0);
        assert_eq!(b.in_use_by(ip("10.1.1.1")), 0);
    }

    #[test]
    fn mapped_ipv6_counts_as_its_ipv4_source() {
        let (b, _) = budget(100, 1, &[]);
        let _p = b.try_acquire(ip("192.0.2.9")).unwrap();
        assert!(b.try_acquire(ip("::ffff:192.0.2.9")).is_none());
    }

    #[test]
    fn unlimited_never_refuses() {
        let refused = IntCounter::new("refused", "refused").unwrap();
        let b = TxnBudget::unlimited(refused.clone());
        let held: Vec<_> = (0..1000)
            .map(|_| b.try_acquire(ip("192.0.2.1")).unwrap())
            .collect();
        assert_eq!(held.len(), 1000);
        assert_eq!(refused.get(), 0);
    }

    #[test]
    fn permits_from_many_threads_all_come_back() {
        let (b, _) = budget(64, 64, &[]);
        std::thread::scope(|s| {
            for t in 0..4 {
                let b = b.clone();
                s.spawn(move || {
                    let src = IpAddr::from([192, 0, 2, t]);
                    for _ in 0..2000 {
                        let p = b.try_acquire(src);
                        drop(p);
                    }
                });
            }
        });
        assert_eq!(b.in_use(), 0);
        assert!(b.try_acquire(ip("192.0.2.1")).is_some());
    }
}
