//! The guard's behaviour with a test-driven clock: bans for guessing and
//! floods, their growth and end, exemptions, user locks and bounded memory.

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn guard_with(cfg: GuardConfig, trusted: &[&str]) -> Guard {
    Guard::new(
        cfg,
        TrustedPeers::parse(trusted).unwrap(),
        GuardMetrics::unregistered(),
    )
}

fn guard() -> Guard {
    guard_with(GuardConfig::default(), &["10.0.0.0/8"])
}

fn fail(g: &Guard, src: &str, user: &str, n: u32, now: Instant) {
    for _ in 0..n {
        g.auth_failed(ip(src), Some(user), "REGISTER", now);
    }
}

/// The length of `src`'s ban in force, in seconds.
fn ban_secs(g: &Guard, src: &str, now: Instant) -> Option<u64> {
    g.bans(now)
        .into_iter()
        .find(|b| b.ip == ip(src))
        .map(|b| b.remaining.as_secs())
}

#[test]
fn guesser_is_banned_on_the_tenth_failure_others_still_pass() {
    let g = guard();
    let t0 = Instant::now();
    fail(&g, "192.0.2.7", "alice", 9, t0);
    assert_eq!(g.admit(ip("192.0.2.7"), t0), Ok(()));
    assert!(g.bans(t0).is_empty());
    g.auth_failed(ip("192.0.2.7"), Some("bob"), "INVITE", t0);
    assert_eq!(g.admit(ip("192.0.2.7"), t0), Err(Dropped::Banned));
    assert_eq!(g.admit(ip("192.0.2.8"), t0), Ok(()));
    let bans = g.bans(t0);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].ip, ip("192.0.2.7"));
    assert_eq!(bans[0].reason, BanReason::Auth);
    assert_eq!(bans[0].offences, 1);
    assert_eq!(bans[0].remaining, secs(300));
    assert_eq!(
        bans[0].until - bans[0].banned_at,
        chrono::Duration::seconds(300)
    );
    assert_eq!(g.metrics.auth_failures("REGISTER"), 9);
    assert_eq!(g.metrics.auth_failures("INVITE"), 1);
    assert_eq!(g.metrics.bans_active.get(), 1);
    assert_eq!(g.metrics.dropped_banned.get(), 1);
}

#[test]
fn failures_spread_beyond_the_window_do_not_add_up() {
    let g = guard();
    let t0 = Instant::now();
    fail(&g, "192.0.2.7", "alice", 9, t0);
    let t1 = t0 + secs(601);
    fail(&g, "192.0.2.7", "alice", 9, t1);
    assert_eq!(g.admit(ip("192.0.2.7"), t1), Ok(()));
    g.auth_failed(ip("192.0.2.7"), Some("alice"), "REGISTER", t1);
    assert_eq!(g.admit(ip("192.0.2.7"), t1), Err(Dropped::Banned));
}

#[test]
fn bans_end_and_repeat_offences_ban_four_times_longer_up_to_a_day() {
    let g = guard();
    let mut now = Instant::now();
    let mut lengths = Vec::new();
    for _ in 0..6 {
        fail(&g, "192.0.2.7", "alice", 10, now);
        let len = ban_secs(&g, "192.0.2.7", now).unwrap();
        lengths.push(len);
        // Banned until the last second, free after it (sweeps between
        // keep the offence record).
        let end = now + secs(len);
        g.sweep(end - secs(1));
        assert_eq!(
            g.admit(ip("192.0.2.7"), end - secs(1)),
            Err(Dropped::Banned)
        );
        g.sweep(end);
        assert_eq!(g.admit(ip("192.0.2.7"), end), Ok(()));
        assert!(g.bans(end).is_empty());
        assert_eq!(g.metrics.bans_active.get(), 0);
        now = end;
    }
    assert_eq!(lengths, [300, 1200, 4800, 19200, 76800, 86400]);
    // A day without offences: the next ban is a first one again.
    let later = now + secs(86_400);
    g.sweep(later);
    fail(&g, "192.0.2.7", "alice", 10, later);
    assert_eq!(ban_secs(&g, "192.0.2.7", later), Some(300));
}

#[test]
fn unban_lifts_the_ban_and_forgets_past_offences() {
    let g = guard();
    let t0 = Instant::now();
    fail(&g, "192.0.2.7", "alice", 10, t0);
    assert_eq!(g.metrics.bans_active.get(), 1);
    assert!(!g.unban(ip("192.0.2.99"), t0));
    assert!(g.unban(ip("192.0.2.7"), t0));
    assert_eq!(g.metrics.bans_active.get(), 0);
    assert_eq!(g.admit(ip("192.0.2.7"), t0), Ok(()));
    assert!(!g.unban(ip("192.0.2.7"), t0));
    // One more failure is not a ban; ten are a first ban, not a second.
    g.auth_failed(ip("192.0.2.7"), Some("alice"), "REGISTER", t0);
    assert_eq!(g.admit(ip("192.0.2.7"), t0), Ok(()));
    fail(&g, "192.0.2.7", "alice", 9, t0);
    assert_eq!(ban_secs(&g, "192.0.2.7", t0), Some(300));
}

#[test]
fn manual_ban_grows_like_the_others_and_ipv4_mapped_is_the_same_source() {
    let g = guard();
    let t0 = Instant::now();
    let b = g.ban(ip("192.0.2.7"), BanReason::Manual, t0).unwrap();
    assert_eq!(
        (b.reason, b.offences, b.remaining),
        (BanReason::Manual, 1, secs(300))
    );
    assert_eq!(g.admit(ip("::ffff:192.0.2.7"), t0), Err(Dropped::Banned));
    let b = g
        .ban(ip("::ffff:192.0.2.7"), BanReason::Manual, t0)
        .unwrap();
    assert_eq!(
        (b.ip, b.offences, b.remaining),
        (ip("192.0.2.7"), 2, secs(1200))
    );
    // Renewing a ban in force does not count it twice.
    assert_eq!(g.metrics.bans_active.get(), 1);
    assert!(g.unban(ip("::ffff:192.0.2.7"), t0));
}

#[test]
fn trusted_peers_are_exempt_from_everything() {
    let g = guard();
    let t0 = Instant::now();
    fail(&g, "10.1.2.3", "alice", 100, t0);
    for i in 0..10_000u32 {
        let now = t0 + Duration::from_micros(u64::from(i) * 100);
        assert_eq!(g.admit(ip("10.1.2.3"), now), Ok(()));
    }
    assert!(g.ban(ip("10.1.2.3"), BanReason::Manual, t0).is_none());
    assert!(g.bans(t0).is_empty());
    // Failures from elsewhere lock alice, but not for the trunk.
    for i in 0..20 {
        g.auth_failed(IpAddr::from([192, 0, 2, i]), Some("alice"), "INVITE", t0);
    }
    assert!(g.user_locked("alice", ip("192.0.2.200"), t0));
    assert!(!g.user_locked("alice", ip("10.1.2.3"), t0));
    // Still logged and counted: the operator sees them.
    assert_eq!(g.metrics.auth_failures("REGISTER"), 100);
}

#[test]
fn a_user_lock_spares_the_sources_that_logged_in_as_that_user() {
    let g = guard();
    let t0 = Instant::now();
    let phone = ip("192.0.2.10");
    g.auth_succeeded(phone, "alice", t0);
    // Distributed guessing: one failure from each of 19 addresses, none
    // of which gets banned.
    for i in 100..119 {
        g.auth_failed(
            IpAddr::from([198, 51, 100, i]),
            Some("alice"),
            "REGISTER",
            t0,
        );
    }
    assert!(!g.user_locked("alice", ip("198.51.100.200"), t0));
    g.auth_failed(ip("198.51.100.119"), Some("alice"), "REGISTER", t0);
    assert!(g.user_locked("alice", ip("198.51.100.200"), t0));
    assert!(g.user_locked("alice", ip("192.0.2.11"), t0));
    assert!(!g.user_locked("alice", phone, t0));
    assert!(!g.user_locked("bob", ip("198.51.100.200"), t0));
    assert!(g.bans(t0).is_empty());
    // The lock lasts ban_secs, and survives sweeps until then.
    g.sweep(t0 + secs(299));
    assert!(g.user_locked("alice", ip("198.51.100.200"), t0 + secs(299)));
    assert!(!g.user_locked("alice", ip("198.51.100.200"), t0 + secs(300)));
}

#[test]
fn a_crafted_long_username_is_tracked_by_its_first_64_bytes() {
    let g = guard();
    let t0 = Instant::now();
    let long = format!("{}é{}", "a".repeat(63), "b".repeat(1000));
    for i in 0..20 {
        g.auth_failed(IpAddr::from([198, 51, 100, i]), Some(&long), "REGISTER", t0);
    }
    assert!(g.user_locked(&long, ip("198.51.100.200"), t0));
    assert_eq!(g.tracked_users(), 1);
}

/// Sends `n` messages from `src` spread evenly over `span` from `start`;
/// returns (admitted, dropped as flood, dropped as banned).
fn send(g: &Guard, src: IpAddr, start: Instant, span: Duration, n: u32) -> (u32, u32, u32) {
    let mut out = (0, 0, 0);
    for i in 0..n {
        match g.admit(src, start + span * i / n) {
            Ok(()) => out.0 += 1,
            Err(Dropped::Flood) => out.1 += 1,
            Err(Dropped::Banned) => out.2 += 1,
        }
    }
    out
}

#[test]
fn a_flood_is_dropped_then_banned() {
    let g = guard();
    let t0 = Instant::now();
    let src = ip("192.0.2.66");
    // 4,000 datagrams a second: 200 pass per 2 s window, the rest drop.
    assert_eq!(send(&g, src, t0, secs(2), 8000), (200, 7800, 0));
    assert_eq!(send(&g, src, t0 + secs(2), secs(2), 8000), (200, 7800, 0));
    assert!(g.bans(t0 + secs(4)).is_empty());
    // Third window over the limit: banned at the first excess message.
    assert_eq!(send(&g, src, t0 + secs(4), secs(2), 8000), (200, 1, 7799));
    let bans = g.bans(t0 + secs(6));
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].reason, BanReason::Flood);
    assert_eq!(g.metrics.dropped_flood.get(), 7800 * 2 + 1);
    assert_eq!(g.metrics.dropped_banned.get(), 7799);
    // Others are untouched.
    assert_eq!(g.admit(ip("192.0.2.67"), t0 + secs(6)), Ok(()));
}

#[test]
fn bursts_with_quiet_windows_between_are_not_banned() {
    let g = guard();
    let t0 = Instant::now();
    let src = ip("192.0.2.66");
    for burst in 0..5u32 {
        let start = t0 + secs(6) * burst;
        let (ok, flood, banned) = send(&g, src, start, secs(2), 300);
        assert_eq!((ok, flood, banned), (200, 100, 0), "burst {burst}");
        // A quiet window, then a window of normal traffic.
        assert_eq!(send(&g, src, start + secs(4), secs(2), 10), (10, 0, 0));
    }
    assert!(g.bans(t0 + secs(60)).is_empty());
}

#[test]
fn a_desk_of_phones_behind_one_nat_never_hits_the_limit() {
    let g = guard();
    let t0 = Instant::now();
    let nat = ip("203.0.113.5");
    // 50 phones re-registering at once after the NAT restarts (REGISTER,
    // 401, REGISTER, 200 each), then ten minutes of a busy desk: 60
    // messages a second (keep-alives, registrations, calls).
    assert_eq!(send(&g, nat, t0, secs(1), 200), (200, 0, 0));
    assert_eq!(
        send(&g, nat, t0 + secs(2), secs(600), 36_000),
        (36_000, 0, 0)
    );
}

#[test]
fn memory_stays_bounded_under_a_spoofed_flood_and_keeps_what_matters() {
    let cfg = GuardConfig {
        max_tracked_sources: 1000,
        ..GuardConfig::default()
    };
    let cap = 1000usize.div_ceil(64) * 64;
    let g = guard_with(cfg, &[]);
    let t0 = Instant::now();
    let banned = ip("192.0.2.1");
    let guesser = ip("192.0.2.2");
    g.ban(banned, BanReason::Manual, t0);
    fail(&g, "192.0.2.2", "alice", 9, t0);
    for i in 0..50_000u32 {
        let spoofed = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
        let now = t0 + Duration::from_micros(u64::from(i) * 20);
        assert_eq!(g.admit(spoofed, now), Ok(()));
        if i % 1000 == 0 {
            assert!(g.tracked_sources() <= cap, "{}", g.tracked_sources());
        }
    }
    let t1 = t0 + secs(1);
    assert!(g.tracked_sources() <= cap, "{}", g.tracked_sources());
    // The flood lifted no ban and cleared no guesser's count.
    assert_eq!(g.admit(banned, t1), Err(Dropped::Banned));
    g.auth_failed(guesser, Some("alice"), "REGISTER", t1);
    assert_eq!(g.admit(guesser, t1), Err(Dropped::Banned));
    // Idle sources are forgotten by the sweep.
    g.sweep(t1 + secs(5));
    assert_eq!(g.tracked_sources(), 0);
    assert_eq!(g.admit(banned, t1 + secs(5)), Err(Dropped::Banned));
}

#[test]
fn usernames_are_bounded_too() {
    let cfg = GuardConfig {
        max_tracked_sources: 1000,
        ..GuardConfig::default()
    };
    let g = guard_with(cfg, &[]);
    let t0 = Instant::now();
    for i in 0..20_000u32 {
        g.auth_failed(
            IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()),
            Some(&format!("user{i}")),
            "REGISTER",
            t0,
        );
    }
    assert!(g.tracked_users() <= 1024, "{}", g.tracked_users());
    g.sweep(t0 + secs(601));
    assert_eq!(g.tracked_users(), 0);
}

#[test]
fn switched_off_it_drops_nothing_but_still_counts_failures() {
    let cfg = GuardConfig {
        enabled: false,
        ..GuardConfig::default()
    };
    let g = guard_with(cfg, &[]);
    let t0 = Instant::now();
    fail(&g, "192.0.2.7", "alice", 50, t0);
    assert_eq!(send(&g, ip("192.0.2.7"), t0, secs(2), 8000), (8000, 0, 0));
    assert!(g.ban(ip("192.0.2.7"), BanReason::Manual, t0).is_none());
    assert!(!g.user_locked("alice", ip("192.0.2.7"), t0));
    let permits: Vec<_> = (0..5000)
        .map(|_| g.budget().try_acquire(ip("192.0.2.7")).unwrap())
        .collect();
    assert_eq!(permits.len(), 5000);
    assert_eq!(g.metrics.auth_failures("REGISTER"), 50);
}

#[test]
fn the_budget_follows_the_config() {
    let cfg = GuardConfig {
        max_transactions: 10,
        max_transactions_per_source: 3,
        ..GuardConfig::default()
    };
    let g = guard_with(cfg, &["10.0.0.0/8"]);
    let held: Vec<_> = (0..3)
        .map(|_| g.budget().try_acquire(ip("192.0.2.7")).unwrap())
        .collect();
    assert!(g.budget().try_acquire(ip("192.0.2.7")).is_none());
    let trunk: Vec<_> = (0..7)
        .map(|_| g.budget().try_acquire(ip("10.0.0.1")).unwrap())
        .collect();
    assert!(g.budget().try_acquire(ip("10.0.0.1")).is_none());
    assert_eq!(g.metrics.dropped_txn_cap.get(), 2);
    drop((held, trunk));
    assert_eq!(g.budget().in_use(), 0);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_failure_logs_one_stable_line_a_crafted_name_cannot_break() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let g = guard();
    let t0 = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        g.auth_failed(ip("192.0.2.7"), Some("alice"), "REGISTER", t0);
        g.auth_failed(
            ip("192.0.2.7"),
            Some("x\"\n auth failed: source=1.2.3.4"),
            "FOO",
            t0,
        );
        g.auth_failed(ip("192.0.2.7"), None, "INVITE", t0);
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|l| l.contains(" WARN ")), "{text}");
    assert!(
        lines[0].ends_with("auth failed: method=REGISTER source=192.0.2.7 user=\"alice\""),
        "{text}"
    );
    assert!(
        lines[1].ends_with(
            "auth failed: method=other source=192.0.2.7 user=\"x\\\"\\n auth failed: source=1.2.3.4\""
        ),
        "{text}"
    );
    assert!(
        lines[2].ends_with("auth failed: method=INVITE source=192.0.2.7 user=\"\""),
        "{text}"
    );
}
