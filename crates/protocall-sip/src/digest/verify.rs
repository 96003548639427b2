//! Checking a response against a stored HA1, and [`Authenticator`], which
//! bundles nonces, replay tracking and challenges for one realm.

use super::*;

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// The `response` value a client with `ha1` should send for `creds`:
/// H(HA1:nonce:nc:cnonce:qop:H(method:uri)). Requires `qop=auth`.
pub fn expected_response(
    creds: &Credentials,
    method: &str,
    ha1: &str,
) -> Result<String, AuthError> {
    let qop = creds.qop.ok_or(AuthError::QopRequired)?;
    let cnonce = creds
        .cnonce
        .as_deref()
        .ok_or(ParseError::MissingParam("cnonce"))?;
    let nc = creds.nc.as_deref().ok_or(ParseError::MissingParam("nc"))?;
    let alg = creds.algorithm;
    let ha2 = alg.hash_parts(&[method.as_bytes(), creds.uri.as_bytes()]);
    Ok(alg.hash_parts(&[
        ha1.as_bytes(),
        creds.nonce.as_bytes(),
        nc.as_bytes(),
        cnonce.as_bytes(),
        qop.as_str().as_bytes(),
        ha2.as_bytes(),
    ]))
}

/// Verify credentials for a request.
///
/// `stored_ha1_for_alg` is the user's HA1 for `creds.algorithm` (lowercase
/// or uppercase hex). `method` is the SIP method of the request (for ACK and
/// CANCEL the caller passes whatever its policy requires). Order matters:
/// the response is checked before staleness so only a holder of the password
/// is told `stale`, and the nonce-count is recorded only after the response
/// matched so forged requests cannot burn a client's nc values.
///
/// Not checked here: that `creds.uri` matches the Request-URI and that
/// `creds.opaque` echoes what was sent; both are transport-level policy for
/// the caller.
pub fn verify(
    creds: &Credentials,
    method: &str,
    expected_realm: &str,
    stored_ha1_for_alg: &str,
    nonces: &NonceSigner,
    replay: &NonceCountTracker,
    now: u64,
) -> Result<(), AuthError> {
    if creds.realm != expected_realm {
        return Err(AuthError::RealmMismatch);
    }
    if creds.qop.is_none() {
        return Err(AuthError::QopRequired);
    }
    let nc = match creds.nc.as_deref() {
        None => return Err(ParseError::MissingParam("nc").into()),
        Some(n) => parse_nc(n).ok_or(ParseError::BadNonceCount)?,
    };
    let (status, issued_at) = nonces.check(&creds.nonce, now);
    if status == NonceStatus::Invalid {
        return Err(AuthError::InvalidNonce);
    }
    let alg = creds.algorithm;
    if stored_ha1_for_alg.len() != alg.hex_len()
        || !stored_ha1_for_alg.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(AuthError::BadStoredHa1(alg));
    }
    let ha1 = stored_ha1_for_alg.to_ascii_lowercase();
    let expected = expected_response(creds, method, &ha1)?;
    let given = creds.response.to_ascii_lowercase();
    if !ct_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(AuthError::BadCredentials);
    }
    if status == NonceStatus::Stale {
        return Err(AuthError::StaleNonce);
    }
    replay
        .check_and_record(&creds.nonce, issued_at, nc, now)
        .map_err(|e| match e {
            ReplayError::Replayed => AuthError::Replay,
            ReplayError::Forgotten => AuthError::StaleNonce,
        })
}

/// Run [`verify`] for a user that does not exist, against an unguessable
/// per-signer dummy HA1, so the caller spends the same hashing work and gets
/// the same error a wrong password would give. Never succeeds.
///
/// The caller should also make the user lookup itself not leak (e.g. same
/// code path and no early return) and respond identically for both.
#[must_use = "the returned error must be used to reject the request"]
pub fn verify_unknown_user(
    creds: &Credentials,
    method: &str,
    expected_realm: &str,
    nonces: &NonceSigner,
    replay: &NonceCountTracker,
    now: u64,
) -> AuthError {
    let dummy = nonces.dummy_ha1(creds.algorithm);
    match verify(creds, method, expected_realm, dummy, nonces, replay, now) {
        Err(e) => e,
        // Would need a 2^-128 collision with a secret-keyed value.
        Ok(()) => AuthError::BadCredentials,
    }
}

/// A user's stored HA1 values, one per supported algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredHa1 {
    pub md5: String,
    pub sha256: String,
}

impl fmt::Debug for StoredHa1 {
    // HA1 is password-equivalent for this realm; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredHa1 { .. }")
    }
}

impl StoredHa1 {
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        Self {
            md5: ha1(Algorithm::Md5, username, realm, password),
            sha256: ha1(Algorithm::Sha256, username, realm, password),
        }
    }

    pub fn for_algorithm(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.md5,
            Algorithm::Sha256 => &self.sha256,
        }
    }
}

/// Convenience bundle for a registrar or proxy serving one realm: issues
/// challenges and verifies credentials, treating unknown users exactly like
/// wrong passwords. Shareable across threads (`&self` everywhere).
#[derive(Debug)]
pub struct Authenticator {
    realm: String,
    nonces: NonceSigner,
    replay: NonceCountTracker,
}

impl Authenticator {
    /// Random secret, default lifetime and replay capacity.
    pub fn new(realm: impl Into<String>) -> Result<Self, RngError> {
        let nonces = NonceSigner::new(DEFAULT_NONCE_LIFETIME_SECS)?;
        Ok(Self::with_parts(realm, nonces, DEFAULT_REPLAY_CAPACITY))
    }

    pub fn with_parts(realm: impl Into<String>, nonces: NonceSigner, capacity: usize) -> Self {
        let replay = NonceCountTracker::new(capacity, nonces.lifetime_secs());
        Self {
            realm: realm.into(),
            nonces,
            replay,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// One challenge header value per algorithm, in the order given,
    /// sharing one fresh nonce (RFC 8760 §2.4: most preferred first).
    pub fn challenges(
        &self,
        algorithms: &[Algorithm],
        stale: bool,
        now: u64,
    ) -> Result<Vec<String>, RngError> {
        let nonce = self.nonces.issue(now)?;
        Ok(algorithms
            .iter()
            .map(|a| challenge(&self.realm, &nonce, *a, stale, None))
            .collect())
    }

    /// `user` is `None` when the username is unknown; the result is then
    /// indistinguishable from a wrong password.
    pub fn verify(
        &self,
        creds: &Credentials,
        method: &str,
        user: Option<&StoredHa1>,
        now: u64,
    ) -> Result<(), AuthError> {
        match user {
            Some(u) => verify(
                creds,
                method,
                &self.realm,
                u.for_algorithm(creds.algorithm),
                &self.nonces,
                &self.replay,
                now,
            ),
            None => Err(verify_unknown_user(
                creds,
                method,
                &self.realm,
                &self.nonces,
                &self.replay,
                now,
            )),
        }
    }
}
