//! Protocols through the admin API, on SQLite and PostgreSQL: edited
//! (category, subject, deadline) and reopened, each change audited under
//! the person; refused edits change nothing; routing sees an edit or a
//! reopen at once; rule 4 ("communicate completion") only for the
//! configured categories, in the close's transaction (a task that cannot
//! be created keeps the protocol open), for the closer when there is no
//! owner, and once per round of a reopened attendance.

use crate::support;

use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    editing_a_protocol_changes_each_field_audited_and_refusals_change_nothing,
    reopening_a_closed_protocol_is_audited_and_an_open_one_is_409,
    assigning_an_owner_is_audited,
    routing_sees_an_edit_and_a_reopen_at_once,
    rule_4_follows_the_configured_categories,
    rule_4_is_part_of_the_close_and_a_failed_task_keeps_the_protocol_open,
    rule_4_without_an_owner_goes_to_the_closer_or_refuses_the_close,
    rule_4_asks_once_per_round_of_a_reopened_attendance,
);

async fn consultant(app: &TestApp, user: &str, role: &str) -> i64 {
    json(
        app.post(
            "/api/consultants",
            json!({"name": user, "sip_username": user, "password": "correct horse", "role": role}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn provider(app: &TestApp) -> i64 {
    json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap()
}

async fn open(app: &TestApp, body: Value) -> Value {
    json(app.post("/api/protocols", body).await, 201).await
}

async fn audit(app: &TestApp, id: i64) -> Vec<Value> {
    json(app.get(&format!("/api/protocols/{id}/audit")).await, 200)
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// The protocol's communicate-completion tasks, oldest first.
async fn completion_tasks(app: &TestApp, id: i64) -> Vec<Value> {
    let tasks = json(
        app.get(&format!(
            "/api/tasks?protocol_id={id}&category=communicate-completion"
        ))
        .await,
        200,
    )
    .await;
    let mut tasks = tasks["items"].as_array().unwrap().clone();
    tasks.sort_by_key(|t| t["id"].as_i64());
    tasks
}

async fn close(app: &TestApp, id: i64, status: u16) -> Value {
    json(
        app.post(&format!("/api/protocols/{id}/close"), json!({}))
            .await,
        status,
    )
    .await
}

async fn reopen(app: &TestApp, id: i64, status: u16) -> Value {
    json(
        app.post(&format!("/api/protocols/{id}/reopen"), json!({}))
            .await,
        status,
    )
    .await
}

/// A request under another token.
async fn as_token(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

async fn exec(url: &str, sqls: &[&str]) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        for s in sqls {
            sqlx::Executor::execute(&mut c, *s).await.unwrap();
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        for s in sqls {
            sqlx::Executor::execute(&mut c, *s).await.unwrap();
        }
    }
}

async fn editing_a_protocol_changes_each_field_audited_and_refusals_change_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let prov = provider(&app).await;
    let p = open(
        &app,
        json!({"provider_id": prov, "owner_id": ana, "category": "support", "subject": "BGP",
               "due_at": "2026-12-10T18:00:00-03:00"}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let path = format!("/api/protocols/{id}");

    // Each field on its own, then the deadline cleared.
    let p1 = json(
        app.patch(&path, json!({"subject": "  BGP flaps  "})).await,
        200,
    )
    .await;
    assert_eq!(p1["subject"], "BGP flaps", "trimmed, as when opening");
    assert_eq!(p1["category"], "support");
    assert_eq!(p1["due_at"], "2026-12-10T18:00:00-03:00");
    let p2 = json(app.patch(&path, json!({"category": "incident"})).await, 200).await;
    assert_eq!(p2["category"], "incident");
    assert_eq!(p2["subject"], "BGP flaps");
    let p3 = json(
        app.patch(&path, json!({"due_at": "2026-12-08T12:00:00-03:00"}))
            .await,
        200,
    )
    .await;
    assert_eq!(p3["due_at"], "2026-12-08T12:00:00-03:00");
    let p4 = json(app.patch(&path, json!({"due_at": null})).await, 200).await;
    assert!(p4["due_at"].is_null());
    // An empty patch and a patch to the same values change nothing.
    json(app.patch(&path, json!({})).await, 200).await;
    json(app.patch(&path, json!({"subject": "BGP flaps"})).await, 200).await;
    // A blank category is the default one, as when opening.
    let p5 = json(app.patch(&path, json!({"category": " "})).await, 200).await;
    assert_eq!(p5["category"], "support");

    let trail = audit(&app, id).await;
    let fields: Vec<(&str, Option<&str>, Option<&str>)> = trail
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap(),
                e["old_value"].as_str(),
                e["new_value"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            ("subject", Some("BGP"), Some("BGP flaps")),
            ("category", Some("support"), Some("incident")),
            (
                "due_at",
                Some("2026-12-10T21:00:00.000Z"),
                Some("2026-12-08T15:00:00.000Z")
            ),
            ("due_at", Some("2026-12-08T15:00:00.000Z"), None),
            ("category", Some("incident"), Some("support")),
        ],
        "{trail:?}"
    );
    assert!(
        trail.iter().all(|e| e["actor"] == "token:test"),
        "the person: {trail:?}"
    );

    // Refused edits change nothing and audit nothing.
    let before = json(app.get(&path).await, 200).await;
    for (body, status) in [
        (json!({"due_at": "next tuesday"}), 422),
        (json!({"due_at": "2026-13-01T10:00:00Z"}), 422),
        (json!({"subject": "x", "owner_id": ana}), 422),
        (json!({"subject": "x".repeat(501)}), 400),
        (json!({"category": "c".repeat(101)}), 400),
        (json!({"subject": 7}), 422),
        (json!(["subject"]), 422),
    ] {
        json(app.patch(&path, body.clone()).await, status).await;
        assert_eq!(json(app.get(&path).await, 200).await, before, "{body}");
    }
    assert_eq!(audit(&app, id).await.len(), trail.len());
    json(
        app.patch("/api/protocols/999999", json!({"subject": "x"}))
            .await,
        404,
    )
    .await;

    // A closed protocol keeps the deadline it was judged by; its words may
    // still be corrected.
    close(&app, id, 200).await;
    let e = json(
        app.patch(&path, json!({"due_at": "2026-12-20T12:00:00-03:00"}))
            .await,
        409,
    )
    .await;
    assert_eq!(e["error"]["code"], "conflict");
    assert!(e["error"]["message"].as_str().unwrap().contains("reopen"));
    let p6 = json(
        app.patch(&path, json!({"subject": "BGP: fixed"})).await,
        200,
    )
    .await;
    assert_eq!(p6["status"], "closed");
    assert_eq!(p6["subject"], "BGP: fixed");
    // Consultants do not edit protocols.
    let t = json(
        app.post(
            "/api/tokens",
            json!({"name": "ana", "role": "consultant", "consultant_id": ana}),
        )
        .await,
        201,
    )
    .await;
    let r = app
        .client
        .patch(app.url(&path))
        .bearer_auth(t["token"].as_str().unwrap())
        .json(&json!({"subject": "mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

async fn reopening_a_closed_protocol_is_audited_and_an_open_one_is_409(b: Backend) {
    let app = TestApp::spawn(b).await;
    let gil = consultant(&app, "gil", "manager").await;
    let prov = provider(&app).await;
    let p = open(
        &app,
        json!({"provider_id": prov, "owner_id": gil, "category": "incident",
               "due_at": "2026-12-10T18:00:00-03:00"}),
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let e = reopen(&app, id, 409).await;
    assert_eq!(e["error"]["code"], "conflict");
    let closed = close(&app, id, 200).await;
    assert_eq!(closed["status"], "closed");
    // Under a manager's own token, so the audit names the person.
    let t = json(
        app.post(
            "/api/tokens",
            json!({"name": "gil", "role": "manager", "consultant_id": gil}),
        )
        .await,
        201,
    )
    .await;
    let token = t["token"].as_str().unwrap();
    let r = as_token(
        &app,
        token,
        reqwest::Method::POST,
        &format!("/api/protocols/{id}/reopen"),
    )
    .await;
    let again = json(r, 200).await;
    assert_eq!(again["status"], "open");
    assert!(again["closed_at"].is_null());
    assert_eq!(
        again["due_at"], "2026-12-10T18:00:00-03:00",
        "the deadline stays"
    );
    assert_eq!(again["opened_at"], p["opened_at"]);
    reopen(&app, id, 409).await;
    reopen(&app, 999_999, 404).await;

    let trail = audit(&app, id).await;
    let status: Vec<_> = trail
        .iter()
        .filter(|e| e["field"] == "status")
        .map(|e| {
            (
                e["new_value"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(status, vec![("closed", "token:test"), ("open", "gil")]);
    let cleared = trail
        .iter()
        .find(|e| e["field"] == "closed_at" && e["new_value"].is_null())
        .unwrap();
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    assert_eq!(at(&cleared["old_value"]), at(&closed["closed_at"]));
    // Open again: it closes again.
    close(&app, id, 200).await;
}

/// The open protocol routing picks for the provider's number, waiting a
/// moment for `want` (the snapshot is rebuilt right after each write).
async fn routed_protocol(app: &TestApp, want: i64) -> i64 {
    let mut last = 0;
    for _ in 0..100 {
        let sim = json(
            app.post("/api/routing/simulate", json!({"from": "011987654321"}))
                .await,
            200,
        )
        .await;
        last = sim["caller"]["protocol_id"].as_i64().unwrap_or(0);
        if last == want {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    last
}

async fn routing_sees_an_edit_and_a_reopen_at_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let bia = consultant(&app, "bia", "consultant").await;
    let prov = provider(&app).await;
    let pa = open(
        &app,
        json!({"provider_id": prov, "owner_id": ana, "category": "incident",
               "due_at": "2026-12-20T18:00:00-03:00"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let pb = open(
        &app,
        json!({"provider_id": prov, "owner_id": bia, "category": "incident",
               "due_at": "2026-12-15T18:00:00-03:00"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // The nearest deadline picks the owner.
    assert_eq!(routed_protocol(&app, pb).await, pb);
    json(
        app.patch(
            &format!("/api/protocols/{pa}"),
            json!({"due_at": "2026-12-10T18:00:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(routed_protocol(&app, pa).await, pa, "the edited deadline");
    close(&app, pa, 200).await;
    assert_eq!(
        routed_protocol(&app, pb).await,
        pb,
        "closed, out of routing"
    );
    reopen(&app, pa, 200).await;
    assert_eq!(routed_protocol(&app, pa).await, pa, "reopened, back in");
    let sim = json(
        app.post("/api/routing/simulate", json!({"from": "011987654321"}))
            .await,
        200,
    )
    .await;
    assert_eq!(sim["caller"]["owner_id"], ana);
}

async fn rule_4_follows_the_configured_categories(b: Backend) {
    let app = TestApp::spawn(b.clone()).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let prov = provider(&app).await;
    let mut cases = Vec::new();
    for (category, asks) in [
        (Some("support"), true),
        (Some(" Support "), true),
        (None, true),
        (Some(""), true),
        (Some("incident"), false),
        (Some("supported"), false),
    ] {
        let mut body = json!({"provider_id": prov, "owner_id": ana});
        if let Some(c) = category {
            body["category"] = json!(c);
        }
        let p = open(&app, body).await;
        if category.is_none_or(|c| c.trim().is_empty()) {
            assert_eq!(p["category"], "support", "the default category");
        }
        cases.push((p["id"].as_i64().unwrap(), category, asks));
    }
    for (id, category, asks) in cases {
        close(&app, id, 200).await;
        let tasks = completion_tasks(&app, id).await;
        assert_eq!(tasks.len(), usize::from(asks), "{category:?}: {tasks:?}");
        if asks {
            let t = &tasks[0];
            assert_eq!(
                (
                    t["consultant_id"].as_i64(),
                    t["status"].as_str(),
                    t["source"].as_str(),
                    t["planned_minutes"].as_i64()
                ),
                (Some(ana), Some("planned"), Some("rule"), Some(15))
            );
        }
    }

    // Another desk's list.
    let app = TestApp::spawn_with(
        b,
        &[(
            "PROTOCALL__TRACKING__COMMUNICATE_COMPLETION_CATEGORIES",
            "[\"incident\", \"billing\"]",
        )],
    )
    .await;
    let ana = consultant(&app, "ana", "consultant").await;
    let prov = provider(&app).await;
    for (category, asks) in [("incident", true), ("billing", true), ("support", false)] {
        let id = open(
            &app,
            json!({"provider_id": prov, "owner_id": ana, "category": category}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        close(&app, id, 200).await;
        assert_eq!(
            completion_tasks(&app, id).await.len(),
            usize::from(asks),
            "{category}"
        );
    }
}

async fn rule_4_is_part_of_the_close_and_a_failed_task_keeps_the_protocol_open(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let prov = provider(&app).await;
    let id = open(
        &app,
        json!({"provider_id": prov, "owner_id": ana, "category": "support"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    // The task's category gone from the database: inserting the task
    // breaks its foreign key, for real, inside the close.
    exec(
        &app.db_url,
        &["DELETE FROM task_categories WHERE name = 'communicate-completion'"],
    )
    .await;
    let e = close(&app, id, 409).await;
    assert_eq!(e["error"]["code"], "invalid_reference", "{e}");
    let p = json(app.get(&format!("/api/protocols/{id}")).await, 200).await;
    assert_eq!(p["status"], "open", "the close was undone with the task");
    assert!(p["closed_at"].is_null());
    assert!(audit(&app, id).await.is_empty(), "nor audited");
    assert!(completion_tasks(&app, id).await.is_empty());
    // Routing still sees it open.
    assert_eq!(routed_protocol(&app, id).await, id);
    // Put back, the same close goes through whole.
    exec(
        &app.db_url,
        &["INSERT INTO task_categories (name) VALUES ('communicate-completion')"],
    )
    .await;
    let p = close(&app, id, 200).await;
    assert_eq!(p["status"], "closed");
    assert_eq!(completion_tasks(&app, id).await.len(), 1);
}

async fn rule_4_without_an_owner_goes_to_the_closer_or_refuses_the_close(b: Backend) {
    let app = TestApp::spawn(b).await;
    let gil = consultant(&app, "gil", "manager").await;
    let prov = provider(&app).await;
    let support = open(&app, json!({"provider_id": prov, "category": "support"})).await["id"]
        .as_i64()
        .unwrap();
    let incident = open(&app, json!({"provider_id": prov, "category": "incident"})).await["id"]
        .as_i64()
        .unwrap();
    // The test's admin token belongs to nobody: nobody to tell the client.
    let e = close(&app, support, 409).await;
    assert_eq!(e["error"]["code"], "owner_required");
    assert!(e["error"]["message"].as_str().unwrap().contains("assign"));
    let p = json(app.get(&format!("/api/protocols/{support}")).await, 200).await;
    assert_eq!(p["status"], "open");
    // Portuguese says so too.
    let pt = reqwest::Client::new()
        .post(app.url(&format!("/api/protocols/{support}/close")))
        .bearer_auth(&app.token)
        .header("accept-language", "pt-BR")
        .send()
        .await
        .unwrap();
    let pt = json(pt, 409).await;
    assert!(
        pt["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("O protocolo não tem responsável"),
        "{pt}"
    );
    // Rule 4 does not apply: the close needs nobody.
    close(&app, incident, 200).await;
    // A manager who is a consultant closes it and is asked to tell the
    // client.
    let t = json(
        app.post(
            "/api/tokens",
            json!({"name": "gil", "role": "manager", "consultant_id": gil}),
        )
        .await,
        201,
    )
    .await;
    let r = as_token(
        &app,
        t["token"].as_str().unwrap(),
        reqwest::Method::POST,
        &format!("/api/protocols/{support}/close"),
    )
    .await;
    let p = json(r, 200).await;
    assert!(p["owner_id"].is_null(), "the owner is not changed");
    let tasks = completion_tasks(&app, support).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["consultant_id"], gil);
}

async fn rule_4_asks_once_per_round_of_a_reopened_attendance(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let prov = provider(&app).await;
    let id = open(
        &app,
        json!({"provider_id": prov, "owner_id": ana, "category": "support"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    close(&app, id, 200).await;
    let t1 = completion_tasks(&app, id).await[0]["id"].as_i64().unwrap();
    // Reopened before Ana told the client: that task is called off...
    reopen(&app, id, 200).await;
    let tasks = completion_tasks(&app, id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["status"], "cancelled");
    let task_audit = json(app.get(&format!("/api/tasks/{t1}/audit")).await, 200).await;
    assert!(task_audit
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["field"] == "status"
            && e["old_value"] == "planned"
            && e["new_value"] == "cancelled"
            && e["actor"] == "token:test"));
    // ...and the next close asks once more: one pending task, not two.
    close(&app, id, 200).await;
    let tasks = completion_tasks(&app, id).await;
    let statuses: Vec<_> = tasks
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["cancelled", "planned"]);
    let t2 = tasks[1]["id"].as_i64().unwrap();
    // Ana tells the client; the protocol is reopened and closed again: a
    // new completion to tell, a new task; the done one stays as it was.
    json(
        app.patch(
            &format!("/api/tasks/{t2}"),
            json!({"status": "done", "started_at": "2026-12-01T10:00:00-03:00",
                   "ended_at": "2026-12-01T10:05:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    reopen(&app, id, 200).await;
    close(&app, id, 200).await;
    let statuses: Vec<_> = completion_tasks(&app, id)
        .await
        .iter()
        .map(|t| t["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["cancelled", "done", "planned"]);
    // A task already under way when the protocol is reopened is not
    // called off, and the next close asks for no second one.
    let running = json(
        app.post(
            "/api/tasks/start",
            json!({"consultant_id": ana, "category": "communicate-completion", "protocol_id": id}),
        )
        .await,
        201,
    )
    .await["started"]["id"]
        .as_i64()
        .unwrap();
    reopen(&app, id, 200).await;
    close(&app, id, 200).await;
    let tasks = completion_tasks(&app, id).await;
    let statuses: Vec<_> = tasks
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    assert_eq!(statuses[2].1, "cancelled", "the planned one, called off");
    assert_eq!(statuses[3], (running, "running"));
}

/// Who moved a protocol to whom is in its audit trail, like every other
/// change; an unknown consultant moves nothing.
async fn assigning_an_owner_is_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = consultant(&app, "ana", "consultant").await;
    let bia = consultant(&app, "bia", "consultant").await;
    let prov = provider(&app).await;
    let p = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": prov, "owner_id": ana, "subject": "OLT"}),
        )
        .await,
        201,
    )
    .await;
    let id = p["id"].as_i64().unwrap();
    let moved = json(
        app.post(
            &format!("/api/protocols/{id}/assign"),
            json!({"owner_id": bia}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["owner_id"], bia);
    json(
        app.post(
            &format!("/api/protocols/{id}/assign"),
            json!({"owner_id": 999_999}),
        )
        .await,
        409,
    )
    .await;
    let trail = audit(&app, id).await;
    let owners: Vec<_> = trail
        .iter()
        .filter(|e| e["field"] == "owner_id")
        .map(|e| {
            (
                e["old_value"].clone(),
                e["new_value"].clone(),
                e["actor"].clone(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        vec![(
            json!(ana.to_string()),
            json!(bia.to_string()),
            json!("token:test")
        )],
        "{trail:?}"
    );
    assert_eq!(
        json(app.get(&format!("/api/protocols/{id}")).await, 200).await["owner_id"],
        bia
    );
}
