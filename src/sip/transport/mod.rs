//! SIP transports: UDP and TCP on one address and port (RFC 3261 §18).
//!
//! The transport layer moves whole messages: it frames TCP streams by
//! Content-Length, hands every message to a synchronous handler without
//! parsing it further, and sends without blocking the caller. TLS and
//! WebSocket fit in as further [`Proto`] values.

use std::net::SocketAddr;

use bytes::Bytes;

/// Which transport a message came on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    /// The token used in Via and `transport=` (RFC 3261 §18).
    pub fn via_token(self) -> &'static str {
        match self {
            Proto::Udp => "UDP",
            Proto::Tcp => "TCP",
        }
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
