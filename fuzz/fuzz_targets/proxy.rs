//! Fuzz target `proxy`: the whole request path. A real `Proxy` with a
//! location router (alice and bob registered) and a registrar (alice and
//! bob known) receives a sequence of messages split from the input, from
//! several sources, over UDP and TCP, with its clock moved in between, so
//! that transactions, dialogs and timers interact.
//!
//! Input format (see fuzz/README.md): messages separated by `\n%%%%`; every
//! message after the first starts with one control byte `c`:
//! source = c % 4 (untrusted, trusted trunk, alice's phone, bob's phone),
//! TCP when (c / 4) % 2 == 1, and (c / 8) % 8 picks how far the clock moves
//! before delivery. Placeholders let a message answer what the proxy sent
//! (a fuzzer cannot guess random branches or compute digests):
//! `$BRANCH`, `$VIAS`, `$RR`, `$CALLID`, `$FROMTAG` come from the last request the
//! proxy sent, `$AUTH` becomes a correct digest answer for the message's
//! From user (password `<user>-pass`).
//!
//! Asserted besides "never panics": everything the proxy sends parses with
//! the framing of the transport it goes out on, and every request it sends
//! passes the same admission check it applies to what it receives.

#![no_main]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protocall::sip::location::{Binding, ContactUpdate, Location, LocationConfig, Update};
use protocall::metrics::SipMetrics;
use protocall::net::TrustedPeers;
use protocall::sip::digest::{
    expected_response, unix_now, Algorithm, Credentials, NonceSigner, Qop, StoredHa1,
};
use protocall::sip::message::SipMessage;
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use protocall::sip::proxy::{EdgeConfig, Proxy, ProxyConfig, RouteKey, Wire};
use protocall::sip::registrar::{CredentialSource, Registrar, RegistrarConfig, UserSecret};
use protocall::sip::router::LocationRouter;
use protocall::sip::transaction::Timers;
use protocall::sip::transport::{ConnId, Inbound, Outbound, Proto};
use protocall::sip::validate::check_request;

const REALM: &str = "protocall.test";
const SEPARATOR: &[u8] = b"\n%%%%";
/// Bounds the work one input can cause.
const MAX_MESSAGES: usize = 32;
/// How far the clock moves before a message: nothing, less than T1, T1,
/// T2, past 32 s (timers B, F, H, J), past Timer C, and an hour.
const ADVANCE_MS: [u64; 8] = [0, 100, 600, 4_000, 33_000, 65_000, 182_000, 3_600_000];

const LOCAL: &str = "127.0.0.1:5060";
const SOURCES: [&str; 4] = [
    "203.0.113.9:5062", // a stranger
    "192.0.2.10:5060",  // the trusted trunk
    "192.0.2.20:5060",  // alice's phone
    "192.0.2.21:5060",  // bob's phone
];

struct Recorder(Mutex<Vec<(Outbound, Bytes)>>);

impl Wire for Recorder {
    fn send(&self, to: Outbound, bytes: Bytes) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((to, bytes));
    }
}

/// What `$...` placeholders expand to: taken from the last request sent.
#[derive(Default)]
struct Echo {
    branch: Vec<u8>,
    vias: Vec<u8>,
    record_route: Vec<u8>,
    call_id: Vec<u8>,
    from_tag: Vec<u8>,
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    signer: NonceSigner,
    users: Arc<HashMap<String, UserSecret>>,
    sources: Vec<SocketAddr>,
    /// `PROTOCALL_FUZZ_TRACE=1` prints every delivery and send, to read
    /// what a seed or a crash input does.
    trace: bool,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime");
        let users = ["alice", "bob"]
            .into_iter()
            .map(|u| {
                let secret = UserSecret {
                    ha1: StoredHa1::from_password(u, REALM, &format!("{u}-pass")),
                    active: true,
                };
                (u.to_owned(), secret)
            })
            .collect();
        Fixture {
            runtime,
            signer: NonceSigner::from_secret([9; 32], 300),
            users: Arc::new(users),
            sources: SOURCES
                .iter()
                .map(|s| s.parse().expect("literal"))
                .collect(),
            trace: std::env::var_os("PROTOCALL_FUZZ_TRACE").is_some(),
        }
    })
}

fn now_ms() -> i64 {
    i64::try_from(unix_now()).unwrap_or(0) * 1000
}

fn location(f: &Fixture) -> Arc<Location> {
    let location = Arc::new(Location::new(LocationConfig {
        max_bindings_per_aor: 4,
    }));
    let now = now_ms();
    for (i, (user, transport, proto)) in [
        ("alice", "", Proto::Udp),
        ("bob", ";transport=tcp", Proto::Tcp),
    ]
    .into_iter()
    .enumerate()
    {
        let source = f.sources[2 + i];
        let binding = Binding {
            aor: user.to_owned(),
            contact: format!("sip:{user}@{source}{transport}"),
            q: 1000,
            expires_at_ms: now + 3_600_000,
            registered_at_ms: now,
            source,
            proto,
            conn: (proto == Proto::Tcp).then_some(ConnId(3)),
            call_id: format!("{user}-boot"),
            cseq: 1,
            user_agent: None,
        };
        let update = Update::Register {
            call_id: binding.call_id.clone(),
            cseq: 1,
            contacts: vec![ContactUpdate::Upsert(binding)],
        };
        location.apply(user, update, now).expect("fresh location");
    }
    location
}

fn proxy(
    f: &Fixture,
    events: tokio::sync::mpsc::Sender<protocall::sip::dialog::DialogEvent>,
) -> Proxy {
    let location = location(f);
    let credentials: Arc<dyn CredentialSource> = f.users.clone();
    let registrar = Registrar::with_nonce_signer(
        RegistrarConfig {
            realm: REALM.into(),
            max_bindings_per_aor: 4,
            ..RegistrarConfig::default()
        },
        f.signer.clone(),
        credentials,
        location.clone(),
    )
    .expect("valid registrar config");
    Proxy::new(
        ProxyConfig {
            timers: Timers::default(),
            advertised_host: "127.0.0.1".into(),
            advertised_port: 5060,
            advertised_tls_port: None,
            resolver: None,
            local_hosts: vec![REALM.into(), "localhost".into()],
            front_addresses: Vec::new(),
            shards: 4,
            trusted: TrustedPeers::parse(&["192.0.2.10"]).expect("literal"),
            edge: EdgeConfig::new(RouteKey::from_bytes([9; 32]), REALM),
        },
        Arc::new(LocationRouter { location }),
        Some(Arc::new(registrar)),
        Some(events),
        SipMetrics::unregistered(),
    )
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    f.runtime.block_on(run(f, data));
});

async fn run(f: &Fixture, data: &[u8]) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let p = proxy(f, tx);
    let wire = Recorder(Mutex::new(Vec::new()));
    let mut echo = Echo::default();

    for (i, chunk) in split(data).into_iter().enumerate().take(MAX_MESSAGES) {
        let (ctrl, body) = match (i, chunk.split_first()) {
            (0, _) | (_, None) => (0u8, chunk),
            (_, Some((c, rest))) => (*c, rest),
        };
        let source = f.sources[usize::from(ctrl % 4)];
        let proto = if (ctrl / 4) % 2 == 1 {
            Proto::Tcp
        } else {
            Proto::Udp
        };
        let advance = ADVANCE_MS[usize::from((ctrl / 8) % 8)];
        if advance > 0 {
            tokio::time::advance(Duration::from_millis(advance)).await;
            p.tick(&wire);
            check_sent(&wire, &mut echo, f.trace);
        }
        let bytes = expand(body, &echo, f);
        if f.trace {
            eprintln!(
                ">> {proto:?} from {source} after {advance} ms: {:?}",
                first_line(&bytes)
            );
        }
        deliver(&p, &wire, bytes, source, proto, usize::from(ctrl % 4));
        p.tick(&wire);
        check_sent(&wire, &mut echo, f.trace);
        while let Ok(e) = rx.try_recv() {
            if f.trace {
                eprintln!("   event {e:?}");
            }
        }
    }
    // Let every timer run out, so expiry paths run too.
    for _ in 0..4 {
        if f.trace {
            eprintln!(".. 200 s later");
        }
        tokio::time::advance(Duration::from_secs(200)).await;
        p.tick(&wire);
        check_sent(&wire, &mut echo, f.trace);
    }
    while rx.try_recv().is_ok() {}
}

/// Hands bytes to the proxy the way the transport would: a UDP datagram as
/// it is, a TCP buffer cut into frames until framing fails.
fn deliver(
    p: &Proxy,
    wire: &Recorder,
    bytes: Vec<u8>,
    source: SocketAddr,
    proto: Proto,
    conn: usize,
) {
    let inbound = |b: Bytes| Inbound {
        bytes: b,
        source,
        local: LOCAL.parse().expect("literal"),
        proto,
        conn: (proto == Proto::Tcp).then_some(ConnId(conn as u64)),
    };
    if proto == Proto::Udp {
        p.on_message(inbound(Bytes::from(bytes)), wire);
        return;
    }
    let mut buf = Bytes::from(bytes);
    while !buf.is_empty() {
        match frame_stream(&buf, DEFAULT_MAX_MESSAGE_SIZE) {
            Ok(Frame::KeepAlive { len, .. }) if len > 0 && len <= buf.len() => {
                let _ = buf.split_to(len);
            }
            Ok(Frame::Message(n)) if n > 0 && n <= buf.len() => {
                p.on_message(inbound(buf.split_to(n)), wire);
            }
            _ => return,
        }
    }
}

/// Every message sent must be one the far end can read.
fn check_sent(wire: &Recorder, echo: &mut Echo, trace: bool) {
    let sent: Vec<_> = wire
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for (to, bytes) in sent {
        if trace {
            eprintln!("<< {:?} to {}: {:?}", to.proto, to.dest, first_line(&bytes));
        }
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        if bytes == b"\r\n"[..] || bytes == b"\r\n\r\n"[..] {
            continue; // keep-alive pong
        }
        let msg = match parse(bytes.clone(), to.proto == Proto::Udp) {
            Ok(m) => m,
            Err(e) => panic!(
                "the proxy sent something unparsable over {:?} ({e}): {:?}",
                to.proto,
                text()
            ),
        };
        if to.proto == Proto::Tcp {
            assert_eq!(
                frame_stream(&bytes, DEFAULT_MAX_MESSAGE_SIZE).ok(),
                Some(Frame::Message(bytes.len())),
                "a TCP send must be exactly one frame: {:?}",
                text()
            );
        }
        if msg.is_request() {
            if let Err(r) = check_request(&msg) {
                panic!(
                    "the proxy sent a request it would refuse itself ({r}): {:?}",
                    text()
                );
            }
            remember(&msg, echo);
        }
    }
}

fn remember(msg: &SipMessage, echo: &mut Echo) {
    if let Ok(via) = msg.top_via() {
        echo.branch = via.branch.map(|b| b.to_vec()).unwrap_or_default();
    }
    echo.vias = join(msg.headers("Via").map(|v| v.into_owned()));
    let rr = join(msg.headers("Record-Route").map(|v| v.into_owned()));
    if !rr.is_empty() {
        echo.record_route = rr;
    }
    echo.call_id = msg.call_id().map(|c| c.to_vec()).unwrap_or_default();
    echo.from_tag = msg
        .from_tag()
        .ok()
        .flatten()
        .map(|t| t.to_vec())
        .unwrap_or_default();
}

fn first_line(b: &[u8]) -> String {
    let end = b
        .iter()
        .position(|c| *c == b'\r' || *c == b'\n')
        .unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn join(values: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        if !out.is_empty() {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(&v);
    }
    out
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = find(rest, SEPARATOR) {
        out.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(at) = find(rest, needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn expand(body: &[u8], echo: &Echo, f: &Fixture) -> Vec<u8> {
    if find(body, b"$").is_none() {
        return body.to_vec();
    }
    let mut out = replace(body, b"$BRANCH", &echo.branch);
    out = replace(&out, b"$VIAS", &echo.vias);
    out = replace(&out, b"$RR", &echo.record_route);
    out = replace(&out, b"$CALLID", &echo.call_id);
    out = replace(&out, b"$FROMTAG", &echo.from_tag);
    if find(&out, b"$AUTH").is_some() {
        let answer = digest_answer(&replace(&out, b"$AUTH", b"Digest x=y"), f);
        out = replace(&out, b"$AUTH", answer.as_bytes());
    }
    out
}

/// What a phone that knows its password would send for this request.
fn digest_answer(request: &[u8], f: &Fixture) -> String {
    let Ok(msg) = parse(Bytes::copy_from_slice(request), true) else {
        return String::new();
    };
    let method = msg
        .method()
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        .unwrap_or_default();
    let uri = String::from_utf8_lossy(msg.request_uri().unwrap_or_default()).into_owned();
    let user = msg
        .from()
        .ok()
        .and_then(|n| n.uri.user)
        .map(|u| String::from_utf8_lossy(&u).into_owned())
        .unwrap_or_else(|| "alice".to_owned());
    let Ok(nonce) = f.signer.issue(unix_now()) else {
        return String::new();
    };
    let mut creds = Credentials {
        username: user.clone(),
        realm: REALM.into(),
        nonce,
        uri,
        response: String::new(),
        algorithm: Algorithm::Md5,
        cnonce: Some("0a4f113b".into()),
        opaque: None,
        qop: Some(Qop::Auth),
        nc: Some("00000001".into()),
    };
    let ha1 = StoredHa1::from_password(&user, REALM, &format!("{user}-pass"));
    let Ok(response) = expected_response(&creds, &method, &ha1.md5) else {
        return String::new();
    };
    creds.response = response;
    format!(
        "Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", \
         algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001",
        creds.username, creds.nonce, creds.uri, creds.response
    )
}
