//! Stream connections' bookkeeping and TCP itself: the listener and its
//! accept loop with its caps (in all, per source, and a reserve of slots
//! only outbound connections may take), the registry of open connections,
//! TCP and TLS alike, that lets `send` reuse them (RFC 3261 §18), and
//! outbound TCP connects. What runs on a connection is `conn`'s.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::conn::{run_connection, ConnCtx, Life, Registered, Stream};
use super::{
    bump, shutdown_requested, ConnId, Outbound, Proto, SendError, Sender, Shared, TaskToken,
    TransportConfig,
};
use crate::parse::Limits;

/// Messages waiting for one connection's writer. Enough for a burst of
/// retransmissions and in-dialog requests; beyond it the peer is not
/// keeping up and `send` says so rather than buffer without limit.
const WRITE_QUEUE: usize = 256;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept (usually EMFILE) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

const LISTEN_BACKLOG: i32 = 1024;

pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(!super::dual_stack(addr))?;
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
    pub(super) limits: Limits,
    pub(super) idle_timeout: Duration,
    pub(super) message_timeout: Duration,
    /// Outbound connections leave from the listening IP (port 0) when it
    /// is a specific one, so that they match the host the Via names.
    bind_addr: Option<SocketAddr>,
}

/// A TLS connection is never reused for TCP nor the other way round, so
/// the index is by transport as well as by address.
#[derive(Default)]
struct Registry {
    conns: HashMap<ConnId, Conn>,
    by_remote: HashMap<(Proto, SocketAddr), ConnId>,
}

struct Conn {
    remote: SocketAddr,
    proto: Proto,
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

    fn register(
        reg: &mut Registry,
        id: ConnId,
        proto: Proto,
        remote: SocketAddr,
        queue: mpsc::Sender<Bytes>,
    ) {
        reg.conns.insert(
            id,
            Conn {
                remote,
                proto,
                queue,
            },
        );
        reg.by_remote.insert((proto, remote), id);
    }

    pub(super) fn remove(&self, id: ConnId) {
        let mut reg = self.lock();
        if let Some(conn) = reg.conns.remove(&id) {
            // A newer connection to the same address may own the index.
            let key = (conn.proto, conn.remote);
            if reg.by_remote.get(&key) == Some(&id) {
                reg.by_remote.remove(&key);
            }
        }
    }

    /// Registers an inbound connection from `remote` (holding `slot`) and
    /// builds what its tasks own.
    pub(super) fn inbound(
        sender: &Sender,
        slot: Slots,
        proto: Proto,
        remote: SocketAddr,
        shutdown: watch::Receiver<bool>,
        token: TaskToken,
    ) -> ConnCtx {
        let shared = &sender.shared;
        let (queue, outbound) = mpsc::channel(WRITE_QUEUE);
        let id = shared.tcp.new_id();
        TcpOut::register(&mut shared.tcp.lock(), id, proto, remote, queue.clone());
        ConnCtx {
            id,
            registered: Registered {
                sender: sender.clone(),
                id,
            },
            life: Arc::new(Life::new(slot, Arc::clone(&shared.stats))),
            queue,
            outbound,
            shutdown,
            token,
        }
    }

    fn new_id(&self) -> ConnId {
        ConnId(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The slots an inbound connection from `remote` needs, or why it
    /// gets none. The source is checked first so that one host's surplus
    /// connections never touch the shared pool.
    pub(super) fn admit(&self, remote: SocketAddr) -> Result<Slots, Refusal> {
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
pub(super) enum Refusal {
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
pub(super) struct Slots {
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
        let known = reg.by_remote.get(&(to.proto, to.dest)).copied();
        for id in [to.conn, known].into_iter().flatten() {
            let Some(conn) = reg.conns.get(&id).filter(|c| c.proto == to.proto) else {
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
        if to.proto != Proto::Tcp {
            // TLS reaches phones over the connection they opened (RFC 5626
            // flows); we open none ourselves, as we hold no trust anchors
            // to check a phone's certificate against.
            bump(&shared.stats.tcp_send_dropped);
            return Err(SendError::NoConnection {
                dest: to.dest,
                proto: to.proto,
            });
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
        TcpOut::register(&mut reg, id, Proto::Tcp, to.dest, queue.clone());
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

/// The next inbound connection that gets its slots, TCP and TLS listeners
/// alike: accept errors (usually EMFILE) back off instead of spinning, and
/// connections beyond the caps are closed at once. `None` on shutdown.
pub(super) async fn next_admitted(
    listener: &TcpListener,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    proto: Proto,
) -> Option<(TcpStream, SocketAddr, Slots)> {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown_requested(shutdown) => return None,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok((stream, remote)) => (stream, super::canonical(remote)),
            Err(e) => {
                tracing::warn!(error = %e, proto = proto.via_token(), "accept failed");
                tokio::select! {
                    biased;
                    _ = shutdown_requested(shutdown) => return None,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        match shared.tcp.admit(remote) {
            Ok(slot) => return Some((stream, remote, slot)),
            Err(Refusal::Source) => {
                bump(&shared.stats.tcp_rejected_source);
                tracing::debug!(%remote, proto = proto.via_token(), "connections per source reached; closing");
            }
            Err(Refusal::Cap) => {
                bump(&shared.stats.tcp_rejected_cap);
                tracing::debug!(%remote, proto = proto.via_token(), "connection cap reached; closing");
            }
        }
    }
}

/// Accepts until shutdown; connections beyond the cap are closed at once.
pub(super) async fn accept_loop(
    listener: TcpListener,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
    token: TaskToken,
) {
    let shared = Arc::clone(&sender.shared);
    while let Some((stream, remote, slot)) =
        next_admitted(&listener, &shared, &mut shutdown, Proto::Tcp).await
    {
        bump(&shared.stats.tcp_accepted);
        let conn = TcpOut::inbound(
            &sender,
            slot,
            Proto::Tcp,
            remote,
            shutdown.clone(),
            token.clone(),
        );
        if let Some(stream) = tcp_stream(stream, conn.id) {
            tokio::spawn(run_connection(stream, sender.clone(), conn));
        }
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
            if let Some(stream) = tcp_stream(stream, conn.id) {
                run_connection(stream, sender, conn).await;
            }
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

/// A TCP socket as a [`Stream`]; None when it is already gone.
pub(super) fn tcp_stream(stream: TcpStream, id: ConnId) -> Option<Stream> {
    let (remote, local) = match (stream.peer_addr(), stream.local_addr()) {
        (Ok(remote), Ok(local)) => (super::canonical(remote), super::canonical(local)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::debug!(id = id.0, error = %e, "TCP connection gone before start");
            return None;
        }
    };
    // Each message is written whole; Nagle would only delay it.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(id = id.0, error = %e, "cannot set TCP_NODELAY");
    }
    let (read, write) = stream.into_split();
    Some(Stream {
        read: Box::new(read),
        write: Box::new(write),
        remote,
        local,
        proto: Proto::Tcp,
    })
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
}
