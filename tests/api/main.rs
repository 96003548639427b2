//! Integration tests of the admin API, its rights, tokens, the CLI and the
//! store's refusals: one test binary, so the support code is compiled and
//! the binary linked once for all of them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod api;
mod api_language;
mod bans_api;
mod chat;
mod cli;
mod data_files;
mod openapi_contract;
mod rights;
mod store_refusals;
mod tokens;
mod tokens_cli;
