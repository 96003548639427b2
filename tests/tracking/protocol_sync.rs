//! Protocols from the desk's system of record, on SQLite and PostgreSQL:
//! signed events (good, bad signature, replayed, stale timestamp, out of
//! order, duplicate); an event naming someone unknown is refused 422, kept
//! as pending (listed in the API and on the manager's console page) and
//! applies nothing; a synced close runs rule 4 and a synced
//! reopen cancels its task, audited under `sync:webhook`; an "assigned"
//! event followed at once by a call rings the new owner; protocols in the
//! CSV import, all rows or none; and the periodic pull across pages,
//! through a failing request and its recovery.

use crate::support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use protocall::http::signed::signature_header;
use protocall::sip::message::Method;
use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    signed_events_apply_once_in_the_senders_order,
    an_unconfigured_endpoint_answers_503,
    unknown_provider_or_consultant_is_422_kept_pending_and_applies_nothing,
    a_synced_close_runs_rule_4_and_the_audit_names_the_source,
    an_assigned_event_then_a_call_rings_the_new_owner,
    protocols_in_the_csv_import_are_all_rows_or_none,
    the_pull_follows_pages_and_recovers_from_a_failure,
);

const SECRET: &str = "s3cret-shared-with-the-system-of-record";
const NETSUL_CNPJ: &str = "11222333000181";

fn with_secret() -> Vec<(&'static str, &'static str)> {
    vec![("PROTOCALL__PROTOCOL_SYNC__WEBHOOK_SECRET", SECRET)]
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts `body` as the system of record would, signed at `ts`.
async fn send_at(app: &TestApp, body: &str, ts: i64, secret: &str) -> reqwest::Response {
    let ts = ts.to_string();
    app.client
        .post(app.url("/api/protocols/events"))
        .header("content-type", "application/json")
        .header("x-protocall-timestamp", &ts)
        .header(
            "x-protocall-signature",
            signature_header(secret.as_bytes(), &ts, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Signed at a time not used before for this body, so a body sent again
/// is a new signed request (the same one twice is a replay, refused on its
/// own). A fixed step back per send is not enough: a send one second later
/// with a step of one second signs the same timestamp again.
async fn send(app: &TestApp, event: &Value) -> reqwest::Response {
    static USED: std::sync::Mutex<std::collections::BTreeSet<(String, i64)>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let body = event.to_string();
    let ts = {
        let mut used = USED.lock().unwrap();
        let mut ts = now();
        while !used.insert((body.clone(), ts)) {
            ts -= 1;
        }
        ts
    };
    send_at(app, &body, ts, SECRET).await
}

async fn setup(app: &TestApp) -> (i64, i64, i64) {
    let mut ids = Vec::new();
    for (user, email) in [("ana", "ana@desk.example"), ("bia", "bia@desk.example")] {
        let c = json(
            app.post(
                "/api/consultants",
                json!({"name": user, "sip_username": user, "password": "correct horse",
                       "email": email}),
            )
            .await,
            201,
        )
        .await;
        ids.push(c["id"].as_i64().unwrap());
    }
    let p = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "tax_id": NETSUL_CNPJ, "consulting": true,
                   "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await;
    (ids[0], ids[1], p["id"].as_i64().unwrap())
}

async fn protocol_by_number(app: &TestApp, number: &str) -> Option<Value> {
    let page = json(app.get("/api/protocols?limit=500").await, 200).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == number)
        .cloned()
}

async fn audit(app: &TestApp, id: i64) -> Vec<Value> {
    json(app.get(&format!("/api/protocols/{id}/audit")).await, 200)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn opened(event_id: &str, number: &str, at: &str) -> Value {
    json!({"event_id": event_id, "kind": "opened", "number": number, "updated_at": at,
           "provider_tax_id": NETSUL_CNPJ, "owner": "ana", "category": "support",
           "subject": "BGP flaps", "due_at": "2026-12-10T18:00:00-03:00"})
}

async fn signed_events_apply_once_in_the_senders_order(b: Backend) {
    let app = TestApp::spawn_with(b, &with_secret()).await;
    let (ana, bia, netsul) = setup(&app).await;

    // Good: the protocol is created under the system of record's number.
    let ev = opened("e-1", "SR-100", "2026-12-05T10:00:00Z");
    let r = json(send(&app, &ev).await, 200).await;
    assert_eq!(r["result"], "applied");
    assert_eq!(r["created"], true);
    let id = r["protocol_id"].as_i64().unwrap();
    let p = protocol_by_number(&app, "SR-100").await.unwrap();
    assert_eq!(p["id"], id);
    assert_eq!(p["provider_id"], netsul);
    assert_eq!(p["owner_id"], ana);
    assert_eq!(p["subject"], "BGP flaps");
    assert_eq!(p["due_at"], "2026-12-10T18:00:00-03:00");
    let trail = audit(&app, id).await.len();

    // Duplicate: the same event again (signed anew) changes nothing.
    let r = json(send(&app, &ev).await, 200).await;
    assert_eq!(r["result"], "duplicate");
    assert_eq!(audit(&app, id).await.len(), trail);

    // Replayed: the very same signed request is refused.
    let body = json!({"event_id": "e-2", "kind": "assigned", "number": "SR-100",
                      "updated_at": "2026-12-05T11:00:00Z", "owner": "bia@desk.example"})
    .to_string();
    let ts = now();
    json(send_at(&app, &body, ts, SECRET).await, 200).await;
    let e = json(send_at(&app, &body, ts, SECRET).await, 401).await;
    assert_eq!(e["error"]["code"], "bad_signature");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("replay"),
        "{e}"
    );
    assert_eq!(
        protocol_by_number(&app, "SR-100").await.unwrap()["owner_id"],
        bia,
        "assigned by e-mail"
    );

    // Bad signature and stale timestamp: refused, nothing applied.
    let body = json!({"event_id": "e-3", "kind": "closed", "number": "SR-100",
                      "updated_at": "2026-12-05T12:00:00Z"})
    .to_string();
    let e = json(send_at(&app, &body, now(), "not-the-secret").await, 401).await;
    assert_eq!(e["error"]["code"], "bad_signature");
    let e = json(send_at(&app, &body, now() - 600, SECRET).await, 401).await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("600 s"),
        "{e}"
    );
    let unsigned = app
        .client
        .post(app.url("/api/protocols/events"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(
        protocol_by_number(&app, "SR-100").await.unwrap()["status"],
        "open"
    );

    // Out of order: an update older than the one applied is acknowledged
    // and ignored; a newer one applies.
    let older = json!({"event_id": "e-0", "kind": "assigned", "number": "SR-100",
                       "updated_at": "2026-12-05T10:30:00Z", "owner": "ana"});
    let r = json(send(&app, &older).await, 200).await;
    assert_eq!(r["result"], "stale");
    assert_eq!(
        protocol_by_number(&app, "SR-100").await.unwrap()["owner_id"],
        bia
    );
    let newer = json!({"event_id": "e-4", "kind": "updated", "number": "SR-100",
                       "updated_at": "2026-12-05T13:00:00Z", "subject": "BGP flaps again",
                       "due_at": null});
    assert_eq!(
        json(send(&app, &newer).await, 200).await["result"],
        "applied"
    );
    let p = protocol_by_number(&app, "SR-100").await.unwrap();
    assert_eq!(p["subject"], "BGP flaps again");
    assert!(p["due_at"].is_null(), "null clears the deadline");
    assert_eq!(p["owner_id"], bia, "absent fields are left alone");

    // A malformed event is refused by field, and counted.
    let bad = json!({"event_id": "e-5", "kind": "assigned", "number": "SR-100",
                     "updated_at": "2026-12-05T14:00:00Z"});
    let e = json(send(&app, &bad).await, 400).await;
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("owner"),
        "{e}"
    );
    let e = json(
        send(&app, &json!({"event_id": "x", "kind": "merged"})).await,
        422,
    )
    .await;
    assert_eq!(e["error"]["code"], "invalid_body");

    let m = metrics(&app).await;
    for line in [
        r#"protocall_protocol_events_total{kind="opened",result="applied"} 1"#,
        r#"protocall_protocol_events_total{kind="opened",result="duplicate"} 1"#,
        r#"protocall_protocol_events_total{kind="assigned",result="stale"} 1"#,
        r#"protocall_protocol_events_total{kind="unknown",result="bad_signature"} 4"#,
    ] {
        assert!(m.contains(line), "{line} missing in\n{m}");
    }
}

async fn an_unconfigured_endpoint_answers_503(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ev = opened("e-1", "SR-1", "2026-12-05T10:00:00Z");
    let e = json(send(&app, &ev).await, 503).await;
    assert_eq!(e["error"]["code"], "not_configured");
}

async fn unknown_provider_or_consultant_is_422_kept_pending_and_applies_nothing(b: Backend) {
    let mut env = with_secret();
    env.push(("PROTOCALL__HTTP__CONSOLE_SECURE_COOKIE", "false"));
    let app = TestApp::spawn_with(b, &env).await;
    let (ana, _, _) = setup(&app).await;
    let ev = json!({"event_id": "e-9", "kind": "opened", "number": "SR-200",
                    "updated_at": "2026-12-05T10:00:00Z", "provider_tax_id": "11.444.777/0001-61",
                    "owner": "carla@desk.example"});
    let e = json(send(&app, &ev).await, 422).await;
    assert_eq!(e["error"]["code"], "unmatched");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("11444777000161"), "{msg}");
    assert!(msg.contains("carla@desk.example"), "{msg}");
    assert!(protocol_by_number(&app, "SR-200").await.is_none());

    // A known provider with an unknown owner is just as pending: the
    // protocol is not created without its owner.
    let ev2 = json!({"event_id": "e-10", "kind": "opened", "number": "SR-201",
                     "updated_at": "2026-12-05T10:00:00Z", "provider_tax_id": NETSUL_CNPJ,
                     "owner": "carla"});
    json(send(&app, &ev2).await, 422).await;
    assert!(protocol_by_number(&app, "SR-201").await.is_none());
    // So is an event about a protocol never seen, naming no provider.
    let ev3 = json!({"event_id": "e-11", "kind": "closed", "number": "SR-202",
                     "updated_at": "2026-12-05T10:00:00Z"});
    let e = json(send(&app, &ev3).await, 422).await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("provider_tax_id"),
        "{e}"
    );

    let pending = json(app.get("/api/protocols/events/pending").await, 200).await;
    assert_eq!(pending["total"], 3, "{pending}");
    let first = &pending["items"][0];
    assert_eq!(first["event_id"], "e-9");
    assert_eq!(first["number"], "SR-200");
    assert_eq!(first["source"], "sync:webhook");
    assert_eq!(first["missing"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["event"]["owner"], "carla@desk.example");

    // The manager's console shows them, with what is missing.
    use support::console::{browser, page, person, sign_in};
    person(&app, "gil", "manager").await;
    let manager = browser("pt-BR");
    sign_in(&app, &manager, "gil").await;
    let (status, html) = page(&app, &manager, "/gestao").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Eventos de protocolo aguardando associação"),
        "{html}"
    );
    assert!(html.contains("SR-200") && html.contains("carla@desk.example"));

    // A person adds the consultant; the sender's retry applies and settles
    // the pending event.
    json(
        app.post(
            "/api/consultants",
            json!({"name": "Carla", "sip_username": "carla", "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await;
    let r = json(send(&app, &ev2).await, 200).await;
    assert_eq!(r["result"], "applied");
    let pending = json(app.get("/api/protocols/events/pending").await, 200).await;
    assert_eq!(pending["total"], 2, "{pending}");
    assert!(pending["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["number"] != "SR-201"));

    // Managers only.
    let c = json(
        app.post(
            "/api/tokens",
            json!({"name": "ana-phone", "role": "consultant", "consultant_id": ana}),
        )
        .await,
        201,
    )
    .await;
    let r = app
        .client
        .get(app.url("/api/protocols/events/pending"))
        .bearer_auth(c["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn a_synced_close_runs_rule_4_and_the_audit_names_the_source(b: Backend) {
    let app = TestApp::spawn_with(b, &with_secret()).await;
    let (ana, _, _) = setup(&app).await;
    let r = json(
        send(&app, &opened("o-1", "SR-300", "2026-12-05T10:00:00Z")).await,
        200,
    )
    .await;
    let id = r["protocol_id"].as_i64().unwrap();
    let close = json!({"event_id": "c-1", "kind": "closed", "number": "SR-300",
                       "updated_at": "2026-12-05T15:30:00-03:00"});
    json(send(&app, &close).await, 200).await;
    let p = json(app.get(&format!("/api/protocols/{id}")).await, 200).await;
    assert_eq!(p["status"], "closed");
    let closed_at = chrono::DateTime::parse_from_rfc3339(p["closed_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        closed_at.timestamp(),
        chrono::DateTime::parse_from_rfc3339("2026-12-05T15:30:00-03:00")
            .unwrap()
            .timestamp(),
        "closed when the system of record closed it"
    );
    let tasks = json(
        app.get(&format!(
            "/api/tasks?protocol_id={id}&category=communicate-completion"
        ))
        .await,
        200,
    )
    .await;
    let tasks = tasks["items"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["consultant_id"], ana);
    assert_eq!(tasks[0]["status"], "planned");

    let reopen = json!({"event_id": "r-1", "kind": "reopened", "number": "SR-300",
                        "updated_at": "2026-12-05T16:00:00-03:00"});
    json(send(&app, &reopen).await, 200).await;
    let p = json(app.get(&format!("/api/protocols/{id}")).await, 200).await;
    assert_eq!(p["status"], "open");
    let task = json(
        app.get(&format!("/api/tasks/{}", tasks[0]["id"])).await,
        200,
    )
    .await;
    assert_eq!(
        task["status"], "cancelled",
        "a reopen cancels rule 4's task"
    );

    let trail = audit(&app, id).await;
    let fields: Vec<(&str, &str)> = trail
        .iter()
        .map(|a| (a["field"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect();
    for want in [
        ("created", "sync:webhook"),
        ("status", "sync:webhook"),
        ("closed_at", "sync:webhook"),
    ] {
        assert!(fields.contains(&want), "{want:?} not in {fields:?}");
    }
    assert!(
        trail.iter().all(|a| a["actor"] == "sync:webhook"),
        "{trail:?}"
    );
}

async fn an_assigned_event_then_a_call_rings_the_new_owner(b: Backend) {
    use support::desk::{attempts, carrier, desk_custom, desk_uri, ended, logged, PLAN, T};
    let mut d = desk_custom(b, PLAN, |_, _| {
        vec![(
            "PROTOCALL__PROTOCOL_SYNC__WEBHOOK_SECRET".to_string(),
            SECRET.to_string(),
        )]
    })
    .await;
    let number = json(
        d.app
            .get(&format!("/api/protocols/{}", d.protocol_id))
            .await,
        200,
    )
    .await["number"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = json!({"event_id": "a-1", "kind": "assigned", "number": number,
                    "updated_at": "2026-12-05T10:00:00Z", "owner": "bia"});
    json(send(&d.app, &ev).await, 200).await;
    // No pause: the answer comes once routing sees the change.
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    d.bia.next_request_of(Method::Ack, T).await.unwrap();
    caller.bye(&call).await.unwrap();
    let (bye, _) = d.bia.next_request_of(Method::Bye, T).await.unwrap();
    d.bia.respond(&bye, 200).await.unwrap();
    caller.expect_response(Method::Bye, 200, T).await.unwrap();
    let log = logged(&d, &call.call_id, ended).await;
    assert_eq!(log["route"], "owner");
    assert_eq!(log["consultant_id"], d.bia_id);
    assert_eq!(attempts(&log), vec![("owner".into(), "bia".into(), 200)]);
}

async fn protocols_in_the_csv_import_are_all_rows_or_none(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (ana, bia, _) = setup(&app).await;
    let csv = |rows: &str| {
        format!(
            "provider,tax_id,consulting,number,protocol,protocol_owner,protocol_category,\
             protocol_subject,protocol_due_at,protocol_status\n{rows}"
        )
        .into_bytes()
    };
    // Line 3 names nobody; line 4 has a bad deadline: nothing is written.
    let bad = csv(
        "NetSul,11222333000181,sim,,CSV-1,ana,support,Link down,2026-12-10T18:00:00-03:00,\n\
         Fibra,,não,(21) 3456-7890,CSV-2,zé,,,,\n\
         Fibra,,não,,CSV-3,,,,amanhã,\n",
    );
    let r = json(app.post_raw("/api/import", "text/csv", bad).await, 422).await;
    let rejected = r["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{r}");
    assert_eq!(rejected[0]["line"], 4);
    assert_eq!(rejected[0]["field"], "protocol_due_at");
    let bad = csv(
        "NetSul,11222333000181,sim,,CSV-1,ana,support,Link down,2026-12-10T18:00:00-03:00,\n\
         Fibra,,não,(21) 3456-7890,CSV-2,zé,,,,\n",
    );
    let r = json(app.post_raw("/api/import", "text/csv", bad).await, 422).await;
    assert_eq!(r["imported"], false);
    assert_eq!(r["rejected"][0]["line"], 3, "{r}");
    assert_eq!(r["rejected"][0]["field"], "protocol_owner");
    assert!(
        protocol_by_number(&app, "CSV-1").await.is_none(),
        "all or none"
    );
    let providers = json(app.get("/api/providers").await, 200).await;
    assert_eq!(providers["total"], 1, "Fibra was not created");

    let good = csv(
        "NetSul,11222333000181,sim,,CSV-1,ana,support,Link down,2026-12-10T18:00:00-03:00,\n\
         Fibra,,não,(21) 3456-7890,CSV-2,bia@desk.example,,,,\n",
    );
    let r = json(app.post_raw("/api/import", "text/csv", good).await, 200).await;
    assert_eq!(r["protocols_created"], 2, "{r}");
    let p1 = protocol_by_number(&app, "CSV-1").await.unwrap();
    assert_eq!(p1["owner_id"], ana);
    assert_eq!(p1["due_at"], "2026-12-10T18:00:00-03:00");
    assert_eq!(
        protocol_by_number(&app, "CSV-2").await.unwrap()["owner_id"],
        bia
    );

    // Again with a close: the known protocol is brought up to date, with
    // rule 4 and the audit under the person importing.
    let close = csv("NetSul,11222333000181,sim,,CSV-1,,,,,closed\n");
    let r = json(app.post_raw("/api/import", "text/csv", close).await, 200).await;
    assert_eq!(r["protocols_updated"], 1, "{r}");
    let id = p1["id"].as_i64().unwrap();
    let p1 = json(app.get(&format!("/api/protocols/{id}")).await, 200).await;
    assert_eq!(p1["status"], "closed");
    let tasks = json(
        app.get(&format!(
            "/api/tasks?protocol_id={id}&category=communicate-completion"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(tasks["total"], 1);
    assert!(audit(&app, id)
        .await
        .iter()
        .any(|a| a["field"] == "status" && a["actor"] == "token:test"));
}

/// The system of record's pull endpoint: two pages; the very first
/// request fails with a 500.
async fn tickets_server() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    type Seen = Arc<std::sync::Mutex<Vec<String>>>;
    let hits = Arc::new(AtomicUsize::new(0));
    let auth: Seen = Arc::default();
    async fn page(
        State((hits, auth)): State<(Arc<AtomicUsize>, Seen)>,
        headers: HeaderMap,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> Result<axum::Json<Value>, StatusCode> {
        if let Some(a) = headers.get("authorization") {
            auth.lock().unwrap().push(a.to_str().unwrap().to_string());
        }
        if hits.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
        Ok(axum::Json(match q.get("page").map(String::as_str) {
            Some("2") => json!({"items": [
                {"number": "PULL-2", "updated_at": "2026-12-05T11:00:00Z",
                 "provider_tax_id": NETSUL_CNPJ, "owner": "bia", "status": "closed",
                 "category": "consulting"},
                {"number": "PULL-3", "updated_at": "2026-12-05T11:00:00Z",
                 "provider_tax_id": "11444777000161", "owner": "ana", "status": "open"}
            ], "next": null}),
            _ => json!({"items": [
                {"number": "PULL-1", "updated_at": "2026-12-05T10:00:00Z",
                 "opened_at": "2026-12-04T09:00:00-03:00",
                 "provider_tax_id": NETSUL_CNPJ, "owner": "ana@desk.example",
                 "subject": "VPN", "due_at": "2026-12-09T12:00:00Z", "status": "open"}
            ], "next": "/tickets?page=2"}),
        }))
    }
    let app = axum::Router::new()
        .route("/tickets", axum::routing::get(page))
        .with_state((hits.clone(), auth.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/tickets?page=1"), hits, auth)
}

async fn the_pull_follows_pages_and_recovers_from_a_failure(b: Backend) {
    let (url, hits, auth) = tickets_server().await;
    let app = TestApp::spawn_with(
        b,
        &[
            ("PROTOCALL__PROTOCOL_SYNC__PULL__URL", url.as_str()),
            (
                "PROTOCALL__PROTOCOL_SYNC__PULL__AUTH_HEADER",
                "Bearer pull-token",
            ),
            ("PROTOCALL__PROTOCOL_SYNC__PULL__INTERVAL_SECS", "3600"),
            ("PROTOCALL__PROTOCOL_SYNC__PULL__RETRY_MIN_SECS", "1"),
        ],
    )
    .await;
    setup(&app).await;
    // The first pull may run before the directory exists: wait for the
    // one that finds it all (the retry after the 500 comes a second later).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let m = metrics(&app).await;
        let synced = m
            .lines()
            .find(|l| l.starts_with("protocall_protocol_sync_last_success_timestamp_seconds "))
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if synced > 0.0 && protocol_by_number(&app, "PULL-2").await.is_some() {
            assert!(
                m.contains("protocall_protocol_sync_failures_total 1"),
                "one failed pull, counted\n{m}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no successful pull in time; {} requests\n{m}",
            hits.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p1 = protocol_by_number(&app, "PULL-1").await.unwrap();
    assert_eq!(p1["subject"], "VPN");
    let ts = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(
        ts(&p1["opened_at"]),
        ts(&json!("2026-12-04T09:00:00-03:00")),
        "opened when the system of record opened it"
    );
    assert_eq!(
        p1["due_at"]
            .as_str()
            .map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()),
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-12-09T12:00:00Z")
                .unwrap()
                .timestamp()
        )
    );
    let p2 = protocol_by_number(&app, "PULL-2").await.unwrap();
    assert_eq!(p2["status"], "closed");
    assert_eq!(p2["category"], "consulting");
    let pulled = audit(&app, p2["id"].as_i64().unwrap()).await;
    assert!(
        pulled.iter().all(|a| a["actor"] == "sync:pull"),
        "{pulled:?}"
    );
    // PULL-3's provider is unknown: pending, not applied.
    assert!(protocol_by_number(&app, "PULL-3").await.is_none());
    let pending = json(app.get("/api/protocols/events/pending").await, 200).await;
    assert!(
        pending["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["number"] == "PULL-3" && p["source"] == "sync:pull"),
        "{pending}"
    );
    assert!(auth
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer pull-token"));
    assert!(!auth.lock().unwrap().is_empty());
}

/// What a full directory reload costs at 10,000 numbers, against the
/// patch of one protocol (run with `--ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn measure_snapshot_reload_against_a_patch() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    setup(&app).await;
    let mut csv = String::from("provider,tax_id,consulting,number,protocol,protocol_owner\n");
    for i in 0..10_000u32 {
        let provider = i / 4;
        let proto = if i % 4 == 0 {
            format!("M-{provider}")
        } else {
            String::new()
        };
        let owner = if proto.is_empty() { "" } else { "ana" };
        csv.push_str(&format!(
            "P{provider},,sim,+55119{:08},{proto},{owner}\n",
            i
        ));
    }
    let r = json(
        app.post_raw("/api/import", "text/csv", csv.into_bytes())
            .await,
        200,
    )
    .await;
    assert_eq!(r["numbers_added"], 10_000, "{r}");
    let mut full = Vec::new();
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let s = app.store.load_snapshot().await.unwrap();
        full.push(t.elapsed());
        assert!(s.numbers.len() >= 10_000);
    }
    let dir = protocall::directory::snapshot::SharedDirectory::new(
        app.store.load_snapshot().await.unwrap(),
    );
    let id = protocol_by_number(&app, "M-7").await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut patch = Vec::new();
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let changes = app.store.protocol_entries(&[id]).await.unwrap();
        dir.patch_protocols(&changes);
        patch.push(t.elapsed());
    }
    full.sort();
    patch.sort();
    println!(
        "full reload (10,000 numbers, 2,500 protocols): median {:?}, min {:?}, max {:?}; \
         one-protocol patch: median {:?}, min {:?}, max {:?}",
        full[5], full[0], full[9], patch[5], patch[0], patch[9]
    );
}
