//! Two instances, one desk (the `[cluster]` section) on PostgreSQL: a phone
//! registered through one instance rings through the other, its removal
//! is seen there too, each instance marks the calls and contacts it wrote,
//! a restart closes only its own interrupted contacts, and a consultant in
//! a call through a live instance is busy for the others.
//!
//! PostgreSQL only (instances share the desk through it): skipped when
//! `PROTOCALL_TEST_POSTGRES_URL` is unset.

use crate::support;

use std::time::{Duration, Instant};

use protocall::sip::message::Method;
use protocall::store::{Beat, CallContact, Store, Write};
use serde_json::json;
use sqlx::Row;
use support::desk::*;
use support::TestApp;

fn cluster(instance: &str) -> Vec<(String, String)> {
    vec![
        ("PROTOCALL__CLUSTER__INSTANCE".into(), instance.into()),
        ("PROTOCALL__CLUSTER__POLL_MS".into(), "100".into()),
    ]
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn a_phone_registered_through_one_instance_rings_through_the_other() {
    let Some(pg) = support::postgres() else {
        eprintln!("skipped: {} is not set", support::PG_ENV);
        return;
    };
    // Instance a: the desk fixture; ana and bia register through it.
    let mut d = desk_custom(pg, PLAN, |_, _| cluster("a")).await;
    // Instance b: same database, dialplan and URA; its own journal.
    let ura = format!("sip:ura@{}", d.ura.local_addr());
    let plans = d.plans.display().to_string();
    let b_env: Vec<(String, String)> = [
        ("PROTOCALL__ROUTING__DIALPLANS".to_string(), plans),
        ("PROTOCALL__ROUTING__URA_URI".to_string(), ura),
        (
            "PROTOCALL__ROUTING__TRUSTED_PEERS".to_string(),
            "[\"127.0.0.2\"]".to_string(),
        ),
    ]
    .into_iter()
    .chain(cluster("b"))
    .collect();
    let b_env: Vec<(&str, &str)> = b_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let b = TestApp::spawn_on(d.app.db_url.clone(), tempfile::tempdir().unwrap(), &b_env).await;

    // ana re-registers through a now that b runs: b must learn of it
    // from the store, within the second the desk asks for.
    assert_eq!(d.ana.register(PASSWORD, 300).await.unwrap(), 200);
    let at = now_ms();
    let started = Instant::now();
    support::wait::wait_until("b sees ana's binding", Duration::from_secs(3), async || {
        b.location
            .lookup("ana", now_ms())
            .iter()
            .any(|x| x.registered_at_ms >= at - 1_000)
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A carrier call through b rings ana's phone, registered through a.
    let mut caller = support::sip_agent::Agent::udp_on("11987654321", CARRIER_IP.into(), b.sip_udp)
        .await
        .unwrap();
    caller.set_timeout(T);
    let call = caller
        .invite(&format!("sip:4000@127.0.0.1:{}", b.sip_udp.port()))
        .await
        .unwrap();
    answered_by(&mut d.ana, &mut caller, &call).await;
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();

    // The contact is b's, closed normally, once.
    let pool = sqlx::PgPool::connect(&d.app.db_url).await.unwrap();
    let start = Instant::now();
    let row = loop {
        let rows = sqlx::query("SELECT instance, status, flag FROM contacts WHERE call_id = $1")
            .bind(&call.call_id)
            .fetch_all(&pool)
            .await
            .unwrap();
        if rows.len() == 1 && rows[0].get::<String, _>("status") == "done" {
            break rows.into_iter().next().unwrap();
        }
        assert!(
            start.elapsed() < T,
            "no closed contact for the call: {} rows",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(row.get::<String, _>("instance"), "b");
    assert_eq!(row.get::<Option<String>, _>("flag"), None);
    let instance: String = sqlx::query("SELECT instance FROM calls WHERE call_id = $1")
        .bind(&call.call_id)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("instance");
    assert_eq!(instance, "b");

    // A new client and its protocol, entered through a: b routes by them
    // too (its directory follows a's changes), to bia, registered through a.
    let provider = support::json(
        d.app
            .post(
                "/api/providers",
                json!({"name": "Rede Norte", "consulting": true, "numbers": ["(31) 3333-4444"]}),
            )
            .await,
        201,
    )
    .await;
    support::json(
        d.app
            .post(
                "/api/protocols",
                json!({"provider_id": provider["id"], "owner_id": d.bia_id}),
            )
            .await,
        201,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut caller = support::sip_agent::Agent::udp_on("3133334444", CARRIER_IP.into(), b.sip_udp)
        .await
        .unwrap();
    caller.set_timeout(T);
    let call = caller
        .invite(&format!("sip:4000@127.0.0.1:{}", b.sip_udp.port()))
        .await
        .unwrap();
    answered_by(&mut d.bia, &mut caller, &call).await;
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.bia.next_request_of(Method::Bye, T).await.unwrap();
    d.bia.respond(&bye, 200).await.unwrap();

    // ana unregisters through a: b stops ringing her.
    assert_eq!(d.ana.register(PASSWORD, 0).await.unwrap(), 200);
    support::wait::wait_until(
        "b drops ana's binding",
        Duration::from_secs(3),
        async || !b.location.is_registered("ana", now_ms()),
    )
    .await;
    pool.close().await;
}

fn open_contact(call_id: &str, rang_at_ms: i64) -> Write {
    Write::Contact(CallContact {
        call_id: call_id.into(),
        from_tag: "t".into(),
        direction: "inbound".into(),
        status: "open".into(),
        reason: None,
        consultant_id: None,
        provider_id: None,
        provider_user_id: None,
        protocol_id: None,
        rang_at_ms,
        started_at_ms: Some(rang_at_ms + 1_000),
        ended_at_ms: None,
        wait_ms: Some(1_000),
        flag: None,
    })
}

async fn shared_stores() -> Option<(Store, Store, tempfile::TempDir)> {
    let pg = support::postgres()?;
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_database(&pg, dir.path()).await;
    let open = |name: &'static str| {
        let url = url.clone();
        async move {
            Store::connect(&url, 2, chrono_tz::UTC)
                .await
                .unwrap()
                .with_instance(name)
        }
    };
    let a = open("a").await;
    a.migrate().await.unwrap();
    let b = open("b").await;
    Some((a, b, dir))
}

#[tokio::test]
async fn a_restart_closes_only_its_own_interrupted_contacts() {
    let Some((a, b, _dir)) = shared_stores().await else {
        eprintln!("skipped: {} is not set", support::PG_ENV);
        return;
    };
    let t = now_ms() - 60_000;
    a.write_batch([&open_contact("on-a", t)]).await.unwrap();
    b.write_batch([&open_contact("on-b", t)]).await.unwrap();
    // a was killed at t + 10 s and has just started again.
    assert_eq!(
        a.close_interrupted_contacts(t + 10_000, now_ms())
            .await
            .unwrap(),
        1
    );
    let state = |call: &'static str| {
        let a = a.clone();
        async move {
            let c = a
                .list_contacts(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|c| c.call_id.as_deref() == Some(call))
                .unwrap();
            (c.status, c.flag, c.ended_at)
        }
    };
    let (status, flag, ended) = state("on-a").await;
    assert_eq!(
        (status.as_str(), flag.as_deref()),
        ("done", Some("interrupted"))
    );
    assert!(ended.is_some());
    // b is still running: its call goes on.
    let (status, flag, ended) = state("on-b").await;
    assert_eq!((status.as_str(), flag, ended), ("open", None, None));
}

#[tokio::test]
async fn consultants_in_a_call_elsewhere_are_busy_while_that_instance_lives() {
    let Some((a, b, _dir)) = shared_stores().await else {
        eprintln!("skipped: {} is not set", support::PG_ENV);
        return;
    };
    let now = now_ms();
    let beat = |users: &[&str], generation: i64| Beat {
        in_call: users.iter().map(|u| u.to_string()).collect(),
        directory_generation: generation,
    };
    a.cluster_beat(&beat(&["ana", "bia"], 3), now)
        .await
        .unwrap();
    b.cluster_beat(&beat(&["caio"], 0), now).await.unwrap();
    // Each sees the other's, never its own.
    let seen_by_b = b.cluster_peers(now - 10_000).await.unwrap();
    assert_eq!(seen_by_b.in_call, ["ana", "bia"]);
    assert_eq!(seen_by_b.generations, [("a".to_string(), 3)]);
    assert_eq!(
        a.cluster_peers(now - 10_000).await.unwrap().in_call,
        ["caio"]
    );
    // a falls silent: past the timeout its calls no longer count.
    assert_eq!(b.cluster_peers(now + 1).await.unwrap(), Default::default());
    // a beats again with bia's call over.
    a.cluster_beat(&beat(&["ana"], 4), now + 500).await.unwrap();
    assert_eq!(b.cluster_peers(now).await.unwrap().in_call, ["ana"]);
}

#[tokio::test]
async fn instances_starting_together_migrate_the_database_once() {
    let Some(pg) = support::postgres() else {
        eprintln!("skipped: {} is not set", support::PG_ENV);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_database(&pg, dir.path()).await;
    let open = |name: &'static str| {
        let url = url.clone();
        async move {
            let store = Store::connect(&url, 2, chrono_tz::UTC)
                .await
                .unwrap()
                .with_instance(name);
            store.migrate().await
        }
    };
    // Without the lock, one of the two fails on a table the other made.
    for _ in 0..3 {
        let (a, b) = tokio::join!(open("a"), open("b"));
        let (a, b) = (a.unwrap(), b.unwrap());
        // Each migration ran once: by one of them, or before.
        assert!(a.is_empty() || b.is_empty(), "{a:?} / {b:?}");
    }
}
