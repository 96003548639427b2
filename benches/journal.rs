//! Can the contact journal keep up with the proxy's peak? A paced load of
//! answered calls, each making the writes a real one makes (call-log row
//! at the answer and at the end, contact opened and closed: 4 journal
//! writes), into SQLite and, when `PROTOCALL_BENCH_POSTGRES_URL` is set,
//! into a fresh PostgreSQL database; reports the backlog every second, its
//! maximum, and how long the tail takes to drain.
//!
//! `cargo bench --bench journal` (defaults: 2,000 contacts/s for 60 s;
//! `JOURNAL_BENCH_RATE`, `JOURNAL_BENCH_SECS` change them).
//!
//! `JOURNAL_BENCH=drain` measures the drain alone instead: a journal left
//! by a previous run with `JOURNAL_BENCH_CONTACTS` contacts (default
//! 20,000: 4 writes each) not yet in the store, drained into a fresh store;
//! `JOURNAL_BENCH_RUNS` times (default 3), printing each and the median
//! contacts/s. The journal is written in the single-file layout
//! (`journal.log` + `journal.checkpoint`) that every version reads, so the
//! same source measures the drain before and after a change.

use std::time::{Duration, Instant};

use protocall::store::{CallContact, CallRow, Store, Write};
use protocall::tracking::journal::{Journal, Recovery};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn call_row(n: u64, ended: bool) -> CallRow {
    let start = 1_764_000_000_000 + n as i64;
    CallRow {
        call_id: format!("bench-{n}@127.0.0.2"),
        from_tag: format!("t{n}"),
        direction: "inbound".into(),
        from_uri: "sip:011987654321@127.0.0.2".into(),
        to_uri: "sip:4000@127.0.0.1".into(),
        caller_number: Some("+5511987654321".into()),
        caller_class: "consulting".into(),
        provider_id: Some(1),
        provider_user_id: None,
        protocol_id: Some(1),
        consultant_id: Some(1),
        consultant: Some("ana".into()),
        rule: "consulting-with-protocol".into(),
        route: "owner".into(),
        outcome: Some("answered".into()),
        final_code: Some(200),
        started_at_ms: start,
        ringing_at_ms: Some(start + 100),
        answered_at_ms: Some(start + 3_000),
        ended_at_ms: ended.then_some(start + 180_000),
        ended_by: ended.then(|| "caller".into()),
        detail: r#"{"steps":[{"route":"owner","ring_ms":20000,"targets":[{"uri":"sip:ana@127.0.0.1:5062","user":"ana"}],"skipped":[]}],"attempts":[],"reject":null}"#.into(),
    }
}

fn contact(n: u64, ended: bool) -> CallContact {
    let start = 1_764_000_000_000 + n as i64;
    CallContact {
        call_id: format!("bench-{n}@127.0.0.2"),
        from_tag: format!("t{n}"),
        direction: "inbound".into(),
        status: if ended { "done" } else { "open" }.into(),
        reason: None,
        consultant_id: Some(1),
        provider_id: Some(1),
        provider_user_id: None,
        protocol_id: Some(1),
        rang_at_ms: start,
        started_at_ms: Some(start + 3_000),
        ended_at_ms: ended.then_some(start + 180_000),
        wait_ms: Some(3_000),
        flag: None,
    }
}

async fn seed(store: &Store) {
    // The rows contacts refer to.
    let ha1 = |n: usize| "0".repeat(n);
    let rec = protocall::store::ConsultantRecord {
        name: "Ana".into(),
        sip_username: "ana".into(),
        ha1_md5: ha1(32),
        ha1_sha256: ha1(64),
        email: None,
        weekly_capacity_hours: 40.0,
        active: true,
        role: protocall::directory::Role::Consultant,
    };
    store.create_consultant(&rec, "bench").await.unwrap();
    store
        .create_provider(
            &protocall::directory::ProviderFields {
                name: "NetSul".into(),
                tax_id: None,
                consulting: true,
                contract_valid_from: None,
                contract_valid_until: None,
            },
            &[],
        )
        .await
        .unwrap();
    store
        .open_protocol(&protocall::store::ProtocolRecord {
            number: None,
            provider_id: 1,
            owner_id: Some(1),
            category: String::new(),
            subject: "bench".into(),
            due_at_ms: None,
        })
        .await
        .unwrap();
}

async fn run(label: &str, url: &str, rate: u64, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(url, 8, chrono_tz::America::Sao_Paulo)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    seed(&store).await;
    let (journal, handle, _) = Journal::open(&dir.path().join("journal")).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = journal.start(
        store.clone(),
        Recovery {
            replayed: 0,
            last_alive_ms: 0,
            started_ms: 0,
        },
        None,
        stop_rx,
    );
    let monitor = handle.monitor();
    let started = Instant::now();
    let mut max_pending = 0u64;
    let mut n = 0u64;
    let mut open: std::collections::VecDeque<u64> = Default::default();
    // Pace in 10 ms slices; each contact ends ~1 s after it was answered.
    let slice = Duration::from_millis(10);
    let per_slice = rate / 100;
    let mut next = Instant::now();
    let mut second = 0;
    println!("{label}: {rate} contacts/s for {secs} s (4 journal writes each)");
    while started.elapsed() < Duration::from_secs(secs) {
        for _ in 0..per_slice {
            handle.append(Write::Call(call_row(n, false)));
            handle.append(Write::Contact(contact(n, false)));
            open.push_back(n);
            n += 1;
        }
        while open.len() as u64 > rate {
            if let Some(o) = open.pop_front() {
                handle.append(Write::Call(call_row(o, true)));
                handle.append(Write::Contact(contact(o, true)));
            }
        }
        max_pending = max_pending.max(monitor.pending());
        let s = started.elapsed().as_secs();
        if s > second {
            second = s;
            if s.is_multiple_of(10) {
                println!("  t={s:>3}s backlog {:>6} writes", monitor.pending());
            }
        }
        next += slice;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
    for o in open.drain(..) {
        handle.append(Write::Call(call_row(o, true)));
        handle.append(Write::Contact(contact(o, true)));
    }
    let load_end = Instant::now();
    while monitor.pending() > 0 {
        max_pending = max_pending.max(monitor.pending());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tail = load_end.elapsed();
    let rejected = handle.rejected();
    drop(handle);
    let _ = stop_tx.send(true);
    tasks.join().await;
    let rows = store
        .list_contacts(&protocall::store::ContactQuery {
            status: Some("done".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .total;
    println!(
        "  {label}: {n} contacts ({:.0}/s offered), max backlog {max_pending} writes \
         ({:.2} s of load), drained {tail:.2?} after the load stopped, {rows} done contacts \
         in the database, {rejected} writes refused",
        n as f64 / secs as f64,
        max_pending as f64 / (4.0 * rate as f64),
    );
    assert_eq!(rows as u64, n, "every contact reached the database");
    assert_eq!(rejected, 0);
    store.close().await;
}

/// A journal as a previous run leaves it: `contacts` answered-and-ended
/// calls (4 writes each) on disk, none in the store.
fn write_old_layout(dir: &std::path::Path, contacts: u64) {
    use std::io::Write as _;
    std::fs::create_dir_all(dir).unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("journal.log")).unwrap());
    let mut seq = 0u64;
    let mut line = |w: Write| {
        seq += 1;
        let v = serde_json::json!({ "seq": seq, "write": w });
        serde_json::to_writer(&mut out, &v).unwrap();
        out.write_all(b"\n").unwrap();
    };
    for n in 0..contacts {
        line(Write::Call(call_row(n, false)));
        line(Write::Contact(contact(n, false)));
        line(Write::Call(call_row(n, true)));
        line(Write::Contact(contact(n, true)));
    }
    out.flush().unwrap();
    drop(out);
    std::fs::write(dir.join("journal.checkpoint"), "0").unwrap();
}

/// Drains a journal of `contacts` contacts into a fresh store at `url`;
/// returns contacts/s.
async fn drain_once(label: &str, url: &str, contacts: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(url, 8, chrono_tz::America::Sao_Paulo)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    seed(&store).await;
    let jdir = dir.path().join("journal");
    write_old_layout(&jdir, contacts);
    let (journal, handle, rec) = Journal::open(&jdir).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let monitor = handle.monitor();
    let started = Instant::now();
    let tasks = journal.start(
        store.clone(),
        Recovery {
            replayed: rec.replayed as u64,
            last_alive_ms: 0,
            started_ms: 0,
        },
        None,
        stop_rx,
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    while monitor.pending() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = started.elapsed();
    drop(handle);
    let _ = stop_tx.send(true);
    tasks.join().await;
    let rows = store
        .list_contacts(&protocall::store::ContactQuery {
            status: Some("done".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .total;
    assert_eq!(rows as u64, contacts, "every contact reached the database");
    store.close().await;
    let rate = contacts as f64 / took.as_secs_f64();
    println!(
        "  {label}: drained {contacts} contacts ({} writes) in {took:.2?}: {rate:.0} contacts/s",
        4 * contacts
    );
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A fresh PostgreSQL database for one run, dropped by `drop_pg`.
async fn fresh_pg(base: &str, n: u64) -> (sqlx::PgConnection, String, String) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(base).await.unwrap();
    let name = format!("protocall_bench_{}_{n}", std::process::id());
    sqlx::Executor::execute(&mut c, format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .unwrap();
    sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    (c, name, url)
}

async fn drop_pg(mut c: sqlx::PgConnection, name: &str) {
    sqlx::Executor::execute(
        &mut c,
        format!("DROP DATABASE {name} WITH (FORCE)").as_str(),
    )
    .await
    .unwrap();
}

async fn drain_bench() {
    let contacts = env_u64("JOURNAL_BENCH_CONTACTS", 20_000);
    let runs = env_u64("JOURNAL_BENCH_RUNS", 3);
    let pg = std::env::var("PROTOCALL_BENCH_POSTGRES_URL").ok();
    let (mut lite, mut post) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        lite.push(drain_once("SQLite", &url, contacts).await);
        if let Some(base) = &pg {
            let (c, name, url) = fresh_pg(base, i).await;
            post.push(drain_once("PostgreSQL", &url, contacts).await);
            drop_pg(c, &name).await;
        }
    }
    println!(
        "drain median over {runs} runs: SQLite {:.0} contacts/s",
        median(lite)
    );
    if !post.is_empty() {
        println!(
            "drain median over {runs} runs: PostgreSQL {:.0} contacts/s",
            median(post)
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let rate = env_u64("JOURNAL_BENCH_RATE", 2_000);
    let secs = env_u64("JOURNAL_BENCH_SECS", 60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var("JOURNAL_BENCH").as_deref() == Ok("drain") {
        rt.block_on(drain_bench());
        return;
    }
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        run("SQLite", &url, rate, secs).await;
        if let Ok(base) = std::env::var("PROTOCALL_BENCH_POSTGRES_URL") {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
            let name = format!("protocall_bench_{}", std::process::id());
            sqlx::Executor::execute(&mut c, format!("DROP DATABASE IF EXISTS {name}").as_str())
                .await
                .unwrap();
            sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            run("PostgreSQL", &format!("{prefix}/{name}"), rate, secs).await;
            sqlx::Executor::execute(
                &mut c,
                format!("DROP DATABASE {name} WITH (FORCE)").as_str(),
            )
            .await
            .unwrap();
        }
    });
}
