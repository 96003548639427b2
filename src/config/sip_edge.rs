//! The `[sip.tls]` section and the host we advertise to phones.
//!
//! Both decide what a phone on another host is told to reach: the TLS
//! listener's port, and the host written in Via and Record-Route. A proxy
//! listening on every address must not write `127.0.0.1` there, or every
//! in-dialog request from another host goes to that host's own loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;

use serde::Deserialize;

/// SIP over TLS (RFC 3261 §26): present means the listener runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipTlsSettings {
    /// Address and port of the TLS listener (the SIPS default is 5061).
    #[serde(default = "default_tls_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1); keep it mode 0600.
    pub key: PathBuf,
}

fn default_tls_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 5061))
}

/// Where the advertised host came from, so that `protocall check` and the
/// start-up log can say whether phones elsewhere can reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertised {
    /// `sip.advertised_host`.
    Configured(String),
    /// The listen address itself.
    Listen(String),
    /// Listening on every address: the address of the interface the
    /// default route leaves by.
    Interface(String),
    /// Listening on every address with no route anywhere: only this host
    /// can reach us, so loopback is the truth.
    LoopbackOnly(String),
}

impl Advertised {
    pub fn host(&self) -> &str {
        match self {
            Advertised::Configured(h)
            | Advertised::Listen(h)
            | Advertised::Interface(h)
            | Advertised::LoopbackOnly(h) => h,
        }
    }
}

/// The host for Via and Record-Route, from the config or the machine.
pub fn advertised_host(configured: Option<&str>, listen: SocketAddr) -> Advertised {
    if let Some(h) = configured {
        return Advertised::Configured(h.to_string());
    }
    let ip = listen.ip();
    if !ip.is_unspecified() {
        return Advertised::Listen(host_text(ip));
    }
    // `[::]` takes IPv4 too (dual stack): most phones are IPv4, so the
    // IPv4 route's address first. A desk with IPv6-only phones sets a
    // name with A and AAAA records as advertised_host.
    let found = if ip.is_ipv6() {
        route_source(false).or_else(|| route_source(true))
    } else {
        route_source(false)
    };
    match found {
        Some(found) => Advertised::Interface(host_text(found)),
        None => Advertised::LoopbackOnly(host_text(if ip.is_ipv6() {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        })),
    }
}

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The source address the kernel picks for a datagram to the world: a
/// connected UDP socket sends nothing, it only chooses a route. The
/// destinations are documentation addresses (RFC 5737, RFC 3849), never
/// contacted.
fn route_source(v6: bool) -> Option<IpAddr> {
    let (bind, probe): (SocketAddr, SocketAddr) = if v6 {
        (
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5060)),
        )
    } else {
        (
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 5060)),
        )
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_configured_host_wins() {
        let a = advertised_host(Some("sip.example.com"), "0.0.0.0:5060".parse().unwrap());
        assert_eq!(a, Advertised::Configured("sip.example.com".into()));
    }

    #[test]
    fn a_specific_listen_address_is_advertised() {
        let a = advertised_host(None, "[2001:db8::5]:5060".parse().unwrap());
        assert_eq!(a, Advertised::Listen("[2001:db8::5]".into()));
    }

    #[test]
    fn listening_everywhere_never_advertises_loopback_when_a_route_exists() {
        let a = advertised_host(None, "0.0.0.0:5060".parse().unwrap());
        match a {
            Advertised::Interface(h) => {
                let ip: IpAddr = h.parse().unwrap();
                assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
            }
            // A machine without a default route: only loopback is true.
            Advertised::LoopbackOnly(h) => assert_eq!(h, "127.0.0.1"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
