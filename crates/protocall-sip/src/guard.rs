//! The SIP edge guard: request density per source (like Kamailio's pike),
//! failed-digest counters per source and per username, and temporary bans
//! that grow with repeat offences. The proxy consults it for every inbound
//! message; it is in memory only and knows nothing of the store.
//!
//! How the proxy uses it:
//! - [`Guard::admit`] first, for every request and response: `Err` means
//!   drop the message without an answer (the drop is already counted);
//! - [`Guard::user_locked`] before checking a digest response: a locked
//!   username is refused without looking at its credentials;
//! - [`Guard::auth_failed`] / [`Guard::auth_succeeded`] after the check;
//! - [`Guard::budget`] for a [`TxnPermit`](super::budget::TxnPermit) before
//!   creating a transaction;
//! - the daemon calls [`Guard::sweep`] every second.
//!
//! Trusted peers (`routing.trusted_peers`) are exempt from all of it.
//! Time comes in as `Instant` so tests drive the clock.
//!
//! Built for the hot path: per-source state lives in 64 mutex-guarded
//! shards chosen by a keyed hash of the address (so spoofed addresses
//! cannot be picked to collide), an already-tracked source costs one lock
//! and one lookup and allocates nothing, and the table is capped: when a
//! flood of spoofed addresses fills a shard, a second-chance queue evicts
//! the oldest source that is neither carrying failures nor over the
//! density limit. Bans live in their own map, so filling the source table
//! never lifts one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::budget::TxnBudget;
use crate::metrics::GuardMetrics;
use crate::net::TrustedPeers;
use crate::settings::SecuritySettings;

const SHARDS: usize = 64;
/// Usernames are attacker-chosen: longer ones are cut for the log and as
/// map keys (no consultant's username is this long).
const USER_MAX_BYTES: usize = 64;
/// Sources remembered per username as having logged in (a consultant's
/// phones; `sip.max_bindings_per_aor` defaults to 10).
const KNOWN_GOOD_PER_USER: usize = 16;
/// How long a successful login keeps a source immune to its user's lock.
const KNOWN_GOOD_FOR: Duration = Duration::from_secs(86_400);
/// Sources looked at for a second chance before one is evicted anyway.
const SECOND_CHANCES: usize = 16;
/// Users looked at for an evictable one when a user shard is full.
const USER_EVICTION_SCAN: usize = 32;

/// The guard's settings (`[security]`, see `config/protocall.toml`).
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub enabled: bool,
    pub pike_window: Duration,
    pub pike_max_requests: u32,
    pub flood_ban_windows: u32,
    pub max_auth_failures_per_source: u32,
    pub max_auth_failures_per_user: u32,
    pub failure_window: Duration,
    pub ban: Duration,
    pub ban_max: Duration,
    pub offence_memory: Duration,
    pub max_transactions: usize,
    pub max_transactions_per_source: usize,
    pub max_tracked_sources: usize,
}

impl From<&SecuritySettings> for GuardConfig {
    fn from(s: &SecuritySettings) -> Self {
        GuardConfig {
            enabled: s.enabled,
            pike_window: Duration::from_millis(s.pike_window_ms),
            pike_max_requests: s.pike_max_requests,
            flood_ban_windows: s.flood_ban_windows,
            max_auth_failures_per_source: s.max_auth_failures_per_source,
            max_auth_failures_per_user: s.max_auth_failures_per_user,
            failure_window: Duration::from_secs(s.failure_window_secs),
            ban: Duration::from_secs(s.ban_secs),
            ban_max: Duration::from_secs(s.ban_max_secs),
            offence_memory: Duration::from_secs(s.offence_memory_secs),
            max_transactions: s.max_transactions,
            max_transactions_per_source: s.max_transactions_per_source,
            max_tracked_sources: s.max_tracked_sources,
        }
    }
}

impl Default for GuardConfig {
    /// The shipped defaults.
    fn default() -> Self {
        GuardConfig::from(&SecuritySettings::default())
    }
}

/// Why a message must be dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    #[error("source banned")]
    Banned,
    #[error("source over the request density limit")]
    Flood,
}

impl Dropped {
    /// The `reason` label of `protocall_requests_dropped_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Banned => "banned",
            Dropped::Flood => "flood",
        }
    }
}

/// What got a source banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// Too many failed digest checks (password guessing).
    Auth,
    /// Over the request density limit for too long.
    Flood,
    /// Banned by hand.
    Manual,
}

impl BanReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::Auth => "auth",
            BanReason::Flood => "flood",
            BanReason::Manual => "manual",
        }
    }
}

/// An active ban, as `GET /api/bans` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub ip: IpAddr,
    pub reason: BanReason,
    /// Bans of this address within `offence_memory`, this one included.
    pub offences: u32,
    pub banned_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub remaining: Duration,
}

/// Counters of one source address.
struct Source {
    last_seen: Instant,
    window_start: Instant,
    requests: u32,
    /// Consecutive finished windows this source went over the limit in.
    over_windows: u32,
    fail_start: Instant,
    failures: u32,
}

impl Source {
    fn new(now: Instant) -> Source {
        Source {
            last_seen: now,
            window_start: now,
            requests: 0,
            over_windows: 0,
            fail_start: now,
            failures: 0,
        }
    }
}

/// A ban, kept after it ends until `offence_memory` has passed, so the
/// next one is longer.
struct BanRecord {
    reason: BanReason,
    offences: u32,
    banned_at: Instant,
    banned_at_wall: DateTime<Utc>,
    until: Instant,
}

#[derive(Default)]
struct SourceShard {
    sources: HashMap<IpAddr, Source>,
    /// Every key of `sources` once, oldest insertion first: the
    /// second-chance eviction queue.
    order: VecDeque<IpAddr>,
    bans: HashMap<IpAddr, BanRecord>,
}

/// One shard of the per-username counters.
type UserShard = HashMap<Box<str>, User>;

/// Counters of one username.
struct User {
    fail_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
    /// Sources that logged in as this user, with the time of the last login.
    known_good: Vec<(IpAddr, Instant)>,
}

impl User {
    fn new(now: Instant) -> User {
        User {
            fail_start: now,
            failures: 0,
            locked_until: None,
            known_good: Vec::new(),
        }
    }

    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

/// A new ban to log once the shard lock is released.
struct NewBan {
    /// The address was banned already (a repeat while banned lengthens it).
    renewed: bool,
    ip: IpAddr,
    reason: BanReason,
    offences: u32,
    length: Duration,
}

/// Flood and password-guessing protection; shared by every worker.
pub struct Guard {
    cfg: GuardConfig,
    exempt: TrustedPeers,
    metrics: GuardMetrics,
    hasher: RandomState,
    sources: Box<[Mutex<SourceShard>]>,
    users: Box<[Mutex<UserShard>]>,
    /// Most sources (and bans, and users) one shard keeps.
    per_shard: usize,
    budget: TxnBudget,
}

/// `now + d`; the configured durations are range-checked far below
/// `Instant`'s limits, so the fallback is never taken in practice.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

fn since(now: Instant, then: Instant) -> Duration {
    now.saturating_duration_since(then)
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters left by a panicking holder are still counters: use them.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Guard {
    pub fn new(cfg: GuardConfig, exempt: TrustedPeers, metrics: GuardMetrics) -> Guard {
        let budget = if cfg.enabled {
            TxnBudget::new(
                cfg.max_transactions,
                cfg.max_transactions_per_source,
                exempt.clone(),
                metrics.dropped_txn_cap.clone(),
            )
        } else {
            TxnBudget::unlimited(metrics.dropped_txn_cap.clone())
        };
        let per_shard = cfg.max_tracked_sources.div_ceil(SHARDS).max(1);
        Guard {
            exempt,
            metrics,
            hasher: RandomState::new(),
            sources: (0..SHARDS).map(|_| Mutex::default()).collect(),
            users: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard,
            budget,
            cfg,
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    /// The transaction budget (`max_transactions`, `_per_source`).
    pub fn budget(&self) -> &TxnBudget {
        &self.budget
    }

    #[allow(clippy::indexing_slicing, reason = "the index is taken modulo SHARDS")]
    fn source_shard(&self, ip: IpAddr) -> MutexGuard<'_, SourceShard> {
        lock(&self.sources[(self.hasher.hash_one(ip) as usize) % SHARDS])
    }

    #[allow(clippy::indexing_slicing, reason = "the index is taken modulo SHARDS")]
    fn user_shard(&self, user: &str) -> MutexGuard<'_, UserShard> {
        lock(&self.users[(self.hasher.hash_one(user) as usize) % SHARDS])
    }

    /// True when the guard does nothing for `ip` (off, or a trusted peer).
    fn exempt(&self, ip: IpAddr) -> bool {
        !self.cfg.enabled || self.exempt.contains(ip)
    }

    /// Every inbound request or response from `src`: `Ok`, or why it must
    /// be dropped silently (banned, or over the density limit; counted in
    /// `protocall_requests_dropped_total`). A source that stays over the
    /// limit for `flood_ban_windows` consecutive windows is banned.
    pub fn admit(&self, src: IpAddr, now: Instant) -> Result<(), Dropped> {
        let src = src.to_canonical();
        if self.exempt(src) {
            return Ok(());
        }
        let cfg = &self.cfg;
        let mut shard = self.source_shard(src);
        if shard.bans.get(&src).is_some_and(|b| b.until > now) {
            drop(shard);
            self.metrics.dropped_banned.inc();
            return Err(Dropped::Banned);
        }
        let s = shard.source(src, now, self.per_shard, cfg);
        let elapsed = since(now, s.window_start);
        if elapsed >= cfg.pike_window {
            // Consecutive only if no quiet window came in between.
            let over = s.requests > cfg.pike_max_requests && elapsed < cfg.pike_window * 2;
            s.over_windows = if over { s.over_windows + 1 } else { 0 };
            s.window_start = now;
            s.requests = 0;
        }
        s.last_seen = now;
        s.requests = s.requests.saturating_add(1);
        if s.requests <= cfg.pike_max_requests {
            return Ok(());
        }
        let ban = if s.over_windows + 1 >= cfg.flood_ban_windows {
            s.over_windows = 0;
            s.requests = 0;
            Some(shard.ban(src, BanReason::Flood, now, cfg, self.per_shard))
        } else {
            None
        };
        drop(shard);
        self.metrics.dropped_flood.inc();
        if let Some(b) = ban {
            self.banned(b);
        }
        Err(Dropped::Flood)
    }

    /// A digest check failed (wrong password, unknown user, bad or replayed
    /// nonce, URI mismatch). Logs one warn line, fail2ban-friendly and
    /// stable (never the password or the response):
    /// `auth failed: method=REGISTER source=192.0.2.7 user="alice"`;
    /// counts `protocall_auth_failures_total{method}`; bans the source on
    /// its `max_auth_failures_per_source`-th failure in `failure_window`,
    /// and locks the username on its `max_auth_failures_per_user`-th.
    pub fn auth_failed(&self, src: IpAddr, user: Option<&str>, method: &str, now: Instant) {
        let src = src.to_canonical();
        let method = self.metrics.auth_failure(method);
        let user = user.map(|u| clip(u, USER_MAX_BYTES));
        // `{:?}` quotes the name and escapes quotes and control characters,
        // so a crafted username cannot forge a log line.
        tracing::warn!(
            "auth failed: method={method} source={src} user={:?}",
            user.unwrap_or("")
        );
        if self.exempt(src) {
            return;
        }
        let cfg = &self.cfg;
        let ban = {
            let mut shard = self.source_shard(src);
            let s = shard.source(src, now, self.per_shard, cfg);
            s.last_seen = now;
            if s.failures == 0 || since(now, s.fail_start) >= cfg.failure_window {
                s.fail_start = now;
                s.failures = 0;
            }
            s.failures += 1;
            if s.failures >= cfg.max_auth_failures_per_source {
                s.failures = 0;
                Some(shard.ban(src, BanReason::Auth, now, cfg, self.per_shard))
            } else {
                None
            }
        };
        if let Some(b) = ban {
            self.banned(b);
        }
        let Some(user) = user else { return };
        let locked = {
            let mut shard = self.user_shard(user);
            let Some(u) = user_entry(&mut shard, user, now, self.per_shard) else {
                return;
            };
            if u.failures == 0 || since(now, u.fail_start) >= cfg.failure_window {
                u.fail_start = now;
                u.failures = 0;
            }
            u.failures += 1;
            if u.failures >= cfg.max_auth_failures_per_user {
                u.failures = 0;
                u.locked_until = Some(later(now, cfg.ban));
                true
            } else {
                false
            }
        };
        if locked {
            tracing::warn!(
                "user locked: user={user:?} for_secs={} (sources that logged in as this user are not affected)",
                cfg.ban.as_secs()
            );
        }
    }

    /// Credentials verified: `src` is known-good for `user` for a day, so
    /// a lock on `user` does not reach it.
    pub fn auth_succeeded(&self, src: IpAddr, user: &str, now: Instant) {
        if !self.cfg.enabled {
            return;
        }
        let src = src.to_canonical();
        let user = clip(user, USER_MAX_BYTES);
        let mut shard = self.user_shard(user);
        let Some(u) = user_entry(&mut shard, user, now, self.per_shard) else {
            return;
        };
        if let Some(e) = u.known_good.iter_mut().find(|(ip, _)| *ip == src) {
            e.1 = now;
            return;
        }
        if u.known_good.len() >= KNOWN_GOOD_PER_USER {
            if let Some(oldest) = u
                .known_good
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(i, _)| i)
            {
                u.known_good.swap_remove(oldest);
            }
        }
        u.known_good.push((src, now));
    }

    /// True when `user` is locked for `src`: a source that recently logged
    /// in as `user` is never locked out, so guessing alice's password from
    /// elsewhere cannot lock alice's own phone out.
    pub fn user_locked(&self, user: &str, src: IpAddr, now: Instant) -> bool {
        let src = src.to_canonical();
        if self.exempt(src) {
            return false;
        }
        let user = clip(user, USER_MAX_BYTES);
        let shard = self.user_shard(user);
        let Some(u) = shard.get(user) else {
            return false;
        };
        u.locked(now)
            && !u
                .known_good
                .iter()
                .any(|(ip, t)| *ip == src && since(now, *t) < KNOWN_GOOD_FOR)
    }

    /// Bans `ip` by hand (or for a reason found elsewhere), with the same
    /// growing length as automatic bans. `None` when the guard would never
    /// drop its messages anyway (switched off, or a trusted peer).
    pub fn ban(&self, ip: IpAddr, reason: BanReason, now: Instant) -> Option<Ban> {
        let ip = ip.to_canonical();
        if self.exempt(ip) {
            return None;
        }
        let (new, ban) = {
            let mut shard = self.source_shard(ip);
            let new = shard.ban(ip, reason, now, &self.cfg, self.per_shard);
            let ban = shard.bans.get(&ip).map(|b| view(ip, b, now));
            (new, ban)
        };
        self.banned(new);
        ban
    }

    /// Logs a new ban and counts it in `protocall_bans_active` (exact
    /// again at the next sweep, which also sees bans that ended).
    fn banned(&self, b: NewBan) {
        if !b.renewed {
            self.metrics.bans_active.inc();
        }
        tracing::warn!(
            "source banned: source={} reason={} offences={} for_secs={}",
            b.ip,
            b.reason.as_str(),
            b.offences,
            b.length.as_secs()
        );
    }

    /// The bans in force, earliest first.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        let mut out = Vec::new();
        for shard in self.sources.iter() {
            let shard = lock(shard);
            out.extend(
                shard
                    .bans
                    .iter()
                    .filter(|(_, b)| b.until > now)
                    .map(|(ip, b)| view(*ip, b, now)),
            );
        }
        out.sort_by(|a, b| a.banned_at.cmp(&b.banned_at).then(a.ip.cmp(&b.ip)));
        out
    }

    /// Lifts the ban on `ip` and forgets its past offences and failures;
    /// false when it was not banned.
    pub fn unban(&self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        let was_active = {
            let mut shard = self.source_shard(ip);
            if let Some(s) = shard.sources.get_mut(&ip) {
                s.failures = 0;
                s.over_windows = 0;
                s.requests = 0;
            }
            shard.bans.remove(&ip).is_some_and(|b| b.until > now)
        };
        if was_active {
            self.metrics.bans_active.dec();
            tracing::info!("source unbanned: source={ip}");
        }
        was_active
    }

    /// Forgets idle sources and users, ends bans whose time is up, drops
    /// ban records older than `offence_memory`, and sets
    /// `protocall_bans_active`. The daemon calls it every second.
    pub fn sweep(&self, now: Instant) {
        let cfg = &self.cfg;
        let mut active = 0usize;
        for shard in self.sources.iter() {
            let mut shard = lock(shard);
            let SourceShard {
                sources,
                order,
                bans,
            } = &mut *shard;
            let before = sources.len();
            sources.retain(|_, s| keep_source(s, now, cfg));
            if sources.len() != before {
                order.retain(|ip| sources.contains_key(ip));
            }
            bans.retain(|_, b| b.until > now || since(now, b.banned_at) < cfg.offence_memory);
            active += bans.values().filter(|b| b.until > now).count();
            // After a flood the maps would keep their peak size for good.
            let n = sources.len();
            if sources.capacity() > 64 && n * 4 < sources.capacity() {
                sources.shrink_to(n * 2);
                order.shrink_to(n * 2);
            }
        }
        for shard in self.users.iter() {
            let mut shard = lock(shard);
            shard.retain(|_, u| {
                u.known_good
                    .retain(|(_, t)| since(now, *t) < KNOWN_GOOD_FOR);
                u.locked(now)
                    || !u.known_good.is_empty()
                    || (u.failures > 0 && since(now, u.fail_start) < cfg.failure_window)
            });
            let n = shard.len();
            if shard.capacity() > 64 && n * 4 < shard.capacity() {
                shard.shrink_to(n * 2);
            }
        }
        self.metrics
            .bans_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
    }

    /// Sources whose counters are held now.
    pub fn tracked_sources(&self) -> usize {
        self.sources.iter().map(|s| lock(s).sources.len()).sum()
    }

    /// Usernames whose counters are held now.
    pub fn tracked_users(&self) -> usize {
        self.users.iter().map(|s| lock(s).len()).sum()
    }
}

/// Worth keeping: seen within two windows (the density check looks back
/// one), or carrying failures that still count.
fn keep_source(s: &Source, now: Instant, cfg: &GuardConfig) -> bool {
    since(now, s.last_seen) < cfg.pike_window * 2
        || (s.failures > 0 && since(now, s.fail_start) < cfg.failure_window)
}

fn view(ip: IpAddr, b: &BanRecord, now: Instant) -> Ban {
    let length = since(b.until, b.banned_at);
    let until = chrono::Duration::from_std(length)
        .ok()
        .and_then(|d| b.banned_at_wall.checked_add_signed(d))
        .unwrap_or(b.banned_at_wall);
    Ban {
        ip,
        reason: b.reason,
        offences: b.offences,
        banned_at: b.banned_at_wall,
        until,
        remaining: since(b.until, now),
    }
}

/// The user's counters, created if need be; `None` when the shard is full
/// of users worth keeping (locked, or with known-good sources): then this
/// name goes untracked rather than evicting a real consultant's record.
fn user_entry<'a>(
    shard: &'a mut UserShard,
    user: &str,
    now: Instant,
    cap: usize,
) -> Option<&'a mut User> {
    if !shard.contains_key(user) {
        if shard.len() >= cap {
            let victim = shard
                .iter()
                .take(USER_EVICTION_SCAN)
                .find(|(_, u)| !u.locked(now) && u.known_good.is_empty())
                .map(|(k, _)| k.clone())?;
            shard.remove(&victim);
        }
        shard.insert(user.into(), User::new(now));
    }
    shard.get_mut(user)
}

impl SourceShard {
    /// The source's counters, created if need be (evicting one when the
    /// shard is full). One lookup when the source is known.
    fn source(&mut self, ip: IpAddr, now: Instant, cap: usize, cfg: &GuardConfig) -> &mut Source {
        if self.sources.len() >= cap && !self.sources.contains_key(&ip) {
            self.evict_one(now, cfg);
        }
        match self.sources.entry(ip) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                self.order.push_back(ip);
                v.insert(Source::new(now))
            }
        }
    }

    /// Second chance: sources carrying failures or over the density limit
    /// (the ones on their way to a ban) go to the back of the queue, up to
    /// `SECOND_CHANCES` times; then the oldest goes regardless. Any other
    /// source loses only counts well under the limits.
    fn evict_one(&mut self, now: Instant, cfg: &GuardConfig) {
        for _ in 0..SECOND_CHANCES {
            let Some(ip) = self.order.pop_front() else {
                return;
            };
            match self.sources.get(&ip) {
                None => {}
                Some(s)
                    if s.over_windows > 0
                        || s.requests > cfg.pike_max_requests
                        || (s.failures > 0 && since(now, s.fail_start) < cfg.failure_window) =>
                {
                    self.order.push_back(ip);
                }
                Some(_) => {
                    self.sources.remove(&ip);
                    return;
                }
            }
        }
        while let Some(ip) = self.order.pop_front() {
            if self.sources.remove(&ip).is_some() {
                return;
            }
        }
    }

    /// Bans `ip` for `ban × 4^(offences − 1)`, at most `ban_max`; offences
    /// older than `offence_memory` are forgotten first.
    fn ban(
        &mut self,
        ip: IpAddr,
        reason: BanReason,
        now: Instant,
        cfg: &GuardConfig,
        cap: usize,
    ) -> NewBan {
        let (previous, renewed) = match self.bans.get(&ip) {
            Some(b) if since(now, b.banned_at) < cfg.offence_memory => (b.offences, b.until > now),
            _ => (0, false),
        };
        if self.bans.len() >= cap && !self.bans.contains_key(&ip) {
            // The record whose ban ends first (an ended one if any) goes.
            if let Some(victim) = self
                .bans
                .iter()
                .min_by_key(|(_, b)| b.until)
                .map(|(k, _)| *k)
            {
                self.bans.remove(&victim);
            }
        }
        let offences = previous.saturating_add(1);
        let factor = 4u32.saturating_pow(offences - 1);
        let length = cfg.ban.saturating_mul(factor).min(cfg.ban_max);
        self.bans.insert(
            ip,
            BanRecord {
                reason,
                offences,
                banned_at: now,
                banned_at_wall: Utc::now(),
                until: later(now, length),
            },
        );
        NewBan {
            renewed,
            ip,
            reason,
            offences,
            length,
        }
    }
}

#[cfg(test)]
mod tests;
