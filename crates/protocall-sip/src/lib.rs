//! The SIP side of protocall, a crate of its own (`protocall-sip`, seen
//! from the daemon as `protocall::sip`). It knows nothing of SQL or of the
//! desk: the routing policy comes in through `router`, and what happened to
//! calls goes out as `dialog` events. Being another crate, that is not a
//! convention but a fact the compiler keeps: this crate does not depend on
//! `protocall`, so the store, routing, tracking and HTTP cannot be named
//! from here.
//!
//! - `transport`: UDP, TCP and TLS sockets, framing, connection reuse;
//! - `parse`: framing and the zero-copy header index (compact names,
//!   folding, comma lists, Content-Length);
//! - `message`: the parsed message and typed values read on demand
//!   (Via, CSeq, URIs, name-addr);
//! - `validate`: what a request or response owes before anything acts on it
//!   (RFC 3261, RFC 4475 §3.1.2);
//! - `edit`: responses and relayed copies, written once from spans;
//! - `proxy`: the stateful, Record-Routing proxy (RFC 3261 §16) and its
//!   transactions; `transaction`: keys, branches, timers and the sharded
//!   table; `router`: where an initial request goes (asked of the desk);
//!   `dialog`: the events the proxy emits per INVITE dialog;
//! - `registrar`: REGISTER and the digest check the proxy shares;
//!   `location`: the bindings it keeps, which the proxy reads on every
//!   call (the store's copy is written behind by `server`);
//!   `digest`: digest authentication (RFC 7616) and HA1 values;
//! - `guard`: flood and password-guessing protection (density limit, bans,
//!   user locks); `budget`: the cap on transactions held;
//! - `resolve`: RFC 3263 name resolution for targets, cached, never
//!   blocking the hot path;
//! - `settings`: the config sections read here (`[sip.dns]`, `[security]`);
//!   `metrics`: the SIP side's Prometheus metrics; `mac`: keyed hashes and
//!   secret comparison; `net`: the config's sets of addresses and networks
//!   (these four are also used by the rest of protocall, which re-exports
//!   them where they were: `protocall::config`, `protocall::metrics`,
//!   `protocall::mac`, `protocall::net`).

#![forbid(unsafe_code)]
// What input can reach must not panic: no unwrap/expect/panic!, no
// unchecked indexing, anywhere in the library (unit tests may: clippy.toml
// at the workspace root).
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod budget;
pub mod dialog;
pub mod digest;
pub mod edit;
pub mod guard;
pub mod location;
pub mod mac;
pub mod message;
pub mod metrics;
pub mod net;
pub mod parse;
pub mod proxy;
pub mod registrar;
pub mod resolve;
pub mod router;
pub mod settings;
pub mod transaction;
pub mod transport;
pub mod validate;
