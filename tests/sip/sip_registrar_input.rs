//! REGISTERs the registrar must refuse cleanly: malformed ones get 400
//! with a reason, and randomly mutated ones never panic it.

use super::sip_registrar::*;
use std::collections::HashMap;

use bytes::Bytes;

use protocall::sip::digest::Algorithm;
use protocall::sip::message::SipMessage;
use protocall::sip::parse::parse;
use protocall::sip::transport::Proto;

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
