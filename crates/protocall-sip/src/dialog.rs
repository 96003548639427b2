//! Dialog events: what the proxy tells the rest of protocall about every
//! INVITE dialog it handles (ringing, answered, ended, failed).
//!
//! Time tracking consumes these; the proxy only emits them, through a
//! bounded channel with `try_send`, so a slow consumer can never slow a
//! call down (a full channel is counted, not waited on).

use chrono::{DateTime, Utc};

/// Which side ended an answered call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Caller,
    Callee,
}

/// Identifies a dialog: the Call-ID and the caller's From tag (the callee's
/// tag is only known once it answers).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub from_tag: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DialogEvent {
    /// A branch of the initial INVITE was sent to `target` (its
    /// Request-URI); the router's decision says whose phone that is.
    Forked {
        id: DialogId,
        target: String,
        at: DateTime<Utc>,
    },
    /// A branch ended without answering: its final code, or 408 when it
    /// rang out or never replied (the code the forking logic counted).
    BranchFailed {
        id: DialogId,
        target: String,
        code: u16,
        at: DateTime<Utc>,
    },
    /// The first 18x of the call.
    Ringing {
        id: DialogId,
        code: u16,
        at: DateTime<Utc>,
    },
    /// The first 2xx forwarded upstream.
    Answered {
        id: DialogId,
        to_tag: String,
        /// From URI of the INVITE.
        caller: String,
        /// To URI of the INVITE.
        callee: String,
        /// The Request-URI of the branch that answered.
        target: String,
        /// RFC 4028 session interval the 2xx carried (`Session-Expires`),
        /// in seconds: without a refresh by then, the session is dead.
        session_expires: Option<u32>,
        at: DateTime<Utc>,
    },
    /// An in-dialog re-INVITE or UPDATE was answered with a session
    /// interval: the session timer restarts (RFC 4028).
    Refreshed {
        id: DialogId,
        session_expires: u32,
        at: DateTime<Utc>,
    },
    /// A BYE from either side.
    Ended {
        id: DialogId,
        by: Party,
        at: DateTime<Utc>,
    },
    /// The INVITE ended without a 2xx: busy, no answer, cancelled, failed.
    Failed {
        id: DialogId,
        code: u16,
        cancelled: bool,
        caller: String,
        callee: String,
        at: DateTime<Utc>,
    },
}

impl DialogEvent {
    pub fn id(&self) -> &DialogId {
        match self {
            DialogEvent::Forked { id, .. }
            | DialogEvent::BranchFailed { id, .. }
            | DialogEvent::Ringing { id, .. }
            | DialogEvent::Answered { id, .. }
            | DialogEvent::Refreshed { id, .. }
            | DialogEvent::Ended { id, .. }
            | DialogEvent::Failed { id, .. } => id,
        }
    }
}

/// The URI of the From (`name` = "From") or To header, as text: the
/// caller and callee a dialog event and the call log name.
pub fn header_uri(msg: &super::message::SipMessage, name: &str) -> String {
    let na = match name {
        "From" => msg.from(),
        _ => msg.to(),
    };
    na.map(|n| String::from_utf8_lossy(&n.uri.raw).into_owned())
        .unwrap_or_default()
}

/// The interval of a `Session-Expires` value (`1800;refresher=uac`).
pub fn session_expires(value: &[u8]) -> Option<u32> {
    let digits: &[u8] = value.split(|b| *b == b';').next()?.trim_ascii();
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .filter(|v| *v > 0)
}

/// Where events go. `None` when nothing listens (benchmarks of the bare
/// proxy).
pub type EventSink = Option<tokio::sync::mpsc::Sender<DialogEvent>>;
