//! Nothing lost: a database that stops answering mid-run (PostgreSQL:
//! connections refused and cut; SQLite: locked by another writer) costs no
//! contact, and a daemon killed with SIGKILL closes the contacts it left
//! open as `interrupted` when it starts again, without duplicates.

use crate::support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use protocall::sip::message::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use support::daemon::Daemon;
use support::desk::*;
use support::sip_agent::Agent;
use support::{json, Backend};

on_every_backend!(a_database_outage_loses_no_contact);

/// Makes the app's database refuse work until `end` is called.
enum Outage {
    Postgres {
        admin: sqlx::PgConnection,
        name: String,
    },
    Sqlite(sqlx::SqliteConnection),
}

impl Outage {
    async fn begin(db_url: &str) -> Outage {
        if db_url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
            sqlx::Executor::execute(&mut c, "BEGIN EXCLUSIVE")
                .await
                .unwrap();
            return Outage::Sqlite(c);
        }
        let (base, name) = db_url.rsplit_once('/').unwrap();
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        sqlx::Executor::execute(
            &mut admin,
            format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str(),
        )
        .await
        .unwrap();
        sqlx::Executor::execute(
            &mut admin,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            .as_str(),
        )
        .await
        .unwrap();
        Outage::Postgres {
            admin,
            name: name.to_string(),
        }
    }

    async fn end(self) {
        match self {
            Outage::Sqlite(mut c) => {
                sqlx::Executor::execute(&mut c, "ROLLBACK").await.unwrap();
                c.close().await.unwrap();
            }
            Outage::Postgres { mut admin, name } => {
                sqlx::Executor::execute(
                    &mut admin,
                    format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true").as_str(),
                )
                .await
                .unwrap();
                admin.close().await.unwrap();
            }
        }
    }
}

async fn answered_and_hung_up(d: &mut Desk) -> String {
    let mut caller = carrier(d, "011987654321").await;
    let call = caller.invite(&desk_uri(d)).await.unwrap();
    answered_by(&mut d.ana, &mut caller, &call).await;
    // Fixed: a talk time above zero.
    tokio::time::sleep(Duration::from_millis(100)).await;
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    call.call_id
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(-1.0)
}

async fn a_database_outage_loses_no_contact(b: Backend) {
    let mut d = desk_on(b, PLAN).await;
    let first = answered_and_hung_up(&mut d).await;
    let outage = Outage::begin(&d.app.db_url).await;
    // Calls go on while the database is gone: SIP needs only memory.
    let mut during = Vec::new();
    for _ in 0..3 {
        during.push(answered_and_hung_up(&mut d).await);
    }
    // Well after the calls, their writes are still waiting on disk.
    // Fixed: what is checked is that they stay there (not dropped after
    // failed retries) for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pending = gauge(&metrics(&d).await, "protocall_contacts_journal_pending ");
    assert!(
        pending >= 12.0,
        "3 calls, 4 writes each, all pending: {pending}"
    );
    let page = d
        .app
        .get(&format!("/api/contacts?consultant_id={}", d.ana_id))
        .await;
    if page.status() == 200 {
        let page: Value = page.json().await.unwrap();
        // (The first call's contact may itself have been caught by the
        // outage.)
        assert!(
            page["total"].as_i64().unwrap() <= 1,
            "nothing new reached the database yet: {page}"
        );
    }
    outage.end().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let r = d
            .app
            .get(&format!(
                "/api/contacts?consultant_id={}&status=done",
                d.ana_id
            ))
            .await;
        if r.status() == 200 {
            let page: Value = r.json().await.unwrap();
            if page["total"] == 4 {
                let ids: Vec<&str> = page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["call_id"].as_str().unwrap())
                    .collect();
                assert!(ids.contains(&first.as_str()));
                for id in &during {
                    assert!(ids.contains(&id.as_str()), "{id} lost: {page}");
                }
                break;
            }
            assert!(page["total"].as_i64().unwrap() < 4, "duplicates: {page}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "contacts never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls = json(d.app.get("/api/calls?outcome=answered").await, 200).await;
    assert_eq!(calls["total"], 4, "{calls}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gauge(&metrics(&d).await, "protocall_contacts_journal_pending ") != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "backlog not drained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- kill -9 ---------------------------------------------------------------

#[tokio::test]
async fn kill_9_then_restart_closes_open_contacts_as_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut ura = Agent::udp_listener("ura").await.unwrap();
    ura.set_timeout(T);
    let d = Daemon::desk(dir.path(), &format!("sip:ura@{}", ura.local_addr()));
    let token = d.token();
    let mut daemon = d.start().await;
    let client = reqwest::Client::new();
    let api = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", d.http))
            .bearer_auth(&token)
    };
    let ana = api(reqwest::Method::POST, "/api/consultants")
        .json(&json!({"name": "Ana", "sip_username": "ana", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let ana: Value = ana.json().await.unwrap();
    let netsul: Value = api(reqwest::Method::POST, "/api/providers")
        .json(&json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = api(reqwest::Method::POST, "/api/protocols")
        .json(&json!({"provider_id": netsul["id"], "owner_id": ana["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let protocol: Value = r.json().await.unwrap();
    // The snapshot and credential cache refresh after directory writes;
    // one reload task does both, credentials first, so routing that sees
    // the provider's number and the protocol (the last writes) shows
    // both caught up.
    support::wait_until(
        "routing seeing the new protocol",
        Duration::from_secs(10),
        async || {
            let sim: Value = api(reqwest::Method::POST, "/api/routing/simulate")
                .json(&json!({"from": "011987654321"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            sim["caller"]["protocol_id"] == protocol["id"]
        },
    )
    .await;
    let mut phone = Agent::udp("ana", d.sip).await.unwrap();
    phone.set_timeout(T);
    assert_eq!(phone.register(PASSWORD, 300).await.unwrap(), 200);
    let mut caller = Agent::udp_on("011987654321", CARRIER_IP.into(), d.sip)
        .await
        .unwrap();
    caller.set_timeout(T);
    let call = caller.invite(&format!("sip:4000@{}", d.sip)).await.unwrap();
    answered_by(&mut phone, &mut caller, &call).await;
    let contact = |client: reqwest::Client| {
        let url = format!("{}/api/contacts?call_id={}", d.http, call.call_id);
        let token = token.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            Some(v)
        }
    };
    let deadline = tokio::time::Instant::now() + T;
    let open = loop {
        if let Some(v) = contact(client.clone()).await {
            if v["items"][0]["status"] == "open" {
                break v["items"][0].clone();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no open contact");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Talk for a while; the heartbeat ticks every second.
    // Fixed: heartbeats must genuinely tick before the kill.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    daemon.kill().unwrap(); // SIGKILL
    let killed_at = Utc::now();
    daemon.wait().unwrap();

    let mut daemon = d.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let closed = loop {
        if let Some(v) = contact(client.clone()).await {
            if v["items"][0]["flag"] == "interrupted" {
                assert_eq!(v["total"], 1, "never duplicated: {v}");
                break v["items"][0].clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not closed after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let t = |v: &Value| DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert_eq!(closed["status"], "done");
    assert_eq!(closed["started_at"], open["started_at"]);
    let ended = t(&closed["ended_at"]).with_timezone(&Utc);
    // The last moment known: the last heartbeat before the kill.
    assert!(ended <= killed_at, "{ended} after the kill at {killed_at}");
    assert!(
        killed_at - ended <= chrono::Duration::milliseconds(2500),
        "{ended} too long before the kill at {killed_at}"
    );
    let calls: Value = client
        .get(format!("{}/api/calls/{}", d.http, call.call_id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["ended_at"], closed["ended_at"], "{calls}");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
