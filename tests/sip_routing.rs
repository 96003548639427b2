//! The desk's routing through the real daemon: callers identified by their
//! number, the dialplan's fallback chain, the URA as last resort.

mod support;

use std::time::Duration;

use protocall::sip::message::Method;
use serde_json::json;
use support::sip_agent::Agent;
use support::{json, Backend, TestApp};

const T: Duration = Duration::from_secs(6);
const PASSWORD: &str = "correct horse";

const PLAN: &str = r#"
[teams]
consulting = ["bia"]

[[rule]]
name = "consulting-with-protocol"
when.caller = ["consulting"]
when.has_open_protocol = true
steps = [
  { action = "owner", ring_seconds = 2 },
  { action = "team", team = "consulting", ring_seconds = 2 },
  { action = "ura" },
]

[[rule]]
name = "consulting-without-protocol"
when.caller = ["consulting"]
steps = [ { action = "team", team = "consulting", ring_seconds = 2 }, { action = "ura" } ]

[[rule]]
name = "everyone-else"
steps = [ { action = "ura" } ]
"#;

struct Desk {
    app: TestApp,
    plans: std::path::PathBuf,
    ura: Agent,
    ana: Agent,
    bia: Agent,
    _plans: tempfile::TempDir,
}

async fn desk() -> Desk {
    let plans = tempfile::tempdir().unwrap();
    std::fs::write(plans.path().join("default.toml"), PLAN).unwrap();
    let mut ura = Agent::udp_listener("ura").await.unwrap();
    ura.set_timeout(T);
    let ura_uri = format!("sip:ura@{}", ura.local_addr());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            (
                "PROTOCALL__ROUTING__DIALPLANS",
                plans.path().to_str().unwrap(),
            ),
            ("PROTOCALL__ROUTING__URA_URI", &ura_uri),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for user in ["ana", "bia"] {
        let c = json(
            app.post(
                "/api/consultants",
                json!({"name": user, "sip_username": user, "password": PASSWORD}),
            )
            .await,
            201,
        )
        .await;
        ids.push(c["id"].as_i64().unwrap());
    }
    let netsul = json(
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
    json(
        app.post(
            "/api/protocols",
            json!({"provider_id": netsul["id"], "owner_id": ids[0], "due_at": "2026-12-01T10:00:00Z"}),
        )
        .await,
        201,
    )
    .await;
    // The snapshot and credential cache refresh after directory writes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ana = Agent::udp("ana", app.sip_udp).await.unwrap();
    let mut bia = Agent::udp("bia", app.sip_udp).await.unwrap();
    ana.set_timeout(T);
    bia.set_timeout(T);
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    assert_eq!(bia.register(PASSWORD, 300).await.unwrap(), 200);
    Desk {
        app,
        plans: plans.path().to_path_buf(),
        ura,
        ana,
        bia,
        _plans: plans,
    }
}

async fn carrier(d: &Desk, number: &str) -> Agent {
    let mut c = Agent::udp(number, d.app.sip_udp).await.unwrap();
    c.set_timeout(T);
    c
}

fn desk_uri(d: &Desk) -> String {
    format!("sip:4000@127.0.0.1:{}", d.app.sip_udp.port())
}

#[tokio::test]
async fn consulting_client_rings_the_protocol_owner() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    d.ana.next_request_of(Method::Ack, T).await.unwrap();
    let metrics = d
        .app
        .client
        .get(d.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("protocall_routing_decision_seconds_count 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn owner_busy_goes_to_the_team() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "11987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    d.ana.respond(&inv, 486).await.unwrap();
    let (team_inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.answer(&team_inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
}

#[tokio::test]
async fn nobody_answers_so_the_ura_takes_the_call() {
    let mut d = desk().await;
    let mut caller = carrier(&d, "11987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    // Owner rings out (2 s), the team rings out (2 s), then the URA.
    for phone in [&mut d.ana, &mut d.bia] {
        let (inv, _) = phone.next_request_of(Method::Invite, T).await.unwrap();
        phone.respond(&inv, 180).await.unwrap();
        let (cancel, _) = phone.next_request_of(Method::Cancel, T).await.unwrap();
        phone.respond(&cancel, 200).await.unwrap();
        phone.respond(&inv, 487).await.unwrap();
    }
    let (ura_inv, _) = d.ura.next_request_of(Method::Invite, T).await.unwrap();
    d.ura.answer(&ura_inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
}

#[tokio::test]
async fn non_consulting_and_unknown_callers_reach_the_ura() {
    let mut d = desk().await;
    for number in ["2134567890", "3133332222"] {
        let mut caller = carrier(&d, number).await;
        let call = caller.invite(&desk_uri(&d)).await.unwrap();
        let (inv, _) = d.ura.next_request_of(Method::Invite, T).await.unwrap();
        d.ura.answer(&inv).await.unwrap();
        let ok = caller
            .expect_response(Method::Invite, 200, T)
            .await
            .unwrap();
        caller.ack(&call, &ok).await.unwrap();
        d.ura.next_request_of(Method::Ack, T).await.unwrap();
    }
    d.ana
        .nothing_matching(Duration::from_millis(200), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn simulate_agrees_with_real_calls() {
    let mut d = desk().await;
    let sim = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "011987654321"}))
            .await,
        200,
    )
    .await;
    assert_eq!(sim["rule"], "consulting-with-protocol");
    assert_eq!(sim["caller"]["class"], "consulting");
    assert_eq!(sim["groups"][0][0], d.ana.contact_uri());
    assert_eq!(sim["groups"][1][0], d.bia.contact_uri());
    // The real call rings the same phone first.
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.ana.next_request_of(Method::Invite, T).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        sim["groups"][0][0].as_str().unwrap()
    );
    d.ana.respond(&inv, 486).await.unwrap();
    let (inv2, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.respond(&inv2, 603).await.unwrap();
    let fin = caller.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(fin.status(), Some(603), "a 6xx ends the search");
    caller.ack(&call, &fin).await.unwrap();

    let sim = json(
        d.app
            .post(
                "/api/routing/simulate",
                json!({"from": "2134567890", "at": "2026-12-01T12:00:00-03:00"}),
            )
            .await,
        200,
    )
    .await;
    assert_eq!(sim["rule"], "everyone-else");
    assert_eq!(sim["caller"]["class"], "not_consulting");
    assert_eq!(
        sim["groups"][0][0],
        format!("sip:ura@{}", d.ura.local_addr())
    );
    let bad = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "x y"}))
            .await,
        400,
    )
    .await;
    assert_eq!(bad["error"]["code"], "bad_request");
}

#[tokio::test]
async fn dialplan_reload_applies_good_plans_and_keeps_the_old_one_on_errors() {
    let d = desk().await;
    let who = |rule: &str| rule.to_string();
    let ask = || async {
        json(
            d.app
                .post("/api/routing/simulate", json!({"from": "2134567890"}))
                .await,
            200,
        )
        .await["rule"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(ask().await, who("everyone-else"));
    std::fs::write(
        d.plans.join("default.toml"),
        "[[rule]]\nname = \"night-mode\"\nsteps = [ { action = \"ura\" } ]\n",
    )
    .unwrap();
    let r = json(d.app.post("/api/routing/reload", json!({})).await, 200).await;
    assert_eq!(r["rules"], 1);
    assert_eq!(ask().await, who("night-mode"));
    std::fs::write(
        d.plans.join("default.toml"),
        "[[rule]]\nname = \"broken\"\nsteps = [ { action = \"dance\" } ]\n",
    )
    .unwrap();
    let r = json(d.app.post("/api/routing/reload", json!({})).await, 422).await;
    assert_eq!(r["reloaded"], false);
    assert!(r["errors"][0].as_str().unwrap().contains("broken"), "{r}");
    assert_eq!(ask().await, who("night-mode"), "the old plan stays");
}

#[tokio::test]
async fn an_owner_in_do_not_disturb_is_skipped() {
    let mut d = desk().await;
    let consultants = json(d.app.get("/api/consultants").await, 200).await;
    let ana = consultants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sip_username"] == "ana")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let c = json(
        d.app
            .client
            .put(d.app.url(&format!("/api/consultants/{ana}/presence")))
            .bearer_auth(&d.app.token)
            .json(&json!({"status": "dnd"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(c["presence"], "dnd");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sim = json(
        d.app
            .post("/api/routing/simulate", json!({"from": "011987654321"}))
            .await,
        200,
    )
    .await;
    assert_eq!(sim["groups"][0][0], d.bia.contact_uri(), "{sim}");
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = d.bia.next_request_of(Method::Invite, T).await.unwrap();
    d.bia.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();
    d.ana
        .nothing_matching(Duration::from_millis(200), |m| {
            m.method() == Some(Method::Invite)
        })
        .await
        .unwrap();
    json(
        d.app
            .client
            .put(d.app.url(&format!("/api/consultants/{ana}/presence")))
            .bearer_auth(&d.app.token)
            .json(&json!({"status": "sleeping"}))
            .send()
            .await
            .unwrap(),
        422,
    )
    .await;
}
