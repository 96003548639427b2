//! The location service's rules, binding by binding.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
use super::*;
use std::sync::{Arc, Mutex as StdMutex};

fn binding(aor: &str, contact: &str, q: u16, at: i64, secs: i64) -> Binding {
    Binding {
        aor: aor.into(),
        contact: contact.into(),
        q,
        expires_at_ms: at + secs * 1000,
        registered_at_ms: at,
        source: "192.0.2.1:5060".parse().unwrap(),
        proto: Proto::Udp,
        conn: None,
        call_id: "c1".into(),
        cseq: 1,
        user_agent: None,
    }
}

fn reg(call_id: &str, cseq: u32, contacts: Vec<ContactUpdate>) -> Update {
    Update::Register {
        call_id: call_id.into(),
        cseq,
        contacts,
    }
}

fn up(b: Binding) -> ContactUpdate {
    ContactUpdate::Upsert(b)
}

#[test]
fn contact_equality_follows_rfc3261_19_1_4() {
    let eq = |a: &str, b: &str| ContactKey::new(a).matches(&ContactKey::new(b));
    assert!(eq("sip:alice@10.0.0.1:5060", "SIP:alice@10.0.0.1:5060"));
    assert!(eq("sip:alice@Host.Example", "sip:alice@host.example"));
    assert!(!eq("sip:Alice@host", "sip:alice@host"));
    assert!(!eq("sip:alice@host", "sip:alice@host:5060"));
    assert!(!eq("sip:alice@host", "sips:alice@host"));
    assert!(eq("sip:a@h;transport=TCP", "sip:a@h;transport=tcp"));
    assert!(!eq("sip:a@h;transport=tcp", "sip:a@h"));
    assert!(eq("sip:a@h;ob", "sip:a@h"));
    assert!(!eq("sip:a@h;line=1", "sip:a@h;line=2"));
    assert!(eq("tel:+1", "tel:+1"));
    assert!(!eq("tel:+1", "sip:+1@h"));
    assert!(eq("garbage", "garbage"));
}

#[test]
fn lookup_orders_by_q_then_recency_and_hides_expired() {
    let loc = Location::default();
    let u = reg(
        "c1",
        1,
        vec![
            up(binding("a", "sip:a@1", 500, 1000, 60)),
            up(binding("a", "sip:a@2", 1000, 1000, 60)),
            up(binding("a", "sip:a@3", 1000, 1000, 10)),
        ],
    );
    loc.apply("a", u, 1000).unwrap();
    loc.apply(
        "a",
        reg("c2", 1, vec![up(binding("a", "sip:a@4", 500, 2000, 60))]),
        2000,
    )
    .unwrap();
    let order: Vec<_> = loc
        .lookup("a", 2000)
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(order, ["sip:a@2", "sip:a@3", "sip:a@4", "sip:a@1"]);
    assert_eq!(loc.lookup("a", 11_000).len(), 3);
    assert!(loc.is_registered("a", 11_000));
    assert!(!loc.is_registered("b", 0));
    assert_eq!(loc.count(11_000), 3);
    let gone = loc.expire(11_000);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].contact, "sip:a@3");
    assert!(!loc.is_registered("a", 62_001));
    assert_eq!(loc.expire(62_001).len(), 3);
    assert_eq!(loc.count(0), 0);
}

#[test]
fn ordering_check_is_all_or_nothing() {
    let loc = Location::default();
    loc.apply(
        "a",
        reg("c1", 5, vec![up(binding("a", "sip:a@1", 1000, 0, 60))]),
        0,
    )
    .unwrap();
    // A new contact plus a stale refresh of an old one: nothing lands.
    let err = loc
        .apply(
            "a",
            reg(
                "c1",
                5,
                vec![
                    up(binding("a", "sip:a@2", 1000, 0, 60)),
                    ContactUpdate::Remove("sip:a@1".into()),
                ],
            ),
            0,
        )
        .unwrap_err();
    assert_eq!(
        err,
        ApplyError::OutOfOrder {
            contact: "sip:a@1".into(),
            stored: 5,
            cseq: 5
        }
    );
    assert_eq!(loc.lookup("a", 0).len(), 1);
    // Another Call-ID may change it whatever its CSeq.
    let applied = loc
        .apply(
            "a",
            reg("c9", 1, vec![ContactUpdate::Remove("sip:a@1".into())]),
            0,
        )
        .unwrap();
    assert!(applied.bindings.is_empty());
    assert_eq!(applied.changes.len(), 1);
}

#[test]
fn remove_all_checks_order_then_clears() {
    let loc = Location::default();
    let two = vec![
        up(binding("a", "sip:a@1", 1000, 0, 60)),
        up(binding("a", "sip:a@2", 1000, 0, 60)),
    ];
    loc.apply("a", reg("c1", 3, two), 0).unwrap();
    let stale = Update::RemoveAll {
        call_id: "c1".into(),
        cseq: 2,
    };
    assert!(loc.apply("a", stale, 0).is_err());
    let ok = Update::RemoveAll {
        call_id: "c1".into(),
        cseq: 4,
    };
    assert_eq!(loc.apply("a", ok, 0).unwrap().changes.len(), 2);
    assert!(!loc.is_registered("a", 0));
}

#[test]
fn limit_drops_least_recently_registered() {
    let loc = Location::new(LocationConfig {
        max_bindings_per_aor: 2,
    });
    for (i, t) in [(1, 100), (2, 200), (3, 300)] {
        let b = binding("a", &format!("sip:a@{i}"), 1000, t, 60);
        loc.apply("a", reg("c", i, vec![up(b)]), t).unwrap();
    }
    let left: Vec<_> = loc
        .lookup("a", 300)
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(left, ["sip:a@3", "sip:a@2"]);
    // Refreshing @2 makes @3 the oldest.
    let b = binding("a", "sip:a@2", 1000, 400, 60);
    loc.apply("a", reg("c", 4, vec![up(b)]), 400).unwrap();
    let b = binding("a", "sip:a@5", 1000, 500, 60);
    loc.apply("a", reg("c", 5, vec![up(b)]), 500).unwrap();
    let left: Vec<_> = loc
        .lookup("a", 500)
        .into_iter()
        .map(|b| b.contact)
        .collect();
    assert_eq!(left, ["sip:a@5", "sip:a@2"]);
}

#[test]
fn sink_sees_changes_in_order() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let s2 = seen.clone();
    let loc = Location::with_sink(
        LocationConfig::default(),
        Box::new(move |c| s2.lock().unwrap().push(c)),
    );
    loc.apply(
        "a",
        reg("c", 1, vec![up(binding("a", "sip:a@H", 1000, 0, 60))]),
        0,
    )
    .unwrap();
    // Same contact, other spelling: old spelling removed, new upserted.
    loc.apply(
        "a",
        reg("c", 2, vec![up(binding("a", "sip:a@h", 1000, 0, 60))]),
        0,
    )
    .unwrap();
    loc.expire(61_000);
    let seen = seen.lock().unwrap();
    let kinds: Vec<_> = seen
        .iter()
        .map(|c| match c {
            LocationChange::Upsert(b) => format!("+{}", b.contact),
            LocationChange::Remove { contact, .. } => format!("-{contact}"),
        })
        .collect();
    assert_eq!(kinds, ["+sip:a@H", "-sip:a@H", "+sip:a@h", "-sip:a@h"]);
    // The spelling replaced was asked for; the last one ran out of time,
    // and says so (the store must not write it over a newer refresh).
    let expired: Vec<bool> = seen
        .iter()
        .filter_map(|c| match c {
            LocationChange::Remove { expired, .. } => Some(*expired),
            LocationChange::Upsert(_) => None,
        })
        .collect();
    assert_eq!(expired, [false, true]);
}

#[test]
fn load_restores_and_sheds() {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let s2 = seen.clone();
    let loc = Location::with_sink(
        LocationConfig {
            max_bindings_per_aor: 2,
        },
        Box::new(move |c| s2.lock().unwrap().push(c)),
    );
    let kept = loc.load(
        vec![
            binding("a", "sip:a@1", 1000, 100, 60),
            binding("a", "sip:a@2", 1000, 200, 60),
            binding("a", "sip:a@3", 1000, 300, 60),
            binding("a", "sip:a@old", 1000, -100_000, 1),
            binding("b", "sip:b@1", 1000, 100, 60),
        ],
        1000,
    );
    assert_eq!(kept, 3);
    assert_eq!(loc.lookup("a", 1000).len(), 2);
    assert_eq!(loc.count(1000), 3);
    let removed: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| match c {
            LocationChange::Remove { contact, .. } => contact.clone(),
            LocationChange::Upsert(_) => panic!("load must not upsert"),
        })
        .collect();
    assert_eq!(removed, ["sip:a@old", "sip:a@1"]);
    assert_eq!(loc.snapshot(1000).len(), 3);
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Location>();
    let loc = Arc::new(Location::default());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let loc = loc.clone();
            std::thread::spawn(move || {
                for i in 0..300u32 {
                    let aor = format!("u{}", i % 50);
                    let b = binding(&aor, &format!("sip:{aor}@t{t}"), 1000, 0, 60);
                    let u = reg(&format!("c{t}"), i + 1, vec![up(b)]);
                    loc.apply(&aor, u, 0).unwrap();
                    assert!(loc.is_registered(&aor, 0));
                    assert!(!loc.lookup(&aor, 0).is_empty());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // One binding per (thread, AoR).
    assert_eq!(loc.count(0), 200);
    assert_eq!(loc.snapshot(0).len(), 200);
}

#[test]
fn remaining_secs_rounds_up() {
    let b = binding("a", "sip:a@1", 1000, 0, 60);
    assert_eq!(b.remaining_secs(0), 60);
    assert_eq!(b.remaining_secs(500), 60);
    assert_eq!(b.remaining_secs(1000), 59);
    assert_eq!(b.remaining_secs(60_000), 0);
    assert_eq!(b.remaining_secs(i64::MIN), u32::MAX);
}
