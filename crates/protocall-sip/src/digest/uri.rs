//! Does a digest `uri` name the request it came with? (RFC 7616 §3.4.6,
//! RFC 3261 §22.4.)
//!
//! Byte equality refuses real clients: some re-serialise the Request-URI,
//! and SIPp 3.6 writes `sip:<proxy>:<port>` whatever the Request-URI is.
//! We accept a `uri` that is the same SIP URI by the comparison rules of
//! RFC 3261 §19.1.4, or one that names this proxy itself (no user part,
//! one of our host names). Either way the response still binds the method,
//! the realm and a nonce we issued, whose nonce count may only grow, so the
//! credentials cannot be replayed for another request; what the `uri` adds
//! is only which resource the client meant, and "this proxy" is true of
//! every request that reached us.

use bytes::Bytes;

use crate::message::{Param, Uri};

/// Parameters that must match when either URI has them (§19.1.4).
const MUST_MATCH: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

/// Whether `digest_uri` (as the client wrote it) names `ruri`, or this
/// proxy (a user-less URI on one of `local_hosts`).
pub fn digest_uri_names(
    digest_uri: &str,
    raw_ruri: &[u8],
    ruri: Option<&Uri>,
    local_hosts: &[String],
) -> bool {
    if digest_uri.as_bytes() == raw_ruri {
        return true;
    }
    let Ok(given) = Uri::parse(Bytes::copy_from_slice(digest_uri.as_bytes())) else {
        return false;
    };
    if ruri.is_some_and(|r| equivalent(&given, r)) {
        return true;
    }
    given.user.is_none()
        && given.headers.is_none()
        && local_hosts
            .iter()
            .any(|h| h.as_bytes().eq_ignore_ascii_case(&given.host))
}

/// RFC 3261 §19.1.4 URI equality.
pub fn equivalent(a: &Uri, b: &Uri) -> bool {
    if a.scheme != b.scheme || a.port != b.port || !a.host.eq_ignore_ascii_case(&b.host) {
        return false;
    }
    // The user part is case-sensitive, compared with escapes decoded.
    let user = |u: &Option<Bytes>| u.as_deref().map(unescape);
    if user(&a.user) != user(&b.user) {
        return false;
    }
    let value = |p: &Param| {
        p.value
            .as_deref()
            .map(unescape)
            .map(|v| v.to_ascii_lowercase())
    };
    for pa in &a.params {
        let name = String::from_utf8_lossy(&pa.name).to_ascii_lowercase();
        match b
            .params
            .iter()
            .find(|pb| pb.name.eq_ignore_ascii_case(&pa.name))
        {
            Some(pb) if value(pa) != value(pb) => return false,
            None if MUST_MATCH.contains(&name.as_str()) => return false,
            _ => {}
        }
    }
    for pb in &b.params {
        let name = String::from_utf8_lossy(&pb.name).to_ascii_lowercase();
        let in_a = a
            .params
            .iter()
            .any(|pa| pa.name.eq_ignore_ascii_case(&pb.name));
        if !in_a && MUST_MATCH.contains(&name.as_str()) {
            return false;
        }
    }
    // Header components must all be present in both and equal; we compare
    // them as a whole, after decoding escapes.
    a.headers.as_deref().map(unescape) == b.headers.as_deref().map(unescape)
}

/// `%HH` escapes decoded (invalid escapes kept as written).
fn unescape(s: &[u8]) -> Vec<u8> {
    let hex = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s.get(i).copied().unwrap_or_default();
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        Uri::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
    }

    #[test]
    fn rfc3261_19_1_4_equal_pairs() {
        for (a, b) in [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
        ] {
            assert!(equivalent(&uri(a), &uri(b)), "{a} == {b}");
            assert!(equivalent(&uri(b), &uri(a)), "{b} == {a}");
        }
    }

    #[test]
    fn rfc3261_19_1_4_unequal_pairs() {
        for (a, b) in [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com:6000;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            (
                "sip:carol@chicago.com;security=on",
                "sip:carol@chicago.com;security=off",
            ),
        ] {
            assert!(!equivalent(&uri(a), &uri(b)), "{a} != {b}");
        }
    }

    #[test]
    fn a_digest_uri_naming_the_proxy_is_accepted() {
        let hosts = vec!["127.0.0.1".to_string(), "pbx.example".to_string()];
        let ruri = uri("sip:bob@127.0.0.1");
        // SIPp 3.6 writes the proxy's address whatever the Request-URI is.
        assert!(digest_uri_names(
            "sip:127.0.0.1:5060",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
        assert!(digest_uri_names(
            "sip:PBX.example",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
        assert!(digest_uri_names(
            "sip:bob@127.0.0.1",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
        // Another user, or another host, is another request.
        assert!(!digest_uri_names(
            "sip:carol@127.0.0.1",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
        assert!(!digest_uri_names(
            "sip:192.0.2.9",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
        assert!(!digest_uri_names(
            "not a uri",
            b"sip:bob@127.0.0.1",
            Some(&ruri),
            &hosts
        ));
    }
}
