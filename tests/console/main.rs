//! Integration tests of the desk console: pages, admin pages, the browser
//! run: one test binary, so the support code is compiled and the binary
//! linked once for all of them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod console;
mod console_admin;
mod console_browser;
