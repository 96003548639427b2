//! protocall: a SIP call-routing daemon with automatic time tracking for a
//! consulting desk.
//!
//! Data flows one way: SIP events → routing decision → dialog events → time
//! tracking → store. Modules:
//! - `config`: layered settings and their validation;
//! - `sip`: the SIP side (transports, parser, proxy, registrar, digest,
//!   guard, resolver, `location`: who is registered where, the table the
//!   proxy reads on every call); knows nothing of SQL. It is its own crate,
//!   `protocall-sip` (crates/protocall-sip), re-exported here: it does not
//!   depend on this one, so the compiler keeps it from the store, routing,
//!   tracking and HTTP;
//! - `routing`: who is calling and where the dialplan sends the call, from
//!   in-memory state only; `calendar`: the desk's days off and working
//!   hours, one type for routing, planning, SLA and reports;
//! - `chat`: the chat channel (a bridge's signed events become chat
//!   contacts for the owner or the duty consultant; the 10-minute rule);
//! - `calls`: the call log, joining routing decisions with dialog events,
//!   and the call-backs owed;
//! - `tracking`: contacts, tasks, the journal that makes them durable, the
//!   week's plan and its calendar feed;
//! - `intake`: the e-mail channel, the desk's IMAP mailbox read into
//!   triggered e-mail contacts;
//! - `reports`: the weekly report (figures, renderings, the Monday mail);
//! - `directory`: providers, numbers, consultants, protocols, and the rules
//!   their inputs must pass (E.164 normalisation, CSV import);
//! - `store`: persistence on SQLite or PostgreSQL; knows nothing of SIP;
//! - `sync`: protocols kept in step with the desk's system of record
//!   (signed events, the periodic pull);
//! - `http`: the admin API and the desk console; `i18n`: every word shown
//!   to people, in Portuguese and English; `metrics`: Prometheus;
//!   `telemetry`: logs; `text_enum`: closed sets of words stored as text;
//!   `mac`: keyed hashes and secret comparison; `net`: the config's sets of
//!   addresses and networks (both protocall-sip's, re-exported: the SIP
//!   side uses them too);
//! - `cluster`: several instances sharing one PostgreSQL desk (bindings
//!   and calls in progress read from the others);
//! - `server`: assembly of the SIP side; `app`: assembly and lifecycle;
//!   `cli`: the command line.

#![forbid(unsafe_code)]
// What input can reach must not panic: no unwrap/expect/panic!, no
// unchecked indexing, anywhere in the library (tests and benches are their
// own crates and may).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

// The SIP side is its own crate (crates/protocall-sip), so that it cannot
// name the store, routing, tracking or HTTP; re-exported here so its paths
// (`protocall::sip::…`, `crate::mac`, `crate::net`) stay what they were.
pub use protocall_sip as sip;
pub use protocall_sip::{mac, net};

pub mod app;
pub mod calendar;
pub mod calls;
pub mod chat;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod http;
pub mod i18n;
pub mod intake;
pub mod metrics;
pub mod reports;
pub mod routing;
pub mod server;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod text_enum;
pub mod tracking;

#[cfg(test)]
mod layering;
