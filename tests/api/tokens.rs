//! Tokens and what they carry, through the API on SQLite and PostgreSQL:
//! create, list (never a secret), revoke, expire; owners and their roles;
//! feed tokens that open one calendar and nothing else; and an audit trail
//! that names the person behind a token. Also the upgrade: tokens made
//! before roles existed keep working, as ownerless admin tokens.

use crate::support;

use serde_json::{json, Value};
use support::{json, Backend, TestApp};

on_every_backend!(
    admin_lists_creates_and_revokes_tokens,
    tokens_expire_and_follow_their_owner,
    feed_token_opens_only_its_own_feed,
    audit_names_the_person_not_the_token,
    consultants_act_only_for_themselves,
    tokens_from_before_roles_stay_admin,
);

async fn person(app: &TestApp, user: &str, role: &str) -> i64 {
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

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app.client.request(method, app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    call(app, reqwest::Method::GET, Some(token), path, None).await
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    call(app, reqwest::Method::POST, Some(token), path, Some(body)).await
}

/// Creates a token through the API as the admin; returns (id, secret).
async fn make_token(app: &TestApp, body: Value) -> (i64, String) {
    let t = json(app.post("/api/tokens", body).await, 201).await;
    (
        t["info"]["id"].as_i64().unwrap(),
        t["token"].as_str().unwrap().to_string(),
    )
}

async fn admin_lists_creates_and_revokes_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let created = json(
        app.post(
            "/api/tokens",
            json!({"name": "ana-laptop", "role": "consultant", "consultant_id": ana}),
        )
        .await,
        201,
    )
    .await;
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("pc_"), "{created}");
    assert_eq!(created["info"]["role"], "consultant");
    assert_eq!(created["info"]["owner"], "ana");
    assert_eq!(created["info"]["kind"], "api");
    assert_eq!(created["info"]["status"], "active");
    let id = created["info"]["id"].as_i64().unwrap();

    // The list never holds a secret or a hash.
    let listed = app.get("/api/tokens").await;
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.unwrap();
    let hash = protocall::store::tokens::hash_token(&secret);
    assert!(!text.contains(&secret) && !text.contains(&hash), "{text}");
    assert!(!text.contains("sha256"), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["test", "ana-laptop"]);

    // Refusals, each with its reason.
    for (body, status, needle) in [
        // What the document states (400, 422 for a role that is none);
        // what only the stored data and the clock can say (409).
        (json!({"name": "x", "role": "consultant"}), 400, "owner"),
        (json!({"name": "x", "role": "manager"}), 400, "owner"),
        (
            json!({"name": "x", "role": "admin", "consultant_id": ana}),
            409,
            "more rights",
        ),
        (
            json!({"name": "x", "role": "admin", "expires_at": "2020-01-01T00:00:00Z"}),
            409,
            "future",
        ),
        (
            json!({"name": "x", "role": "consultant", "consultant_id": 999_999}),
            409,
            "does not exist",
        ),
        (
            json!({"name": "ana-laptop", "role": "consultant", "consultant_id": ana}),
            409,
            "ana-laptop",
        ),
        (json!({"name": "feed:ana", "role": "admin"}), 400, "feed"),
        (json!({"name": "  ", "role": "admin"}), 400, "name"),
        (json!({"name": "x", "role": "root"}), 422, "role"),
    ] {
        let r = json(app.post("/api/tokens", body.clone()).await, status).await;
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{body}: {r}");
    }

    // The token works, is refused the admin's routes, and dies revoked.
    assert_eq!(get_as(&app, &secret, "/api/tasks").await.status(), 200);
    let r = json(get_as(&app, &secret, "/api/tokens").await, 403).await;
    assert_eq!(r["error"]["code"], "forbidden");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("admin"),
        "{r}"
    );
    let revoked = json(app.delete(&format!("/api/tokens/{id}")).await, 200).await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let r = json(get_as(&app, &secret, "/api/tasks").await, 401).await;
    assert!(
        r["error"]["message"].as_str().unwrap().contains("revoked"),
        "{r}"
    );
    // Revoking again keeps the first time; an unknown id is a 404.
    let again = json(app.delete(&format!("/api/tokens/{id}")).await, 200).await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    json(app.delete("/api/tokens/999999").await, 404).await;
    // The name is free again; the revoked one stays listed.
    make_token(
        &app,
        json!({"name": "ana-laptop", "role": "consultant", "consultant_id": ana}),
    )
    .await;
    let list = json(app.get("/api/tokens").await, 200).await;
    let statuses: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "ana-laptop")
        .map(|t| t["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["revoked", "active"]);
}

async fn tokens_expire_and_follow_their_owner(b: Backend) {
    let app = TestApp::spawn(b).await;
    let gil = person(&app, "gil", "manager").await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(700)).to_rfc3339();
    let (_, brief) = make_token(
        &app,
        json!({"name": "brief", "role": "manager", "consultant_id": gil, "expires_at": soon}),
    )
    .await;
    assert_eq!(
        get_as(
            &app,
            &brief,
            "/api/reports/weekly?week=2026-W48&format=json"
        )
        .await
        .status(),
        200
    );
    // Fixed: the token's 700 ms must genuinely run out.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    let r = json(get_as(&app, &brief, "/api/tasks").await, 401).await;
    assert!(
        r["error"]["message"].as_str().unwrap().contains("expired"),
        "{r}"
    );
    let list = json(app.get("/api/tokens").await, 200).await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "brief")
            .unwrap()["status"],
        "expired"
    );

    // A manager's token is a manager's while its owner is one.
    let (_, gils) = make_token(
        &app,
        json!({"name": "gil", "role": "manager", "consultant_id": gil}),
    )
    .await;
    let report = "/api/reports/weekly?week=2026-W48&format=json";
    assert_eq!(get_as(&app, &gils, report).await.status(), 200);
    json(
        app.patch(
            &format!("/api/consultants/{gil}"),
            json!({"role": "consultant"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(get_as(&app, &gils, report).await.status(), 403);
    assert_eq!(get_as(&app, &gils, "/api/tasks").await.status(), 200);
    json(
        app.patch(&format!("/api/consultants/{gil}"), json!({"active": false}))
            .await,
        200,
    )
    .await;
    let r = json(get_as(&app, &gils, "/api/tasks").await, 401).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deactivated"),
        "{r}"
    );
    // Deleting the person deletes their tokens.
    json(
        app.patch(&format!("/api/consultants/{gil}"), json!({"active": true}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        app.delete(&format!("/api/consultants/{gil}"))
            .await
            .status(),
        204
    );
    assert_eq!(get_as(&app, &gils, "/api/tasks").await.status(), 401);
}

async fn feed_token_opens_only_its_own_feed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let bia = person(&app, "bia", "consultant").await;
    let gil = person(&app, "gil", "manager").await;
    let (_, anas) = make_token(
        &app,
        json!({"name": "ana", "role": "consultant", "consultant_id": ana}),
    )
    .await;
    let (_, gils) = make_token(
        &app,
        json!({"name": "gil", "role": "manager", "consultant_id": gil}),
    )
    .await;
    // Ana issues her own; not Bia's. A manager issues Bia's.
    let feed = json(
        post_as(
            &app,
            &anas,
            &format!("/api/consultants/{ana}/feed-token"),
            json!({}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(feed["info"]["kind"], "feed");
    assert_eq!(feed["info"]["name"], "feed:ana");
    let token = feed["token"].as_str().unwrap().to_string();
    let path = feed["path"].as_str().unwrap().to_string();
    assert_eq!(
        path,
        format!("/api/consultants/{ana}/calendar.ics?token={token}")
    );
    json(
        post_as(
            &app,
            &anas,
            &format!("/api/consultants/{bia}/feed-token"),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    json(
        post_as(
            &app,
            &gils,
            &format!("/api/consultants/{bia}/feed-token"),
            json!({}),
        )
        .await,
        201,
    )
    .await;

    // The feed, from its URL, as a calendar app fetches it.
    let r = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    // Nothing else: not Bia's feed, not the API, not even with the header.
    let other = format!("/api/consultants/{bia}/calendar.ics?token={token}");
    let r = json(app.client.get(app.url(&other)).send().await.unwrap(), 403).await;
    assert_eq!(r["error"]["code"], "forbidden");
    for p in [
        "/api/tasks".to_string(),
        format!("/api/consultants/{ana}"),
        format!("/api/consultants/{ana}/hours"),
        "/api/openapi.json".into(),
        "/api/no-such-thing".into(),
    ] {
        assert_eq!(get_as(&app, &token, &p).await.status(), 403, "{p}");
    }
    let r = post_as(
        &app,
        &token,
        &format!("/api/consultants/{ana}/feed-token"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), 403);
    // The feed token in a query outside a feed is no token at all.
    let r = app
        .client
        .get(app.url(&format!("/api/tasks?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // An API token is refused in a URL, even the admin's.
    let url = format!("/api/consultants/{ana}/calendar.ics?token={}", app.token);
    let r = json(app.client.get(app.url(&url)).send().await.unwrap(), 401).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authorization header"),
        "{r}"
    );
    // ... but the header still opens any feed for the admin, and Ana's own
    // for her.
    let feed_of = |who: i64| format!("/api/consultants/{who}/calendar.ics");
    assert_eq!(app.get(&feed_of(bia)).await.status(), 200);
    assert_eq!(get_as(&app, &anas, &feed_of(ana)).await.status(), 200);
    assert_eq!(get_as(&app, &anas, &feed_of(bia)).await.status(), 403);

    // Issuing a new feed link revokes the old one.
    let renewed = json(
        app.post(&format!("/api/consultants/{ana}/feed-token"), json!({}))
            .await,
        201,
    )
    .await;
    let r = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(app.url(renewed["path"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // And it shows in the list, revoked.
    let list = json(app.get("/api/tokens").await, 200).await;
    let feeds: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "feed:ana")
        .map(|t| t["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(feeds, ["revoked", "active"]);
}

async fn audit_names_the_person_not_the_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let root = person(&app, "root", "admin").await;
    let (_, anas) = make_token(
        &app,
        json!({"name": "ana-phone", "role": "consultant", "consultant_id": ana}),
    )
    .await;
    let (_, roots) = make_token(
        &app,
        json!({"name": "root-laptop", "role": "admin", "consultant_id": root}),
    )
    .await;
    let started = json(
        post_as(
            &app,
            &anas,
            "/api/tasks/start",
            json!({"consultant_id": ana, "category": "documentation",
                   "at": "2026-11-20T09:00:00-03:00"}),
        )
        .await,
        201,
    )
    .await;
    let id = started["started"]["id"].as_i64().unwrap();
    json(
        post_as(
            &app,
            &roots,
            &format!("/api/tasks/{id}/stop"),
            json!({"at": "2026-11-20T10:00:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    json(
        app.patch(
            &format!("/api/tasks/{id}"),
            json!({"started_at": "2026-11-20T09:05:00-03:00"}),
        )
        .await,
        200,
    )
    .await;
    let audit = json(
        get_as(&app, &anas, &format!("/api/tasks/{id}/audit")).await,
        200,
    )
    .await;
    let actors: Vec<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actors, ["ana", "root", "token:test"], "{audit}");
}

async fn consultants_act_only_for_themselves(b: Backend) {
    let app = TestApp::spawn(b).await;
    let ana = person(&app, "ana", "consultant").await;
    let bia = person(&app, "bia", "consultant").await;
    let (_, anas) = make_token(
        &app,
        json!({"name": "ana", "role": "consultant", "consultant_id": ana}),
    )
    .await;
    let bias_task = json(
        app.post(
            "/api/tasks/start",
            json!({"consultant_id": bia, "category": "review"}),
        )
        .await,
        201,
    )
    .await["started"]["id"]
        .as_i64()
        .unwrap();
    // Bia's timer is not Ana's to stop, read or start.
    let r = json(
        post_as(
            &app,
            &anas,
            &format!("/api/tasks/{bias_task}/stop"),
            json!({}),
        )
        .await,
        403,
    )
    .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("their own"),
        "{r}"
    );
    assert_eq!(
        get_as(&app, &anas, &format!("/api/tasks/{bias_task}"))
            .await
            .status(),
        403
    );
    assert_eq!(
        post_as(
            &app,
            &anas,
            "/api/tasks/start",
            json!({"consultant_id": bia, "category": "review"})
        )
        .await
        .status(),
        403
    );
    // Her own lists are narrowed to her without asking.
    json(
        post_as(
            &app,
            &anas,
            "/api/tasks/start",
            json!({"consultant_id": ana, "category": "review"}),
        )
        .await,
        201,
    )
    .await;
    let mine = json(get_as(&app, &anas, "/api/tasks").await, 200).await;
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["consultant_id"], ana);
    // "Stop my timer" needs no id: the token says whose.
    let stopped = json(
        post_as(&app, &anas, "/api/tasks/stop", json!({})).await,
        200,
    )
    .await;
    assert_eq!(stopped["consultant_id"], ana);
    assert!(!stopped["ended_at"].is_null(), "{stopped}");
    // An ownerless admin token must say whose: it has no timer of its own.
    let r = json(app.post("/api/tasks/stop", json!({})).await, 403).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("consultant_id"),
        "{r}"
    );
    assert_eq!(
        get_as(&app, &anas, &format!("/api/tasks?consultant_id={bia}"))
            .await
            .status(),
        403
    );
    let all = json(app.get("/api/tasks").await, 200).await;
    assert_eq!(all["total"], 2);
    // Directory writes, reloads, imports, bans and tokens are the admin's.
    for (method, path) in [
        (reqwest::Method::POST, "/api/providers"),
        (reqwest::Method::POST, "/api/routing/reload"),
        (reqwest::Method::POST, "/api/import"),
        (reqwest::Method::DELETE, "/api/bans/192.0.2.1"),
        (reqwest::Method::GET, "/api/tokens"),
    ] {
        let r = call(&app, method.clone(), Some(&anas), path, Some(json!({}))).await;
        assert_eq!(r.status(), 403, "{method} {path}");
    }
    // Looking a caller up shows Ana her own open protocols, not Bia's.
    let netsul = json(
        app.post(
            "/api/providers",
            json!({"name": "NetSul", "consulting": true, "numbers": ["(11) 98765-4321"]}),
        )
        .await,
        201,
    )
    .await["id"]
        .clone();
    for owner in [ana, bia] {
        json(
            app.post(
                "/api/protocols",
                json!({"provider_id": netsul, "owner_id": owner, "subject": "x"}),
            )
            .await,
            201,
        )
        .await;
    }
    let lookup = "/api/lookup?number=%2B5511987654321";
    let hers = json(get_as(&app, &anas, lookup).await, 200).await;
    let owners: Vec<_> = hers["open_protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["owner_id"].as_i64().unwrap())
        .collect();
    assert_eq!(owners, [ana]);
    let all = json(app.get(lookup).await, 200).await;
    assert_eq!(all["open_protocols"].as_array().unwrap().len(), 2);
    // A method a route does not answer is still a 405.
    let r = call(
        &app,
        reqwest::Method::PUT,
        Some(&app.token),
        "/api/providers",
        None,
    )
    .await;
    assert_eq!(r.status(), 405);
}

/// A database at schema 7 with a token made then: after the upgrade it is
/// an ownerless admin token that still opens everything.
async fn tokens_from_before_roles_stay_admin(b: Backend) {
    use protocall::store::{Store, MIGRATIONS};
    use sha2::Digest;
    use sqlx::{AnyConnection, Connection, Executor};

    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = support::fresh_database(&b, dir.path()).await;
    let sqlite = matches!(b, Backend::Sqlite);
    let url = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url
    };
    let mut conn = AnyConnection::connect(&url).await.unwrap();
    conn.execute(
        "CREATE TABLE protocall_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    for m in MIGRATIONS.iter().filter(|m| m.version < 8) {
        let sql = if sqlite { m.sqlite } else { m.postgres };
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO protocall_migrations (version, name, checksum, applied_at) \
             VALUES ($1, $2, $3, 0)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(hex::encode(sha2::Sha256::digest(sql.as_bytes())))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let old = "pc_made-before-roles";
    sqlx::query("INSERT INTO api_tokens (name, token_sha256, created_at) VALUES ($1, $2, 0)")
        .bind("ops")
        .bind(protocall::store::tokens::hash_token(old))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.execute(
        "INSERT INTO consultants (name, sip_username, ha1_md5, ha1_sha256, created_at, \
         updated_at) VALUES ('Ana', 'ana', '00000000000000000000000000000000', \
         '0000000000000000000000000000000000000000000000000000000000000000', 0, 0)",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = Store::connect(&url, 2, chrono_tz::UTC).await.unwrap();
    assert_eq!(store.migrate().await.unwrap().first(), Some(&8));
    match store.verify_token(old).await.unwrap() {
        protocall::store::TokenCheck::Valid(v) => {
            assert_eq!(v.role, protocall::directory::Role::Admin);
            assert_eq!(v.consultant_id, None);
            assert_eq!(v.name, "ops");
        }
        other => panic!("{other:?}"),
    }
    let ana = store.get_consultant(1).await.unwrap();
    assert_eq!(ana.role, protocall::directory::Role::Consultant);
    let list = store.list_tokens().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].status, protocall::store::TokenStatus::Active);
    store.close().await;
}
