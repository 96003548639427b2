//! Manual time tracking through the admin API and the CLI, on SQLite and
//! PostgreSQL: task timers (one running per consultant), overlaps refused,
//! the audit trail, contacts on other channels, scheduled contacts and
//! meetings with rooms (done only with their real times, or timed), and rule 4 when a protocol closes.

use crate::support;

use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    task_timers_one_running_no_overlaps_audited,
    contacts_timers_scheduled_meetings_and_rooms,
    closing_a_protocol_asks_its_owner_to_communicate_completion,
);

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

/// A consultant's own API token (role consultant).
async fn token_for(app: &TestApp, consultant: i64) -> String {
    let t = json(
        app.post(
            "/api/tokens",
            json!({"name": format!("desk-{consultant}"), "role": "consultant", "consultant_id": consultant}),
        )
        .await,
        201,
    )
    .await;
    t["token"].as_str().unwrap().to_string()
}

async fn patch(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.patch(path, body).await
}

async fn task_timers_one_running_no_overlaps_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let a = json(
        app.post(
            "/api/tasks/start",
            json!({"consultant_id": ana, "category": "documentation", "title": "runbook",
                   "at": "2026-11-20T09:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(a["started"]["status"], "running");
    assert!(a["stopped"].is_null());
    let a_id = a["started"]["id"].as_i64().unwrap();
    // Starting another stops the first at the same instant.
    let b2 = json(
        app.post(
            "/api/tasks/start",
            json!({"consultant_id": ana, "category": "review", "at": "2026-11-20T10:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(b2["stopped"]["id"], a_id);
    assert_eq!(b2["stopped"]["status"], "done");
    assert_eq!(b2["stopped"]["ended_at"], "2026-11-20T10:00:00-03:00");
    assert_eq!(b2["stopped"]["realised_ms"], 3_600_000);
    let m = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("protocall_tasks_running 1"), "{m}");
    let stopped = json(
        app.post(
            "/api/tasks/stop",
            json!({"consultant_id": ana, "at": "2026-11-20T10:30:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(stopped["realised_ms"], 1_800_000);
    // Nothing running now.
    let none = json(
        app.post("/api/tasks/stop", json!({"consultant_id": ana}))
            .await,
        409,
    )
    .await;
    assert_eq!(none["error"]["code"], "not_running");
    // A realised task over time already taken is refused.
    let clash = json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "gin",
                   "started_at": "2026-11-20T09:30:00-03:00", "ended_at": "2026-11-20T09:45:00-03:00"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(clash["error"]["code"], "overlap");
    assert!(clash["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&a_id.to_string()));
    // Back to back is fine.
    let c = json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "gin", "protocol_id": null,
                   "started_at": "2026-11-20T10:30:00-03:00", "ended_at": "2026-11-20T11:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(c["status"], "done");
    // A planned task.
    let p = json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "meeting",
                   "planned_start": "2026-11-23T14:00:00-03:00", "planned_minutes": 60}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(p["status"], "planned");
    // Bad input changes nothing: a value the document refuses is a 400, a
    // category nobody added or an end before the start a 409.
    for (body, field, status) in [
        (
            json!({"consultant_id": ana, "category": "dancing"}),
            "category",
            409,
        ),
        (
            json!({"consultant_id": ana, "category": "gin",
                   "started_at": "2026-11-20T12:00:00-03:00", "ended_at": "2026-11-20T11:00:00-03:00"}),
            "ended_at",
            409,
        ),
        (
            json!({"consultant_id": ana, "category": "gin", "planned_minutes": 0}),
            "planned_minutes",
            400,
        ),
    ] {
        let e = json(app.post("/api/tasks", body).await, status).await;
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{e}"
        );
    }
    json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "gin", "started_at": "yesterday"}),
        )
        .await,
        422,
    )
    .await;
    let all = json(
        app.get(&format!("/api/tasks?consultant_id={ana}")).await,
        200,
    )
    .await;
    assert_eq!(all["total"], 4);
    // Editing a time is audited; moving it onto another task is refused.
    let moved = json(
        patch(
            &app,
            &format!("/api/tasks/{a_id}"),
            json!({"started_at": "2026-11-20T08:45:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["realised_ms"], 4_500_000);
    json(
        patch(
            &app,
            &format!("/api/tasks/{a_id}"),
            json!({"ended_at": "2026-11-20T10:15:00-03:00"}),
        )
        .await,
        409,
    )
    .await;
    let audit = json(app.get(&format!("/api/tasks/{a_id}/audit")).await, 200).await;
    let fields: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap(),
                e["new_value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            ("started_at", "2026-11-20T12:00:00.000Z"),
            ("ended_at", "2026-11-20T13:00:00.000Z"),
            ("started_at", "2026-11-20T11:45:00.000Z"),
        ]
    );
    assert_eq!(audit[2]["old_value"], "2026-11-20T12:00:00.000Z");
    assert_eq!(audit[2]["actor"], "token:test");
    let cats = json(app.get("/api/task-categories").await, 200).await;
    assert!(cats
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "communicate-completion"));
    // The process's 15, the plan's `attendance` (migration 0013) and the
    // e-mail reading slots' `email` (migration 0019).
    assert_eq!(cats.as_array().unwrap().len(), 17);
    assert!(cats
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "email"));
}

async fn contacts_timers_scheduled_meetings_and_rooms(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let bia = consultant(&app, "bia").await;
    let chat = json(
        app.post(
            "/api/contacts/start",
            json!({"consultant_id": ana, "channel": "chat", "at": "2026-11-20T09:00:00-03:00",
                   "notes": "WhatsApp: BGP flapping"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(chat["started"]["status"], "open");
    let ended = json(
        app.post(
            "/api/contacts/stop",
            json!({"consultant_id": ana, "at": "2026-11-20T09:12:30.250-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ended["status"], "done");
    assert_eq!(ended["duration_ms"], 750_250);
    assert_eq!(ended["kind"], "triggered");
    // An e-mail answered, entered whole; one overlapping the chat refused.
    json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": ana, "channel": "email",
                   "started_at": "2026-11-20T09:10:00-03:00", "ended_at": "2026-11-20T09:20:00-03:00"}),
        )
        .await,
        409,
    )
    .await;
    json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": ana, "channel": "email",
                   "started_at": "2026-11-20T09:15:00-03:00", "ended_at": "2026-11-20T09:20:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    // A meeting in a room, with a participant; the room cannot be double-booked.
    let room = json(
        app.post("/api/rooms", json!({"name": "Sala 1", "capacity": 6}))
            .await,
        201,
    )
    .await;
    let meeting = json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": ana, "channel": "meeting", "room_id": room["id"],
                   "planned_start": "2026-11-24T14:00:00-03:00", "planned_end": "2026-11-24T15:00:00-03:00",
                   "agenda": "Quarterly review", "participants": [bia]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(meeting["kind"], "scheduled");
    assert_eq!(meeting["status"], "scheduled");
    assert_eq!(meeting["participants"], json!([bia]));
    let taken = json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": bia, "channel": "meeting", "room_id": room["id"],
                   "planned_start": "2026-11-24T14:30:00-03:00", "planned_end": "2026-11-24T16:00:00-03:00"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(taken["error"]["code"], "room_booked");
    json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": bia, "channel": "meeting", "room_id": room["id"],
                   "planned_start": "2026-11-24T15:00:00-03:00", "planned_end": "2026-11-24T16:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    // Rule 3 asks for the real times: done without them is refused and
    // changes nothing (the plan is not copied in).
    let id = meeting["id"].as_i64().unwrap();
    let refused = json(
        patch(
            &app,
            &format!("/api/contacts/{id}"),
            json!({"status": "done"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(refused["error"]["code"], "conflict", "{refused}");
    let still = json(app.get(&format!("/api/contacts/{id}")).await, 200).await;
    assert_eq!(still["status"], "scheduled");
    assert!(still["started_at"].is_null(), "{still}");
    // The meeting starts late: its timer runs from 14:07 to 15:02. Ana's
    // chat timer, open since 14:00, ends when the meeting's starts.
    let chat = json(
        app.post(
            "/api/contacts/start",
            json!({"consultant_id": ana, "channel": "chat", "at": "2026-11-24T13:50:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    let started = json(
        app.post(
            &format!("/api/contacts/{id}/start"),
            json!({"at": "2026-11-24T14:07:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(started["started"]["status"], "open");
    assert_eq!(
        started["started"]["started_at"],
        "2026-11-24T14:07:00-03:00"
    );
    assert_eq!(started["stopped"]["id"], chat["started"]["id"]);
    assert_eq!(started["stopped"]["ended_at"], "2026-11-24T14:07:00-03:00");
    // A started meeting cannot start again, nor be marked done by copying.
    json(
        app.post(&format!("/api/contacts/{id}/start"), json!({}))
            .await,
        409,
    )
    .await;
    // Bia may not run Ana's meeting.
    let bia_token = token_for(&app, bia).await;
    let other = app
        .client
        .post(app.url(&format!("/api/contacts/{id}/stop")))
        .bearer_auth(&bia_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    json(other, 403).await;
    let done = json(
        app.post(
            &format!("/api/contacts/{id}/stop"),
            json!({"at": "2026-11-24T15:02:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["started_at"], "2026-11-24T14:07:00-03:00");
    assert_eq!(done["ended_at"], "2026-11-24T15:02:00-03:00");
    assert_eq!(done["duration_ms"], 55 * 60_000);
    assert_eq!(done["planned_start"], "2026-11-24T14:00:00-03:00");
    json(
        app.post(&format!("/api/contacts/{id}/stop"), json!({}))
            .await,
        409,
    )
    .await;
    json(
        patch(
            &app,
            &format!("/api/contacts/{id}"),
            json!({"status": "scheduled"}),
        )
        .await,
        409,
    )
    .await;
    // A scheduled call-back that did not happen.
    let cb = json(
        app.post(
            "/api/contacts",
            json!({"consultant_id": bia, "channel": "phone", "direction": "outbound",
                   "planned_start": "2026-11-25T10:00:00-03:00", "planned_end": "2026-11-25T10:15:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    let missed = json(
        patch(
            &app,
            &format!("/api/contacts/{}", cb["id"]),
            json!({"status": "missed"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(missed["status"], "missed");
    let audit = json(app.get(&format!("/api/contacts/{id}/audit")).await, 200).await;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "status" && e["new_value"] == "done"));
    let sched = json(
        app.get("/api/contacts?kind=scheduled&status=done").await,
        200,
    )
    .await;
    assert_eq!(sched["total"], 1);
    for bad in [
        json!({"consultant_id": ana, "channel": "pigeon", "started_at": "2026-11-20T09:00:00Z", "ended_at": "2026-11-20T09:01:00Z"}),
        json!({"consultant_id": ana, "channel": "chat"}),
        json!({"consultant_id": ana, "channel": "chat", "direction": "sideways", "started_at": "2026-11-20T09:00:00Z", "ended_at": "2026-11-20T09:01:00Z"}),
    ] {
        json(app.post("/api/contacts", bad).await, 400).await;
    }
    json(app.post("/api/rooms", json!({"name": "Sala 1"})).await, 409).await;
}

async fn closing_a_protocol_asks_its_owner_to_communicate_completion(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana").await;
    let prov = json(
        app.post("/api/providers", json!({"name": "NetSul"})).await,
        201,
    )
    .await;
    let p = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": prov["id"], "owner_id": ana, "subject": "BGP"}),
        )
        .await,
        201,
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    json(
        app.post(&format!("/api/protocols/{id}/close"), json!({}))
            .await,
        200,
    )
    .await;
    let tasks = json(
        app.get(&format!(
            "/api/tasks?protocol_id={id}&category=communicate-completion"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(tasks["total"], 1, "{tasks}");
    let t = &tasks["items"][0];
    assert_eq!(t["consultant_id"], ana);
    assert_eq!(t["status"], "planned");
    assert_eq!(t["source"], "rule");
    assert_eq!(t["planned_minutes"], 15);
    // A protocol that already has one gets no second.
    let p2 = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": prov["id"], "owner_id": ana}),
        )
        .await,
        201,
    )
    .await;
    let id2 = p2["id"].as_i64().unwrap();
    json(
        app.post(
            "/api/tasks",
            json!({"consultant_id": ana, "category": "communicate-completion", "protocol_id": id2,
                   "started_at": "2026-11-20T16:00:00-03:00", "ended_at": "2026-11-20T16:05:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    json(
        app.post(&format!("/api/protocols/{id2}/close"), json!({}))
            .await,
        200,
    )
    .await;
    let tasks = json(
        app.get(&format!(
            "/api/tasks?protocol_id={id2}&category=communicate-completion"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(tasks["total"], 1);
}

#[tokio::test]
async fn cli_task_and_contact_timers_with_human_times() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    consultant(&app, "ana").await;
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &app.db_url)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&[
        "task",
        "start",
        "--consultant",
        "ana",
        "--category",
        "documentation",
        "--at",
        "yesterday 09:30",
        "--title",
        "runbook",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("started") && out.contains("09:30:00"), "{out}");
    let (code, out, err) = cli(&[
        "task",
        "stop",
        "--consultant",
        "ana",
        "--at",
        "yesterday 10:15",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("45 min"), "{out}");
    let (code, out, _) = cli(&["task", "list", "--consultant", "ana", "--day", "yesterday"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("1 task(s), 45 min"), "{out}");
    // Overlap refused with a clear message, nothing written.
    let (code, _, err) = cli(&[
        "task",
        "start",
        "--consultant",
        "ana",
        "--category",
        "gin",
        "--at",
        "yesterday 10:00",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("overlaps tasks"), "{err}");
    let (code, _, err) = cli(&[
        "task",
        "start",
        "--consultant",
        "ana",
        "--category",
        "gin",
        "--at",
        "25:99",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("25:99"), "{err}");
    let (code, out, err) = cli(&[
        "contact",
        "add",
        "--consultant",
        "ana",
        "--channel",
        "email",
        "--at",
        "yesterday 11:00",
        "--until",
        "yesterday 11:20",
        "--notes",
        "answered the NOC",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("20 min"), "{out}");
    let tasks = json(app.get("/api/tasks").await, 200).await;
    assert_eq!(tasks["total"], 1);
    let audit = json(
        app.get(&format!("/api/tasks/{}/audit", tasks["items"][0]["id"]))
            .await,
        200,
    )
    .await;
    // From the shell it is an admin acting for Ana, and it says so.
    let actor = audit[0]["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("cli-admin:") && actor.ends_with(" for ana"),
        "{audit}"
    );
    let contacts = json(app.get("/api/contacts?channel=email").await, 200).await;
    assert_eq!(contacts["items"][0]["notes"], "answered the NOC");
}
