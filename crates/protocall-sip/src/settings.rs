//! The config sections only the SIP side reads: `[sip.dns]` (the resolver)
//! and `[security]` (the edge guard), with their defaults and checks.
//! `protocall::config` re-exports them under their old names and reads and
//! validates them with the rest of the file.

mod security;
mod sip_dns;
pub use security::SecuritySettings;
pub use sip_dns::SipDnsSettings;
