//! One stream connection's life, the same for TCP and TLS: the reader
//! (incremental Content-Length framing under the parser's limits, RFC 5626
//! keep-alive pongs, idle and message deadlines, inline handler calls), the
//! writer draining the connection's bounded queue, and the guards that give
//! back its registry entry and slots however it ends. How a stream comes to
//! exist (accept, connect, TLS handshake) is `tcp`'s and `tls`'s.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::tcp::Slots;
use super::{
    bump, dispatch, shutdown_requested, ConnId, Inbound, Proto, Sender, TaskToken, TransportStats,
};
use crate::parse::{Frame, ParseError, StreamFramer};

/// A peer that stops reading must not pin a writer (and its slot) forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Spare room requested before each read; the framed prefix never exceeds
/// `max_message_size`, so a connection buffers at most about that plus this.
const READ_CHUNK: usize = 8 * 1024;

/// Everything one connection's tasks own.
pub(super) struct ConnCtx {
    pub(super) id: ConnId,
    pub(super) registered: Registered,
    pub(super) life: Arc<Life>,
    /// The reader's handle on its own writer, for pongs.
    pub(super) queue: mpsc::Sender<Bytes>,
    pub(super) outbound: mpsc::Receiver<Bytes>,
    pub(super) shutdown: watch::Receiver<bool>,
    pub(super) token: TaskToken,
}

/// Forgets the connection when dropped, so that no exit path (a handler
/// panic included) leaves a dead entry for `send` to find.
pub(super) struct Registered {
    pub(super) sender: Sender,
    pub(super) id: ConnId,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sender.shared.tcp.remove(self.id);
    }
}

/// Holds the connection's slots until both its tasks have ended.
pub(super) struct Life {
    _slot: Slots,
    stats: Arc<TransportStats>,
}

impl Life {
    pub(super) fn new(slot: Slots, stats: Arc<TransportStats>) -> Life {
        stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        Life { _slot: slot, stats }
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        self.stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One accepted or connected stream, TCP or TLS alike: the two halves
/// and the addresses and transport messages on it are reported with.
pub(super) struct Stream {
    pub(super) read: Box<dyn AsyncRead + Send + Unpin>,
    pub(super) write: Box<dyn AsyncWrite + Send + Unpin>,
    pub(super) remote: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) proto: Proto,
}

/// Runs the reader in this task and the writer in another; whichever
/// ends first ends the other.
pub(super) async fn run_connection(stream: Stream, sender: Sender, conn: ConnCtx) {
    let Stream {
        read: read_half,
        write: write_half,
        remote,
        local,
        proto,
    } = stream;
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
    tracing::debug!(id = id.0, %remote, %local, proto = proto.via_token(), "connection open");
    let reader = Reader {
        half: read_half,
        id,
        proto,
        remote,
        local,
        sender,
        queue,
        activity,
        shutdown,
        writer_gone,
    };
    reader.run().await;
    tracing::debug!(id = id.0, %remote, proto = proto.via_token(), "connection closing");
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
    half: Box<dyn AsyncRead + Send + Unpin>,
    id: ConnId,
    proto: Proto,
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
                        proto: self.proto,
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
    half: Box<dyn AsyncWrite + Send + Unpin>,
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
    use super::*;

    #[test]
    fn keep_alive_bytes_are_not_a_message() {
        assert!(!message_pending(b""));
        assert!(!message_pending(b"\r\n"));
        assert!(!message_pending(b"\r\n\r"));
        assert!(message_pending(b"O"));
    }
}
