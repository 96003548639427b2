//! Inputs the fuzz targets in `fuzz/` found to break something, kept as
//! tests with their bytes inline so they run on stable with `cargo test`.
//! Each test names the target that found it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use protocall::location::{Binding, ContactUpdate, Location, LocationConfig, Update};
use protocall::metrics::SipMetrics;
use protocall::routing::caller::TrustedPeers;
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use protocall::sip::proxy::{Proxy, ProxyConfig, Wire};
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
            local_hosts: vec!["protocall.test".into()],
            shards: 4,
            trusted: TrustedPeers::parse(&["192.0.2.10"]).unwrap(),
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
