//! Parsing `Authorization` / `Proxy-Authorization` values (RFC 7616 §3.4)
//! into [`Credentials`], strictly and within bounded work.

use super::*;

// ---------------------------------------------------------------------------
// Credentials parsing
// ---------------------------------------------------------------------------

/// Quality of protection. Only `auth` is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
}

impl Qop {
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
        }
    }
}

/// Parsed digest credentials from an `Authorization` or
/// `Proxy-Authorization` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    /// As sent; compared case-insensitively.
    pub response: String,
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<Qop>,
    /// Kept verbatim because the response hash covers the exact text sent.
    pub nc: Option<String>,
}

impl Credentials {
    /// The nonce-count as a number, if present and well-formed.
    pub fn nc_value(&self) -> Option<u32> {
        self.nc.as_deref().and_then(parse_nc)
    }
}

impl FromStr for Credentials {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_authorization(s)
    }
}

pub(super) fn parse_nc(s: &str) -> Option<u32> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

/// Like [`parse_authorization`] for raw header bytes.
pub fn parse_authorization_bytes(value: &[u8]) -> Result<Credentials, ParseError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(ParseError::TooLong);
    }
    let s = std::str::from_utf8(value).map_err(|_| ParseError::NotUtf8)?;
    parse_authorization(s)
}

/// Parse a `Digest ...` credentials value.
///
/// Tolerant of: any parameter order, arbitrary whitespace (including folded
/// CRLF) around `=` and `,`, empty list elements, case-insensitive scheme and
/// parameter names, quoted values with `\` escapes, and unquoted values for
/// parameters that are normally quoted (some UAs do that). Unknown parameters
/// are ignored. Duplicates are an error, since picking one would let a
/// middlebox and this parser disagree about what was authenticated.
pub fn parse_authorization(value: &str) -> Result<Credentials, ParseError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(ParseError::TooLong);
    }
    let params = parse_params(value)?;

    let mut username = None;
    let mut realm = None;
    let mut nonce = None;
    let mut uri = None;
    let mut response = None;
    let mut algorithm = None;
    let mut cnonce = None;
    let mut opaque = None;
    let mut qop = None;
    let mut nc = None;
    let mut userhash = None;

    for (name, val) in params {
        let slot = match name.as_str() {
            "username" => &mut username,
            "realm" => &mut realm,
            "nonce" => &mut nonce,
            "uri" => &mut uri,
            "response" => &mut response,
            "algorithm" => &mut algorithm,
            "cnonce" => &mut cnonce,
            "opaque" => &mut opaque,
            "qop" => &mut qop,
            "nc" => &mut nc,
            "userhash" => &mut userhash,
            _ => continue,
        };
        if slot.is_some() {
            return Err(ParseError::DuplicateParam(name));
        }
        *slot = Some(val);
    }

    if userhash.is_some_and(|u: String| u.eq_ignore_ascii_case("true")) {
        return Err(ParseError::UnsupportedUserhash);
    }
    let algorithm = match algorithm {
        Some(a) => a.parse()?,
        None => Algorithm::default(),
    };
    let qop = match qop {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
        Some(q) => return Err(ParseError::UnsupportedQop(q)),
    };
    if let Some(n) = &nc {
        if parse_nc(n).is_none() {
            return Err(ParseError::BadNonceCount);
        }
    }
    if qop.is_some() {
        // RFC 7616 §3.4: with qop, cnonce and nc are mandatory.
        if cnonce.is_none() {
            return Err(ParseError::MissingParam("cnonce"));
        }
        if nc.is_none() {
            return Err(ParseError::MissingParam("nc"));
        }
    }

    Ok(Credentials {
        username: username.ok_or(ParseError::MissingParam("username"))?,
        realm: realm.ok_or(ParseError::MissingParam("realm"))?,
        nonce: nonce.ok_or(ParseError::MissingParam("nonce"))?,
        uri: uri.ok_or(ParseError::MissingParam("uri"))?,
        response: response.ok_or(ParseError::MissingParam("response"))?,
        algorithm,
        cnonce,
        opaque,
        qop,
        nc,
    })
}

/// Byte cursor over a `&str`; it only ever advances by whole chars, so every
/// slice it takes is on a char boundary.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    fn err(&self, reason: &'static str) -> ParseError {
        ParseError::Syntax {
            pos: self.pos,
            reason,
        }
    }
}

/// RFC 7230 tchar.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Characters allowed in an unquoted value: more than `token` so that UAs
/// which forget to quote URIs or base64 nonces still parse, but never a
/// delimiter that would make the parameter boundaries ambiguous.
fn is_bare_value_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, ',' | '"' | '\\')
}

/// Split `Digest k=v, k="v", ...` into lowercase names and unescaped values.
pub(super) fn parse_params(value: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut cur = Cursor { s: value, pos: 0 };
    cur.skip_ws();
    let scheme = cur.take_while(is_tchar);
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(ParseError::NotDigest);
    }
    if cur.peek().is_some() && !matches!(cur.peek(), Some(' ' | '\t' | '\r' | '\n')) {
        return Err(ParseError::NotDigest);
    }

    let mut out = Vec::new();
    loop {
        // Empty list elements are allowed by the RFC 7230 #rule.
        while matches!(cur.peek(), Some(' ' | '\t' | '\r' | '\n' | ',')) {
            cur.pos += 1;
        }
        if cur.peek().is_none() {
            break;
        }
        let name = cur.take_while(is_tchar);
        if name.is_empty() {
            return Err(cur.err("expected parameter name"));
        }
        cur.skip_ws();
        if cur.bump() != Some('=') {
            return Err(cur.err("expected `=` after parameter name"));
        }
        cur.skip_ws();
        let val = if cur.peek() == Some('"') {
            cur.pos += 1;
            parse_quoted_rest(&mut cur)?
        } else {
            let v = cur.take_while(is_bare_value_char);
            if v.is_empty() {
                return Err(cur.err("expected parameter value"));
            }
            v.to_owned()
        };
        out.push((name.to_ascii_lowercase(), val));
        cur.skip_ws();
        match cur.peek() {
            None | Some(',') => {}
            Some(_) => return Err(cur.err("expected `,` between parameters")),
        }
    }
    Ok(out)
}

/// Body of a quoted-string after the opening quote (RFC 3261 §25.1).
/// Control characters other than whitespace are refused, escaped or not, so
/// that e.g. NUL or ESC cannot reach usernames or logs.
fn parse_quoted_rest(cur: &mut Cursor<'_>) -> Result<String, ParseError> {
    let mut out = String::new();
    loop {
        let c = cur
            .bump()
            .ok_or_else(|| cur.err("unterminated quoted string"))?;
        let c = match c {
            '"' => return Ok(out),
            '\\' => {
                let e = cur
                    .bump()
                    .ok_or_else(|| cur.err("unterminated quoted string"))?;
                if e.is_control() && e != '\t' {
                    return Err(cur.err("control character in quoted string"));
                }
                e
            }
            c if c.is_control() && !matches!(c, '\t' | '\r' | '\n') => {
                return Err(cur.err("control character in quoted string"));
            }
            c => c,
        };
        out.push(c);
    }
}
