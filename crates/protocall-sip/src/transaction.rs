//! Transaction plumbing (RFC 3261 §17): keys, branches, timer values and
//! the sharded table the proxy keeps its state in.
//!
//! Every transaction of one call (INVITE, its CANCEL and ACK, the BYE, and
//! the responses to all of them) lands in the same shard, chosen by the
//! Call-ID, so one short critical section sees all of a call's state and no
//! code path ever holds two shard locks. Timers live in a min-heap per
//! shard; a transaction has a generation number and a timer entry whose
//! generation no longer matches is simply skipped, which makes cancelling a
//! timer free.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use super::message::{Method, SipMessage};

/// RFC 3261's magic cookie: a branch starting with it is globally unique.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The timer base values (RFC 3261 §17.1.1.1, Table 4), configurable
/// because links with long round trips need a larger T1.
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    /// Timer C (§16.6 step 11): how long a proxied INVITE may ring with
    /// provisional responses before the proxy cancels it. More than three
    /// minutes by the RFC; routing asks for shorter per-branch ring timeouts.
    pub timer_c: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Duration::from_secs(181),
        }
    }
}

impl Timers {
    /// 64·T1: timers B, F, H, J, L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// The next retransmission interval after `current` for a non-INVITE
    /// request or an INVITE's non-2xx response (doubling, capped at T2).
    pub fn backoff_capped(&self, current: Duration) -> Duration {
        (current * 2).min(self.t2)
    }
}

/// Milliseconds on a monotonic clock; the proxy's unit of time.
pub type Millis = u64;

pub fn ms(d: Duration) -> Millis {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// How a server transaction is recognised (§17.2.3), with the RFC 2543
/// fallback for branches without the magic cookie (§17.2.3, last
/// paragraphs). ACK is folded into INVITE so it finds its transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    Branch {
        branch: Bytes,
        sent_by: Bytes,
        method: KeyMethod,
    },
    Legacy {
        call_id: Bytes,
        from_tag: Bytes,
        cseq: u32,
        via: Bytes,
        request_uri: Bytes,
        method: KeyMethod,
    },
}

/// The method part of a key: ACK matches INVITE, CANCEL has its own
/// transaction, anything else is "other" with its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyMethod {
    Invite,
    Cancel,
    Other(Bytes),
}

impl KeyMethod {
    pub fn of(m: &Method) -> KeyMethod {
        match m {
            Method::Invite | Method::Ack => KeyMethod::Invite,
            Method::Cancel => KeyMethod::Cancel,
            other => KeyMethod::Other(Bytes::copy_from_slice(other.as_bytes())),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("request has no usable top Via")]
    Via,
    #[error("request has no usable CSeq")]
    CSeq,
    #[error("request is not a request")]
    NotRequest,
}

impl ServerKey {
    /// The key of the server transaction `req` belongs to. `as_method`
    /// overrides the method (a CANCEL looks for its INVITE with `INVITE`).
    pub fn of(req: &SipMessage, as_method: Option<KeyMethod>) -> Result<ServerKey, KeyError> {
        let method = req.method().ok_or(KeyError::NotRequest)?;
        let method = as_method.unwrap_or_else(|| KeyMethod::of(&method));
        let via = req.top_via().map_err(|_| KeyError::Via)?;
        match via.branch {
            Some(b) if b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE.as_bytes()) => {
                let mut sent_by = via.host.to_vec();
                if let Some(p) = via.port {
                    sent_by.extend_from_slice(format!(":{p}").as_bytes());
                }
                // Owned copies: a slice would keep the whole received
                // datagram alive for as long as the transaction (32 s).
                Ok(ServerKey::Branch {
                    branch: Bytes::copy_from_slice(&b),
                    sent_by: Bytes::from(sent_by),
                    method,
                })
            }
            _ => {
                let (cseq, _) = req.cseq().map_err(|_| KeyError::CSeq)?;
                let own = |b: Bytes| Bytes::copy_from_slice(&b);
                Ok(ServerKey::Legacy {
                    call_id: own(req.call_id().unwrap_or_default()),
                    from_tag: own(req.from_tag().ok().flatten().unwrap_or_default()),
                    cseq,
                    via: own(via.raw),
                    request_uri: Bytes::copy_from_slice(req.request_uri().unwrap_or_default()),
                    method,
                })
            }
        }
    }
}

/// Branch values we put in our Via: the cookie, a per-process random
/// prefix (so two proxies never collide) and a counter.
pub struct BranchGen {
    prefix: String,
    next: AtomicU64,
}

impl BranchGen {
    pub fn new() -> BranchGen {
        let mut seed = [0u8; 6];
        // A fixed prefix still yields unique branches within this process;
        // randomness only protects against another instance's.
        let _ = getrandom::getrandom(&mut seed);
        BranchGen {
            prefix: format!("{MAGIC_COOKIE}pc{}", hex::encode(seed)),
            next: AtomicU64::new(1),
        }
    }

    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}.{n:x}", self.prefix)
    }

    /// Whether a branch is one of ours (a response carrying it is for us).
    pub fn is_ours(&self, branch: &[u8]) -> bool {
        branch.starts_with(self.prefix.as_bytes())
    }
}

impl Default for BranchGen {
    fn default() -> Self {
        Self::new()
    }
}

/// A timer entry: fire `id` at `at` if its generation still matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerEntry<I: Ord> {
    pub at: Millis,
    pub generation: u64,
    pub id: I,
}

/// One shard: the caller's state `S` plus a timer heap over ids `I`.
pub struct Shard<S, I: Ord> {
    pub state: S,
    timers: BinaryHeap<Reverse<TimerEntry<I>>>,
}

impl<S, I: Ord + Clone> Shard<S, I> {
    pub fn arm(&mut self, at: Millis, generation: u64, id: I) {
        self.timers.push(Reverse(TimerEntry { at, generation, id }));
    }

    /// Pops the next timer due at or before `now`.
    pub fn pop_due(&mut self, now: Millis) -> Option<TimerEntry<I>> {
        match self.timers.peek() {
            Some(Reverse(e)) if e.at <= now => self.timers.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub fn timers_len(&self) -> usize {
        self.timers.len()
    }
}

impl<S, I: Ord> Shard<S, I> {
    /// When the next timer is due (`NO_TIMER` when none is armed).
    fn next_due(&self) -> Millis {
        self.timers.peek().map_or(NO_TIMER, |Reverse(e)| e.at)
    }
}

/// A shard's published deadline when it has no timer armed.
const NO_TIMER: Millis = Millis::MAX;

/// A locked shard. Unlocking publishes the shard's next deadline, so the
/// timer tick can skip shards with nothing due without locking them: an
/// idle proxy's tick reads 1,024 atomics instead of taking 1,024 locks
/// every 10 ms.
pub struct ShardGuard<'a, S, I: Ord> {
    guard: MutexGuard<'a, Shard<S, I>>,
    due: &'a AtomicU64,
}

impl<S, I: Ord> std::ops::Deref for ShardGuard<'_, S, I> {
    type Target = Shard<S, I>;
    fn deref(&self) -> &Shard<S, I> {
        &self.guard
    }
}

impl<S, I: Ord> std::ops::DerefMut for ShardGuard<'_, S, I> {
    fn deref_mut(&mut self) -> &mut Shard<S, I> {
        &mut self.guard
    }
}

impl<S, I: Ord> Drop for ShardGuard<'_, S, I> {
    fn drop(&mut self) {
        // Still under the lock: a timer armed by the next holder is
        // published by that holder's unlock, never overwritten by ours.
        self.due.store(self.guard.next_due(), Ordering::Release);
    }
}

/// A fixed array of shards picked by hashing a call's Call-ID.
pub struct Table<S, I: Ord> {
    shards: Box<[Mutex<Shard<S, I>>]>,
    /// Each shard's next timer deadline, published when it is unlocked.
    due: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl<S: Default, I: Ord + Clone> Table<S, I> {
    pub fn new(shards: usize) -> Table<S, I> {
        let n = shards.max(1).next_power_of_two();
        Table {
            shards: (0..n)
                .map(|_| {
                    Mutex::new(Shard {
                        state: S::default(),
                        timers: BinaryHeap::new(),
                    })
                })
                .collect(),
            due: (0..n).map(|_| AtomicU64::new(NO_TIMER)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub fn shard_of(&self, call_id: &[u8]) -> usize {
        (self.hasher.hash_one(call_id) as usize) & (self.shards.len() - 1)
    }

    /// Locks shard `i`. A poisoned lock (a panic elsewhere) is recovered:
    /// the state is plain data and a proxy that stops forwarding is worse.
    pub fn lock(&self, i: usize) -> ShardGuard<'_, S, I> {
        let i = if i < self.shards.len() { i } else { 0 };
        match (self.shards.get(i), self.due.get(i)) {
            (Some(m), Some(due)) => ShardGuard {
                guard: m.lock().unwrap_or_else(PoisonError::into_inner),
                due,
            },
            _ => unreachable_shard(),
        }
    }

    /// Whether shard `i` may have a timer due at `now`, read without
    /// locking it (as last published by an unlock).
    pub fn may_be_due(&self, i: usize, now: Millis) -> bool {
        self.due
            .get(i)
            .is_some_and(|d| d.load(Ordering::Acquire) <= now)
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}

#[cold]
fn unreachable_shard() -> ! {
    // `new` always makes at least one shard.
    std::process::abort()
}

/// Shard state: a map and nothing else, for tables that need no more.
pub type MapShard<K, V> = HashMap<K, V>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn req(text: &str) -> SipMessage {
        parse(Bytes::copy_from_slice(text.as_bytes()), true).unwrap()
    }

    const INVITE: &str = "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h:5062;branch=z9hG4bK77\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c1\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn ack_and_cancel_find_their_invite() {
        let inv = ServerKey::of(&req(INVITE), None).unwrap();
        let ack = req(&INVITE
            .replace("INVITE sip", "ACK sip")
            .replace("5 INVITE", "5 ACK"));
        assert_eq!(ServerKey::of(&ack, None).unwrap(), inv);
        let cancel = req(&INVITE
            .replace("INVITE sip", "CANCEL sip")
            .replace("5 INVITE", "5 CANCEL"));
        let ck = ServerKey::of(&cancel, None).unwrap();
        assert_ne!(ck, inv, "CANCEL is its own transaction");
        assert_eq!(
            ServerKey::of(&cancel, Some(KeyMethod::Invite)).unwrap(),
            inv
        );
    }

    #[test]
    fn rfc2543_branches_fall_back_to_dialog_fields() {
        let old = req(&INVITE.replace("branch=z9hG4bK77", "branch=1234"));
        assert!(matches!(
            ServerKey::of(&old, None).unwrap(),
            ServerKey::Legacy { cseq: 5, .. }
        ));
        let retrans = req(&INVITE.replace("branch=z9hG4bK77", "branch=1234"));
        assert_eq!(
            ServerKey::of(&old, None).unwrap(),
            ServerKey::of(&retrans, None).unwrap()
        );
    }

    #[test]
    fn an_unlock_publishes_the_next_deadline() {
        let t: Table<MapShard<u32, u32>, u32> = Table::new(4);
        assert!((0..4).all(|i| !t.may_be_due(i, u64::MAX - 1)));
        {
            let mut s = t.lock(2);
            s.arm(200, 1, 7);
            s.arm(100, 1, 8);
            // Not published while the shard is held.
            assert!(!t.may_be_due(2, 1_000));
        }
        assert!(!t.may_be_due(2, 99));
        assert!(t.may_be_due(2, 100));
        assert!(!t.may_be_due(1, 1_000), "other shards stay idle");
        {
            let mut s = t.lock(2);
            assert_eq!(s.pop_due(150).map(|e| e.id), Some(8));
        }
        assert!(!t.may_be_due(2, 150));
        assert!(t.may_be_due(2, 200));
        {
            let mut s = t.lock(2);
            assert!(s.pop_due(200).is_some());
        }
        assert!(!t.may_be_due(2, u64::MAX - 1));
    }

    #[test]
    fn branches_are_unique_and_recognised() {
        let g = BranchGen::new();
        let a = g.next();
        let b = g.next();
        assert_ne!(a, b);
        assert!(a.starts_with(MAGIC_COOKIE));
        assert!(g.is_ours(a.as_bytes()));
        assert!(!BranchGen::new().is_ours(a.as_bytes()));
    }

    #[test]
    fn timer_heap_pops_in_order_and_only_when_due() {
        let t: Table<(), u32> = Table::new(4);
        let mut s = t.lock(0);
        s.arm(30, 1, 3);
        s.arm(10, 1, 1);
        s.arm(20, 1, 2);
        assert_eq!(s.pop_due(5), None);
        assert_eq!(s.pop_due(25).map(|e| e.id), Some(1));
        assert_eq!(s.pop_due(25).map(|e| e.id), Some(2));
        assert_eq!(s.pop_due(25), None);
        assert_eq!(s.timers_len(), 1);
    }

    #[test]
    fn backoff_caps_at_t2() {
        let t = Timers::default();
        let mut d = t.t1;
        for _ in 0..10 {
            d = t.backoff_capped(d);
        }
        assert_eq!(d, t.t2);
        assert_eq!(t.t1x64(), Duration::from_secs(32));
    }
}
