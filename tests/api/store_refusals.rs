//! A write the database refuses for its data is set aside, counted and
//! passed over; it never holds up the contacts behind it. On PostgreSQL the
//! real-world trigger is a NUL byte in text (SQLSTATE 22021), which used to
//! be retried forever while every later contact waited.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use protocall::store::{CallContact, StoreError, Write};
use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(refused_writes_are_set_aside_and_later_contacts_arrive);

fn contact(call_id: &str, status: &str) -> Write {
    Write::Contact(CallContact {
        call_id: call_id.to_owned(),
        from_tag: "caller-tag".into(),
        direction: "inbound".into(),
        status: status.to_owned(),
        reason: None,
        consultant_id: None,
        provider_id: None,
        provider_user_id: None,
        protocol_id: None,
        rang_at_ms: 1_764_000_000_000,
        started_at_ms: Some(1_764_000_001_000),
        ended_at_ms: Some(1_764_000_061_000),
        wait_ms: Some(1_000),
        flag: None,
    })
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn refused_writes_are_set_aside_and_later_contacts_arrive(b: Backend) {
    let postgres = matches!(b, Backend::Postgres(_));
    // The previous run's journal, as it would be on disk: good contacts
    // around one every database refuses (a status its CHECK forbids) and
    // one with a NUL in its Call-ID (PostgreSQL cannot store it; SQLite
    // can).
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    let writes = [
        contact("good-1", "done"),
        contact("bad-status", "bogus"),
        contact("nul\0inside", "done"),
        contact("good-2", "missed"),
        contact("good-3", "done"),
        contact("good-4", "abandoned"),
    ];
    let mut log = String::new();
    for (i, w) in writes.iter().enumerate() {
        log.push_str(&json!({"seq": i + 1, "write": w}).to_string());
        log.push('\n');
    }
    std::fs::write(journal.join("journal.log"), log).unwrap();

    let journal_env = journal.display().to_string();
    let app = TestApp::spawn_with(
        b,
        &[("PROTOCALL__TRACKING__JOURNAL_DIR", journal_env.as_str())],
    )
    .await;

    let good: BTreeSet<String> = ["good-1", "good-2", "good-3", "good-4"]
        .map(String::from)
        .into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stored: BTreeSet<String> = loop {
        let page = json(app.get("/api/contacts?limit=100").await, 200).await;
        let ids: BTreeSet<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["call_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        if ids.is_superset(&good) {
            break ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "later contacts never reached the database: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut expected = good.clone();
    if !postgres {
        expected.insert("nul\0inside".to_owned());
    }
    assert_eq!(stored, expected);

    // Set aside, with the reason, in order; the file is private.
    let refused_seqs: Vec<u64> = if postgres { vec![2, 3] } else { vec![2] };
    let rejects = journal.join("journal.rejects");
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, refused_seqs, "{text}");
    assert_eq!(lines[0]["write"]["call_id"], "bad-status");
    assert_eq!(lines[0]["write"]["status"], "bogus");
    let reason = lines[0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("check"), "{reason}");
    if postgres {
        assert_eq!(lines[1]["write"]["call_id"], "nul\0inside");
        let reason = lines[1]["reason"].as_str().unwrap();
        assert!(reason.contains("0x00"), "{reason}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rejects).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Counted, and nothing left waiting (no endless retry).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = app.get_text("/metrics").await;
        let refused = metric(&text, "protocall_journal_refused_total");
        let pending = metric(&text, "protocall_contacts_journal_pending");
        if refused == Some(refused_seqs.len() as f64) && pending == Some(0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "refused {refused:?}, pending {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The classification itself, on real PostgreSQL errors: a data exception
/// and a constraint are refusals, a refused connection is not.
#[tokio::test]
async fn postgres_errors_are_told_apart_by_sqlstate() {
    use sqlx::{Connection, Executor};
    let Some(Backend::Postgres(base)) = support::postgres() else {
        eprintln!("{} not set: PostgreSQL run skipped", support::PG_ENV);
        return;
    };
    let mut c = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("{} is set but unreachable: {e}", support::PG_ENV));
    c.execute("CREATE TEMP TABLE t (a TEXT NOT NULL CHECK (a <> 'bad'), b INT UNIQUE)")
        .await
        .unwrap();
    c.execute("INSERT INTO t VALUES ('x', 1)").await.unwrap();
    let nul = sqlx::query("INSERT INTO t (a) VALUES ($1)")
        .bind("a\0b")
        .execute(&mut c)
        .await
        .unwrap_err();
    let e = StoreError::Db(nul);
    assert!(e.is_data_error(), "{e}");
    for sql in [
        "INSERT INTO t (a) VALUES ('bad')",
        "INSERT INTO t (a) VALUES (NULL)",
        "INSERT INTO t (a, b) VALUES ('y', 1)",
        "SELECT 1 / 0",
    ] {
        let e = StoreError::Db(c.execute(sql).await.unwrap_err());
        assert!(e.is_data_error(), "{sql}: {e}");
    }
    let e = StoreError::Db(c.execute("SELECT * FROM nowhere").await.unwrap_err());
    assert!(
        !e.is_data_error(),
        "a missing table is no data problem: {e}"
    );
    // Nothing listens on port 1: refused, which is worth retrying.
    let refused = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:1/x")
        .await
        .unwrap_err();
    assert!(!StoreError::Db(refused).is_data_error());
}
