//! The stateful, Record-Routing proxy (RFC 3261 §16) and its transactions
//! (§17): what happens to every message between the socket and the send.
//!
//! The transport calls [`Proxy::on_message`] synchronously for each
//! message; a timer task calls [`Proxy::tick`]. Both lock one shard of the
//! transaction table (all of a call's transactions share it), change state,
//! collect what must be sent and emitted, unlock, and only then send. No
//! lock is held across a send, an await or a second shard.
//!
//! Scope of each transaction kind:
//! - server INVITE: 100 Trying at once, retransmissions answered with the
//!   last response, non-2xx finals retransmitted over UDP until the ACK
//!   (timers G/H/I), 2xx kept in RFC 6026 "Accepted" (timer L);
//! - server non-INVITE: last response replayed for retransmissions (timer J);
//! - client INVITE per branch: timers A/B, Timer C and per-branch ring
//!   timeouts (CANCEL after a provisional), hop-by-hop ACK for non-2xx
//!   (timer D);
//! - client non-INVITE: timers E/F/K.
//!
//! Files: `request` (what arrives and whether it goes on), `forward`
//! (branches and ACK relay), `cancel`, `response` (§16.7), `timers`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::budget::TxnPermit;
use super::dialog::{header_uri, DialogEvent, DialogId, EventSink, Party};
use super::edit::{hop_request, response, Relay};
use super::guard::Guard;
use super::message::{Method, NameAddr, SipMessage, Uri};
use super::parse::{parse, ParseError};
use super::resolve::{Lookup, Role};
use super::router::{resolve, Decision, RouteRequest, Router, TargetGroup};
use super::transaction::{ms, BranchGen, KeyMethod, Millis, ServerKey, Table, Timers};
use super::transport::{Inbound, Outbound, Proto};
use super::validate::{check_request, check_response, reject_for_parse_error, Reject};
use crate::metrics::SipMetrics;
pub use edge::{is_internal, Destinations, RouteKey};

mod auth;
mod cancel;
mod edge;
mod forward;
mod nat;
mod request;
mod response;
mod timers;

/// What the proxy sends through; the transport's sender in production, a
/// recorder in tests.
pub trait Wire: Send + Sync {
    fn send(&self, to: Outbound, bytes: Bytes);
}

/// Handles REGISTER requests addressed to us, and the digest check of
/// requests from untrusted sources.
pub trait RegisterHandler: Send + Sync {
    fn handle_register(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> RegisterReply;

    /// Authenticates a request with `Proxy-Authorization` (RFC 3261 §22.3).
    fn authorize_call(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> CallAuth;
}

/// The registrar's answer to a REGISTER.
pub struct RegisterReply {
    pub code: u16,
    pub response: Bytes,
    pub auth: AuthNote,
}

/// What a REGISTER's credentials told us, for the guard.
pub enum AuthNote {
    /// Nothing to learn: no credentials yet, a stale nonce, another realm.
    None,
    /// This consultant proved who they are.
    Passed(String),
    /// A failed guess, naming the user it claimed when it did.
    Failed(Option<String>),
}

/// Who may send a request through us.
pub enum CallAuth {
    /// A consultant proved who they are.
    Consultant(String),
    /// Ask for credentials (407), or again after a stale nonce.
    Challenge { code: u16, response: Bytes },
    /// The credentials failed: answer this (403) and count the guess.
    Failed {
        user: Option<String>,
        response: Bytes,
    },
}

impl std::fmt::Debug for EdgeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeConfig")
            .field("destinations", &self.destinations)
            .field("realm", &self.realm)
            .field("max_dialog_age", &self.max_dialog_age)
            .field("guard", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl EdgeConfig {
    /// The policy with `key`, no internal destinations opened, an 8-hour
    /// dialog age and no guard.
    pub fn new(route_key: RouteKey, realm: impl Into<String>) -> EdgeConfig {
        EdgeConfig {
            route_key,
            destinations: Destinations::default(),
            realm: realm.into(),
            max_dialog_age: std::time::Duration::from_secs(8 * 3600),
            guard: None,
        }
    }
}

/// The edge policy's settings (see `edge`).
#[derive(Clone)]
pub struct EdgeConfig {
    /// Signs our Record-Route so in-dialog requests prove their dialog.
    pub route_key: RouteKey,
    /// Internal addresses requesters may still make us relay to.
    pub destinations: Destinations,
    /// Our digest realm: the credentials for it stop here.
    pub realm: String,
    /// An answered dialog whose BYE never came is forgotten after this.
    pub max_dialog_age: std::time::Duration,
    /// Floods, guessing and transaction caps; `None` switches them off.
    pub guard: Option<Arc<Guard>>,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub timers: Timers,
    /// Host and port we put in Via and Record-Route.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// The TLS port we put in Via and Record-Route for TLS legs; `None`
    /// when TLS does not listen.
    pub advertised_tls_port: Option<u16>,
    /// RFC 3263 for Route and Request-URI hosts that are names; `None`:
    /// addresses only.
    pub resolver: Option<Arc<super::resolve::SipResolver>>,
    /// Other names and addresses that mean "this proxy" in a URI.
    pub local_hosts: Vec<String>,
    /// Addresses of a proxy in front of us (a dispatcher spreading the
    /// desk over instances) that hands us requests addressed to itself:
    /// a URI naming one of them, port and all, means us too.
    pub front_addresses: Vec<std::net::SocketAddr>,
    pub shards: usize,
    /// Carrier trunks and PBXs: their calls need no credentials. Calls
    /// from anywhere else must come from an authenticated consultant.
    pub trusted: crate::net::TrustedPeers,
    pub edge: EdgeConfig,
}

/// Names that mean us: a URI whose host:port is one of these is ours.
struct LocalNames {
    hosts: Vec<Vec<u8>>,
    /// The UDP/TCP port and, when TLS listens, its port.
    ports: Vec<u16>,
    /// A front proxy's host:port pairs (`ProxyConfig::front_addresses`).
    fronts: Vec<(Vec<u8>, u16)>,
}

impl LocalNames {
    fn is_local(&self, uri: &Uri) -> bool {
        let port = super::router::default_port(uri);
        let host = uri.host.as_ref();
        (self.ports.contains(&port) && self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
            || self
                .fronts
                .iter()
                .any(|(h, p)| *p == port && h.eq_ignore_ascii_case(host))
    }
}

type TxnId = u64;

/// One locked shard of the transaction table.
type Locked = super::transaction::Shard<CallShard, TxnId>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SState {
    /// No final response yet.
    Proceeding,
    /// Non-2xx final sent; waiting for the ACK (INVITE) or absorbing
    /// retransmissions (non-INVITE).
    Completed,
    /// ACK received; absorbing ACK retransmissions (timer I).
    Confirmed,
    /// 2xx forwarded (RFC 6026); absorbing INVITE retransmissions.
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    /// Request sent, nothing heard (Calling / Trying).
    Trying,
    Proceeding,
    /// Final received (non-2xx for INVITE); absorbing retransmissions.
    Completed,
}

/// What the proxy keeps about a call it is setting up (the INVITE server
/// transaction doubles as the proxy context of §16).
struct ServerTxn {
    key: ServerKey,
    generation: u64,
    invite: bool,
    state: SState,
    reply_to: Outbound,
    /// The last response sent upstream, replayed for retransmissions.
    last: Option<Bytes>,
    /// The request as received, while branches may still need it.
    request: Option<SipMessage>,
    /// Target groups not tried yet (serial forking).
    pending_groups: Vec<TargetGroup>,
    branches: Vec<TxnId>,
    /// Best final response so far, Via already popped (§16.7 step 6).
    best: Option<(u16, Bytes)>,
    cancelled: bool,
    /// An initial INVITE: its outcome is a dialog event.
    initial_invite: bool,
    /// The identity asserted on its branches (later groups too).
    identity: Option<String>,
    ringing_sent: bool,
    /// Retransmission interval and deadlines.
    interval: Millis,
    retransmit_at: Option<Millis>,
    expire_at: Option<Millis>,
    received_at: Millis,
    /// Its slot in the transaction caps, given back when it is dropped.
    permit: Option<TxnPermit>,
}

struct ClientTxn {
    server: Option<TxnId>,
    branch: Bytes,
    generation: u64,
    invite: bool,
    cancel: bool,
    state: CState,
    dest: Outbound,
    /// The request as sent (retransmissions, CANCEL and ACK are built
    /// from it).
    sent: Bytes,
    interval: Millis,
    retransmit_at: Option<Millis>,
    /// Timer B/F, or D/K once completed.
    expire_at: Option<Millis>,
    /// Ring timeout or Timer C.
    ring_at: Option<Millis>,
    got_provisional: bool,
    /// CANCEL owed as soon as a provisional arrives (§9.1).
    cancel_owed: bool,
    /// We cancelled it for ringing too long: its 487 counts as 408.
    timed_out: bool,
    /// Counted as final for forking even before its response arrives.
    settled: bool,
    target: Bytes,
    /// Set on branches of an initial INVITE, whose fate is a dialog event.
    call: Option<Arc<DialogId>>,
    /// Its failure was already reported (a silent branch given up on may
    /// still answer 487 later).
    reported: bool,
}

/// An answered dialog, to know who hung up and which 2xx
/// retransmissions are ours to relay.
struct Dialog {
    callee_tag: Bytes,
    /// Forgotten after this even without a BYE (the phone died).
    expires_at: Millis,
}

/// A dialog's key: its Call-ID and the caller's tag (the callee's tag is
/// checked against the entry).
type DialogKey = (Bytes, Bytes);

#[derive(Default)]
pub struct CallShard {
    servers: HashMap<TxnId, ServerTxn>,
    server_index: HashMap<ServerKey, TxnId>,
    clients: HashMap<TxnId, ClientTxn>,
    /// (branch, is CANCEL) → client transaction.
    client_index: HashMap<(Bytes, bool), TxnId>,
    dialogs: HashMap<DialogKey, Dialog>,
}

/// Things to do once the shard is unlocked.
#[derive(Default)]
struct Effects {
    sends: Vec<(Outbound, Bytes)>,
    events: Vec<DialogEvent>,
    retransmissions: u64,
    setup: Option<f64>,
}

pub struct Proxy {
    cfg: ProxyConfig,
    local: LocalNames,
    table: Table<CallShard, TxnId>,
    branches: BranchGen,
    ids: AtomicU64,
    router: Arc<dyn Router>,
    registrar: Option<Arc<dyn RegisterHandler>>,
    events: EventSink,
    metrics: SipMetrics,
    epoch: tokio::time::Instant,
    /// When answered dialogs were last checked for their age.
    last_sweep: AtomicU64,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Proxy {
    pub fn new(
        cfg: ProxyConfig,
        router: Arc<dyn Router>,
        registrar: Option<Arc<dyn RegisterHandler>>,
        events: EventSink,
        metrics: SipMetrics,
    ) -> Proxy {
        let mut hosts: Vec<Vec<u8>> = vec![cfg.advertised_host.as_bytes().to_vec()];
        hosts.extend(cfg.local_hosts.iter().map(|h| h.as_bytes().to_vec()));
        Proxy {
            local: LocalNames {
                hosts,
                ports: std::iter::once(cfg.advertised_port)
                    .chain(cfg.advertised_tls_port)
                    .collect(),
                fronts: cfg
                    .front_addresses
                    .iter()
                    .flat_map(|a| {
                        let ip = a.ip();
                        let port = a.port();
                        // As a URI writes it: IPv6 in brackets.
                        [ip.to_string(), format!("[{ip}]")].map(|h| (h.into_bytes(), port))
                    })
                    .collect(),
            },
            table: Table::new(cfg.shards),
            branches: BranchGen::new(),
            ids: AtomicU64::new(1),
            router,
            registrar,
            events,
            metrics,
            epoch: tokio::time::Instant::now(),
            last_sweep: AtomicU64::new(0),
            cfg,
        }
    }

    fn now(&self) -> Millis {
        ms(self.epoch.elapsed())
    }

    fn next_id(&self) -> TxnId {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    fn t1(&self) -> Millis {
        ms(self.cfg.timers.t1)
    }

    fn t1x64(&self) -> Millis {
        ms(self.cfg.timers.t1x64())
    }

    /// The port we are reached on over `proto`.
    fn our_port(&self, proto: Proto) -> u16 {
        match proto {
            Proto::Tls => self
                .cfg
                .advertised_tls_port
                .unwrap_or(self.cfg.advertised_port),
            Proto::Udp | Proto::Tcp => self.cfg.advertised_port,
        }
    }

    fn our_via(&self, proto: Proto, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={branch}",
            proto.via_token(),
            self.cfg.advertised_host,
            self.our_port(proto)
        )
    }

    /// Our Record-Route for a dialog; `mac` (see `edge`) comes back in
    /// the Route of every in-dialog request and proves the dialog.
    fn record_route(&self, inbound: Proto, outbound: Proto, mac: &str) -> String {
        let param = edge::ROUTE_MAC_PARAM;
        // `sip:` with `transport=tls` rather than `sips:` (RFC 5630 §3.2):
        // TLS on this hop only, which is all a proxy can promise.
        let one = |p: Proto| {
            let transport = match p {
                Proto::Udp => "",
                Proto::Tcp => ";transport=tcp",
                Proto::Tls => ";transport=tls",
            };
            format!(
                "<sip:{}:{}{transport};lr;{param}={mac}>",
                self.cfg.advertised_host,
                self.our_port(p)
            )
        };
        // RFC 5658: two entries when the call changes transport here, so
        // each side addresses us over its own transport.
        if inbound == outbound {
            one(outbound)
        } else {
            format!("{}, {}", one(outbound), one(inbound))
        }
    }

    /// Entry point for every received message.
    pub fn on_message(&self, inbound: Inbound, wire: &dyn Wire) {
        if let Some(g) = &self.cfg.edge.guard {
            // Banned and flooding sources cost us nothing more: no parse,
            // no answer.
            if g.admit(inbound.source.ip(), std::time::Instant::now())
                .is_err()
            {
                return;
            }
        }
        let datagram = inbound.proto == Proto::Udp;
        let msg = match parse(inbound.bytes.clone(), datagram) {
            Ok(m) => m,
            Err(e) => {
                self.metrics.parse_error(inbound.proto);
                self.answer_parse_error(&e, &inbound, wire);
                return;
            }
        };
        // Before anything copies it: the Contact must lead back the way
        // the message came.
        let msg = nat::with_contact_alias(&msg, &inbound).unwrap_or(msg);
        if msg.is_request() {
            self.on_request(msg, &inbound, wire);
        } else {
            self.on_response(msg, &inbound, wire);
        }
    }

    fn answer_parse_error(&self, e: &ParseError, inbound: &Inbound, wire: &dyn Wire) {
        let Reject::Respond { code, .. } = reject_for_parse_error(e) else {
            return;
        };
        if let ParseError::ContentLength {
            message: Some(m), ..
        } = e
        {
            if m.is_request() && m.method() != Some(Method::Ack) {
                wire.send(
                    inbound.reply_to(),
                    response(m, code).source(inbound.source).build(),
                );
            }
        }
    }

    fn flush(&self, fx: Effects, wire: &dyn Wire) {
        // Events first: once a message is on the wire its answer may be
        // handled by another worker at once, and that worker's events
        // (an "answered") must not overtake ours (the "forked" it answers).
        if let Some(sink) = &self.events {
            for e in fx.events {
                if sink.try_send(e).is_err() {
                    self.metrics.events_dropped.inc();
                }
            }
        }
        for (to, bytes) in fx.sends {
            wire.send(to, bytes);
        }
        if fx.retransmissions > 0 {
            self.metrics.retransmissions.inc_by(fx.retransmissions);
        }
        if let Some(s) = fx.setup {
            self.metrics.call_setup.observe(s);
        }
    }

    /// A transaction slot for a request from `inbound`: `None` when the
    /// caps are reached; `Some(None)` when no guard counts them.
    fn txn_permit(&self, inbound: &Inbound) -> Option<Option<TxnPermit>> {
        match &self.cfg.edge.guard {
            Some(g) => g.budget().try_acquire(inbound.source.ip()).map(Some),
            None => Some(None),
        }
    }

    fn auth_failed(&self, inbound: &Inbound, user: Option<&str>, method: &Method) {
        let method = String::from_utf8_lossy(method.as_bytes());
        match &self.cfg.edge.guard {
            Some(g) => g.auth_failed(
                inbound.source.ip(),
                user,
                &method,
                std::time::Instant::now(),
            ),
            None => {
                tracing::warn!(%method, source = %inbound.source.ip(), user = ?user, "auth failed")
            }
        }
    }

    fn auth_passed(&self, inbound: &Inbound, user: &str) {
        if let Some(g) = &self.cfg.edge.guard {
            g.auth_succeeded(inbound.source.ip(), user, std::time::Instant::now());
        }
    }

    fn user_locked(&self, user: &str, inbound: &Inbound) -> bool {
        self.cfg
            .edge
            .guard
            .as_ref()
            .is_some_and(|g| g.user_locked(user, inbound.source.ip(), std::time::Instant::now()))
    }

    /// Number of answered dialogs in progress.
    pub fn active_dialogs(&self) -> usize {
        (0..self.table.len())
            .map(|i| self.table.lock(i).state.dialogs.len())
            .sum()
    }
}

/// How a request is relayed: which Route entries were ours, whether to
/// Record-Route, and the new Max-Forwards.
struct RelayPlan {
    popped: usize,
    /// Where the request came from, for `received`/`rport` (RFC 3581).
    source: Option<SocketAddr>,
    strict_routes: Option<Vec<Bytes>>,
    record_route: bool,
    max_forwards: u32,
    /// P-Asserted-Identity for an authenticated consultant's call.
    identity: Option<String>,
    /// Remove the credentials for our realm (we consumed them).
    strip_credentials: bool,
}

impl RelayPlan {
    fn routes_after_pop(&self, msg: &SipMessage) -> Vec<Bytes> {
        if let Some(r) = &self.strict_routes {
            return r.clone();
        }
        msg.headers("Route")
            .skip(self.popped)
            .map(|r| Bytes::copy_from_slice(&r))
            .collect()
    }
}

fn single(uri: Bytes, dest: Outbound) -> TargetGroup {
    TargetGroup {
        targets: vec![super::router::Target::new(uri, dest)],
        ring_timeout: None,
    }
}

/// §16.7 step 6: 6xx beats everything, then the lowest class; within a
/// class the first one stays.
fn better(code: u16, current: Option<u16>) -> bool {
    let Some(cur) = current else { return true };
    let rank = |c: u16| match c / 100 {
        6 => 0,
        2 => 1,
        3 => 2,
        4 => 3,
        5 => 4,
        _ => 5,
    };
    // Timeouts and our own 408s lose to any real answer of the same class.
    rank(code) < rank(cur) || (rank(code) == rank(cur) && cur == 408 && code != 408)
}

fn loop_hash(msg: &SipMessage) -> String {
    let mut h = Sha256::new();
    h.update(msg.request_uri().unwrap_or_default());
    h.update(b"|");
    h.update(msg.call_id().unwrap_or_default());
    h.update(b"|");
    h.update(msg.from_tag().ok().flatten().unwrap_or_default());
    h.update(b"|");
    h.update(msg.to_tag().ok().flatten().unwrap_or_default());
    h.update(b"|");
    if let Ok((n, _)) = msg.cseq() {
        h.update(n.to_be_bytes());
    }
    for r in msg.headers("Route") {
        h.update(&r);
    }
    hex::encode(h.finalize().get(..4).unwrap_or_default())
}

fn dialog_id(msg: &SipMessage) -> DialogId {
    DialogId {
        call_id: lossy(&msg.call_id().unwrap_or_default()),
        from_tag: lossy(&msg.from_tag().ok().flatten().unwrap_or_default()),
    }
}

/// RFC 4028's `Session-Expires` (compact form `x`) of a response.
fn session_expires_of(msg: &SipMessage) -> Option<u32> {
    msg.header("Session-Expires")
        .and_then(|v| super::dialog::session_expires(&v))
}

/// Where a response goes next: the Via's `received`/`rport` when present
/// (RFC 3581), else its sent-by.
fn via_destination(via: &super::message::Via) -> Option<Outbound> {
    use super::message::{Rport, Transport};
    let host = via.received.as_ref().unwrap_or(&via.host);
    let text = std::str::from_utf8(host).ok()?;
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let ip: std::net::IpAddr = text.parse().ok()?;
    let port = match via.rport {
        Rport::Value(p) => p,
        _ => via.port.unwrap_or(5060),
    };
    let proto = match via.transport {
        Transport::Tcp => Proto::Tcp,
        Transport::Tls => Proto::Tls,
        _ => Proto::Udp,
    };
    Some(Outbound {
        dest: SocketAddr::new(ip, port),
        proto,
        conn: None,
    })
}
