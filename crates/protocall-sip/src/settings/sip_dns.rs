//! The `[sip.dns]` section: which DNS servers resolve SIP target names
//! (RFC 3263) and how long answers are kept.
//!
//! Kept apart from the rest of `[sip]` because only the resolver reads it,
//! and because tests point it at a stub server on loopback.

use std::net::SocketAddr;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipDnsSettings {
    /// Name servers, `ip:port`; empty: the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Answers are kept at least this long whatever their TTL, so a zone
    /// with TTL 0 does not turn every call into a query.
    pub cache_floor_secs: u32,
    /// And at most this long, so a changed record is picked up even when
    /// the zone asks for a day.
    pub cache_ceiling_secs: u32,
    /// A name with no answer is asked again after this long.
    pub negative_secs: u32,
    /// One query's time limit (each of `attempts`).
    pub timeout_ms: u64,
    pub attempts: usize,
    /// Names looked up for Request-URI and Route hosts (not configured
    /// targets) kept at once; past that the least recently used go, so
    /// requests naming random hosts cannot grow the cache without bound.
    pub max_names: usize,
}

impl Default for SipDnsSettings {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            cache_floor_secs: 30,
            cache_ceiling_secs: 3600,
            negative_secs: 30,
            timeout_ms: 2000,
            attempts: 2,
            max_names: 4096,
        }
    }
}

impl SipDnsSettings {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.cache_floor_secs == 0 || self.cache_floor_secs > self.cache_ceiling_secs {
            return Some("expected 0 < cache_floor_secs <= cache_ceiling_secs".into());
        }
        if self.negative_secs == 0 || self.timeout_ms == 0 || self.attempts == 0 {
            return Some("expected negative_secs, timeout_ms and attempts of at least 1".into());
        }
        if self.max_names == 0 {
            return Some("expected max_names of at least 1".into());
        }
        None
    }
}
