//! The SIP side of protocall. For now: digest credentials (RFC 7616), which
//! the directory needs to store consultants' passwords as HA1 values.

pub mod digest;
