//! The OpenAPI document against the daemon's answers, for each class of
//! disagreement Schemathesis found (tests/contract/run.sh): every request
//! here gets the status the handlers give it, and that status is one the
//! served document declares for the operation, so a client generated from
//! the document knows every answer it can get.

use crate::support;

use serde_json::{json, Value};
use support::{Backend, TestApp};

on_every_backend!(
    integers_in_any_json_spelling,
    fractions_and_arrays_are_refused_as_declared,
    references_to_nothing_are_conflicts,
    words_outside_their_set_are_refused_and_listed,
    a_token_without_a_consultant_has_no_timer,
    malformed_paths_answer_json,
    contradictions_and_pairs,
    weeks_and_formats,
    a_value_the_database_refuses_is_no_5xx,
);

/// The served document.
async fn document(app: &TestApp) -> Value {
    app.get("/api/openapi.json").await.json().await.unwrap()
}

/// Sends `method path` with `body` under the test's admin token and
/// returns the status and the JSON body (null when it is not JSON).
async fn send(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut r = app.client.request(m, app.url(path)).bearer_auth(&app.token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let text = resp.text().await.unwrap();
    let v = if json {
        serde_json::from_str(&text).unwrap()
    } else {
        Value::Null
    };
    (status, v)
}

/// Asserts that `method template` answered `want` and that the document
/// declares `want` for it, with a JSON body.
fn answered(doc: &Value, method: &str, template: &str, got: (u16, Value), want: u16) -> Value {
    let (status, body) = got;
    assert_eq!(status, want, "{method} {template}: {body}");
    let op = &doc["paths"][template][method.to_lowercase()];
    assert!(op.is_object(), "{method} {template} is not in the document");
    let declared = &op["responses"][want.to_string()];
    assert!(
        declared.is_object(),
        "{method} {template} answers {want}, which the document does not declare"
    );
    if want >= 400 {
        assert!(
            body["error"]["code"].is_string(),
            "{method} {template}: {want} without the error body: {body}"
        );
    }
    body
}

async fn consultant(app: &TestApp, user: &str) -> i64 {
    let (s, c) = send(
        app,
        "POST",
        "/api/consultants",
        Some(json!({"name": user, "sip_username": user, "password": "correct horse"})),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    c["id"].as_i64().unwrap()
}

async fn provider(app: &TestApp, name: &str) -> i64 {
    let (s, p) = send(app, "POST", "/api/providers", Some(json!({"name": name}))).await;
    assert_eq!(s, 201, "{p}");
    p["id"].as_i64().unwrap()
}

/// JSON Schema reads `2.0` as the integer 2 (Schemathesis sends such
/// spellings), and so do bodies, queries and paths.
async fn integers_in_any_json_spelling(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let ana = consultant(&app, "ana").await;
    let p = provider(&app, "NetSul").await;
    let (s, proto) = send(
        &app,
        "POST",
        "/api/protocols",
        Some(json!({"provider_id": p as f64, "subject": "float ids"})),
    )
    .await;
    assert_eq!(s, 201, "{proto}");
    let id = proto["id"].as_i64().unwrap();
    let assigned = answered(
        &doc,
        "POST",
        "/api/protocols/{id}/assign",
        send(
            &app,
            "POST",
            &format!("/api/protocols/{id}.0/assign"),
            Some(json!({"owner_id": ana as f64})),
        )
        .await,
        200,
    );
    assert_eq!(assigned["owner_id"], ana);
    let page = answered(
        &doc,
        "GET",
        "/api/protocols",
        send(
            &app,
            "GET",
            &format!("/api/protocols?owner_id={ana}.0&limit=1e1"),
            None,
        )
        .await,
        200,
    );
    assert_eq!(page["limit"], 10);
    assert_eq!(page["items"][0]["id"], id);
}

async fn fractions_and_arrays_are_refused_as_declared(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let p = provider(&app, "NetSul").await;
    answered(
        &doc,
        "POST",
        "/api/protocols",
        send(
            &app,
            "POST",
            "/api/protocols",
            Some(json!({"provider_id": 1.5})),
        )
        .await,
        422,
    );
    // Past 2^53 a float spells no one integer.
    answered(
        &doc,
        "POST",
        "/api/protocols",
        send(
            &app,
            "POST",
            "/api/protocols",
            Some(serde_json::from_str("{\"provider_id\": -9223372036854775809}").unwrap()),
        )
        .await,
        422,
    );
    // serde would fill the struct by position; the document says object.
    answered(
        &doc,
        "POST",
        "/api/routing/simulate",
        send(
            &app,
            "POST",
            "/api/routing/simulate",
            Some(json!([null, null])),
        )
        .await,
        422,
    );
    answered(
        &doc,
        "PATCH",
        "/api/providers/{id}",
        send(
            &app,
            "PATCH",
            &format!("/api/providers/{p}"),
            Some(json!([null, null, null])),
        )
        .await,
        422,
    );
    answered(
        &doc,
        "GET",
        "/api/calls",
        send(&app, "GET", "/api/calls?limit=2.5", None).await,
        400,
    );
}

/// A well-formed id that names nothing stored: valid by the document, so
/// not a 422, but at odds with what is stored.
async fn references_to_nothing_are_conflicts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let body = answered(
        &doc,
        "POST",
        "/api/absences",
        send(
            &app,
            "POST",
            "/api/absences",
            Some(json!({"consultant_id": 999_999, "first_day": "2026-12-07", "last_day": "2026-12-08"})),
        )
        .await,
        409,
    );
    assert_eq!(body["error"]["code"], "invalid_reference");
    answered(
        &doc,
        "POST",
        "/api/protocols",
        send(
            &app,
            "POST",
            "/api/protocols",
            Some(json!({"provider_id": 999_999})),
        )
        .await,
        409,
    );
    let ana = consultant(&app, "ana").await;
    let body = answered(
        &doc,
        "POST",
        "/api/tasks/start",
        send(
            &app,
            "POST",
            "/api/tasks/start",
            Some(json!({"consultant_id": ana, "category": "no-such-category"})),
        )
        .await,
        409,
    );
    assert_eq!(body["error"]["code"], "invalid_reference");
}

async fn words_outside_their_set_are_refused_and_listed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let params = doc["paths"]["/api/calls"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let direction = params.iter().find(|p| p["name"] == "direction").unwrap();
    assert_eq!(
        direction["schema"]["enum"],
        json!(["inbound", "outbound", "internal"])
    );
    assert_eq!(direction["required"], false);
    for (template, query) in [
        ("/api/calls", "direction=sideways"),
        ("/api/callbacks", "status="),
        ("/api/contacts", "channel=fax"),
        ("/api/tasks", "source=magic"),
        ("/api/reports/weekly", "format=pdf"),
    ] {
        let body = answered(
            &doc,
            "GET",
            template,
            send(&app, "GET", &format!("{template}?{query}"), None).await,
            400,
        );
        assert_eq!(body["error"]["code"], "invalid_field", "{template}");
    }
}

/// `consultant_id` absent or null means "mine"; a token that belongs to
/// no consultant has no timer of its own.
async fn a_token_without_a_consultant_has_no_timer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let schema = &doc["components"]["schemas"]["StopBody"]["properties"]["consultant_id"];
    assert_eq!(schema["type"], json!(["integer", "null"]));
    for (template, body) in [
        ("/api/tasks/stop", json!({})),
        ("/api/tasks/stop", json!({"consultant_id": null})),
        ("/api/contacts/stop", json!({"consultant_id": null})),
    ] {
        let e = answered(
            &doc,
            "POST",
            template,
            send(&app, "POST", template, Some(body)).await,
            403,
        );
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("consultant_id"),
            "{e}"
        );
    }
}

/// Every refusal is JSON, paths included, and an id that is no integer
/// names nothing.
async fn malformed_paths_answer_json(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    answered(
        &doc,
        "PUT",
        "/api/workplans/{consultant_id}/{week}",
        send(
            &app,
            "PUT",
            "/api/workplans/9223372036854775808/2026-W01",
            Some(json!({"items": []})),
        )
        .await,
        400,
    );
    answered(
        &doc,
        "GET",
        "/api/providers/{id}",
        send(&app, "GET", "/api/providers/None", None).await,
        404,
    );
    answered(
        &doc,
        "DELETE",
        "/api/bans/{ip}",
        send(&app, "DELETE", "/api/bans/not-an-address", None).await,
        400,
    );
}

async fn contradictions_and_pairs(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let ana = consultant(&app, "ana").await;
    let e = answered(
        &doc,
        "POST",
        "/api/absences",
        send(
            &app,
            "POST",
            "/api/absences",
            Some(
                json!({"consultant_id": ana, "first_day": "2026-12-08", "last_day": "2026-12-07"}),
            ),
        )
        .await,
        409,
    );
    assert_eq!(e["error"]["code"], "contradiction");
    // The pairs JSON Schema can state are in the document, and refused as
    // breaking it.
    let token = &doc["components"]["schemas"]["NewTokenBody"];
    assert!(token["allOf"][1]["anyOf"].is_array(), "{token}");
    answered(
        &doc,
        "POST",
        "/api/tokens",
        send(
            &app,
            "POST",
            "/api/tokens",
            Some(json!({"name": "bot", "role": "manager"})),
        )
        .await,
        400,
    );
    let contact = &doc["components"]["schemas"]["NewContactBody"];
    assert!(contact["allOf"][1]["anyOf"].is_array(), "{contact}");
    answered(
        &doc,
        "POST",
        "/api/contacts",
        send(
            &app,
            "POST",
            "/api/contacts",
            Some(json!({"channel": "chat", "consultant_id": ana, "ended_at": "2026-12-07T10:00:00Z"})),
        )
        .await,
        400,
    );
    // A start without an end is what a running task has; a patch cannot
    // make a planned one so (the store would refuse it).
    let (st, task) = send(
        &app,
        "POST",
        "/api/tasks",
        Some(json!({"consultant_id": ana, "category": "gin", "planned_minutes": 30})),
    )
    .await;
    assert_eq!(st, 201, "{task}");
    answered(
        &doc,
        "PATCH",
        "/api/tasks/{id}",
        send(
            &app,
            "PATCH",
            &format!("/api/tasks/{}", task["id"]),
            Some(json!({"status": "planned", "started_at": "2026-12-07T10:00:00Z"})),
        )
        .await,
        409,
    );
    // A past expiry is valid by the document, but not by the clock.
    answered(
        &doc,
        "POST",
        "/api/tokens",
        send(
            &app,
            "POST",
            "/api/tokens",
            Some(json!({"name": "late", "role": "admin", "expires_at": "2000-01-01T00:00:00Z"})),
        )
        .await,
        409,
    );
}

async fn weeks_and_formats(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let params = doc["paths"]["/api/workplans"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let week = params.iter().find(|p| p["name"] == "week").unwrap();
    assert_eq!(week["required"], true);
    assert_eq!(week["schema"]["format"], "iso-week");
    answered(
        &doc,
        "GET",
        "/api/workplans",
        send(&app, "GET", "/api/workplans?week=1899-W10", None).await,
        400,
    );
    // 2026 has 53 weeks, 2027 52.
    answered(
        &doc,
        "GET",
        "/api/workplans",
        send(&app, "GET", "/api/workplans?week=2026-W53", None).await,
        200,
    );
    answered(
        &doc,
        "GET",
        "/api/workplans",
        send(&app, "GET", "/api/workplans?week=2027-W53", None).await,
        400,
    );
    answered(
        &doc,
        "GET",
        "/api/lookup",
        send(&app, "GET", "/api/lookup?number=0", None).await,
        400,
    );
    let csv = app
        .client
        .get(app.url("/api/reports/weekly?format=csv&week=1900-W01"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let ctype = csv.headers()["content-type"].to_str().unwrap().to_string();
    let declared = &doc["paths"]["/api/reports/weekly"]["get"]["responses"]["200"]["content"];
    assert!(
        declared["text/csv"].is_object(),
        "{ctype} not declared: {declared}"
    );
}

/// PostgreSQL holds no NUL byte in text (SQLite does): a refusal the
/// request earned, declared, never the 503 of an unavailable database.
async fn a_value_the_database_refuses_is_no_5xx(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = document(&app).await;
    let p = provider(&app, "NetSul").await;
    let got = send(
        &app,
        "POST",
        "/api/protocols",
        Some(json!({"provider_id": p, "subject": "a\u{0}b"})),
    )
    .await;
    let want = if got.0 == 201 { 201 } else { 400 };
    answered(&doc, "POST", "/api/protocols", got, want);
}
