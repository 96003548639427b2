//! TCP transport: the listener and its capped accept loop, the registry of
//! open connections that lets `send` reuse them (RFC 3261 §18), outbound
//! connects, and each connection's reader (Content-Length framing, RFC 5626
//! keep-alive pongs, idle timeout, inline handler calls) and writer tasks.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
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
use crate::sip::parse::{frame_stream, Frame, ParseError};

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
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    max_message_size: usize,
    idle_timeout: Duration,
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
            next_id: AtomicU64::new(1),
            max_message_size: cfg.max_message_size,
            idle_timeout: cfg.tcp_idle_timeout,
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
        let Ok(slot) = Arc::clone(&tcp.slots).try_acquire_owned() else {
            bump(&shared.stats.tcp_send_dropped);
            return Err(SendError::ConnectionLimit { dest: to.dest });
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
        let Ok(slot) = Arc::clone(&shared.tcp.slots).try_acquire_owned() else {
            bump(&shared.stats.tcp_rejected_cap);
            tracing::debug!(%remote, "TCP connection cap reached; closing");
            drop(stream);
            continue;
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

/// Holds the connection's slot until both its tasks have ended.
struct Life {
    _slot: OwnedSemaphorePermit,
    stats: Arc<TransportStats>,
}

impl Life {
    fn new(slot: OwnedSemaphorePermit, stats: Arc<TransportStats>) -> Life {
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
        let mut watch = HeaderWatch::default();
        loop {
            if !self.deliver(&mut buf, &mut watch) {
                return;
            }
            buf.reserve(READ_CHUNK);
            let deadline = self.activity.last() + idle;
            tokio::select! {
                biased;
                _ = shutdown_requested(&mut self.shutdown) => return,
                _ = &mut self.writer_gone => return,
                _ = tokio::time::sleep_until(deadline) => {
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
    /// Each round consumes at least one byte, so the loop ends.
    fn deliver(&self, buf: &mut BytesMut, watch: &mut HeaderWatch) -> bool {
        let shared = &self.sender.shared;
        let max = shared.tcp.max_message_size;
        loop {
            if !watch.worth_framing(buf, max) {
                return true;
            }
            match frame_stream(buf, max) {
                Ok(Frame::Incomplete) => return true,
                Ok(Frame::KeepAlive { len, pings }) if len > 0 && len <= buf.len() => {
                    buf.advance(len);
                    watch.reset();
                    if pings > 0 {
                        self.pong(pings);
                    }
                }
                Ok(Frame::Message(n)) if n > 0 && n <= buf.len() => {
                    bump(&shared.stats.tcp_rx);
                    watch.reset();
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
                    if matches!(e, ParseError::TooLarge { .. }) {
                        bump(&shared.stats.tcp_oversize);
                    }
                    tracing::debug!(id = self.id.0, remote = %self.remote, error = %e, "TCP framing lost; closing");
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

/// Remembers how far the buffer is known to hold no end of headers, so a
/// peer dripping a large header section a byte at a time costs a scan of
/// the new bytes per read instead of a rescan of the whole section.
#[derive(Default)]
struct HeaderWatch {
    checked: usize,
    complete: bool,
}

impl HeaderWatch {
    /// False only when `frame_stream` would certainly report Incomplete:
    /// below the size limit, not keep-alive bytes, and no empty line yet.
    fn worth_framing(&mut self, buf: &[u8], max: usize) -> bool {
        if self.complete || buf.len() > max {
            return true;
        }
        match buf.first() {
            None => return false,
            Some(b'\r' | b'\n') => return true,
            Some(_) => {}
        }
        // The empty line is LF, optional CR, LF; backing up two bytes
        // catches one split across reads.
        let fresh = buf
            .get(self.checked.saturating_sub(2)..)
            .unwrap_or_default();
        if memchr::memmem::find(fresh, b"\n\n").is_some()
            || memchr::memmem::find(fresh, b"\n\r\n").is_some()
        {
            self.complete = true;
        } else {
            self.checked = buf.len();
        }
        self.complete
    }

    fn reset(&mut self) {
        *self = HeaderWatch::default();
    }
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

    /// Fed one byte at a time, the watch may skip framing only where
    /// `frame_stream` has nothing to report, and never misses the end.
    #[test]
    fn header_watch_never_hides_a_frame() {
        let crlf = b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\nContent-Length: 2\r\n\r\nhi".to_vec();
        let bare_lf = b"OPTIONS sip:a SIP/2.0\nContent-Length: 0\n\n".to_vec();
        let no_headers = b"OPTIONS sip:a SIP/2.0\r\n\r\n".to_vec();
        let oversize = [b"OPTIONS sip:a SIP/2.0\r\nX: ".as_slice(), &[b'y'; 80]].concat();
        for msg in [crlf, bare_lf, no_headers, oversize] {
            let mut watch = HeaderWatch::default();
            let mut seen_frame = false;
            for end in 1..=msg.len() {
                let prefix = &msg[..end];
                let framed = frame_stream(prefix, 64);
                if !watch.worth_framing(prefix, 64) {
                    assert!(matches!(framed, Ok(Frame::Incomplete)), "{end}: {framed:?}");
                } else if !matches!(framed, Ok(Frame::Incomplete)) {
                    seen_frame = true;
                }
            }
            assert!(seen_frame, "{:?}", String::from_utf8_lossy(&msg));
        }
    }
}
