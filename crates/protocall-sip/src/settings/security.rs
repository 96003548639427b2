//! The `[security]` section: flood and password-guessing protection at the
//! SIP edge (`crate::guard`), with its defaults and range checks.
//!
//! The defaults are meant to be safe on the open internet without tuning: a
//! password guesser is banned on its 10th failure, while a desk of phones
//! behind one NAT stays far below the request density limit.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Off: no density limit, no bans, no user locks, no transaction caps
    /// (failed authentications are still logged and counted).
    pub enabled: bool,
    /// Length of one request-density window (milliseconds).
    pub pike_window_ms: u64,
    /// Messages one source may send per window; the excess is dropped.
    pub pike_max_requests: u32,
    /// A source over the limit in this many consecutive windows is banned.
    pub flood_ban_windows: u32,
    /// Failed digest checks from one source within `failure_window_secs`
    /// that get it banned.
    pub max_auth_failures_per_source: u32,
    /// Failed digest checks for one username (from any source) within
    /// `failure_window_secs` that lock the username for `ban_secs`.
    pub max_auth_failures_per_user: u32,
    pub failure_window_secs: u64,
    /// The first ban's length; each repeat offence multiplies it by 4.
    pub ban_secs: u64,
    /// The longest ban.
    pub ban_max_secs: u64,
    /// How long a source's past bans count towards the next one's length.
    pub offence_memory_secs: u64,
    /// Transactions held at once, in total and per (untrusted) source.
    pub max_transactions: usize,
    pub max_transactions_per_source: usize,
    /// Sources whose density and failure counters are kept in memory; the
    /// idle ones are forgotten first when a spoofed flood fills the table.
    pub max_tracked_sources: usize,
    /// Internal addresses (IPs or CIDRs: loopback, private, link-local…)
    /// that a request may still be relayed to when the requester wrote the
    /// address itself (Request-URI or Route of an out-of-dialog request).
    /// Empty: none. Registered phones, the URA and the trunk are ours and
    /// not subject to this.
    pub allowed_destinations: Vec<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            pike_window_ms: 2000,
            pike_max_requests: 200,
            flood_ban_windows: 3,
            max_auth_failures_per_source: 10,
            max_auth_failures_per_user: 20,
            failure_window_secs: 600,
            ban_secs: 300,
            ban_max_secs: 86_400,
            offence_memory_secs: 86_400,
            max_transactions: 300_000,
            max_transactions_per_source: 1000,
            max_tracked_sources: 100_000,
            allowed_destinations: Vec::new(),
        }
    }
}

const DAY: u64 = 86_400;

impl SecuritySettings {
    /// The first key out of range and why, for `Settings::validate`. The
    /// upper bounds keep every duration far from `Instant` overflow.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        fn range<T: PartialOrd + std::fmt::Display>(
            key: &'static str,
            v: T,
            lo: T,
            hi: T,
        ) -> Result<(), (&'static str, String)> {
            if v < lo || v > hi {
                return Err((key, format!("expected {lo} to {hi}, got {v}")));
            }
            Ok(())
        }
        range("security.pike_window_ms", self.pike_window_ms, 100, 60_000)?;
        range(
            "security.pike_max_requests",
            self.pike_max_requests,
            1,
            1_000_000,
        )?;
        range("security.flood_ban_windows", self.flood_ban_windows, 1, 100)?;
        range(
            "security.max_auth_failures_per_source",
            self.max_auth_failures_per_source,
            1,
            1000,
        )?;
        range(
            "security.max_auth_failures_per_user",
            self.max_auth_failures_per_user,
            1,
            100_000,
        )?;
        range(
            "security.failure_window_secs",
            self.failure_window_secs,
            1,
            7 * DAY,
        )?;
        range("security.ban_secs", self.ban_secs, 1, 30 * DAY)?;
        range(
            "security.ban_max_secs",
            self.ban_max_secs,
            self.ban_secs,
            365 * DAY,
        )?;
        range(
            "security.offence_memory_secs",
            self.offence_memory_secs,
            1,
            365 * DAY,
        )?;
        range(
            "security.max_transactions",
            self.max_transactions,
            1,
            10_000_000,
        )?;
        range(
            "security.max_transactions_per_source",
            self.max_transactions_per_source,
            1,
            self.max_transactions,
        )?;
        range(
            "security.max_tracked_sources",
            self.max_tracked_sources,
            1000,
            10_000_000,
        )?;
        Ok(())
    }
}
