//! Integration tests of time tracking: timers, contacts from calls, the
//! journal's durability, planning, call-backs, protocols: one test binary,
//! so the support code is compiled and the binary linked once for all of
//! them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod callbacks;
mod calls_dialog;
mod journal_disk;
mod protocol_sync;
mod protocols;
mod shutdown;
mod tracking_api;
mod tracking_calls;
mod tracking_day;
mod tracking_durability;
mod tracking_planning;
