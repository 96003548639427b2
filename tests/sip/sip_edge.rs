//! The SIP edge on an open network, through the real daemon: strangers
//! (127.0.0.2, not a trusted peer) relay nothing, reach no user, draw no
//! more than one answer per packet, and cannot end someone else's call.

use crate::support;
use crate::support::desk::invite_authenticated;

use std::time::Duration;

use protocall::sip::dialog::{DialogEvent, Party};
use protocall::sip::message::{Method, SipMessage};
use support::sip_agent::{challenges_of, Agent};
use support::{Backend, TestApp};

const T: Duration = Duration::from_secs(5);
const PASSWORD: &str = "correct horse";
const STRANGER: &str = "127.0.0.2";

async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let app = TestApp::spawn_with(Backend::Sqlite, extra).await;
    app.add_consultants(&["ana", "bia"], PASSWORD).await;
    app
}

async fn agent(app: &TestApp, user: &str) -> Agent {
    let mut a = Agent::udp(user, app.sip_udp).await.unwrap();
    a.set_timeout(T);
    a
}

async fn stranger(app: &TestApp) -> Agent {
    let mut a = Agent::udp_on("mallory", STRANGER.parse().unwrap(), app.sip_udp)
        .await
        .unwrap();
    a.set_timeout(T);
    a
}

fn header(m: &SipMessage, name: &str) -> String {
    m.header(name)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

/// A request as an attacker writes it: `ruri`, an optional To tag, Route
/// and extra header lines.
fn probe(
    from: &Agent,
    method: &str,
    ruri: &str,
    to_tag: Option<&str>,
    route: Option<&str>,
    extra: &[String],
) -> String {
    let (via, _) = from.new_via();
    let call_id = format!("probe-{}-{}", method, rand_token());
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let mut m = format!(
        "{method} {ruri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: <sip:mallory@{STRANGER}>;tag=m1\r\nTo: <{ruri}>{to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {method}\r\nContact: <sip:mallory@{}>\r\n",
        from.local_addr()
    );
    if let Some(r) = route {
        m.push_str(&format!("Route: {r}\r\n"));
    }
    for h in extra {
        m.push_str(h);
        m.push_str("\r\n");
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

fn rand_token() -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).unwrap();
    hex::encode(b)
}

/// Every message the agent receives within `wait`.
async fn everything(a: &mut Agent, wait: Duration) -> Vec<SipMessage> {
    a.settle(wait, wait * 3).await;
    a.drain().into_iter().filter_map(|i| i.msg).collect()
}

#[tokio::test]
async fn strangers_relay_nothing_to_a_third_party() {
    let app = app_with(&[]).await;
    let mut carrier = Agent::udp_listener("carrier").await.unwrap();
    let third = carrier.local_addr();
    let mut mallory = stranger(&app).await;
    let port = app.sip_udp.port();
    let mut expected = Vec::new();
    for method in [
        "INVITE",
        "MESSAGE",
        "OPTIONS",
        "NOTIFY",
        "SUBSCRIBE",
        "REFER",
    ] {
        // Out of dialog, straight at the third party: credentials first.
        let ruri = format!("sip:+551140001234@{third}");
        mallory
            .send_raw(probe(&mallory, method, &ruri, None, None, &[]))
            .await
            .unwrap();
        expected.push((method, 407));
        // A made-up To tag: no dialog of ours, refused.
        mallory
            .send_raw(probe(&mallory, method, &ruri, Some("x1"), None, &[]))
            .await
            .unwrap();
        expected.push((method, 403));
        // Addressed to us, loose-routed to the third party.
        let route = format!("<sip:{third};lr>");
        let to_us = format!("sip:+551140001234@127.0.0.1:{port}");
        mallory
            .send_raw(probe(
                &mallory,
                method,
                &to_us,
                Some("x2"),
                Some(&route),
                &[],
            ))
            .await
            .unwrap();
        expected.push((method, 403));
        // Our own address in Route without our dialog MAC.
        let ours = format!("<sip:127.0.0.1:{port};lr>, <sip:{third};lr>");
        mallory
            .send_raw(probe(&mallory, method, &ruri, Some("x3"), Some(&ours), &[]))
            .await
            .unwrap();
        expected.push((method, 403));
    }
    let got = everything(&mut mallory, Duration::from_millis(1500)).await;
    let mut statuses: Vec<(String, u16)> = got
        .iter()
        .map(|m| {
            let (_, method) = m.cseq().unwrap();
            (
                String::from_utf8_lossy(method.as_bytes()).into_owned(),
                m.status().unwrap(),
            )
        })
        .collect();
    let mut want: Vec<(String, u16)> = expected.iter().map(|(m, c)| (m.to_string(), *c)).collect();
    statuses.sort();
    want.sort();
    // One answer per request: no 100 Trying, no retransmitted finals.
    assert_eq!(statuses, want);
    assert!(
        carrier.drain().is_empty(),
        "the third party must hear nothing"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("protocall_requests_dropped_total{reason=\"no_dialog\"} 18"),
        "{metrics}"
    );
}

#[tokio::test]
async fn strangers_reach_no_user_but_the_proxy_answers_options() {
    let app = app_with(&[]).await;
    let mut ana = agent(&app, "ana").await;
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    let mut mallory = stranger(&app).await;
    let port = app.sip_udp.port();
    let ana_uri = format!("sip:ana@127.0.0.1:{port}");
    let ghost_uri = format!("sip:ghost@127.0.0.1:{port}");
    for method in ["OPTIONS", "MESSAGE", "SUBSCRIBE", "INVITE"] {
        for uri in [&ana_uri, &ghost_uri] {
            mallory
                .send_raw(probe(&mallory, method, uri, None, None, &[]))
                .await
                .unwrap();
            let r = mallory.next_response(T).await.unwrap();
            // The same answer for a user who exists and one who does not:
            // nothing to enumerate.
            assert_eq!(r.status(), Some(407), "{method} {uri}");
        }
    }
    ana.nothing_matching(Duration::from_millis(300), |m| m.is_request())
        .await
        .unwrap();
    // OPTIONS to the proxy itself is still a keep-alive anyone may send.
    let me = format!("sip:127.0.0.1:{port}");
    mallory
        .send_raw(probe(&mallory, "OPTIONS", &me, None, None, &[]))
        .await
        .unwrap();
    assert_eq!(mallory.next_response(T).await.unwrap().status(), Some(200));
}

#[tokio::test]
async fn an_unauthenticated_invite_draws_exactly_one_answer() {
    let app = app_with(&[]).await;
    let mut mallory = stranger(&app).await;
    let port = app.sip_udp.port();
    let req = probe(
        &mallory,
        "INVITE",
        &format!("sip:bia@127.0.0.1:{port}"),
        None,
        None,
        &[],
    );
    mallory.send_raw(req.clone()).await.unwrap();
    // T1 is 500 ms: Timer G would have resent a stateful 407 by 1.5 s.
    let got = everything(&mut mallory, Duration::from_millis(1600)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].status(), Some(407));
    // A retransmission gets the same single answer, nothing more.
    mallory.send_raw(req).await.unwrap();
    let again = everything(&mut mallory, Duration::from_millis(800)).await;
    assert_eq!(again.len(), 1);
    assert_eq!(header(&again[0], "To"), header(&got[0], "To"));
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("protocall_sip_transactions_active 0")
            || !metrics.contains("protocall_sip_transactions_active"),
        "a refused request holds no transaction: {metrics}"
    );
}

#[tokio::test]
async fn a_consultant_messages_a_colleague_and_credentials_stop_here() {
    let app = app_with(&[("PROTOCALL__ROUTING__TRUSTED_PEERS", "[]")]).await;
    let mut ana = agent(&app, "ana").await;
    let mut bia = agent(&app, "bia").await;
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    assert_eq!(bia.register(PASSWORD, 300).await.unwrap(), 200);
    let port = app.sip_udp.port();
    let to = format!("sip:bia@127.0.0.1:{port}");
    let first = probe(&ana, "MESSAGE", &to, None, None, &[]);
    ana.send_raw(first.clone()).await.unwrap();
    let challenge = ana.next_response(T).await.unwrap();
    assert_eq!(challenge.status(), Some(407));
    let ch = challenges_of(&challenge).into_iter().next().unwrap();
    let auth = ch
        .authorization("MESSAGE", &to, "ana", PASSWORD, 1, "c0ffee")
        .unwrap();
    let second = first
        .replace("CSeq: 1 MESSAGE", "CSeq: 2 MESSAGE")
        .replace("branch=", "branch=z9hG4bKretry")
        .replace(
            "Content-Length: 0",
            &format!("Proxy-Authorization: {auth}\r\nContent-Length: 0"),
        );
    ana.send_raw(second).await.unwrap();
    let (msg, _) = bia.next_request_of(Method::Message, T).await.unwrap();
    assert!(
        msg.header("Proxy-Authorization").is_none(),
        "our realm's credentials must not travel on"
    );
    assert_eq!(header(&msg, "P-Asserted-Identity"), "<sip:ana@127.0.0.1>");
    bia.respond(&msg, 200).await.unwrap();
    let ok = ana.next_response(T).await.unwrap();
    assert_eq!(ok.status(), Some(200));
}

#[tokio::test]
async fn internal_destinations_are_refused_unless_configured() {
    // The shipped default opens none, not even loopback.
    let app = app_with(&[("PROTOCALL__SECURITY__ALLOWED_DESTINATIONS", "[]")]).await;
    let mut carrier = Agent::udp_listener("carrier").await.unwrap();
    let third = carrier.local_addr();
    // From a trusted peer (127.0.0.1 in the test config): still no relay
    // into our own network on an address the requester wrote.
    let mut trunk = agent(&app, "trunk").await;
    for target in [format!("sip:x@{third}"), "sip:x@10.1.2.3".to_string()] {
        trunk
            .send_raw(probe(&trunk, "INVITE", &target, None, None, &[]))
            .await
            .unwrap();
        let r = trunk.final_response(Method::Invite, T).await.unwrap();
        assert_eq!(r.status(), Some(403), "{target}");
    }
    assert!(carrier.drain().is_empty());
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("protocall_requests_dropped_total{reason=\"relay\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stranger_cannot_end_someone_elses_call() {
    let mut app = app_with(&[]).await;
    let mut ana = agent(&app, "ana").await;
    let mut bia = agent(&app, "bia").await;
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    assert_eq!(bia.register(PASSWORD, 300).await.unwrap(), 200);
    let port = app.sip_udp.port();
    let call = ana
        .invite(&format!("sip:bia@127.0.0.1:{port}"))
        .await
        .unwrap();
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();
    bia.next_request_of(Method::Ack, T).await.unwrap();
    let answered = app
        .next_event_where(T, |e| matches!(e, DialogEvent::Answered { .. }))
        .await;
    let DialogEvent::Answered { to_tag, .. } = answered else {
        unreachable!()
    };
    let (_, routes) = ana.dialog_route(&call).unwrap();
    assert!(routes.iter().all(|r| r.contains(";pcd=")), "{routes:?}");

    // Mallory knows the Call-ID and both tags, but not our signed route.
    let mut mallory = stranger(&app).await;
    let bia_contact = bia.contact_uri();
    let forged = |mallory: &Agent, route: Option<&str>| {
        let (via, _) = mallory.new_via();
        let mut m = format!(
            "BYE {bia_contact} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
             From: <sip:ana@127.0.0.1>;tag={}\r\nTo: <sip:bia@127.0.0.1>;tag={to_tag}\r\n\
             Call-ID: {}\r\nCSeq: 99 BYE\r\n",
            call.local_tag, call.call_id
        );
        if let Some(r) = route {
            m.push_str(&format!("Route: {r}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        m
    };
    let tampered = routes[0].replace(";pcd=", ";pcd=00");
    for route in [
        None,
        Some(format!("<sip:127.0.0.1:{port};lr>")),
        Some(tampered),
    ] {
        let bye = forged(&mallory, route.as_deref());
        mallory.send_raw(bye).await.unwrap();
        let r = mallory.next_response(T).await.unwrap();
        assert_eq!(r.status(), Some(403));
    }
    bia.nothing_matching(Duration::from_millis(300), |m| {
        m.method() == Some(Method::Bye)
    })
    .await
    .unwrap();
    // The call is still up, and its real BYE still ends it.
    ana.bye(&call).await.unwrap();
    let (bye, _) = bia.next_request_of(Method::Bye, T).await.unwrap();
    bia.respond(&bye, 200).await.unwrap();
    let ended = app
        .next_event_where(T, |e| matches!(e, DialogEvent::Ended { .. }))
        .await;
    assert!(matches!(
        ended,
        DialogEvent::Ended {
            by: Party::Caller,
            ..
        }
    ));
}

#[tokio::test]
async fn password_guessing_is_banned_while_the_desk_works() {
    let app = app_with(&[
        ("PROTOCALL__ROUTING__TRUSTED_PEERS", "[]"),
        ("PROTOCALL__SECURITY__BAN_SECS", "2"),
    ])
    .await;
    let mut ana = agent(&app, "ana").await;
    let mut bia = agent(&app, "bia").await;
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    assert_eq!(bia.register(PASSWORD, 300).await.unwrap(), 200);

    // Mallory guesses ana's password from another address.
    let mut mallory = Agent::udp_on("ana", STRANGER.parse().unwrap(), app.sip_udp)
        .await
        .unwrap();
    mallory.set_timeout(Duration::from_millis(700));
    let mut answered = 0;
    for i in 0..30 {
        match mallory.register_raw(&format!("guess-{i}"), 300).await {
            Ok(r) => {
                assert_eq!(r.status(), Some(401));
                answered += 1;
            }
            Err(_) => break,
        }
    }
    // The shipped default bans on the 10th failure: no more answers.
    assert_eq!(answered, 10, "guesses answered before the ban");
    assert!(mallory.register_raw(PASSWORD, 300).await.is_err());
    let bans = support::json(app.get("/api/bans").await, 200).await;
    assert!(bans.to_string().contains(STRANGER), "{bans}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("protocall_auth_failures_total{method=\"REGISTER\"} 10"),
        "{metrics}"
    );
    assert!(metrics.contains("protocall_bans_active 1"), "{metrics}");

    // Ana's own phone is not locked out, and the desk still calls.
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    let port = app.sip_udp.port();
    let call = invite_authenticated(&mut ana, &format!("sip:bia@127.0.0.1:{port}")).await;
    let (inv, _) = bia.next_request_of(Method::Invite, T).await.unwrap();
    bia.answer(&inv).await.unwrap();
    let ok = ana.expect_response(Method::Invite, 200, T).await.unwrap();
    ana.ack(&call, &ok).await.unwrap();

    // The ban ends on its own (2 s here; 5 min by default, growing): the
    // daemon's sweep lifts it, nothing here does.
    support::wait_until("the ban running out", Duration::from_secs(10), async || {
        let bans = support::json(app.get("/api/bans").await, 200).await;
        !bans.to_string().contains(STRANGER)
    })
    .await;
    let after = mallory.register_raw("one more", 300).await.unwrap();
    assert_eq!(after.status(), Some(401));
}

#[tokio::test]
async fn a_locked_username_cannot_register_from_a_new_address() {
    let app = app_with(&[("PROTOCALL__SECURITY__MAX_AUTH_FAILURES_PER_USER", "3")]).await;
    let mut ana = agent(&app, "ana").await;
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
    // Three wrong guesses for ana from one address lock the username...
    let mut guesser = Agent::udp_on("ana", STRANGER.parse().unwrap(), app.sip_udp)
        .await
        .unwrap();
    guesser.set_timeout(T);
    for i in 0..3 {
        let r = guesser
            .register_raw(&format!("guess-{i}"), 300)
            .await
            .unwrap();
        assert_eq!(r.status(), Some(401));
    }
    // ...so even the right password from yet another address is refused,
    let mut other = Agent::udp_on("ana", "127.0.0.3".parse().unwrap(), app.sip_udp)
        .await
        .unwrap();
    other.set_timeout(T);
    let r = other.register_raw(PASSWORD, 300).await.unwrap();
    assert_eq!(r.status(), Some(403));
    // while ana's own phone, known to have logged in, keeps working.
    assert_eq!(ana.register(PASSWORD, 300).await.unwrap(), 200);
}
