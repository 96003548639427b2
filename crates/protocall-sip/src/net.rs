//! Sets of IP addresses and networks read from the config: the peers
//! whose identity headers routing believes (`routing.trusted_peers`), the
//! reverse proxies whose X-Forwarded-For the console believes
//! (`http.trusted_proxies`), the destinations the proxy may relay to
//! (`security.allowed_destinations`). Shared by the SIP side, routing and
//! the console, so it belongs to none of them: it sits in protocall-sip,
//! the crate the others build on, and `protocall::net` re-exports it.

use std::net::IpAddr;

/// Addresses and networks (`192.0.2.10`, `10.0.0.0/8`, `2001:db8::/32`).
#[derive(Debug, Clone, Default)]
pub struct TrustedPeers {
    nets: Vec<(IpAddr, u8)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not an IP address or CIDR network")]
pub struct BadPeer(pub String);

impl TrustedPeers {
    /// Parses `192.0.2.10`, `10.0.0.0/8`, `2001:db8::/32`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<TrustedPeers, BadPeer> {
        let mut nets = Vec::new();
        for item in items {
            let s = item.as_ref().trim();
            let (ip, len) = match s.split_once('/') {
                Some((ip, len)) => (ip, Some(len)),
                None => (s, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| BadPeer(s.to_string()))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len = match len {
                None => max,
                Some(l) => l
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= max)
                    .ok_or_else(|| BadPeer(s.to_string()))?,
            };
            nets.push((ip, len));
        }
        Ok(TrustedPeers { nets })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.nets.iter().any(|(net, len)| in_net(addr, *net, *len))
    }
}

fn in_net(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_networks() {
        let trusted = TrustedPeers::parse(&["192.0.2.0/24", "2001:db8::1"]).unwrap();
        assert!(trusted.contains("192.0.2.50".parse().unwrap()));
        assert!(!trusted.contains("198.51.100.1".parse().unwrap()));
        assert!(trusted.contains("2001:db8::1".parse().unwrap()));
        assert!(!trusted.contains("2001:db8::2".parse().unwrap()));
        assert!(!TrustedPeers::default().contains("127.0.0.1".parse().unwrap()));
        assert!(TrustedPeers::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedPeers::parse(&["not-an-ip"]).is_err());
    }
}
