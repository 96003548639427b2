//! Registrar behaviour end to end: REGISTER bytes in, response bytes and
//! location state out (RFC 3261 §10.3): bindings, expiry, refresh order,
//! caps and the change feed; and the fixtures the registrar's other test
//! files share (`sip_registrar_auth`: RFC 7616 digest; `sip_registrar_input`:
//! malformed and mutated REGISTERs).

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
    CredentialSource, RegisterResult, Registrar, RegistrarConfig, UserSecret,
};
use protocall::sip::transport::{ConnId, Inbound, Proto};

pub(super) const REALM: &str = "protocall.test";
pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) fn users() -> HashMap<String, UserSecret> {
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

pub(super) fn config() -> RegistrarConfig {
    RegistrarConfig {
        realm: REALM.into(),
        ..RegistrarConfig::default()
    }
}

pub(super) fn registrar_with(config: RegistrarConfig, location: Location) -> Registrar {
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

pub(super) fn registrar() -> Registrar {
    let c = config();
    let loc = Location::new(c.location_config());
    registrar_with(c, loc)
}

pub(super) fn src() -> SocketAddr {
    "198.51.100.7:40123".parse().unwrap()
}

pub(super) fn inbound(
    msg: &SipMessage,
    source: SocketAddr,
    proto: Proto,
    conn: Option<ConnId>,
) -> Inbound {
    Inbound {
        bytes: msg.as_bytes().clone(),
        source,
        local: "192.0.2.1:5060".parse().unwrap(),
        proto,
        conn,
    }
}

pub(super) fn hex_hash(alg: Algorithm, s: &str) -> String {
    match alg {
        Algorithm::Md5 => hex::encode(Md5::digest(s.as_bytes())),
        Algorithm::Sha256 => hex::encode(Sha256::digest(s.as_bytes())),
    }
}

/// A client computing its digest response straight from RFC 7616 §3.4.1.
#[allow(clippy::too_many_arguments)]
pub(super) fn authorization(
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
pub(super) fn register_msg(to: &str, call_id: &str, cseq: u32, lines: &[String]) -> SipMessage {
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

pub(super) fn parse_resp(b: &Bytes) -> SipMessage {
    parse(b.clone(), true).unwrap()
}

pub(super) fn header_values(m: &SipMessage, name: &str) -> Vec<String> {
    m.headers(name)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect()
}

/// The nonce offered for `alg` in a 401/407.
pub(super) fn nonce_for(resp: &SipMessage, header: &str, alg: Algorithm) -> String {
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
pub(super) struct Phone {
    pub(super) user: &'static str,
    pub(super) password: &'static str,
    pub(super) alg: Algorithm,
    pub(super) call_id: String,
    pub(super) cseq: u32,
    pub(super) nonce: Option<String>,
    pub(super) nc: u32,
    pub(super) source: SocketAddr,
}

impl Phone {
    pub(super) fn new(user: &'static str, password: &'static str, alg: Algorithm) -> Phone {
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

    pub(super) fn message(&mut self, lines: &[String]) -> SipMessage {
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
    pub(super) fn send(
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

pub(super) fn contact(uri: &str) -> String {
    format!("Contact: <{uri}>")
}

pub(super) fn contacts_of(reg: &Registrar, aor: &str, now: i64) -> Vec<String> {
    reg.location()
        .lookup(aor, now)
        .into_iter()
        .map(|b| b.contact)
        .collect()
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
            contact: "sip:alice@a".into(),
            expired: false,
        }
    );
}

pub(super) fn raw(s: &str) -> SipMessage {
    parse(Bytes::from(s.to_owned()), true).unwrap()
}
