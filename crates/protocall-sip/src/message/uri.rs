//! A minimal SIP/SIPS/TEL URI: enough to route on and to spot what must
//! be refused.
use super::*;

/// URI scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    Other(Bytes),
}

/// A minimal URI: enough to route on (host, port, `lr`, `transport`,
/// `maddr`, `user`) and to spot what must be refused (unknown schemes,
/// headers where none may be). Escapes are not decoded; comparisons that
/// need decoding belong to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    /// sip/sips user part (password excluded) or the tel number.
    pub user: Option<Bytes>,
    /// sip/sips host, IPv6 with brackets; empty for other schemes.
    pub host: Bytes,
    pub port: Option<u16>,
    pub params: Vec<Param>,
    /// Everything after `?`, escaped as received.
    pub headers: Option<Bytes>,
    pub raw: Bytes,
}

impl Uri {
    pub fn parse(raw: Bytes) -> Result<Uri, UriError> {
        let bad = |reason| UriError { reason };
        let b: &[u8] = raw.as_ref();
        let colon = memchr::memchr(b':', b).ok_or(bad("no scheme"))?;
        let scheme = b.get(..colon).unwrap_or_default();
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(bad("malformed scheme"));
        }
        let rest = Span::new(colon + 1, b.len());
        if rest.is_empty() || b.iter().any(|c| *c <= b' ' || *c == 0x7f) {
            return Err(bad("empty or contains whitespace or control characters"));
        }
        let scheme = if scheme.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            return Ok(Uri {
                scheme: Scheme::Other(sub(&raw, 0..colon)),
                user: None,
                host: Bytes::new(),
                port: None,
                params: Vec::new(),
                headers: None,
                raw,
            });
        };
        if scheme == Scheme::Tel {
            let semi = memchr::memchr(b';', b.get(rest.range()).unwrap_or_default())
                .map_or(rest.end, |i| rest.start + i);
            let number = Span::new(rest.start, semi);
            if number.is_empty() || b.get(number.range()).is_some_and(|n| n.contains(&b'<')) {
                return Err(bad("malformed telephone number"));
            }
            let params = uri_params(&raw, Span::new(semi, rest.end))?;
            return Ok(Uri {
                scheme,
                user: Some(sub(&raw, number.range())),
                host: Bytes::new(),
                port: None,
                params,
                headers: None,
                raw,
            });
        }
        // An '@' can only end the userinfo: params and headers must escape
        // it. Finding it first lets the user part hold ';' and '?'
        // (RFC 4475 `semiuri`, `intmeth`).
        let (user, host_start) = match memchr::memchr(b'@', b.get(rest.range()).unwrap_or_default())
        {
            Some(at) => {
                let userinfo = b.get(rest.start..rest.start + at).unwrap_or_default();
                let user_len = memchr::memchr(b':', userinfo).unwrap_or(userinfo.len());
                if user_len == 0 || userinfo.iter().any(|c| matches!(c, b'<' | b'>' | b'"')) {
                    return Err(bad("malformed user part"));
                }
                (
                    Some(sub(&raw, rest.start..rest.start + user_len)),
                    rest.start + at + 1,
                )
            }
            None => (None, rest.start),
        };
        let tail = b.get(host_start..).unwrap_or_default();
        let hp_end = memchr::memchr(b'?', tail).map_or(b.len(), |i| host_start + i);
        let mut c = Cursor::new(b.get(..hp_end).unwrap_or_default());
        c.pos = host_start;
        let host = if c.peek() == Some(b'[') {
            let h = c.take_while(|x| x != b']');
            if !c.eat(b']') {
                return Err(bad("unterminated IPv6 reference"));
            }
            Span::new(h.start, c.pos)
        } else {
            c.take_while(|x| x != b':' && x != b';')
        };
        if !valid_host(c.bytes(host)) {
            return Err(bad("malformed host"));
        }
        let port = if c.eat(b':') {
            let p = c.take_while(|x| x != b';');
            Some(parse_port(c.bytes(p)).ok_or(bad("malformed port"))?)
        } else {
            None
        };
        let params = uri_params(&raw, Span::new(c.pos, hp_end))?;
        let headers = (hp_end < b.len()).then(|| sub(&raw, hp_end + 1..b.len()));
        Ok(Uri {
            scheme,
            user,
            host: sub(&raw, host.range()),
            port,
            params,
            headers,
            raw,
        })
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }

    /// Loose routing (RFC 3261 §16.12): decides strict vs. loose Route
    /// handling.
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    pub fn transport(&self) -> Option<&Bytes> {
        self.param("transport").and_then(|p| p.value.as_ref())
    }

    pub fn maddr(&self) -> Option<&Bytes> {
        self.param("maddr").and_then(|p| p.value.as_ref())
    }

    pub fn user_param(&self) -> Option<&Bytes> {
        self.param("user").and_then(|p| p.value.as_ref())
    }
}

/// `;name[=value]` URI parameters filling `span` exactly.
pub(super) fn uri_params(raw: &Bytes, span: Span) -> Result<Vec<Param>, UriError> {
    let b: &[u8] = raw.as_ref();
    let mut params = Vec::new();
    if span.is_empty() {
        return Ok(params);
    }
    if b.get(span.start) != Some(&b';') {
        return Err(UriError {
            reason: "unexpected characters after host",
        });
    }
    let mut pos = span.start + 1;
    loop {
        let seg_end = memchr::memchr(b';', b.get(pos..span.end).unwrap_or_default())
            .map_or(span.end, |i| pos + i);
        let seg = b.get(pos..seg_end).unwrap_or_default();
        let name_len = memchr::memchr(b'=', seg).unwrap_or(seg.len());
        if name_len == 0 {
            return Err(UriError {
                reason: "empty URI parameter",
            });
        }
        params.push(Param {
            name: sub(raw, pos..pos + name_len),
            value: (name_len < seg.len()).then(|| sub(raw, pos + name_len + 1..seg_end)),
        });
        if seg_end >= span.end {
            return Ok(params);
        }
        pos = seg_end + 1;
    }
}
