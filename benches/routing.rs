//! The desk's routing decision at the size the issue sets: 100,000 numbers
//! and 20,000 open protocols in the directory, 50 registered consultants,
//! the shipped process as dialplan. Also the directory reload an API
//! change triggers (`Store::load_snapshot` from SQLite at that size), which
//! runs beside calls: decisions keep reading the old snapshot until the
//! new one is swapped in.
//!
//! `cargo bench --bench routing`

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

use protocall::directory::snapshot::{
    ConsultantEntry, NumberEntry, ProtocolEntry, ProviderEntry, SharedDirectory, Snapshot,
};
use protocall::directory::Presence;
use protocall::net::TrustedPeers;
use protocall::routing::busy::InCall;
use protocall::routing::desk::DeskRouter;
use protocall::routing::dialplan::load_dir;
use protocall::sip::location::{Binding, Location, LocationConfig};
use protocall::sip::router::{RouteRequest, Router};
use protocall::sip::transport::Proto;

const PROVIDERS: i64 = 25_000;
const NUMBERS_PER_PROVIDER: i64 = 4;
const PROTOCOLS: i64 = 20_000;
const CONSULTANTS: i64 = 50;

fn number(provider: i64, k: i64) -> String {
    format!("+55119{:08}", provider * NUMBERS_PER_PROVIDER + k)
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    for c in 1..=CONSULTANTS {
        let user = format!("c{c}");
        s.usernames.insert(user.clone(), c);
        s.consultants.insert(
            c,
            ConsultantEntry {
                id: c,
                name: user.clone(),
                sip_username: user,
                active: true,
                presence: Presence::Available,
            },
        );
    }
    for p in 1..=PROVIDERS {
        s.providers.insert(
            p,
            ProviderEntry {
                id: p,
                name: format!("Provider {p}"),
                // Three in five have a consulting contract.
                consulting: p % 5 < 3,
                contract_valid_from: None,
                contract_valid_until: None,
            },
        );
        for k in 0..NUMBERS_PER_PROVIDER {
            s.numbers.insert(
                number(p, k),
                NumberEntry {
                    provider_id: p,
                    user_id: None,
                },
            );
        }
    }
    // Two open protocols for each of the first 10,000 providers.
    for i in 0..PROTOCOLS {
        let provider = i / 2 + 1;
        s.open_protocols
            .entry(provider)
            .or_default()
            .push(ProtocolEntry {
                id: i + 1,
                number: format!("P{}", i + 1),
                provider_id: provider,
                owner_id: Some(i % CONSULTANTS + 1),
                opened_at_ms: 1_700_000_000_000 + i,
                due_at_ms: Some(1_800_000_000_000 - i),
            });
    }
    s
}

const PLAN: &str = r#"
[hours]
mon = ["08:00-18:00"]
tue = ["08:00-18:00"]
wed = ["08:00-18:00"]
thu = ["08:00-18:00"]
fri = ["08:00-18:00"]
holidays = ["2026-12-25"]

[teams]
consulting = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"]

[[rule]]
name = "after-hours"
when.outside_hours = true
steps = [{ action = "ura" }]

[[rule]]
name = "consulting-with-protocol"
when.caller = ["consulting"]
when.has_open_protocol = true
steps = [
  { action = "owner", ring_seconds = 20 },
  { action = "team", team = "consulting", strategy = "parallel", ring_seconds = 30 },
  { action = "ura" },
]

[[rule]]
name = "consulting-without-protocol"
when.caller = ["consulting"]
steps = [{ action = "team", team = "consulting", ring_seconds = 30 }, { action = "ura" }]

[[rule]]
name = "not-a-consulting-client"
steps = [{ action = "ura" }]
"#;

fn desk(dir: &std::path::Path) -> DeskRouter {
    std::fs::write(dir.join("default.toml"), PLAN).unwrap();
    let tz = chrono_tz::America::Sao_Paulo;
    let location = Arc::new(Location::new(LocationConfig::default()));
    let now = Utc::now().timestamp_millis();
    location.load(
        (1..=CONSULTANTS).map(|c| Binding {
            aor: format!("c{c}"),
            contact: format!("sip:c{c}@127.0.0.1:{}", 20_000 + c),
            q: 1000,
            expires_at_ms: now + 3_600_000,
            registered_at_ms: now,
            source: SocketAddr::from(([127, 0, 0, 1], 20_000 + c as u16)),
            proto: Proto::Udp,
            conn: None,
            call_id: format!("reg{c}"),
            cseq: 1,
            user_agent: None,
        }),
        now,
    );
    DeskRouter {
        directory: Arc::new(SharedDirectory::new(snapshot())),
        dialplan: Arc::new(RwLock::new(Arc::new(load_dir(dir, tz).unwrap()))),
        dialplans_dir: dir.to_path_buf(),
        location,
        trusted: TrustedPeers::parse(&["127.0.0.2"]).unwrap(),
        country: phonenumber::country::Id::BR,
        tz,
        ura: protocall::sip::message::Uri::parse(Bytes::from_static(b"sip:ura@127.0.0.1:5090"))
            .ok(),
        trunk: None,
        in_call: Arc::new(InCall::default()),
        skip_busy: true,
        notes: None,
        decision_seconds: None,
        resolver: Arc::new(protocall::sip::resolve::SipResolver::literal_only()),
    }
}

fn invite(from: &str) -> protocall::sip::message::SipMessage {
    let text = format!(
        "INVITE sip:4000@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKbench\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@carrier.example>;tag=1\r\n\
         To: <sip:4000@127.0.0.1>\r\nCall-ID: bench@127.0.0.2\r\nCSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    protocall::sip::parse::parse(Bytes::from(text), true).unwrap()
}

fn decisions(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let desk = desk(dir.path());
    // A Tuesday at 10:00 in São Paulo: business hours.
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 13, 0, 0).unwrap();
    let source: SocketAddr = "127.0.0.2:5060".parse().unwrap();
    // National spellings, as carriers send them: the lookup normalises.
    let cases = [
        ("consulting client with a protocol", "011900000005"),
        ("consulting client without a protocol", "011900080002"),
        ("not a consulting client", "011900000013"),
        ("unknown number", "02133334444"),
    ];
    let mut g = c.benchmark_group("routing_decision");
    for (name, from) in cases {
        let msg = invite(from);
        let uri = match msg.parsed_request_uri() {
            Some(Ok(u)) => u,
            _ => panic!("bad request URI"),
        };
        let req = RouteRequest {
            msg: &msg,
            uri: &uri,
            source,
            proto: Proto::Udp,
            uri_is_local: true,
            caller_user: None,
            now_ms: at.timestamp_millis(),
        };
        let (explained, _) = desk.explain_at(&req, at);
        eprintln!(
            "{name}: class {:?}, rule {}, groups {}",
            explained.caller.class,
            explained.plan.rule,
            explained.groups.len()
        );
        g.bench_function(name, |b| b.iter(|| black_box(desk.explain_at(&req, at))));
    }
    // The full router entry point the proxy calls (clock read included).
    let msg = invite("011900000005");
    let uri = match msg.parsed_request_uri() {
        Some(Ok(u)) => u,
        _ => panic!("bad request URI"),
    };
    let req = RouteRequest {
        msg: &msg,
        uri: &uri,
        source,
        proto: Proto::Udp,
        uri_is_local: true,
        caller_user: None,
        now_ms: Utc::now().timestamp_millis(),
    };
    g.bench_function("Router::route", |b| b.iter(|| black_box(desk.route(&req))));
    g.finish();
}

/// Fills a SQLite directory of the benchmark's size through plain SQL.
async fn seeded_store(dir: &std::path::Path) -> protocall::store::Store {
    let url = format!("sqlite://{}/bench.db", dir.display());
    let store = protocall::store::Store::connect(&url, 4, chrono_tz::America::Sao_Paulo)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for c in 1..=CONSULTANTS {
        sqlx::query(
            "INSERT INTO consultants (id, name, sip_username, ha1_md5, ha1_sha256, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 0, 0)",
        )
        .bind(c)
        .bind(format!("Consultant {c}"))
        .bind(format!("c{c}"))
        .bind("0".repeat(32))
        .bind("0".repeat(64))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for p in 1..=PROVIDERS {
        sqlx::query(
            "INSERT INTO providers (id, name, consulting, created_at, updated_at) VALUES (?, ?, ?, 0, 0)",
        )
        .bind(p)
        .bind(format!("Provider {p}"))
        .bind(i64::from(p % 5 < 3))
        .execute(&mut *tx)
        .await
        .unwrap();
        for k in 0..NUMBERS_PER_PROVIDER {
            sqlx::query(
                "INSERT INTO provider_numbers (provider_id, e164, created_at) VALUES (?, ?, 0)",
            )
            .bind(p)
            .bind(number(p, k))
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    for i in 0..PROTOCOLS {
        sqlx::query(
            "INSERT INTO protocols (number, provider_id, owner_id, status, opened_at, due_at) \
             VALUES (?, ?, ?, 'open', ?, ?)",
        )
        .bind(format!("P{}", i + 1))
        .bind(i / 2 + 1)
        .bind(i % CONSULTANTS + 1)
        .bind(1_700_000_000_000 + i)
        .bind(1_800_000_000_000 - i)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
    store
}

fn reload(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(seeded_store(dir.path()));
    let snap = rt.block_on(store.load_snapshot()).unwrap();
    assert_eq!(snap.numbers.len() as i64, PROVIDERS * NUMBERS_PER_PROVIDER);
    assert_eq!(
        snap.open_protocols.values().map(Vec::len).sum::<usize>() as i64,
        PROTOCOLS
    );
    let shared = SharedDirectory::new(snap);
    let mut g = c.benchmark_group("directory_reload");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("load_snapshot + swap (100k numbers, 20k protocols)", |b| {
        b.iter(|| {
            let fresh = rt.block_on(store.load_snapshot()).unwrap();
            shared.replace(fresh);
        })
    });
    g.finish();
}

criterion_group!(benches, decisions, reload);
criterion_main!(benches);
