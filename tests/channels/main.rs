//! Integration tests of the channels besides the phone: the desk's
//! mailbox read over IMAP (a private Dovecot per test) and the chat
//! bridge's signed webhook: one test binary, so the support code is
//! compiled and the binary linked once for all of them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod chat;
mod mail_intake;
