//! Call-backs close themselves and stay in step with their scheduled
//! contact, on SQLite and PostgreSQL: a client the owner missed calls
//! again and the owner answers, or the owner dials the client, and the
//! call-back is done with the call's times, its contact being that call's
//! (the conversation counted once); a colleague's answer closes nothing;
//! status changes by hand move the contact too, and done needs the real
//! times.

use crate::support;

use std::time::Duration;

use protocall::sip::message::Method;
use protocall::store::{CallContact, CallRow, NewCallback, Write};
use serde_json::{json, Value};
use support::desk::*;
use support::{json, Backend, TestApp};

on_every_backend!(
    a_call_between_owner_and_client_closes_the_call_back,
    status_changes_move_the_contact_and_done_needs_the_times,
    the_journal_closes_call_backs_once_by_provider_or_number,
);

/// The call-backs, once `until` holds for them.
async fn callbacks_until(d: &Desk, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cbs = callbacks(d).await;
        if until(&cbs) {
            return cbs;
        }
        assert!(tokio::time::Instant::now() < deadline, "{cbs:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn contacts_of(app: &TestApp, query: &str) -> Value {
    json(app.get(&format!("/api/contacts?{query}")).await, 200).await
}

/// The client calls; the owner and the team are busy; the URA answers.
async fn missed_call(d: &mut Desk) {
    let mut caller = carrier(d, "011987654321").await;
    let call = caller.invite(&desk_uri(d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.respond(&inv, 486).await.unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.respond(&inv, 486).await.unwrap();
    answered_by(&mut d.ura, &mut caller, &call).await;
}

async fn a_call_between_owner_and_client_closes_the_call_back(b: Backend) {
    let mut d = desk_on(b, PLAN).await;
    missed_call(&mut d).await;
    let cbs = callbacks_until(&d, |c| c.len() == 1).await;
    assert_eq!(cbs[0]["status"], "pending");
    assert_eq!(cbs[0]["consultant_id"], d.ana_id);
    let first_slot = cbs[0]["contact_id"].as_i64().expect("a scheduled contact");

    // The client calls again; the owner is busy, a colleague answers: that
    // closes nothing (and the owner owes a second call-back).
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.respond(&inv, 486).await.unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    let bia_call = d.bia.call_for(&inv).unwrap();
    d.bia.bye(&bia_call).await.unwrap();
    let (bye, _) = caller.next_request_of(Method::Bye, T).await.unwrap();
    caller.respond(&bye, 200).await.unwrap();
    logged(&d, &call.call_id, ended).await;
    let cbs = callbacks_until(&d, |c| c.len() == 2).await;
    assert!(cbs.iter().all(|c| c["status"] == "pending"), "{cbs:?}");

    // The client calls again and the owner answers: both call-backs are
    // done, closed at the answer by that call.
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    let cbs = callbacks_until(&d, |c| c.iter().all(|c| c["status"] == "done")).await;
    // Fixed: the conversation genuinely lasts, so its answer and its end
    // (checked against the contact below) are told apart.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ana_call = d.ana.call_for(&inv).unwrap();
    d.ana.bye(&ana_call).await.unwrap();
    let (bye, _) = caller.next_request_of(Method::Bye, T).await.unwrap();
    caller.respond(&bye, 200).await.unwrap();
    let log = logged(&d, &call.call_id, ended).await;
    for cb in &cbs {
        assert_eq!(cb["closed_by_call"], call.call_id.as_str(), "{cb}");
        assert_eq!(cb["closed_at"], log["answered_at"], "{cb}");
        assert_eq!(cb["contact_id"], first_slot, "{cb}");
    }
    // One contact for the conversation: the first call-back's scheduled
    // contact, with the call's real times; the second one's slot is gone.
    let deadline = tokio::time::Instant::now() + T;
    let c = loop {
        let page = contacts_of(&d.app, &format!("call_id={}", call.call_id)).await;
        assert_eq!(page["total"], 1, "{page}");
        if page["items"][0]["status"] == "done" {
            break page["items"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(c["id"], first_slot);
    assert_eq!(c["kind"], "scheduled");
    assert_eq!(c["source"], "call");
    assert_eq!(c["direction"], "inbound");
    assert_eq!(c["consultant_id"], d.ana_id);
    assert_eq!(c["started_at"], log["answered_at"]);
    assert_eq!(c["ended_at"], log["ended_at"]);
    assert!(c["planned_start"].is_string(), "the plan is kept: {c}");
    let sched = contacts_of(
        &d.app,
        &format!("kind=scheduled&consultant_id={}", d.ana_id),
    )
    .await;
    assert_eq!(sched["total"], 1, "{sched}");
    // Ana's phone contacts: two missed calls, bia's call is bia's, and the
    // conversation once.
    let mine = contacts_of(&d.app, &format!("consultant_id={}", d.ana_id)).await;
    let done: Vec<_> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "done")
        .collect();
    assert_eq!(done.len(), 1, "{mine}");
    let audit = json(
        d.app
            .get(&format!("/api/callbacks/{}/audit", cbs[0]["id"]))
            .await,
        200,
    )
    .await;
    assert_eq!(audit[0]["new_value"], "done");
    assert_eq!(audit[0]["actor"], format!("call {}", call.call_id));

    // Missed again; this time the owner dials the client: outbound closes
    // it too.
    missed_call(&mut d).await;
    let cbs = callbacks_until(&d, |c| c.len() == 3).await;
    let owed = cbs.iter().find(|c| c["status"] == "pending").unwrap();
    let slot = owed["contact_id"].as_i64().unwrap();
    let sip = d.app.sip_udp.port();
    let out = invite_authenticated(&mut d.ana, &format!("sip:011987654321@127.0.0.1:{sip}")).await;
    let (inv, _) = d.trunk.next_request_of(Method::Invite, T).await.unwrap();
    d.trunk.answer(&inv).await.unwrap();
    let ok = d.ana.expect_response(Method::Invite, 200, T).await.unwrap();
    d.ana.ack(&out, &ok).await.unwrap();
    let id = owed["id"].clone();
    let cbs = callbacks_until(&d, |c| {
        c.iter().any(|c| c["id"] == id && c["status"] == "done")
    })
    .await;
    let closed = cbs.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(closed["closed_by_call"], out.call_id.as_str());
    assert_eq!(closed["contact_id"], slot);
    d.ana.bye(&out).await.unwrap();
    let (bye, _) = d.trunk.next_request_of(Method::Bye, T).await.unwrap();
    d.trunk.respond(&bye, 200).await.unwrap();
    let log = logged(&d, &out.call_id, ended).await;
    assert_eq!(log["direction"], "outbound");
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let c = json(d.app.get(&format!("/api/contacts/{slot}")).await, 200).await;
        if c["status"] == "done" {
            assert_eq!(c["direction"], "outbound");
            assert_eq!(c["call_id"], out.call_id.as_str());
            assert_eq!(c["started_at"], log["answered_at"]);
            assert_eq!(c["ended_at"], log["ended_at"]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{c}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let none = json(d.app.get("/api/callbacks?status=pending").await, 200).await;
    assert_eq!(none["total"], 0, "{none}");
}

async fn consultant(app: &TestApp, user: &str) -> i64 {
    json(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn put_status(app: &TestApp, id: i64, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/callbacks/{id}/status")))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// (call-back status, contact status, contact started_at, ended_at).
async fn both(app: &TestApp, id: i64) -> (Value, Value, Value, Value) {
    let cb = json(app.get("/api/callbacks?limit=100").await, 200).await;
    let cb = cb["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone();
    let c = json(
        app.get(&format!("/api/contacts/{}", cb["contact_id"]))
            .await,
        200,
    )
    .await;
    (
        cb["status"].clone(),
        c["status"].clone(),
        c["started_at"].clone(),
        c["ended_at"].clone(),
    )
}

fn new_callback(call: &str, who: i64, provider: Option<i64>, at: i64) -> NewCallback {
    NewCallback {
        call_id: call.into(),
        from_tag: "t".into(),
        consultant_id: who,
        provider_id: provider,
        protocol_id: None,
        caller_number: Some("+5511987654321".into()),
        reason: "busy".into(),
        created_at_ms: at,
        due_at_ms: at + 600_000,
    }
}

async fn status_changes_move_the_contact_and_done_needs_the_times(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let now = chrono::Utc::now().timestamp_millis();
    let hour_ago = now - 3_600_000;
    assert!(app
        .store
        .create_callback(&new_callback("cb-1", ana, None, hour_ago))
        .await
        .unwrap());
    let id = json(app.get("/api/callbacks").await, 200).await["items"][0]["id"]
        .as_i64()
        .unwrap();
    let s = |v: &str| Value::from(v);
    assert_eq!(
        both(&app, id).await,
        (s("pending"), s("scheduled"), Value::Null, Value::Null)
    );

    // Done without the conversation's times is refused, and changes nothing.
    let r = json(put_status(&app, id, json!({"status": "done"})).await, 400).await;
    assert_eq!(r["error"]["code"], "invalid_field", "{r}");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("started_at"));
    let r = put_status(
        &app,
        id,
        json!({"status": "done", "started_at": iso(hour_ago + 600_000)}),
    )
    .await;
    json(r, 400).await;
    let r = put_status(
        &app,
        id,
        json!({"status": "done", "started_at": iso(hour_ago + 600_000),
               "ended_at": iso(hour_ago + 300_000)}),
    )
    .await;
    json(r, 409).await;
    let r = put_status(
        &app,
        id,
        json!({"status": "cancelled", "started_at": iso(hour_ago)}),
    )
    .await;
    json(r, 400).await;
    assert_eq!(
        both(&app, id).await,
        (s("pending"), s("scheduled"), Value::Null, Value::Null)
    );

    // Cancelled, pending again, done: the contact follows each time.
    let r = json(
        put_status(&app, id, json!({"status": "cancelled"})).await,
        200,
    )
    .await;
    assert!(r["closed_at"].is_string());
    assert_eq!(
        both(&app, id).await,
        (s("cancelled"), s("cancelled"), Value::Null, Value::Null)
    );
    let r = json(
        put_status(&app, id, json!({"status": "pending"})).await,
        200,
    )
    .await;
    assert!(r["closed_at"].is_null());
    assert_eq!(
        both(&app, id).await,
        (s("pending"), s("scheduled"), Value::Null, Value::Null)
    );
    let (start, end) = (hour_ago + 600_000, hour_ago + 900_000);
    let r = json(
        put_status(
            &app,
            id,
            json!({"status": "done", "started_at": iso(start), "ended_at": iso(end)}),
        )
        .await,
        200,
    )
    .await;
    let (cb, contact, started, ended) = both(&app, id).await;
    assert_eq!((cb, contact), (s("done"), s("done")));
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!((ms(&started), ms(&ended)), (start, end));
    assert_eq!(
        ms(&r["closed_at"]),
        start,
        "closed when the conversation began"
    );
    // And back to pending: the plan again, the realised times cleared.
    json(
        put_status(&app, id, json!({"status": "pending"})).await,
        200,
    )
    .await;
    assert_eq!(
        both(&app, id).await,
        (s("pending"), s("scheduled"), Value::Null, Value::Null)
    );
    let audit = json(app.get(&format!("/api/callbacks/{id}/audit")).await, 200).await;
    let statuses: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "status")
        .map(|e| e["new_value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["cancelled", "pending", "done", "pending"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "token:test"),
        "{audit}"
    );

    // The contact's own timer closes the call-back too.
    let contact = json(app.get("/api/callbacks").await, 200).await["items"][0]["contact_id"]
        .as_i64()
        .unwrap();
    let at = now - 120_000;
    json(
        app.post(
            &format!("/api/contacts/{contact}/start"),
            json!({"at": iso(at)}),
        )
        .await,
        200,
    )
    .await;
    // Cancelling while the timer runs is refused.
    json(
        put_status(&app, id, json!({"status": "cancelled"})).await,
        409,
    )
    .await;
    json(
        app.post(
            &format!("/api/contacts/{contact}/stop"),
            json!({"at": iso(now - 60_000)}),
        )
        .await,
        200,
    )
    .await;
    let (cb, c, started, _) = both(&app, id).await;
    assert_eq!((cb, c), (s("done"), s("done")));
    assert_eq!(ms(&started), at);
    let missing = put_status(&app, 999_999, json!({"status": "cancelled"})).await;
    json(missing, 404).await;
}

fn call_row(call: &str, who: i64, provider: Option<i64>, number: &str, at: i64) -> CallRow {
    CallRow {
        call_id: call.into(),
        from_tag: "t".into(),
        direction: "inbound".into(),
        from_uri: format!("sip:{number}@carrier"),
        to_uri: "sip:4000@desk".into(),
        caller_number: Some(number.into()),
        caller_class: "consulting".into(),
        provider_id: provider,
        provider_user_id: None,
        protocol_id: None,
        consultant_id: Some(who),
        consultant: Some("ana".into()),
        rule: "direct".into(),
        route: "owner".into(),
        outcome: Some("answered".into()),
        final_code: Some(200),
        started_at_ms: at,
        ringing_at_ms: None,
        answered_at_ms: Some(at + 5_000),
        ended_at_ms: Some(at + 65_000),
        ended_by: Some("caller".into()),
        detail: "{}".into(),
    }
}

fn answered(call: &str, who: i64, provider: Option<i64>, at: i64, status: &str) -> CallContact {
    CallContact {
        call_id: call.into(),
        from_tag: "t".into(),
        direction: "inbound".into(),
        status: status.into(),
        reason: None,
        consultant_id: Some(who),
        provider_id: provider,
        provider_user_id: None,
        protocol_id: None,
        rang_at_ms: at,
        started_at_ms: Some(at + 5_000),
        ended_at_ms: (status == "done").then_some(at + 65_000),
        wait_ms: Some(5_000),
        flag: None,
    }
}

async fn the_journal_closes_call_backs_once_by_provider_or_number(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    let prov = json(
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
    let t0 = chrono::Utc::now().timestamp_millis() - 7_200_000;
    // Ana owes NetSul one call-back, and an unknown number another.
    app.store
        .create_callback(&new_callback("miss-1", ana, Some(prov), t0))
        .await
        .unwrap();
    let mut unknown = new_callback("miss-2", ana, None, t0);
    unknown.caller_number = Some("+5521999990000".into());
    app.store.create_callback(&unknown).await.unwrap();
    // A call before the call-backs were made closes nothing; nor does
    // bia's call with NetSul.
    let before = [
        Write::Call(call_row(
            "early",
            ana,
            Some(prov),
            "+5511987654321",
            t0 - 60_000,
        )),
        Write::Contact(answered("early", ana, Some(prov), t0 - 60_000, "done")),
        Write::Call(call_row(
            "bias",
            bia,
            Some(prov),
            "+5511987654321",
            t0 + 60_000,
        )),
        Write::Contact(answered("bias", bia, Some(prov), t0 + 60_000, "done")),
    ];
    let s = app.store.write_batch(&before).await.unwrap();
    assert_eq!(s.callbacks_closed, 0);
    assert_eq!(pending(&app).await, 2);
    // Ana with NetSul (answered, then ended), replayed: closed once.
    let t1 = t0 + 600_000;
    let batch = [
        Write::Call(call_row("again", ana, Some(prov), "+5511987654321", t1)),
        Write::Contact(answered("again", ana, Some(prov), t1, "open")),
        Write::Contact(answered("again", ana, Some(prov), t1, "done")),
    ];
    assert_eq!(
        app.store
            .write_batch(&batch)
            .await
            .unwrap()
            .callbacks_closed,
        1
    );
    assert_eq!(
        app.store
            .write_batch(&batch)
            .await
            .unwrap()
            .callbacks_closed,
        0
    );
    assert_eq!(pending(&app).await, 1);
    let page = contacts_of(&app, "call_id=again").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["kind"], "scheduled");
    assert_eq!(page["items"][0]["duration_ms"], 60_000);
    // The unknown number, by its number (no provider on either side).
    let t2 = t1 + 600_000;
    let batch = [
        Write::Call(call_row("other", ana, None, "+5521999990000", t2)),
        Write::Contact(answered("other", ana, None, t2, "done")),
    ];
    assert_eq!(
        app.store
            .write_batch(&batch)
            .await
            .unwrap()
            .callbacks_closed,
        1
    );
    assert_eq!(pending(&app).await, 0);
    // A call-back a call closed keeps the call's times: done again is
    // refused; pending again gives it a slot of its own and leaves the
    // call's contact as it was.
    let cbs = json(app.get("/api/callbacks").await, 200).await;
    let cb = cbs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["closed_by_call"] == "again")
        .unwrap()
        .clone();
    let id = cb["id"].as_i64().unwrap();
    let r = put_status(
        &app,
        id,
        json!({"status": "done", "started_at": iso(t1), "ended_at": iso(t1 + 1_000)}),
    )
    .await;
    json(r, 409).await;
    let r = json(
        put_status(&app, id, json!({"status": "pending"})).await,
        200,
    )
    .await;
    assert!(r["closed_by_call"].is_null());
    assert_ne!(r["contact_id"], cb["contact_id"]);
    let slot = json(
        app.get(&format!("/api/contacts/{}", r["contact_id"])).await,
        200,
    )
    .await;
    assert_eq!(slot["status"], "scheduled");
    assert_eq!(slot["source"], "callback");
    let kept = json(
        app.get(&format!("/api/contacts/{}", cb["contact_id"]))
            .await,
        200,
    )
    .await;
    assert_eq!(kept["status"], "done");
    assert_eq!(kept["call_id"], "again");
}

async fn pending(app: &TestApp) -> i64 {
    json(app.get("/api/callbacks?status=pending").await, 200).await["total"]
        .as_i64()
        .unwrap()
}
