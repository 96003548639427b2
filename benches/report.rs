//! The weekly report at a year's size: 50 consultants, 100,000 contacts and
//! 50,000 tasks over 52 weeks (plus protocols, work plans, calls' contacts),
//! in SQLite and, when `PROTOCALL_BENCH_POSTGRES_URL` is set, PostgreSQL.
//! Times the computation and each format (median of 5 runs).
//!
//! `cargo bench --bench report`

use std::time::{Duration, Instant};

use protocall::reports::{render, weekly};
use protocall::store::Store;

const CONSULTANTS: i64 = 50;
const CONTACTS: i64 = 100_000;
const TASKS: i64 = 50_000;
const WEEKS: i64 = 52;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
/// Monday 2025-11-24 00:00 in São Paulo: the year runs to 2026-11-23.
const START: i64 = 1_763_953_200_000;

async fn seed(url: &str) -> Store {
    let store = Store::connect(url, 8, chrono_tz::America::Sao_Paulo)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let pg = url.starts_with("postgres");
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    let active = if pg { "TRUE" } else { "1" };
    for c in 1..=CONSULTANTS {
        sqlx::query(&format!(
            "INSERT INTO consultants (id, name, sip_username, ha1_md5, ha1_sha256, active, created_at, updated_at) \
             VALUES ({c}, 'Consultant {c}', 'c{c}', '{}', '{}', {active}, 0, 0)",
            "0".repeat(32),
            "0".repeat(64)
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO providers (id, name, created_at, updated_at) VALUES (1, 'NetSul', 0, 0)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    // Multi-row inserts: a year of work in a few hundred statements.
    let chunk = 500;
    let channels = ["phone", "phone", "phone", "chat", "email", "meeting"];
    let mut i = 0;
    while i < CONTACTS {
        let mut values = Vec::new();
        for n in i..(i + chunk).min(CONTACTS) {
            let c = n % CONSULTANTS + 1;
            let start = START + (n * 52 * WEEK_MS / CONTACTS) / 60_000 * 60_000;
            let ch = channels[(n % channels.len() as i64) as usize];
            let (source, direction, call) = if ch == "phone" {
                ("call", "'inbound'", format!("'c{n}'"))
            } else {
                ("manual", "NULL", "NULL".to_string())
            };
            let status = if n % 17 == 0 { "missed" } else { "done" };
            let (st, en) = if status == "done" {
                (
                    format!("{}", start + 20_000),
                    format!("{}", start + 20_000 + (n % 40 + 2) * 60_000),
                )
            } else {
                ("NULL".into(), format!("{}", start + 30_000))
            };
            values.push(format!(
                "('triggered', '{ch}', {direction}, '{status}', {c}, 1, {call}, {start}, {st}, {en}, 20000, '{source}', 0, 0)"
            ));
        }
        sqlx::query(&format!(
            "INSERT INTO contacts (kind, channel, direction, status, consultant_id, provider_id, call_id, \
             rang_at, started_at, ended_at, wait_ms, source, created_at, updated_at) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        i += chunk;
    }
    let cats = [
        "gin",
        "documentation",
        "review",
        "support-monitoring",
        "communicate-completion",
    ];
    let mut i = 0;
    while i < TASKS {
        let mut values = Vec::new();
        for n in i..(i + chunk).min(TASKS) {
            let c = n % CONSULTANTS + 1;
            let start = START + (n * 52 * WEEK_MS / TASKS) / 60_000 * 60_000;
            let cat = cats[(n % cats.len() as i64) as usize];
            values.push(format!(
                "({c}, '{cat}', 'done', {start}, {}, 'manual', 0, 0)",
                start + (n % 90 + 15) * 60_000
            ));
        }
        sqlx::query(&format!(
            "INSERT INTO tasks (consultant_id, category, status, started_at, ended_at, source, created_at, updated_at) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
        i += chunk;
    }
    // Protocols closed through the year, a work plan for every week.
    let mut values = Vec::new();
    for n in 0..5_000i64 {
        let opened = START + n * WEEK_MS * WEEKS / 5_000;
        values.push(format!(
            "('P{n}', 1, {}, 'closed', {opened}, {}, {})",
            n % CONSULTANTS + 1,
            opened + 20 * 3600 * 1000,
            opened + (n % 48) * 3600 * 1000
        ));
    }
    for part in values.chunks(500) {
        sqlx::query(&format!(
            "INSERT INTO protocols (number, provider_id, owner_id, status, opened_at, due_at, closed_at) VALUES {}",
            part.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    for c in 1..=CONSULTANTS {
        store
            .set_work_plan(
                c,
                "2026-W47",
                &[("gin".into(), 600), ("documentation".into(), 480)],
            )
            .await
            .unwrap();
    }
    pool.close().await;
    store
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn run(label: &str, url: &str) {
    let t = Instant::now();
    let store = seed(url).await;
    println!("{label}: seeded in {:.1?}", t.elapsed());
    let dir = std::env::current_dir().unwrap();
    let mut settings = protocall::config::Settings::from_parts("bench", "", &[]).unwrap();
    settings.routing.dialplans = dir.join("dialplans");
    let cfg = weekly::ReportConfig::from_settings(&settings).expect("the shipped dialplan loads");
    let now = chrono::Utc::now();
    let mut compute = Vec::new();
    let mut report = None;
    for _ in 0..5 {
        let t = Instant::now();
        report = Some(
            weekly::weekly(&store, &cfg, "2026-W47", "2026-W48", now)
                .await
                .unwrap(),
        );
        compute.push(t.elapsed());
    }
    let r = report.unwrap();
    assert!(
        r.evolution.iter().all(|w| w.contacts > 0),
        "the year is populated"
    );
    println!(
        "  compute (10 items, 8 weeks of evolution): median {:.1?} (contacts in the week: {})",
        median(compute.clone()),
        r.evolution.last().map(|w| w.contacts).unwrap_or(0)
    );
    for &format in render::ReportFormat::ALL {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let r = weekly::weekly(&store, &cfg, "2026-W47", "2026-W48", now)
                .await
                .unwrap();
            let (_, bytes) = render::any(&r, format, cfg.lang).unwrap();
            size = bytes.len();
            times.push(t.elapsed());
        }
        println!(
            "  {:<5} end to end: median {:.1?} ({size} bytes)",
            format.as_str(),
            median(times)
        );
    }
    store.close().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/report.db?mode=rwc", dir.path().display());
        run("SQLite", &url).await;
        if let Ok(base) = std::env::var("PROTOCALL_BENCH_POSTGRES_URL") {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
            let name = format!("protocall_report_{}", std::process::id());
            sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            run("PostgreSQL", &format!("{prefix}/{name}")).await;
            sqlx::Executor::execute(
                &mut c,
                format!("DROP DATABASE {name} WITH (FORCE)").as_str(),
            )
            .await
            .unwrap();
        }
    });
}
