//! The pieces every typed header view shares: a forward-only cursor over
//! a value, `;name=value` parameters, host and port checks, and a slice
//! that cannot panic.
use super::*;

/// A small forward-only reader over a header value.
pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(super) fn eat(&mut self, want: u8) -> bool {
        if self.peek() == Some(want) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Returns how many whitespace bytes were skipped.
    pub(super) fn skip_lws(&mut self) -> usize {
        self.take_while(is_lws).len()
    }

    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Span {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        Span::new(start, self.pos)
    }

    pub(super) fn bytes(&self, span: Span) -> &'a [u8] {
        self.b.get(span.range()).unwrap_or_default()
    }

    /// A quoted string starting at the cursor, quotes included.
    pub(super) fn quoted(&mut self) -> Result<Span, &'static str> {
        let start = self.pos;
        if !self.eat(b'"') {
            return Err("expected a quoted string");
        }
        loop {
            match self.peek() {
                None => return Err("unterminated quoted string"),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Span::new(start, self.pos));
                }
                Some(_) => self.pos += 1,
            }
            if self.pos > self.b.len() {
                return Err("unterminated quoted string");
            }
        }
    }
}

/// A `name[=value]` parameter. Values keep their quotes if they had any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Bytes,
    pub value: Option<Bytes>,
}

pub(super) fn find_param<'p>(params: &'p [Param], name: &str) -> Option<&'p Param> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
}

/// Header parameters: `*( LWS ";" LWS token [ LWS "=" LWS gen-value ] )` up to
/// the end of the slice. Empty parameters (`;;`) are rejected: RFC 4475
/// §3.1.2.1 wants a 400 for them.
pub(super) fn header_params(raw: &Bytes, c: &mut Cursor<'_>) -> Result<Vec<Param>, &'static str> {
    let mut params = Vec::new();
    loop {
        c.skip_lws();
        if c.at_end() {
            return Ok(params);
        }
        if !c.eat(b';') {
            return Err("unexpected characters where a parameter was expected");
        }
        c.skip_lws();
        let name = c.take_while(is_token_char);
        if name.is_empty() {
            return Err("empty parameter");
        }
        let before = c.pos;
        c.skip_lws();
        let value = if c.eat(b'=') {
            c.skip_lws();
            let v = if c.peek() == Some(b'"') {
                c.quoted()?
            } else {
                c.take_while(is_param_value_char)
            };
            if v.is_empty() {
                return Err("empty parameter value");
            }
            Some(sub(raw, v.range()))
        } else {
            c.pos = before;
            None
        };
        params.push(Param {
            name: sub(raw, name.range()),
            value,
        });
    }
}

/// gen-value is token / host / quoted-string; host brings `[`, `]` and `:`.
/// Anything else visible is tolerated so odd but harmless values survive.
pub(super) fn is_param_value_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

pub(super) fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// A bracketed IPv6 reference. Only the alphabet is checked: RFC 5118 §4.10
/// asks receivers to tolerate the three-colon form the old ABNF allowed.
pub(super) fn is_ipv6_reference(b: &[u8]) -> bool {
    let inner = b
        .strip_prefix(b"[")
        .and_then(|r| r.strip_suffix(b"]"))
        .unwrap_or_default();
    inner.len() >= 2
        && inner.contains(&b':')
        && inner
            .iter()
            .all(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.')
}

pub(super) fn valid_host(b: &[u8]) -> bool {
    if b.first() == Some(&b'[') {
        is_ipv6_reference(b)
    } else {
        !b.is_empty() && b.iter().all(|c| is_host_char(*c))
    }
}

/// `Bytes::slice` panics out of range; spans here come from cursors over the
/// same bytes, but a wrong span must cost a wrong value, not a crash.
pub(super) fn sub(b: &Bytes, r: Range<usize>) -> Bytes {
    if r.start <= r.end && r.end <= b.len() {
        b.slice(r)
    } else {
        Bytes::new()
    }
}

pub(super) fn parse_port(digits: &[u8]) -> Option<u16> {
    parse_decimal(digits).and_then(|n| u16::try_from(n).ok())
}
