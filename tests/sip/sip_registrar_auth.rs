//! The registrar's digest authentication (RFC 7616, RFC 3261 §22):
//! challenges fitted to the client, SHA-256 and MD5, nonce replay and
//! staleness, uniform failures, To and digest-uri checks, proxy
//! authentication for INVITE.

use super::sip_registrar::*;

use bytes::Bytes;

use protocall::sip::digest::Algorithm;
use protocall::sip::location::Location;
use protocall::sip::message::SipMessage;
use protocall::sip::registrar::{AuthFailure, RegisterResult, Registrar, RegistrarConfig};
use protocall::sip::transport::Proto;

#[test]
fn challenge_then_register_with_sha256_and_md5() {
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        let reg = registrar();
        let mut phone = Phone::new("alice", "alice-pass", alg);
        // First attempt: challenged with both algorithms, SHA-256 first.
        let m = phone.message(&[contact("sip:alice@10.0.0.2:5060")]);
        let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
        assert_eq!(out.status, 401);
        assert!(matches!(
            out.result,
            RegisterResult::Challenged {
                stale: false,
                failure: None,
                failed_attempt: false,
                username: None,
            }
        ));
        let r = parse_resp(&out.response);
        let ch = header_values(&r, "WWW-Authenticate");
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[0].contains("qop=\"auth\""));
        assert!(ch[1].contains("algorithm=MD5") && ch[1].contains(&format!("realm=\"{REALM}\"")));
        assert!(r.to_tag().unwrap().is_some());
        let top = String::from_utf8(r.header("Via").unwrap().to_vec()).unwrap();
        assert!(
            top.contains("received=198.51.100.7") && top.contains("rport=40123"),
            "{top}"
        );
        assert!(!reg.location().is_registered("alice", T0));

        phone.nonce = Some(nonce_for(&r, "WWW-Authenticate", alg));
        let (status, r, result) = phone.send(&reg, &[contact("sip:alice@10.0.0.2:5060")], T0);
        assert_eq!(status, 200, "{alg}");
        assert_eq!(
            header_values(&r, "Contact"),
            ["<sip:alice@10.0.0.2:5060>;expires=3600"]
        );
        assert_eq!(header_values(&r, "Date"), ["Tue, 14 Nov 2023 22:13:20 GMT"]);
        let RegisterResult::Accepted {
            aor,
            changes,
            bindings,
        } = result
        else {
            panic!("not accepted")
        };
        assert_eq!(aor, "alice");
        assert_eq!(changes.len(), 1);
        assert_eq!(bindings.len(), 1);
        let b = &reg.location().lookup("alice", T0)[0];
        assert_eq!(b.expires_at_ms, T0 + 3_600_000);
        assert_eq!(b.user_agent.as_deref(), Some("TestPhone/1.0"));
        assert_eq!(b.q, 1000);
    }
}

/// Drops the nonce values so two challenges can be compared.
fn without_nonces(resp: &Bytes) -> String {
    let s = String::from_utf8(resp.to_vec()).unwrap();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        rest = &rest[rest.find('"').unwrap()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn wrong_password_unknown_and_inactive_users_look_identical() {
    let reg = registrar();
    let m = register_msg("alice", "probe", 1, &[contact("sip:alice@10.0.0.2")]);
    let r = parse_resp(
        &reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0)
            .response,
    );
    let nonce = nonce_for(&r, "WWW-Authenticate", Algorithm::Md5);
    let uri = format!("sip:{REALM}");
    let attempts = [
        ("alice", "wrong-pass"),
        ("mallory", "whatever"),
        ("carol", "carol-pass"),
    ];
    let mut answers = Vec::new();
    for (i, (user, pass)) in attempts.iter().enumerate() {
        let auth = authorization(
            user,
            pass,
            Algorithm::Md5,
            &nonce,
            1 + i as u32,
            "REGISTER",
            &uri,
        );
        let m = register_msg(
            "alice",
            "probe",
            2,
            &[
                contact("sip:alice@10.0.0.2"),
                format!("Authorization: {auth}"),
            ],
        );
        let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
        assert_eq!(out.status, 401);
        answers.push(without_nonces(&out.response));
        // Also when the nonce has gone stale: no `stale` hint for any of them.
        let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0 + 400_000);
        assert_eq!(out.status, 401);
        assert!(!String::from_utf8_lossy(&out.response).contains("stale"));
        answers.push(without_nonces(&out.response));
    }
    assert_eq!(answers[0], answers[2]);
    assert_eq!(answers[0], answers[4]);
    assert_eq!(answers[1], answers[3]);
    assert_eq!(answers[1], answers[5]);
    assert!(!reg.location().is_registered("alice", T0));
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    let (status, ..) = phone.send(&reg, &[contact("sip:alice@10.0.0.2")], T0);
    assert_eq!(status, 200);
    // Same credentials (same nc) on a fresh REGISTER: replay.
    phone.nc -= 1;
    let m = phone.message(&[contact("sip:attacker@203.0.113.66")]);
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0 + 1000);
    assert_eq!(out.status, 401);
    assert!(matches!(
        out.result,
        RegisterResult::Challenged {
            stale: false,
            failure: Some(AuthFailure::Verify(
                protocall::sip::digest::AuthError::Replay
            )),
            // A replayed nonce counts as a guess, naming its user.
            failed_attempt: true,
            username: Some(_),
        }
    ));
    assert_eq!(
        contacts_of(&reg, "alice", T0 + 1000),
        ["sip:alice@10.0.0.2"]
    );
    // The next nc is fine.
    let m = phone.message(&[contact("sip:alice@10.0.0.2")]);
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0 + 2000);
    assert_eq!(out.status, 200);
}

#[test]
fn stale_nonce_gets_stale_challenge() {
    let reg = registrar();
    let mut phone = Phone::new("bob", "bob-pass", Algorithm::Md5);
    let (status, ..) = phone.send(&reg, &[contact("sip:bob@10.0.0.3")], T0);
    assert_eq!(status, 200);
    let m = phone.message(&[contact("sip:bob@10.0.0.3")]);
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0 + 301_000);
    assert_eq!(out.status, 401);
    let r = parse_resp(&out.response);
    let ch = header_values(&r, "WWW-Authenticate");
    assert_eq!(ch.len(), 2);
    assert!(ch.iter().all(|c| c.ends_with("stale=true")), "{ch:?}");
    // The phone picks up the new nonce and carries on.
    let (status, ..) = phone.send(&reg, &[contact("sip:bob@10.0.0.3")], T0 + 301_000);
    assert_eq!(status, 200);
}

#[test]
fn to_user_must_be_the_authenticated_user() {
    let reg = registrar();
    let m = register_msg("bob", "hijack", 1, &[contact("sip:evil@203.0.113.66")]);
    let r = parse_resp(
        &reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0)
            .response,
    );
    let nonce = nonce_for(&r, "WWW-Authenticate", Algorithm::Sha256);
    let auth = authorization(
        "alice",
        "alice-pass",
        Algorithm::Sha256,
        &nonce,
        1,
        "REGISTER",
        &format!("sip:{REALM}"),
    );
    let m = register_msg(
        "bob",
        "hijack",
        2,
        &[
            contact("sip:evil@203.0.113.66"),
            format!("Authorization: {auth}"),
        ],
    );
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
    assert_eq!(out.status, 403);
    assert!(!reg.location().is_registered("bob", T0));
    // The To user may be escaped and still match.
    let auth = authorization(
        "alice",
        "alice-pass",
        Algorithm::Sha256,
        &nonce,
        2,
        "REGISTER",
        &format!("sip:{REALM}"),
    );
    let m = register_msg(
        "%61lice",
        "esc",
        1,
        &[contact("sip:alice@h"), format!("Authorization: {auth}")],
    );
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
    assert_eq!(out.status, 200);
}

#[test]
fn digest_uri_must_match_request_uri() {
    let reg = registrar();
    let m = register_msg("alice", "uri", 1, &[contact("sip:alice@h")]);
    let r = parse_resp(
        &reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0)
            .response,
    );
    let nonce = nonce_for(&r, "WWW-Authenticate", Algorithm::Sha256);
    let auth = authorization(
        "alice",
        "alice-pass",
        Algorithm::Sha256,
        &nonce,
        1,
        "REGISTER",
        "sip:elsewhere.test",
    );
    let m = register_msg(
        "alice",
        "uri",
        2,
        &[contact("sip:alice@h"), format!("Authorization: {auth}")],
    );
    let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
    assert_eq!(out.status, 401);
    assert!(matches!(
        out.result,
        RegisterResult::Challenged {
            failure: Some(AuthFailure::UriMismatch),
            ..
        }
    ));
}

#[test]
fn invite_authentication_uses_proxy_headers() {
    let reg = registrar();
    let invite = |auth: Option<String>| {
        let mut s = format!(
            "INVITE sip:bob@{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKi\r\n\
             From: <sip:alice@{REALM}>;tag=a\r\nTo: <sip:bob@{REALM}>\r\nCall-ID: inv\r\n\
             CSeq: 1 INVITE\r\nUser-Agent: TestPhone/1.0\r\n"
        );
        if let Some(a) = auth {
            s.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        raw(&s)
    };
    let ch = reg.authenticate(&invite(None), true, T0).unwrap_err();
    assert_eq!(ch.code, 407);
    let r = parse_resp(&ch.response(&invite(None), src()));
    assert_eq!(r.status(), Some(407));
    assert_eq!(header_values(&r, "Proxy-Authenticate").len(), 2);
    let nonce = nonce_for(&r, "Proxy-Authenticate", Algorithm::Md5);
    let uri = format!("sip:bob@{REALM}");
    let good = authorization(
        "alice",
        "alice-pass",
        Algorithm::Md5,
        &nonce,
        1,
        "INVITE",
        &uri,
    );
    assert_eq!(
        reg.authenticate(&invite(Some(good)), true, T0),
        Ok("alice".to_owned())
    );
    // Computed for REGISTER: the method is covered by the hash.
    let wrong = authorization(
        "alice",
        "alice-pass",
        Algorithm::Md5,
        &nonce,
        2,
        "REGISTER",
        &uri,
    );
    assert_eq!(
        reg.authenticate(&invite(Some(wrong)), true, T0)
            .unwrap_err()
            .code,
        407
    );
}

/// A REGISTER from alice sent by `agent` (no User-Agent line when `None`),
/// with `auth` as its Authorization.
fn register_from(agent: Option<&str>, ruri: &str, auth: Option<String>) -> SipMessage {
    let mut s = format!(
        "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKr\r\n\
         From: <sip:alice@{REALM}>;tag=a\r\nTo: <sip:alice@{REALM}>\r\nCall-ID: ua\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:alice@10.0.0.2>\r\n"
    );
    if let Some(a) = agent {
        s.push_str(&format!("User-Agent: {a}\r\n"));
    }
    if let Some(a) = auth {
        s.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    raw(&s)
}

fn offered_algorithms(reg: &Registrar, msg: &SipMessage) -> Vec<String> {
    let ch = reg.authenticate(msg, false, T0).unwrap_err();
    let r = parse_resp(&ch.response(msg, src()));
    header_values(&r, "WWW-Authenticate")
        .iter()
        .map(|c| {
            let at = c.find("algorithm=").unwrap() + 10;
            c[at..].split(',').next().unwrap().trim().to_owned()
        })
        .collect()
}

#[test]
fn challenges_fit_the_client() {
    let reg = registrar();
    let ruri = format!("sip:{REALM}");
    // RFC 8760: capable clients get SHA-256 first, MD5 as the fallback.
    assert_eq!(
        offered_algorithms(
            &reg,
            &register_from(Some("Linphone/5.1.65 (belle-sip/5.1.0)"), &ruri, None)
        ),
        ["SHA-256", "MD5"]
    );
    // baresip 1.0 gives up on a set holding an algorithm it cannot do, SIPp
    // answers only the first, and a client that does not say who it is
    // gets what every digest client can answer.
    for agent in [
        Some("baresip v1.0.0 (x86_64/linux)"),
        Some("protocall-SIPp-uac"),
        None,
    ] {
        assert_eq!(
            offered_algorithms(&reg, &register_from(agent, &ruri, None)),
            ["MD5"],
            "{agent:?}"
        );
    }
    // The operator's list and order win.
    let cfg = RegistrarConfig {
        algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        md5_only_agents: vec![],
        ..config()
    };
    let reg = registrar_with(cfg.clone(), Location::new(cfg.location_config()));
    assert_eq!(
        offered_algorithms(&reg, &register_from(Some("baresip v1.0.0"), &ruri, None)),
        ["MD5", "SHA-256"]
    );
    let bad = RegistrarConfig {
        algorithms: vec![],
        ..config()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn a_digest_uri_naming_the_proxy_or_an_equivalent_uri_is_accepted() {
    let cfg = RegistrarConfig {
        local_hosts: vec!["127.0.0.1".into(), REALM.into()],
        ..config()
    };
    let reg = registrar_with(cfg.clone(), Location::new(cfg.location_config()));
    let ruri = "sip:127.0.0.1";
    let first = register_from(Some("sipp"), ruri, None);
    let ch = reg.authenticate(&first, false, T0).unwrap_err();
    let nonce = nonce_for(
        &parse_resp(&ch.response(&first, src())),
        "WWW-Authenticate",
        Algorithm::Md5,
    );
    let answer = |nc: u32, uri: &str| {
        let a = authorization(
            "alice",
            "alice-pass",
            Algorithm::Md5,
            &nonce,
            nc,
            "REGISTER",
            uri,
        );
        reg.authenticate(&register_from(Some("sipp"), ruri, Some(a)), false, T0)
    };
    // What SIPp 3.6 sends: the proxy's address and port, not the Request-URI.
    assert_eq!(answer(1, "sip:127.0.0.1:5060").unwrap(), "alice");
    // RFC 3261 §19.1.4: the same URI written differently.
    assert_eq!(answer(2, "SIP:127.0.0.1;x-other=1").unwrap(), "alice");
    // Another resource is not this request, even with a good response.
    let other = answer(3, "sip:bob@198.51.100.9").unwrap_err();
    assert!(matches!(other.failure, Some(AuthFailure::UriMismatch)));
    assert!(other.is_failed_attempt());
    // A replayed nonce count still fails: the uri rule opens no replay.
    assert!(answer(1, "sip:127.0.0.1:5060").is_err());
}
