//! Integration tests of the SIP edge: transports, registrar, proxy,
//! routing, TLS, DNS, torture vectors, fuzz regressions: one test binary,
//! so the support code is compiled and the binary linked once for all of
//! them.

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod edge_bad_bytes;
mod fuzz_regressions;
mod sip_calls;
mod sip_cluster;
mod sip_dns;
mod sip_dual_stack;
mod sip_edge;
mod sip_prop;
mod sip_proxy_prop;
mod sip_registrar;
mod sip_registrar_auth;
mod sip_registrar_input;
mod sip_routing;
mod sip_tls;
mod sip_torture;
mod sip_torture_wire;
mod sip_transport;
