//! protocall: a SIP call-routing daemon with automatic time tracking for a
//! consulting desk.
//!
//! Data flows one way: SIP events → routing decision → dialog events → time
//! tracking → store. Modules:
//! - `config`: layered settings and their validation;
//! - `directory`: providers, numbers, consultants, protocols, and the rules
//!   their inputs must pass (E.164 normalisation, CSV import);
//! - `store`: persistence on SQLite or PostgreSQL; knows nothing of SIP;
//! - `sip`: the SIP side (digest credentials so far);
//! - `http`: the admin API; `metrics`: Prometheus; `telemetry`: logs;
//! - `app`: assembly and lifecycle; `cli`: the command line.

#![forbid(unsafe_code)]

pub mod app;
pub mod calendar;
pub mod calls;
pub mod cli;
pub mod config;
pub mod directory;
pub mod http;
pub mod i18n;
pub mod location;
pub mod metrics;
pub mod reports;
pub mod routing;
pub mod server;
pub mod sip;
pub mod store;
pub mod telemetry;
pub mod tracking;
