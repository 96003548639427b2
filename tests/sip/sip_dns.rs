//! Targets by host name (RFC 3263) through the real daemon, answered by a
//! DNS stub on loopback: a dialplan `uri` step found through NAPTR and
//! SRV, the URA through A with an explicit port, the trunk through SRV
//! alone; a name with no records is skipped, said in the metrics, and
//! `protocall check` names it with the records it tried.

use crate::support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, NAPTR, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};
use protocall::sip::message::Method;
use support::desk::*;
use support::Backend;

/// A zone served over UDP on 127.0.0.1: answers what the table holds,
/// NXDOMAIN for names it does not know, and records every question.
struct Stub {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(format!("{s}.")).unwrap()
}

fn a(owner: &str, ip: Ipv4Addr) -> Record {
    Record::from_rdata(name(owner), 60, RData::A(A(ip)))
}

fn srv(owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::SRV(SRV::new(priority, weight, port, name(target))),
    )
}

fn naptr(owner: &str, order: u16, service: &str, replacement: &str) -> Record {
    Record::from_rdata(
        name(owner),
        60,
        RData::NAPTR(NAPTR::new(
            order,
            10,
            b"s".to_vec().into_boxed_slice(),
            service.as_bytes().to_vec().into_boxed_slice(),
            Box::new([]),
            name(replacement),
        )),
    )
}

/// A stub whose zone can be filled after it starts (the desk fixture
/// gives the agents' ports only once they listen).
async fn stub(zone: Vec<Record>) -> Stub {
    stub_shared(Arc::new(Mutex::new(zone))).await
}

async fn stub_shared(zone: Arc<Mutex<Vec<Record>>>) -> Stub {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
            resp.metadata.authoritative = true;
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            resp.add_queries(req.queries.clone());
            resp.edns = req.edns.clone();
            for q in &req.queries {
                log.lock()
                    .unwrap()
                    .push(format!("{} {}", q.query_type, q.name));
                let zone = zone.lock().unwrap().clone();
                let known = zone.iter().any(|r| r.name == q.name);
                let hits: Vec<Record> = zone
                    .iter()
                    .filter(|r| r.name == q.name && r.record_type() == q.query_type)
                    .cloned()
                    .collect();
                if !known {
                    resp.metadata.response_code = ResponseCode::NXDomain;
                }
                resp.add_answers(hits);
            }
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, from).await;
            }
        }
    });
    Stub { addr, asked, task }
}

const T_RING: Duration = Duration::from_secs(6);

/// Waits until the proxy's background lookup has finished and cached its
/// answer (the counter and the cache are updated together, with no await
/// between them).
async fn dns_answered(app: &support::TestApp) {
    support::wait_until(
        "the proxy's DNS lookup finishing",
        Duration::from_secs(10),
        async || {
            app.get_text("/metrics")
                .await
                .lines()
                .filter_map(|l| l.strip_prefix("protocall_dns_resolutions_total{outcome=\"ok\"} "))
                .any(|v| v.trim().parse::<f64>().is_ok_and(|n| n >= 1.0))
        },
    )
    .await
}

#[tokio::test]
async fn dialplan_uri_step_ura_and_trunk_reached_by_host_name_ring() {
    let mut pbx = support::sip_agent::Agent::udp_listener("pbx")
        .await
        .unwrap();
    pbx.set_timeout(T_RING);
    let pbx_port = pbx.local_addr().port();
    let plan = r#"
[[rule]]
name = "everyone"
steps = [
  { action = "uri", uri = "sip:vip@nowhere.test", ring_seconds = 2 },
  { action = "uri", uri = "sip:vip@pbx.test", ring_seconds = 2 },
  { action = "ura" },
]
"#;
    let zone: Arc<Mutex<Vec<Record>>> = Arc::default();
    let dns = stub_shared(zone.clone()).await;
    let addr = dns.addr;
    let fill = zone.clone();
    let mut d = desk_custom(Backend::Sqlite, plan, move |ura, trunk| {
        let ura_port = ura.local_addr().port();
        *fill.lock().unwrap() = vec![
            // pbx.test: NAPTR → SRV (the lower priority first) → A.
            naptr("pbx.test", 10, "SIP+D2U", "_sip._udp.pbx.test"),
            srv("_sip._udp.pbx.test", 20, 0, 9, "spare.pbx.test"),
            srv("_sip._udp.pbx.test", 10, 0, pbx_port, "a.pbx.test"),
            a("a.pbx.test", Ipv4Addr::LOCALHOST),
            a("spare.pbx.test", Ipv4Addr::LOCALHOST),
            // trunk.test: no NAPTR, SRV for UDP only.
            srv(
                "_sip._udp.trunk.test",
                0,
                0,
                trunk.local_addr().port(),
                "edge.trunk.test",
            ),
            a("edge.trunk.test", Ipv4Addr::LOCALHOST),
            // ura.test: an explicit port, so A only.
            a("ura.test", Ipv4Addr::LOCALHOST),
        ];
        vec![
            (
                "PROTOCALL__SIP__DNS__SERVERS".into(),
                format!("[\"{addr}\"]"),
            ),
            (
                "PROTOCALL__ROUTING__TRUNK_URI".into(),
                "sip:trunk.test".into(),
            ),
            (
                "PROTOCALL__ROUTING__URA_URI".into(),
                format!("sip:ura@ura.test:{ura_port}"),
            ),
        ]
    })
    .await;

    // Inbound: nowhere.test is skipped, pbx.test rings at its SRV target.
    let mut caller = carrier(&d, "011987654321").await;
    let call = caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = pbx.next_request_of(Method::Invite, T_RING).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        "sip:vip@pbx.test",
        "the Request-URI keeps the name (RFC 3263 resolves only the next hop)"
    );
    // Busy there: the URA, found by A record with the configured port.
    pbx.respond(&inv, 486).await.unwrap();
    let (uinv, _) = d.ura.next_request_of(Method::Invite, T_RING).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(uinv.request_uri().unwrap()),
        format!("sip:ura@ura.test:{}", d.ura.local_addr().port())
    );
    d.ura.answer(&uinv).await.unwrap();
    let ok = caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
    caller.ack(&call, &ok).await.unwrap();

    // Outbound: the trunk, found through _sip._udp SRV.
    let sip = d.app.sip_udp.port();
    let out = d
        .ana
        .invite(&format!("sip:011987654321@127.0.0.1:{sip}"))
        .await
        .unwrap();
    let challenge = d.ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    let out = d
        .ana
        .answer_auth_challenge(&out, &challenge, PASSWORD)
        .await
        .unwrap();
    let (tinv, _) = d.trunk.next_request_of(Method::Invite, T).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(tinv.request_uri().unwrap()),
        "sip:+5511987654321@trunk.test"
    );
    d.trunk.answer(&tinv).await.unwrap();
    let ok = d.ana.expect_response(Method::Invite, 200, T).await.unwrap();
    d.ana.ack(&out, &ok).await.unwrap();

    // The skipped step is counted, and the names were asked as RFC 3263
    // says (NAPTR first for a URI with neither port nor transport).
    let m = metrics(&d).await;
    assert!(
        m.contains(r#"protocall_dns_failures_total{reason="failed",target="dialplan"} 1"#),
        "{m}"
    );
    let asked = dns.asked.lock().unwrap().clone();
    for q in [
        "NAPTR pbx.test.",
        "SRV _sip._udp.pbx.test.",
        "A a.pbx.test.",
        "NAPTR trunk.test.",
        "SRV _sip._udp.trunk.test.",
        "A ura.test.",
        "NAPTR nowhere.test.",
    ] {
        assert!(asked.iter().any(|a| a == q), "{q} not in {asked:?}");
    }
    assert!(
        !asked.iter().any(|a| a == "NAPTR ura.test."),
        "a port means no NAPTR: {asked:?}"
    );

    // A reloaded plan's new name is answered before the reload returns,
    // so the very next call rings it.
    zone.lock()
        .unwrap()
        .push(a("new.pbx.test", Ipv4Addr::LOCALHOST));
    std::fs::write(
        d.plans.join("default.toml"),
        format!(
            "[[rule]]\nname = \"everyone\"\nsteps = [ {{ action = \"uri\", \
             uri = \"sip:desk@new.pbx.test:{pbx_port}\", ring_seconds = 2 }}, \
             {{ action = \"ura\" }} ]\n"
        ),
    )
    .unwrap();
    let reloaded = d
        .app
        .post("/api/routing/reload", serde_json::json!({}))
        .await;
    assert_eq!(reloaded.status(), 200);
    let mut caller = carrier(&d, "011987654321").await;
    caller.invite(&desk_uri(&d)).await.unwrap();
    let (inv, _) = pbx.next_request_of(Method::Invite, T_RING).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        format!("sip:desk@new.pbx.test:{pbx_port}")
    );
    pbx.answer(&inv).await.unwrap();
    caller
        .expect_response(Method::Invite, 200, T)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_about_names_that_do_not_resolve() {
    let s = stub(vec![a("pbx.test", Ipv4Addr::LOCALHOST)]).await;
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans");
    std::fs::create_dir(&plans).unwrap();
    std::fs::write(
        plans.join("default.toml"),
        "[[rule]]\nname = \"all\"\nsteps = [ { action = \"uri\", uri = \"sip:vip@pbx.test\", \
         ring_seconds = 5 }, { action = \"ura\" } ]\n",
    )
    .unwrap();
    let cfg = dir.path().join("protocall.toml");
    std::fs::write(
        &cfg,
        format!(
            "[store]\nurl = \"sqlite://{}/db/protocall.db\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
             [routing]\ndialplans = \"{}\"\ntrunk_uri = \"sip:missing.test\"\n\
             [sip.dns]\nservers = [\"{}\"]\ntimeout_ms = 500\nattempts = 1\n",
            dir.path().display(),
            plans.display(),
            s.addr
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_protocall"))
            .args(["check", "--config", cfg.to_str().unwrap()])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("dialplan uri step: `sip:vip@pbx.test` resolves to UDP 127.0.0.1:5060"),
        "{stdout}"
    );
    let warning = stdout
        .lines()
        .find(|l| l.contains("warning: routing.trunk_uri"))
        .unwrap_or_else(|| panic!("{stdout}"));
    for tried in [
        "NAPTR missing.test",
        "SRV _sip._udp.missing.test",
        "SRV _sip._tcp.missing.test",
        "SRV _sips._tcp.missing.test",
        "A missing.test",
        "AAAA missing.test",
    ] {
        assert!(warning.contains(tried), "{warning}");
    }
}

#[tokio::test]
async fn resolver_orders_srv_targets_and_fails_over_to_the_next() {
    use protocall::config::SipDnsSettings;
    use protocall::sip::message::Uri;
    use protocall::sip::resolve::{DnsMetrics, Lookup, SipResolver};
    use protocall::sip::transport::Proto;

    let s = stub(vec![
        srv("_sip._tcp.multi.test", 20, 0, 5072, "b.multi.test"),
        srv("_sip._tcp.multi.test", 10, 0, 5071, "a.multi.test"),
        a("a.multi.test", Ipv4Addr::new(127, 0, 0, 1)),
        a("b.multi.test", Ipv4Addr::new(127, 0, 0, 2)),
    ])
    .await;
    let settings = SipDnsSettings {
        servers: vec![s.addr],
        ..SipDnsSettings::default()
    };
    let (r, _worker) = SipResolver::start(&settings, DnsMetrics::unregistered(), None).unwrap();
    let uri = Uri::parse(bytes::Bytes::from_static(b"sip:multi.test;transport=tcp")).unwrap();
    // The hot path never waits: the first look only starts the query.
    assert!(matches!(r.lookup(&uri), Lookup::Pending));
    let Lookup::Ready(first) = r.lookup_within(&uri, Duration::from_secs(3)).await else {
        panic!("no answer from the stub")
    };
    assert_eq!(first.dest, "127.0.0.1:5071".parse().unwrap());
    assert_eq!(first.proto, Proto::Tcp);
    let all: Vec<SocketAddr> = r.lookup_all(&uri).unwrap().iter().map(|o| o.dest).collect();
    assert_eq!(
        all,
        [
            "127.0.0.1:5071".parse::<SocketAddr>().unwrap(),
            "127.0.0.2:5072".parse().unwrap()
        ]
    );
    // The first did not answer: the next SRV target, from the cache.
    r.mark_unreachable(first.dest);
    let Lookup::Ready(next) = r.lookup(&uri) else {
        panic!("cached answer expected")
    };
    assert_eq!(next.dest, "127.0.0.2:5072".parse().unwrap());
    // Cached: no second round of questions.
    let asked = s.asked.lock().unwrap().len();
    r.lookup(&uri);
    assert_eq!(s.asked.lock().unwrap().len(), asked);
}

/// A Request-URI outside our domain, by name: the proxy resolves it
/// (RFC 3263, A with the explicit port here) without making the worker
/// wait: the first request gets 503 with Retry-After while the lookup
/// runs, the retry is relayed to the address DNS gave.
#[tokio::test]
async fn a_request_uri_by_name_is_relayed_once_dns_has_answered() {
    let mut uas = support::sip_agent::Agent::udp_listener("far")
        .await
        .unwrap();
    uas.set_timeout(T_RING);
    let dns = stub(vec![a("far.test", Ipv4Addr::LOCALHOST)]).await;
    let servers = format!("[\"{}\"]", dns.addr);
    let app = support::TestApp::spawn_with(
        Backend::Sqlite,
        &[("PROTOCALL__SIP__DNS__SERVERS", servers.as_str())],
    )
    .await;
    // 127.0.0.1 is a trusted peer in the tests: a PBX relaying a call on.
    let mut pbx = support::sip_agent::Agent::udp("pbx", app.sip_udp)
        .await
        .unwrap();
    pbx.set_timeout(T);
    let target = format!("sip:vip@far.test:{}", uas.local_addr().port());
    pbx.invite(&target).await.unwrap();
    let first = pbx.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(first.status(), Some(503), "{first:?}");
    assert_eq!(
        first.header("Retry-After").map(|v| v.into_owned()),
        Some(b"1".to_vec())
    );
    dns_answered(&app).await;
    pbx.invite(&target).await.unwrap();
    let (inv, _) = uas.next_request_of(Method::Invite, T_RING).await.unwrap();
    assert_eq!(String::from_utf8_lossy(inv.request_uri().unwrap()), target);
    assert!(dns
        .asked
        .lock()
        .unwrap()
        .iter()
        .any(|q| q.contains("far.test")));
}

/// RFC 3263 §4.3 through the proxy: a name whose first SRV target never
/// answers (Timer B) is tried at its next target on the next request.
#[tokio::test]
async fn a_silent_srv_target_is_passed_over_for_the_next() {
    let mut live = support::sip_agent::Agent::udp_listener("live")
        .await
        .unwrap();
    live.set_timeout(T_RING);
    // A port nothing answers on: bound and never read.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = stub(vec![
        srv(
            "_sip._udp.far.test",
            10,
            0,
            dead.local_addr().unwrap().port(),
            "a.far.test",
        ),
        srv(
            "_sip._udp.far.test",
            20,
            0,
            live.local_addr().port(),
            "b.far.test",
        ),
        a("a.far.test", Ipv4Addr::LOCALHOST),
        a("b.far.test", Ipv4Addr::LOCALHOST),
    ])
    .await;
    let servers = format!("[\"{}\"]", dns.addr);
    let app = support::TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("PROTOCALL__SIP__DNS__SERVERS", servers.as_str()),
            // Timer B = 64 × T1: 3.2 s instead of 32.
            ("PROTOCALL__SIP__T1_MS", "50"),
            ("PROTOCALL__SIP__T2_MS", "400"),
        ],
    )
    .await;
    let mut pbx = support::sip_agent::Agent::udp("pbx", app.sip_udp)
        .await
        .unwrap();
    pbx.set_timeout(Duration::from_secs(8));
    let target = "sip:vip@far.test;transport=udp";
    let call = pbx.invite(target).await.unwrap();
    let first = pbx.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(first.status(), Some(503), "the lookup has only started");
    pbx.ack(&call, &first).await.unwrap();
    dns_answered(&app).await;
    // The preferred target is silent: 408 once Timer B fires.
    let call = pbx.invite(target).await.unwrap();
    let silent = loop {
        let r = pbx
            .final_response(Method::Invite, Duration::from_secs(8))
            .await
            .unwrap();
        // Late retransmissions of the first call's 503 are not this call's.
        if r.call_id().map(|c| c.to_vec()) == Some(call.call_id.as_bytes().to_vec()) {
            break r;
        }
    };
    assert_eq!(silent.status(), Some(408), "{silent:?}");
    pbx.ack(&call, &silent).await.unwrap();
    // The next request goes to the next SRV target.
    pbx.invite(target).await.unwrap();
    let (inv, _) = live.next_request_of(Method::Invite, T_RING).await.unwrap();
    assert_eq!(String::from_utf8_lossy(inv.request_uri().unwrap()), target);
    drop(dead);
}
