//! Sign-in throttling: wrong passwords counted per account and per source
//! address over a sliding minute.
//!
//! In memory, per daemon: a restart forgets the counts, and several
//! instances behind a load balancer each count their own. That is enough
//! to turn online guessing from thousands of tries a minute into a handful;
//! a shared limiter (in the database) is left for when the console runs on
//! more than one instance.
//!
//! The per-account limit is the tight one (the 5th wrong password within a
//! minute is refused, and so is every try after it until the minute has
//! passed). The per-source limit is looser because a whole office signs in
//! from one NATed address, and one person's typos must not lock out the
//! desk.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong passwords for one account within [`WINDOW`] that get it refused.
pub const MAX_FAILURES_PER_ACCOUNT: usize = 5;
/// Wrong passwords from one address within [`WINDOW`] that get it refused.
pub const MAX_FAILURES_PER_SOURCE: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most; past it the stalest are dropped, so a flood of
/// made-up usernames cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Throttled,
}

#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// Lower-cased, so `Ana` and `ANA` share a count.
    Account(String),
    Source(IpAddr),
}

fn account(username: &str) -> Key {
    Key::Account(username.trim().to_lowercase())
}

fn recent(q: Option<&VecDeque<Instant>>, now: Instant) -> usize {
    q.map_or(0, |q| {
        q.iter()
            .filter(|t| now.duration_since(**t) < WINDOW)
            .count()
    })
}

impl Throttle {
    fn over(m: &HashMap<Key, VecDeque<Instant>>, user: &str, ip: IpAddr, now: Instant) -> bool {
        recent(m.get(&account(user)), now) >= MAX_FAILURES_PER_ACCOUNT
            || recent(m.get(&Key::Source(ip)), now) >= MAX_FAILURES_PER_SOURCE
    }

    /// Whether a sign-in attempt may be checked at all (before the
    /// password is looked at).
    pub fn check(&self, user: &str, ip: IpAddr, now: Instant) -> Verdict {
        let m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if Self::over(&m, user, ip, now) {
            Verdict::Throttled
        } else {
            Verdict::Allowed
        }
    }

    /// Counts a wrong password; `Throttled` when this one reached a limit
    /// (so the 5th wrong password is itself answered as throttled).
    pub fn failure(&self, user: &str, ip: IpAddr, now: Instant) -> Verdict {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_KEYS {
            m.retain(|_, q| recent(Some(q), now) > 0);
            while m.len() >= MAX_KEYS {
                let Some(stalest) = m
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                m.remove(&stalest);
            }
        }
        for (key, cap) in [
            (account(user), MAX_FAILURES_PER_ACCOUNT),
            (Key::Source(ip), MAX_FAILURES_PER_SOURCE),
        ] {
            let q = m.entry(key).or_default();
            while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                q.pop_front();
            }
            q.push_back(now);
            // Older entries than the cap cannot matter to the count.
            while q.len() > cap {
                q.pop_front();
            }
        }
        if Self::over(&m, user, ip, now) {
            Verdict::Throttled
        } else {
            Verdict::Allowed
        }
    }

    /// A right password forgets the account's wrong ones (not the
    /// address's: a guesser who knows one password must not reset the
    /// count for the others).
    pub fn success(&self, user: &str) {
        let mut m = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&account(user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn the_fifth_wrong_password_in_a_minute_is_throttled() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..4 {
            assert_eq!(t.check("ana", IP, now), Verdict::Allowed);
            assert_eq!(t.failure("ana", IP, now), Verdict::Allowed);
        }
        assert_eq!(t.failure("Ana", IP, now), Verdict::Throttled);
        assert_eq!(t.check("ana", IP, now), Verdict::Throttled);
        // Another account from the same address is still allowed.
        assert_eq!(t.check("bia", IP, now), Verdict::Allowed);
        // A minute later the count is gone.
        assert_eq!(t.check("ana", IP, now + WINDOW), Verdict::Allowed);
    }

    #[test]
    fn one_address_guessing_many_accounts_is_throttled() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..MAX_FAILURES_PER_SOURCE - 1 {
            assert_eq!(t.failure(&format!("u{i}"), IP, now), Verdict::Allowed);
        }
        assert_eq!(t.failure("last", IP, now), Verdict::Throttled);
        assert_eq!(t.check("fresh", IP, now), Verdict::Throttled);
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(t.check("fresh", other, now), Verdict::Allowed);
    }

    #[test]
    fn success_forgets_the_account_count() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..4 {
            t.failure("ana", IP, now);
        }
        t.success("ana");
        assert_eq!(t.failure("ana", IP, now), Verdict::Allowed);
    }
}
