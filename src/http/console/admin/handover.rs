//! Results that must outlive their POST by one redirect: a new token's
//! secret and a directory import's report.
//!
//! Every console form is POST-redirect-GET, so a reload never repeats a
//! write; but the page after the redirect must show what only the POST
//! knew, and a query string can carry neither a secret (it would end up in
//! the browser's history and in logs) nor a list of rejected rows. So the
//! POST leaves its result here under a random handle bound to its session,
//! and the GET it redirects to fetches it: a token's secret once (taken),
//! an import's report for as long as it is kept (read).
//!
//! In memory, per instance, like the sign-in throttle: a restart loses the
//! results not yet shown, which at worst means making a token again.
//! Bounded in count and in age.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::directory::import::ImportReport;
use crate::http::console::session::ct_eq;
use crate::store::TokenInfo;

/// How long a result waits for its page.
const TTL: Duration = Duration::from_secs(10 * 60);
/// Most results kept at once; the oldest go first beyond it.
const MAX_ENTRIES: usize = 256;

/// What a POST hands to the page after its redirect.
#[derive(Clone)]
pub enum Outcome {
    Token { info: TokenInfo, secret: String },
    Import(ImportReport),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        match self {
            Outcome::Token { info, .. } => f
                .debug_struct("Token")
                .field("id", &info.id)
                .field("secret", &"…")
                .finish(),
            Outcome::Import(r) => f.debug_tuple("Import").field(r).finish(),
        }
    }
}

struct Entry {
    session: String,
    at: Instant,
    outcome: Outcome,
}

#[derive(Default)]
pub struct Handover {
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handover")
            .field("entries", &self.lock().len())
            .finish()
    }
}

fn handle() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).ok()?;
    Some(hex::encode(b))
}

impl Handover {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves a map that is
        // still whole (every change is one insert or remove).
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `outcome` for the session whose key is `session` (its CSRF
    /// token: one per session, never shown to another) and returns the
    /// handle its page asks with; `None` without randomness.
    pub fn put(&self, session: &str, outcome: Outcome) -> Option<String> {
        self.put_at(session, outcome, Instant::now())
    }

    fn put_at(&self, session: &str, outcome: Outcome, now: Instant) -> Option<String> {
        let h = handle()?;
        let mut map = self.lock();
        map.retain(|_, e| now.saturating_duration_since(e.at) < TTL);
        while map.len() >= MAX_ENTRIES {
            let Some(oldest) = map.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone()) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            h.clone(),
            Entry {
                session: session.to_string(),
                at: now,
                outcome,
            },
        );
        Some(h)
    }

    /// The outcome left under `handle` by this session, removed: shown
    /// once.
    pub fn take(&self, session: &str, handle: &str) -> Option<Outcome> {
        let mut map = self.lock();
        if !Self::owned(map.get(handle)?, session, Instant::now()) {
            return None;
        }
        map.remove(handle).map(|e| e.outcome)
    }

    /// The outcome left under `handle` by this session, kept for a reload.
    pub fn read(&self, session: &str, handle: &str) -> Option<Outcome> {
        let map = self.lock();
        let e = map.get(handle)?;
        Self::owned(e, session, Instant::now()).then(|| e.outcome.clone())
    }

    fn owned(e: &Entry, session: &str, now: Instant) -> bool {
        now.saturating_duration_since(e.at) < TTL && ct_eq(e.session.as_bytes(), session.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rows: u64) -> Outcome {
        Outcome::Import(ImportReport {
            rows,
            ..Default::default()
        })
    }

    fn rows(o: Option<Outcome>) -> Option<u64> {
        match o {
            Some(Outcome::Import(r)) => Some(r.rows),
            _ => None,
        }
    }

    #[test]
    fn only_its_session_reads_it_and_take_empties_it() {
        let h = Handover::default();
        let k = h.put("session-a", report(3)).unwrap();
        assert_eq!(rows(h.read("session-b", &k)), None);
        assert_eq!(rows(h.take("session-b", &k)), None);
        assert_eq!(rows(h.read("session-a", &k)), Some(3));
        assert_eq!(rows(h.take("session-a", &k)), Some(3));
        assert_eq!(rows(h.take("session-a", &k)), None);
        assert_eq!(rows(h.read("session-a", "nonsense")), None);
    }

    #[test]
    fn old_results_go_and_the_count_is_bounded() {
        let h = Handover::default();
        let long_ago = Instant::now();
        let old = h.put_at("s", report(1), long_ago).unwrap();
        let later = long_ago + TTL + Duration::from_secs(1);
        let mut last = String::new();
        for i in 0..(MAX_ENTRIES + 10) {
            last = h
                .put_at(
                    "s",
                    report(i as u64),
                    later + Duration::from_millis(i as u64),
                )
                .unwrap();
        }
        assert_eq!(h.lock().len(), MAX_ENTRIES);
        assert!(!h.lock().contains_key(&old));
        assert!(h.lock().contains_key(&last));
    }

    #[test]
    fn the_secret_stays_out_of_debug() {
        let info = TokenInfo {
            id: 7,
            name: "ci".into(),
            kind: crate::store::TokenKind::Api,
            role: crate::directory::Role::Admin,
            consultant_id: None,
            owner: None,
            status: crate::store::TokenStatus::Active,
            created_at: chrono::Utc::now().with_timezone(&chrono_tz::America::Sao_Paulo),
            expires_at: None,
            revoked_at: None,
        };
        let o = Outcome::Token {
            info,
            secret: "pc_supersecret".into(),
        };
        assert!(!format!("{o:?}").contains("supersecret"));
    }
}
