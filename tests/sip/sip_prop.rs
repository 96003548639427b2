//! Property tests: no input makes the wire layer panic, and stream framing
//! recovers exactly the messages that were sent however the bytes are cut.

use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use proptest::prelude::*;
use protocall::sip::message::SipMessage;
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use protocall::sip::validate::{check_request, check_response, reject_for_parse_error};

fn exercise(m: &SipMessage) {
    let _ = (
        m.method(),
        m.request_uri(),
        m.parsed_request_uri(),
        m.status(),
        m.reason(),
    );
    let _ = (
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.call_id(),
        m.from_tag(),
        m.to_tag(),
    );
    let _ = (m.top_via(), m.vias().count(), m.contacts().count());
    let _ = (m.routes().count(), m.record_routes().count(), m.body());
    for name in ["Via", "Contact", "To", "l", "Route", "X-Unknown"] {
        let _ = (m.header(name), m.headers(name).count());
    }
    let _ = (check_request(m), check_response(m));
}

fn run_all(bytes: &[u8]) {
    let _ = frame_stream(bytes, DEFAULT_MAX_MESSAGE_SIZE);
    let _ = frame_stream(bytes, 64);
    for datagram in [true, false] {
        match parse(Bytes::copy_from_slice(bytes), datagram) {
            Ok(m) => exercise(&m),
            Err(e) => {
                let _ = reject_for_parse_error(&e);
            }
        }
    }
}

fn torture_files() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture");
    let manifest = fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect()
}

/// Bytes that are likely to reach deep into the parsers.
fn sip_ish_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(b" \t\r\n:;,=<>\"\\@[]/?%0123456789sipSIP".to_vec()),
    ]
}

/// One well-formed message with a random body (which may itself contain
/// CRLFCRLF and NULs, so framing must rely on Content-Length).
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..120),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0u32..1000,
    )
        .prop_map(|(body, compact, folded, bare_lf, n)| {
            let nl: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
            let mut m = Vec::new();
            let mut line = |s: &[u8]| {
                m.extend_from_slice(s);
                m.extend_from_slice(nl);
            };
            line(b"MESSAGE sip:bob@example.com SIP/2.0");
            line(format!("Via: SIP/2.0/TCP h{n}.example.com;branch=z9hG4bK{n}").as_bytes());
            if folded {
                line(b"Subject: a");
                line(b"  folded, value");
            }
            line(format!("Call-ID: {n}@example.com").as_bytes());
            let cl = if compact { "l" } else { "Content-Length" };
            line(format!("{cl} : {}", body.len()).as_bytes());
            line(b"");
            m.extend_from_slice(&body);
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        run_all(&bytes);
    }

    #[test]
    fn sip_shaped_bytes_never_panic(bytes in prop::collection::vec(sip_ish_byte(), 0..600)) {
        let mut with_head = b"INVITE sip:a@b SIP/2.0\r\nVia: ".to_vec();
        with_head.extend_from_slice(&bytes);
        run_all(&with_head);
        run_all(&bytes);
    }

    #[test]
    fn mutated_torture_files_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), sip_ish_byte()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let files = torture_files();
        let mut bytes = pick.get(&files).clone();
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        run_all(&bytes);
        bytes.truncate(cut.index(bytes.len() + 1));
        run_all(&bytes);
    }

    #[test]
    fn stream_framing_recovers_every_message(
        msgs in prop::collection::vec((message(), 0usize..3), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for (m, keepalives) in &msgs {
            for _ in 0..*keepalives {
                wire.extend_from_slice(b"\r\n\r\n");
            }
            wire.extend_from_slice(m);
            sent.push(m.clone());
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();

        let mut buf: Vec<u8> = Vec::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut prev = 0;
        for p in points {
            buf.extend_from_slice(&wire[prev..p]);
            prev = p;
            loop {
                match frame_stream(&buf, DEFAULT_MAX_MESSAGE_SIZE).unwrap() {
                    Frame::KeepAlive { len, .. } => { buf.drain(..len); }
                    Frame::Message(n) => {
                        let framed: Vec<u8> = buf.drain(..n).collect();
                        let parsed = parse(Bytes::from(framed.clone()), false).unwrap();
                        prop_assert!(parsed.content_length().is_some());
                        got.push(framed);
                    }
                    Frame::Incomplete => break,
                }
            }
        }
        prop_assert_eq!(got, sent);
        prop_assert!(buf.is_empty());
    }
}
