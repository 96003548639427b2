//! Stateless, self-validating nonces and the nonce-count replay tracker.

use super::*;

// ---------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------

/// Validity of a nonce presented by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    Valid,
    /// Issued by us but past its lifetime: re-challenge with `stale=true`.
    Stale,
    /// Not issued by us (forged, tampered, truncated or from another key).
    Invalid,
}

/// Issues and checks stateless nonces:
/// `hex(timestamp_be64 || random[12] || HMAC-SHA256(secret, ts||random)[..16])`.
///
/// No per-nonce state is kept, so any number of challenges can be sent
/// without memory growth, and several processes sharing the secret accept
/// each other's nonces.
#[derive(Clone)]
pub struct NonceSigner {
    secret: [u8; 32],
    lifetime_secs: u64,
    dummy_md5: String,
    dummy_sha256: String,
}

impl fmt::Debug for NonceSigner {
    // Hand-written so the secret can never end up in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceSigner")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish_non_exhaustive()
    }
}

impl NonceSigner {
    /// A signer with a fresh random secret.
    pub fn new(lifetime_secs: u64) -> Result<Self, RngError> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(RngError)?;
        Ok(Self::from_secret(secret, lifetime_secs))
    }

    /// A signer with a given secret (tests, or sharing across processes).
    pub fn from_secret(secret: [u8; 32], lifetime_secs: u64) -> Self {
        // The dummy HA1s are keyed so nobody can compute a response that
        // matches them, yet fixed so unknown users cost the same as known.
        let d = hmac_sha256(&secret, &[DUMMY_HA1_LABEL]);
        let dummy_sha256 = hex::encode(d);
        let dummy_md5 = hex::encode(&d[..16]);
        Self {
            secret,
            lifetime_secs,
            dummy_md5,
            dummy_sha256,
        }
    }

    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// A new nonce stamped with `now` (Unix seconds).
    pub fn issue(&self, now: u64) -> Result<String, RngError> {
        let mut rand = [0u8; NONCE_RAND_LEN];
        getrandom::getrandom(&mut rand).map_err(RngError)?;
        Ok(self.issue_with(now, rand))
    }

    pub(super) fn issue_with(&self, now: u64, rand: [u8; NONCE_RAND_LEN]) -> String {
        let ts = now.to_be_bytes();
        let mac = hmac_sha256(&self.secret, &[NONCE_MAC_LABEL, &ts, &rand]);
        let mut raw = [0u8; NONCE_RAW_LEN];
        raw[..NONCE_TS_LEN].copy_from_slice(&ts);
        raw[NONCE_TS_LEN..NONCE_TS_LEN + NONCE_RAND_LEN].copy_from_slice(&rand);
        raw[NONCE_TS_LEN + NONCE_RAND_LEN..].copy_from_slice(&mac[..NONCE_MAC_LEN]);
        hex::encode(raw)
    }

    /// Check a nonce against the secret and lifetime.
    pub fn verify(&self, nonce: &str, now: u64) -> NonceStatus {
        self.check(nonce, now).0
    }

    /// Status plus the issue timestamp for authentic nonces.
    pub(super) fn check(&self, nonce: &str, now: u64) -> (NonceStatus, u64) {
        // Only the exact lowercase form we issue is accepted, so one nonce has
        // one spelling and the replay tracker (keyed by text) cannot be
        // sidestepped by changing hex case.
        if nonce.len() != NONCE_RAW_LEN * 2
            || !nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return (NonceStatus::Invalid, 0);
        }
        let mut raw = [0u8; NONCE_RAW_LEN];
        if hex::decode_to_slice(nonce, &mut raw).is_err() {
            return (NonceStatus::Invalid, 0);
        }
        let (ts, rest) = raw.split_at(NONCE_TS_LEN);
        let (rand, mac) = rest.split_at(NONCE_RAND_LEN);
        let expect = hmac_sha256(&self.secret, &[NONCE_MAC_LABEL, ts, rand]);
        if !ct_eq(mac, &expect[..NONCE_MAC_LEN]) {
            return (NonceStatus::Invalid, 0);
        }
        let mut ts_bytes = [0u8; NONCE_TS_LEN];
        ts_bytes.copy_from_slice(ts);
        let issued = u64::from_be_bytes(ts_bytes);
        // A nonce from the future only happens if our clock stepped back;
        // treating it as stale bounds how long it can be used.
        let too_new = issued > now.saturating_add(FUTURE_SKEW_SECS);
        let too_old = now.saturating_sub(issued) > self.lifetime_secs;
        if too_new || too_old {
            (NonceStatus::Stale, issued)
        } else {
            (NonceStatus::Valid, issued)
        }
    }

    pub(super) fn dummy_ha1(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.dummy_md5,
            Algorithm::Sha256 => &self.dummy_sha256,
        }
    }
}

// ---------------------------------------------------------------------------
// Nonce-count replay tracking
// ---------------------------------------------------------------------------

struct TrackEntry {
    last_nc: u32,
    issued_at: u64,
}

struct TrackerInner {
    map: HashMap<String, TrackEntry>,
    // Insertion order, for eviction.
    order: VecDeque<String>,
    // Highest issue time of any still-live nonce whose state was evicted;
    // unseen nonces at or below it might be such a nonce and are refused.
    floor: Option<u64>,
}

/// Remembers the highest nonce-count seen per nonce, in bounded memory.
///
/// Entries for expired nonces are dropped freely (the signer already rejects
/// those as stale). When the capacity is reached while entries are still
/// live, the oldest is evicted and its issue time raises a floor: any nonce
/// not in the table and issued at or before the floor is answered with
/// [`ReplayError::Forgotten`], so bounded memory can cost a client a
/// re-challenge but never lets a replay through.
///
/// The table is keyed by nonce only, so only insert nonces that already
/// passed [`NonceSigner::verify`]; [`verify`] does that.
pub struct NonceCountTracker {
    capacity: usize,
    lifetime_secs: u64,
    inner: Mutex<TrackerInner>,
}

impl fmt::Debug for NonceCountTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceCountTracker")
            .field("capacity", &self.capacity)
            .field("lifetime_secs", &self.lifetime_secs)
            .field("len", &self.len())
            .finish()
    }
}

impl NonceCountTracker {
    /// `lifetime_secs` should equal the signer's; a capacity of 0 is
    /// treated as 1.
    pub fn new(capacity: usize, lifetime_secs: u64) -> Self {
        Self {
            capacity: capacity.max(1),
            lifetime_secs,
            inner: Mutex::new(TrackerInner {
                map: HashMap::new(),
                order: VecDeque::new(),
                floor: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerInner> {
        // Every mutation leaves the table consistent before anything that
        // could panic, so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Accept `nc` for `nonce` only if it is greater than any previously
    /// accepted for it, and record it. `nc` 0 is never accepted.
    pub fn check_and_record(
        &self,
        nonce: &str,
        issued_at: u64,
        nc: u32,
        now: u64,
    ) -> Result<(), ReplayError> {
        let lifetime = self.lifetime_secs;
        let expired = |e: &TrackEntry| now.saturating_sub(e.issued_at) > lifetime;
        let mut g = self.lock();
        let inner = &mut *g;

        while let Some(front) = inner.order.front() {
            if inner.map.get(front).is_some_and(|e| !expired(e)) {
                break;
            }
            if let Some(k) = inner.order.pop_front() {
                inner.map.remove(&k);
            }
        }

        if let Some(e) = inner.map.get_mut(nonce) {
            if nc <= e.last_nc {
                return Err(ReplayError::Replayed);
            }
            e.last_nc = nc;
            return Ok(());
        }
        if nc == 0 {
            return Err(ReplayError::Replayed);
        }
        if inner.floor.is_some_and(|f| issued_at <= f) {
            return Err(ReplayError::Forgotten);
        }
        while inner.map.len() >= self.capacity {
            let Some(k) = inner.order.pop_front() else {
                break;
            };
            if let Some(e) = inner.map.remove(&k) {
                if !expired(&e) {
                    inner.floor = Some(inner.floor.map_or(e.issued_at, |f| f.max(e.issued_at)));
                }
            }
        }
        // The new nonce may itself be at or below the raised floor; still
        // fine to record it, since we do hold its state now.
        inner.map.insert(
            nonce.to_owned(),
            TrackEntry {
                last_nc: nc,
                issued_at,
            },
        );
        inner.order.push_back(nonce.to_owned());
        Ok(())
    }
}
