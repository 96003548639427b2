//! TCP transport: the listener and its accept loop with its caps (in all,
//! per source, and a reserve of slots only outbound connections may take),
//! the registry of open connections that lets `send` reuse them (RFC 3261
//! §18), outbound connects, and each connection's reader (incremental
//! Content-Length framing under the parser's limits, RFC 5626 keep-alive
//! pongs, idle and message deadlines, inline handler calls) and writer tasks.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{
    bump, dispatch, shutdown_requested, ConnId, Inbound, Outbound, Proto, SendError, Sender,
    TaskToken, TransportConfig, TransportStats,
};
use crate::sip::parse::{Frame, Limits, ParseError, StreamFramer};

/// Messages waiting for one connection's writer. Enough for a burst of
/// retransmissions and in-dialog requests; beyond it the peer is not
/// keeping up and `send` says so rather than buffer without limit.
const WRITE_QUEUE: usize = 256;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer that stops reading must not pin a writer (and its slot) forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Spare room requested before each read; the framed prefix never exceeds
/// `max_message_size`, so a connection buffers at most about that plus this.
const READ_CHUNK: usize = 8 * 1024;

/// Pause after a failed accept (usually EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const LISTEN_BACKLOG: i32 = 1024;

pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // A restart must not fail on the previous run's TIME_WAIT connections.
    // Buffer sizes are left alone: setting them disables TCP autotuning.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// The TCP side of [`Sender`]: connection registry and slot accounting.
pub(super) struct TcpOut {
    registry: Mutex<Registry>,
    /// Every connection holds one of these.
    slots: Arc<Semaphore>,
    /// Inbound connections hold one of these as well; there are fewer of
    /// them than `slots` by the outbound reserve.
    inbound_slots: Arc<Semaphore>,
    sources: Arc<SourceCounts>,
    next_id: AtomicU64,
    limits: Limits,
    idle_timeout: Duration,
    message_timeout: Duration,
    /// Outbound connections leave from the listening IP (port 0) when it
    /// is a specific one, so that they match the host the Via names.
    bind_addr: Option<SocketAddr>,
}

#[derive(Default)]
struct Registry {
    conns: HashMap<ConnId, Conn>,
    by_remote: HashMap<SocketAddr, ConnId>,
}

struct Conn {
    remote: SocketAddr,
    queue: mpsc::Sender<Bytes>,
}

impl TcpOut {
    pub(super) fn new(cfg: &TransportConfig) -> TcpOut {
        // set_port keeps an IPv6 scope id, which SocketAddr::new would lose.
        let mut bind_addr = cfg.listen;
        bind_addr.set_port(0);
        TcpOut {
            registry: Mutex::new(Registry::default()),
            slots: Arc::new(Semaphore::new(cfg.max_tcp_connections)),
            inbound_slots: Arc::new(Semaphore::new(
                cfg.max_tcp_connections
                    .saturating_sub(cfg.tcp_outbound_reserve),
            )),
            sources: Arc::new(SourceCounts {
                cap: cfg.max_tcp_connections_per_source,
                open: Mutex::new(HashMap::new()),
            }),
            next_id: AtomicU64::new(1),
            limits: Limits {
                max_message_size: cfg.max_message_size,
                max_headers: cfg.max_headers,
            },
            idle_timeout: cfg.tcp_idle_timeout,
            message_timeout: cfg.tcp_message_timeout,
            bind_addr: (!bind_addr.ip().is_unspecified()).then_some(bind_addr),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Nothing panics while holding the lock, and the maps stay
        // consistent between statements even if something did.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(reg: &mut Registry, id: ConnId, remote: SocketAddr, queue: mpsc::Sender<Bytes>) {
        reg.conns.insert(id, Conn { remote, queue });
        reg.by_remote.insert(remote, id);
    }

    fn remove(&self, id: ConnId) {
        let mut reg = self.lock();
        if let Some(conn) = reg.conns.remove(&id) {
            // A newer connection to the same address may own the index.
            if reg.by_remote.get(&conn.remote) == Some(&id) {
                reg.by_remote.remove(&conn.remote);
            }
        }
    }

    fn new_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The slots an inbound connection from `remote` needs, or why it
    /// gets none. The source is checked first so that one host's surplus
    /// connections never touch the shared pool.
    fn admit(&self, remote: SocketAddr) -> Result<Slots, Refusal> {
        let source = SourceCounts::admit(&self.sources, remote.ip()).ok_or(Refusal::Source)?;
        let inbound = Arc::clone(&self.inbound_slots)
            .try_acquire_owned()
            .map_err(|_| Refusal::Cap)?;
        let total = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Refusal::Cap)?;
        Ok(Slots {
            _total: total,
            _inbound: Some((inbound, source)),
        })
    }
}

/// Why an inbound connection was closed at once.
enum Refusal {
    Source,
    Cap,
}

/// Inbound connections open per source.
struct SourceCounts {
    cap: usize,
    /// Only sources with a connection open have an entry, so the map is
    /// no larger than the connection cap.
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl SourceCounts {
    fn admit(this: &Arc<SourceCounts>, ip: IpAddr) -> Option<SourceGuard> {
        let key = source_key(ip);
        let mut open = this.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= this.cap {
            return None;
        }
        *count += 1;
        Some(SourceGuard {
            counts: Arc::clone(this),
            key,
        })
    }
}

/// One source's claim on its share; given back when dropped.
struct SourceGuard {
    counts: Arc<SourceCounts>,
    key: IpAddr,
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What one source is counted as: an IPv4 address, or the /64 an IPv6
/// address belongs to, since one IPv6 host usually has a whole /64 to pick
/// addresses from.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

/// The slots a connection holds for as long as either of its tasks runs.
struct Slots {
    _total: OwnedSemaphorePermit,
    _inbound: Option<(OwnedSemaphorePermit, SourceGuard)>,
}

/// Queues a message on an existing connection, or opens one for it.
pub(super) fn send(sender: &Sender, to: Outbound, bytes: Bytes) -> Result<(), SendError> {
    let shared = &sender.shared;
    let tcp = &shared.tcp;
    let mut bytes = bytes;
    // Lookup and registration happen under one lock so that two sends to a
    // new destination share one connection instead of racing to open two.
    let (id, queue, outbound, slot, token) = {
        let mut reg = tcp.lock();
        let known = reg.by_remote.get(&to.dest).copied();
        for id in [to.conn, known].into_iter().flatten() {
            let Some(conn) = reg.conns.get(&id) else {
                continue;
            };
            match conn.queue.try_send(bytes) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    bump(&shared.stats.tcp_send_dropped);
                    return Err(SendError::QueueFull { dest: to.dest });
                }
                // Its writer just ended; the entry is about to go.
                Err(mpsc::error::TrySendError::Closed(b)) => bytes = b,
            }
        }
        let Ok(total) = Arc::clone(&tcp.slots).try_acquire_owned() else {
            bump(&shared.stats.tcp_send_dropped);
            return Err(SendError::ConnectionLimit { dest: to.dest });
        };
        let slot = Slots {
            _total: total,
            _inbound: None,
        };
        let Some(token) = shared.tasks.token.upgrade() else {
            return Err(SendError::Shutdown);
        };
        let (queue, outbound) = mpsc::channel(WRITE_QUEUE);
        if queue.try_send(bytes).is_err() {
            // Unreachable with a fresh channel of positive capacity.
            return Err(SendError::QueueFull { dest: to.dest });
        }
        let id = tcp.new_id();
        TcpOut::register(&mut reg, id, to.dest, queue.clone());
        (id, queue, outbound, slot, token)
    };
    // From here on the entry is removed by the guard, whatever happens.
    let conn = ConnCtx {
        id,
        registered: Registered {
            sender: sender.clone(),
            id,
        },
        life: Arc::new(Life::new(slot, Arc::clone(&shared.stats))),
        queue,
        outbound,
        shutdown: shared.tasks.shutdown.clone(),
        token,
    };
    shared
        .tasks
        .runtime
        .spawn(connect(to.dest, tcp.bind_addr, sender.clone(), conn));
    Ok(())
}

/// Accepts until shutdown; connections beyond the cap are closed at once.
pub(super) async fn accept_loop(
    listener: TcpListener,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
    token: TaskToken,
) {
    let shared = Arc::clone(&sender.shared);
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::select! {
                    biased;
                    _ = shutdown_requested(&mut shutdown) => break,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let slot = match shared.tcp.admit(remote) {
            Ok(slot) => slot,
            Err(Refusal::Source) => {
                bump(&shared.stats.tcp_rejected_source);
                tracing::debug!(%remote, "TCP connections per source reached; closing");
                drop(stream);
                continue;
            }
            Err(Refusal::Cap) => {
                bump(&shared.stats.tcp_rejected_cap);
                tracing::debug!(%remote, "TCP connection cap reached; closing");
                drop(stream);
                continue;
            }
        };
        bump(&shared.stats.tcp_accepted);
        let (queue, outbound) = mpsc::channel(WRITE_QUEUE);
        let id = shared.tcp.new_id();
        TcpOut::register(&mut shared.tcp.lock(), id, remote, queue.clone());
        let conn = ConnCtx {
            id,
            registered: Registered {
                sender: sender.clone(),
                id,
            },
            life: Arc::new(Life::new(slot, Arc::clone(&shared.stats))),
            queue,
            outbound,
            shutdown: shutdown.clone(),
            token: token.clone(),
        };
        tokio::spawn(run_connection(stream, sender.clone(), conn));
    }
}

/// Everything one connection's tasks own.
struct ConnCtx {
    id: ConnId,
    registered: Registered,
    life: Arc<Life>,
    /// The reader's handle on its own writer, for pongs.
    queue: mpsc::Sender<Bytes>,
    outbound: mpsc::Receiver<Bytes>,
    shutdown: watch::Receiver<bool>,
    token: TaskToken,
}

/// Forgets the connection when dropped, so that no exit path (a handler
/// panic included) leaves a dead entry for `send` to find.
struct Registered {
    sender: Sender,
    id: ConnId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sender.shared.tcp.remove(self.id);
    }
}

/// Holds the connection's slots until both its tasks have ended.
struct Life {
    _slot: Slots,
    stats: Arc<TransportStats>,
}

impl Life {
    fn new(slot: Slots, stats: Arc<TransportStats>) -> Life {
        stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        Life { _slot: slot, stats }
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        self.stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connect(
    dest: SocketAddr,
    bind_addr: Option<SocketAddr>,
    sender: Sender,
    mut conn: ConnCtx,
) {
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, open(dest, bind_addr));
    let result = tokio::select! {
        biased;
        _ = shutdown_requested(&mut conn.shutdown) => return,
        result = attempt => result,
    };
    match result {
        Ok(Ok(stream)) => {
            bump(&sender.shared.stats.tcp_connected);
            run_connection(stream, sender, conn).await;
        }
        Ok(Err(e)) => {
            bump(&sender.shared.stats.tcp_connect_errors);
            tracing::debug!(%dest, error = %e, "TCP connect failed; queued messages dropped");
        }
        Err(_) => {
            bump(&sender.shared.stats.tcp_connect_errors);
            tracing::debug!(%dest, "TCP connect timed out; queued messages dropped");
        }
    }
}

async fn open(dest: SocketAddr, bind_addr: Option<SocketAddr>) -> io::Result<TcpStream> {
    let socket = if dest.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(addr) = bind_addr {
        socket.bind(addr)?;
    }
    socket.connect(dest).await
}

/// Runs the reader in this task and the writer in another; whichever
/// ends first ends the other.
async fn run_connection(stream: TcpStream, sender: Sender, conn: ConnCtx) {
    let (remote, local) = match (stream.peer_addr(), stream.local_addr()) {
        (Ok(remote), Ok(local)) => (remote, local),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(id = conn.id.0, error = %e, "TCP connection gone before start");
            return;
        }
    };
    // Each message is written whole; Nagle would only delay it.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(id = conn.id.0, error = %e, "cannot set TCP_NODELAY");
    }
    let (read_half, write_half) = stream.into_split();
    let activity = Arc::new(Activity::new());
    let (writer_done, writer_gone) = oneshot::channel();
    let ConnCtx {
        id,
        registered,
        life,
        queue,
        outbound,
        shutdown,
        token,
    } = conn;
    tokio::spawn(write_loop(Writer {
        half: write_half,
        outbound,
        id,
        remote,
        sender: sender.clone(),
        activity: Arc::clone(&activity),
        shutdown: shutdown.clone(),
        _done: writer_done,
        _life: Arc::clone(&life),
        _token: token.clone(),
    }));
    tracing::debug!(id = id.0, %remote, %local, "TCP connection open");
    let reader = Reader {
        half: read_half,
        id,
        remote,
        local,
        sender,
        queue,
        activity,
        shutdown,
        writer_gone,
    };
    reader.run().await;
    tracing::debug!(id = id.0, %remote, "TCP connection closing");
    // Dropping the entry (and the reader's queue handle) closes the
    // writer's channel: it sends what is queued, then closes the socket.
    drop(registered);
    drop(life);
    drop(token);
}

/// Last time bytes moved in either direction, shared by reader and
/// writer: a connection we only write to is not idle.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.origin + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

struct Reader {
    half: OwnedReadHalf,
    id: ConnId,
    remote: SocketAddr,
    local: SocketAddr,
    sender: Sender,
    queue: mpsc::Sender<Bytes>,
    activity: Arc<Activity>,
    shutdown: watch::Receiver<bool>,
    writer_gone: oneshot::Receiver<()>,
}

impl Reader {
    async fn run(mut self) {
        let shared = Arc::clone(&self.sender.shared);
        let idle = shared.tcp.idle_timeout;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut framer = StreamFramer::new(shared.tcp.limits);
        // When the first byte of the message now being read arrived.
        let mut started: Option<Instant> = None;
        loop {
            if !self.deliver(&mut buf, &mut framer, &mut started) {
                return;
            }
            if message_pending(&buf) {
                started.get_or_insert_with(Instant::now);
            } else {
                started = None;
            }
            let message_due = started.map(|at| at + shared.tcp.message_timeout);
            let idle_due = self.activity.last() + idle;
            let deadline = message_due.map_or(idle_due, |due| due.min(idle_due));
            buf.reserve(READ_CHUNK);
            tokio::select! {
                biased;
                _ = shutdown_requested(&mut self.shutdown) => return,
                _ = &mut self.writer_gone => return,
                _ = tokio::time::sleep_until(deadline) => {
                    if message_due.is_some_and(|due| due <= Instant::now()) {
                        bump(&shared.stats.tcp_message_timeouts);
                        tracing::debug!(id = self.id.0, remote = %self.remote, buffered = buf.len(), "TCP message not completed in time; closing");
                        return;
                    }
                    // The writer may have moved bytes since the deadline
                    // was computed; if so, just wait again.
                    if self.activity.last() + idle <= Instant::now() {
                        bump(&shared.stats.tcp_idle_closed);
                        tracing::debug!(id = self.id.0, remote = %self.remote, "TCP connection idle");
                        return;
                    }
                }
                read = self.half.read_buf(&mut buf) => match read {
                    Ok(0) => return,
                    Ok(_) => self.activity.touch(),
                    Err(e) => {
                        tracing::debug!(id = self.id.0, remote = %self.remote, error = %e, "TCP read failed");
                        return;
                    }
                },
            }
        }
    }

    /// Hands every complete message in `buf` to the handler and answers
    /// pings; false when framing is lost and the connection must close.
    /// Each round consumes at least one byte, so the loop ends. A message
    /// handed on clears `started`: what follows it is a new message.
    fn deliver(
        &self,
        buf: &mut BytesMut,
        framer: &mut StreamFramer,
        started: &mut Option<Instant>,
    ) -> bool {
        let shared = &self.sender.shared;
        loop {
            match framer.frame(buf) {
                Ok(Frame::Incomplete) => return true,
                Ok(Frame::KeepAlive { len, pings }) if len > 0 && len <= buf.len() => {
                    buf.advance(len);
                    if pings > 0 {
                        self.pong(pings);
                    }
                }
                Ok(Frame::Message(n)) if n > 0 && n <= buf.len() => {
                    bump(&shared.stats.tcp_rx);
                    *started = None;
                    let msg = Inbound {
                        bytes: buf.split_to(n).freeze(),
                        source: self.remote,
                        local: self.local,
                        proto: Proto::Tcp,
                        conn: Some(self.id),
                    };
                    dispatch(shared.tasks.handler.as_ref(), msg, &self.sender);
                }
                Ok(frame) => {
                    bump(&shared.stats.tcp_framing_errors);
                    tracing::debug!(id = self.id.0, remote = %self.remote, ?frame, "TCP frame outside the buffer; closing");
                    return false;
                }
                Err(e) => {
                    bump(&shared.stats.tcp_framing_errors);
                    match e {
                        ParseError::TooLarge { .. } => bump(&shared.stats.tcp_oversize),
                        ParseError::TooManyHeaders { .. } => {
                            bump(&shared.stats.tcp_too_many_headers)
                        }
                        _ => {}
                    }
                    tracing::debug!(id = self.id.0, remote = %self.remote, error = %e, "TCP message refused; closing");
                    return false;
                }
            }
        }
    }

    /// RFC 5626 §4.4.1: one CRLF for each CRLFCRLF. Dropped if the writer
    /// is backed up; the peer's next ping will ask again.
    fn pong(&self, pings: usize) {
        let pong = if pings == 1 {
            Bytes::from_static(b"\r\n")
        } else {
            Bytes::from(b"\r\n".repeat(pings))
        };
        if self.queue.try_send(pong).is_err() {
            tracing::debug!(id = self.id.0, "pong dropped; write queue full");
        }
    }
}

/// Whether `buf` holds the start of a message rather than nothing or part
/// of a keep-alive: framing has consumed every CR/LF run it can, so a
/// message has begun exactly when the first byte is something else.
fn message_pending(buf: &[u8]) -> bool {
    buf.first().is_some_and(|b| !matches!(b, b'\r' | b'\n'))
}

struct Writer {
    half: OwnedWriteHalf,
    outbound: mpsc::Receiver<Bytes>,
    id: ConnId,
    remote: SocketAddr,
    sender: Sender,
    activity: Arc<Activity>,
    shutdown: watch::Receiver<bool>,
    /// Dropped when the writer ends, which stops the reader.
    _done: oneshot::Sender<()>,
    _life: Arc<Life>,
    _token: TaskToken,
}

async fn write_loop(mut w: Writer) {
    let stats = Arc::clone(&w.sender.shared.stats);
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown_requested(&mut w.shutdown) => break,
            next = w.outbound.recv() => next,
        };
        // None: the reader has ended and the registry has let go.
        let Some(bytes) = next else { break };
        let written = tokio::select! {
            biased;
            _ = shutdown_requested(&mut w.shutdown) => break,
            written = tokio::time::timeout(WRITE_TIMEOUT, w.half.write_all(&bytes)) => written,
        };
        match written {
            Ok(Ok(())) => {
                bump(&stats.tcp_tx);
                w.activity.touch();
            }
            Ok(Err(e)) => {
                tracing::debug!(id = w.id.0, remote = %w.remote, error = %e, "TCP write failed");
                break;
            }
            Err(_) => {
                tracing::debug!(id = w.id.0, remote = %w.remote, "TCP write timed out");
                break;
            }
        }
    }
    // Stop new sends from choosing this connection before the reader,
    // woken by `_done`, gets round to it.
    w.sender.shared.tcp.remove(w.id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn one_ipv6_host_is_one_source() {
        let key = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }

    #[test]
    fn a_source_share_is_given_back() {
        let counts = Arc::new(SourceCounts {
            cap: 2,
            open: Mutex::new(HashMap::new()),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = SourceCounts::admit(&counts, ip).unwrap();
        let second = SourceCounts::admit(&counts, ip).unwrap();
        assert!(SourceCounts::admit(&counts, ip).is_none());
        assert!(SourceCounts::admit(&counts, "192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        assert!(SourceCounts::admit(&counts, ip).is_some());
        drop(second);
        // Entries go with their last connection: the map stays bounded.
        assert!(counts.open.lock().unwrap().is_empty());
    }

    #[test]
    fn keep_alive_bytes_are_not_a_message() {
        assert!(!message_pending(b""));
        assert!(!message_pending(b"\r\n"));
        assert!(!message_pending(b"\r\n\r"));
        assert!(message_pending(b"O"));
    }
}
