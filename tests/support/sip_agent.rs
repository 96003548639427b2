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
#![allow(dead_code)]

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
// Digest challenges (client side)
// ---------------------------------------------------------------------------

/// One `WWW-Authenticate` / `Proxy-Authenticate` Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `None` when the parameter was absent (means MD5).
    pub algorithm: Option<String>,
    /// The qop options offered, lowercased.
    pub qop: Vec<String>,
    pub stale: bool,
}

impl DigestChallenge {
    /// Parses `Digest realm="..", nonce="..", ...`. Unknown parameters are
    /// ignored; `None` for another scheme or a value without realm/nonce.
    pub fn parse(value: &str) -> Option<DigestChallenge> {
        let v = value.trim_start();
        let scheme_end = v.find(|c: char| c.is_ascii_whitespace()).unwrap_or(v.len());
        let (scheme, rest) = v.split_at(scheme_end);
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = parse_auth_params(rest)?;
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        Some(DigestChallenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm: get("algorithm"),
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The algorithm, if it is one we can compute.
    pub fn alg(&self) -> Option<Algorithm> {
        match self.algorithm.as_deref() {
            None => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(a) if a.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            Some(_) => None,
        }
    }

    /// The `Authorization` / `Proxy-Authorization` value answering this
    /// challenge with qop=auth (or the RFC 2069 form when no qop was
    /// offered).
    pub fn authorization(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        nc: u32,
        cnonce: &str,
    ) -> Option<String> {
        let alg = self.alg()?;
        let ha1 = digest::ha1(alg, username, &self.realm, password);
        let ha2 = hash_parts(alg, &[method, uri]);
        let nc_text = format!("{nc:08x}");
        let use_qop = self.qop.is_empty() || self.qop.iter().any(|q| q == "auth");
        if !use_qop {
            return None;
        }
        let with_qop = !self.qop.is_empty();
        let resp = if with_qop {
            hash_parts(alg, &[&ha1, &self.nonce, &nc_text, cnonce, "auth", &ha2])
        } else {
            hash_parts(alg, &[&ha1, &self.nonce, &ha2])
        };
        let mut out = String::from("Digest username=");
        push_quoted(&mut out, username);
        out.push_str(", realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        out.push_str(", uri=");
        push_quoted(&mut out, uri);
        out.push_str(", response=");
        push_quoted(&mut out, &resp);
        out.push_str(", algorithm=");
        out.push_str(alg.as_str());
        if with_qop {
            out.push_str(", cnonce=");
            push_quoted(&mut out, cnonce);
            out.push_str(", qop=auth, nc=");
            out.push_str(&nc_text);
        }
        if let Some(o) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, o);
        }
        Some(out)
    }
}

/// The challenges in a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`), best first: SHA-256 before MD5, unusable ones
/// dropped.
pub fn challenges_of(resp: &SipMessage) -> Vec<DigestChallenge> {
    let name = if resp.status() == Some(407) {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    let mut out: Vec<DigestChallenge> = resp
        .headers(name)
        .filter_map(|v| DigestChallenge::parse(&String::from_utf8_lossy(&v)))
        .filter(|c| c.alg().is_some())
        .collect();
    out.sort_by_key(|c| match c.alg() {
        Some(Algorithm::Sha256) => 0,
        _ => 1,
    });
    out
}

fn hash_parts(alg: Algorithm, parts: &[&str]) -> String {
    fn run<D: Digest>(parts: &[&str]) -> String {
        let mut d = D::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(p.as_bytes());
        }
        hex::encode(d.finalize())
    }
    match alg {
        Algorithm::Md5 => run::<Md5>(parts),
        Algorithm::Sha256 => run::<Sha256>(parts),
    }
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `name=value` pairs separated by commas; values are tokens or
/// quoted-strings. Names are lowercased. `None` on unterminated quotes.
fn parse_auth_params(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c.to_ascii_lowercase());
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            // A bare word: skip it.
            out.push((name, String::new()));
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

// ---------------------------------------------------------------------------
// REGISTER options
// ---------------------------------------------------------------------------

/// What a REGISTER carries; see [`Agent::register_with`].
#[derive(Debug, Clone, Default)]
pub struct RegisterOpts {
    /// Password for the digest answer; `None` leaves a challenge unanswered.
    pub password: Option<String>,
    /// Digest username; defaults to the agent's user.
    pub auth_user: Option<String>,
    /// `Expires` header; `None` omits it.
    pub expires: Option<u32>,
    /// Contact header values (one line each); `None` uses the agent's own
    /// Contact, `Some(vec![])` sends none (a binding query).
    pub contacts: Option<Vec<String>>,
    /// Force this algorithm when answering (default: SHA-256 if offered).
    pub algorithm: Option<Algorithm>,
    /// Extra header lines.
    pub headers: Vec<(String, String)>,
}

// ---------------------------------------------------------------------------
// Internals: shared state between the agent and its socket tasks
// ---------------------------------------------------------------------------

type DropPredicate = Box<dyn Fn(&SipMessage) -> bool + Send>;

struct DropRule {
    remaining: usize,
    pred: DropPredicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum RetransKey {
    /// 2xx to INVITE: stopped by an ACK with this Call-ID and CSeq.
    Ok(String, u32),
    /// Non-2xx final to INVITE: stopped by an ACK with this branch.
    Final(String),
}

enum Reflex {
    Drop,
    Resend(Bytes, Peer),
    Queue,
}

struct ServerTx {
    reply_to: Peer,
    last_response: Option<Bytes>,
}

struct Auto {
    absorb: bool,
    retransmit_finals: bool,
    drops: Vec<DropRule>,
    dropped: usize,
    absorbed: usize,
    /// (branch, method) of requests received.
    server_tx: HashMap<(String, String), ServerTx>,
    /// (Call-ID, CSeq) of INVITEs we ACKed with a 2xx ACK: the ACK and where.
    acks: HashMap<(String, u32), (Bytes, Peer)>,
    retrans: HashMap<RetransKey, AbortHandle>,
    last_source: Option<Peer>,
}

struct Conn {
    peer: SocketAddr,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
}

struct TcpState {
    conns: Mutex<HashMap<u64, Conn>>,
    next_id: AtomicU64,
}

enum Net {
    Udp(UdpSocket),
    Tcp(TcpState),
}

struct Shared {
    net: Net,
    local: SocketAddr,
    inbox: Mutex<VecDeque<Incoming>>,
    notify: Notify,
    auto: Mutex<Auto>,
    tasks: Mutex<Vec<AbortHandle>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn header_text(msg: &SipMessage, name: &str) -> Option<String> {
    msg.header(name).map(|v| text(&v))
}

fn branch_of(msg: &SipMessage) -> String {
    msg.top_via()
        .ok()
        .and_then(|v| v.branch)
        .map(|b| text(&b))
        .unwrap_or_default()
}

fn cseq_of(msg: &SipMessage) -> Option<(u32, Method)> {
    msg.cseq().ok()
}

fn call_id_of(msg: &SipMessage) -> String {
    msg.call_id().map(|c| text(&c)).unwrap_or_default()
}

fn method_text(m: &Method) -> String {
    text(m.as_bytes())
}

/// The key a request's server transaction is known by: top Via branch (or
/// Call-ID + CSeq for branchless RFC 2543 requests) and method.
fn server_key(msg: &SipMessage) -> (String, String) {
    let method = msg.method().map(|m| method_text(&m)).unwrap_or_default();
    let branch = branch_of(msg);
    let id = if branch.is_empty() {
        let n = cseq_of(msg).map(|c| c.0).unwrap_or(0);
        format!("{}/{}", call_id_of(msg), n)
    } else {
        branch
    };
    (id, method)
}

fn random_hex(bytes: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut buf = vec![0u8; bytes];
    if getrandom::getrandom(&mut buf).is_err() {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = ((n ^ t) >> ((i % 8) * 8)) as u8 ^ i as u8;
        }
    }
    hex::encode(buf)
}

fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(8))
}

impl Shared {
    fn push(&self, item: Incoming) {
        lock(&self.inbox).push_back(item);
        self.notify.notify_waiters();
    }

    fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let h = tokio::spawn(fut);
        let mut tasks = lock(&self.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(h.abort_handle());
    }

    async fn send(self: &Arc<Self>, to: Peer, data: Bytes) -> Result<()> {
        match &self.net {
            Net::Udp(sock) => {
                sock.send_to(&data, to.addr).await?;
                Ok(())
            }
            Net::Tcp(tcp) => {
                let writer = {
                    let conns = lock(&tcp.conns);
                    to.conn
                        .and_then(|id| conns.get(&id))
                        .or_else(|| conns.values().find(|c| c.peer == to.addr))
                        .map(|c| c.writer.clone())
                };
                let writer = match writer {
                    Some(w) => w,
                    None => self.connect(to.addr).await?,
                };
                let mut w = writer.lock().await;
                w.write_all(&data).await?;
                w.flush().await?;
                Ok(())
            }
        }
    }

    /// Opens a TCP connection to `dest` from our own port when the OS
    /// allows it (so the Contact port is also the connection's port), else
    /// from an ephemeral port.
    async fn connect(
        self: &Arc<Self>,
        dest: SocketAddr,
    ) -> Result<Arc<tokio::sync::Mutex<OwnedWriteHalf>>> {
        let from_own_port = async {
            let s = TcpSocket::new_v4()?;
            s.set_reuseaddr(true)?;
            s.set_reuseport(true)?;
            s.bind(self.local)?;
            s.connect(dest).await
        };
        let stream = match from_own_port.await {
            Ok(s) => s,
            Err(_) => TcpStream::connect(dest).await?,
        };
        Ok(self.adopt(stream, dest))
    }

    /// Registers a TCP connection and starts reading it.
    fn adopt(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Arc<tokio::sync::Mutex<OwnedWriteHalf>> {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let Net::Tcp(tcp) = &self.net else {
            return writer;
        };
        let id = tcp.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&tcp.conns).insert(
            id,
            Conn {
                peer,
                writer: writer.clone(),
            },
        );
        let me = self.clone();
        self.spawn(async move { me.read_stream(read, id, peer).await });
        writer
    }

    async fn read_stream(
        self: Arc<Self>,
        mut read: tokio::net::tcp::OwnedReadHalf,
        id: u64,
        peer: SocketAddr,
    ) {
        let from = Peer {
            addr: peer,
            conn: Some(id),
        };
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 16384];
        'conn: loop {
            loop {
                match frame_stream(&buf, DEFAULT_MAX_MESSAGE_SIZE) {
                    Ok(Frame::KeepAlive { len, pings }) => {
                        let len = len.min(buf.len());
                        buf.drain(..len);
                        for _ in 0..pings {
                            let _ = self.send(from, Bytes::from_static(b"\r\n")).await;
                        }
                    }
                    Ok(Frame::Message(n)) => {
                        let n = n.min(buf.len());
                        let frame = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                        buf.drain(..n);
                        let msg = parse(frame.clone(), false).ok();
                        self.incoming(frame, msg, from).await;
                    }
                    Ok(Frame::Incomplete) => break,
                    Err(_) => {
                        // Framing is lost: hand the rest to the test and
                        // close, as a real UA would.
                        let rest = Bytes::from(std::mem::take(&mut buf));
                        self.push(Incoming {
                            raw: rest,
                            msg: None,
                            from,
                        });
                        break 'conn;
                    }
                }
            }
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
        if let Net::Tcp(tcp) = &self.net {
            lock(&tcp.conns).remove(&id);
        }
    }

    async fn read_udp(self: Arc<Self>) {
        let Net::Udp(sock) = &self.net else { return };
        let mut buf = vec![0u8; 65536];
        loop {
            match sock.recv_from(&mut buf).await {
                Ok((n, src)) => {
                    let raw = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    let msg = parse(raw.clone(), true).ok();
                    self.incoming(raw, msg, Peer::addr(src)).await;
                }
                Err(_) => {
                    // ICMP port unreachable from an earlier send shows up
                    // here on Linux; keep reading.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    self.adopt(stream, peer);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// The transaction-layer reflexes, then the queue.
    async fn incoming(self: &Arc<Self>, raw: Bytes, msg: Option<SipMessage>, from: Peer) {
        let Some(msg) = msg else {
            self.push(Incoming {
                raw,
                msg: None,
                from,
            });
            return;
        };
        match self.reflex(&msg, from) {
            Reflex::Drop => {}
            Reflex::Resend(bytes, to) => {
                let _ = self.send(to, bytes).await;
            }
            Reflex::Queue => self.push(Incoming {
                raw,
                msg: Some(msg),
                from,
            }),
        }
    }

    fn reflex(&self, msg: &SipMessage, from: Peer) -> Reflex {
        let mut auto = lock(&self.auto);
        auto.last_source = Some(from);
        if let Some(i) = auto.drops.iter().position(|r| (r.pred)(msg)) {
            if let Some(rule) = auto.drops.get_mut(i) {
                rule.remaining = rule.remaining.saturating_sub(1);
                if rule.remaining == 0 {
                    auto.drops.remove(i);
                }
            }
            auto.dropped += 1;
            return Reflex::Drop;
        }
        match msg.method() {
            Some(Method::Ack) => {
                let cid = call_id_of(msg);
                let n = cseq_of(msg).map(|c| c.0).unwrap_or(0);
                for key in [RetransKey::Ok(cid, n), RetransKey::Final(branch_of(msg))] {
                    if let Some(h) = auto.retrans.remove(&key) {
                        h.abort();
                    }
                }
                Reflex::Queue
            }
            Some(_) => {
                let key = server_key(msg);
                let absorb = auto.absorb;
                let seen = auto
                    .server_tx
                    .get(&key)
                    .map(|tx| tx.last_response.clone().map(|r| (r, tx.reply_to)));
                match seen {
                    Some(last) if absorb => {
                        auto.absorbed += 1;
                        match last {
                            Some((bytes, to)) => Reflex::Resend(bytes, to),
                            None => Reflex::Drop,
                        }
                    }
                    _ => {
                        auto.server_tx.insert(
                            key,
                            ServerTx {
                                reply_to: from,
                                last_response: None,
                            },
                        );
                        Reflex::Queue
                    }
                }
            }
            None => {
                let cseq = cseq_of(msg);
                let is_invite_2xx = msg.status().is_some_and(|s| (200..300).contains(&s))
                    && cseq.as_ref().is_some_and(|c| c.1 == Method::Invite);
                if !(is_invite_2xx && auto.absorb) {
                    return Reflex::Queue;
                }
                let n = cseq.map(|c| c.0).unwrap_or(0);
                let ack = auto.acks.get(&(call_id_of(msg), n)).cloned();
                match ack {
                    Some((ack, to)) => {
                        auto.absorbed += 1;
                        Reflex::Resend(ack, to)
                    }
                    None => Reflex::Queue,
                }
            }
        }
    }

    fn retransmit(self: &Arc<Self>, key: RetransKey, bytes: Bytes, to: Peer) {
        let me = self.clone();
        let k2 = key.clone();
        let h = tokio::spawn(async move {
            let mut interval = T1;
            let mut elapsed = Duration::ZERO;
            while elapsed < T1 * 64 {
                tokio::time::sleep(interval).await;
                elapsed += interval;
                if me.send(to, bytes.clone()).await.is_err() {
                    break;
                }
                interval = (interval * 2).min(T2);
            }
            lock(&me.auto).retrans.remove(&k2);
        });
        let mut auto = lock(&self.auto);
        if let Some(old) = auto.retrans.insert(key, h.abort_handle()) {
            old.abort();
        }
        drop(auto);
        lock(&self.tasks).push(h.abort_handle());
    }
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

    // ----- REGISTER --------------------------------------------------------

    /// REGISTER with our Contact and `Expires: expires`, answering a digest
    /// challenge with `password`; the final status.
    pub async fn register(&mut self, password: &str, expires: u32) -> Result<u16> {
        let r = self.register_raw(password, expires).await?;
        r.status()
            .ok_or_else(|| protocol("response without status"))
    }

    /// Like [`Agent::register`] but returns the whole final response.
    pub async fn register_raw(&mut self, password: &str, expires: u32) -> Result<SipMessage> {
        self.register_with(RegisterOpts {
            password: Some(password.to_owned()),
            expires: Some(expires),
            ..RegisterOpts::default()
        })
        .await
    }

    /// `Contact: *`, `Expires: 0`.
    pub async fn unregister_all(&mut self, password: &str) -> Result<SipMessage> {
        self.register_with(RegisterOpts {
            password: Some(password.to_owned()),
            expires: Some(0),
            contacts: Some(vec!["*".to_owned()]),
            ..RegisterOpts::default()
        })
        .await
    }

    /// One REGISTER exchange: sends, answers up to two challenges (the
    /// second only when it says `stale=true`) if a password is given, and
    /// returns the final response.
    pub async fn register_with(&mut self, opts: RegisterOpts) -> Result<SipMessage> {
        let mut auth: Option<String> = None;
        let mut answered = 0;
        loop {
            self.send_register(&opts, auth.as_deref()).await?;
            let resp = self.final_response(Method::Register, self.timeout).await?;
            let status = resp.status().unwrap_or(0);
            let Some(password) = opts.password.as_deref() else {
                return Ok(resp);
            };
            if (status != 401 && status != 407) || answered >= 2 {
                return Ok(resp);
            }
            let chs = challenges_of(&resp);
            if answered == 1 && !chs.iter().any(|c| c.stale) {
                return Ok(resp);
            }
            let ch = match opts.algorithm {
                Some(a) => chs.into_iter().find(|c| c.alg() == Some(a)),
                None => chs.into_iter().next(),
            };
            let Some(ch) = ch else { return Ok(resp) };
            let user = opts.auth_user.clone().unwrap_or_else(|| self.user.clone());
            let uri = format!("sip:{}", self.domain);
            let value = ch
                .authorization("REGISTER", &uri, &user, password, 1, &random_hex(8))
                .ok_or_else(|| protocol("cannot answer challenge"))?;
            let name = if status == 407 {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            auth = Some(format!("{name}: {value}"));
            self.last_challenge = Some((ch, 1));
            answered += 1;
        }
    }

    /// REGISTER reusing the last challenge's nonce with the next
    /// nonce-count (no round trip first); the final response, challenges
    /// not answered. `nc` overrides the nonce-count (to test replays).
    pub async fn register_preemptive(
        &mut self,
        password: &str,
        expires: u32,
        nc: Option<u32>,
    ) -> Result<SipMessage> {
        let (ch, last_nc) = self
            .last_challenge
            .clone()
            .ok_or_else(|| protocol("no earlier challenge"))?;
        let nc = nc.unwrap_or(last_nc + 1);
        self.last_challenge = Some((ch.clone(), nc.max(last_nc)));
        let uri = format!("sip:{}", self.domain);
        let value = ch
            .authorization("REGISTER", &uri, &self.user, password, nc, &random_hex(8))
            .ok_or_else(|| protocol("cannot answer challenge"))?;
        let opts = RegisterOpts {
            expires: Some(expires),
            ..RegisterOpts::default()
        };
        self.send_register(&opts, Some(&format!("Authorization: {value}")))
            .await?;
        self.final_response(Method::Register, self.timeout).await
    }

    /// Sends one REGISTER (no waiting); `auth_line` is a whole header line
    /// such as `Authorization: Digest ...`.
    pub async fn send_register(
        &mut self,
        opts: &RegisterOpts,
        auth_line: Option<&str>,
    ) -> Result<Sent> {
        self.reg_cseq += 1;
        let (via, branch) = self.new_via();
        let aor = self.aor();
        let mut m = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: <{aor}>;tag={tag}\r\n\
             To: <{aor}>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             User-Agent: {USER_AGENT}\r\n",
            domain = self.domain,
            tag = self.reg_from_tag,
            cid = self.reg_call_id,
            cseq = self.reg_cseq,
        );
        match &opts.contacts {
            None => m.push_str(&format!("Contact: <{}>\r\n", self.contact_uri())),
            Some(list) => {
                for c in list {
                    m.push_str(&format!("Contact: {c}\r\n"));
                }
            }
        }
        if let Some(e) = opts.expires {
            m.push_str(&format!("Expires: {e}\r\n"));
        }
        for (k, v) in &opts.headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(a) = auth_line {
            m.push_str(a);
            m.push_str("\r\n");
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        let bytes = Bytes::from(m);
        self.send_raw(bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch,
            call_id: self.reg_call_id.clone(),
            cseq: self.reg_cseq,
        })
    }

    // ----- UAC -------------------------------------------------------------

    fn sdp(&self) -> String {
        let ip = self.shared.local.ip();
        format!(
            "v=0\r\n\
             o={user} 1 1 IN IP4 {ip}\r\n\
             s=protocall test\r\n\
             c=IN IP4 {ip}\r\n\
             t=0 0\r\n\
             m=audio 40000 RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\n",
            user = self.user
        )
    }

    /// Sends an INVITE for `target_uri` (with SDP) to the proxy.
    pub async fn invite(&mut self, target_uri: &str) -> Result<Call> {
        self.invite_with(target_uri, &[]).await
    }

    /// [`Agent::invite`] with extra header lines.
    pub async fn invite_with(
        &mut self,
        target_uri: &str,
        headers: &[(&str, &str)],
    ) -> Result<Call> {
        let call_id = format!("{}@127.0.0.1", random_hex(10));
        self.invite_with_call_id(target_uri, &call_id, headers)
            .await
    }

    /// [`Agent::invite_with`] under a Call-ID of the test's choosing (a
    /// fresh From tag all the same), e.g. one another call already used.
    pub async fn invite_with_call_id(
        &mut self,
        target_uri: &str,
        call_id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Call> {
        let call_id = call_id.to_owned();
        let tag = random_hex(6);
        let from = format!("<{}>;tag={}", self.aor(), tag);
        let to = format!("<{target_uri}>");
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let call = self
            .send_invite(target_uri, &call_id, &from, &to, cseq, &headers)
            .await?;
        self.dialogs.insert(
            (call_id, tag),
            Dialog {
                local_hdr: from,
                remote_hdr: to,
                remote_tag: None,
                remote_target: target_uri.to_owned(),
                route_set: Vec::new(),
                local_cseq: cseq,
                invite_cseq: cseq,
                is_caller: true,
            },
        );
        Ok(call)
    }

    async fn send_invite(
        &mut self,
        target: &str,
        call_id: &str,
        from: &str,
        to: &str,
        cseq: u32,
        headers: &[(String, String)],
    ) -> Result<Call> {
        let (via, branch) = self.new_via();
        let body = self.sdp();
        let mut m = format!(
            "INVITE {target} SIP/2.0\r\n\
             Via: {via}\r\n\
             Max-Forwards: 70\r\n\
             From: {from}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <{contact}>\r\n\
             User-Agent: {USER_AGENT}\r\n",
            contact = self.contact_uri(),
        );
        for (k, v) in headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        m.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        let bytes = Bytes::from(m);
        let peer = self.proxy_peer()?;
        self.shared.send(peer, bytes.clone()).await?;
        let local_tag = from
            .rsplit_once(";tag=")
            .map(|(_, t)| t.to_owned())
            .unwrap_or_default();
        Ok(Call {
            call_id: call_id.to_owned(),
            local_tag,
            target: target.to_owned(),
            cseq,
            branch,
            invite: bytes,
            is_caller: true,
            peer,
            via,
            from: from.to_owned(),
            to: to.to_owned(),
            routes: Vec::new(),
        })
    }

    /// Re-sends the INVITE bytes unchanged (a retransmission).
    pub async fn retransmit_invite(&self, call: &Call) -> Result<()> {
        self.shared.send(call.peer, call.invite.clone()).await
    }

    /// UAC: remembers the dialog a 2xx to one of our INVITEs establishes.
    fn learn_from_response(&mut self, m: &SipMessage) {
        let Some(status) = m.status() else { return };
        if !(200..300).contains(&status) || !cseq_of(m).is_some_and(|c| c.1 == Method::Invite) {
            return;
        }
        let Ok(Some(from_tag)) = m.from_tag() else {
            return;
        };
        let key = (call_id_of(m), text(&from_tag));
        let Some(d) = self.dialogs.get_mut(&key) else {
            return;
        };
        if !d.is_caller || d.remote_tag.is_some() {
            return;
        }
        let Ok(Some(to_tag)) = m.to_tag() else { return };
        d.remote_tag = Some(text(&to_tag));
        if let Some(to) = header_text(m, "To") {
            d.remote_hdr = to;
        }
        if let Some(c) = contact_uri_of(m) {
            d.remote_target = c;
        }
        let mut rr = record_routes(m);
        rr.reverse();
        d.route_set = rr;
    }

    /// ACKs a final response to our INVITE. For a 2xx: a new transaction
    /// to the remote Contact along the route set (Record-Route reversed);
    /// otherwise the INVITE transaction's own ACK (same branch, To from the
    /// response). Both go to the proxy the INVITE went to.
    pub async fn ack(&mut self, call: &Call, resp: &SipMessage) -> Result<Sent> {
        let status = resp.status().ok_or_else(|| protocol("not a response"))?;
        if (200..300).contains(&status) {
            self.learn_from_response(resp);
            let d = self
                .dialogs
                .get(&(call.call_id.clone(), call.local_tag.clone()))
                .cloned()
                .ok_or(AgentError::NoDialog)?;
            let (via, branch) = self.new_via();
            let mut m = format!(
                "ACK {target} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n",
                target = d.remote_target
            );
            for r in &d.route_set {
                m.push_str(&format!("Route: {r}\r\n"));
            }
            let to = header_text(resp, "To").unwrap_or(d.remote_hdr.clone());
            m.push_str(&format!(
                "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                d.local_hdr, call.call_id, call.cseq
            ));
            let bytes = Bytes::from(m);
            self.shared.send(call.peer, bytes.clone()).await?;
            lock(&self.shared.auto).acks.insert(
                (call.call_id.clone(), call.cseq),
                (bytes.clone(), call.peer),
            );
            // Retransmissions of this 2xx already queued are answered by
            // this ACK; keep them from confusing later waits.
            let (cid, n) = (call.call_id.clone(), call.cseq);
            lock(&self.shared.inbox).retain(|i| {
                !i.msg.as_ref().is_some_and(|m| {
                    m.status().is_some_and(|s| (200..300).contains(&s))
                        && call_id_of(m) == cid
                        && cseq_of(m).is_some_and(|c| c.0 == n && c.1 == Method::Invite)
                })
            });
            Ok(Sent {
                bytes,
                branch,
                call_id: call.call_id.clone(),
                cseq: call.cseq,
            })
        } else {
            let to = header_text(resp, "To").unwrap_or(call.to.clone());
            let mut m = format!(
                "ACK {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n",
                call.target, call.via
            );
            for r in &call.routes {
                m.push_str(&format!("Route: {r}\r\n"));
            }
            m.push_str(&format!(
                "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
                call.from, call.call_id, call.cseq
            ));
            let bytes = Bytes::from(m);
            self.shared.send(call.peer, bytes.clone()).await?;
            Ok(Sent {
                bytes,
                branch: call.branch.clone(),
                call_id: call.call_id.clone(),
                cseq: call.cseq,
            })
        }
    }

    /// CANCELs our pending INVITE (same branch, Request-URI, From, To).
    pub async fn cancel(&mut self, call: &Call) -> Result<Sent> {
        let mut m = format!(
            "CANCEL {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\n",
            call.target, call.via
        );
        for r in &call.routes {
            m.push_str(&format!("Route: {r}\r\n"));
        }
        m.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} CANCEL\r\nContent-Length: 0\r\n\r\n",
            call.from, call.to, call.call_id, call.cseq
        ));
        let bytes = Bytes::from(m);
        self.shared.send(call.peer, bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch: call.branch.clone(),
            call_id: call.call_id.clone(),
            cseq: call.cseq,
        })
    }

    /// Answers a 401/407 to our INVITE: ACKs it, then sends the INVITE
    /// again (CSeq + 1, new branch) with credentials. Returns the new call
    /// handle; wait for its responses as usual.
    pub async fn answer_auth_challenge(
        &mut self,
        call: &Call,
        resp: &SipMessage,
        password: &str,
    ) -> Result<Call> {
        let status = resp.status().unwrap_or(0);
        if status != 401 && status != 407 {
            return Err(protocol(format!("{status} is not a challenge")));
        }
        self.ack(call, resp).await?;
        let ch = challenges_of(resp)
            .into_iter()
            .next()
            .ok_or_else(|| protocol("no usable challenge"))?;
        let value = ch
            .authorization(
                "INVITE",
                &call.target,
                &self.user,
                password,
                1,
                &random_hex(8),
            )
            .ok_or_else(|| protocol("cannot answer challenge"))?;
        let name = if status == 407 {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let cseq = self.next_cseq.max(call.cseq + 1);
        self.next_cseq = cseq + 1;
        let new = self
            .send_invite(
                &call.target,
                &call.call_id,
                &call.from,
                &call.to,
                cseq,
                &[(name.to_owned(), value)],
            )
            .await?;
        if let Some(d) = self
            .dialogs
            .get_mut(&(call.call_id.clone(), call.local_tag.clone()))
        {
            d.local_cseq = cseq;
            d.invite_cseq = cseq;
        }
        Ok(new)
    }

    // ----- in-dialog requests (both sides) ---------------------------------

    /// Sends BYE in the call's dialog (either side) to the proxy.
    pub async fn bye(&mut self, call: &Call) -> Result<Sent> {
        self.request_in_dialog(call, "BYE", &[], None).await
    }

    /// Any in-dialog request: Request-URI = remote target, Route = route
    /// set, our next CSeq, sent to the proxy the call went through.
    pub async fn request_in_dialog(
        &mut self,
        call: &Call,
        method: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Sent> {
        let (via, branch) = self.new_via();
        let contact = self.contact_uri();
        let d = self
            .dialogs
            .get_mut(&(call.call_id.clone(), call.local_tag.clone()))
            .ok_or(AgentError::NoDialog)?;
        if d.remote_tag.is_none() {
            return Err(AgentError::NoDialog);
        }
        d.local_cseq += 1;
        let mut m = format!(
            "{method} {} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n",
            d.remote_target
        );
        for r in &d.route_set {
            m.push_str(&format!("Route: {r}\r\n"));
        }
        m.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nContact: <{contact}>\r\n",
            d.local_hdr, d.remote_hdr, call.call_id, d.local_cseq
        ));
        let cseq = d.local_cseq;
        for (k, v) in headers {
            m.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut bytes = m.into_bytes();
        match body {
            Some((ct, b)) => {
                bytes.extend_from_slice(
                    format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(),
                );
                bytes.extend_from_slice(b);
            }
            None => bytes.extend_from_slice(b"Content-Length: 0\r\n\r\n"),
        }
        let bytes = Bytes::from(bytes);
        let to = match (call.is_caller, self.proxy) {
            (false, Some(p)) => Peer::addr(p),
            _ => call.peer,
        };
        self.shared.send(to, bytes.clone()).await?;
        Ok(Sent {
            bytes,
            branch,
            call_id: call.call_id.clone(),
            cseq,
        })
    }

    /// Route set and remote target of a call's dialog, for assertions.
    pub fn dialog_route(&self, call: &Call) -> Option<(String, Vec<String>)> {
        self.dialogs
            .get(&(call.call_id.clone(), call.local_tag.clone()))
            .map(|d| (d.remote_target.clone(), d.route_set.clone()))
    }

    // ----- UAS -------------------------------------------------------------

    fn uas_tag(&mut self, req: &SipMessage) -> String {
        let from_tag = req
            .from_tag()
            .ok()
            .flatten()
            .map(|t| text(&t))
            .unwrap_or_default();
        let key = (call_id_of(req), from_tag, branch_of(req));
        self.uas_tags
            .entry(key)
            .or_insert_with(|| random_hex(6))
            .clone()
    }

    /// Answers a received request with `code` (To tag added for the
    /// dialog; for INVITE 101-299 our Contact and the Record-Route copied;
    /// SDP on a 2xx to INVITE). Goes back where the request came from.
    pub async fn respond(&mut self, req: &SipMessage, code: u16) -> Result<()> {
        self.respond_with(req, code, &[], None).await
    }

    /// [`Agent::respond`] with extra header lines and an optional body
    /// (content type, bytes) replacing the default SDP.
    pub async fn respond_with(
        &mut self,
        req: &SipMessage,
        code: u16,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<()> {
        let method = req.method().ok_or_else(|| protocol("not a request"))?;
        let is_invite = method == Method::Invite;
        let tag = self.uas_tag(req);
        let contact = self.contact_uri();
        let sdp = self.sdp();
        let mut b = response(req, code).to_tag(&tag);
        let dialog_forming = is_invite && (101..300).contains(&code);
        if dialog_forming {
            for rr in req.headers("Record-Route") {
                b = b.header("Record-Route", text(&rr));
            }
            b = b.header("Contact", format!("<{contact}>"));
        }
        for (k, v) in headers {
            b = b.header(k, *v);
        }
        if let Some((ct, bytes)) = body {
            b = b.body(ct, bytes);
        } else if is_invite && (200..300).contains(&code) {
            b = b.body("application/sdp", sdp.as_bytes());
        }
        let bytes = b.build();

        let key = server_key(req);
        let reply_to = {
            let mut auto = lock(&self.shared.auto);
            let fallback = auto.last_source;
            let to = match auto.server_tx.get_mut(&key) {
                Some(tx) => {
                    tx.last_response = Some(bytes.clone());
                    Some(tx.reply_to)
                }
                None => None,
            };
            to.or(fallback)
        };
        let reply_to = match reply_to {
            Some(p) => p,
            None => self.proxy_peer()?,
        };
        self.shared.send(reply_to, bytes.clone()).await?;

        if dialog_forming && code >= 200 {
            self.remember_uas_dialog(req, &tag, reply_to);
        }
        let retransmit = is_invite
            && code >= 200
            && self.transport == Transport::Udp
            && lock(&self.shared.auto).retransmit_finals;
        if retransmit {
            let key = if code < 300 {
                RetransKey::Ok(call_id_of(req), cseq_of(req).map(|c| c.0).unwrap_or(0))
            } else {
                RetransKey::Final(branch_of(req))
            };
            self.shared.retransmit(key, bytes, reply_to);
        }
        Ok(())
    }

    fn remember_uas_dialog(&mut self, req: &SipMessage, tag: &str, peer: Peer) {
        let call_id = call_id_of(req);
        let key = (call_id, tag.to_owned());
        if self.dialogs.contains_key(&key) {
            return;
        }
        let to = header_text(req, "To").unwrap_or_default();
        let from = header_text(req, "From").unwrap_or_default();
        let remote_target = contact_uri_of(req)
            .or_else(|| req.from().ok().map(|na| text(&na.uri.raw)))
            .unwrap_or_default();
        let invite_cseq = cseq_of(req).map(|c| c.0).unwrap_or(0);
        let _ = peer;
        self.dialogs.insert(
            key,
            Dialog {
                local_hdr: format!("{to};tag={tag}"),
                remote_hdr: from,
                remote_tag: req.from_tag().ok().flatten().map(|t| text(&t)),
                remote_target,
                route_set: record_routes(req),
                local_cseq: 100,
                invite_cseq,
                is_caller: false,
            },
        );
    }

    /// The callee's handle on a call whose INVITE it answered with 2xx
    /// (needed to send BYE from the callee side).
    pub fn call_for(&self, invite: &SipMessage) -> Result<Call> {
        let from_tag = invite
            .from_tag()
            .ok()
            .flatten()
            .map(|t| text(&t))
            .unwrap_or_default();
        let call_id = call_id_of(invite);
        let tag = self
            .uas_tags
            .get(&(call_id.clone(), from_tag, branch_of(invite)))
            .cloned()
            .ok_or(AgentError::NoDialog)?;
        if !self.dialogs.contains_key(&(call_id.clone(), tag.clone())) {
            return Err(AgentError::NoDialog);
        }
        let peer = lock(&self.shared.auto)
            .server_tx
            .get(&server_key(invite))
            .map(|t| t.reply_to)
            .or(self.proxy.map(Peer::addr))
            .ok_or(AgentError::NoPeer)?;
        Ok(Call {
            call_id,
            local_tag: tag,
            target: invite.request_uri().map(text).unwrap_or_default(),
            cseq: cseq_of(invite).map(|c| c.0).unwrap_or(0),
            branch: branch_of(invite),
            invite: invite.as_bytes().clone(),
            is_caller: false,
            peer,
            via: header_text(invite, "Via").unwrap_or_default(),
            from: header_text(invite, "From").unwrap_or_default(),
            to: header_text(invite, "To").unwrap_or_default(),
            routes: Vec::new(),
        })
    }

    /// Convenience: respond 200 to `invite` and return the callee's call.
    pub async fn answer(&mut self, invite: &SipMessage) -> Result<Call> {
        self.respond(invite, 200).await?;
        self.call_for(invite)
    }
}
