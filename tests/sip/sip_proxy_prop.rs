//! Property tests over the whole request path: any bytes, and mutated
//! torture messages, go through `Proxy::on_message` (and its timers) without
//! a panic, and everything the proxy sends is a well-formed SIP message.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use proptest::prelude::*;
use protocall::metrics::SipMetrics;
use protocall::sip::location::{Location, LocationConfig};
use protocall::sip::parse::parse;
use protocall::sip::proxy::{EdgeConfig, Proxy, ProxyConfig, RouteKey, Wire};
use protocall::sip::router::LocationRouter;
use protocall::sip::transaction::Timers;
use protocall::sip::transport::{Inbound, Outbound, Proto};

#[derive(Default)]
struct Recorder(Mutex<Vec<(Outbound, Bytes)>>);

impl Wire for Recorder {
    fn send(&self, to: Outbound, bytes: Bytes) {
        self.0.lock().unwrap().push((to, bytes));
    }
}

fn proxy() -> Proxy {
    let location = Arc::new(Location::new(LocationConfig {
        max_bindings_per_aor: 4,
    }));
    Proxy::new(
        ProxyConfig {
            timers: Timers::default(),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 5060,
            advertised_tls_port: None,
            resolver: None,
            local_hosts: vec!["localhost".into()],
            front_addresses: Vec::new(),
            shards: 8,
            trusted: Default::default(),
            edge: EdgeConfig::new(RouteKey::random().unwrap(), "protocall"),
        },
        Arc::new(LocationRouter { location }),
        None,
        None,
        SipMetrics::unregistered(),
    )
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect()
}

fn feed(p: &Proxy, wire: &Recorder, bytes: Vec<u8>, proto: Proto) {
    let source: SocketAddr = "192.0.2.1:5062".parse().unwrap();
    p.on_message(
        Inbound {
            bytes: Bytes::from(bytes),
            source,
            local: "127.0.0.1:5060".parse().unwrap(),
            proto,
            conn: None,
        },
        wire,
    );
    p.tick(wire);
    for (_, out) in wire.0.lock().unwrap().drain(..) {
        assert!(
            parse(out.clone(), true).is_ok(),
            "the proxy sent something unparsable: {:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let p = proxy();
        let w = Recorder::default();
        feed(&p, &w, bytes.clone(), Proto::Udp);
        feed(&p, &w, bytes, Proto::Tcp);
    }

    #[test]
    fn mutated_torture_messages_never_panic(
        pick in 0usize..61,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let corpus = corpus();
        let mut msg = corpus[pick % corpus.len()].clone();
        for (at, b) in edits {
            if !msg.is_empty() {
                let i = at % msg.len();
                msg[i] = b;
            }
        }
        if cut % 4 == 0 && !msg.is_empty() {
            msg.truncate(cut % msg.len());
        }
        let p = proxy();
        let w = Recorder::default();
        // Twice: the second is a retransmission, taking the absorbing path.
        feed(&p, &w, msg.clone(), Proto::Udp);
        feed(&p, &w, msg, Proto::Udp);
    }
}

#[test]
fn every_torture_message_twice_through_one_proxy() {
    let p = proxy();
    let w = Recorder::default();
    for m in corpus() {
        feed(&p, &w, m.clone(), Proto::Udp);
        feed(&p, &w, m, Proto::Tcp);
    }
}
