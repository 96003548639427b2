//! The RFC 4475 / RFC 5118 torture messages sent to the running daemon, one
//! datagram each. Every message must get exactly the answer our own
//! parse + validate owe it (`tests/sip/sip_torture.rs` pins those per file),
//! `invalid` rows only ever a 4xx/5xx or silence, and the daemon must still
//! answer afterwards: nothing panics, hangs or is relayed with a defect.

use crate::support;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use protocall::sip::message::Method;
use protocall::sip::parse::parse;
use protocall::sip::validate::{check_request, check_response, reject_for_parse_error, Reject};
use support::{Backend, TestApp};
use tokio::net::UdpSocket;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture")
}

/// What the daemon owes a datagram, from the library's own verdict.
#[derive(Debug, PartialEq)]
enum Owed {
    /// A final response with exactly this code.
    Code(u16),
    /// Nothing at all (a response, an ACK, or something dropped).
    Silence,
    /// A request we accept: it is routed, so its final depends on where it
    /// goes (unresolvable hosts in these files give 404; Max-Forwards 0
    /// gives 483 …) but it must be a final, well-formed response.
    Routed,
}

fn owed(bytes: &[u8]) -> Owed {
    match parse(Bytes::copy_from_slice(bytes), true) {
        Err(e) => match reject_for_parse_error(&e) {
            Reject::Respond { code, .. } => Owed::Code(code),
            Reject::Drop { .. } => Owed::Silence,
        },
        Ok(m) if !m.is_request() => {
            let _ = check_response(&m);
            Owed::Silence
        }
        Ok(m) => match check_request(&m) {
            Err(Reject::Respond { .. }) if m.method() == Some(Method::Ack) => Owed::Silence,
            Err(Reject::Respond { code, .. }) => Owed::Code(code),
            Err(Reject::Drop { .. }) => Owed::Silence,
            Ok(()) if m.method() == Some(Method::Ack) => Owed::Silence,
            Ok(()) => Owed::Routed,
        },
    }
}

async fn finals(sock: &UdpSocket, wait: Duration) -> Vec<u16> {
    let mut codes = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut deadline = tokio::time::Instant::now() + wait;
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await {
        let m = parse(Bytes::copy_from_slice(&buf[..n]), true)
            .expect("the daemon's own responses parse");
        let code = m.status().expect("only responses come back");
        if code >= 200 {
            if codes.is_empty() {
                // Linger a little for a second, different final (there
                // must not be one), then stop.
                deadline = tokio::time::Instant::now() + Duration::from_millis(150);
            }
            codes.push(code);
        }
    }
    codes
}

#[tokio::test]
async fn torture_messages_on_the_wire() {
    // A short T1 so requests relayed to dead ends time out (Timer F/B =
    // 64·T1) within the test's patience.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("PROTOCALL__SIP__T1_MS", "10")]).await;
    let manifest = fs::read_to_string(data_dir().join("MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    // Several RFC 5118 messages reuse one branch and sent-by, which makes
    // them the same transaction (RFC 3261 §17.2.3): a second one would be
    // answered as a retransmission. Wait out the first (Timer F or B, then
    // J or H, each 64·T1) before sending the next.
    let mut seen: std::collections::HashMap<Vec<u8>, tokio::time::Instant> = Default::default();
    for line in manifest.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[3]);
        let bytes = fs::read(data_dir().join(file)).unwrap();
        let owed = owed(&bytes);
        if expected == "valid" {
            assert!(
                parse(Bytes::copy_from_slice(&bytes), true).is_ok(),
                "{file}: a valid message must parse"
            );
        }
        if let Ok(m) = parse(Bytes::copy_from_slice(&bytes), true) {
            if let Ok(v) = m.top_via() {
                let key = [v.branch.unwrap_or_default().to_vec(), v.raw.to_vec()].concat();
                if let Some(at) = seen.get(&key) {
                    tokio::time::sleep_until(*at + Duration::from_millis(1600)).await;
                }
                seen.insert(key, tokio::time::Instant::now());
            }
        }
        // A fresh socket per file, so a late answer cannot be misread.
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sock.send_to(&bytes, app.sip_udp).await.unwrap();
        let wait = if owed == Owed::Silence { 300 } else { 3000 };
        let codes = finals(&sock, Duration::from_millis(wait)).await;
        // Without an ACK a non-2xx final to an INVITE is retransmitted
        // (Timer G), so the same final may arrive more than once.
        let same = codes.windows(2).all(|w| w[0] == w[1]);
        assert!(
            same,
            "{file}: one final, possibly retransmitted; got {codes:?}"
        );
        match owed {
            Owed::Code(c) => assert_eq!(codes.first(), Some(&c), "{file}: got {codes:?}"),
            Owed::Silence => assert!(codes.is_empty(), "{file}: expected silence, got {codes:?}"),
            Owed::Routed => assert!(!codes.is_empty(), "{file}: expected a final"),
        }
        if expected == "invalid" {
            assert!(
                codes.iter().all(|c| (400..600).contains(c)),
                "{file}: an invalid message may only be refused, got {codes:?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 61, "every manifest row was sent");

    // Still standing: a health check over SIP.
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let port = app.sip_udp.port();
    let options = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKalive\r\n\
         From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: alive@test\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(options.as_bytes(), app.sip_udp).await.unwrap();
    assert_eq!(finals(&sock, Duration::from_millis(1500)).await, vec![200]);
}
