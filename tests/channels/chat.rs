//! The chat channel and the duty roster against the real daemon, on
//! SQLite and PostgreSQL: the bridge's signed events (a good signature
//! applies; a bad, stale or replayed one is 401 and changes nothing; the
//! same event twice changes nothing), who attends (the protocol's owner,
//! the duty consultant when the owner is DND), the "which provider?" step
//! for an unknown handle, the 10-minute rule through the library's sweep
//! with an injected clock, the contact's times to the millisecond, and the
//! roster's API (round trip, overlap refused, an exception honoured).

use crate::support;

use chrono::{DateTime, Duration, Utc};
use protocall::chat::sweep::{sweep, WaitRule};
use serde_json::{json, Value};
use support::{json, Backend, TestApp};

const SECRET: &str = "chat-bridge-shared-secret-0123";

on_every_backend!(
    a_signed_event_applies_and_bad_stale_or_replayed_ones_change_nothing,
    the_same_event_twice_changes_nothing,
    a_known_handle_reaches_the_owner_and_times_are_exact,
    with_the_owner_dnd_the_duty_consultant_attends,
    an_unknown_handle_is_unidentified_until_identified,
    the_wait_alert_fires_at_ten_minutes_not_nine_and_schedules_a_conference,
    the_roster_round_trips_refuses_overlaps_and_honours_exceptions,
    an_unconfigured_webhook_is_503,
    the_attendants_desk_shows_the_chat_waiting_for_a_reply,
    a_handle_from_the_directory_import_is_known,
    the_weekly_report_says_who_was_on_duty_and_counts_identification,
    an_owner_off_shift_leaves_the_chat_to_the_duty_consultant,
);

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("PROTOCALL__CHAT__WEBHOOK_SECRET", SECRET)]).await
}

/// Posts `body` signed with `secret` at Unix second `ts`.
async fn post_signed(app: &TestApp, body: &[u8], ts: i64, secret: &str) -> reqwest::Response {
    let ts = ts.to_string();
    app.client
        .post(app.url("/api/chat/events"))
        .header("content-type", "application/json")
        .header("x-protocall-timestamp", &ts)
        .header(
            "x-protocall-signature",
            protocall::http::signed::signature_header(secret.as_bytes(), &ts, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Posts an event, freshly signed now.
async fn event(app: &TestApp, body: Value) -> reqwest::Response {
    post_signed(
        app,
        body.to_string().as_bytes(),
        Utc::now().timestamp(),
        SECRET,
    )
    .await
}

/// Posts an event again, signed anew (a bridge's retry): another
/// timestamp, so the signature is not a replay of the first.
async fn retry(app: &TestApp, body: Value) -> reqwest::Response {
    post_signed(
        app,
        body.to_string().as_bytes(),
        Utc::now().timestamp() - 7,
        SECRET,
    )
    .await
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ms(v: &Value) -> i64 {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("a time: {v}")))
        .unwrap()
        .timestamp_millis()
}

/// A consultant working every hour of every day (so "on shift" never
/// depends on when the suite runs); returns the id.
async fn consultant(app: &TestApp, user: &str) -> i64 {
    let id = json(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let all = json!(["00:00-24:00"]);
    let r = app
        .client
        .put(app.url(&format!("/api/consultants/{id}/hours")))
        .bearer_auth(&app.token)
        .json(
            &json!({"mon": all, "tue": all, "wed": all, "thu": all, "fri": all,
                      "sat": all, "sun": all}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    id
}

/// A consulting provider with a user whose chat handle is `handle`, and
/// an open protocol owned by `owner`: (provider, user, protocol).
async fn client_with_protocol(app: &TestApp, handle: &str, owner: i64) -> (i64, i64, i64) {
    let p = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let u = json(
        app.post(
            &format!("/api/providers/{p}/users"),
            json!({"name": "Ana", "chat_handle": handle}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(u["chat_handle"], handle.to_lowercase());
    let proto = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": p, "owner_id": owner, "subject": "router"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    (p, u["id"].as_i64().unwrap(), proto)
}

async fn put_roster(app: &TestApp, slots: Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/duty"))
        .bearer_auth(&app.token)
        .json(&json!({ "slots": slots }))
        .send()
        .await
        .unwrap()
}

/// Every day, all day, on chat duty: `who`.
fn all_week(who: i64) -> Value {
    Value::Array(
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({"channel": "chat", "weekday": d, "hours": "00:00-24:00", "consultant_id": who}))
            .collect(),
    )
}

async fn conversations(app: &TestApp) -> Vec<Value> {
    json(app.get("/api/chat/conversations").await, 200)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn chat_contacts(app: &TestApp) -> Vec<Value> {
    json(app.get("/api/contacts?channel=chat").await, 200).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_signed_event_applies_and_bad_stale_or_replayed_ones_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let body = json!({"event": "started", "conversation_id": "c-1", "handle": "someone"})
        .to_string()
        .into_bytes();
    let now = Utc::now().timestamp();
    // Wrong secret, stale timestamp: refused, nothing recorded.
    let r = post_signed(&app, &body, now, "not-the-shared-secret").await;
    assert_eq!(json(r, 401).await["error"]["code"], "bad_signature");
    let r = post_signed(&app, &body, now - 1_000, SECRET).await;
    assert_eq!(json(r, 401).await["error"]["code"], "bad_signature");
    // A body changed after signing.
    let ts = now.to_string();
    let r = app
        .client
        .post(app.url("/api/chat/events"))
        .header("content-type", "application/json")
        .header("x-protocall-timestamp", &ts)
        .header(
            "x-protocall-signature",
            protocall::http::signed::signature_header(SECRET.as_bytes(), &ts, &body),
        )
        .body(body.iter().chain(b" ").copied().collect::<Vec<u8>>())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(conversations(&app).await.is_empty());
    assert!(chat_contacts(&app).await.is_empty());
    // The good one applies, once: the very same request again is a replay.
    let r = post_signed(&app, &body, now, SECRET).await;
    assert_eq!(json(r, 200).await["result"], "applied");
    let r = post_signed(&app, &body, now, SECRET).await;
    assert_eq!(json(r, 401).await["error"]["code"], "bad_signature");
    assert_eq!(conversations(&app).await.len(), 1);
    assert_eq!(chat_contacts(&app).await.len(), 1);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"protocall_chat_events_total{event="started",result="applied"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"protocall_chat_events_total{event="invalid",result="refused"} 4"#));
}

async fn the_same_event_twice_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let t0 = Utc::now() - Duration::seconds(30);
    let started = json!({"event": "started", "conversation_id": "c-2", "handle": "x",
                         "at": rfc(t0)});
    assert_eq!(
        json(event(&app, started.clone()).await, 200).await["result"],
        "applied"
    );
    let again = json(retry(&app, started).await, 200).await;
    assert_eq!(again["result"], "duplicate");
    let end = json!({"event": "ended", "conversation_id": "c-2", "handle": "x",
                     "at": rfc(t0 + Duration::seconds(20))});
    assert_eq!(
        json(event(&app, end.clone()).await, 200).await["result"],
        "applied"
    );
    let before = chat_contacts(&app).await;
    assert_eq!(
        json(retry(&app, end).await, 200).await["result"],
        "duplicate"
    );
    assert_eq!(chat_contacts(&app).await, before);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["status"], "abandoned", "ended without a reply");
    // An end for a conversation never started is refused.
    let r = event(
        &app,
        json!({"event": "ended", "conversation_id": "nope", "handle": "x"}),
    )
    .await;
    assert_eq!(r.status(), 409);
    assert_eq!(conversations(&app).await.len(), 1);
}

async fn a_known_handle_reaches_the_owner_and_times_are_exact(backend: Backend) {
    let app = spawn(backend).await;
    let owner = consultant(&app, "ana").await;
    let (provider, user, protocol) = client_with_protocol(&app, "Cli.NetSul", owner).await;
    let t0 = DateTime::from_timestamp_millis(
        Utc::now().timestamp_millis() / 1000 * 1000 - 120_000 + 123,
    )
    .unwrap();
    let t1 = t0 + Duration::milliseconds(45_678);
    let t2 = t1 + Duration::milliseconds(60_001);
    let ev = |kind: &str, at: DateTime<Utc>, extra: Value| {
        let mut b = json!({"event": kind, "conversation_id": "c-3", "handle": "cli.netsul",
                           "at": rfc(at)});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let out = json(event(&app, ev("started", t0, json!({}))).await, 200).await;
    let conv = &out["conversation"];
    assert_eq!(conv["routed_to"], "owner");
    assert_eq!(conv["consultant_id"], owner);
    assert_eq!(conv["provider_user_id"], user);
    assert_eq!(conv["protocol_id"], protocol);
    let client_msg = ev(
        "message",
        t0 + Duration::seconds(5),
        json!({"from": "client"}),
    );
    assert_eq!(
        json(event(&app, client_msg).await, 200).await["result"],
        "ignored"
    );
    let reply = ev(
        "message",
        t1,
        json!({"from": "consultant", "consultant": "ana"}),
    );
    assert_eq!(
        json(event(&app, reply).await, 200).await["result"],
        "applied"
    );
    let later = ev(
        "message",
        t1 + Duration::seconds(9),
        json!({"from": "consultant", "consultant": "ana"}),
    );
    assert_eq!(
        json(event(&app, later).await, 200).await["result"],
        "ignored"
    );
    json(event(&app, ev("ended", t2, json!({}))).await, 200).await;
    let id = conv["contact_id"].as_i64().unwrap();
    let c = json(app.get(&format!("/api/contacts/{id}")).await, 200).await;
    assert_eq!(c["kind"], "triggered");
    assert_eq!(c["channel"], "chat");
    assert_eq!(c["source"], "chat");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["status"], "done");
    assert_eq!(c["identification"], "identified");
    assert_eq!(
        (c["consultant_id"].as_i64(), c["provider_id"].as_i64()),
        (Some(owner), Some(provider))
    );
    assert_eq!(ms(&c["rang_at"]), t0.timestamp_millis());
    assert_eq!(ms(&c["started_at"]), t1.timestamp_millis());
    assert_eq!(ms(&c["ended_at"]), t2.timestamp_millis());
    assert_eq!(c["wait_ms"], 45_678);
    assert_eq!(c["duration_ms"], 60_001);
    // Audited under the bridge.
    let trail = json(app.get(&format!("/api/contacts/{id}/audit")).await, 200).await;
    let fields: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["started_at", "first_reply_at", "ended_at"]);
    // The consultant sees it among their own; the open list no longer.
    let open = json(app.get("/api/chat/conversations?open=true").await, 200).await;
    assert!(open.as_array().unwrap().is_empty());
}

async fn with_the_owner_dnd_the_duty_consultant_attends(backend: Backend) {
    let app = spawn(backend).await;
    let owner = consultant(&app, "ana").await;
    let duty = consultant(&app, "bia").await;
    client_with_protocol(&app, "cli", owner).await;
    assert_eq!(put_roster(&app, all_week(duty)).await.status(), 200);
    let r = app
        .client
        .put(app.url(&format!("/api/consultants/{owner}/presence")))
        .bearer_auth(&app.token)
        .json(&json!({"status": "dnd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out = json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-4", "handle": "cli"}),
        )
        .await,
        200,
    )
    .await;
    let conv = &out["conversation"];
    assert_eq!(conv["routed_to"], "duty");
    assert_eq!(conv["consultant_id"], duty);
    assert_eq!(conv["owner_id"], owner, "the owner is still the owner");
    // The duty consultant's waiting chats show it.
    let open = json(
        app.get(&format!(
            "/api/chat/conversations?open=true&consultant_id={duty}"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(open.as_array().unwrap().len(), 1);
}

async fn an_unknown_handle_is_unidentified_until_identified(backend: Backend) {
    let app = spawn(backend).await;
    let duty = consultant(&app, "bia").await;
    let owner = consultant(&app, "ana").await;
    let (provider, user, _) = client_with_protocol(&app, "known", owner).await;
    put_roster(&app, all_week(duty)).await;
    let out = json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-5", "handle": "stranger"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(out["conversation"]["routed_to"], "duty");
    assert_eq!(out["conversation"]["consultant_id"], duty);
    let id = out["conversation"]["contact_id"].as_i64().unwrap();
    let c = json(app.get(&format!("/api/contacts/{id}")).await, 200).await;
    assert_eq!(c["identification"], "unidentified");
    assert_eq!(c["provider_id"], Value::Null);
    let path = format!("/api/contacts/{id}/identify");
    // A client needs a provider; a user of another provider is refused;
    // neither changes anything.
    assert_eq!(
        app.post(&path, json!({"result": "client"})).await.status(),
        400
    );
    let r = app
        .post(
            &path,
            json!({"result": "client", "provider_id": provider, "provider_user_id": user + 999}),
        )
        .await;
    assert_eq!(r.status(), 409);
    let c = json(app.get(&format!("/api/contacts/{id}")).await, 200).await;
    assert_eq!(c["identification"], "unidentified");
    let c = json(
        app.post(
            &path,
            json!({"result": "client", "provider_id": provider, "provider_user_id": user}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(c["identification"], "client");
    assert_eq!(c["provider_id"], provider);
    assert_eq!(c["provider_user_id"], user);
    let trail = json(app.get(&format!("/api/contacts/{id}/audit")).await, 200).await;
    assert!(trail
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "identification"
            && e["old_value"] == "unidentified"
            && e["new_value"] == "client"));
    let c = json(app.post(&path, json!({"result": "not_client"})).await, 200).await;
    assert_eq!(c["identification"], "not_client");
}

async fn the_wait_alert_fires_at_ten_minutes_not_nine_and_schedules_a_conference(backend: Backend) {
    let app = spawn(backend).await;
    let owner = consultant(&app, "ana").await;
    let duty = consultant(&app, "bia").await;
    client_with_protocol(&app, "cli", owner).await;
    put_roster(&app, all_week(duty)).await;
    let t0 = DateTime::from_timestamp_millis(Utc::now().timestamp_millis() - 1_000).unwrap();
    let out = json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-6", "handle": "cli", "at": rfc(t0)}),
        )
        .await,
        200,
    )
    .await;
    let id = out["conversation"]["id"].as_i64().unwrap();
    let rule = WaitRule {
        wait_minutes: 10,
        conference_minutes: 30,
    };
    let nine = sweep(&app.store, rule, t0 + Duration::minutes(9))
        .await
        .unwrap();
    assert!(nine.alerted.is_empty());
    assert_eq!(nine.waiting_over_limit, 0);
    let conv = json(app.get(&format!("/api/chat/conversations/{id}")).await, 200).await;
    assert_eq!(conv["alerted_at"], Value::Null);
    let ten = t0 + Duration::minutes(10);
    let fired = sweep(&app.store, rule, ten).await.unwrap();
    assert_eq!(fired.alerted, vec![id]);
    assert_eq!(fired.waiting_over_limit, 1);
    // Once: the next sweep alerts nothing new.
    let again = sweep(&app.store, rule, ten + Duration::minutes(1))
        .await
        .unwrap();
    assert!(again.alerted.is_empty());
    let conv = json(app.get(&format!("/api/chat/conversations/{id}")).await, 200).await;
    assert_eq!(ms(&conv["alerted_at"]), ten.timestamp_millis());
    let conf = conv["conference_contact_id"]
        .as_i64()
        .expect("a conference");
    let c = json(app.get(&format!("/api/contacts/{conf}")).await, 200).await;
    assert_eq!(c["kind"], "scheduled");
    assert_eq!(c["status"], "scheduled");
    assert_eq!(c["channel"], "chat");
    assert_eq!(
        c["consultant_id"], owner,
        "the conference is with the owner"
    );
    assert_eq!(
        ms(&c["planned_start"]),
        (ten + Duration::minutes(10)).timestamp_millis()
    );
    assert_eq!(ms(&c["planned_end"]) - ms(&c["planned_start"]), 30 * 60_000);
}

async fn the_roster_round_trips_refuses_overlaps_and_honours_exceptions(backend: Backend) {
    let app = spawn(backend).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    let slots = json!([
        {"channel": "chat", "weekday": "mon", "hours": "08:00-12:00", "consultant_id": ana},
        {"channel": "chat", "weekday": "mon", "hours": "12:00-18:00", "consultant_id": bia},
        {"channel": "email", "weekday": "mon", "hours": "08:00-10:00", "consultant_id": bia},
    ]);
    let saved = json(put_roster(&app, slots.clone()).await, 200).await;
    assert_eq!(saved.as_array().unwrap().len(), 3);
    let got = json(app.get("/api/duty").await, 200).await;
    let mut want = slots.as_array().unwrap().clone();
    want.sort_by_key(|s| {
        (
            s["channel"].as_str().unwrap().to_string(),
            s["hours"].as_str().unwrap().to_string(),
        )
    });
    assert_eq!(got["slots"], Value::Array(want));
    // An overlap of one channel is refused, naming where, and changes nothing.
    let r = put_roster(
        &app,
        json!([
            {"channel": "chat", "weekday": "tue", "hours": "08:00-12:00", "consultant_id": ana},
            {"channel": "chat", "weekday": "tue", "hours": "11:00-13:00", "consultant_id": bia},
        ]),
    )
    .await;
    let err = json(r, 409).await;
    assert_eq!(err["error"]["code"], "overlap");
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(msg.contains("slots[1]") && msg.contains("tue"), "{msg}");
    assert_eq!(
        json(app.get("/api/duty").await, 200).await["slots"],
        got["slots"]
    );
    // A slot for a consultant that does not exist: nothing changes either.
    let r = put_roster(&app, all_week(ana + 999)).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        json(app.get("/api/duty").await, 200).await["slots"],
        got["slots"]
    );
    // Now: the roster, then an exception for today, then nobody.
    put_roster(&app, all_week(ana)).await;
    let now = json(app.get("/api/duty/now?channel=chat").await, 200).await;
    assert_eq!(
        (now["consultant_id"].as_i64(), now["by"].as_str()),
        (Some(ana), Some("roster"))
    );
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Sao_Paulo)
        .date_naive()
        .to_string();
    let x = json(
        app.post(
            "/api/duty/exceptions",
            json!({"channel": "chat", "day": today, "consultant_id": bia}),
        )
        .await,
        201,
    )
    .await;
    let now = json(app.get("/api/duty/now?channel=chat").await, 200).await;
    assert_eq!(
        (now["consultant_id"].as_i64(), now["by"].as_str()),
        (Some(bia), Some("exception"))
    );
    let listed = json(app.get("/api/duty").await, 200).await;
    assert_eq!(listed["exceptions"][0]["id"], x["id"]);
    let r = app
        .delete(&format!("/api/duty/exceptions/{}", x["id"]))
        .await;
    assert_eq!(r.status(), 204);
    json(
        app.post(
            "/api/duty/exceptions",
            json!({"channel": "chat", "day": today}),
        )
        .await,
        201,
    )
    .await;
    let now = json(app.get("/api/duty/now?channel=chat").await, 200).await;
    assert_eq!(
        (now["consultant_id"].clone(), now["by"].as_str()),
        (Value::Null, Some("exception"))
    );
    assert_eq!(
        json(app.get("/api/duty/now?channel=email").await, 200).await["by"],
        "none"
    );
    assert_eq!(app.get("/api/duty/now?channel=fax").await.status(), 400);
    // Audited under the person.
    let trail = app.store.audit_trail("duty_roster", 0).await.unwrap();
    assert!(
        trail.len() >= 2 && trail.iter().all(|e| e.actor == "token:test"),
        "{trail:?}"
    );
}

async fn an_unconfigured_webhook_is_503(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = event(
        &app,
        json!({"event": "started", "conversation_id": "c", "handle": "h"}),
    )
    .await;
    assert_eq!(json(r, 503).await["error"]["code"], "not_configured");
}

async fn the_attendants_desk_shows_the_chat_waiting_for_a_reply(backend: Backend) {
    use crate::support::console;
    let app = console::spawn(backend, &[("PROTOCALL__CHAT__WEBHOOK_SECRET", SECRET)]).await;
    let bia = consultant(&app, "bia").await;
    put_roster(&app, all_week(bia)).await;
    json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-7", "handle": "Stranger"}),
        )
        .await,
        200,
    )
    .await;
    let b = console::browser("en");
    console::sign_in(&app, &b, "bia").await;
    let (_, html) = console::page(&app, &b, "/").await;
    assert!(html.contains("Chats waiting for your reply: 1"), "{html}");
    assert!(html.contains("Chat from stranger"));
    let reply = json!({"event": "message", "conversation_id": "c-7", "handle": "stranger",
                       "from": "consultant", "consultant": "bia"});
    json(event(&app, reply).await, 200).await;
    let (_, html) = console::page(&app, &b, "/").await;
    assert!(
        !html.contains("Chat from stranger"),
        "answered: no longer waiting"
    );
}

async fn a_handle_from_the_directory_import_is_known(backend: Backend) {
    let app = spawn(backend).await;
    let csv = "provider,consulting,user,user_chat_handle\nNetSul,yes,Carlos,Carlos.NetSul\n";
    let r = app
        .post_raw("/api/import", "text/csv", csv.as_bytes().to_vec())
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let out = json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-8", "handle": "carlos.netsul"}),
        )
        .await,
        200,
    )
    .await;
    assert!(out["conversation"]["provider_user_id"].is_i64(), "{out}");
    let id = out["conversation"]["contact_id"].as_i64().unwrap();
    let c = json(app.get(&format!("/api/contacts/{id}")).await, 200).await;
    assert_eq!(c["identification"], "identified");
    // A handle on a row without a user is refused with its line.
    let bad = "provider,user_chat_handle\nNetSul,loose\n";
    let r = app
        .post_raw("/api/import", "text/csv", bad.as_bytes().to_vec())
        .await;
    assert_eq!(r.status(), 422);
}

async fn the_weekly_report_says_who_was_on_duty_and_counts_identification(backend: Backend) {
    use chrono::Datelike;
    let app = spawn(backend).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    client_with_protocol(&app, "known", ana).await;
    put_roster(
        &app,
        json!([
            {"channel": "chat", "weekday": "mon", "hours": "08:00-12:00", "consultant_id": ana},
            {"channel": "chat", "weekday": "tue", "hours": "08:00-12:00", "consultant_id": ana},
            {"channel": "email", "weekday": "mon", "hours": "08:00-09:00", "consultant_id": bia},
        ]),
    )
    .await;
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::Sao_Paulo)
        .date_naive();
    let iso = today.iso_week();
    let week = format!("{}-W{:02}", iso.year(), iso.week());
    let monday =
        chrono::NaiveDate::from_isoywd_opt(iso.year(), iso.week(), chrono::Weekday::Mon).unwrap();
    // Tuesday's morning goes to bia instead.
    json(
        app.post(
            "/api/duty/exceptions",
            json!({"channel": "chat", "day": (monday + Duration::days(1)).to_string(),
                   "hours": "08:00-12:00", "consultant_id": bia}),
        )
        .await,
        201,
    )
    .await;
    for (id, handle) in [
        ("r-1", "stranger-1"),
        ("r-2", "stranger-2"),
        ("r-3", "known"),
    ] {
        json(
            event(
                &app,
                json!({"event": "started", "conversation_id": id, "handle": handle}),
            )
            .await,
            200,
        )
        .await;
    }
    let r = json(
        app.get(&format!("/api/reports/weekly?week={week}&format=json"))
            .await,
        200,
    )
    .await;
    let duty: Vec<(String, i64, i64)> = r["duty"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap().to_string(),
                d["consultant_id"].as_i64().unwrap(),
                d["minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        duty,
        vec![
            ("chat".into(), ana, 240),
            ("chat".into(), bia, 240),
            ("email".into(), bia, 60)
        ]
    );
    assert_eq!(
        r["identification"],
        json!([{"state": "unidentified", "count": 2}, {"state": "identified", "count": 1}])
    );
    // The page names them too.
    let html = app
        .get(&format!("/api/reports/weekly?week={week}&format=html"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Chat and e-mail duty in the week") || html.contains("Escala de chat"),
        "{html}"
    );
}

async fn an_owner_off_shift_leaves_the_chat_to_the_duty_consultant(backend: Backend) {
    use chrono::{Datelike, TimeZone};
    let app = spawn(backend).await;
    // The owner keeps the shipped hours (Monday to Friday, daytime).
    let owner = json(
        app.post(
            "/api/consultants",
            json!({"name": "ana", "sip_username": "ana", "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let duty = consultant(&app, "bia").await;
    client_with_protocol(&app, "cli", owner).await;
    put_roster(&app, all_week(duty)).await;
    // Last Sunday, 03:00 at the desk.
    let tz = chrono_tz::America::Sao_Paulo;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let sunday = today - Duration::days(i64::from(today.weekday().num_days_from_sunday()) + 7);
    let at = tz
        .from_local_datetime(&sunday.and_hms_opt(3, 0, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    let out = json(
        event(
            &app,
            json!({"event": "started", "conversation_id": "c-9", "handle": "cli", "at": rfc(at)}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(out["conversation"]["routed_to"], "duty");
    assert_eq!(out["conversation"]["consultant_id"], duty);
    assert_eq!(out["conversation"]["owner_id"], owner);
}
