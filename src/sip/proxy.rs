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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::dialog::{header_uri, DialogEvent, DialogId, EventSink, Party};
use super::edit::{hop_request, response, Relay};
use super::message::{Method, NameAddr, SipMessage, Uri};
use super::parse::{parse, ParseError};
use super::router::{resolve, Decision, RouteRequest, Router, TargetGroup};
use super::transaction::{ms, BranchGen, KeyMethod, Millis, ServerKey, Table, Timers};
use super::transport::{Inbound, Outbound, Proto};
use super::validate::{check_request, check_response, reject_for_parse_error, Reject};
use crate::metrics::SipMetrics;

/// What the proxy sends through; the transport's sender in production, a
/// recorder in tests.
pub trait Wire: Send + Sync {
    fn send(&self, to: Outbound, bytes: Bytes);
}

/// Handles REGISTER requests addressed to us, and the digest check of
/// calls from untrusted sources.
pub trait RegisterHandler: Send + Sync {
    fn handle_register(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> (u16, Bytes);

    /// Authenticates a call with `Proxy-Authorization` (RFC 3261 §22.3).
    fn authorize_call(&self, req: &SipMessage, inbound: &Inbound, now_ms: i64) -> CallAuth;
}

/// Who may place a call through us.
pub enum CallAuth {
    /// A consultant proved who they are.
    Consultant(String),
    /// Answer with this (407 to ask for credentials, 403 when they failed).
    Respond { code: u16, response: Bytes },
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub timers: Timers,
    /// Host and port we put in Via and Record-Route.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// Other names and addresses that mean "this proxy" in a URI.
    pub local_hosts: Vec<String>,
    pub shards: usize,
    /// Carrier trunks and PBXs: their calls need no credentials. Calls
    /// from anywhere else must come from an authenticated consultant.
    pub trusted: crate::routing::caller::TrustedPeers,
}

/// Names that mean us: a URI whose host:port is one of these is ours.
struct LocalNames {
    hosts: Vec<Vec<u8>>,
    port: u16,
}

impl LocalNames {
    fn is_local(&self, uri: &Uri) -> bool {
        let port = uri.port.unwrap_or(5060);
        port == self.port
            && self
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(uri.host.as_ref()))
    }
}

type TxnId = u64;

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

/// An answered dialog, to know who hung up.
struct Dialog {
    caller_tag: Bytes,
}

#[derive(Default)]
pub struct CallShard {
    servers: HashMap<TxnId, ServerTxn>,
    server_index: HashMap<ServerKey, TxnId>,
    clients: HashMap<TxnId, ClientTxn>,
    /// (branch, is CANCEL) → client transaction.
    client_index: HashMap<(Bytes, bool), TxnId>,
    dialogs: HashMap<Bytes, Dialog>,
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
                port: cfg.advertised_port,
            },
            table: Table::new(cfg.shards),
            branches: BranchGen::new(),
            ids: AtomicU64::new(1),
            router,
            registrar,
            events,
            metrics,
            epoch: tokio::time::Instant::now(),
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

    fn our_via(&self, proto: Proto, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {}:{};branch={branch}",
            proto.via_token(),
            self.cfg.advertised_host,
            self.cfg.advertised_port
        )
    }

    fn record_route(&self, inbound: Proto, outbound: Proto) -> String {
        let one = |p: Proto| match p {
            Proto::Udp => format!(
                "<sip:{}:{};lr>",
                self.cfg.advertised_host, self.cfg.advertised_port
            ),
            Proto::Tcp => format!(
                "<sip:{}:{};transport=tcp;lr>",
                self.cfg.advertised_host, self.cfg.advertised_port
            ),
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
        let datagram = inbound.proto == Proto::Udp;
        let msg = match parse(inbound.bytes.clone(), datagram) {
            Ok(m) => m,
            Err(e) => {
                self.metrics.parse_error(inbound.proto);
                self.answer_parse_error(&e, &inbound, wire);
                return;
            }
        };
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

    // ---- requests ------------------------------------------------------

    fn on_request(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(method) = msg.method() else { return };
        self.metrics.request(&method);
        if let Err(reject) = check_request(&msg) {
            if let (Reject::Respond { code, .. }, false) = (reject, method == Method::Ack) {
                self.reply_new(&msg, inbound, code, &[], wire);
            }
            return;
        }
        match method {
            Method::Ack => self.on_ack(msg, inbound, wire),
            Method::Cancel => self.on_cancel(msg, inbound, wire),
            _ => self.on_new_request(msg, method, inbound, wire),
        }
    }

    /// Replies to a request through a new server transaction, so that its
    /// retransmissions (and, for INVITE, its ACK) are absorbed.
    fn reply_new(
        &self,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        headers: &[(&str, String)],
        wire: &dyn Wire,
    ) {
        let mut b = response(msg, code).source(inbound.source);
        let tag = self.local_tag(msg);
        if code > 100 {
            b = b.to_tag(&tag);
        }
        for (n, v) in headers {
            b = b.header(n, v.clone());
        }
        let bytes = b.build();
        self.respond_stateful(msg, inbound, code, bytes, wire);
    }

    /// A To tag for responses we generate: derived from the request, so a
    /// retransmission gets the same tag.
    fn local_tag(&self, msg: &SipMessage) -> String {
        let mut h = Sha256::new();
        h.update(msg.call_id().unwrap_or_default());
        h.update(msg.from_tag().ok().flatten().unwrap_or_default());
        h.update(self.cfg.advertised_host.as_bytes());
        format!("pc{}", hex::encode(&h.finalize()[..6]))
    }

    fn respond_stateful(
        &self,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        bytes: Bytes,
        wire: &dyn Wire,
    ) {
        let now = self.now();
        let mut fx = Effects::default();
        if let (Ok(key), Some(call_id)) = (ServerKey::of(msg, None), msg.call_id()) {
            let shard_no = self.table.shard_of(&call_id);
            let mut shard = self.table.lock(shard_no);
            let id = match shard.state.server_index.get(&key) {
                Some(id) => *id,
                None => {
                    let invite = msg.method() == Some(Method::Invite);
                    self.insert_server(&mut shard.state, key, invite, inbound, None, None, now)
                }
            };
            self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
            self.rearm_server(&mut shard, id);
        } else {
            fx.sends.push((inbound.reply_to(), bytes));
        }
        self.flush(fx, wire);
    }

    /// A new server transaction in Proceeding.
    #[allow(clippy::too_many_arguments)]
    fn insert_server(
        &self,
        shard: &mut CallShard,
        key: ServerKey,
        invite: bool,
        inbound: &Inbound,
        last: Option<Bytes>,
        request: Option<SipMessage>,
        now: Millis,
    ) -> TxnId {
        let id = self.next_id();
        shard.server_index.insert(key.clone(), id);
        shard.servers.insert(
            id,
            ServerTxn {
                key,
                generation: 0,
                invite,
                state: SState::Proceeding,
                reply_to: inbound.reply_to(),
                last,
                request,
                pending_groups: Vec::new(),
                branches: Vec::new(),
                best: None,
                cancelled: false,
                initial_invite: false,
                identity: None,
                ringing_sent: false,
                interval: self.t1(),
                retransmit_at: None,
                expire_at: None,
                received_at: now,
            },
        );
        self.metrics.transactions_active.inc();
        id
    }

    fn on_new_request(&self, msg: SipMessage, method: Method, inbound: &Inbound, wire: &dyn Wire) {
        let (Ok(key), Some(call_id)) = (ServerKey::of(&msg, None), msg.call_id()) else {
            return;
        };
        let invite = method == Method::Invite;
        let now = self.now();
        let shard_no = self.table.shard_of(&call_id);
        let id = {
            let mut shard = self.table.lock(shard_no);
            if let Some(id) = shard.state.server_index.get(&key).copied() {
                // A retransmission: replay the last response, never forward
                // twice (§17.2.1, §17.2.2).
                let mut fx = Effects::default();
                if let Some(st) = shard.state.servers.get(&id) {
                    if let (Some(last), false) = (&st.last, st.state == SState::Accepted) {
                        fx.sends.push((st.reply_to, last.clone()));
                    }
                    fx.retransmissions += 1;
                }
                drop(shard);
                self.flush(fx, wire);
                return;
            }
            let trying = invite.then(|| response(&msg, 100).source(inbound.source).build());
            let id = self.insert_server(
                &mut shard.state,
                key,
                invite,
                inbound,
                trying.clone(),
                Some(msg.clone()),
                now,
            );
            drop(shard);
            if let Some(t) = trying {
                wire.send(inbound.reply_to(), t);
            }
            id
        };
        self.process(id, shard_no, msg, method, inbound, wire);
    }

    /// §16.3 request validation, §16.4 route processing, then forwarding.
    fn process(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        wire: &dyn Wire,
    ) {
        let reply = |code: u16, headers: &[(&str, String)]| {
            self.reply_txn(id, shard_no, &msg, inbound, code, headers, wire)
        };
        let uri = match msg.parsed_request_uri() {
            Some(Ok(u)) => u,
            _ => return reply(400, &[]),
        };
        let mut routes: Vec<NameAddr> = msg.routes().filter_map(Result::ok).collect();
        // Loose routing: our own entries at the top of the route set go.
        let mut popped = 0;
        while routes.first().is_some_and(|r| self.local.is_local(&r.uri)) {
            routes.remove(0);
            popped += 1;
        }
        // A strict router before us put our Record-Route URI in the
        // Request-URI and the real one last in Route (§16.4).
        let mut uri = uri;
        let mut strict_fixup = None;
        if self.local.is_local(&uri) && uri.is_loose_route() && popped == 0 {
            if let Some(last) = routes.pop() {
                strict_fixup = Some(routes.iter().map(|r| r.uri.raw.clone()).collect::<Vec<_>>());
                uri = last.uri;
            }
        }
        let to_local = self.local.is_local(&uri) || self.is_local_domain(&uri);
        let max_forwards = match msg.max_forwards() {
            Ok(v) => v,
            Err(_) => return reply(400, &[]),
        };
        if to_local && routes.is_empty() && method == Method::Options && uri.user.is_none() {
            return reply(
                200,
                &[(
                    "Allow",
                    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK, REFER, NOTIFY"
                        .into(),
                )],
            );
        }
        if max_forwards == Some(0) {
            return reply(483, &[]);
        }
        if let Some(required) = msg.header("Proxy-Require") {
            return reply(420, &[("Unsupported", lossy(&required))]);
        }
        if self.is_loop(&msg) {
            return reply(482, &[]);
        }
        if method == Method::Register && to_local && routes.is_empty() {
            return match &self.registrar {
                Some(r) => {
                    let now_ms = Utc::now().timestamp_millis();
                    let (code, bytes) = r.handle_register(&msg, inbound, now_ms);
                    let now = self.now();
                    let mut fx = Effects::default();
                    let mut shard = self.table.lock(shard_no);
                    self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
                    self.rearm_server(&mut shard, id);
                    drop(shard);
                    self.flush(fx, wire);
                }
                None => reply(
                    405,
                    &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS".into())],
                ),
            };
        }
        let in_dialog = msg.to_tag().ok().flatten().is_some();
        let mut caller_user: Option<String> = None;
        if method == Method::Invite && !in_dialog && !self.cfg.trusted.contains(inbound.source.ip())
        {
            // Toll-fraud protection: only trunks/PBXs and consultants who
            // answer the digest challenge may start calls here.
            let auth = match &self.registrar {
                Some(r) => r.authorize_call(&msg, inbound, Utc::now().timestamp_millis()),
                None => CallAuth::Respond {
                    code: 403,
                    response: response(&msg, 403).source(inbound.source).build(),
                },
            };
            if let CallAuth::Consultant(user) = &auth {
                caller_user = Some(user.clone());
            }
            if let CallAuth::Respond { code, response } = auth {
                if code == 403 {
                    self.metrics.calls_rejected_untrusted.inc();
                }
                let now = self.now();
                let mut fx = Effects::default();
                let mut shard = self.table.lock(shard_no);
                self.send_final(&mut shard.state, id, code, response, now, &mut fx);
                self.rearm_server(&mut shard, id);
                drop(shard);
                return self.flush(fx, wire);
            }
        }
        if method == Method::Bye && in_dialog {
            if let Some(ended) = self.bye_seen(&msg) {
                self.flush(
                    Effects {
                        events: vec![ended],
                        ..Default::default()
                    },
                    wire,
                );
            }
        }
        let decision = if let Some(next) = routes.first() {
            // Loose routing towards the next hop; the Request-URI stays.
            match resolve(&next.uri) {
                Some(dest) => Decision::Forward(vec![single(uri.raw.clone(), dest)]),
                None => Decision::Reject { code: 502 },
            }
        } else if in_dialog || !to_local {
            if to_local {
                // An in-dialog request addressed to us has nowhere to go.
                Decision::Reject { code: 481 }
            } else {
                match resolve(&uri) {
                    Some(dest) => Decision::Forward(vec![single(uri.raw.clone(), dest)]),
                    None => Decision::Reject { code: 404 },
                }
            }
        } else {
            self.router.route(&RouteRequest {
                msg: &msg,
                uri: &uri,
                source: inbound.source,
                proto: inbound.proto,
                uri_is_local: to_local,
                caller_user: caller_user.as_deref(),
                now_ms: Utc::now().timestamp_millis(),
            })
        };
        match decision {
            Decision::Reject { code } => reply(code, &[]),
            Decision::Forward(groups) => {
                let record_route =
                    matches!(method, Method::Invite | Method::Subscribe | Method::Refer)
                        && !in_dialog;
                let relay = RelayPlan {
                    popped,
                    source: Some(inbound.source),
                    strict_routes: strict_fixup,
                    record_route,
                    max_forwards: max_forwards.map(|m| m.saturating_sub(1)).unwrap_or(70),
                    // RFC 3325: we vouch for the consultant who proved who
                    // they are; whatever identity they claimed is dropped.
                    identity: caller_user
                        .as_deref()
                        .map(|u| format!("<sip:{u}@{}>", self.cfg.advertised_host)),
                };
                self.start_forwarding(id, shard_no, msg, method, inbound, groups, relay, wire);
            }
        }
    }

    fn is_local_domain(&self, uri: &Uri) -> bool {
        uri.port.is_none()
            && self
                .local
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(uri.host.as_ref()))
    }

    /// §16.3 step 4: a request is looping when one of our Vias carries the
    /// hash of this very request (same Request-URI, tags, Call-ID, CSeq).
    fn is_loop(&self, msg: &SipMessage) -> bool {
        let hash = loop_hash(msg);
        msg.vias().filter_map(Result::ok).any(|v| {
            v.branch
                .as_ref()
                .is_some_and(|b| self.branches.is_ours(b) && b.ends_with(hash.as_bytes()))
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn reply_txn(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: &SipMessage,
        inbound: &Inbound,
        code: u16,
        headers: &[(&str, String)],
        wire: &dyn Wire,
    ) {
        let tag = self.local_tag(msg);
        let mut b = response(msg, code).source(inbound.source).to_tag(&tag);
        for (n, v) in headers {
            b = b.header(n, v.clone());
        }
        let bytes = b.build();
        let now = self.now();
        let mut fx = Effects::default();
        let mut shard = self.table.lock(shard_no);
        self.send_final(&mut shard.state, id, code, bytes, now, &mut fx);
        let initial = msg.to_tag().ok().flatten().is_none();
        if let Some(st) = shard.state.servers.get(&id) {
            if st.invite && initial {
                fx.events.push(DialogEvent::Failed {
                    id: dialog_id(msg),
                    code,
                    cancelled: false,
                    caller: header_uri(msg, "From"),
                    callee: header_uri(msg, "To"),
                    at: Utc::now(),
                });
            }
        }
        self.rearm_server(&mut shard, id);
        drop(shard);
        self.flush(fx, wire);
    }

    #[allow(clippy::too_many_arguments)]
    fn start_forwarding(
        &self,
        id: TxnId,
        shard_no: usize,
        msg: SipMessage,
        method: Method,
        inbound: &Inbound,
        mut groups: Vec<TargetGroup>,
        plan: RelayPlan,
        wire: &dyn Wire,
    ) {
        if groups.is_empty() {
            return self.reply_txn(id, shard_no, &msg, inbound, 404, &[], wire);
        }
        let first = groups.remove(0);
        let now = self.now();
        let mut fx = Effects::default();
        let mut shard = self.table.lock(shard_no);
        let initial_invite = method == Method::Invite && plan.record_route;
        match shard.state.servers.get_mut(&id) {
            Some(st) => {
                st.pending_groups = groups;
                st.initial_invite = initial_invite;
                st.identity = plan.identity.clone();
            }
            None => return,
        }
        self.fork_group(
            &mut shard,
            id,
            &msg,
            first,
            &plan,
            inbound.proto,
            now,
            &mut fx,
        );
        drop(shard);
        self.flush(fx, wire);
    }

    #[allow(clippy::too_many_arguments)]
    fn fork_group(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        server: TxnId,
        msg: &SipMessage,
        group: TargetGroup,
        plan: &RelayPlan,
        inbound_proto: Proto,
        now: Millis,
        fx: &mut Effects,
    ) {
        let invite = msg.method() == Some(Method::Invite);
        let initial = invite
            && shard
                .state
                .servers
                .get(&server)
                .is_some_and(|st| st.initial_invite);
        let call = initial.then(|| Arc::new(dialog_id(msg)));
        let hash = loop_hash(msg);
        let ring_at = group
            .ring_timeout
            .map(|d| now + ms(d))
            .or_else(|| invite.then(|| now + ms(self.cfg.timers.timer_c)));
        for target in group.targets {
            let branch = format!("{}.{hash}", self.branches.next());
            let relay = Relay {
                request_uri: Some(target.uri.clone()),
                push_via: Some(self.our_via(target.dest.proto, &branch)),
                pop_via: false,
                push_record_route: plan
                    .record_route
                    .then(|| self.record_route(inbound_proto, target.dest.proto)),
                pop_route: false,
                replace_routes: Some(plan.routes_after_pop(msg)),
                max_forwards: Some(plan.max_forwards),
                stamp_via: plan.source,
                assert_identity: plan.identity.clone(),
            };
            let bytes = relay.apply(msg);
            let cid = self.next_id();
            let udp = target.dest.proto == Proto::Udp;
            let branch = Bytes::from(branch);
            shard
                .state
                .client_index
                .insert((branch.clone(), false), cid);
            shard.state.clients.insert(
                cid,
                ClientTxn {
                    server: Some(server),
                    branch,
                    generation: 0,
                    invite,
                    cancel: false,
                    state: CState::Trying,
                    dest: target.dest,
                    sent: bytes.clone(),
                    interval: self.t1(),
                    retransmit_at: udp.then(|| now + self.t1()),
                    expire_at: Some(now + self.t1x64()),
                    ring_at,
                    got_provisional: false,
                    cancel_owed: false,
                    timed_out: false,
                    settled: false,
                    target: target.uri.clone(),
                    call: call.clone(),
                    reported: false,
                },
            );
            if let Some(id) = &call {
                fx.events.push(DialogEvent::Forked {
                    id: DialogId::clone(id),
                    target: lossy(&target.uri),
                    at: Utc::now(),
                });
            }
            self.metrics.transactions_active.inc();
            if let Some(st) = shard.state.servers.get_mut(&server) {
                st.branches.push(cid);
            }
            fx.sends.push((target.dest, bytes));
            self.rearm_client(shard, cid);
        }
    }

    fn on_ack(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let (Ok(key), Some(call_id)) = (ServerKey::of(&msg, None), msg.call_id()) else {
            return;
        };
        let shard_no = self.table.shard_of(&call_id);
        {
            let mut shard = self.table.lock(shard_no);
            if let Some(id) = shard.state.server_index.get(&key).copied() {
                if let Some(st) = shard.state.servers.get_mut(&id) {
                    if st.state == SState::Completed {
                        // The ACK for our non-2xx: absorbed here (§17.2.1).
                        st.state = SState::Confirmed;
                        st.retransmit_at = None;
                        let wait = if st.reply_to.proto == Proto::Udp {
                            ms(self.cfg.timers.t4)
                        } else {
                            0
                        };
                        st.expire_at = Some(self.now() + wait);
                        self.rearm_server(&mut shard, id);
                        return;
                    }
                    if st.state == SState::Confirmed {
                        return;
                    }
                }
            }
        }
        // An ACK for a 2xx is its own transaction: relay it statelessly
        // along the route set (§16.6, §16.11).
        let Some(Ok(uri)) = msg.parsed_request_uri() else {
            return;
        };
        let routes: Vec<NameAddr> = msg.routes().filter_map(Result::ok).collect();
        let popped = routes
            .iter()
            .take_while(|r| self.local.is_local(&r.uri))
            .count();
        let next = routes.get(popped).map(|r| &r.uri).unwrap_or(&uri);
        if popped == 0 && routes.is_empty() && self.local.is_local(&uri) {
            return;
        }
        let Some(dest) = resolve(next) else { return };
        let mf = match msg.max_forwards() {
            Ok(Some(0)) => return,
            Ok(Some(n)) => n - 1,
            _ => 70,
        };
        let branch = format!("{}.{}", self.branches.next(), loop_hash(&msg));
        let plan = RelayPlan {
            popped,
            source: None,
            strict_routes: None,
            record_route: false,
            max_forwards: mf,
            identity: None,
        };
        let bytes = Relay {
            push_via: Some(self.our_via(dest.proto, &branch)),
            replace_routes: Some(plan.routes_after_pop(&msg)),
            max_forwards: Some(mf),
            ..Default::default()
        }
        .apply(&msg);
        let _ = inbound;
        wire.send(dest, bytes);
    }

    fn on_cancel(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let (Ok(key), Some(call_id)) =
            (ServerKey::of(&msg, Some(KeyMethod::Invite)), msg.call_id())
        else {
            return;
        };
        let shard_no = self.table.shard_of(&call_id);
        let mut fx = Effects::default();
        let found = {
            let mut shard = self.table.lock(shard_no);
            match shard.state.server_index.get(&key).copied() {
                None => false,
                Some(id) => {
                    let now = self.now();
                    let mut to_cancel = Vec::new();
                    if let Some(st) = shard.state.servers.get_mut(&id) {
                        if st.state == SState::Proceeding && !st.cancelled {
                            st.cancelled = true;
                            st.pending_groups.clear();
                            to_cancel = st.branches.clone();
                        }
                    }
                    for cid in to_cancel {
                        self.cancel_branch(&mut shard, cid, false, now, &mut fx);
                    }
                    self.check_complete(&mut shard, id, now, &mut fx);
                    true
                }
            }
        };
        // 200 to the CANCEL, whether or not the INVITE still rings (§16.10);
        // 481 when we know no such INVITE.
        let code = if found { 200 } else { 481 };
        let tag = self.local_tag(&msg);
        fx.sends.push((
            inbound.reply_to(),
            response(&msg, code)
                .source(inbound.source)
                .to_tag(&tag)
                .build(),
        ));
        self.flush(fx, wire);
    }

    /// Sends CANCEL on a branch that has rung; a branch that has not gets
    /// its CANCEL when its first provisional arrives and counts as
    /// terminated now.
    fn cancel_branch(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        cid: TxnId,
        timed_out: bool,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&cid) else {
            return;
        };
        if ct.state == CState::Completed || !ct.invite || ct.settled {
            return;
        }
        ct.timed_out |= timed_out;
        ct.ring_at = None;
        if ct.got_provisional {
            let cancel = parse(ct.sent.clone(), ct.dest.proto == Proto::Udp)
                .map(|m| hop_request(&m, "CANCEL", None));
            if let Ok(bytes) = cancel {
                let dest = ct.dest;
                let branch = ct.branch.clone();
                // Give the branch 64·T1 to answer the CANCEL with its final.
                ct.expire_at = Some(now + self.t1x64());
                self.rearm_client(shard, cid);
                self.start_cancel_txn(shard, branch, dest, bytes, now, fx);
            }
        } else {
            ct.cancel_owed = true;
            ct.settled = true;
        }
    }

    fn start_cancel_txn(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        branch: Bytes,
        dest: Outbound,
        bytes: Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        if shard
            .state
            .client_index
            .contains_key(&(branch.clone(), true))
        {
            return;
        }
        let id = self.next_id();
        let udp = dest.proto == Proto::Udp;
        shard.state.client_index.insert((branch.clone(), true), id);
        shard.state.clients.insert(
            id,
            ClientTxn {
                server: None,
                branch,
                generation: 0,
                invite: false,
                cancel: true,
                state: CState::Trying,
                dest,
                sent: bytes.clone(),
                interval: self.t1(),
                retransmit_at: udp.then(|| now + self.t1()),
                expire_at: Some(now + self.t1x64()),
                ring_at: None,
                got_provisional: false,
                cancel_owed: false,
                timed_out: false,
                settled: false,
                target: Bytes::new(),
                call: None,
                reported: false,
            },
        );
        self.metrics.transactions_active.inc();
        fx.sends.push((dest, bytes));
        self.rearm_client(shard, id);
    }

    // ---- responses -----------------------------------------------------

    fn on_response(&self, msg: SipMessage, inbound: &Inbound, wire: &dyn Wire) {
        let Some(code) = msg.status() else { return };
        self.metrics.response(code);
        if check_response(&msg).is_err() {
            return;
        }
        let Ok(via) = msg.top_via() else { return };
        let Some(branch) = via.branch.clone() else {
            return;
        };
        if !self.branches.is_ours(&branch) {
            return;
        }
        let Ok((_, cseq_method)) = msg.cseq() else {
            return;
        };
        let Some(call_id) = msg.call_id() else { return };
        let is_cancel = cseq_method == Method::Cancel;
        let now = self.now();
        let mut fx = Effects::default();
        let shard_no = self.table.shard_of(&call_id);
        let mut shard = self.table.lock(shard_no);
        let Some(cid) = shard.state.client_index.get(&(branch, is_cancel)).copied() else {
            drop(shard);
            // No transaction: a retransmitted 2xx, relayed statelessly
            // (RFC 6026 / §16.7 step 10).
            if (200..300).contains(&code) {
                self.forward_stateless_response(&msg, wire);
            }
            return;
        };
        let _ = inbound;
        self.client_response(&mut shard, cid, &msg, code, now, &mut fx);
        drop(shard);
        self.flush(fx, wire);
    }

    fn forward_stateless_response(&self, msg: &SipMessage, wire: &dyn Wire) {
        let Some(Ok(next)) = msg.vias().nth(1) else {
            return;
        };
        let Some(dest) = via_destination(&next) else {
            return;
        };
        wire.send(
            dest,
            Relay {
                pop_via: true,
                ..Default::default()
            }
            .apply(msg),
        );
    }

    fn client_response(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        cid: TxnId,
        msg: &SipMessage,
        code: u16,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&cid) else {
            return;
        };
        if ct.cancel {
            if code >= 200 {
                ct.state = CState::Completed;
                ct.retransmit_at = None;
                ct.expire_at = Some(now);
                self.rearm_client(shard, cid);
            }
            return;
        }
        let server = ct.server;
        if code < 200 {
            if ct.state == CState::Trying {
                ct.state = CState::Proceeding;
                if ct.invite {
                    ct.retransmit_at = None;
                    // Timer B stops once the branch rings; Timer C or the
                    // ring timeout bounds it from now on.
                    ct.expire_at = None;
                    if ct.ring_at.is_none() {
                        ct.ring_at = Some(now + ms(self.cfg.timers.timer_c));
                    }
                } else {
                    ct.retransmit_at = ct.retransmit_at.map(|_| now + ms(self.cfg.timers.t2));
                }
            }
            ct.got_provisional = true;
            if ct.cancel_owed {
                ct.cancel_owed = false;
                let dest = ct.dest;
                let branch = ct.branch.clone();
                if let Ok(m) = parse(ct.sent.clone(), dest.proto == Proto::Udp) {
                    let bytes = hop_request(&m, "CANCEL", None);
                    self.start_cancel_txn(shard, branch, dest, bytes, now, fx);
                }
                return;
            }
            self.rearm_client(shard, cid);
            if code > 100 {
                if let Some(sid) = server {
                    self.forward_provisional(shard, sid, msg, code, fx);
                }
            }
            return;
        }
        let invite = ct.invite;
        let timed_out = ct.timed_out;
        let target = ct.target.clone();
        if invite && (200..300).contains(&code) {
            // The branch is done; later 2xx retransmissions are relayed
            // statelessly.
            self.remove_client(shard, cid);
            if let Some(sid) = server {
                self.forward_2xx(shard, sid, msg, &target, now, fx);
            }
            return;
        }
        // A final non-2xx (or any final of a non-INVITE).
        if ct.state == CState::Completed {
            // Retransmitted final: repeat our ACK (§17.1.1.2).
            if invite {
                if let Ok(sent) = parse(ct.sent.clone(), ct.dest.proto == Proto::Udp) {
                    let to = msg.header("To").map(|t| t.into_owned()).unwrap_or_default();
                    fx.sends
                        .push((ct.dest, hop_request(&sent, "ACK", Some(&to))));
                }
            }
            return;
        }
        ct.state = CState::Completed;
        ct.settled = true;
        ct.retransmit_at = None;
        ct.ring_at = None;
        let udp = ct.dest.proto == Proto::Udp;
        ct.expire_at = Some(
            now + if !udp {
                0
            } else if invite {
                32_000
            } else {
                ms(self.cfg.timers.t4)
            },
        );
        if invite {
            if let Ok(sent) = parse(ct.sent.clone(), udp) {
                let to = msg.header("To").map(|t| t.into_owned()).unwrap_or_default();
                fx.sends
                    .push((ct.dest, hop_request(&sent, "ACK", Some(&to))));
            }
        }
        self.rearm_client(shard, cid);
        let Some(sid) = server else { return };
        let effective = if timed_out && code == 487 { 408 } else { code };
        if invite {
            self.report_branch_failed(&mut shard.state, cid, effective, fx);
        }
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        if !invite && (200..300).contains(&code) {
            // An UPDATE answered with a session interval refreshes it.
            let update = msg.cseq().ok().is_some_and(|(_, m)| m == Method::Update);
            if let (true, Some(se)) = (update, session_expires_of(msg)) {
                fx.events.push(DialogEvent::Refreshed {
                    id: dialog_id(msg),
                    session_expires: se,
                    at: Utc::now(),
                });
            }
            self.send_final(&mut shard.state, sid, code, relayed, now, fx);
            self.rearm_server(shard, sid);
            return;
        }
        if let Some(st) = shard.state.servers.get_mut(&sid) {
            if better(effective, st.best.as_ref().map(|b| b.0)) {
                let bytes = match (effective != code, st.request.as_ref()) {
                    // We cancelled it for ringing too long: the caller hears
                    // "no answer", not the 487 our CANCEL provoked.
                    (true, Some(req)) => {
                        let tag = self.local_tag(req);
                        response(req, effective)
                            .source(st.reply_to.dest)
                            .to_tag(&tag)
                            .build()
                    }
                    _ => relayed,
                };
                st.best = Some((effective, bytes));
            }
        }
        if (600..700).contains(&code) {
            // §16.7 step 5: a 6xx ends the search everywhere.
            let others = shard
                .state
                .servers
                .get_mut(&sid)
                .map(|st| {
                    st.pending_groups.clear();
                    st.branches.clone()
                })
                .unwrap_or_default();
            for o in others {
                self.cancel_branch(shard, o, false, now, fx);
            }
        }
        self.check_complete(shard, sid, now, fx);
    }

    fn forward_provisional(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        sid: TxnId,
        msg: &SipMessage,
        code: u16,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            // Late provisional after the final: never downgrade.
            return;
        }
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        st.last = Some(relayed.clone());
        fx.sends.push((st.reply_to, relayed));
        if st.initial_invite && !st.ringing_sent && (180..190).contains(&code) {
            st.ringing_sent = true;
            if let Some(req) = &st.request {
                fx.events.push(DialogEvent::Ringing {
                    id: dialog_id(req),
                    code,
                    at: Utc::now(),
                });
            }
        }
    }

    fn forward_2xx(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        sid: TxnId,
        msg: &SipMessage,
        target: &Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        let relayed = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(msg);
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        // Every 2xx goes upstream at once, even a second one from another
        // fork (§16.7 step 5).
        fx.sends.push((st.reply_to, relayed));
        if st.state != SState::Proceeding {
            return;
        }
        let session = session_expires_of(msg);
        if !st.initial_invite {
            // A re-INVITE answered: the session timer restarts.
            if let Some(se) = session {
                fx.events.push(DialogEvent::Refreshed {
                    id: dialog_id(msg),
                    session_expires: se,
                    at: Utc::now(),
                });
            }
        }
        st.state = SState::Accepted;
        st.retransmit_at = None;
        st.expire_at = Some(now + self.t1x64());
        st.pending_groups.clear();
        st.last = None;
        let others = st.branches.clone();
        let initial = st.initial_invite;
        let request = st.request.take();
        fx.setup = Some(now.saturating_sub(st.received_at) as f64 / 1000.0);
        if let (true, Some(req)) = (initial, request) {
            let to_tag = msg.to_tag().ok().flatten().unwrap_or_default();
            let from_tag = req.from_tag().ok().flatten().unwrap_or_default();
            if let Some(call_id) = req.call_id() {
                // Owned copies, so the dialog does not pin the INVITE's
                // buffer for the whole call.
                shard.state.dialogs.insert(
                    Bytes::copy_from_slice(&call_id),
                    Dialog {
                        caller_tag: Bytes::copy_from_slice(&from_tag),
                    },
                );
                self.metrics.calls_active.inc();
            }
            fx.events.push(DialogEvent::Answered {
                id: dialog_id(&req),
                to_tag: lossy(&to_tag),
                caller: header_uri(&req, "From"),
                callee: header_uri(&req, "To"),
                target: lossy(target),
                session_expires: session,
                at: Utc::now(),
            });
        }
        for o in others {
            self.cancel_branch(shard, o, false, now, fx);
        }
        self.rearm_server(shard, sid);
    }

    /// When every branch of the current group is final, try the next group
    /// or send the best response upstream (§16.7 step 6).
    fn check_complete(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        sid: TxnId,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            return;
        }
        let all_final = st.branches.iter().all(|b| {
            shard
                .state
                .clients
                .get(b)
                .is_none_or(|c| c.settled || c.state == CState::Completed)
        });
        if !all_final {
            return;
        }
        let next_group = !st.cancelled && !st.pending_groups.is_empty();
        if next_group {
            let Some(st) = shard.state.servers.get_mut(&sid) else {
                return;
            };
            let group = st.pending_groups.remove(0);
            let Some(req) = st.request.clone() else {
                return;
            };
            let popped = req
                .routes()
                .filter_map(Result::ok)
                .take_while(|r| self.local.is_local(&r.uri))
                .count();
            let plan = RelayPlan {
                popped,
                source: Some(st.reply_to.dest),
                strict_routes: None,
                record_route: st.initial_invite,
                max_forwards: req
                    .max_forwards()
                    .ok()
                    .flatten()
                    .map(|m| m.saturating_sub(1))
                    .unwrap_or(70),
                identity: st.identity.clone(),
            };
            let proto = st.reply_to.proto;
            self.fork_group(shard, sid, &req, group, &plan, proto, now, fx);
            return;
        }
        let Some(st) = shard.state.servers.get_mut(&sid) else {
            return;
        };
        let cancelled = st.cancelled;
        let (code, bytes) = match st.best.take() {
            Some((code, bytes)) if code != 503 => (code, bytes),
            other => {
                // §16.7 step 6: a 503 from downstream becomes 500 upstream;
                // with no answer at all, the caller hears 408 (or 487 when
                // it cancelled).
                let code = match (cancelled, other) {
                    (true, _) => 487,
                    (false, Some(_)) => 500,
                    (false, None) => 408,
                };
                let Some(req) = st.request.as_ref() else {
                    return;
                };
                let tag = self.local_tag(req);
                (
                    code,
                    response(req, code)
                        .source(st.reply_to.dest)
                        .to_tag(&tag)
                        .build(),
                )
            }
        };
        if st.initial_invite {
            if let Some(req) = &st.request {
                fx.events.push(DialogEvent::Failed {
                    id: dialog_id(req),
                    code,
                    cancelled,
                    caller: header_uri(req, "From"),
                    callee: header_uri(req, "To"),
                    at: Utc::now(),
                });
            }
        }
        self.send_final(&mut shard.state, sid, code, bytes, now, fx);
        self.rearm_server(shard, sid);
    }

    /// Sends a final response upstream and moves the server transaction to
    /// the state that absorbs what follows.
    fn send_final(
        &self,
        shard: &mut CallShard,
        sid: TxnId,
        code: u16,
        bytes: Bytes,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.servers.get_mut(&sid) else {
            return;
        };
        if st.state != SState::Proceeding {
            return;
        }
        let udp = st.reply_to.proto == Proto::Udp;
        fx.sends.push((st.reply_to, bytes.clone()));
        st.request = None;
        st.pending_groups.clear();
        if st.invite && (200..300).contains(&code) {
            st.state = SState::Accepted;
            st.last = None;
            st.expire_at = Some(now + self.t1x64());
        } else if st.invite {
            st.state = SState::Completed;
            st.last = Some(bytes);
            st.interval = self.t1();
            st.retransmit_at = udp.then(|| now + self.t1());
            st.expire_at = Some(now + self.t1x64());
        } else {
            st.state = SState::Completed;
            st.last = Some(bytes);
            st.expire_at = Some(now + if udp { self.t1x64() } else { 0 });
        }
    }

    // ---- timers --------------------------------------------------------

    fn rearm_server(&self, shard: &mut super::transaction::Shard<CallShard, TxnId>, id: TxnId) {
        let Some(st) = shard.state.servers.get_mut(&id) else {
            return;
        };
        st.generation += 1;
        let next = [st.retransmit_at, st.expire_at].into_iter().flatten().min();
        if let Some(at) = next {
            let generation = st.generation;
            shard.arm(at, generation, id << 1);
        }
    }

    fn rearm_client(&self, shard: &mut super::transaction::Shard<CallShard, TxnId>, id: TxnId) {
        let Some(ct) = shard.state.clients.get_mut(&id) else {
            return;
        };
        ct.generation += 1;
        let next = [ct.retransmit_at, ct.expire_at, ct.ring_at]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            let generation = ct.generation;
            shard.arm(at, generation, (id << 1) | 1);
        }
    }

    /// Fires due timers in every shard; called every few milliseconds.
    pub fn tick(&self, wire: &dyn Wire) {
        let now = self.now();
        for i in 0..self.table.len() {
            let mut fx = Effects::default();
            {
                let mut shard = self.table.lock(i);
                while let Some(e) = shard.pop_due(now) {
                    let id = e.id >> 1;
                    if e.id & 1 == 1 {
                        self.client_timer(&mut shard, id, e.generation, now, &mut fx);
                    } else {
                        self.server_timer(&mut shard, id, e.generation, now, &mut fx);
                    }
                }
            }
            self.flush(fx, wire);
        }
    }

    fn server_timer(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        id: TxnId,
        generation: u64,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(st) = shard.state.servers.get_mut(&id) else {
            return;
        };
        if st.generation != generation {
            return;
        }
        if st.expire_at.is_some_and(|t| t <= now) {
            // Timers H, I, J, L: the transaction is over.
            let key = st.key.clone();
            let branches = std::mem::take(&mut st.branches);
            shard.state.servers.remove(&id);
            shard.state.server_index.remove(&key);
            self.metrics.transactions_active.dec();
            for b in branches {
                if let Some(c) = shard.state.clients.get_mut(&b) {
                    c.server = None;
                }
            }
            return;
        }
        if st.retransmit_at.is_some_and(|t| t <= now) {
            // Timer G: the non-2xx final again, until the ACK.
            if let Some(last) = &st.last {
                fx.sends.push((st.reply_to, last.clone()));
                fx.retransmissions += 1;
            }
            st.interval = (st.interval * 2).min(ms(self.cfg.timers.t2));
            st.retransmit_at = Some(now + st.interval);
        }
        self.rearm_server(shard, id);
    }

    fn client_timer(
        &self,
        shard: &mut super::transaction::Shard<CallShard, TxnId>,
        id: TxnId,
        generation: u64,
        now: Millis,
        fx: &mut Effects,
    ) {
        let Some(ct) = shard.state.clients.get_mut(&id) else {
            return;
        };
        if ct.generation != generation {
            return;
        }
        if ct.expire_at.is_some_and(|t| t <= now) {
            let completed = ct.state == CState::Completed;
            let server = ct.server;
            let was_settled = ct.settled;
            if !completed && ct.invite && !ct.cancel {
                self.report_branch_failed(&mut shard.state, id, 408, fx);
            }
            self.remove_client(shard, id);
            if !completed {
                // Timers B/F (or no answer to our CANCEL): the branch
                // failed with 408 (§16.7 step 2 treats it as a response).
                if let (Some(sid), false) = (server, was_settled) {
                    self.note_no_answer(&mut shard.state, sid);
                }
                if let Some(sid) = server {
                    self.check_complete(shard, sid, now, fx);
                }
            }
            return;
        }
        if ct.ring_at.is_some_and(|t| t <= now) {
            ct.ring_at = None;
            // Ring timeout / Timer C (§16.8): CANCEL a ringing branch, give
            // up on a silent one.
            if ct.got_provisional {
                let server = ct.server;
                self.cancel_branch(shard, id, true, now, fx);
                if let Some(sid) = server {
                    self.check_complete(shard, sid, now, fx);
                }
            } else {
                ct.settled = true;
                ct.cancel_owed = true;
                ct.timed_out = true;
                let server = ct.server;
                if ct.invite {
                    self.report_branch_failed(&mut shard.state, id, 408, fx);
                }
                if let Some(sid) = server {
                    self.note_no_answer(&mut shard.state, sid);
                    self.check_complete(shard, sid, now, fx);
                }
            }
            self.rearm_client(shard, id);
            return;
        }
        if ct.retransmit_at.is_some_and(|t| t <= now) {
            // Timers A and E.
            fx.sends.push((ct.dest, ct.sent.clone()));
            fx.retransmissions += 1;
            ct.interval = if ct.invite {
                ct.interval * 2
            } else {
                (ct.interval * 2).min(ms(self.cfg.timers.t2))
            };
            ct.retransmit_at = Some(now + ct.interval);
        }
        self.rearm_client(shard, id);
    }

    /// Emits [`DialogEvent::BranchFailed`] once per branch of an initial
    /// INVITE.
    fn report_branch_failed(&self, shard: &mut CallShard, cid: TxnId, code: u16, fx: &mut Effects) {
        let Some(ct) = shard.clients.get_mut(&cid) else {
            return;
        };
        if ct.reported {
            return;
        }
        ct.reported = true;
        if let Some(id) = &ct.call {
            fx.events.push(DialogEvent::BranchFailed {
                id: DialogId::clone(id),
                target: lossy(&ct.target),
                code,
                at: Utc::now(),
            });
        }
    }

    /// A branch that never answered counts as 408 in the best-response
    /// choice (§16.7 step 2), losing to any real answer.
    fn note_no_answer(&self, shard: &mut CallShard, sid: TxnId) {
        let Some(st) = shard.servers.get_mut(&sid) else {
            return;
        };
        if !better(408, st.best.as_ref().map(|b| b.0)) {
            return;
        }
        if let Some(req) = &st.request {
            let tag = self.local_tag(req);
            let resp = response(req, 408)
                .source(st.reply_to.dest)
                .to_tag(&tag)
                .build();
            st.best = Some((408, resp));
        }
    }

    fn remove_client(&self, shard: &mut super::transaction::Shard<CallShard, TxnId>, id: TxnId) {
        if let Some(ct) = shard.state.clients.remove(&id) {
            shard.state.client_index.remove(&(ct.branch, ct.cancel));
            self.metrics.transactions_active.dec();
        }
    }

    fn flush(&self, fx: Effects, wire: &dyn Wire) {
        for (to, bytes) in fx.sends {
            wire.send(to, bytes);
        }
        if fx.retransmissions > 0 {
            self.metrics.retransmissions.inc_by(fx.retransmissions);
        }
        if let Some(s) = fx.setup {
            self.metrics.call_setup.observe(s);
        }
        if let Some(sink) = &self.events {
            for e in fx.events {
                if sink.try_send(e).is_err() {
                    self.metrics.events_dropped.inc();
                }
            }
        }
    }

    /// Called for every in-dialog BYE we relay: the dialog ends now.
    fn bye_seen(&self, msg: &SipMessage) -> Option<DialogEvent> {
        let call_id = msg.call_id()?;
        let shard_no = self.table.shard_of(&call_id);
        let dialog = self.table.lock(shard_no).state.dialogs.remove(&call_id)?;
        self.metrics.calls_active.dec();
        let from_tag = msg.from_tag().ok().flatten().unwrap_or_default();
        let by = if from_tag == dialog.caller_tag {
            Party::Caller
        } else {
            Party::Callee
        };
        let caller_tag = dialog.caller_tag;
        Some(DialogEvent::Ended {
            id: DialogId {
                call_id: lossy(&call_id),
                from_tag: lossy(&caller_tag),
            },
            by,
            at: Utc::now(),
        })
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
        targets: vec![super::router::Target { uri, dest }],
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
    hex::encode(&h.finalize()[..4])
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
        _ => Proto::Udp,
    };
    Some(Outbound {
        dest: SocketAddr::new(ip, port),
        proto,
        conn: None,
    })
}
