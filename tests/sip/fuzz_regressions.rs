//! Inputs the fuzz targets in `fuzz/` found to break something, kept as
//! tests with their bytes inline so they run on stable with `cargo test`.
//! Each test names the target that found it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use protocall::metrics::SipMetrics;
use protocall::net::TrustedPeers;
use protocall::sip::edit::response;
use protocall::sip::location::{Binding, ContactUpdate, Location, LocationConfig, Update};
use protocall::sip::parse::{
    frame_stream, parse, parse_with_limits, Frame, Limits, DEFAULT_MAX_MESSAGE_SIZE,
};
use protocall::sip::proxy::{EdgeConfig, Proxy, ProxyConfig, RouteKey, Wire};
use protocall::sip::router::LocationRouter;
use protocall::sip::transaction::Timers;
use protocall::sip::transport::{ConnId, Inbound, Outbound, Proto};

const TRUNK: &str = "192.0.2.10:5060";
const BOB_PHONE: &str = "192.0.2.21:5060";

#[derive(Default)]
struct Recorder(Mutex<Vec<(Outbound, Bytes)>>);

impl Wire for Recorder {
    fn send(&self, to: Outbound, bytes: Bytes) {
        self.0.lock().unwrap().push((to, bytes));
    }
}

/// The fuzz target's set-up, less the registrar: bob registered over TCP,
/// the trunk trusted.
fn proxy() -> Proxy {
    let location = Arc::new(Location::new(LocationConfig {
        max_bindings_per_aor: 4,
    }));
    let now = chrono::Utc::now().timestamp_millis();
    let source: SocketAddr = BOB_PHONE.parse().unwrap();
    let binding = Binding {
        aor: "bob".into(),
        contact: format!("sip:bob@{source};transport=tcp"),
        q: 1000,
        expires_at_ms: now + 3_600_000,
        registered_at_ms: now,
        source,
        proto: Proto::Tcp,
        conn: Some(ConnId(3)),
        call_id: "bob-boot".into(),
        cseq: 1,
        user_agent: None,
    };
    let update = Update::Register {
        call_id: "bob-boot".into(),
        cseq: 1,
        contacts: vec![ContactUpdate::Upsert(binding)],
    };
    location.apply("bob", update, now).unwrap();
    Proxy::new(
        ProxyConfig {
            timers: Timers::default(),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 5060,
            advertised_tls_port: None,
            resolver: None,
            local_hosts: vec!["protocall.test".into()],
            front_addresses: Vec::new(),
            shards: 4,
            trusted: TrustedPeers::parse(&["192.0.2.10"]).unwrap(),
            edge: EdgeConfig::new(RouteKey::random().unwrap(), "protocall.test"),
        },
        Arc::new(LocationRouter { location }),
        None,
        None,
        SipMetrics::unregistered(),
    )
}

fn udp_from(source: &str, bytes: &'static [u8]) -> Inbound {
    Inbound {
        bytes: Bytes::from_static(bytes),
        source: source.parse().unwrap(),
        local: "127.0.0.1:5060".parse().unwrap(),
        proto: Proto::Udp,
        conn: None,
    }
}

/// Found by `proxy`: a datagram may leave out Content-Length (its body ends
/// with the packet, RFC 3261 §18.3), and the proxy relayed it to a phone
/// registered over TCP still without one. Over a stream nothing then marks
/// where the body ends: the phone waits for more bytes or reads the SDP as
/// the next message, and the call never rings.
#[test]
fn a_datagram_without_content_length_reaches_a_tcp_phone_framed() {
    const INVITE: &[u8] = b"INVITE sip:bob@protocall.test SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKt4;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:+15550100@192.0.2.10>;tag=caller1\r\n\
To: <sip:bob@protocall.test>\r\n\
Call-ID: c4@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+15550100@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
ConteBYEnt-Length: 89\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 4000 RTP/AVP 0\r\n";
    let body = &INVITE[INVITE.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];

    let p = proxy();
    let wire = Recorder::default();
    p.on_message(udp_from(TRUNK, INVITE), &wire);

    let sent = wire.0.lock().unwrap();
    let (_, relayed) = sent
        .iter()
        .find(|(to, _)| to.proto == Proto::Tcp && to.dest == BOB_PHONE.parse().unwrap())
        .expect("the INVITE is relayed to bob over TCP");
    assert_eq!(
        frame_stream(relayed, DEFAULT_MAX_MESSAGE_SIZE).ok(),
        Some(Frame::Message(relayed.len())),
        "the relayed INVITE must be exactly one TCP frame: {:?}",
        String::from_utf8_lossy(relayed)
    );
    let msg = parse(relayed.clone(), false).unwrap();
    assert_eq!(msg.content_length(), Some(body.len()));
    assert_eq!(msg.body(), body, "the SDP arrives whole");
}

/// Found by `parse` (minimised from its crash input): the reply to a
/// request copied each Via *value* onto a line of its own, so 192 bytes
/// packing a hundred empty values into one Via line drew a 400 of some
/// 125 header lines, more than our own parser (and the transport's limit)
/// accepts, and about seven reply bytes per comma sent: an amplifier for
/// anyone who can spoof a source address. Every To line was likewise
/// rewritten with a tag: "t:" lines came back five times their size.
#[test]
fn a_reply_is_no_larger_than_the_request_it_answers() {
    const PACKED_VIAS: &[u8] = b"B t SIP/2.0\nV:,U\nVia:0\nTo:\n\
Via: ,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,a,,,,,,,,,,,,,,,,,,,,,,,,,,\n\
Via:0\nCSeq: \nTo:\nV: O\nVia:,\r\nV:P\nCSeq:\nT:\n\r\n";
    let many_tos = [&b"OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\n"[..]]
        .into_iter()
        .chain(std::iter::repeat_n(&b"t:\n"[..], 100))
        .chain([&b"\n"[..]])
        .flatten()
        .copied()
        .collect::<Vec<u8>>();

    for request in [PACKED_VIAS.to_vec(), many_tos] {
        let req = parse(Bytes::from(request.clone()), true).unwrap();
        // What a reply may add: status line, stamp on the top Via, To tag,
        // Content-Length.
        let bounded = |reply: &Bytes| {
            let limits = Limits {
                max_message_size: request.len() + 256,
                max_headers: req.header_entries().len() + 2,
            };
            parse_with_limits(reply.clone(), true, &limits).unwrap_or_else(|e| {
                panic!(
                    "{e}: a {}-byte request drew {:?}",
                    request.len(),
                    String::from_utf8_lossy(reply)
                )
            })
        };
        let reply = response(&req, 400)
            .to_tag("t1")
            .source(TRUNK.parse().unwrap())
            .build();
        let r = bounded(&reply);
        // The Via values are still all there, in order (RFC 3261 §8.2.6.2).
        let sent: Vec<_> = req.headers("Via").map(|v| v.into_owned()).collect();
        let back: Vec<_> = r.headers("Via").map(|v| v.into_owned()).collect();
        assert_eq!(back.len(), sent.len());
        assert_eq!(back[1..], sent[1..]);
        assert_eq!(r.header_count("To"), req.header_count("To"));

        // And through the proxy, from a stranger.
        let p = proxy();
        let wire = Recorder::default();
        let inbound = Inbound {
            bytes: Bytes::from(request.clone()),
            ..udp_from("203.0.113.9:5062", b"")
        };
        p.on_message(inbound, &wire);
        for (_, out) in wire.0.lock().unwrap().iter() {
            bounded(out);
        }
    }
}

/// fuzz/parse: a screen-pop display name put on an unbracketed From whose
/// URI text ends in `>` (`From:ip:caller@example.com>;tag=323`, which the
/// parser accepts as an opaque URI) made the relayed From unparsable. Such a
/// From is now relayed as it came; URI and tag never change.
#[test]
fn screen_pop_leaves_an_odd_from_parsable() {
    use protocall::sip::edit::{quoted, Relay};
    let raw = b"OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\n\
From:ip:caller@example.com>;tag=323\r\nMax-Forwards: 70\r\nCall-ID:  transports.kijh4akdnaqjkwendsasfdj\r\n\
CSeq: 60 OPTIONS\r\nVia: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n";
    let msg = parse(Bytes::from_static(raw), true).unwrap();
    let before = msg.from().unwrap();
    let relayed = Relay {
        from_display: Some(quoted("NetSul Telecom \u{b7} 2026-000001")),
        ..Default::default()
    }
    .apply(&msg);
    let copy = parse(relayed, true).unwrap();
    let after = copy.from().unwrap();
    assert_eq!(before.uri.raw, after.uri.raw);
    assert_eq!(before.tag(), after.tag());
}

/// fuzz/parse: a Via line listing nothing (`Via: `) is a Via header by
/// count but names no hop, and the validator let it through to a proxy that
/// reads the top Via of every request it accepts. It is refused now, and the
/// refusal goes back to where the datagram came from.
#[test]
fn a_request_whose_via_lists_nothing_is_refused() {
    const EMPTY_VIA: &[u8] = b"OPTIONS sip:bob@protocall.test SIP/2.0\r\n\
Via: \r\n\
Max-Forwards: 70\r\n\
From: <sip:+15550100@192.0.2.10>;tag=caller1\r\n\
To: <sip:bob@protocall.test>\r\n\
Call-ID: ev@192.0.2.10\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\
\r\n";
    let p = proxy();
    let wire = Recorder::default();
    p.on_message(udp_from(TRUNK, EMPTY_VIA), &wire);

    let sent = wire.0.lock().unwrap();
    assert_eq!(sent.len(), 1, "one answer, nothing relayed");
    let (to, reply) = &sent[0];
    assert_eq!(to.dest, TRUNK.parse().unwrap());
    let reply = parse(reply.clone(), true).unwrap();
    assert_eq!(reply.status(), Some(400));
    assert_eq!(reply.reason(), Some(&b"Empty Via header"[..]));
}
