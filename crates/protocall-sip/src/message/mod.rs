//! The parsed SIP message and its typed, on-demand views.
//!
//! This module owns [`SipMessage`] (the original `Bytes` plus the span index
//! that `parse` builds), the header-name table (canonical and compact
//! names), comma-list splitting, and the light typed parsers for the headers
//! a proxy needs: Via, CSeq, Max-Forwards, Call-ID, To/From tags, Contact,
//! Route, plus a minimal [`Uri`] and name-addr reader (one file each:
//! `via`, `uri`, `name_addr`; `params` holds the value cursor and the
//! parameter grammar they share). Typed values are parsed
//! when asked for, never during `parse`, and borrow from the message buffer
//! by slicing `Bytes` rather than copying.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::parse::{is_lws, is_token_char, parse_decimal, trim_lws};

mod name_addr;
mod params;
mod uri;
mod via;

pub use name_addr::*;
pub use params::*;
pub use uri::*;
pub use via::*;

/// A half-open byte range into the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// One header line as it sits on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderEntry {
    /// The whole header including continuation lines and the final line
    /// break, so an editor can copy untouched headers verbatim.
    pub line: Span,
    /// The name as written (compact or not, any case).
    pub name: Span,
    /// The value with surrounding whitespace trimmed; folding line breaks
    /// inside it are kept (see [`unfold`]).
    pub value: Span,
    pub kind: HeaderName,
    /// Whether continuation lines were joined into this entry.
    pub folded: bool,
}

/// The start line, indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Method,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        status: u16,
        reason: Span,
    },
}

macro_rules! header_names {
    ($( $variant:ident => $canon:literal, $compact:expr, $list:literal; )*) => {
        /// Header names this crate knows, with compact forms folded in.
        /// Anything else is [`HeaderName::Other`] and compared by spelling.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $($variant,)*
            Other,
        }

        impl HeaderName {
            /// Maps a name as written (any case, compact or full).
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($canon.as_bytes()) {
                        return HeaderName::$variant;
                    }
                    let compact: Option<&str> = $compact;
                    if compact.is_some_and(|c| name.eq_ignore_ascii_case(c.as_bytes())) {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other
            }

            /// The canonical spelling, `None` for [`HeaderName::Other`].
            pub fn canonical(self) -> Option<&'static str> {
                match self {
                    $(HeaderName::$variant => Some($canon),)*
                    HeaderName::Other => None,
                }
            }

            /// Whether values are comma-separated lists (RFC 3261 §7.3.1)
            /// that may be split into one value per element.
            pub fn is_list(self) -> bool {
                match self {
                    $(HeaderName::$variant => $list,)*
                    HeaderName::Other => false,
                }
            }
        }
    };
}

header_names! {
    Via => "Via", Some("v"), true;
    From => "From", Some("f"), false;
    To => "To", Some("t"), false;
    CallId => "Call-ID", Some("i"), false;
    Contact => "Contact", Some("m"), true;
    ContentLength => "Content-Length", Some("l"), false;
    ContentType => "Content-Type", Some("c"), false;
    Supported => "Supported", Some("k"), true;
    Subject => "Subject", Some("s"), false;
    ContentEncoding => "Content-Encoding", Some("e"), true;
    Event => "Event", Some("o"), false;
    ReferTo => "Refer-To", Some("r"), false;
    AllowEvents => "Allow-Events", Some("u"), true;
    ReferredBy => "Referred-By", Some("b"), false;
    SessionExpires => "Session-Expires", Some("x"), false;
    Identity => "Identity", Some("y"), false;
    AcceptContact => "Accept-Contact", Some("a"), true;
    RejectContact => "Reject-Contact", Some("j"), true;
    RequestDisposition => "Request-Disposition", Some("d"), true;
    CSeq => "CSeq", None, false;
    MaxForwards => "Max-Forwards", None, false;
    Route => "Route", None, true;
    RecordRoute => "Record-Route", None, true;
    Path => "Path", None, true;
    ServiceRoute => "Service-Route", None, true;
    Expires => "Expires", None, false;
    MinExpires => "Min-Expires", None, false;
    Require => "Require", None, true;
    ProxyRequire => "Proxy-Require", None, true;
    Unsupported => "Unsupported", None, true;
    Allow => "Allow", None, true;
    Accept => "Accept", None, true;
    AcceptEncoding => "Accept-Encoding", None, true;
    AcceptLanguage => "Accept-Language", None, true;
    ContentLanguage => "Content-Language", None, true;
    ContentDisposition => "Content-Disposition", None, false;
    Authorization => "Authorization", None, false;
    ProxyAuthorization => "Proxy-Authorization", None, false;
    WwwAuthenticate => "WWW-Authenticate", None, false;
    ProxyAuthenticate => "Proxy-Authenticate", None, false;
    Date => "Date", None, false;
    Timestamp => "Timestamp", None, false;
    UserAgent => "User-Agent", None, false;
    Server => "Server", None, false;
    Warning => "Warning", None, true;
    RetryAfter => "Retry-After", None, false;
    InReplyTo => "In-Reply-To", None, true;
    ReplyTo => "Reply-To", None, false;
    Organization => "Organization", None, false;
    Priority => "Priority", None, false;
    MimeVersion => "MIME-Version", None, false;
    AlertInfo => "Alert-Info", None, true;
    CallInfo => "Call-Info", None, true;
    ErrorInfo => "Error-Info", None, true;
    SubscriptionState => "Subscription-State", None, false;
    RSeq => "RSeq", None, false;
    RAck => "RAck", None, false;
}

/// Request methods. Unknown ones keep their spelling, since methods are
/// case-sensitive and an extension method must round-trip unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Prack,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Other(Bytes),
}

impl Method {
    /// `None` for an unknown method; the caller keeps its own bytes.
    fn known(b: &[u8]) -> Option<Method> {
        Some(match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"INFO" => Method::Info,
            b"UPDATE" => Method::Update,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"PUBLISH" => Method::Publish,
            _ => return None,
        })
    }

    pub fn from_bytes(b: Bytes) -> Method {
        Method::known(&b).unwrap_or(Method::Other(b))
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Register => b"REGISTER",
            Method::Options => b"OPTIONS",
            Method::Info => b"INFO",
            Method::Update => b"UPDATE",
            Method::Prack => b"PRACK",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Refer => b"REFER",
            Method::Message => b"MESSAGE",
            Method::Publish => b"PUBLISH",
            Method::Other(b) => b,
        }
    }
}

/// A typed header could not be read. `header` names the canonical header so
/// the reason can be put on a 400 status line as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {header} header: {reason}")]
    Malformed {
        header: &'static str,
        reason: &'static str,
    },
}

/// A name-addr / addr-spec value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed address: {reason}")]
pub struct NameAddrError {
    pub reason: &'static str,
}

/// A URI could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed URI: {reason}")]
pub struct UriError {
    pub reason: &'static str,
}

/// A complete message: the received bytes and the index into them.
#[derive(Debug, Clone)]
pub struct SipMessage {
    pub(super) buf: Bytes,
    pub(super) start: Span,
    pub(super) start_line: StartLine,
    pub(super) headers: Vec<HeaderEntry>,
    pub(super) body: Span,
    pub(super) content_length: Option<usize>,
}

impl SipMessage {
    /// The whole buffer the message was parsed from (for a datagram this
    /// includes any discarded octets after the body).
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Bytes of a span from this message's index.
    pub fn span_bytes(&self, span: Span) -> &[u8] {
        self.buf.get(span.range()).unwrap_or_default()
    }

    fn slice(&self, span: Span) -> Bytes {
        if span.start <= span.end && span.end <= self.buf.len() {
            self.buf.slice(span.range())
        } else {
            Bytes::new()
        }
    }

    /// The start line including its line break.
    pub fn start_line_span(&self) -> Span {
        self.start
    }

    pub fn start_line(&self) -> &StartLine {
        &self.start_line
    }

    /// Every header line in wire order.
    pub fn header_entries(&self) -> &[HeaderEntry] {
        &self.headers
    }

    pub fn body_span(&self) -> Span {
        self.body
    }

    pub fn body(&self) -> &[u8] {
        self.span_bytes(self.body)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<Method> {
        match &self.start_line {
            StartLine::Request { method, .. } => Some(method.clone()),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&[u8]> {
        match self.start_line {
            StartLine::Request { uri, .. } => Some(self.span_bytes(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, parsed; `None` for a response.
    pub fn parsed_request_uri(&self) -> Option<Result<Uri, UriError>> {
        match self.start_line {
            StartLine::Request { uri, .. } => Some(Uri::parse(self.slice(uri))),
            StartLine::Response { .. } => None,
        }
    }

    /// The SIP-Version token of the start line, e.g. `SIP/2.0`.
    pub fn version(&self) -> &[u8] {
        match self.start_line {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                self.span_bytes(version)
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start_line {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&[u8]> {
        match self.start_line {
            StartLine::Response { reason, .. } => Some(self.span_bytes(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The Content-Length that framed the body, if one was present.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    fn first_entry(&self, name: &str) -> Option<&HeaderEntry> {
        let kind = HeaderName::from_bytes(name.as_bytes());
        self.headers.iter().find(|h| {
            h.kind == kind
                && (kind != HeaderName::Other
                    || self
                        .span_bytes(h.name)
                        .eq_ignore_ascii_case(name.as_bytes()))
        })
    }

    /// Entries named like `first`. Matching against `first`'s own spelling
    /// keeps the iterator borrowing only `self`, not the caller's `name`.
    fn same_name<'a>(
        &'a self,
        first: Option<&'a HeaderEntry>,
    ) -> impl Iterator<Item = &'a HeaderEntry> + 'a {
        let kind = first.map(|f| f.kind);
        let spelling = first.map(|f| self.span_bytes(f.name)).unwrap_or_default();
        self.headers.iter().filter(move |h| {
            Some(h.kind) == kind
                && (h.kind != HeaderName::Other
                    || self.span_bytes(h.name).eq_ignore_ascii_case(spelling))
        })
    }

    fn entries_of(&self, kind: HeaderName) -> impl Iterator<Item = &HeaderEntry> + '_ {
        self.headers.iter().filter(move |h| h.kind == kind)
    }

    /// Number of header lines with this name (compact forms included).
    pub fn header_count(&self, name: &str) -> usize {
        self.same_name(self.first_entry(name)).count()
    }

    /// The first value, unfolded: for a list header (Via, Contact, Route...)
    /// the first element, otherwise the first line's whole value.
    pub fn header(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.headers(name).next()
    }

    /// All values of a header across its lines, in order. List headers are
    /// split at top-level commas; empty elements are yielded as empty so a
    /// validator can see them.
    pub fn headers<'a>(&'a self, name: &str) -> impl Iterator<Item = Cow<'a, [u8]>> + 'a {
        let first = self.first_entry(name);
        let split = first.is_some_and(|f| f.kind.is_list());
        ValueSpans::new(self, self.same_name(first), split)
            .map(move |span| unfold(self.span_bytes(span)))
    }

    /// Raw (still folded) value slices of a known header, list-split.
    fn values_of(&self, kind: HeaderName) -> impl Iterator<Item = Bytes> + '_ {
        ValueSpans::new(self, self.entries_of(kind), kind.is_list()).map(|s| self.slice(s))
    }

    fn single(&self, kind: HeaderName, label: &'static str) -> Result<Bytes, HeaderError> {
        self.entries_of(kind)
            .next()
            .map(|h| self.slice(h.value))
            .ok_or(HeaderError::Missing(label))
    }

    pub fn top_via(&self) -> Result<Via, HeaderError> {
        self.vias()
            .next()
            .unwrap_or(Err(HeaderError::Missing("Via")))
    }

    pub fn vias(&self) -> impl Iterator<Item = Result<Via, HeaderError>> + '_ {
        self.values_of(HeaderName::Via).map(Via::parse)
    }

    pub fn cseq(&self) -> Result<(u32, Method), HeaderError> {
        let raw = self.single(HeaderName::CSeq, "CSeq")?;
        let bad = |reason| HeaderError::Malformed {
            header: "CSeq",
            reason,
        };
        let mut c = Cursor::new(&raw);
        c.skip_lws();
        let digits = c.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(bad("sequence number is not a number"));
        }
        // RFC 3261 §8.1.1.5: the sequence number MUST be below 2**31.
        // Overflowing u64 is just a larger out-of-range number.
        let number = parse_decimal(c.bytes(digits))
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n < 1 << 31)
            .ok_or(bad("sequence number out of range"))?;
        if c.skip_lws() == 0 {
            return Err(bad("no space before the method"));
        }
        let method = c.take_while(is_token_char);
        if method.is_empty() {
            return Err(bad("missing method"));
        }
        c.skip_lws();
        if !c.at_end() {
            return Err(bad("trailing characters after the method"));
        }
        Ok((number, Method::from_bytes(sub(&raw, method.range()))))
    }

    /// `Ok(None)` when absent.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        let Some(h) = self.entries_of(HeaderName::MaxForwards).next() else {
            return Ok(None);
        };
        parse_decimal(self.span_bytes(h.value))
            .map(|n| Some(u32::try_from(n).unwrap_or(u32::MAX)))
            .ok_or(HeaderError::Malformed {
                header: "Max-Forwards",
                reason: "not a number",
            })
    }

    /// The Expires header in seconds, `Ok(None)` when absent. Values beyond
    /// 2**32-1 are clamped: RFC 4475 §3.1.2.4 lets an element treat an
    /// oversized expiry as a default rather than fail the request.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        let raw = match self.entries_of(HeaderName::Expires).next() {
            Some(h) => self.span_bytes(h.value),
            None => return Ok(None),
        };
        if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::Malformed {
                header: "Expires",
                reason: "not a number of seconds",
            });
        }
        Ok(Some(
            parse_decimal(raw)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(u32::MAX),
        ))
    }

    pub fn call_id(&self) -> Option<Bytes> {
        self.entries_of(HeaderName::CallId)
            .next()
            .map(|h| self.slice(h.value))
    }

    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse_inner(self.single(HeaderName::From, "From")?).map_err(|reason| {
            HeaderError::Malformed {
                header: "From",
                reason,
            }
        })
    }

    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse_inner(self.single(HeaderName::To, "To")?).map_err(|reason| {
            HeaderError::Malformed {
                header: "To",
                reason,
            }
        })
    }

    pub fn from_tag(&self) -> Result<Option<Bytes>, HeaderError> {
        self.from().map(|n| n.tag().cloned())
    }

    pub fn to_tag(&self) -> Result<Option<Bytes>, HeaderError> {
        self.to().map(|n| n.tag().cloned())
    }

    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact, HeaderError>> + '_ {
        self.values_of(HeaderName::Contact).map(|raw| {
            let t = raw.as_ref();
            if t == b"*" {
                return Ok(Contact::Star);
            }
            NameAddr::parse_inner(raw)
                .map(Contact::Addr)
                .map_err(|reason| HeaderError::Malformed {
                    header: "Contact",
                    reason,
                })
        })
    }

    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr, HeaderError>> + '_ {
        self.name_addrs(HeaderName::Route, "Route")
    }

    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr, HeaderError>> + '_ {
        self.name_addrs(HeaderName::RecordRoute, "Record-Route")
    }

    fn name_addrs(
        &self,
        kind: HeaderName,
        label: &'static str,
    ) -> impl Iterator<Item = Result<NameAddr, HeaderError>> + '_ {
        self.values_of(kind).map(move |raw| {
            NameAddr::parse_inner(raw).map_err(|reason| HeaderError::Malformed {
                header: label,
                reason,
            })
        })
    }
}

/// Joins folded lines: each line break plus the whitespace around it becomes
/// one SP, which RFC 3261 §7.3.1 makes equivalent. Borrows when there was no
/// folding.
pub fn unfold(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\r', b'\n', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut in_break = false;
    for &b in raw {
        if b == b'\r' || b == b'\n' {
            if !in_break {
                while out.last().is_some_and(|l| *l == b' ' || *l == b'\t') {
                    out.pop();
                }
                out.push(b' ');
                in_break = true;
            }
        } else if in_break && (b == b' ' || b == b'\t') {
            // still inside the fold
        } else {
            in_break = false;
            out.push(b);
        }
    }
    Cow::Owned(out)
}

/// Iterates the value spans of a set of header entries, optionally split at
/// top-level commas.
struct ValueSpans<'a, I> {
    buf: &'a [u8],
    entries: I,
    split: bool,
    cursor: Option<Span>,
}

impl<'a, I: Iterator<Item = &'a HeaderEntry>> ValueSpans<'a, I> {
    fn new(msg: &'a SipMessage, entries: I, split: bool) -> Self {
        ValueSpans {
            buf: msg.buf.as_ref(),
            entries,
            split,
            cursor: None,
        }
    }
}

impl<'a, I: Iterator<Item = &'a HeaderEntry>> Iterator for ValueSpans<'a, I> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        loop {
            if let Some(rest) = self.cursor.take() {
                let (elem, next) = split_next(self.buf, rest);
                self.cursor = next;
                return Some(elem);
            }
            let entry = self.entries.next()?;
            if !self.split {
                return Some(entry.value);
            }
            // An empty list header carries no elements (e.g. `Supported:`).
            if !entry.value.is_empty() {
                self.cursor = Some(entry.value);
            }
        }
    }
}

/// Cuts the first element off a comma list. Commas inside a quoted string or
/// `<...>` do not separate elements (display names and URIs may hold them).
pub(crate) fn split_next(buf: &[u8], span: Span) -> (Span, Option<Span>) {
    let bytes = buf.get(span.range()).unwrap_or_default();
    let mut in_quote = false;
    let mut escaped = false;
    let mut angle = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        match b {
            b'"' if !angle => in_quote = true,
            b'<' => angle = true,
            b'>' => angle = false,
            b',' if !angle => {
                let elem = trim_lws(buf, Span::new(span.start, span.start + i));
                return (elem, Some(Span::new(span.start + i + 1, span.end)));
            }
            _ => {}
        }
    }
    (trim_lws(buf, span), None)
}

/// Splits a comma list held in a plain slice, with the same quoting rules as
/// the header iterators. Offered for values obtained through
/// [`SipMessage::header`].
pub fn split_list(value: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = Some(Span::new(0, value.len()));
    while let Some(span) = rest {
        let (elem, next) = split_next(value, span);
        out.push(value.get(elem.range()).unwrap_or_default());
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests;
