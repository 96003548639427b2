//! The location service: which contacts each address-of-record is
//! registered at right now (RFC 3261 §10, §10.3, §16.5).
//!
//! This module owns the in-memory bindings the proxy reads on every call,
//! the per-AoR rules for changing them (the Call-ID/CSeq ordering of
//! §10.3 step 7, all-or-nothing commits of step 8, URI equality of
//! §19.1.4 for "same contact"), the bindings-per-AoR limit, expiry, and
//! the write-behind feed of [`LocationChange`]s. Persisting that feed, and
//! deciding what a REGISTER asks for, belong elsewhere (the store and
//! `sip::registrar`).
//!
//! Bindings live in a fixed set of mutex-guarded shards picked by a hash of
//! the AoR, so readers of different AoRs rarely meet and no lock is ever
//! held for longer than a scan of one AoR's handful of bindings.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::message::{Scheme, Uri};
use crate::transport::{ConnId, Proto};

/// Number of shards. A power of two well above the core count keeps two
/// busy AoRs from sharing a lock most of the time, at 64 small maps' cost.
pub const SHARDS: usize = 64;

/// Default limit on bindings per AoR.
pub const DEFAULT_MAX_BINDINGS_PER_AOR: usize = 10;

/// One registered contact of an AoR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The SIP username the binding belongs to.
    pub aor: String,
    /// The Contact URI exactly as registered, without `<>`.
    pub contact: String,
    /// q-value × 1000 (0..=1000), 1000 when the Contact had none.
    pub q: u16,
    /// Unix milliseconds after which the binding no longer exists.
    pub expires_at_ms: i64,
    /// Unix milliseconds of the REGISTER that last added or refreshed it.
    pub registered_at_ms: i64,
    /// Where that REGISTER came from. Behind a NAT the Contact host is
    /// unreachable, so the proxy sends here instead.
    pub source: SocketAddr,
    pub proto: Proto,
    /// The TCP connection it arrived on, to be reused while open.
    pub conn: Option<ConnId>,
    pub call_id: String,
    pub cseq: u32,
    pub user_agent: Option<String>,
}

impl Binding {
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms <= now_ms
    }

    /// Whole seconds left, rounded up so a binding just registered for N
    /// seconds reports N; 0 once expired.
    pub fn remaining_secs(&self, now_ms: i64) -> u32 {
        let left = self.expires_at_ms.saturating_sub(now_ms).max(0);
        let secs = left / 1000 + i64::from(left % 1000 != 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

/// A change to persist. `(aor, contact)` names a binding in the store:
/// when a refresh changes the spelling of an equivalent contact URI the
/// old spelling is reported removed before the new one is upserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationChange {
    Upsert(Binding),
    Remove {
        aor: String,
        contact: String,
        /// Gone because its time ran out, not because anything asked.
        /// Every reader of the store can tell that from the expiry it
        /// holds, and the store may hold a refresh this table has not
        /// seen yet (another instance took it), so such a removal must
        /// not overwrite the stored binding.
        expired: bool,
    },
}

/// Receives every change as it happens.
///
/// It is called with the AoR's shard lock held, which is what keeps the
/// changes of one AoR in the order they were made; in exchange it must
/// return at once (e.g. `try_send` on a bounded channel, counting drops)
/// and must not call back into the [`Location`]. A consumer that drops
/// changes can resynchronise from [`Location::snapshot`].
pub type ChangeSink = Box<dyn Fn(LocationChange) + Send + Sync>;

/// One contact of a REGISTER, as the registrar decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactUpdate {
    /// Add, or refresh the equivalent existing contact. `aor`, `call_id`
    /// and `cseq` are overwritten from the [`Update`] so they cannot
    /// disagree with what the ordering check used.
    Upsert(Binding),
    /// Remove the equivalent contact (expires 0).
    Remove(String),
}

/// A change to one AoR's bindings, applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// The Contacts of one REGISTER (§10.3 steps 6-8): checked against the
    /// Call-ID/CSeq ordering as a whole and committed all or nothing.
    Register {
        call_id: String,
        cseq: u32,
        contacts: Vec<ContactUpdate>,
    },
    /// `Contact: *` with `Expires: 0`: every binding goes, subject to the
    /// same ordering check.
    RemoveAll { call_id: String, cseq: u32 },
    /// Administrative removal of one contact; no ordering check.
    Remove { contact: String },
    /// Administrative removal of every binding of the AoR.
    Purge,
}

/// What an [`Update`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// Every change made, in order (also sent to the sink).
    pub changes: Vec<LocationChange>,
    /// The AoR's live bindings afterwards, ordered as [`Location::lookup`].
    pub bindings: Vec<Binding>,
}

/// Why an [`Update`] was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// §10.3 step 7: same Call-ID as the stored binding and a CSeq that is
    /// not higher, i.e. a stale or replayed REGISTER.
    #[error("CSeq {cseq} is not above {stored} already seen for {contact} under the same Call-ID")]
    OutOfOrder {
        contact: String,
        stored: u32,
        cseq: u32,
    },
}

/// Construction settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocationConfig {
    /// When a new contact would exceed this, the least recently registered
    /// binding of the AoR is dropped. 0 is treated as 1.
    pub max_bindings_per_aor: usize,
}

impl Default for LocationConfig {
    fn default() -> Self {
        LocationConfig {
            max_bindings_per_aor: DEFAULT_MAX_BINDINGS_PER_AOR,
        }
    }
}

/// A stored binding plus its parsed comparison key, computed once so the
/// per-REGISTER scans under the lock do not reparse URIs.
#[derive(Debug, Clone)]
struct Slot {
    binding: Binding,
    key: ContactKey,
}

impl Slot {
    fn new(binding: Binding) -> Slot {
        let key = ContactKey::new(&binding.contact);
        Slot { binding, key }
    }
}

type Shard = HashMap<String, Vec<Slot>>;

/// The in-memory location service. Share it as `Arc<Location>`.
pub struct Location {
    shards: [Mutex<Shard>; SHARDS],
    hasher: RandomState,
    max_per_aor: usize,
    sink: Option<ChangeSink>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("max_per_aor", &self.max_per_aor)
            .field("sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Location {
    fn default() -> Self {
        Location::new(LocationConfig::default())
    }
}

impl Location {
    pub fn new(config: LocationConfig) -> Location {
        Location {
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            hasher: RandomState::new(),
            max_per_aor: config.max_bindings_per_aor.max(1),
            sink: None,
        }
    }

    /// A location service reporting every change to `sink`.
    pub fn with_sink(config: LocationConfig, sink: ChangeSink) -> Location {
        Location {
            sink: Some(sink),
            ..Location::new(config)
        }
    }

    pub fn max_bindings_per_aor(&self) -> usize {
        self.max_per_aor
    }

    fn shard(&self, aor: &str) -> MutexGuard<'_, Shard> {
        // The remainder is below SHARDS, so the conversion cannot fail and
        // the index is in range.
        let i = usize::try_from(self.hasher.hash_one(aor) % SHARDS as u64).unwrap_or(0);
        #[allow(clippy::indexing_slicing)]
        lock(&self.shards[i % SHARDS])
    }

    fn emit(&self, changes: &[LocationChange]) {
        if let Some(sink) = &self.sink {
            for c in changes {
                sink(c.clone());
            }
        }
    }

    /// The AoR's live bindings, best first: q descending, then most
    /// recently registered.
    pub fn lookup(&self, aor: &str, now_ms: i64) -> Vec<Binding> {
        let shard = self.shard(aor);
        live_sorted(
            shard.get(aor).map(Vec::as_slice).unwrap_or_default(),
            now_ms,
        )
    }

    pub fn is_registered(&self, aor: &str, now_ms: i64) -> bool {
        self.shard(aor)
            .get(aor)
            .is_some_and(|v| v.iter().any(|s| !s.binding.is_expired(now_ms)))
    }

    /// Applies one update to `aor` atomically: either every part of it
    /// takes effect (and is reported) or, on error, nothing changes.
    pub fn apply(&self, aor: &str, update: Update, now_ms: i64) -> Result<Applied, ApplyError> {
        let mut shard = self.shard(aor);
        let slots = shard.get(aor).map(Vec::as_slice).unwrap_or_default();

        // Check the whole request before touching anything (§10.3 step 8).
        match &update {
            Update::Register {
                call_id,
                cseq,
                contacts,
            } => {
                for c in contacts {
                    let contact = match c {
                        ContactUpdate::Upsert(b) => &b.contact,
                        ContactUpdate::Remove(c) => c,
                    };
                    let key = ContactKey::new(contact);
                    let existing = slots
                        .iter()
                        .find(|s| !s.binding.is_expired(now_ms) && s.key.matches(&key));
                    if let Some(s) = existing {
                        check_order(&s.binding, call_id, *cseq)?;
                    }
                }
            }
            Update::RemoveAll { call_id, cseq } => {
                for s in slots.iter().filter(|s| !s.binding.is_expired(now_ms)) {
                    check_order(&s.binding, call_id, *cseq)?;
                }
            }
            Update::Remove { .. } | Update::Purge => {}
        }

        let mut slots = shard.remove(aor).unwrap_or_default();
        let mut changes = Vec::new();
        // Expired leftovers go first: they must neither match a new contact
        // nor count against the limit.
        slots.retain(|s| {
            let keep = !s.binding.is_expired(now_ms);
            if !keep {
                changes.push(removal(&s.binding));
            }
            keep
        });
        match update {
            Update::Register {
                call_id,
                cseq,
                contacts,
            } => {
                for c in contacts {
                    match c {
                        ContactUpdate::Upsert(mut b) => {
                            b.aor = aor.to_owned();
                            b.call_id.clone_from(&call_id);
                            b.cseq = cseq;
                            if b.is_expired(now_ms) {
                                remove_contact(&mut slots, &b.contact, &mut changes);
                            } else {
                                upsert(&mut slots, b, &mut changes);
                            }
                        }
                        ContactUpdate::Remove(c) => remove_contact(&mut slots, &c, &mut changes),
                    }
                }
            }
            Update::Remove { contact } => remove_contact(&mut slots, &contact, &mut changes),
            Update::RemoveAll { .. } | Update::Purge => {
                changes.extend(slots.drain(..).map(|s| removal(&s.binding)));
            }
        }
        self.enforce_limit(&mut slots, &mut changes);
        let bindings = live_sorted(&slots, now_ms);
        if !slots.is_empty() {
            shard.insert(aor.to_owned(), slots);
        }
        self.emit(&changes);
        drop(shard);
        Ok(Applied { changes, bindings })
    }

    /// Drops the least recently registered bindings beyond the limit; on a
    /// tie the one stored first goes, so an older device loses to a newer.
    fn enforce_limit(&self, slots: &mut Vec<Slot>, changes: &mut Vec<LocationChange>) {
        while slots.len() > self.max_per_aor {
            let oldest = slots
                .iter()
                .enumerate()
                .min_by_key(|(i, s)| (s.binding.registered_at_ms, *i))
                .map(|(i, _)| i);
            let Some(i) = oldest else { break };
            let gone = slots.remove(i);
            changes.push(removal(&gone.binding));
        }
    }

    /// Removes every binding expired at `now_ms` and returns them (the
    /// removals are also reported to the sink).
    pub fn expire(&self, now_ms: i64) -> Vec<Binding> {
        let mut out = Vec::new();
        for m in self.shards.iter() {
            let mut shard = lock(m);
            let mut changes = Vec::new();
            shard.retain(|_, slots| {
                slots.retain(|s| {
                    let keep = !s.binding.is_expired(now_ms);
                    if !keep {
                        changes.push(LocationChange::Remove {
                            aor: s.binding.aor.clone(),
                            contact: s.binding.contact.clone(),
                            expired: true,
                        });
                        out.push(s.binding.clone());
                    }
                    keep
                });
                !slots.is_empty()
            });
            self.emit(&changes);
        }
        out
    }

    /// Live bindings over all AoRs, for the registrations gauge. Walks
    /// every shard, so call it from a scrape, not per request.
    pub fn count(&self, now_ms: i64) -> usize {
        self.shards
            .iter()
            .map(|m| {
                lock(m)
                    .values()
                    .flatten()
                    .filter(|s| !s.binding.is_expired(now_ms))
                    .count()
            })
            .sum()
    }

    /// Every live binding, for a write-behind consumer that lost changes
    /// and must resynchronise.
    pub fn snapshot(&self, now_ms: i64) -> Vec<Binding> {
        let mut out = Vec::new();
        for m in self.shards.iter() {
            for slots in lock(m).values() {
                out.extend(
                    slots
                        .iter()
                        .filter(|s| !s.binding.is_expired(now_ms))
                        .map(|s| s.binding.clone()),
                );
            }
        }
        out
    }

    /// Restores bindings read back from the store after a restart. Loaded
    /// bindings are not reported (the store already has them), but any it
    /// holds that cannot be kept — expired, a duplicate of an equivalent
    /// contact, or over the limit — are reported removed so the store
    /// sheds them too. Returns how many were kept.
    pub fn load(&self, bindings: impl IntoIterator<Item = Binding>, now_ms: i64) -> usize {
        let mut by_aor: HashMap<String, Vec<Binding>> = HashMap::new();
        let mut dropped = Vec::new();
        for b in bindings {
            if b.is_expired(now_ms) {
                dropped.push(removal(&b));
            } else {
                by_aor.entry(b.aor.clone()).or_default().push(b);
            }
        }
        self.emit(&dropped);
        let mut kept = 0;
        for (aor, mut list) in by_aor {
            // Oldest first, so a later registration of the same contact
            // replaces an earlier one as it would have live.
            list.sort_by_key(|b| b.registered_at_ms);
            let mut shard = self.shard(&aor);
            let mut slots = shard.remove(&aor).unwrap_or_default();
            let mut changes = Vec::new();
            for b in list {
                let key = ContactKey::new(&b.contact);
                match slots.iter_mut().find(|s| s.key.matches(&key)) {
                    Some(s) if s.binding.registered_at_ms > b.registered_at_ms => {
                        changes.push(removal(&b));
                    }
                    Some(s) => {
                        if s.binding.contact != b.contact {
                            changes.push(removal(&s.binding));
                        }
                        *s = Slot { binding: b, key };
                    }
                    None => slots.push(Slot { binding: b, key }),
                }
            }
            self.enforce_limit(&mut slots, &mut changes);
            kept += slots.len();
            if !slots.is_empty() {
                shard.insert(aor, slots);
            }
            self.emit(&changes);
        }
        kept
    }
}

/// A poisoned shard is still consistent: every mutation above rebuilds the
/// AoR's vector before storing it, so a panic (in a sink, say) leaves
/// either the old or the new state.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_order(stored: &Binding, call_id: &str, cseq: u32) -> Result<(), ApplyError> {
    if stored.call_id == call_id && cseq <= stored.cseq {
        return Err(ApplyError::OutOfOrder {
            contact: stored.contact.clone(),
            stored: stored.cseq,
            cseq,
        });
    }
    Ok(())
}

fn removal(b: &Binding) -> LocationChange {
    LocationChange::Remove {
        aor: b.aor.clone(),
        contact: b.contact.clone(),
        expired: false,
    }
}

fn upsert(slots: &mut Vec<Slot>, b: Binding, changes: &mut Vec<LocationChange>) {
    let new = Slot::new(b);
    match slots.iter_mut().find(|s| s.key.matches(&new.key)) {
        Some(s) => {
            if s.binding.contact != new.binding.contact {
                changes.push(removal(&s.binding));
            }
            changes.push(LocationChange::Upsert(new.binding.clone()));
            *s = new;
        }
        None => {
            changes.push(LocationChange::Upsert(new.binding.clone()));
            slots.push(new);
        }
    }
}

fn remove_contact(slots: &mut Vec<Slot>, contact: &str, changes: &mut Vec<LocationChange>) {
    let key = ContactKey::new(contact);
    slots.retain(|s| {
        let keep = !s.key.matches(&key);
        if !keep {
            changes.push(removal(&s.binding));
        }
        keep
    });
}

fn live_sorted(slots: &[Slot], now_ms: i64) -> Vec<Binding> {
    let mut out: Vec<Binding> = slots
        .iter()
        .filter(|s| !s.binding.is_expired(now_ms))
        .map(|s| s.binding.clone())
        .collect();
    out.sort_by(|a, b| {
        b.q.cmp(&a.q)
            .then(b.registered_at_ms.cmp(&a.registered_at_ms))
    });
    out
}

/// URI parameters that must agree when either URI has them (§19.1.4).
const STRICT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

/// A contact URI reduced to what RFC 3261 §19.1.4 compares.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ContactKey {
    Sip {
        secure: bool,
        /// Case-sensitive, as §19.1.4 requires for userinfo.
        user: Option<Bytes>,
        host: Vec<u8>,
        /// An explicit default port is not the same as none (§19.1.4).
        port: Option<u16>,
        /// Lowercase names and values; first occurrence of each name.
        params: Vec<(Vec<u8>, Vec<u8>)>,
        headers: Option<Vec<u8>>,
    },
    /// Non-SIP or unparsable (e.g. a damaged store row): compared as
    /// written.
    Raw(String),
}

impl ContactKey {
    fn new(contact: &str) -> ContactKey {
        let Ok(uri) = Uri::parse(Bytes::copy_from_slice(contact.as_bytes())) else {
            return ContactKey::Raw(contact.to_owned());
        };
        let secure = match uri.scheme {
            Scheme::Sip => false,
            Scheme::Sips => true,
            Scheme::Tel | Scheme::Other(_) => return ContactKey::Raw(contact.to_owned()),
        };
        let mut params: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(uri.params.len());
        for p in &uri.params {
            let name = p.name.to_ascii_lowercase();
            if params.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let value = p
                .value
                .as_ref()
                .map(|v| v.to_ascii_lowercase())
                .unwrap_or_default();
            params.push((name, value));
        }
        ContactKey::Sip {
            secure,
            user: uri.user,
            host: uri.host.to_ascii_lowercase(),
            port: uri.port,
            params,
            headers: uri.headers.map(|h| h.to_ascii_lowercase()),
        }
    }

    fn matches(&self, other: &ContactKey) -> bool {
        match (self, other) {
            (ContactKey::Raw(a), ContactKey::Raw(b)) => a == b,
            (
                ContactKey::Sip {
                    secure: s1,
                    user: u1,
                    host: h1,
                    port: p1,
                    params: a1,
                    headers: x1,
                },
                ContactKey::Sip {
                    secure: s2,
                    user: u2,
                    host: h2,
                    port: p2,
                    params: a2,
                    headers: x2,
                },
            ) => s1 == s2 && u1 == u2 && h1 == h2 && p1 == p2 && x1 == x2 && params_match(a1, a2),
            _ => false,
        }
    }
}

fn params_match(a: &[(Vec<u8>, Vec<u8>)], b: &[(Vec<u8>, Vec<u8>)]) -> bool {
    fn get<'p>(list: &'p [(Vec<u8>, Vec<u8>)], name: &[u8]) -> Option<&'p [u8]> {
        list.iter()
            .find(|(n, _)| n.as_slice() == name)
            .map(|(_, v)| v.as_slice())
    }
    // Parameters present in both must agree; the strict ones must also be
    // present in both or neither.
    let common_ok = a
        .iter()
        .all(|(n, v)| get(b, n).is_none_or(|w| w == v.as_slice()));
    let strict_ok = STRICT_PARAMS
        .iter()
        .all(|n| get(a, n.as_bytes()).is_some() == get(b, n.as_bytes()).is_some());
    common_ok && strict_ok
}

mod shared;
pub use shared::SharedChange;
#[cfg(test)]
mod tests;
