//! Protocols kept in step with the desk's system of record (its ticket
//! system): the event format (`event`), applying one event idempotently
//! and in the system of record's order (`apply`), and the periodic pull
//! for systems that cannot send webhooks (`pull`), and protocols in the
//! directory CSV (`import`). The webhook endpoint
//! itself is `crate::http::protocol_events`; see docs/protocol-sync.md.

pub mod apply;
pub mod event;
pub mod import;
pub mod mapping;
pub mod pull;

pub use apply::{apply, Outcome, SyncError, PULL, WEBHOOK};
pub use event::{Change, EventError, EventKind, PendingEvent, ProtocolEvent};
