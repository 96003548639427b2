//! Signed webhooks: the one check every endpoint a foreign system posts to
//! (a chat platform's bridge, the desk's system of record) runs before it
//! reads a byte of the body as data.
//!
//! Such a sender holds no API token (it is a program on another host, and
//! a token would give it the whole API); it shares a secret with us and
//! signs each request:
//!
//! ```text
//! X-Protocall-Timestamp: 1764921600              (Unix seconds, when it was sent)
//! X-Protocall-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//! ```
//!
//! which `openssl dgst -sha256 -hmac "$SECRET"` computes, so an integrator
//! can send one with `curl`. Binding the timestamp into the MAC and
//! refusing one older (or newer) than the tolerance stops a captured
//! request being replayed later; within the tolerance, a signature already
//! accepted is refused, which stops it being replayed now. The replay
//! memory lives in this process: after a restart a request captured in the
//! last few minutes could be accepted once more, which is why the
//! endpoints behind this are idempotent by their own ids as well.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;

pub const TIMESTAMP_HEADER: &str = "x-protocall-timestamp";
pub const SIGNATURE_HEADER: &str = "x-protocall-signature";
/// Senders' clocks drift and queues delay; five minutes is what the common
/// webhook signers (Stripe, Slack) allow.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Why a signed request was refused. Every variant is a 401 to the sender:
/// the wording tells an integrator which part to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("this endpoint is not configured (no shared secret is set)")]
    NotConfigured,
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the X-Protocall-Timestamp header is not Unix seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from this server's clock (at most {1} s are accepted)")]
    Stale(i64, i64),
    #[error("the X-Protocall-Signature header is not sha256=<64 hex digits>")]
    BadFormat,
    #[error("the signature does not match the body and timestamp")]
    Mismatch,
    #[error("this signed request was already accepted (a replay)")]
    Replayed,
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        match e {
            // Not the sender's fault, and no secret to guess at.
            SignatureError::NotConfigured => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                e.to_string(),
            ),
            _ => ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string()),
        }
    }
}

/// One endpoint's secret and replay memory.
pub struct Verifier {
    secret: Option<Vec<u8>>,
    tolerance: i64,
    /// Signatures accepted in the last `tolerance` seconds, with their
    /// timestamps, so the map is pruned to that window.
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

impl std::fmt::Debug for Verifier {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("configured", &self.secret.is_some())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Verifier {
    /// `secret`: `None` or empty turns the endpoint off (503).
    pub fn new(secret: Option<&str>, tolerance_secs: i64) -> Verifier {
        Verifier {
            secret: secret
                .filter(|s| !s.is_empty())
                .map(|s| s.as_bytes().to_vec()),
            tolerance: tolerance_secs.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `body` as received with `headers`, at `now` (Unix seconds),
    /// and remembers the signature so it is not accepted twice. Call it
    /// before parsing the body.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let secret = self
            .secret
            .as_deref()
            .ok_or(SignatureError::NotConfigured)?;
        let ts_text = header(headers, TIMESTAMP_HEADER, "X-Protocall-Timestamp")?;
        let ts: i64 = ts_text
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        let skew = now.saturating_sub(ts);
        if skew.abs() > self.tolerance {
            return Err(SignatureError::Stale(skew, self.tolerance));
        }
        let sig_text = header(headers, SIGNATURE_HEADER, "X-Protocall-Signature")?;
        let sent = parse_signature(sig_text).ok_or(SignatureError::BadFormat)?;
        let expected = sign(secret, ts_text.trim(), body);
        if !crate::mac::ct_eq(&sent, &expected) {
            return Err(SignatureError::Mismatch);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let horizon = now - self.tolerance;
        seen.retain(|_, at| *at >= horizon);
        if seen.insert(expected, ts).is_some() {
            return Err(SignatureError::Replayed);
        }
        Ok(())
    }
}

/// The MAC a sender computes: HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; 32] {
    crate::mac::hmac_sha256(secret, &[timestamp.as_bytes(), b".", body])
}

/// The header value a sender puts in `X-Protocall-Signature`.
pub fn signature_header(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(sign(secret, timestamp, body)))
}

fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
    shown: &'static str,
) -> Result<&'a str, SignatureError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Missing(shown))
}

fn parse_signature(text: &str) -> Option<[u8; 32]> {
    let hexed = text.trim().strip_prefix("sha256=")?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hexed, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(secret: &str, ts: i64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        let ts = ts.to_string();
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(&ts).unwrap());
        h.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&signature_header(secret.as_bytes(), &ts, body)).unwrap(),
        );
        h
    }

    #[test]
    fn accepts_a_good_signature_once() {
        let v = Verifier::new(Some("s3cret"), 300);
        let h = signed("s3cret", 1_000, b"{}");
        assert_eq!(v.verify(&h, b"{}", 1_010), Ok(()));
        assert_eq!(v.verify(&h, b"{}", 1_020), Err(SignatureError::Replayed));
    }

    #[test]
    fn refuses_wrong_secret_body_or_time() {
        let v = Verifier::new(Some("s3cret"), 300);
        let h = signed("other", 1_000, b"{}");
        assert_eq!(v.verify(&h, b"{}", 1_000), Err(SignatureError::Mismatch));
        let h = signed("s3cret", 1_000, b"{}");
        assert_eq!(v.verify(&h, b"{ }", 1_000), Err(SignatureError::Mismatch));
        assert_eq!(
            v.verify(&h, b"{}", 1_301),
            Err(SignatureError::Stale(301, 300))
        );
        assert_eq!(
            v.verify(&HeaderMap::new(), b"{}", 1_000),
            Err(SignatureError::Missing("X-Protocall-Timestamp"))
        );
    }

    #[test]
    fn unconfigured_refuses_everything() {
        let v = Verifier::new(Some(""), 300);
        let h = signed("", 1_000, b"{}");
        assert_eq!(
            v.verify(&h, b"{}", 1_000),
            Err(SignatureError::NotConfigured)
        );
    }

    #[test]
    fn matches_openssl_dgst() {
        // printf '1764921600.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature_header(b"s3cret", "1764921600", br#"{"a":1}"#),
            "sha256=5cdd87ea76bc9369c698286656043689dbce4986f72bacc8569749eae60ed816"
        );
    }
}
