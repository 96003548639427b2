//! The SIP core end to end: real daemon, real sockets, our test agents
//! registering with digest auth and calling each other through the proxy.

use crate::support;

use std::time::Duration;

use protocall::sip::dialog::{DialogEvent, Party};
use protocall::sip::message::{Method, SipMessage};
use serde_json::json;
use support::sip_agent::{Agent, RegisterOpts};
use support::{Backend, TestApp};

const T: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse";

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let app = TestApp::spawn_with(Backend::Sqlite, extra).await;
    app.add_consultants(&["ana", "bia"], PASSWORD).await;
    app
}

async fn app() -> TestApp {
    app_with(&[]).await
}

#[derive(Clone, Copy)]
enum Tp {
    Udp,
    Tcp,
}

async fn agent(app: &TestApp, user: &str, tp: Tp) -> Agent {
    let mut a = match tp {
        Tp::Udp => Agent::udp(user, app.sip_udp).await.unwrap(),
        Tp::Tcp => Agent::tcp(user, app.sip_tcp).await.unwrap(),
    };
    a.set_timeout(T);
    a
}

async fn registered(app: &TestApp, user: &str, tp: Tp) -> Agent {
    let mut a = agent(app, user, tp).await;
    assert_eq!(a.register(PASSWORD, 300).await.unwrap(), 200);
    a
}

fn target(app: &TestApp, user: &str) -> String {
    format!("sip:{user}@127.0.0.1:{}", app.sip_udp.port())
}

/// The next call-level event (branch events are the call log's business
/// and are checked in sip_routing).
async fn next_event(app: &mut TestApp) -> DialogEvent {
    app.next_event_where(T, |e| {
        !matches!(
            e,
            DialogEvent::Forked { .. } | DialogEvent::BranchFailed { .. }
        )
    })
    .await
}

fn header(m: &SipMessage, name: &str) -> String {
    m.header(name)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn register_with_digest_and_refuse_wrong_or_unknown() {
    let app = app().await;
    let mut ana = agent(&app, "ana", Tp::Udp).await;
    let ok = ana.register_raw(PASSWORD, 300).await.unwrap();
    assert_eq!(ok.status(), Some(200));
    assert!(header(&ok, "Contact").contains("expires="));
    let now = chrono::Utc::now().timestamp_millis();
    let bindings = app.location.lookup("ana", now);
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].source, ana.local_addr(), "source kept for NAT");

    let mut bia = agent(&app, "bia", Tp::Udp).await;
    let wrong = bia.register_raw("not the password", 300).await.unwrap();
    let mut ghost = agent(&app, "ghost", Tp::Udp).await;
    let unknown = ghost.register_raw(PASSWORD, 300).await.unwrap();
    assert_eq!(wrong.status(), Some(401));
    assert_eq!(unknown.status(), Some(401), "no user enumeration");
    assert!(app.location.lookup("bia", now).is_empty());

    // TCP registrations work the same.
    let mut bia_tcp = agent(&app, "bia", Tp::Tcp).await;
    assert_eq!(bia_tcp.register(PASSWORD, 300).await.unwrap(), 200);
    assert_eq!(app.location.lookup("bia", now).len(), 1);
    // 423 below the minimum.
    let brief = bia_tcp
        .register_with(RegisterOpts {
            password: Some(PASSWORD.into()),
            expires: Some(10),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(brief.status(), Some(423));
    assert_eq!(header(&brief, "Min-Expires"), "60");
}

async fn basic_call(tp_caller: Tp, tp_callee: Tp, callee_hangs_up: bool) {
    let mut app = app().await;
    let mut ana = registered(&app, "ana", tp_caller).await;
    let mut bia = registered(&app, "bia", tp_callee).await;

    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    ana.expect_response(Method::Invite, 100, T).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    assert!(
        header(&inv, "Record-Route").contains(";lr"),
        "dialog-creating requests are record-routed"
    );
    assert_eq!(inv.vias().count(), 2, "our Via on top of the caller's");
    assert_eq!(inv.max_forwards().unwrap(), Some(69));
    assert_eq!(
        String::from_utf8_lossy(inv.request_uri().unwrap()),
        bia.contact_uri(),
        "request goes to the registered contact"
    );
    bia.respond(&inv, 180).await.unwrap();
    ana.expect_response(Method::Invite, 180, T).await.unwrap();
    let bia_call = bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();
    let (ack, _) = bia.next_request_of(Method::Ack, T).await.unwrap();
    assert_eq!(ack.method(), Some(Method::Ack));

    match next_event(&mut app).await {
        DialogEvent::Ringing { code, .. } => assert_eq!(code, 180),
        e => panic!("expected Ringing, got {e:?}"),
    }
    match next_event(&mut app).await {
        DialogEvent::Answered {
            id, caller, target, ..
        } => {
            assert_eq!(id.call_id, call.call_id);
            assert!(caller.contains("ana"));
            assert_eq!(target, bia.contact_uri());
        }
        e => panic!("expected Answered, got {e:?}"),
    }

    if callee_hangs_up {
        bia.bye(&bia_call).await.unwrap();
        let (bye, _) = ana.next_request_of(Method::Bye, T).await.unwrap();
        ana.respond(&bye, 200).await.unwrap();
        bia.expect_response(Method::Bye, 200, T).await.unwrap();
    } else {
        ana.bye(&call).await.unwrap();
        let (bye, _) = bia.next_request_of(Method::Bye, T).await.unwrap();
        bia.respond(&bye, 200).await.unwrap();
        ana.expect_response(Method::Bye, 200, T).await.unwrap();
    }
    match next_event(&mut app).await {
        DialogEvent::Ended { id, by, .. } => {
            assert_eq!(id.call_id, call.call_id);
            let expected = if callee_hangs_up {
                Party::Callee
            } else {
                Party::Caller
            };
            assert_eq!(by, expected);
        }
        e => panic!("expected Ended, got {e:?}"),
    }
}

#[tokio::test]
async fn call_over_udp_caller_hangs_up() {
    basic_call(Tp::Udp, Tp::Udp, false).await;
}

#[tokio::test]
async fn sip_metrics_are_exported_without_per_call_labels() {
    let app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();
    bia.next_request_of(Method::Ack, T).await.unwrap();
    // The registrations gauge is refreshed every second.
    support::wait_until(
        "the registrations gauge counting both phones",
        Duration::from_secs(10),
        async || {
            app.get_text("/metrics")
                .await
                .contains("protocall_registrations_active 2")
        },
    )
    .await;
    let text = app.get_text("/metrics").await;
    for needle in [
        "protocall_sip_requests_total{method=\"INVITE\"} 1",
        "protocall_sip_requests_total{method=\"REGISTER\"} 4",
        "protocall_sip_responses_total{code_class=\"2xx\"}",
        "protocall_sip_transactions_active",
        "protocall_sip_retransmissions_total",
        "protocall_sip_parse_errors_total{transport=\"udp\"} 0",
        "protocall_registrations_active 2",
        "protocall_calls_active 1",
        "protocall_call_setup_seconds_count 1",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    assert!(!text.contains(&call.call_id), "no per-call labels");
}

#[tokio::test]
async fn call_over_tcp_callee_hangs_up() {
    basic_call(Tp::Tcp, Tp::Tcp, true).await;
}

#[tokio::test]
async fn call_from_udp_to_tcp() {
    basic_call(Tp::Udp, Tp::Tcp, false).await;
}

#[tokio::test]
async fn busy_is_relayed_and_acked_hop_by_hop() {
    let mut app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.respond(&inv, 486).await.unwrap();
    // The proxy ACKs the 486 itself (a non-2xx ACK is hop by hop).
    let (ack, _) = bia.next_request_of(Method::Ack, T).await.unwrap();
    assert!(
        ack.to_tag().unwrap().is_some(),
        "the ACK carries the 486's To tag"
    );
    let busy = ana.expect_response(Method::Invite, 486, T).await.unwrap();
    ana.ack(&call, &busy).await.unwrap();
    // The caller's ACK is absorbed by the proxy, never reaching the callee.
    bia.nothing_matching(Duration::from_millis(300), |m| {
        m.method() == Some(Method::Ack)
    })
    .await
    .unwrap();
    match next_event(&mut app).await {
        DialogEvent::Failed {
            code, cancelled, ..
        } => {
            assert_eq!(code, 486);
            assert!(!cancelled);
        }
        e => panic!("expected Failed, got {e:?}"),
    }
}

#[tokio::test]
async fn caller_cancel_gets_200_and_487() {
    let mut app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.respond(&inv, 180).await.unwrap();
    ana.expect_response(Method::Invite, 180, T).await.unwrap();
    ana.cancel(&call).await.unwrap();
    ana.expect_response(Method::Cancel, 200, T).await.unwrap();
    let (cancel, _) = bia.next_request_of(Method::Cancel, T).await.unwrap();
    bia.respond(&cancel, 200).await.unwrap();
    bia.respond(&inv, 487).await.unwrap();
    let term = ana.expect_response(Method::Invite, 487, T).await.unwrap();
    ana.ack(&call, &term).await.unwrap();
    let _ringing = next_event(&mut app).await;
    match next_event(&mut app).await {
        DialogEvent::Failed {
            code, cancelled, ..
        } => {
            assert_eq!(code, 487);
            assert!(cancelled);
        }
        e => panic!("expected Failed, got {e:?}"),
    }
}

#[tokio::test]
async fn no_answer_is_cancelled_by_timer_c() {
    let mut app = app_with(&[("PROTOCALL__SIP__TIMER_C_SECS", "1")]).await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.respond(&inv, 180).await.unwrap();
    // Nobody picks up: the proxy cancels the branch after Timer C.
    let (cancel, _) = bia.next_request_of(Method::Cancel, T).await.unwrap();
    bia.respond(&cancel, 200).await.unwrap();
    bia.respond(&inv, 487).await.unwrap();
    let fin = ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(fin.status(), Some(408), "no answer reads as a timeout");
    ana.ack(&call, &fin).await.unwrap();
    let _ringing = next_event(&mut app).await;
    match next_event(&mut app).await {
        DialogEvent::Failed {
            code, cancelled, ..
        } => {
            assert_eq!(code, 408);
            assert!(!cancelled);
        }
        e => panic!("expected Failed, got {e:?}"),
    }
}

#[tokio::test]
async fn retransmitted_invite_is_absorbed_not_forwarded_twice() {
    let app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.respond(&inv, 180).await.unwrap();
    ana.expect_response(Method::Invite, 180, T).await.unwrap();
    ana.retransmit_invite(&call).await.unwrap();
    // The retransmission gets the last provisional again ...
    ana.expect_response(Method::Invite, 180, T).await.unwrap();
    // ... and the callee never sees a second INVITE.
    bia.nothing_matching(Duration::from_millis(300), |m| {
        m.method() == Some(Method::Invite)
    })
    .await
    .unwrap();
    let ok_call = bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();
    bia.next_request_of(Method::Ack, T).await.unwrap();
    drop(ok_call);
}

#[tokio::test]
async fn a_dropped_200_is_retransmitted_through_the_proxy() {
    let app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    ana.drop_responses(200, 1);
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.answer(&inv).await.unwrap();
    // The callee retransmits its 2xx until the ACK; the proxy relays the
    // retransmission statelessly.
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    assert_eq!(ana.dropped(), 1);
    ana.ack(&call, &ok).await.unwrap();
    bia.next_request_of(Method::Ack, T).await.unwrap();
}

#[tokio::test]
async fn two_phones_of_one_consultant_ring_in_parallel() {
    let mut app = app().await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut desk = registered(&app, "bia", Tp::Udp).await;
    let mut mobile = registered(&app, "bia", Tp::Tcp).await;
    assert_eq!(
        app.location
            .lookup("bia", chrono::Utc::now().timestamp_millis())
            .len(),
        2
    );
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let (inv_desk, _) = desk.next_request_of(Method::Invite, T).await.unwrap();
    let (inv_mobile, _) = mobile.next_request_of(Method::Invite, T).await.unwrap();
    desk.respond(&inv_desk, 180).await.unwrap();
    mobile.respond(&inv_mobile, 180).await.unwrap();
    mobile.answer(&inv_mobile).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();
    // The other phone stops ringing.
    let (cancel, _) = desk.next_request_of(Method::Cancel, T).await.unwrap();
    desk.respond(&cancel, 200).await.unwrap();
    desk.respond(&inv_desk, 487).await.unwrap();
    mobile.next_request_of(Method::Ack, T).await.unwrap();
    let _ringing = next_event(&mut app).await;
    match next_event(&mut app).await {
        DialogEvent::Answered { target, .. } => assert_eq!(target, mobile.contact_uri()),
        e => panic!("expected Answered, got {e:?}"),
    }
}

#[tokio::test]
async fn proxy_answers_options_and_refuses_bad_requests() {
    let app = app().await;
    let ana = agent(&app, "ana", Tp::Udp).await;
    let port = app.sip_udp.port();
    let local = ana.local_addr();
    let req = |method: &str, uri: &str, extra: &str| {
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{}\r\n\
             From: <sip:ana@127.0.0.1>;tag=t1\r\nTo: <{uri}>\r\nCall-ID: {}@test\r\n\
             CSeq: 1 {method}\r\n{extra}Content-Length: 0\r\n\r\n",
            rand_token(),
            rand_token()
        )
    };
    let mut ana = ana;
    let cases = [
        (req("OPTIONS", &format!("sip:127.0.0.1:{port}"), ""), 200),
        (
            req(
                "INVITE",
                &format!("sip:bia@127.0.0.1:{port}"),
                "Max-Forwards: 0\r\n",
            ),
            483,
        ),
        (
            req(
                "INVITE",
                &format!("sip:bia@127.0.0.1:{port}"),
                "Proxy-Require: foo\r\n",
            ),
            420,
        ),
        (
            // Not a consultant: the dialplan sends it to the URA, and with
            // no URA configured there is nowhere to go.
            req("INVITE", &format!("sip:nobody@127.0.0.1:{port}"), ""),
            480,
        ),
        // maddr sends the request back to us with the same Request-URI:
        // the second pass finds our own Via with its hash and stops it.
        (
            req(
                "INVITE",
                &format!("sip:x@loop.example:{port};maddr=127.0.0.1"),
                "Max-Forwards: 10\r\n",
            ),
            482,
        ),
    ];
    for (msg, code) in cases {
        ana.send_raw(msg.clone()).await.unwrap();
        let r = ana
            .next_msg_where(T, "a final response", |m| {
                m.status().is_some_and(|s| s >= 200)
            })
            .await
            .unwrap()
            .0;
        assert_eq!(r.status(), Some(code), "{msg}");
        if code == 420 {
            assert_eq!(header(&r, "Unsupported"), "foo");
        }
    }
}

fn rand_token() -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).unwrap();
    hex::encode(b)
}

#[tokio::test]
async fn bindings_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/p.db", dir.path().display());
    // Its own journal: the default one is the repository's data/, which a
    // daemon running from the checkout holds locked.
    let journal = dir.path().join("journal").display().to_string();
    let settings = support::settings(&db, &[("PROTOCALL__TRACKING__JOURNAL_DIR", &journal)]);
    let contact;
    {
        let app = protocall::app::Application::build(&settings).await.unwrap();
        let store = app.state().store.clone();
        let credentials = app.sip().credentials.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let http = format!("http://{}", app.http_addr());
        let udp = app.sip_udp_addr();
        let token = store.create_token("t").await.unwrap();
        let run = tokio::spawn(app.run_until_stopped(async {
            let _ = stop_rx.await;
        }));
        let r = reqwest::Client::new()
            .post(format!("{http}/api/consultants"))
            .bearer_auth(&token)
            .json(&json!({"name": "Ana", "sip_username": "ana", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        support::wait_until(
            "the credential cache learning ana",
            Duration::from_secs(10),
            async || {
                use protocall::sip::registrar::CredentialSource;
                credentials.lookup("ana").is_some()
            },
        )
        .await;
        let mut ana = Agent::udp("ana", udp).await.unwrap();
        assert_eq!(ana.register(PASSWORD, 600).await.unwrap(), 200);
        contact = ana.contact_uri();
        // The binding is written to the store off the SIP path.
        support::wait_until(
            "ana's binding reaching the store",
            Duration::from_secs(10),
            async || {
                let now = chrono::Utc::now().timestamp_millis();
                store
                    .load_registrations(now)
                    .await
                    .unwrap()
                    .iter()
                    .any(|r| r.aor == "ana" && r.contact == contact)
            },
        )
        .await;
        let _ = stop_tx.send(());
        run.await.unwrap().unwrap();
    }
    let app = protocall::app::Application::build(&settings).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let b = app.sip().location.lookup("ana", now);
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact, contact);
}

#[tokio::test]
async fn untrusted_callers_must_authenticate_as_consultants() {
    let app = app_with(&[("PROTOCALL__ROUTING__TRUSTED_PEERS", "[]")]).await;
    let mut ana = registered(&app, "ana", Tp::Udp).await;
    let mut bia = registered(&app, "bia", Tp::Udp).await;
    // A consultant's phone is challenged and gets through with its password.
    let call = ana.invite(&target(&app, "bia")).await.unwrap();
    let challenge = ana.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    assert!(header(&challenge, "Proxy-Authenticate").starts_with("Digest"));
    let call = ana
        .answer_auth_challenge(&call, &challenge, PASSWORD)
        .await
        .unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();

    // Anyone else is refused once the challenge fails: toll-fraud protection.
    let mut mallory = agent(&app, "mallory", Tp::Udp).await;
    let call = mallory.invite(&target(&app, "bia")).await.unwrap();
    let challenge = mallory.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    let call = mallory
        .answer_auth_challenge(&call, &challenge, "guess")
        .await
        .unwrap();
    let refused = mallory.final_response(Method::Invite, T).await.unwrap();
    assert_eq!(refused.status(), Some(403));
    mallory.ack(&call, &refused).await.unwrap();
    bia.nothing_matching(Duration::from_millis(200), |m| {
        m.method() == Some(Method::Invite)
    })
    .await
    .unwrap();
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("protocall_calls_rejected_total{reason=\"untrusted\"} 1"),
        "{metrics}"
    );
}
