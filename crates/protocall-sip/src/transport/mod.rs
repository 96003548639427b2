//! SIP transports: UDP and TCP on one address and port (RFC 3261 §18), and
//! TLS on its own port (RFC 3261 §26, RFC 5630).
//!
//! The transport layer moves whole messages: it frames TCP streams by
//! Content-Length under the parser's size and header-count limits, hands every message to a synchronous handler without
//! parsing it further, and sends without blocking the caller. WebSocket
//! would fit in as a further [`Proto`] value.
//!
//! This file owns the shared surface: the message types, [`Handler`],
//! [`Sender`], [`TransportConfig`], [`TransportStats`], the errors, and
//! [`start`], which binds the sockets and spawns every task. `udp` owns its
//! socket's receive loop and send path, `tcp` the stream connections'
//! registry and TCP's listener and connects, `tls` the TLS listener and its
//! identity, `conn` what runs on any stream connection.

mod conn;
mod tcp;
mod tls;
mod udp;

pub use tls::{check_files as check_tls_files, TlsError, TlsIdentity};

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::parse::DEFAULT_MAX_HEADERS;

/// Which transport a message came on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
    Tls,
}

impl Proto {
    /// The token used in Via and `transport=` (RFC 3261 §18).
    pub fn via_token(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
            Proto::Tls => "TLS",
        }
    }

    /// Whether messages travel over a connection (TCP or TLS), which
    /// changes framing and retransmission rules (RFC 3261 §17.1.1.2).
    pub fn is_stream(self) -> bool {
        !matches!(self, Proto::Udp)
    }
}

/// Identifies one TCP connection, so a response or an in-dialog request
/// can reuse the connection the peer opened (RFC 3261 §18.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A message as it arrived.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub bytes: Bytes,
    pub source: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
    /// The TCP connection it arrived on.
    pub conn: Option<ConnId>,
}

/// Where a message must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    pub dest: SocketAddr,
    pub proto: Proto,
    /// Prefer this TCP connection when it is still open.
    pub conn: Option<ConnId>,
}

impl Inbound {
    /// Where a reply to this message goes: back to the source address and
    /// port (RFC 3581) on the same connection.
    pub fn reply_to(&self) -> Outbound {
        Outbound {
            dest: self.source,
            proto: self.proto,
            conn: self.conn,
        }
    }
}

/// Receives every inbound message.
///
/// Called inline from the receive loop that read the message, so messages
/// from one TCP connection reach it in order and a slow handler slows only
/// that source (or one UDP worker). It must not block: anything slow belongs
/// in a task the handler spawns itself.
pub trait Handler: Send + Sync + 'static {
    fn on_message(&self, msg: Inbound, tx: &Sender);
}

impl<F> Handler for F
where
    F: Fn(Inbound, &Sender) + Send + Sync + 'static,
{
    fn on_message(&self, msg: Inbound, tx: &Sender) {
        self(msg, tx)
    }
}

/// Listening address and resource bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// UDP and TCP both bind here. Port 0 picks one port free for both.
    /// `[::]` listens on IPv6 and IPv4 at once (dual stack; IPv4 peers are
    /// reported as IPv4 addresses, never IPv4-mapped ones); a specific IPv6
    /// address listens for IPv6 only.
    pub listen: SocketAddr,
    /// Tasks draining the one UDP socket. With more than one, two datagrams
    /// from the same source may be handled concurrently.
    pub udp_workers: usize,
    /// Largest message accepted, headers and body; larger UDP datagrams are
    /// dropped and larger TCP messages close their connection.
    pub max_message_size: usize,
    /// Header lines a TCP message may have before its connection closes;
    /// the same bound the parser applies to datagrams.
    pub max_headers: usize,
    /// Open plus connecting TCP connections, inbound and outbound together.
    pub max_tcp_connections: usize,
    /// Of `max_tcp_connections`, slots only outbound connections may take,
    /// so that a flood of inbound connections cannot keep us from reaching
    /// a phone. Must be less than `max_tcp_connections`.
    pub tcp_outbound_reserve: usize,
    /// Inbound TCP connections one source may hold at once; further ones
    /// are closed as soon as they are accepted. A source is an IPv4
    /// address or an IPv6 /64, the block one host is usually given.
    pub max_tcp_connections_per_source: usize,
    /// A TCP connection with no bytes read or written for this long closes.
    pub tcp_idle_timeout: Duration,
    /// Once the first byte of a TCP message has arrived, the rest must
    /// follow within this time or the connection closes. Keep-alive
    /// traffic and the quiet between messages are the idle timeout's.
    pub tcp_message_timeout: Duration,
    /// SO_RCVBUF and SO_SNDBUF for the UDP socket; 0 keeps the OS default.
    /// The kernel may clamp it (Linux: net.core.rmem_max / wmem_max).
    pub socket_buffer_bytes: usize,
    /// A TLS listener, when configured. Its connections share the TCP caps.
    pub tls: Option<TlsListen>,
}

/// Where TLS listens and with which identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListen {
    /// Port 0 picks a free one (tests).
    pub listen: SocketAddr,
    pub identity: TlsIdentity,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            udp_workers: 2,
            max_message_size: 65535,
            max_headers: DEFAULT_MAX_HEADERS,
            max_tcp_connections: 1024,
            tcp_outbound_reserve: 128,
            max_tcp_connections_per_source: 32,
            tcp_idle_timeout: Duration::from_secs(120),
            tcp_message_timeout: Duration::from_secs(10),
            socket_buffer_bytes: 4 * 1024 * 1024,
            tls: None,
        }
    }
}

impl TransportConfig {
    fn validate(&self) -> Result<(), TransportError> {
        if self.udp_workers == 0 || self.udp_workers > MAX_UDP_WORKERS {
            return Err(TransportError::Config("udp_workers must be 1 to 256"));
        }
        if self.max_message_size == 0 {
            return Err(TransportError::Config("max_message_size must be positive"));
        }
        if self.max_headers == 0 {
            return Err(TransportError::Config("max_headers must be positive"));
        }
        if self.max_tcp_connections == 0 || self.max_tcp_connections > Semaphore::MAX_PERMITS {
            return Err(TransportError::Config(
                "max_tcp_connections must be positive and within the semaphore limit",
            ));
        }
        if self.tcp_outbound_reserve >= self.max_tcp_connections {
            return Err(TransportError::Config(
                "tcp_outbound_reserve must leave inbound connections at least one slot",
            ));
        }
        if self.max_tcp_connections_per_source == 0 {
            return Err(TransportError::Config(
                "max_tcp_connections_per_source must be positive",
            ));
        }
        if self.tcp_idle_timeout.is_zero() || self.tcp_message_timeout.is_zero() {
            return Err(TransportError::Config(
                "tcp_idle_timeout and tcp_message_timeout must be positive",
            ));
        }
        Ok(())
    }
}

/// Keeps a misconfiguration from spawning an unbounded number of tasks.
const MAX_UDP_WORKERS: usize = 256;

/// How often to look for a port free for both UDP and TCP when the
/// configured port is 0.
const PORT_ATTEMPTS: usize = 8;

/// Counters for the metrics layer. Monotonic except `tcp_open`, a gauge.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Datagrams handed to the handler.
    pub udp_rx: AtomicU64,
    /// Datagrams sent, directly or from the fallback queue.
    pub udp_tx: AtomicU64,
    /// Datagrams dropped for exceeding `max_message_size`.
    pub udp_dropped_oversize: AtomicU64,
    /// UDP sends that failed, including datagrams dropped because the
    /// fallback queue was full.
    pub udp_send_errors: AtomicU64,
    /// Inbound connections accepted.
    pub tcp_accepted: AtomicU64,
    /// Inbound connections closed at once because every slot inbound
    /// connections may take (all but the outbound reserve) was in use.
    pub tcp_rejected_cap: AtomicU64,
    /// Inbound connections closed at once because their source already
    /// held `max_tcp_connections_per_source`.
    pub tcp_rejected_source: AtomicU64,
    /// Connections holding a slot now: accepted, connected or connecting.
    pub tcp_open: AtomicU64,
    /// Connections closed because framing failed, oversize included.
    pub tcp_framing_errors: AtomicU64,
    /// Of `tcp_framing_errors`, those due to `max_message_size`.
    pub tcp_oversize: AtomicU64,
    /// Of `tcp_framing_errors`, those due to `max_headers`.
    pub tcp_too_many_headers: AtomicU64,
    /// Connections closed because a message was not complete within
    /// `tcp_message_timeout` of its first byte.
    pub tcp_message_timeouts: AtomicU64,
    /// Messages (not keep-alives) read from TCP and handed to the handler.
    pub tcp_rx: AtomicU64,
    /// Writes completed on TCP connections, pongs included.
    pub tcp_tx: AtomicU64,
    /// Outbound connections established.
    pub tcp_connected: AtomicU64,
    /// Outbound connects that failed or timed out; their queued messages
    /// are lost.
    pub tcp_connect_errors: AtomicU64,
    /// Messages refused by `send` because a connection's queue was full or
    /// the cap left no slot for a new connection.
    pub tcp_send_dropped: AtomicU64,
    /// Connections closed for idleness.
    pub tcp_idle_closed: AtomicU64,
    /// TLS handshakes completed. TLS connections share the TCP caps and
    /// count in `tcp_open` (and the other connection counters) too.
    pub tls_accepted: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_errors: AtomicU64,
}

/// A point-in-time copy of [`TransportStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub udp_rx: u64,
    pub udp_tx: u64,
    pub udp_dropped_oversize: u64,
    pub udp_send_errors: u64,
    pub tcp_accepted: u64,
    pub tcp_rejected_cap: u64,
    pub tcp_rejected_source: u64,
    pub tcp_open: u64,
    pub tcp_framing_errors: u64,
    pub tcp_oversize: u64,
    pub tcp_too_many_headers: u64,
    pub tcp_message_timeouts: u64,
    pub tcp_rx: u64,
    pub tcp_tx: u64,
    pub tcp_connected: u64,
    pub tcp_connect_errors: u64,
    pub tcp_send_dropped: u64,
    pub tcp_idle_closed: u64,
    pub tls_accepted: u64,
    pub tls_handshake_errors: u64,
}

impl TransportStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            udp_rx: get(&self.udp_rx),
            udp_tx: get(&self.udp_tx),
            udp_dropped_oversize: get(&self.udp_dropped_oversize),
            udp_send_errors: get(&self.udp_send_errors),
            tcp_accepted: get(&self.tcp_accepted),
            tcp_rejected_cap: get(&self.tcp_rejected_cap),
            tcp_rejected_source: get(&self.tcp_rejected_source),
            tcp_open: get(&self.tcp_open),
            tcp_framing_errors: get(&self.tcp_framing_errors),
            tcp_oversize: get(&self.tcp_oversize),
            tcp_too_many_headers: get(&self.tcp_too_many_headers),
            tcp_message_timeouts: get(&self.tcp_message_timeouts),
            tcp_rx: get(&self.tcp_rx),
            tcp_tx: get(&self.tcp_tx),
            tcp_connected: get(&self.tcp_connected),
            tcp_connect_errors: get(&self.tcp_connect_errors),
            tcp_send_dropped: get(&self.tcp_send_dropped),
            tcp_idle_closed: get(&self.tcp_idle_closed),
            tls_accepted: get(&self.tls_accepted),
            tls_handshake_errors: get(&self.tls_handshake_errors),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Why the transports could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid transport configuration: {0}")]
    Config(&'static str),
    #[error("cannot bind {} on {addr}: {source}", proto.via_token())]
    Bind {
        proto: Proto,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("no port on {ip} was free for both UDP and TCP after {attempts} attempts")]
    NoCommonPort { ip: IpAddr, attempts: usize },
}

/// Why [`Sender::send`] did not take a message. A message it did take may
/// still be lost later (connect failure, write error, shutdown); only the
/// counters in [`TransportStats`] record that.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the transport is shut down")]
    Shutdown,
    #[error("{dest} is not reachable from the {local} listener's address family")]
    AddressFamily { dest: SocketAddr, local: SocketAddr },
    #[error("send queue for {dest} is full; message dropped")]
    QueueFull { dest: SocketAddr },
    #[error("TCP connection limit reached; cannot connect to {dest}")]
    ConnectionLimit { dest: SocketAddr },
    #[error("no {} connection from {dest} is open, and we open none", proto.via_token())]
    NoConnection { dest: SocketAddr, proto: Proto },
    #[error("UDP send to {dest} failed: {source}")]
    Udp {
        dest: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// Sends messages without blocking or awaiting; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    shared: Arc<Shared>,
}

struct Shared {
    udp: udp::UdpOut,
    tcp: tcp::TcpOut,
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    stats: Arc<TransportStats>,
    tasks: TaskCtx,
}

/// What a task spawned after start-up (an outbound connection) needs.
struct TaskCtx {
    /// `send` may be called from outside the runtime.
    runtime: tokio::runtime::Handle,
    /// Weak so that a `Sender` kept by the application does not keep
    /// [`TransportTasks::join`] waiting.
    token: mpsc::WeakSender<()>,
    shutdown: watch::Receiver<bool>,
    handler: Arc<dyn Handler>,
}

/// Held by every task; the channel closes once all tasks have ended.
type TaskToken = mpsc::Sender<()>;

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("udp_addr", &self.shared.udp_addr)
            .field("tcp_addr", &self.shared.tcp_addr)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// Queues `bytes` for `to` and returns at once.
    ///
    /// UDP goes out directly when the socket has room, else through a small
    /// queue. TCP prefers `to.conn`, then any open (or opening) connection
    /// to `to.dest` (RFC 3261 §18), and otherwise opens one; the message
    /// waits in that connection's bounded queue meanwhile.
    pub fn send(&self, to: Outbound, bytes: Bytes) -> Result<(), SendError> {
        if *self.shared.tasks.shutdown.borrow() {
            return Err(SendError::Shutdown);
        }
        let local = self.local_addr(to.proto);
        let reachable = local.is_ipv4() == to.dest.is_ipv4() || dual_stack(local);
        if !reachable {
            return Err(SendError::AddressFamily {
                dest: to.dest,
                local,
            });
        }
        match to.proto {
            Proto::Udp => self.shared.udp.send(to.dest, bytes, &self.shared.stats),
            Proto::Tcp | Proto::Tls => tcp::send(self, to, bytes),
        }
    }

    /// The bound address of `proto`'s listening socket (TCP's when TLS
    /// has none: both are the same address family).
    pub fn local_addr(&self, proto: Proto) -> SocketAddr {
        match proto {
            Proto::Udp => self.shared.udp_addr,
            Proto::Tcp => self.shared.tcp_addr,
            Proto::Tls => self.shared.tls_addr.unwrap_or(self.shared.tcp_addr),
        }
    }

    pub fn stats(&self) -> &Arc<TransportStats> {
        &self.shared.stats
    }
}

/// Running transports.
#[derive(Debug)]
pub struct Transports {
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub sender: Sender,
    pub stats: Arc<TransportStats>,
    pub tasks: TransportTasks,
}

impl Transports {
    /// See [`TransportTasks::join`].
    pub async fn join(self) {
        self.tasks.join().await
    }
}

/// Every task the transports spawned, outbound connections included.
#[derive(Debug)]
pub struct TransportTasks {
    token: TaskToken,
    done: mpsc::Receiver<()>,
}

impl TransportTasks {
    /// Resolves once every transport task has ended, which happens after
    /// the shutdown signal (or after its sender is dropped). The listener
    /// and every TCP connection are closed by then; the UDP socket closes
    /// with the last [`Sender`] clone.
    pub async fn join(self) {
        let TransportTasks { token, mut done } = self;
        drop(token);
        // Nothing is ever sent: `recv` yields None once the last task's
        // token is dropped.
        let _ = done.recv().await;
    }
}

/// Binds UDP and TCP on `cfg.listen` and spawns the receive loops.
///
/// Must be called within a Tokio runtime. Every task stops when `shutdown`
/// becomes true or its sender is dropped.
pub async fn start(
    cfg: TransportConfig,
    handler: Arc<dyn Handler>,
    shutdown: watch::Receiver<bool>,
) -> Result<Transports, TransportError> {
    cfg.validate()?;
    let (udp_socket, listener) = bind_pair(&cfg)?;
    let tls_listener = match &cfg.tls {
        Some(tls) => {
            let bind_error = |source| TransportError::Bind {
                proto: Proto::Tls,
                addr: tls.listen,
                source,
            };
            let listener = tcp::bind(tls.listen).map_err(bind_error)?;
            let addr = listener.local_addr().map_err(bind_error)?;
            Some((listener, addr, tls.identity.clone()))
        }
        None => None,
    };
    let tls_addr = tls_listener.as_ref().map(|(_, addr, _)| *addr);
    let udp_addr = udp_socket
        .local_addr()
        .map_err(|source| TransportError::Bind {
            proto: Proto::Udp,
            addr: cfg.listen,
            source,
        })?;
    let tcp_addr = listener
        .local_addr()
        .map_err(|source| TransportError::Bind {
            proto: Proto::Tcp,
            addr: cfg.listen,
            source,
        })?;

    let stats = Arc::new(TransportStats::default());
    let (token, done) = mpsc::channel::<()>(1);
    let udp_socket = Arc::new(udp_socket);
    let (udp_out, fallback) = udp::UdpOut::new(Arc::clone(&udp_socket), dual_stack(udp_addr));
    let sender = Sender {
        shared: Arc::new(Shared {
            udp: udp_out,
            tcp: tcp::TcpOut::new(&cfg),
            udp_addr,
            tcp_addr,
            tls_addr,
            stats: Arc::clone(&stats),
            tasks: TaskCtx {
                runtime: tokio::runtime::Handle::current(),
                token: token.downgrade(),
                shutdown: shutdown.clone(),
                handler: Arc::clone(&handler),
            },
        }),
    };

    for _ in 0..cfg.udp_workers {
        tokio::spawn(udp::worker(
            Arc::clone(&udp_socket),
            udp_addr,
            cfg.max_message_size,
            sender.clone(),
            shutdown.clone(),
            token.clone(),
        ));
    }
    tokio::spawn(udp::drain_fallback(
        udp_socket,
        fallback,
        Arc::clone(&stats),
        shutdown.clone(),
        token.clone(),
    ));
    if let Some((listener, addr, identity)) = tls_listener {
        tokio::spawn(tls::accept_loop(
            listener,
            identity,
            sender.clone(),
            shutdown.clone(),
            token.clone(),
        ));
        tracing::info!(tls = %addr, "SIP over TLS listening");
    }
    tokio::spawn(tcp::accept_loop(
        listener,
        sender.clone(),
        shutdown,
        token.clone(),
    ));
    tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "SIP transports listening");

    Ok(Transports {
        udp_addr,
        tcp_addr,
        tls_addr,
        sender,
        stats,
        tasks: TransportTasks { token, done },
    })
}

/// Binds UDP first so that with port 0 the kernel's choice can be tried
/// for TCP; another process may hold that TCP port, hence the retries.
fn bind_pair(
    cfg: &TransportConfig,
) -> Result<(UdpSocket, tokio::net::TcpListener), TransportError> {
    let any_port = cfg.listen.port() == 0;
    let attempts = if any_port { PORT_ATTEMPTS } else { 1 };
    for _ in 0..attempts {
        let socket = udp::bind(cfg.listen, cfg.socket_buffer_bytes).map_err(|source| {
            TransportError::Bind {
                proto: Proto::Udp,
                addr: cfg.listen,
                source,
            }
        })?;
        let port = socket
            .local_addr()
            .map_err(|source| TransportError::Bind {
                proto: Proto::Udp,
                addr: cfg.listen,
                source,
            })?
            .port();
        // set_port keeps an IPv6 scope id, which SocketAddr::new would lose.
        let mut tcp_at = cfg.listen;
        tcp_at.set_port(port);
        match tcp::bind(tcp_at) {
            Ok(listener) => return Ok((socket, listener)),
            Err(e) if any_port && e.kind() == io::ErrorKind::AddrInUse => {
                tracing::debug!(port, "TCP port taken; trying another UDP port");
            }
            Err(source) => {
                return Err(TransportError::Bind {
                    proto: Proto::Tcp,
                    addr: tcp_at,
                    source,
                })
            }
        }
    }
    Err(TransportError::NoCommonPort {
        ip: cfg.listen.ip(),
        attempts,
    })
}

/// Whether a socket bound here takes both IPv6 and IPv4: the IPv6
/// wildcard. A specific IPv6 address (or an IPv4 one) is one family only.
fn dual_stack(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V6(v6) if v6.is_unspecified())
}

/// An address as peers and logs should see it: an IPv4-mapped IPv6
/// address (what a dual-stack socket reports for an IPv4 peer) becomes
/// the IPv4 address it is, so Via `received`, bans and bindings key IPv4
/// peers the same way whichever socket they reached.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// Resolves when shutdown is requested or can no longer be requested.
async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Keeps one message's handler panic from taking the receive loop, and
/// every other message on it, down with it.
fn dispatch(handler: &dyn Handler, msg: Inbound, tx: &Sender) {
    let source = msg.source;
    if catch_unwind(AssertUnwindSafe(|| handler.on_message(msg, tx))).is_err() {
        tracing::error!(%source, "SIP handler panicked; message dropped");
    }
}
