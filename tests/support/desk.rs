//! The consulting desk as a test fixture: the daemon with a dialplan, two
//! consultants registered (ana owns NetSul's open protocol, bia is the
//! team), the URA and a trunk played by test agents, carriers on 127.0.0.2
//! (trusted) and helpers to read the call log.

use std::time::Duration;

use protocall::sip::message::Method;
use serde_json::{json, Value};

use super::sip_agent::Agent;
use super::{json, Backend, TestApp};

pub const T: Duration = Duration::from_secs(6);
pub const PASSWORD: &str = "correct horse";

pub const PLAN: &str = r#"
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

/// Carrier trunks live on 127.0.0.2 (trusted); consultants' phones on
/// 127.0.0.1 must authenticate their calls.
pub const CARRIER_IP: [u8; 4] = [127, 0, 0, 2];

pub struct Desk {
    pub app: TestApp,
    pub plans: std::path::PathBuf,
    pub ura: Agent,
    pub trunk: Agent,
    pub ana: Agent,
    pub bia: Agent,
    pub ana_id: i64,
    pub bia_id: i64,
    pub netsul_id: i64,
    pub protocol_id: i64,
    _plans: tempfile::TempDir,
}

pub async fn desk() -> Desk {
    desk_with_plan(PLAN).await
}

pub async fn desk_with_plan(plan: &str) -> Desk {
    desk_on(Backend::Sqlite, plan).await
}

pub async fn desk_on(backend: Backend, plan: &str) -> Desk {
    desk_custom(backend, plan, |_, _| Vec::new()).await
}

/// The desk with more settings, chosen once the URA and trunk agents
/// listen (`env(ura, trunk)`; they override the defaults, e.g. the
/// trunk's URI by host name).
pub async fn desk_custom(
    backend: Backend,
    plan: &str,
    env: impl FnOnce(&Agent, &Agent) -> Vec<(String, String)>,
) -> Desk {
    let plans = tempfile::tempdir().unwrap();
    std::fs::write(plans.path().join("default.toml"), plan).unwrap();
    let mut ura = Agent::udp_listener("ura").await.unwrap();
    ura.set_timeout(T);
    let ura_uri = format!("sip:ura@{}", ura.local_addr());
    let mut trunk = Agent::udp_listener("trunk").await.unwrap();
    trunk.set_timeout(T);
    let trunk_uri = format!("sip:{}", trunk.local_addr());
    let custom = env(&ura, &trunk);
    let mut settings = vec![
        (
            "PROTOCALL__ROUTING__DIALPLANS",
            plans.path().to_str().unwrap(),
        ),
        ("PROTOCALL__ROUTING__URA_URI", &ura_uri),
        ("PROTOCALL__ROUTING__TRUNK_URI", &trunk_uri),
        ("PROTOCALL__ROUTING__TRUSTED_PEERS", "[\"127.0.0.2\"]"),
    ];
    settings.extend(custom.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let app = TestApp::spawn_with(backend, &settings).await;
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
    let protocol = json(
        app.post(
            "/api/protocols",
            json!({"provider_id": netsul["id"], "owner_id": ids[0], "due_at": "2026-12-01T10:00:00Z"}),
        )
        .await,
        201,
    )
    .await;
    // The snapshot and credential cache refresh after directory writes.
    app.directory_synced().await;
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
        trunk,
        ana,
        bia,
        ana_id: ids[0],
        bia_id: ids[1],
        netsul_id: netsul["id"].as_i64().unwrap(),
        protocol_id: protocol["id"].as_i64().unwrap(),
        _plans: plans,
    }
}

pub async fn carrier(d: &Desk, number: &str) -> Agent {
    let mut c = Agent::udp_on(number, CARRIER_IP.into(), d.app.sip_udp)
        .await
        .unwrap();
    c.set_timeout(T);
    c
}

/// The call log's record of a call, once it has one with an outcome (the
/// log is written off the SIP path, a moment after the call).
pub async fn logged(d: &Desk, call_id: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let r = d.app.get(&format!("/api/calls/{call_id}")).await;
        if r.status() == 200 {
            let v: Value = r.json().await.unwrap();
            if until(&v) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "{v}");
        } else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "call {call_id} never logged"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn ended(v: &Value) -> bool {
    !v["ended_at"].is_null()
}

pub async fn callbacks(d: &Desk) -> Vec<Value> {
    json(d.app.get("/api/callbacks").await, 200).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

pub async fn metrics(d: &Desk) -> String {
    d.app
        .client
        .get(d.app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// (route, user, code) of each branch the log recorded.
pub fn attempts(v: &Value) -> Vec<(String, String, i64)> {
    v["detail"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["route"].as_str().unwrap().to_string(),
                a["user"].as_str().unwrap_or("").to_string(),
                a["code"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

pub fn desk_uri(d: &Desk) -> String {
    format!("sip:4000@127.0.0.1:{}", d.app.sip_udp.port())
}

pub async fn answered_by(phone: &mut Agent, caller: &mut Agent, call: &super::sip_agent::Call) {
    let (inv, _) = phone.next_request_of(Method::Invite, T).await.unwrap();
    phone.answer(&inv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(call, &ok).await.unwrap();
    phone.next_request_of(Method::Ack, T).await.unwrap();
}

/// A call from a consultant's phone: the INVITE, the proxy's 407
/// challenge, and the INVITE again with `PASSWORD`'s credentials.
pub async fn invite_authenticated(phone: &mut Agent, uri: &str) -> super::sip_agent::Call {
    let call = phone.invite(uri).await.unwrap();
    let challenge = phone.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    phone
        .answer_auth_challenge(&call, &challenge, PASSWORD)
        .await
        .unwrap()
}
