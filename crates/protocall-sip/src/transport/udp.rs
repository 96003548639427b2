//! UDP transport: the one shared socket, the workers that drain it and call
//! the handler inline, and the send path with its small fallback queue for
//! moments when the socket buffer is full.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use super::{
    bump, dispatch, shutdown_requested, Inbound, Proto, SendError, Sender, TaskToken,
    TransportStats,
};

/// Datagrams waiting for the socket to become writable. Small on purpose:
/// a full kernel buffer this deep means the network is the bottleneck, and
/// SIP retransmits anyway.
const FALLBACK_QUEUE: usize = 512;

/// Datagrams read per readiness event before yielding, so one busy socket
/// cannot starve shutdown or other tasks on the worker thread.
const RECV_BATCH: usize = 256;

/// A queued datagram still unsent after this is counted as a send error.
const FALLBACK_SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// No UDP payload exceeds this, whatever the configured message limit.
const MAX_DATAGRAM: usize = 65535;

pub(super) fn bind(addr: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(!super::dual_stack(addr))?;
    }
    if buffer_bytes > 0 {
        // A short burst of INVITEs must not overflow the kernel's default
        // (often ~200 KiB) while workers are busy; a clamp is not fatal.
        if let Err(e) = socket.set_recv_buffer_size(buffer_bytes) {
            tracing::warn!(error = %e, "cannot set UDP SO_RCVBUF");
        }
        if let Err(e) = socket.set_send_buffer_size(buffer_bytes) {
            tracing::warn!(error = %e, "cannot set UDP SO_SNDBUF");
        }
        tracing::debug!(
            requested = buffer_bytes,
            rcvbuf = ?socket.recv_buffer_size().ok(),
            sndbuf = ?socket.send_buffer_size().ok(),
            "UDP socket buffers"
        );
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Receives on the shared socket until shutdown.
pub(super) async fn worker(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    max_message_size: usize,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
    _token: TaskToken,
) {
    let handler = Arc::clone(&sender.shared.tasks.handler);
    let stats = Arc::clone(&sender.shared.stats);
    // One byte more than allowed so an oversize datagram shows up as such
    // instead of being silently truncated to an acceptable length.
    let mut buf = vec![0u8; max_message_size.min(MAX_DATAGRAM) + 1];
    loop {
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            ready = socket.readable() => {
                if let Err(e) = ready {
                    tracing::error!(error = %e, "UDP socket failed; worker stops");
                    break;
                }
            }
        }
        let mut drained = false;
        for _ in 0..RECV_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((n, source)) => {
                    if n > max_message_size {
                        bump(&stats.udp_dropped_oversize);
                        tracing::debug!(%source, size = n, "oversize UDP datagram dropped");
                        continue;
                    }
                    let Some(data) = buf.get(..n) else { continue };
                    bump(&stats.udp_rx);
                    let msg = Inbound {
                        bytes: Bytes::copy_from_slice(data),
                        source: super::canonical(source),
                        local,
                        proto: Proto::Udp,
                        conn: None,
                    };
                    dispatch(handler.as_ref(), msg, &sender);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                // Some platforms report an earlier send's ICMP error here;
                // it concerns no datagram in the queue.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            }
        }
        if !drained {
            tokio::task::yield_now().await;
        }
    }
}

/// The send half of the UDP transport.
pub(super) struct UdpOut {
    socket: Arc<UdpSocket>,
    fallback: mpsc::Sender<(SocketAddr, Bytes)>,
    /// The socket is IPv6 on `[::]` and takes IPv4 too: IPv4 peers are
    /// addressed as IPv4-mapped IPv6 addresses.
    dual: bool,
}

pub(super) type Fallback = mpsc::Receiver<(SocketAddr, Bytes)>;

impl UdpOut {
    pub(super) fn new(socket: Arc<UdpSocket>, dual: bool) -> (UdpOut, Fallback) {
        let (fallback, rx) = mpsc::channel(FALLBACK_QUEUE);
        (
            UdpOut {
                socket,
                fallback,
                dual,
            },
            rx,
        )
    }

    pub(super) fn send(
        &self,
        dest: SocketAddr,
        bytes: Bytes,
        stats: &TransportStats,
    ) -> Result<(), SendError> {
        let dest = match dest {
            SocketAddr::V4(v4) if self.dual => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            other => other,
        };
        // Sending directly while older datagrams wait would reorder a
        // response ahead of, say, the provisional queued before it.
        if self.fallback.capacity() < self.fallback.max_capacity() {
            return self.enqueue(dest, bytes, stats);
        }
        match self.socket.try_send_to(&bytes, dest) {
            Ok(_) => {
                bump(&stats.udp_tx);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.enqueue(dest, bytes, stats),
            Err(source) => {
                bump(&stats.udp_send_errors);
                Err(SendError::Udp { dest, source })
            }
        }
    }

    fn enqueue(
        &self,
        dest: SocketAddr,
        bytes: Bytes,
        stats: &TransportStats,
    ) -> Result<(), SendError> {
        match self.fallback.try_send((dest, bytes)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&stats.udp_send_errors);
                Err(SendError::QueueFull { dest })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Shutdown),
        }
    }
}

/// Sends what [`UdpOut::send`] could not, waiting for writability.
pub(super) async fn drain_fallback(
    socket: Arc<UdpSocket>,
    mut queue: Fallback,
    stats: Arc<TransportStats>,
    mut shutdown: watch::Receiver<bool>,
    _token: TaskToken,
) {
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            next = queue.recv() => next,
        };
        let Some((dest, bytes)) = next else { break };
        let sent = tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            sent = tokio::time::timeout(FALLBACK_SEND_TIMEOUT, socket.send_to(&bytes, dest)) => sent,
        };
        match sent {
            Ok(Ok(_)) => bump(&stats.udp_tx),
            Ok(Err(e)) => {
                bump(&stats.udp_send_errors);
                tracing::debug!(%dest, error = %e, "queued UDP send failed");
            }
            Err(_) => {
                bump(&stats.udp_send_errors);
                tracing::debug!(%dest, "queued UDP send timed out");
            }
        }
    }
}
