//! Registrar behaviour end to end: REGISTER bytes in, response bytes and
//! location state out (RFC 3261 §10.3, RFC 7616 digest).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};

use protocall::sip::digest::{ha1, Algorithm, NonceSigner, StoredHa1};
use protocall::sip::location::{Location, LocationChange, LocationConfig};
use protocall::sip::message::SipMessage;
use protocall::sip::parse::parse;
use protocall::sip::registrar::{
    AuthFailure, CredentialSource, RegisterResult, Registrar, RegistrarConfig, UserSecret,
};
use protocall::sip::transport::{ConnId, Inbound, Proto};

const REALM: &str = "protocall.test";
const T0: i64 = 1_700_000_000_000;

fn users() -> HashMap<String, UserSecret> {
    let mut m = HashMap::new();
    for (name, pass, active) in [
        ("alice", "alice-pass", true),
        ("bob", "bob-pass", true),
        ("carol", "carol-pass", false),
    ] {
        m.insert(
            name.to_owned(),
            UserSecret {
                ha1: StoredHa1::from_password(name, REALM, pass),
                active,
            },
        );
    }
    m
}

fn config() -> RegistrarConfig {
    RegistrarConfig {
        realm: REALM.into(),
        ..RegistrarConfig::default()
    }
}

fn registrar_with(config: RegistrarConfig, location: Location) -> Registrar {
    let creds: Arc<dyn CredentialSource> = Arc::new(users());
    Registrar::with_nonce_signer(
        config,
        NonceSigner::from_secret([42; 32], 300),
        creds,
        Arc::new(location),
    )
    .unwrap()
}

#[test]
fn registrar_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Registrar>();
}

fn registrar() -> Registrar {
    let c = config();
    let loc = Location::new(c.location_config());
    registrar_with(c, loc)
}

fn src() -> SocketAddr {
    "198.51.100.7:40123".parse().unwrap()
}

fn inbound(msg: &SipMessage, source: SocketAddr, proto: Proto, conn: Option<ConnId>) -> Inbound {
    Inbound {
        bytes: msg.as_bytes().clone(),
        source,
        local: "192.0.2.1:5060".parse().unwrap(),
        proto,
        conn,
    }
}

fn hex_hash(alg: Algorithm, s: &str) -> String {
    match alg {
        Algorithm::Md5 => hex::encode(Md5::digest(s.as_bytes())),
        Algorithm::Sha256 => hex::encode(Sha256::digest(s.as_bytes())),
    }
}

/// A client computing its digest response straight from RFC 7616 §3.4.1.
#[allow(clippy::too_many_arguments)]
fn authorization(
    user: &str,
    password: &str,
    alg: Algorithm,
    nonce: &str,
    nc: u32,
    method: &str,
    uri: &str,
) -> String {
    let cnonce = "f2ae3c4d";
    let nc = format!("{nc:08x}");
    let h1 = ha1(alg, user, REALM, password);
    let h2 = hex_hash(alg, &format!("{method}:{uri}"));
    let response = hex_hash(alg, &format!("{h1}:{nonce}:{nc}:{cnonce}:auth:{h2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    )
}

/// Builds a REGISTER; `to` is the AoR user, `lines` extra header lines.
fn register_msg(to: &str, call_id: &str, cseq: u32, lines: &[String]) -> SipMessage {
    let mut s = format!(
        "REGISTER sip:{REALM} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-{call_id}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{to}@{REALM}>;tag=from-{call_id}\r\n\
         To: <sip:{to}@{REALM}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         User-Agent: TestPhone/1.0\r\n"
    );
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    parse(Bytes::from(s), true).unwrap()
}

fn parse_resp(b: &Bytes) -> SipMessage {
    parse(b.clone(), true).unwrap()
}

fn header_values(m: &SipMessage, name: &str) -> Vec<String> {
    m.headers(name)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect()
}

/// The nonce offered for `alg` in a 401/407.
fn nonce_for(resp: &SipMessage, header: &str, alg: Algorithm) -> String {
    let ch = header_values(resp, header)
        .into_iter()
        .find(|c| {
            c.contains(&format!("algorithm={alg},")) || c.ends_with(&format!("algorithm={alg}"))
        })
        .unwrap_or_else(|| panic!("no {alg} challenge"));
    let start = ch.find("nonce=\"").unwrap() + 7;
    let end = start + ch[start..].find('"').unwrap();
    ch[start..end].to_owned()
}

/// A softphone: registers one AoR, answering challenges as they come.
struct Phone {
    user: &'static str,
    password: &'static str,
    alg: Algorithm,
    call_id: String,
    cseq: u32,
    nonce: Option<String>,
    nc: u32,
    source: SocketAddr,
}

impl Phone {
    fn new(user: &'static str, password: &'static str, alg: Algorithm) -> Phone {
        Phone {
            user,
            password,
            alg,
            call_id: format!("call-{user}-{alg}"),
            cseq: 0,
            nonce: None,
            nc: 0,
            source: src(),
        }
    }

    fn message(&mut self, lines: &[String]) -> SipMessage {
        self.cseq += 1;
        let mut lines = lines.to_vec();
        if let Some(n) = &self.nonce {
            self.nc += 1;
            let uri = format!("sip:{REALM}");
            lines.push(format!(
                "Authorization: {}",
                authorization(
                    self.user,
                    self.password,
                    self.alg,
                    n,
                    self.nc,
                    "REGISTER",
                    &uri
                )
            ));
        }
        register_msg(self.user, &self.call_id, self.cseq, &lines)
    }

    /// Sends, and once more with credentials if challenged.
    fn send(
        &mut self,
        reg: &Registrar,
        lines: &[String],
        now: i64,
    ) -> (u16, SipMessage, RegisterResult) {
        let m = self.message(lines);
        let out = reg.handle_register(&m, &inbound(&m, self.source, Proto::Udp, None), now);
        if out.status != 401 {
            return (out.status, parse_resp(&out.response), out.result);
        }
        let r = parse_resp(&out.response);
        self.nonce = Some(nonce_for(&r, "WWW-Authenticate", self.alg));
        self.nc = 0;
        let m = self.message(lines);
        let out = reg.handle_register(&m, &inbound(&m, self.source, Proto::Udp, None), now);
        (out.status, parse_resp(&out.response), out.result)
    }
}

fn contact(uri: &str) -> String {
    format!("Contact: <{uri}>")
}

fn contacts_of(reg: &Registrar, aor: &str, now: i64) -> Vec<String> {
    reg.location()
        .lookup(aor, now)
        .into_iter()
        .map(|b| b.contact)
        .collect()
}

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
fn interval_too_brief_and_clamping() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    let (status, r, _) = phone.send(&reg, &[contact("sip:alice@h"), "Expires: 30".into()], T0);
    assert_eq!(status, 423);
    assert_eq!(header_values(&r, "Min-Expires"), ["60"]);
    // A Contact parameter beats the header, both ways.
    let (status, ..) = phone.send(
        &reg,
        &[
            "Contact: <sip:alice@h>;expires=59".into(),
            "Expires: 600".into(),
        ],
        T0,
    );
    assert_eq!(status, 423);
    let (status, r, _) = phone.send(
        &reg,
        &[
            "Contact: <sip:alice@h>;expires=60".into(),
            "Expires: 1".into(),
        ],
        T0,
    );
    assert_eq!(status, 200);
    assert_eq!(header_values(&r, "Contact"), ["<sip:alice@h>;expires=60"]);
    // Above the maximum: shortened, and the 200 says so.
    let (status, r, _) = phone.send(
        &reg,
        &[contact("sip:alice@h"), "Expires: 999999999999".into()],
        T0,
    );
    assert_eq!(status, 200);
    assert_eq!(header_values(&r, "Contact"), ["<sip:alice@h>;expires=3600"]);
    assert_eq!(
        reg.location().lookup("alice", T0)[0].expires_at_ms,
        T0 + 3_600_000
    );
    assert!(!reg.location().is_registered("alice", T0 + 3_600_000));
}

#[test]
fn several_contacts_ordered_by_q() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Md5);
    let (status, r, _) = phone.send(
        &reg,
        &[
            "Contact: <sip:alice@desk>;q=0.1, <sip:alice@mobile>".into(),
            "m: <sip:alice@laptop>;q=0.5;expires=120".into(),
        ],
        T0,
    );
    assert_eq!(status, 200);
    assert_eq!(
        contacts_of(&reg, "alice", T0),
        ["sip:alice@mobile", "sip:alice@laptop", "sip:alice@desk"]
    );
    assert_eq!(
        header_values(&r, "Contact"),
        [
            "<sip:alice@mobile>;expires=3600",
            "<sip:alice@laptop>;expires=120;q=0.5",
            "<sip:alice@desk>;expires=3600;q=0.1"
        ]
    );
    for bad in ["1.5", "0.1234", "abc", "\"0.5\""] {
        let (status, ..) = phone.send(&reg, &[format!("Contact: <sip:alice@desk>;q={bad}")], T0);
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(contacts_of(&reg, "alice", T0).len(), 3);
}

#[test]
fn star_removes_everything_and_is_policed() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    let (status, ..) = phone.send(&reg, &["Contact: <sip:alice@a>, <sip:alice@b>".into()], T0);
    assert_eq!(status, 200);
    for lines in [
        vec!["Contact: *".to_owned()],
        vec!["Contact: *".to_owned(), "Expires: 60".to_owned()],
        vec![
            "Contact: *, <sip:alice@a>".to_owned(),
            "Expires: 0".to_owned(),
        ],
        vec!["Contact: *;expires=0".to_owned(), "Expires: 0".to_owned()],
    ] {
        let (status, ..) = phone.send(&reg, &lines, T0);
        assert_eq!(status, 400, "{lines:?}");
    }
    assert_eq!(contacts_of(&reg, "alice", T0).len(), 2);
    let (status, r, result) = phone.send(&reg, &["Contact: *".into(), "Expires: 0".into()], T0);
    assert_eq!(status, 200);
    assert!(header_values(&r, "Contact").is_empty());
    let RegisterResult::Accepted { changes, .. } = result else {
        panic!()
    };
    assert_eq!(changes.len(), 2);
    assert!(!reg.location().is_registered("alice", T0));
}

#[test]
fn expiry_by_time() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    phone.send(&reg, &[contact("sip:alice@a"), "Expires: 60".into()], T0);
    assert!(reg.location().is_registered("alice", T0 + 59_999));
    assert!(reg.location().expire(T0 + 59_999).is_empty());
    assert_eq!(reg.location().count(T0 + 59_999), 1);
    assert!(!reg.location().is_registered("alice", T0 + 60_000));
    let gone = reg.location().expire(T0 + 60_000);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].contact, "sip:alice@a");
    assert_eq!(reg.location().count(T0), 0);
}

#[test]
fn refresh_and_cseq_ordering() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    phone.send(&reg, &[contact("sip:alice@a"), "Expires: 600".into()], T0);
    let first = reg.location().lookup("alice", T0)[0].clone();
    // Refresh with a higher CSeq: same binding, new expiry.
    let (status, ..) = phone.send(
        &reg,
        &[contact("sip:alice@a"), "Expires: 600".into()],
        T0 + 100_000,
    );
    assert_eq!(status, 200);
    let now = reg.location().lookup("alice", T0 + 100_000);
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].expires_at_ms, T0 + 700_000);
    assert!(now[0].cseq > first.cseq);
    let stored = now[0].cseq;

    // An older REGISTER of the same Call-ID arriving late fails as a whole,
    // even for the contact it adds.
    let nonce = phone.nonce.clone().unwrap();
    phone.nc += 1;
    let auth = authorization(
        "alice",
        "alice-pass",
        Algorithm::Sha256,
        &nonce,
        phone.nc,
        "REGISTER",
        &format!("sip:{REALM}"),
    );
    let late = register_msg(
        "alice",
        &phone.call_id,
        stored - 1,
        &[
            "Contact: <sip:alice@a>;expires=0, <sip:alice@new>".into(),
            format!("Authorization: {auth}"),
        ],
    );
    let out = reg.handle_register(
        &late,
        &inbound(&late, src(), Proto::Udp, None),
        T0 + 101_000,
    );
    assert_eq!(out.status, 500);
    assert_eq!(contacts_of(&reg, "alice", T0 + 101_000), ["sip:alice@a"]);
    // Equal CSeq is "not higher" either (§10.3 step 7).
    phone.nc += 1;
    let auth = authorization(
        "alice",
        "alice-pass",
        Algorithm::Sha256,
        &nonce,
        phone.nc,
        "REGISTER",
        &format!("sip:{REALM}"),
    );
    let same = register_msg(
        "alice",
        &phone.call_id,
        stored,
        &[contact("sip:alice@a"), format!("Authorization: {auth}")],
    );
    let out = reg.handle_register(
        &same,
        &inbound(&same, src(), Proto::Udp, None),
        T0 + 101_000,
    );
    assert_eq!(out.status, 500);
    // Another Call-ID (say, the phone rebooted) may start its CSeq anywhere.
    let mut rebooted = Phone::new("alice", "alice-pass", Algorithm::Md5);
    rebooted.call_id = "after-reboot".into();
    let (status, ..) = rebooted.send(
        &reg,
        &[contact("sip:alice@a"), "Expires: 60".into()],
        T0 + 102_000,
    );
    assert_eq!(status, 200);
    let b = &reg.location().lookup("alice", T0 + 102_000)[0];
    assert_eq!(b.call_id, "after-reboot");
    assert_eq!(b.expires_at_ms, T0 + 162_000);
}

#[test]
fn register_without_contact_fetches_bindings() {
    let reg = registrar();
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    phone.send(
        &reg,
        &["Contact: <sip:alice@a>;q=0.7, <sip:alice@b>".into()],
        T0,
    );
    let (status, r, result) = phone.send(&reg, &[], T0 + 10_000);
    assert_eq!(status, 200);
    assert_eq!(
        header_values(&r, "Contact"),
        [
            "<sip:alice@b>;expires=3590",
            "<sip:alice@a>;expires=3590;q=0.7"
        ]
    );
    let RegisterResult::Accepted {
        changes, bindings, ..
    } = result
    else {
        panic!()
    };
    assert!(changes.is_empty());
    assert_eq!(bindings.len(), 2);
    // Nobody else's bindings: bob fetches his own (none).
    let mut bob = Phone::new("bob", "bob-pass", Algorithm::Sha256);
    let (status, r, _) = bob.send(&reg, &[], T0);
    assert_eq!(status, 200);
    assert!(header_values(&r, "Contact").is_empty());
}

#[test]
fn source_address_and_connection_are_kept() {
    let reg = registrar();
    let nat: SocketAddr = "203.0.113.5:41234".parse().unwrap();
    let m = register_msg(
        "alice",
        "nat",
        1,
        &[contact("sip:alice@192.168.1.20:5060;transport=tcp")],
    );
    let r = parse_resp(
        &reg.handle_register(&m, &inbound(&m, nat, Proto::Tcp, Some(ConnId(7))), T0)
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
        "alice",
        "nat",
        2,
        &[
            contact("sip:alice@192.168.1.20:5060;transport=tcp"),
            format!("Authorization: {auth}"),
        ],
    );
    let out = reg.handle_register(&m, &inbound(&m, nat, Proto::Tcp, Some(ConnId(7))), T0);
    assert_eq!(out.status, 200);
    let top = String::from_utf8(parse_resp(&out.response).header("Via").unwrap().to_vec()).unwrap();
    assert!(top.ends_with(";rport=41234;received=203.0.113.5"), "{top}");
    let b = &reg.location().lookup("alice", T0)[0];
    assert_eq!(b.contact, "sip:alice@192.168.1.20:5060;transport=tcp");
    assert_eq!(b.source, nat);
    assert_eq!(b.proto, Proto::Tcp);
    assert_eq!(b.conn, Some(ConnId(7)));
    assert_eq!(b.call_id, "nat");
    assert_eq!(b.cseq, 2);
}

#[test]
fn bindings_per_aor_are_capped() {
    let c = RegistrarConfig {
        max_bindings_per_aor: 3,
        ..config()
    };
    let reg = registrar_with(c.clone(), Location::new(c.location_config()));
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    for i in 1..=4 {
        let (status, ..) = phone.send(
            &reg,
            &[contact(&format!("sip:alice@dev{i}"))],
            T0 + i * 1000,
        );
        assert_eq!(status, 200);
    }
    assert_eq!(
        contacts_of(&reg, "alice", T0 + 5000),
        ["sip:alice@dev4", "sip:alice@dev3", "sip:alice@dev2"]
    );
    // More contacts in one request than may be kept: refused outright.
    let (status, ..) = phone.send(
        &reg,
        &["Contact: <sip:alice@x1>, <sip:alice@x2>, <sip:alice@x3>, <sip:alice@x4>".into()],
        T0 + 6000,
    );
    assert_eq!(status, 403);
    assert_eq!(contacts_of(&reg, "alice", T0 + 6000).len(), 3);
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

fn raw(s: &str) -> SipMessage {
    parse(Bytes::from(s.to_owned()), true).unwrap()
}

#[test]
fn invalid_registers_get_400_with_a_reason() {
    let reg = registrar();
    let base = |to: &str, extra: &str| {
        format!(
            "REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKx\r\n\
             From: <sip:alice@{REALM}>;tag=1\r\n{to}Call-ID: c\r\nCSeq: 1 REGISTER\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        )
    };
    let cases = [
        (base("", ""), 400, "Missing To header"),
        (
            base("To: <sip:@x>\r\n", ""),
            400,
            "Malformed To header: malformed user part",
        ),
        (
            base("To: <tel:+15551234>\r\n", ""),
            400,
            "To URI must be a sip or sips URI",
        ),
        (
            base("To: <sip:example.com>\r\n", ""),
            400,
            "To URI has no user part",
        ),
        (
            base("To: <sip:alice@x>\r\n", "Contact: <mailto:a@b>\r\n"),
            400,
            "",
        ),
        (
            format!(
                "REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 REGISTER\r\n\r\n"
            ),
            400,
            "Missing Call-ID header",
        ),
        (
            format!(
                "REGISTER sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n\r\n"
            ),
            400,
            "Missing CSeq header",
        ),
        (
            "REGISTER tel:+1555 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\r\n"
                .to_owned(),
            416,
            "Unsupported URI Scheme",
        ),
        (
            format!(
                "INVITE sip:{REALM} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
                 From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
            ),
            400,
            "Not a REGISTER request",
        ),
        (
            base("To: <sip:alice@x>\r\n", "Require: path, gruu\r\n"),
            420,
            "Bad Extension",
        ),
    ];
    for (text, code, reason) in cases {
        let m = raw(&text);
        let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0);
        let r = parse_resp(&out.response);
        // Contact checks come after authentication; that one is challenged.
        if reason.is_empty() {
            assert_eq!(out.status, 401);
            continue;
        }
        assert_eq!(out.status, code, "{text}");
        assert_eq!(r.reason().unwrap(), reason.as_bytes(), "{text}");
        if code == 420 {
            assert_eq!(header_values(&r, "Unsupported"), ["path", "gruu"]);
        }
    }
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    let (status, r, _) = phone.send(&reg, &[contact("mailto:alice@example.com")], T0);
    assert_eq!(status, 400);
    assert_eq!(
        r.reason().unwrap(),
        b"Contact URI must be a sip or sips URI"
    );
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

#[test]
fn changes_reach_the_sink() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let c = config();
    let loc = Location::with_sink(
        LocationConfig::default(),
        Box::new(move |ch| s.lock().unwrap().push(ch)),
    );
    let reg = registrar_with(c, loc);
    let mut phone = Phone::new("alice", "alice-pass", Algorithm::Sha256);
    phone.send(&reg, &[contact("sip:alice@a")], T0);
    phone.send(&reg, &["Contact: <sip:alice@a>;expires=0".into()], T0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(matches!(&seen[0], LocationChange::Upsert(b) if b.contact == "sip:alice@a"));
    assert_eq!(
        seen[1],
        LocationChange::Remove {
            aor: "alice".into(),
            contact: "sip:alice@a".into()
        }
    );
}

/// Deterministic xorshift, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_registers_never_panic() {
    let reg = registrar();
    let m = register_msg("alice", "fz", 1, &[contact("sip:alice@h")]);
    let r = parse_resp(
        &reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), T0)
            .response,
    );
    let nonce = nonce_for(&r, "WWW-Authenticate", Algorithm::Sha256);
    let seeds: Vec<Vec<u8>> = vec![
        m.as_bytes().to_vec(),
        register_msg(
            "alice",
            "fz",
            2,
            &[
                "Contact: <sip:alice@h;transport=tcp>;q=0.5;expires=120, *".into(),
                "Expires: 0".into(),
            ],
        )
        .as_bytes()
        .to_vec(),
        register_msg(
            "alice",
            "fz",
            3,
            &[
                "Contact: \"A, B\" <sip:%61lice@[2001:db8::1]:5070;ob>;q=1.000;expires=3600".into(),
                "m: <sip:alice@h2>;q=0.25, <sips:alice@h3:5061>;expires=0".into(),
                "Require: ".into(),
            ],
        )
        .as_bytes()
        .to_vec(),
        register_msg(
            "alice",
            "fz",
            4,
            &["Contact: *".into(), "Expires: 0".into()],
        )
        .as_bytes()
        .to_vec(),
    ];
    let alphabet: &[u8] = b"<>;=,:*@\"%. \t\r\n0123456789qexpiresREGISTERsip/abc\x00\xff";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut nc = 0;
    for i in 0..6000 {
        let mut b = seeds[i % seeds.len()].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(b.len());
            match rng.below(4) {
                0 => b[at] = alphabet[rng.below(alphabet.len())],
                1 => b.insert(at, alphabet[rng.below(alphabet.len())]),
                2 => {
                    b.remove(at);
                }
                _ => {
                    let len = rng.below(20).min(b.len() - at);
                    let chunk: Vec<u8> = b[at..at + len].to_vec();
                    let to = rng.below(b.len());
                    b.splice(to..to, chunk);
                }
            }
            if b.is_empty() {
                b.push(b'R');
            }
        }
        // Half the mutants carry fresh valid credentials, so the paths
        // behind authentication get mutated input too.
        if i % 2 == 0 {
            nc += 1;
            let auth = authorization(
                "alice",
                "alice-pass",
                Algorithm::Sha256,
                &nonce,
                nc,
                "REGISTER",
                &format!("sip:{REALM}"),
            );
            let line = format!("Authorization: {auth}\r\n");
            let at = b.windows(2).position(|w| w == b"\r\n").map_or(0, |p| p + 2);
            b.splice(at..at, line.into_bytes());
        }
        let Ok(m) = parse(Bytes::from(b), true) else {
            continue;
        };
        let now = T0 + (rng.below(290) as i64) * 1000;
        let out = reg.handle_register(&m, &inbound(&m, src(), Proto::Udp, None), now);
        *statuses.entry(out.status).or_default() += 1;
        let _ = reg.authenticate(&m, true, now);
        // Whatever was wrong with the request, the answer is well formed
        // as long as the request had the headers a response copies.
        if validate_ok(&m) {
            assert!(
                parse(out.response.clone(), true).is_ok(),
                "{:?}",
                out.response
            );
        }
    }
    let parsed: usize = statuses.values().sum();
    assert!(parsed > 3000, "only {parsed} mutants parsed: {statuses:?}");
    for code in [200, 400, 401] {
        assert!(
            statuses.get(&code).copied().unwrap_or(0) > 50,
            "{statuses:?}"
        );
    }
    reg.location().expire(T0 + 10_000_000);
}

fn validate_ok(m: &SipMessage) -> bool {
    protocall::sip::validate::check_request(m).is_ok()
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
