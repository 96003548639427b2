//! The SIP edge's ban list through the real daemon: bans listed with their
//! reason and times in the configured zone, lifted by DELETE, both behind
//! the admin token, and ended bans swept by the daemon.

use crate::support;

use std::time::{Duration, Instant};

use protocall::sip::guard::BanReason;
use serde_json::json;
use support::{json, Backend, TestApp};

on_every_backend!(
    bans_are_listed_and_lifted_behind_the_token,
    ended_bans_are_swept_by_the_daemon,
);

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

async fn bans_are_listed_and_lifted_behind_the_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    assert_eq!(json(app.get("/api/bans").await, 200).await, json!([]));
    let text = metrics(&app).await;
    assert!(text.contains("protocall_bans_active 0"), "{text}");
    assert!(
        text.contains("protocall_auth_failures_total{method=\"REGISTER\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("protocall_requests_dropped_total{reason=\"txn_cap\"} 0"),
        "{text}"
    );

    let now = Instant::now();
    let v4 = "192.0.2.7".parse().unwrap();
    app.guard.ban(v4, BanReason::Manual, now).unwrap();
    app.guard
        .ban("2001:db8::7".parse().unwrap(), BanReason::Flood, now)
        .unwrap();
    // The daemon's guard knows the trusted peers (the tests' 127.0.0.1).
    assert!(app
        .guard
        .ban("127.0.0.1".parse().unwrap(), BanReason::Manual, now)
        .is_none());

    let bans = json(app.get("/api/bans").await, 200).await;
    let bans = bans.as_array().unwrap();
    assert_eq!(bans.len(), 2, "{bans:?}");
    let ban = bans.iter().find(|b| b["ip"] == "192.0.2.7").unwrap();
    assert_eq!(ban["reason"], "manual");
    assert_eq!(ban["offences"], 1);
    let remaining = ban["remaining_secs"].as_u64().unwrap();
    assert!((295..=300).contains(&remaining), "{ban}");
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(ban[k].as_str().unwrap()).unwrap();
    assert_eq!(
        at("until") - at("banned_at"),
        chrono::Duration::seconds(300)
    );
    // Shown in locale.timezone, like every timestamp of the API.
    assert!(ban["until"].as_str().unwrap().ends_with("-03:00"), "{ban}");
    let v6 = bans.iter().find(|b| b["ip"] == "2001:db8::7").unwrap();
    assert_eq!(v6["reason"], "flood");
    assert!(metrics(&app).await.contains("protocall_bans_active 2"));

    // Without the token: nothing listed, nothing lifted.
    let anon = app.client.get(app.url("/api/bans")).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let anon = app
        .client
        .delete(app.url("/api/bans/192.0.2.7"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(
        app.guard.admit(v4, Instant::now()),
        Err(protocall::sip::guard::Dropped::Banned)
    );

    assert_eq!(app.delete("/api/bans/192.0.2.7").await.status(), 204);
    assert_eq!(app.guard.admit(v4, Instant::now()), Ok(()));
    let again = json(app.delete("/api/bans/192.0.2.7").await, 404).await;
    assert_eq!(again["error"]["code"], "not_found");
    let bad = json(app.delete("/api/bans/not-an-ip").await, 400).await;
    assert_eq!(bad["error"]["code"], "invalid_field");
    assert!(
        bad["error"]["message"].as_str().unwrap().starts_with("ip:"),
        "{bad}"
    );
    assert_eq!(app.delete("/api/bans/2001:db8::7").await.status(), 204);
    assert_eq!(json(app.get("/api/bans").await, 200).await, json!([]));
    assert!(metrics(&app).await.contains("protocall_bans_active 0"));

    let doc = json(app.get("/api/openapi.json").await, 200).await;
    assert!(doc["paths"]["/api/bans"]["get"].is_object());
    assert!(doc["paths"]["/api/bans/{ip}"]["delete"].is_object());
}

async fn ended_bans_are_swept_by_the_daemon(b: Backend) {
    let app = TestApp::spawn_with(b, &[("PROTOCALL__SECURITY__BAN_SECS", "1")]).await;
    let ip = "192.0.2.8".parse().unwrap();
    let ban = app
        .guard
        .ban(ip, BanReason::Manual, Instant::now())
        .unwrap();
    assert_eq!(ban.remaining, Duration::from_secs(1));
    assert!(metrics(&app).await.contains("protocall_bans_active 1"));
    // Only the daemon's one-second sweep brings the gauge back down.
    let mut swept = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if metrics(&app).await.contains("protocall_bans_active 0") {
            swept = true;
            break;
        }
    }
    assert!(swept, "the ban gauge was never swept back to 0");
    assert_eq!(json(app.get("/api/bans").await, 200).await, json!([]));
    assert_eq!(app.guard.admit(ip, Instant::now()), Ok(()));
}
