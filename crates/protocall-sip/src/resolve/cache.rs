//! Answers kept per name, with their expiry and when to ask again.
//!
//! Reading is synchronous and takes a read lock only: the hot path never
//! waits for DNS, it gets what is here and, when nothing usable is, a
//! request for a resolution (the caller hands the query to the worker).
//! Time is passed in, so expiry is tested without sleeping.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::rfc3263::{Query, Resolved, Unresolved};
use crate::transport::Outbound;

/// TTL bounds and limits (see `config::SipDnsSettings`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub floor: Duration,
    pub ceiling: Duration,
    pub negative: Duration,
    pub max_names: usize,
}

/// A failed refresh of a still-valid answer is tried again this soon.
const RETRY: Duration = Duration::from_secs(5);
/// A resolution that has not reported back after this long is taken as
/// lost (its task died, or its query was never handed over) and asked
/// again, so a name can never stay "in flight" for ever.
const LOST_MS: u64 = 60_000;

/// What the cache holds for a name right now.
#[derive(Debug, Clone)]
pub enum Cached {
    Ready(Arc<[Outbound]>),
    /// Asked, no answer yet.
    Pending,
    Failed(Arc<Unresolved>),
}

struct Entry {
    good: Option<Arc<[Outbound]>>,
    /// When `good` stops being usable.
    expires_at: Instant,
    /// When to ask again (before `expires_at` for a good answer).
    refresh_at: Instant,
    failure: Option<Arc<Unresolved>>,
    in_flight: AtomicBool,
    /// When `in_flight` was last set (same clock as `last_used`).
    asked_ms: AtomicU64,
    /// Configured targets are kept fresh for ever; the rest only while used.
    pinned: bool,
    /// Milliseconds since the cache's epoch; atomic so reads stay shared.
    last_used: AtomicU64,
    /// When the last outcome was stored (same clock as `last_used`).
    stored_ms: u64,
}

pub struct Cache {
    limits: Limits,
    epoch: Instant,
    map: RwLock<HashMap<Query, Entry>>,
}

/// What [`Cache::get`] found, and whether a resolution should start.
pub struct Got {
    pub cached: Cached,
    /// True when the caller must hand the query to the worker (the entry
    /// is marked in flight, so only one caller is told).
    pub ask: bool,
}

impl Cache {
    pub fn new(limits: Limits) -> Cache {
        Cache {
            limits,
            epoch: Instant::now(),
            map: RwLock::new(HashMap::new()),
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The answer for `q` as of `now`. Never blocks on DNS.
    pub fn get(&self, q: &Query, now: Instant) -> Got {
        {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = map.get(q) {
                e.last_used.store(self.ms(now), Ordering::Relaxed);
                let due = now >= e.refresh_at;
                let ask = due
                    && e.in_flight
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok();
                if ask {
                    e.asked_ms.store(self.ms(now), Ordering::Relaxed);
                }
                let cached = match (&e.good, &e.failure) {
                    (Some(g), _) if now < e.expires_at => Cached::Ready(g.clone()),
                    (_, Some(f)) => Cached::Failed(f.clone()),
                    _ => Cached::Pending,
                };
                return Got { cached, ask };
            }
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(q) {
            drop(map);
            return self.get(q, now);
        }
        self.make_room(&mut map);
        map.insert(q.clone(), self.fresh_entry(now, false));
        Got {
            cached: Cached::Pending,
            ask: true,
        }
    }

    fn fresh_entry(&self, now: Instant, pinned: bool) -> Entry {
        Entry {
            good: None,
            expires_at: now,
            refresh_at: now + self.limits.negative,
            failure: None,
            in_flight: AtomicBool::new(true),
            asked_ms: AtomicU64::new(self.ms(now)),
            pinned,
            last_used: AtomicU64::new(self.ms(now)),
            stored_ms: self.ms(now),
        }
    }

    /// Evicts the least recently used unpinned name when the unpinned ones
    /// fill `max_names`.
    fn make_room(&self, map: &mut HashMap<Query, Entry>) {
        let unpinned = map.values().filter(|e| !e.pinned).count();
        if unpinned < self.limits.max_names {
            return;
        }
        let victim = map
            .iter()
            .filter(|(_, e)| !e.pinned)
            .min_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed))
            .map(|(q, _)| q.clone());
        if let Some(v) = victim {
            map.remove(&v);
        }
    }

    /// Records a resolution's outcome.
    pub fn store(&self, q: &Query, outcome: Result<Resolved, Unresolved>, now: Instant) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let Some(e) = map.get_mut(q) else {
            // Evicted or unpinned while the query ran: nobody wants it.
            return;
        };
        e.in_flight.store(false, Ordering::Release);
        e.stored_ms = self.ms(now);
        match outcome {
            Ok(r) => {
                let ttl = Duration::from_secs(u64::from(r.ttl))
                    .clamp(self.limits.floor, self.limits.ceiling);
                e.good = Some(r.targets.into());
                e.failure = None;
                e.expires_at = now + ttl;
                // Asked again at three quarters of the TTL, so the answer
                // is replaced before it expires even if DNS is slow.
                e.refresh_at = now + ttl.mul_f64(0.75);
            }
            Err(u) => {
                e.failure = Some(Arc::new(u));
                if e.good.is_some() && now < e.expires_at {
                    // Keep the valid answer; try again soon, within its TTL.
                    e.refresh_at = (now + RETRY).min(e.expires_at);
                } else {
                    e.good = None;
                    e.refresh_at = now + self.limits.negative;
                }
            }
        }
    }

    /// Names due for a refresh: pinned ones always, others only if used
    /// since their answer was stored (an unused name is left to expire).
    /// They are marked in flight. Expired, unused, unpinned names are
    /// dropped.
    pub fn due(&self, now: Instant) -> Vec<Query> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let now_ms = self.ms(now);
        let idle = u64::try_from(self.limits.ceiling.as_millis()).unwrap_or(u64::MAX);
        map.retain(|_, e| {
            e.pinned
                || e.in_flight.load(Ordering::Acquire)
                || now < e.expires_at
                || now_ms.saturating_sub(e.last_used.load(Ordering::Relaxed)) < idle
        });
        let mut out = Vec::new();
        for (q, e) in map.iter() {
            let lost = now_ms.saturating_sub(e.asked_ms.load(Ordering::Relaxed)) > LOST_MS;
            if now < e.refresh_at || (e.in_flight.load(Ordering::Acquire) && !lost) {
                continue;
            }
            // Read since the answer was stored: the refresh is wanted.
            let used = e.last_used.load(Ordering::Relaxed) > e.stored_ms;
            if e.pinned || (used && e.good.is_some()) {
                e.in_flight.store(true, Ordering::Release);
                e.asked_ms.store(now_ms, Ordering::Relaxed);
                out.push(q.clone());
            }
        }
        out
    }

    /// Makes exactly `queries` the pinned set (configured targets), adding
    /// the new ones as in flight; returns those that must be asked.
    pub fn pin(&self, queries: &HashSet<Query>, now: Instant) -> Vec<Query> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (q, e) in map.iter_mut() {
            e.pinned = queries.contains(q);
        }
        let mut ask = Vec::new();
        for q in queries {
            match map.get_mut(q) {
                Some(e) => {
                    let usable = e.good.is_some() && now < e.expires_at;
                    if !usable
                        && e.in_flight
                            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                    {
                        e.asked_ms.store(self.ms(now), Ordering::Relaxed);
                        ask.push(q.clone());
                    }
                }
                None => {
                    map.insert(q.clone(), self.fresh_entry(now, true));
                    ask.push(q.clone());
                }
            }
        }
        ask
    }

    /// Clears the in-flight mark of a query that could not be handed to
    /// the worker, so a later call asks again.
    pub fn abandon(&self, q: &Query) {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(q) {
            e.in_flight.store(false, Ordering::Release);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Proto;

    fn limits() -> Limits {
        Limits {
            floor: Duration::from_secs(10),
            ceiling: Duration::from_secs(100),
            negative: Duration::from_secs(30),
            max_names: 2,
        }
    }

    fn q(host: &str) -> Query {
        Query {
            host: host.into(),
            port: None,
            transport: None,
            sips: false,
        }
    }

    fn answer(port: u16, ttl: u32) -> Result<Resolved, Unresolved> {
        Ok(Resolved {
            targets: vec![Outbound {
                dest: std::net::SocketAddr::from(([192, 0, 2, 1], port)),
                proto: Proto::Udp,
                conn: None,
            }],
            ttl,
        })
    }

    fn port(c: &Cached) -> Option<u16> {
        match c {
            Cached::Ready(t) => Some(t[0].dest.port()),
            _ => None,
        }
    }

    #[test]
    fn first_read_asks_once_then_the_answer_holds_until_its_ttl() {
        let c = Cache::new(limits());
        let t0 = Instant::now();
        let g = c.get(&q("a.test"), t0);
        assert!(matches!(g.cached, Cached::Pending) && g.ask);
        // A second reader while in flight is not told to ask again.
        let g = c.get(&q("a.test"), t0);
        assert!(matches!(g.cached, Cached::Pending) && !g.ask);
        c.store(&q("a.test"), answer(5070, 40), t0);
        let g = c.get(&q("a.test"), t0 + Duration::from_secs(29));
        assert_eq!(port(&g.cached), Some(5070));
        assert!(!g.ask);
        // Past three quarters of the TTL: still served, and refreshed.
        let g = c.get(&q("a.test"), t0 + Duration::from_secs(31));
        assert_eq!(port(&g.cached), Some(5070));
        assert!(g.ask);
        // Past the TTL with no new answer: not served any more.
        let g = c.get(&q("a.test"), t0 + Duration::from_secs(41));
        assert!(matches!(g.cached, Cached::Pending), "{:?}", g.cached);
    }

    #[test]
    fn ttls_are_clamped_to_the_floor_and_the_ceiling() {
        let c = Cache::new(limits());
        let t0 = Instant::now();
        c.get(&q("zero.test"), t0);
        c.store(&q("zero.test"), answer(1, 0), t0);
        assert_eq!(
            port(&c.get(&q("zero.test"), t0 + Duration::from_secs(9)).cached),
            Some(1)
        );
        c.get(&q("day.test"), t0);
        c.store(&q("day.test"), answer(2, 86_400), t0);
        let later = c.get(&q("day.test"), t0 + Duration::from_secs(101));
        assert!(port(&later.cached).is_none());
    }

    #[test]
    fn a_failed_refresh_keeps_the_valid_answer_and_a_failure_is_cached() {
        let c = Cache::new(limits());
        let t0 = Instant::now();
        c.get(&q("a.test"), t0);
        c.store(&q("a.test"), answer(7, 40), t0);
        let t1 = t0 + Duration::from_secs(31);
        assert!(c.get(&q("a.test"), t1).ask);
        c.store(&q("a.test"), Err(Unresolved::default()), t1);
        assert_eq!(port(&c.get(&q("a.test"), t1).cached), Some(7));
        // Nothing at all: the failure is served until `negative` passes.
        c.get(&q("b.test"), t0);
        c.store(&q("b.test"), Err(Unresolved::default()), t0);
        let g = c.get(&q("b.test"), t0 + Duration::from_secs(10));
        assert!(matches!(g.cached, Cached::Failed(_)) && !g.ask);
        let g = c.get(&q("b.test"), t0 + Duration::from_secs(31));
        assert!(g.ask);
    }

    #[test]
    fn pinned_names_are_refreshed_unused_ones_expire_and_the_rest_is_bounded() {
        let c = Cache::new(limits());
        let t0 = Instant::now();
        let pinned: HashSet<Query> = [q("trunk.test")].into_iter().collect();
        assert_eq!(c.pin(&pinned, t0), vec![q("trunk.test")]);
        c.store(&q("trunk.test"), answer(1, 20), t0);
        c.get(&q("adhoc.test"), t0);
        c.store(&q("adhoc.test"), answer(2, 20), t0);
        // At 16 s both are due; only the pinned one was not read since.
        let due = c.due(t0 + Duration::from_secs(16));
        assert_eq!(due, vec![q("trunk.test")]);
        // Unpinned names beyond max_names push out the least recent.
        c.get(&q("b.test"), t0 + Duration::from_secs(1));
        c.get(&q("c.test"), t0 + Duration::from_secs(2));
        assert_eq!(c.len(), 3, "trunk (pinned) + the two most recent");
        assert!(!c.get(&q("trunk.test"), t0).ask);
        // Long unused and expired: gone.
        c.store(&q("b.test"), answer(3, 20), t0);
        c.store(&q("c.test"), answer(4, 20), t0);
        c.due(t0 + Duration::from_secs(500));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_resolution_that_never_reports_back_is_asked_again() {
        let c = Cache::new(limits());
        let t0 = Instant::now();
        let pinned: HashSet<Query> = [q("trunk.test")].into_iter().collect();
        assert_eq!(c.pin(&pinned, t0), vec![q("trunk.test")]);
        // Nothing stored: still in flight at 40 s, lost at 61 s.
        assert!(c.due(t0 + Duration::from_secs(40)).is_empty());
        assert_eq!(c.due(t0 + Duration::from_secs(61)), vec![q("trunk.test")]);
    }
}
