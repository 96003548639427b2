//! A small SIP user agent for integration tests, over real sockets on
//! 127.0.0.1.
//!
//! One [`Agent`] is one phone: a UDP socket, or a TCP listener plus one
//! connection to the proxy (requests may also arrive on that connection).
//! Tests drive it step by step: send a request, wait for what comes back
//! with a timeout, answer or deliberately ignore it. Every wait ends with
//! [`AgentError::Timeout`] instead of hanging, and nothing received from
//! the network can make it panic.
//!
//! What the agent does on its own, like a real UA (each can be switched
//! off):
//! - a retransmitted request that was already answered gets the last
//!   response again and is not shown to the test
//!   ([`Agent::set_absorb_retransmissions`]);
//! - a retransmitted 2xx to an INVITE that was already ACKed is ACKed
//!   again and not shown;
//! - over UDP a final response to INVITE is retransmitted (T1 doubling to
//!   T2) until the ACK arrives ([`Agent::set_retransmit_finals`]).
//!
//! Everything else (ACK, CANCEL, answering BYE) is up to the test.
//! Incoming messages wait in one queue; the `next_*` methods take the first
//! one that matches and leave the rest queued.
//!
//! One concern per file: `net` (sockets and the tasks that read them, the
//! reflexes above), `auth` (digest challenges and REGISTER), `dialog`
//! (INVITE, ACK, CANCEL, BYE and answering them); this file holds the
//! agent, its settings and the receive queue.
#![allow(dead_code)]

mod auth;
mod dialog;
mod net;

pub use auth::*;
use net::*;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use md5::Md5;
use protocall::sip::digest::{self, Algorithm};
use protocall::sip::edit::response;
use protocall::sip::message::{Contact, Method, SipMessage};
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// RFC 3261 timer T1.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2.
pub const T2: Duration = Duration::from_secs(4);
/// Default wait for `register` and other calls without an explicit timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

const USER_AGENT: &str = "protocall-test-agent";

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[derive(Debug)]
pub enum AgentError {
    /// Nothing matching arrived in time; the text says what was awaited.
    Timeout(String),
    Io(std::io::Error),
    /// A message could not be built or understood.
    Protocol(String),
    /// No dialog for this call (no 2xx seen or sent yet).
    NoDialog,
    /// Nowhere to send: no proxy and nobody has talked to us yet.
    NoPeer,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            AgentError::Io(e) => write!(f, "I/O error: {e}"),
            AgentError::Protocol(s) => write!(f, "protocol error: {s}"),
            AgentError::NoDialog => f.write_str("no dialog for this call"),
            AgentError::NoPeer => f.write_str("no proxy or peer to send to"),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<std::io::Error> for AgentError {
    fn from(e: std::io::Error) -> Self {
        AgentError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, AgentError>;

fn protocol(s: impl Into<String>) -> AgentError {
    AgentError::Protocol(s.into())
}

// ---------------------------------------------------------------------------
// Public value types
// ---------------------------------------------------------------------------

/// Where a message came from, and so where a reply goes: the source
/// address and, for TCP, the connection it arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    pub conn: Option<u64>,
}

impl Peer {
    pub fn addr(addr: SocketAddr) -> Peer {
        Peer { addr, conn: None }
    }
}

/// One received datagram or stream frame. `msg` is `None` when it did not
/// parse (garbage, keep-alive CRLFs, a framing error on TCP).
#[derive(Debug, Clone)]
pub struct Incoming {
    pub raw: Bytes,
    pub msg: Option<SipMessage>,
    pub from: Peer,
}

/// Transport of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// A call as seen by one side: enough to CANCEL, ACK, BYE or re-send it.
/// The dialog state itself (remote tag, route set, CSeq counter) lives in
/// the [`Agent`], keyed by `call_id` and `local_tag`.
#[derive(Debug, Clone)]
pub struct Call {
    pub call_id: String,
    pub local_tag: String,
    /// Request-URI of the INVITE.
    pub target: String,
    /// CSeq number of the INVITE.
    pub cseq: u32,
    /// Branch of the INVITE's top Via (ours as UAC, the proxy's as UAS).
    pub branch: String,
    /// The INVITE as sent (UAC) or as received (UAS).
    pub invite: Bytes,
    /// True when this agent sent the INVITE.
    pub is_caller: bool,
    /// Where the INVITE went (UAC) or came from (UAS).
    pub peer: Peer,
    via: String,
    from: String,
    to: String,
    routes: Vec<String>,
}

/// A request the agent sent, for tests that want to match on it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub bytes: Bytes,
    pub branch: String,
    pub call_id: String,
    pub cseq: u32,
}

// ---------------------------------------------------------------------------
// Dialogs
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Dialog {
    /// Our From value in requests we send, tag included.
    local_hdr: String,
    /// Their To value in requests we send, tag included once known.
    remote_hdr: String,
    remote_tag: Option<String>,
    remote_target: String,
    route_set: Vec<String>,
    local_cseq: u32,
    invite_cseq: u32,
    is_caller: bool,
}

fn contact_uri_of(msg: &SipMessage) -> Option<String> {
    msg.contacts().find_map(|c| match c {
        Ok(Contact::Addr(na)) => Some(text(&na.uri.raw)),
        _ => None,
    })
}

fn record_routes(msg: &SipMessage) -> Vec<String> {
    msg.headers("Record-Route")
        .map(|v| text(&v))
        .filter(|v| !v.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------

/// A test SIP user agent. See the module docs.
pub struct Agent {
    user: String,
    domain: String,
    proxy: Option<SocketAddr>,
    transport: Transport,
    shared: Arc<Shared>,
    timeout: Duration,
    reg_call_id: String,
    reg_cseq: u32,
    reg_from_tag: String,
    /// Last challenge answered and its nonce-count, for preemptive reuse.
    last_challenge: Option<(DigestChallenge, u32)>,
    next_cseq: u32,
    dialogs: HashMap<(String, String), Dialog>,
    /// UAS To tags by (Call-ID, From tag, branch).
    uas_tags: HashMap<(String, String, String), String>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
        for (_, h) in lock(&self.shared.auto).retrans.drain() {
            h.abort();
        }
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("user", &self.user)
            .field("transport", &self.transport)
            .field("local", &self.shared.local)
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl Agent {
    fn with_shared(
        user: &str,
        proxy: Option<SocketAddr>,
        transport: Transport,
        shared: Arc<Shared>,
    ) -> Agent {
        Agent {
            user: user.to_owned(),
            domain: proxy
                .map(|p| p.ip().to_string())
                .unwrap_or_else(|| "127.0.0.1".to_owned()),
            proxy,
            transport,
            shared,
            timeout: DEFAULT_TIMEOUT,
            reg_call_id: format!("{}@127.0.0.1", random_hex(10)),
            reg_cseq: 0,
            reg_from_tag: random_hex(6),
            last_challenge: None,
            next_cseq: 1,
            dialogs: HashMap::new(),
            uas_tags: HashMap::new(),
        }
    }

    fn new_shared(net: Net, local: SocketAddr) -> Arc<Shared> {
        Arc::new(Shared {
            net,
            local,
            inbox: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            auto: Mutex::new(Auto {
                absorb: true,
                retransmit_finals: true,
                drops: Vec::new(),
                dropped: 0,
                absorbed: 0,
                server_tx: HashMap::new(),
                acks: HashMap::new(),
                retrans: HashMap::new(),
                last_source: None,
            }),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// A UDP agent on 127.0.0.1 (random port) whose outbound proxy is
    /// `proxy`.
    pub async fn udp(user: &str, proxy: SocketAddr) -> Result<Agent> {
        Self::udp_inner(user, Some(proxy)).await
    }

    /// A UDP agent without a proxy: it sends to whoever last sent it
    /// something, until [`Agent::set_proxy`].
    pub async fn udp_listener(user: &str) -> Result<Agent> {
        Self::udp_inner(user, None).await
    }

    /// A UDP agent bound to another loopback address (e.g. 127.0.0.2, to
    /// play a carrier trunk the daemon trusts while phones on 127.0.0.1
    /// must authenticate).
    pub async fn udp_on(user: &str, ip: std::net::IpAddr, proxy: SocketAddr) -> Result<Agent> {
        Self::udp_bound(user, SocketAddr::new(ip, 0), Some(proxy)).await
    }

    async fn udp_inner(user: &str, proxy: Option<SocketAddr>) -> Result<Agent> {
        Self::udp_bound(user, SocketAddr::from(([127, 0, 0, 1], 0)), proxy).await
    }

    async fn udp_bound(user: &str, bind: SocketAddr, proxy: Option<SocketAddr>) -> Result<Agent> {
        let sock = UdpSocket::bind(bind).await?;
        let local = sock.local_addr()?;
        let shared = Self::new_shared(Net::Udp(sock), local);
        let s = shared.clone();
        shared.spawn(async move { s.read_udp().await });
        Ok(Self::with_shared(user, proxy, Transport::Udp, shared))
    }

    /// A TCP agent: listens on 127.0.0.1 (random port) and opens one
    /// connection to `proxy`, from the same port when the OS allows.
    pub async fn tcp(user: &str, proxy: SocketAddr) -> Result<Agent> {
        let agent = Self::tcp_inner(user, Some(proxy)).await?;
        agent.shared.connect(proxy).await?;
        Ok(agent)
    }

    /// A TCP agent that only listens; it sends on the connection whoever
    /// last sent it something used, until [`Agent::set_proxy`].
    pub async fn tcp_listener(user: &str) -> Result<Agent> {
        Self::tcp_inner(user, None).await
    }

    async fn tcp_inner(user: &str, proxy: Option<SocketAddr>) -> Result<Agent> {
        let sock = TcpSocket::new_v4()?;
        sock.set_reuseaddr(true)?;
        sock.set_reuseport(true)?;
        sock.bind(
            "127.0.0.1:0"
                .parse()
                .map_err(|_| protocol("bad bind address"))?,
        )?;
        let listener = sock.listen(64)?;
        let local = listener.local_addr()?;
        let shared = Self::new_shared(
            Net::Tcp(TcpState {
                conns: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
            local,
        );
        let s = shared.clone();
        shared.spawn(async move { s.accept_loop(listener).await });
        Ok(Self::with_shared(user, proxy, Transport::Tcp, shared))
    }

    // ----- settings and addresses ------------------------------------------

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    pub fn proxy(&self) -> Option<SocketAddr> {
        self.proxy
    }

    /// Changes the outbound proxy (TCP connects lazily on the next send).
    pub fn set_proxy(&mut self, proxy: SocketAddr) {
        self.proxy = Some(proxy);
    }

    /// Domain of our address-of-record `sip:user@domain` and of the
    /// REGISTER Request-URI; defaults to the proxy's IP.
    pub fn set_domain(&mut self, domain: &str) {
        self.domain = domain.to_owned();
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Wait used by calls without an explicit timeout (`register`).
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// `sip:user@domain`.
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    /// `sip:user@127.0.0.1:port`, plus `;transport=tcp` over TCP.
    pub fn contact_uri(&self) -> String {
        let l = self.shared.local;
        match self.transport {
            Transport::Udp => format!("sip:{}@{}:{}", self.user, l.ip(), l.port()),
            Transport::Tcp => format!("sip:{}@{}:{};transport=tcp", self.user, l.ip(), l.port()),
        }
    }

    /// A fresh top Via value with a new branch: (value, branch).
    pub fn new_via(&self) -> (String, String) {
        let branch = new_branch();
        let l = self.shared.local;
        (
            format!(
                "SIP/2.0/{} {}:{};rport;branch={}",
                self.transport.via_token(),
                l.ip(),
                l.port(),
                branch
            ),
            branch,
        )
    }

    /// Answer retransmitted requests from the last response, and re-ACK
    /// retransmitted 2xx, without showing them to the test (default on).
    pub fn set_absorb_retransmissions(&mut self, on: bool) {
        lock(&self.shared.auto).absorb = on;
    }

    /// Over UDP, retransmit final responses to INVITE until the ACK
    /// (default on; never over TCP).
    pub fn set_retransmit_finals(&mut self, on: bool) {
        lock(&self.shared.auto).retransmit_finals = on;
    }

    /// Silently drop the next `count` incoming messages matching `pred`
    /// (simulated packet loss: nothing is answered, nothing is queued).
    pub fn drop_incoming<F>(&mut self, count: usize, pred: F)
    where
        F: Fn(&SipMessage) -> bool + Send + 'static,
    {
        if count > 0 {
            lock(&self.shared.auto).drops.push(DropRule {
                remaining: count,
                pred: Box::new(pred),
            });
        }
    }

    /// Drops the next `count` responses with this status.
    pub fn drop_responses(&mut self, status: u16, count: usize) {
        self.drop_incoming(count, move |m| m.status() == Some(status));
    }

    /// Drops the next `count` requests with this method.
    pub fn drop_requests(&mut self, method: Method, count: usize) {
        self.drop_incoming(count, move |m| m.method().as_ref() == Some(&method));
    }

    /// Messages dropped by [`Agent::drop_incoming`] rules so far.
    pub fn dropped(&self) -> usize {
        lock(&self.shared.auto).dropped
    }

    /// Retransmissions absorbed (answered from the last response, or
    /// re-ACKed) so far.
    pub fn absorbed(&self) -> usize {
        lock(&self.shared.auto).absorbed
    }

    /// Whether an INVITE final response is still being retransmitted.
    pub fn retransmitting(&self) -> bool {
        lock(&self.shared.auto)
            .retrans
            .values()
            .any(|h| !h.is_finished())
    }

    /// Closes all TCP connections (no-op over UDP).
    pub fn disconnect(&mut self) {
        if let Net::Tcp(tcp) = &self.shared.net {
            lock(&tcp.conns).clear();
        }
    }

    // ----- raw I/O ---------------------------------------------------------

    fn proxy_peer(&self) -> Result<Peer> {
        if let Some(p) = self.proxy {
            return Ok(Peer::addr(p));
        }
        lock(&self.shared.auto)
            .last_source
            .ok_or(AgentError::NoPeer)
    }

    /// Sends bytes as they are to the proxy.
    pub async fn send_raw(&self, bytes: impl Into<Bytes>) -> Result<()> {
        let to = self.proxy_peer()?;
        self.shared.send(to, bytes.into()).await
    }

    /// Sends bytes as they are to `to`.
    pub async fn send_raw_to(&self, to: Peer, bytes: impl Into<Bytes>) -> Result<()> {
        self.shared.send(to, bytes.into()).await
    }

    /// The next queued item of any kind, parsed or not.
    pub async fn recv_raw(&mut self, timeout: Duration) -> Result<Incoming> {
        self.next_where(timeout, "any message", |_| true).await
    }

    /// The next parsed message, request or response.
    pub async fn next_message(&mut self, timeout: Duration) -> Result<Incoming> {
        self.next_where(timeout, "a SIP message", |i| i.msg.is_some())
            .await
    }

    /// Number of queued items.
    pub fn pending(&self) -> usize {
        lock(&self.shared.inbox).len()
    }

    /// Empties the queue, returning what was in it.
    pub fn drain(&mut self) -> Vec<Incoming> {
        lock(&self.shared.inbox).drain(..).collect()
    }

    /// Waits until nothing new arrives for `quiet` (or `max` passes) and
    /// returns how many items were queued meanwhile (they stay queued).
    pub async fn settle(&self, quiet: Duration, max: Duration) -> usize {
        let before = self.pending();
        let end = Instant::now() + max;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let until = (Instant::now() + quiet).min(end);
            if tokio::time::timeout_at(until, notified).await.is_err() || Instant::now() >= end {
                return self.pending().saturating_sub(before);
            }
        }
    }

    /// Removes and returns the first queued item matching `pred`, waiting
    /// up to `timeout` for one to arrive.
    pub async fn next_where<F>(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: F,
    ) -> Result<Incoming>
    where
        F: Fn(&Incoming) -> bool,
    {
        let deadline = Instant::now() + timeout;
        let shared = self.shared.clone();
        loop {
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let found = {
                let mut q = lock(&shared.inbox);
                q.iter().position(&pred).and_then(|i| q.remove(i))
            };
            if let Some(item) = found {
                if let Some(m) = &item.msg {
                    self.learn_from_response(m);
                }
                return Ok(item);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(AgentError::Timeout(what.to_owned()));
            }
        }
    }

    /// Like [`Agent::next_where`] on parsed messages only.
    pub async fn next_msg_where<F>(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: F,
    ) -> Result<(SipMessage, Peer)>
    where
        F: Fn(&SipMessage) -> bool,
    {
        let item = self
            .next_where(timeout, what, |i| i.msg.as_ref().is_some_and(&pred))
            .await?;
        match item.msg {
            Some(m) => Ok((m, item.from)),
            None => Err(protocol("unparsed item matched")),
        }
    }

    // ----- receiving -------------------------------------------------------

    /// The next response (any method, any status).
    pub async fn next_response(&mut self, timeout: Duration) -> Result<SipMessage> {
        Ok(self
            .next_msg_where(timeout, "a response", |m| !m.is_request())
            .await?
            .0)
    }

    /// The next response whose CSeq method is `method`.
    pub async fn next_response_to(
        &mut self,
        method: Method,
        timeout: Duration,
    ) -> Result<SipMessage> {
        let what = format!("a response to {}", method_text(&method));
        Ok(self
            .next_msg_where(timeout, &what, |m| {
                !m.is_request() && cseq_of(m).is_some_and(|c| c.1 == method)
            })
            .await?
            .0)
    }

    /// The next final (>= 200) response to `method`; provisional responses
    /// to `method` queued before it are discarded.
    pub async fn final_response(
        &mut self,
        method: Method,
        timeout: Duration,
    ) -> Result<SipMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.next_response_to(method.clone(), left).await?;
            if r.status().unwrap_or(0) >= 200 {
                return Ok(r);
            }
        }
    }

    /// The next response to `method` with exactly this status, discarding
    /// other responses to `method` queued before it.
    pub async fn expect_response(
        &mut self,
        method: Method,
        status: u16,
        timeout: Duration,
    ) -> Result<SipMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self
                .next_response_to(method.clone(), left)
                .await
                .map_err(|e| match e {
                    AgentError::Timeout(_) => {
                        AgentError::Timeout(format!("{status} to {}", method_text(&method)))
                    }
                    e => e,
                })?;
            if r.status() == Some(status) {
                return Ok(r);
            }
        }
    }

    /// The next request and where to reply.
    pub async fn next_request(&mut self, timeout: Duration) -> Result<(SipMessage, Peer)> {
        self.next_msg_where(timeout, "a request", |m| m.is_request())
            .await
    }

    /// The next request with this method (others stay queued).
    pub async fn next_request_of(
        &mut self,
        method: Method,
        timeout: Duration,
    ) -> Result<(SipMessage, Peer)> {
        let what = format!("a {} request", method_text(&method));
        self.next_msg_where(timeout, &what, |m| m.method().as_ref() == Some(&method))
            .await
    }

    /// Asserts that nothing matching `pred` arrives within `wait`; what
    /// does arrive stays queued.
    pub async fn nothing_matching<F>(&mut self, wait: Duration, pred: F) -> Result<()>
    where
        F: Fn(&SipMessage) -> bool,
    {
        match self.next_msg_where(wait, "", pred).await {
            Err(AgentError::Timeout(_)) => Ok(()),
            Err(e) => Err(e),
            Ok((m, _)) => Err(protocol(format!(
                "unexpected message: {}",
                text(m.span_bytes(m.start_line_span())).trim_end()
            ))),
        }
    }
}
