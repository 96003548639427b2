//! name-addr / addr-spec values (From, To, Contact, Route, Record-Route)
//! and the Contact header's `*`.
use super::*;

/// `[display-name] <uri> *(;param)` or `addr-spec *(;param)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// As written: quotes and backslash escapes kept, or the bare tokens.
    pub display: Option<Bytes>,
    pub uri: Uri,
    /// Header parameters after the address (not URI parameters).
    pub params: Vec<Param>,
    /// Whether the URI was in angle brackets.
    pub bracketed: bool,
}

impl NameAddr {
    pub fn parse(raw: Bytes) -> Result<NameAddr, NameAddrError> {
        NameAddr::parse_inner(raw).map_err(|reason| NameAddrError { reason })
    }

    pub(super) fn parse_inner(raw: Bytes) -> Result<NameAddr, &'static str> {
        let b: &[u8] = raw.as_ref();
        let mut c = Cursor::new(b);
        c.skip_lws();
        let mut display = None;
        let lt = if c.peek() == Some(b'"') {
            display = Some(c.quoted()?);
            c.skip_lws();
            if c.peek() != Some(b'<') {
                return Err("display name not followed by <URI>");
            }
            Some(c.pos)
        } else {
            memchr::memchr(b'<', b.get(c.pos..).unwrap_or_default()).map(|i| c.pos + i)
        };
        let (uri, bracketed) = match lt {
            Some(lt) => {
                if display.is_none() {
                    // Unquoted display names are tokens and LWS only;
                    // `lwsdisp` glues one to '<', which RFC 4475 says to
                    // accept.
                    let words = trim_lws(b, Span::new(c.pos, lt));
                    let text = b.get(words.range()).unwrap_or_default();
                    if !text.iter().all(|x| is_token_char(*x) || is_lws(*x)) {
                        return Err("unquoted display name has characters outside token");
                    }
                    if !words.is_empty() {
                        display = Some(words);
                    }
                }
                let gt = memchr::memchr(b'>', b.get(lt..).unwrap_or_default())
                    .map(|i| lt + i)
                    .ok_or("unterminated <URI>")?;
                c.pos = gt + 1;
                (Span::new(lt + 1, gt), true)
            }
            None => {
                let u = c.take_while(|x| x != b';' && !is_lws(x));
                // RFC 3261 §20: a URI with ',', '?' or ';' must be bracketed,
                // or its parts would be read as header syntax.
                if c.bytes(u).iter().any(|x| matches!(x, b'?' | b',')) {
                    return Err("URI with '?' or ',' must be enclosed in <>");
                }
                (u, false)
            }
        };
        let uri = Uri::parse(sub(&raw, uri.range())).map_err(|e| e.reason)?;
        let params = header_params(&raw, &mut c)?;
        Ok(NameAddr {
            display: display.map(|d| sub(&raw, d.range())),
            uri,
            params,
            bracketed,
        })
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        find_param(&self.params, name)
    }

    pub fn tag(&self) -> Option<&Bytes> {
        self.param("tag").and_then(|p| p.value.as_ref())
    }
}

/// One Contact value.
// Values are produced one at a time and consumed at once, so the size gap
// costs less than a heap allocation per contact would.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// `*`, used by REGISTER to remove all bindings.
    Star,
    Addr(NameAddr),
}
