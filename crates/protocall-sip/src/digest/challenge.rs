//! `WWW-Authenticate` / `Proxy-Authenticate` values we send (RFC 7616
//! §3.3, RFC 8760).

use super::*;

// ---------------------------------------------------------------------------
// Challenges
// ---------------------------------------------------------------------------

/// Append `s` as a quoted-string. CR, LF and other controls are dropped
/// because they cannot be represented and would allow header injection.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` value offering `qop="auth"`.
pub fn challenge(
    realm: &str,
    nonce: &str,
    alg: Algorithm,
    stale: bool,
    opaque: Option<&str>,
) -> String {
    let mut out = String::from("Digest realm=");
    push_quoted(&mut out, realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, nonce);
    if let Some(o) = opaque {
        out.push_str(", opaque=");
        push_quoted(&mut out, o);
    }
    out.push_str(", algorithm=");
    out.push_str(alg.as_str());
    out.push_str(", qop=\"auth\"");
    if stale {
        out.push_str(", stale=true");
    }
    out
}

/// Both challenges, SHA-256 first then MD5: RFC 7616 §3.7 / RFC 8760 §2.4
/// want the preferred algorithm first, and MD5 is still the only one many
/// deployed SIP phones implement. Send each as its own header line.
pub fn challenges(realm: &str, nonce: &str, stale: bool, opaque: Option<&str>) -> [String; 2] {
    [
        challenge(realm, nonce, Algorithm::Sha256, stale, opaque),
        challenge(realm, nonce, Algorithm::Md5, stale, opaque),
    ]
}
