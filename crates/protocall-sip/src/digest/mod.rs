//! Server-side HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616,
//! RFC 8760): parsing `Authorization` / `Proxy-Authorization` values, building
//! `WWW-Authenticate` / `Proxy-Authenticate` challenges, stateless
//! self-validating nonces, nonce-count replay tracking and response
//! verification against a stored HA1.
//!
//! This module owns the cryptographic and wire-format side of digest auth
//! only. It does not know about users, SIP transactions or which header a
//! challenge goes into; the registrar/proxy supplies the stored HA1, the
//! request method, and picks 401/`WWW-Authenticate` vs.
//! 407/`Proxy-Authenticate`.
//!
//! Deliberate restrictions:
//! * Only `qop=auth` is accepted. The RFC 2069 form without `qop` is
//!   rejected ([`AuthError::QopRequired`]) because it carries no client
//!   nonce and no nonce-count, so replay protection would rest on the nonce
//!   lifetime alone; every challenge we send offers `qop="auth"`, and
//!   RFC 7616 makes `qop` mandatory for clients.
//! * `auth-int`, `-sess` algorithms and `userhash=true` are rejected as
//!   unsupported rather than silently mis-verified.
//!
//! Typical registrar flow:
//! 1. No credentials → send [`challenges`] (SHA-256 first, then MD5).
//! 2. Credentials → [`parse_authorization`], look up the user's HA1 for
//!    `creds.algorithm`, then call [`verify`]; for an unknown user call
//!    [`verify_unknown_user`] instead so both cases cost the same work and
//!    return the same error. [`Authenticator`] bundles all of this.
//! 3. [`AuthError::StaleNonce`] → re-challenge with `stale=true`; any other
//!    error → plain re-challenge (or 403 per local policy).
//!
//! Files: `credentials` (parsing what clients send), `challenge` (what we
//! send), `nonce` (stateless nonces and nonce-count replay tracking),
//! `verify` (responses against stored HA1 values, [`Authenticator`]),
//! `uri` (whether a digest `uri` names the request).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::Md5;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Header values longer than this are refused before parsing; real
/// credentials are a few hundred bytes and this bounds per-request work.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// Default nonce lifetime: long enough for a REGISTER refresh round-trip,
/// short enough that a captured nonce is soon useless.
pub const DEFAULT_NONCE_LIFETIME_SECS: u64 = 300;

/// Default number of nonces whose nonce-count is remembered.
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// Nonces timestamped this far in the future are still accepted as fresh, to
/// tolerate small clock adjustments between issuing and checking.
const FUTURE_SKEW_SECS: u64 = 5;

const NONCE_TS_LEN: usize = 8;
const NONCE_RAND_LEN: usize = 12;
const NONCE_MAC_LEN: usize = 16;
const NONCE_RAW_LEN: usize = NONCE_TS_LEN + NONCE_RAND_LEN + NONCE_MAC_LEN;

// Domain-separation labels so the one secret can key independent uses
// without one output ever being valid as another.
const NONCE_MAC_LABEL: &[u8] = b"protocall-digest-nonce-v1\0";
const DUMMY_HA1_LABEL: &[u8] = b"protocall-digest-dummy-ha1-v1\0";

mod challenge;
mod credentials;
mod nonce;
pub mod uri;
mod verify;

pub use challenge::*;
pub use credentials::*;
pub use nonce::*;
pub use verify::*;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why an `Authorization` header value could not be turned into
/// [`Credentials`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("header value is not valid UTF-8")]
    NotUtf8,
    #[error("header value longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("authorization scheme is not Digest")]
    NotDigest,
    #[error("syntax error at byte {pos}: {reason}")]
    Syntax { pos: usize, reason: &'static str },
    #[error("parameter `{0}` given more than once")]
    DuplicateParam(String),
    #[error("required parameter `{0}` missing")]
    MissingParam(&'static str),
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    #[error("userhash=true is not supported")]
    UnsupportedUserhash,
    #[error("nc must be exactly 8 hex digits")]
    BadNonceCount,
}

/// Why a request failed digest verification.
///
/// Only [`AuthError::StaleNonce`] should change the response (re-challenge
/// with `stale=true`); all other variants are for logging and must not be
/// reflected to the client in a way that distinguishes them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("malformed credentials: {0}")]
    Malformed(#[from] ParseError),
    #[error("realm does not match")]
    RealmMismatch,
    #[error("qop=auth is required")]
    QopRequired,
    #[error("nonce was not issued by us")]
    InvalidNonce,
    #[error("nonce is stale")]
    StaleNonce,
    #[error("wrong credentials")]
    BadCredentials,
    #[error("nonce-count replayed")]
    Replay,
    /// A server-side configuration problem, not a client error.
    #[error("stored HA1 is not {0}-length hex")]
    BadStoredHa1(Algorithm),
}

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("random number generator failed: {0}")]
pub struct RngError(getrandom::Error);

/// Outcome of [`NonceCountTracker::check_and_record`] when it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReplayError {
    #[error("nonce-count not greater than last seen")]
    Replayed,
    /// The tracker had to evict state that could cover this nonce, so it
    /// cannot prove the nc is fresh; the client must get a new nonce.
    #[error("nonce-count state for this nonce was evicted")]
    Forgotten,
}

// ---------------------------------------------------------------------------
// Algorithms and hashing
// ---------------------------------------------------------------------------

/// Digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// RFC 7616 says an absent `algorithm` parameter means MD5.
    #[default]
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Length of a lowercase hex digest for this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// Hex of H(p0 ":" p1 ":" ...), fed incrementally so secrets are not
    /// copied into an intermediate concatenation.
    fn hash_parts(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("MD5") {
            Ok(Algorithm::Md5)
        } else if s.eq_ignore_ascii_case("SHA-256") {
            Ok(Algorithm::Sha256)
        } else {
            Err(ParseError::UnsupportedAlgorithm(s.to_owned()))
        }
    }
}

/// Lowercase hex of H(username ":" realm ":" password).
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_parts(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

pub(crate) use crate::mac::{ct_eq, hmac_sha256};

/// Seconds since the Unix epoch; a clock before 1970 is treated as 0 rather
/// than failing, which merely makes fresh nonces look old.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
