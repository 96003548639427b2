//! The admin API end to end: the real app on a random port, over HTTP,
//! against SQLite and PostgreSQL.

use crate::support;

use serde_json::json;
use support::{json, Backend, TestApp};

on_every_backend!(
    readme_flow_finds_provider_by_any_spelling,
    api_requires_a_valid_token_and_probes_are_open,
    bad_input_is_refused_and_writes_nothing,
    duplicates_are_conflicts,
    consultants_store_ha1_and_never_return_secrets,
    protocol_lifecycle_and_lookup,
    lists_filter_and_paginate,
    provider_users_and_their_numbers,
    import_is_all_or_nothing,
    openapi_describes_every_endpoint,
    migrations_are_idempotent,
    snapshot_classifies_callers_like_lookup,
    call_log_and_callbacks_round_trip,
);

async fn readme_flow_finds_provider_by_any_spelling(b: Backend) {
    let app = TestApp::spawn(b).await;
    let p = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(p["name"], "NetSul");
    for spelling in [
        "011987654321",
        "0 21 11 98765-4321",
        "+55 11 98765-4321",
        "(11) 98765-4321",
    ] {
        let l = json(
            app.get(&format!("/api/lookup?number={}", urlencode(spelling)))
                .await,
            200,
        )
        .await;
        assert_eq!(l["e164"], "+5511987654321", "{spelling}");
        assert_eq!(l["provider"]["id"], p["id"]);
        assert_eq!(l["consulting_active"], true);
    }
    // Shown in the configured zone (America/Sao_Paulo), to the millisecond.
    let created = p["created_at"].as_str().unwrap();
    assert!(created.ends_with("-03:00"), "{created}");
    assert_eq!(created.split('.').nth(1).unwrap().len(), "123-03:00".len());

    let missing = json(app.get("/api/lookup?number=(21)%203456-7890").await, 404).await;
    assert_eq!(missing["error"]["code"], "not_found");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn api_requires_a_valid_token_and_probes_are_open(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = &app.client;
    let r = c.get(app.url("/api/providers")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let r = c
        .get(app.url("/api/providers"))
        .bearer_auth("pc_not-a-real-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c.get(app.url("/api/no-such-thing")).send().await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "unknown /api paths must not leak before auth"
    );
    assert_eq!(
        c.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(app.get("/api/providers").await.status(), 200);
    let metrics = c
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "protocall_http_requests_total{method=\"GET\",route=\"/api/providers\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("protocall_process_resident_memory_bytes"));
    assert!(!metrics.contains(&app.token));
}

async fn bad_input_is_refused_and_writes_nothing(b: Backend) {
    let app = TestApp::spawn_with(b, &[("PROTOCALL__HTTP__MAX_BODY_BYTES", "4096")]).await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{\"name\":".to_vec(), 400, "malformed_json"),
        (br#"{"name": 5}"#.to_vec(), 422, "invalid_body"),
        (br#"{"consulting": true}"#.to_vec(), 422, "invalid_body"),
        (br#"{"name": "A", "colour": "red"}"#.to_vec(), 422, "invalid_body"),
        (br#"{"name": "   "}"#.to_vec(), 400, "invalid_field"),
        (br#"{"name": "A", "tax_id": "11.222.333/0001-82"}"#.to_vec(), 400, "invalid_field"),
        (br#"{"name": "A", "numbers": ["12"]}"#.to_vec(), 400, "invalid_field"),
        // Each date is valid; together they contradict each other.
        (
            br#"{"name": "A", "contract_valid_from": "2026-02-01", "contract_valid_until": "2026-01-01"}"#.to_vec(),
            409,
            "contradiction",
        ),
        (
            format!(r#"{{"name": "{}"}}"#, "x".repeat(8000)).into_bytes(),
            413,
            "body_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let r = json(
            app.post_raw("/api/providers", "application/json", body.clone())
                .await,
            status,
        )
        .await;
        assert_eq!(
            r["error"]["code"],
            code,
            "{}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert!(!r["error"]["message"].as_str().unwrap().is_empty());
    }
    let r = json(
        app.post("/api/providers", json!({"name": "A", "numbers": ["12"]}))
            .await,
        400,
    )
    .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("numbers[0]"),
        "{r}"
    );
    let r = json(
        app.post_raw("/api/providers", "text/plain", b"{}".to_vec())
            .await,
        415,
    )
    .await;
    assert_eq!(r["error"]["code"], "unsupported_media_type");
    // A path id that is no integer names nothing (as /api/calls/nope).
    let r = json(app.get("/api/providers/abc").await, 404).await;
    assert_eq!(r["error"]["code"], "not_found");
    let r = json(app.get("/api/providers?limit=lots").await, 400).await;
    assert_eq!(r["error"]["code"], "invalid_query");
    let list = json(app.get("/api/providers").await, 200).await;
    assert_eq!(
        list["total"], 0,
        "nothing may be written by refused requests"
    );
}

async fn duplicates_are_conflicts(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = json(
        app.post(
            "/api/providers",
            json!({"name": "A", "tax_id": "11222333000181", "numbers": ["+55 11 98765-4321"]}),
        )
        .await,
        201,
    )
    .await;
    let r = json(
        app.post(
            "/api/providers",
            json!({"name": "B", "tax_id": "11.222.333/0001-81"}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(r["error"]["code"], "conflict");
    let bp = json(app.post("/api/providers", json!({"name": "B"})).await, 201).await;
    let r = json(
        app.post(
            &format!("/api/providers/{}/numbers", bp["id"]),
            json!({"number": "(11) 98765-4321"}),
        )
        .await,
        409,
    )
    .await;
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("+5511987654321"));
    // A failed create with a duplicate number leaves no half-made provider.
    json(
        app.post(
            "/api/providers",
            json!({"name": "C", "numbers": ["011987654321"]}),
        )
        .await,
        409,
    )
    .await;
    let list = json(app.get("/api/providers?name=c").await, 200).await;
    assert_eq!(list["total"], 0);
    let nums = json(
        app.get(&format!("/api/providers/{}/numbers", a["id"]))
            .await,
        200,
    )
    .await;
    assert_eq!(nums.as_array().unwrap().len(), 1);
}

async fn consultants_store_ha1_and_never_return_secrets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = json(
        app.post(
            "/api/consultants",
            json!({"name": "Ana Silva", "sip_username": "ana", "password": "correct horse", "email": "ana@example.com"}),
        )
        .await,
        201,
    )
    .await;
    let text = c.to_string();
    assert!(
        !text.contains("correct horse") && !text.contains("ha1"),
        "{text}"
    );
    assert_eq!(c["weekly_capacity_hours"], 40.0);
    assert_eq!(c["active"], true);
    let creds = app.store.sip_credentials("ana").await.unwrap().unwrap();
    // RFC 2617 HA1 = MD5("ana:protocall:correct horse"), computed independently.
    assert_eq!(creds.ha1_md5, md5_hex("ana:protocall:correct horse"));
    assert_eq!(creds.ha1_sha256.len(), 64);
    let listed = json(app.get("/api/consultants").await, 200)
        .await
        .to_string();
    assert!(!listed.contains("ha1") && !listed.contains("password"));

    json(
        app.post(
            "/api/consultants",
            json!({"name": "Other", "sip_username": "ana", "password": "12345678"}),
        )
        .await,
        409,
    )
    .await;
    let r = json(
        app.post(
            "/api/consultants",
            json!({"name": "Bob", "sip_username": "bob", "password": "short"}),
        )
        .await,
        400,
    )
    .await;
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("password"));
    let r = json(
        app.post(
            "/api/consultants",
            json!({"name": "Bob", "sip_username": "bob smith", "password": "12345678"}),
        )
        .await,
        400,
    )
    .await;
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("sip_username"));

    let id = c["id"].as_i64().unwrap();
    let u = json(
        app.patch(
            &format!("/api/consultants/{id}"),
            json!({"password": "a new password", "active": false, "weekly_capacity_hours": 30}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(u["active"], false);
    assert_eq!(u["weekly_capacity_hours"], 30.0);
    let creds = app.store.sip_credentials("ana").await.unwrap().unwrap();
    assert_eq!(creds.ha1_md5, md5_hex("ana:protocall:a new password"));
    assert!(!creds.active);
    let active = json(app.get("/api/consultants?active=true").await, 200).await;
    assert_eq!(active["total"], 0);
}

fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(s.as_bytes()))
}

async fn protocol_lifecycle_and_lookup(b: Backend) {
    let app = TestApp::spawn(b).await;
    let p = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "contract_valid_from": "2020-01-01", "numbers": ["(11) 3456-7890"]}),
        )
        .await,
        201,
    )
    .await;
    let pid = p["id"].as_i64().unwrap();
    let ana = json(
        app.post(
            "/api/consultants",
            json!({"name": "Ana", "sip_username": "ana", "password": "12345678"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let bia = json(
        app.post(
            "/api/consultants",
            json!({"name": "Bia", "sip_username": "bia", "password": "12345678"}),
        )
        .await,
        201,
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let late = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": pid, "owner_id": ana, "subject": "late", "due_at": "2026-12-10T18:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(late["status"], "open");
    assert!(late["number"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{:06}", late["id"].as_i64().unwrap())));
    let soon = json(
        app.post(
            "/api/protocols",
            json!({"number": "ATD-7", "provider_id": pid, "owner_id": bia, "subject": "soon", "due_at": "2026-12-01T09:00:00Z"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(soon["due_at"], "2026-12-01T06:00:00-03:00");
    json(
        app.post(
            "/api/protocols",
            json!({"number": "ATD-7", "provider_id": pid}),
        )
        .await,
        409,
    )
    .await;
    // Well-formed, but naming no stored provider: a conflict with what
    // is stored, not a body the document refuses.
    json(
        app.post("/api/protocols", json!({"provider_id": 999}))
            .await,
        409,
    )
    .await;

    let l = json(app.get("/api/lookup?number=1134567890").await, 200).await;
    let numbers: Vec<_> = l["open_protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(numbers[0], "ATD-7", "nearest deadline first: {numbers:?}");
    assert_eq!(numbers.len(), 2);

    let by_owner = json(
        app.get(&format!("/api/protocols?owner_id={ana}&status=open"))
            .await,
        200,
    )
    .await;
    assert_eq!(by_owner["total"], 1);
    let sid = soon["id"].as_i64().unwrap();
    let moved = json(
        app.post(
            &format!("/api/protocols/{sid}/assign"),
            json!({"owner_id": ana}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["owner_id"], ana);
    json(
        app.post(
            &format!("/api/protocols/{sid}/assign"),
            json!({"owner_id": 4242}),
        )
        .await,
        409,
    )
    .await;
    let closed = json(
        app.post(&format!("/api/protocols/{sid}/close"), json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert!(closed["closed_at"].is_string());
    json(
        app.post(&format!("/api/protocols/{sid}/close"), json!({}))
            .await,
        409,
    )
    .await;
    let l = json(app.get("/api/lookup?number=%2B551134567890").await, 200).await;
    assert_eq!(l["open_protocols"].as_array().unwrap().len(), 1);
    let open = json(
        app.get(&format!("/api/protocols?owner_id={ana}&status=open"))
            .await,
        200,
    )
    .await;
    assert_eq!(open["total"], 1);
    let closed_list = json(app.get("/api/protocols?status=closed").await, 200).await;
    assert_eq!(closed_list["total"], 1);
    // The desk's history keeps the provider alive.
    json(app.delete(&format!("/api/providers/{pid}")).await, 409).await;
}

async fn lists_filter_and_paginate(b: Backend) {
    let app = TestApp::spawn(b).await;
    for i in 0..5 {
        json(
            app.post(
                "/api/providers",
                json!({"name": format!("Provider {i}"), "consulting": i % 2 == 0,
                       "numbers": [format!("(11) 3456-789{i}")]}),
            )
            .await,
            201,
        )
        .await;
    }
    let page = json(app.get("/api/providers?limit=2&offset=2").await, 200).await;
    assert_eq!(page["total"], 5);
    assert_eq!(page["limit"], 2);
    let names: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Provider 2", "Provider 3"]);
    let c = json(app.get("/api/providers?consulting=true").await, 200).await;
    assert_eq!(c["total"], 3);
    let n = json(app.get("/api/providers?number=011%203456-7893").await, 200).await;
    assert_eq!(n["total"], 1);
    assert_eq!(n["items"][0]["name"], "Provider 3");
    let big = json(app.get("/api/providers?limit=100000").await, 200).await;
    assert_eq!(big["limit"], 500);
}

async fn provider_users_and_their_numbers(b: Backend) {
    let app = TestApp::spawn(b).await;
    let p = json(
        app.post("/api/providers", json!({"name": "NetSul"})).await,
        201,
    )
    .await;
    let pid = p["id"].as_i64().unwrap();
    let u = json(
        app.post(
            &format!("/api/providers/{pid}/users"),
            json!({"name": "Carlos", "email": "carlos@netsul.com.br", "numbers": ["(51) 99876-5432"]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(u["numbers"][0], "+5551998765432");
    let l = json(app.get("/api/lookup?number=051998765432").await, 200).await;
    assert_eq!(l["user"]["name"], "Carlos");
    assert_eq!(l["consulting_active"], false);
    let uid = u["id"].as_i64().unwrap();
    json(
        app.post(
            &format!("/api/providers/{pid}/users"),
            json!({"name": "Carlos"}),
        )
        .await,
        409,
    )
    .await;
    json(
        app.post(
            &format!("/api/providers/{pid}/users"),
            json!({"name": "X", "email": "nope"}),
        )
        .await,
        400,
    )
    .await;
    let u2 = json(
        app.patch(&format!("/api/users/{uid}"), json!({"email": null}))
            .await,
        200,
    )
    .await;
    assert!(u2["email"].is_null());
    let other = json(
        app.post("/api/providers", json!({"name": "Other"})).await,
        201,
    )
    .await;
    json(
        app.post(
            &format!("/api/providers/{}/numbers", other["id"]),
            json!({"number": "(51) 3333-4444", "user_id": uid}),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(app.delete(&format!("/api/users/{uid}")).await.status(), 204);
    json(app.get("/api/lookup?number=051998765432").await, 404).await;
    json(app.get(&format!("/api/users/{uid}")).await, 404).await;
}

async fn import_is_all_or_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let bad = "provider,tax_id,consulting,number,user\n\
               NetSul,11.222.333/0001-81,sim,(11) 98765-4321,Ana\n\
               ,,,,\n\
               Fibra,,talvez,(21) 3456-7890,\n";
    let r = json(
        app.post_raw("/api/import", "text/csv", bad.into()).await,
        422,
    )
    .await;
    assert_eq!(r["imported"], false);
    let lines: Vec<_> = r["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);
    assert_eq!(json(app.get("/api/providers").await, 200).await["total"], 0);

    let good = "provider,tax_id,consulting,contract_valid_from,number,label,user,user_email\n\
                NetSul,11.222.333/0001-81,sim,2020-01-01,(11) 98765-4321,main,,\n\
                NetSul,11.222.333/0001-81,sim,2020-01-01,(11) 91234-5678,,Ana,ana@netsul.com.br\n\
                Fibra,,não,,(21) 3456-7890,,,\n";
    let r = json(
        app.post_raw("/api/import", "text/csv", good.into()).await,
        200,
    )
    .await;
    assert_eq!(r["imported"], true);
    assert_eq!(r["providers_created"], 2);
    assert_eq!(r["numbers_added"], 3);
    assert_eq!(r["users_created"], 1);
    let l = json(app.get("/api/lookup?number=011912345678").await, 200).await;
    assert_eq!(l["user"]["name"], "Ana");
    assert_eq!(l["consulting_active"], true);
    // Importing the same file again changes nothing and duplicates nothing.
    let r = json(
        app.post_raw("/api/import", "text/csv", good.into()).await,
        200,
    )
    .await;
    assert_eq!(r["providers_created"], 0);
    assert_eq!(r["numbers_unchanged"], 3);
    assert_eq!(json(app.get("/api/providers").await, 200).await["total"], 2);

    // A number owned by another provider fails at the database; the rows
    // before it in the same file are rolled back.
    let clash = "provider,number\nNova,(31) 3333-2222\nNova2,(21) 3456-7890\n";
    let r = json(
        app.post_raw("/api/import", "text/csv", clash.into()).await,
        422,
    )
    .await;
    assert_eq!(r["rejected"][0]["line"], 3);
    let n = json(app.get("/api/providers?name=nova").await, 200).await;
    assert_eq!(n["total"], 0, "rolled back");
}

async fn openapi_describes_every_endpoint(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = json(app.get("/api/openapi.json").await, 200).await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/providers",
        "/api/providers/{id}",
        "/api/providers/{id}/numbers",
        "/api/numbers/{id}",
        "/api/providers/{id}/users",
        "/api/users/{id}",
        "/api/consultants",
        "/api/consultants/{id}",
        "/api/protocols",
        "/api/protocols/{id}",
        "/api/protocols/{id}/assign",
        "/api/protocols/{id}/close",
        "/api/lookup",
        "/api/import",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn migrations_are_idempotent(b: Backend) {
    let app = TestApp::spawn(b).await;
    let store = protocall::store::Store::connect(&app.db_url, 2, chrono_tz::UTC)
        .await
        .unwrap();
    assert!(store.migrate().await.unwrap().is_empty());
    assert!(store.migrate().await.unwrap().is_empty());
}

async fn snapshot_classifies_callers_like_lookup(b: Backend) {
    use protocall::routing::caller::{identify, CallerClass};
    let app = TestApp::spawn(b).await;
    let p = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await;
    json(
        app.post(
            "/api/providers",
            json!({"name": "Fibra", "numbers": ["(21) 3456-7890"]}),
        )
        .await,
        201,
    )
    .await;
    let ana = json(
        app.post(
            "/api/consultants",
            json!({"name": "Ana", "sip_username": "ana", "password": "12345678"}),
        )
        .await,
        201,
    )
    .await;
    let proto = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": p["id"], "owner_id": ana["id"], "due_at": "2026-12-01T10:00:00Z"}),
        )
        .await,
        201,
    )
    .await;
    let snap = app.store.load_snapshot().await.unwrap();
    let today = chrono::Utc::now().date_naive();
    let br = phonenumber::country::Id::BR;
    let c = identify(&snap, Some("011 8765-4321"), br, today);
    assert_eq!(c.class, CallerClass::Consulting);
    assert_eq!(c.protocol_id, proto["id"].as_i64());
    assert_eq!(c.owner_id, ana["id"].as_i64());
    assert_eq!(
        identify(&snap, Some("2134567890"), br, today).class,
        CallerClass::NotConsulting
    );
    assert_eq!(
        identify(&snap, Some("3133332222"), br, today).class,
        CallerClass::Unknown
    );
    assert_eq!(snap.consultants.len(), 1);
}

/// The call log's store path on both backends: a row written at the
/// answer and completed at the end stays one row; call-backs are
/// idempotent by Call-ID; filters and bad filter values.
async fn call_log_and_callbacks_round_trip(b: Backend) {
    use protocall::store::{CallRow, NewCallback};
    let app = TestApp::spawn(b).await;
    let ana = json(
        app.post(
            "/api/consultants",
            json!({"name": "Ana", "sip_username": "ana", "password": "correct horse"}),
        )
        .await,
        201,
    )
    .await;
    let ana_id = ana["id"].as_i64().unwrap();
    let mut row = CallRow {
        call_id: "abc@host".into(),
        from_tag: "f1".into(),
        direction: "inbound".into(),
        from_uri: "sip:11987654321@carrier".into(),
        to_uri: "sip:4000@desk".into(),
        caller_number: Some("+5511987654321".into()),
        caller_class: "consulting".into(),
        provider_id: Some(7),
        provider_user_id: None,
        protocol_id: Some(70),
        consultant_id: Some(ana_id),
        consultant: Some("ana".into()),
        rule: "consulting-with-protocol".into(),
        route: "owner".into(),
        outcome: Some("answered".into()),
        final_code: Some(200),
        started_at_ms: 1_764_000_000_000,
        ringing_at_ms: Some(1_764_000_000_100),
        answered_at_ms: Some(1_764_000_002_500),
        ended_at_ms: None,
        ended_by: None,
        detail: r#"{"steps":[],"attempts":[],"reject":null}"#.into(),
    };
    app.store.save_call(&row).await.unwrap();
    row.ended_at_ms = Some(1_764_000_062_500);
    row.ended_by = Some("callee".into());
    app.store.save_call(&row).await.unwrap();
    let page = json(app.get("/api/calls").await, 200).await;
    assert_eq!(page["total"], 1, "one row per call");
    let id = page["items"][0]["id"].as_i64().unwrap();
    for key in [id.to_string(), "abc@host".to_string()] {
        let c = json(app.get(&format!("/api/calls/{key}")).await, 200).await;
        assert_eq!(c["call_id"], "abc@host");
        assert_eq!(c["wait_ms"], 2_500);
        assert_eq!(c["talk_ms"], 60_000);
        assert_eq!(c["ended_by"], "callee");
        assert_eq!(c["started_at"], "2025-11-24T13:00:00-03:00");
    }
    json(app.get("/api/calls/nope").await, 404).await;
    let f = json(app.get(&format!("/api/calls?consultant_id={ana_id}&route=owner&from=2025-11-24T00:00:00Z&to=2025-11-25T00:00:00Z")).await, 200).await;
    assert_eq!(f["total"], 1);
    let f = json(app.get("/api/calls?direction=outbound").await, 200).await;
    assert_eq!(f["total"], 0);
    let bad = json(app.get("/api/calls?outcome=great").await, 400).await;
    assert_eq!(bad["error"]["code"], "invalid_field", "{bad}");

    let cb = NewCallback {
        call_id: "abc@host".into(),
        from_tag: "f1".into(),
        consultant_id: ana_id,
        // Its scheduled contact refers to the directory: no made-up ids.
        provider_id: None,
        protocol_id: None,
        caller_number: Some("+5511987654321".into()),
        reason: "busy".into(),
        created_at_ms: 1_764_000_010_000,
        due_at_ms: 1_764_000_600_000,
    };
    assert!(app.store.create_callback(&cb).await.unwrap());
    assert!(
        !app.store.create_callback(&cb).await.unwrap(),
        "replay ignored"
    );
    let list = json(
        app.get(&format!(
            "/api/callbacks?consultant_id={ana_id}&status=pending"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(list["total"], 1);
    let cid = list["items"][0]["id"].as_i64().unwrap();
    let set = |body: serde_json::Value| {
        app.client
            .put(app.url(&format!("/api/callbacks/{cid}/status")))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    json(set(json!({"status": "lost"})).await.unwrap(), 400).await;
    // Done needs the conversation's real times (rule 3).
    json(set(json!({"status": "done"})).await.unwrap(), 400).await;
    let done = json(
        set(
            json!({"status": "done", "started_at": "2025-11-24T13:05:00Z",
                   "ended_at": "2025-11-24T13:09:00Z"}),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    assert_eq!(done["status"], "done");
    assert_eq!(done["closed_at"], "2025-11-24T10:05:00-03:00");
    let missing = app
        .client
        .put(app.url("/api/callbacks/999999/status"))
        .bearer_auth(&app.token)
        .json(&json!({"status": "cancelled"}))
        .send()
        .await
        .unwrap();
    json(missing, 404).await;
    // A call-back for a consultant who does not exist is refused.
    let orphan = NewCallback {
        call_id: "zzz".into(),
        consultant_id: 999_999,
        ..cb
    };
    assert!(app.store.create_callback(&orphan).await.is_err());
}
