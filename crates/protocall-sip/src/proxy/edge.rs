//! Who may send what through this proxy: the checks every request passes
//! before it costs us a transaction (issue: "the SIP edge").
//!
//! - Out-of-dialog requests from sources that are not trusted peers must
//!   carry a consultant's digest credentials, whatever the method and
//!   wherever they go: a stranger reaches nobody and relays nothing. REGISTER
//!   (the registrar asks for its own credentials), OPTIONS to the proxy
//!   itself, ACK and CANCEL are the exceptions.
//! - In-dialog requests are routed only along a route set we built: our
//!   Record-Route carries a MAC of the dialog (Call-ID and the caller's tag)
//!   under a key kept on disk, so a forged To-tag relays nothing and the
//!   check survives a restart without any dialog table.
//! - Requests relayed to addresses the requester wrote (Request-URI or
//!   Route of an out-of-dialog request) never reach loopback, private,
//!   link-local or multicast addresses unless the operator allows them.
//!
//! Rejections here are sent once, statelessly: an unauthenticated packet
//! never gets more than one response back (no 100 Trying, no Timer G).

use std::net::IpAddr;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::net::TrustedPeers;

/// The Record-Route URI parameter carrying the dialog MAC.
pub const ROUTE_MAC_PARAM: &str = "pcd";

/// Bytes of HMAC-SHA256 kept in the parameter (128 bits).
const MAC_BYTES: usize = 16;

/// The secret that signs our Record-Route entries.
#[derive(Clone)]
pub struct RouteKey([u8; 32]);

impl std::fmt::Debug for RouteKey {
    // Hand-written so the key never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteKey(..)")
    }
}

impl RouteKey {
    pub fn from_bytes(key: [u8; 32]) -> RouteKey {
        RouteKey(key)
    }

    /// A fresh random key (tests; a daemon keeps its key on disk).
    pub fn random() -> Result<RouteKey, getrandom::Error> {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k)?;
        Ok(RouteKey(k))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC zero-pads a short key to the block size, so the padded block
        // is the same key, and this constructor cannot fail.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        <Hmac<Sha256> as KeyInit>::new(&block.into())
    }

    /// The MAC of a dialog, as written in our Record-Route.
    pub fn sign(&self, call_id: &[u8], caller_tag: &[u8]) -> String {
        let mut m = self.mac();
        m.update(b"protocall-rr\0");
        m.update(call_id);
        m.update(b"\0");
        m.update(caller_tag);
        let out = m.finalize().into_bytes();
        hex::encode(out.get(..MAC_BYTES).unwrap_or_default())
    }

    /// Whether `mac` signs this dialog with either tag as the caller's:
    /// requests from the callee carry the caller's tag in To.
    pub fn verify(&self, mac: &[u8], call_id: &[u8], tags: [&[u8]; 2]) -> bool {
        let Some(given) = std::str::from_utf8(mac)
            .ok()
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        if given.len() != MAC_BYTES {
            return false;
        }
        tags.iter().any(|tag| {
            let mut m = self.mac();
            m.update(b"protocall-rr\0");
            m.update(call_id);
            m.update(b"\0");
            m.update(tag);
            // verify_truncated_left compares in constant time.
            m.verify_truncated_left(&given).is_ok()
        })
    }
}

/// Where requests written by the requester may be relayed.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Internal ranges the operator opened (e.g. a lab trunk on 10.0.0.5).
    pub allowed: TrustedPeers,
}

impl Destinations {
    /// Whether a relay to `ip` is allowed: public unicast addresses always,
    /// internal ones only when listed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.contains(ip)
    }
}

/// Loopback, private, link-local, multicast, unspecified, broadcast,
/// shared (CGN), documentation-free internal ranges: places a stranger
/// must not make us send to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || o[0] == 0
                // 100.64.0.0/10, carrier-grade NAT.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_mac_binds_the_dialog() {
        let k = RouteKey::from_bytes([7; 32]);
        let mac = k.sign(b"call-1", b"tagA");
        assert!(k.verify(mac.as_bytes(), b"call-1", [b"tagA", b"tagB"]));
        // The callee's requests carry the caller's tag in To.
        assert!(k.verify(mac.as_bytes(), b"call-1", [b"tagB", b"tagA"]));
        assert!(!k.verify(mac.as_bytes(), b"call-2", [b"tagA", b"tagB"]));
        assert!(!k.verify(mac.as_bytes(), b"call-1", [b"tagX", b"tagY"]));
        let other = RouteKey::from_bytes([8; 32]);
        assert!(!other.verify(mac.as_bytes(), b"call-1", [b"tagA", b"tagB"]));
        assert!(!k.verify(b"zz", b"call-1", [b"tagA", b"tagA"]));
        assert!(!k.verify(&mac.as_bytes()[..10], b"call-1", [b"tagA", b"tagA"]));
        // The key never shows in Debug output.
        assert_eq!(format!("{k:?}"), "RouteKey(..)");
    }

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "224.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "200.160.2.3", "2001:4860::8888", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
        let d = Destinations {
            allowed: TrustedPeers::parse(&["127.0.0.0/8"]).unwrap(),
        };
        assert!(d.allows("127.0.0.5".parse().unwrap()));
        assert!(!d.allows("10.0.0.5".parse().unwrap()));
        assert!(d.allows("8.8.8.8".parse().unwrap()));
    }
}
