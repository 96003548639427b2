//! A day at the desk, replayed: calls in and out, a chat, a meeting, task
//! timers, a protocol closed. At the end the database holds exactly the
//! contacts and tasks a careful consultant would have written by hand, at
//! the times the test saw things happen, with nothing entered by hand for
//! the calls.

use crate::support;

use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use protocall::sip::message::Method;
use serde_json::{json, Value};
use support::desk::*;
use support::json;

fn t(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap()
}

fn iso(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn near(v: &Value, want: DateTime<Utc>, what: &str) {
    let got = t(v).with_timezone(&Utc);
    let diff = (got - want).num_milliseconds().abs();
    assert!(diff <= 150, "{what}: {got} vs {want} ({diff} ms)");
}

/// Fixed: time genuinely passes between the consultant's steps, so each
/// one's times are told apart (checked to 150 ms by `near`).
async fn pause() {
    tokio::time::sleep(Duration::from_millis(250)).await;
}

#[tokio::test]
async fn a_day_at_the_desk_leaves_the_record_a_careful_consultant_would_write() {
    let mut d = desk().await;
    let ana = d.ana_id;
    let now = Utc::now;

    // 1. Ana starts documenting.
    let doc_start = now();
    json(
        d.app
            .post(
                "/api/tasks/start",
                json!({"consultant_id": ana, "category": "documentation", "title": "NetSul runbook",
                       "at": iso(doc_start)}),
            )
            .await,
        201,
    )
    .await;
    pause().await;

    // 2. NetSul calls; Ana answers; the client hangs up.
    let mut caller = carrier(&d, "011987654321").await;
    let call_in = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    let in_answered = now();
    caller.ack(&call_in, &ok).await.unwrap();
    d.ana.next_request_of(Method::Ack, T).await.unwrap();
    pause().await;
    let in_bye = now();
    caller.bye(&call_in).await.unwrap();
    let (bye, _) = d.ana.next_request_of(Method::Bye, T).await.unwrap();
    d.ana.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    pause().await;

    // 3. A chat with NetSul's NOC.
    let chat_start = now();
    json(
        d.app
            .post(
                "/api/contacts/start",
                json!({"consultant_id": ana, "channel": "chat", "provider_id": d.netsul_id,
                       "protocol_id": d.protocol_id, "at": iso(chat_start), "notes": "Skype: route leak"}),
            )
            .await,
        201,
    )
    .await;
    pause().await;
    let chat_end = now();
    json(
        d.app
            .post(
                "/api/contacts/stop",
                json!({"consultant_id": ana, "at": iso(chat_end)}),
            )
            .await,
        200,
    )
    .await;

    // 4. Ana calls NetSul back through the trunk.
    let sip = d.app.sip_udp.port();
    let out = d
        .ana
        .invite(&format!("sip:011987654321@127.0.0.1:{sip}"))
        .await
        .unwrap();
    let challenge = d.ana.final_response(Method::Invite, T).await.unwrap();
    let out = d
        .ana
        .answer_auth_challenge(&out, &challenge, PASSWORD)
        .await
        .unwrap();
    let (tinv, _) = d.trunk.next_request_of(Method::Invite, T).await.unwrap();
    d.trunk.answer(&tinv).await.unwrap();
    let ok = d.ana.expect_response(Method::Invite, 200, T).await.unwrap();
    let out_answered = now();
    d.ana.ack(&out, &ok).await.unwrap();
    pause().await;
    let out_bye = now();
    d.ana.bye(&out).await.unwrap();
    let (bye, _) = d.trunk.next_request_of(Method::Bye, T).await.unwrap();
    d.trunk.respond(&bye, 200).await.unwrap();
    d.ana.expect_response(Method::Bye, 200, T).await.unwrap();

    // 5. The documentation stops; the protocol is solved and closed; Ana
    //    tells the client (rule 4's task, done with a timer).
    let doc_end = now();
    json(
        d.app
            .post(
                "/api/tasks/stop",
                json!({"consultant_id": ana, "at": iso(doc_end)}),
            )
            .await,
        200,
    )
    .await;
    json(
        d.app
            .post(
                &format!("/api/protocols/{}/close", d.protocol_id),
                json!({}),
            )
            .await,
        200,
    )
    .await;
    let planned = json(
        d.app
            .get(&format!(
                "/api/tasks?protocol_id={}&category=communicate-completion",
                d.protocol_id
            ))
            .await,
        200,
    )
    .await;
    let rule_task = planned["items"][0]["id"].as_i64().unwrap();
    let cc_start = now();
    pause().await;
    let cc_end = now();
    json(
        d.app
            .patch(
                &format!("/api/tasks/{rule_task}"),
                json!({"status": "done", "started_at": iso(cc_start), "ended_at": iso(cc_end)}),
            )
            .await,
        200,
    )
    .await;

    // 6. The afternoon meeting, booked and held.
    let room = json(
        d.app.post("/api/rooms", json!({"name": "Sala 1"})).await,
        201,
    )
    .await;
    let m_start = now() + chrono::Duration::hours(2);
    let m_end = m_start + chrono::Duration::minutes(45);
    let meeting = json(
        d.app
            .post(
                "/api/contacts",
                json!({"consultant_id": ana, "channel": "meeting", "room_id": room["id"],
                       "provider_id": d.netsul_id, "agenda": "Post-mortem",
                       "planned_start": iso(m_start), "planned_end": iso(m_end)}),
            )
            .await,
        201,
    )
    .await;
    json(
        d.app
            .patch(
                &format!("/api/contacts/{}", meeting["id"]),
                json!({"status": "done", "started_at": iso(m_start), "ended_at": iso(m_end)}),
            )
            .await,
        200,
    )
    .await;

    // What the record says, in time order.
    let deadline = tokio::time::Instant::now() + T;
    let contacts = loop {
        let c = json(
            d.app
                .get(&format!("/api/contacts?consultant_id={ana}"))
                .await,
            200,
        )
        .await;
        let done = c["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == "done")
            .count();
        if done == 4 {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let items = contacts["items"].as_array().unwrap();
    assert_eq!(contacts["total"], 4, "{contacts}");
    let kinds: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|c| {
            (
                c["channel"].as_str().unwrap(),
                c["direction"].as_str().unwrap_or("-"),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("phone", "inbound", "triggered"),
            ("chat", "-", "triggered"),
            ("phone", "outbound", "triggered"),
            ("meeting", "-", "scheduled"),
        ]
    );
    for c in items {
        assert_eq!(c["status"], "done");
        assert_eq!(c["provider_id"], d.netsul_id, "{c}");
        assert!(c["flag"].is_null());
    }
    near(&items[0]["started_at"], in_answered, "inbound answered");
    near(&items[0]["ended_at"], in_bye, "inbound BYE");
    assert_eq!(items[0]["protocol_id"], d.protocol_id);
    assert_eq!(
        t(&items[1]["started_at"]).timestamp_millis(),
        chat_start.timestamp_millis(),
        "the chat started when Ana said"
    );
    near(&items[1]["ended_at"], chat_end, "chat end");
    near(&items[2]["started_at"], out_answered, "outbound answered");
    near(&items[2]["ended_at"], out_bye, "outbound BYE");
    assert_eq!(
        items[2]["protocol_id"], d.protocol_id,
        "the call-back is attributed"
    );
    near(&items[3]["started_at"], m_start, "meeting start");
    assert_eq!(items[3]["duration_ms"], 45 * 60 * 1000);

    let tasks = json(
        d.app.get(&format!("/api/tasks?consultant_id={ana}")).await,
        200,
    )
    .await;
    let tasks = tasks["items"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_eq!(tasks[0]["category"], "documentation");
    near(&tasks[0]["started_at"], doc_start, "documentation start");
    near(&tasks[0]["ended_at"], doc_end, "documentation end");
    assert_eq!(tasks[1]["category"], "communicate-completion");
    assert_eq!(tasks[1]["source"], "rule");
    assert_eq!(tasks[1]["protocol_id"], d.protocol_id);
    near(&tasks[1]["started_at"], cc_start, "communicate start");
    near(&tasks[1]["ended_at"], cc_end, "communicate end");
    // Nobody typed anything for the calls, and no call-back is owed: the
    // owner took the client's call.
    let cbs = json(d.app.get("/api/callbacks").await, 200).await;
    assert_eq!(cbs["total"], 0);
}
