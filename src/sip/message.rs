//! The parsed SIP message and its typed, on-demand views.
//!
//! This module owns [`SipMessage`] (the original `Bytes` plus the span index
//! that `parse` builds), the header-name table (canonical and compact
//! names), comma-list splitting, and the light typed parsers for the headers
//! a proxy needs: Via, CSeq, Max-Forwards, Call-ID, To/From tags, Contact,
//! Route, plus a minimal [`Uri`] and name-addr reader. Typed values are parsed
//! when asked for, never during `parse`, and borrow from the message buffer
//! by slicing `Bytes` rather than copying.

#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::parse::{is_lws, is_token_char, parse_decimal, trim_lws};

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

/// A small forward-only reader over a header value.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn eat(&mut self, want: u8) -> bool {
        if self.peek() == Some(want) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Returns how many whitespace bytes were skipped.
    fn skip_lws(&mut self) -> usize {
        self.take_while(is_lws).len()
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> Span {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        Span::new(start, self.pos)
    }

    fn bytes(&self, span: Span) -> &'a [u8] {
        self.b.get(span.range()).unwrap_or_default()
    }

    /// A quoted string starting at the cursor, quotes included.
    fn quoted(&mut self) -> Result<Span, &'static str> {
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

fn find_param<'p>(params: &'p [Param], name: &str) -> Option<&'p Param> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
}

/// Header parameters: `*( LWS ";" LWS token [ LWS "=" LWS gen-value ] )` up to
/// the end of the slice. Empty parameters (`;;`) are rejected: RFC 4475
/// §3.1.2.1 wants a 400 for them.
fn header_params(raw: &Bytes, c: &mut Cursor<'_>) -> Result<Vec<Param>, &'static str> {
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
fn is_param_value_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// A bracketed IPv6 reference. Only the alphabet is checked: RFC 5118 §4.10
/// asks receivers to tolerate the three-colon form the old ABNF allowed.
fn is_ipv6_reference(b: &[u8]) -> bool {
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

fn valid_host(b: &[u8]) -> bool {
    if b.first() == Some(&b'[') {
        is_ipv6_reference(b)
    } else {
        !b.is_empty() && b.iter().all(|c| is_host_char(*c))
    }
}

/// Via transport token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    Other(Bytes),
}

impl Transport {
    fn from_bytes(b: Bytes) -> Transport {
        match b.to_ascii_uppercase().as_slice() {
            b"UDP" => Transport::Udp,
            b"TCP" => Transport::Tcp,
            b"TLS" => Transport::Tls,
            b"SCTP" => Transport::Sctp,
            b"WS" => Transport::Ws,
            b"WSS" => Transport::Wss,
            _ => Transport::Other(b),
        }
    }
}

/// The Via `rport` parameter (RFC 3581): a request asks for it empty, a
/// server fills it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    Absent,
    Empty,
    Value(u16),
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `SIP` in practice; kept to let the validator insist on it.
    pub protocol: Bytes,
    pub version: Bytes,
    pub transport: Transport,
    /// sent-by host; IPv6 keeps its brackets.
    pub host: Bytes,
    pub port: Option<u16>,
    pub branch: Option<Bytes>,
    pub received: Option<Bytes>,
    pub rport: Rport,
    pub params: Vec<Param>,
    /// The value as written, for verbatim forwarding.
    pub raw: Bytes,
}

impl Via {
    pub fn parse(raw: Bytes) -> Result<Via, HeaderError> {
        Via::parse_inner(&raw).map_err(|reason| HeaderError::Malformed {
            header: "Via",
            reason,
        })
    }

    fn parse_inner(raw: &Bytes) -> Result<Via, &'static str> {
        let mut c = Cursor::new(raw);
        c.skip_lws();
        // sent-protocol = name SLASH version SLASH transport, with LWS
        // allowed around each slash.
        let protocol = c.take_while(is_token_char);
        c.skip_lws();
        if protocol.is_empty() || !c.eat(b'/') {
            return Err("malformed sent-protocol");
        }
        c.skip_lws();
        let version = c.take_while(is_token_char);
        c.skip_lws();
        if version.is_empty() || !c.eat(b'/') {
            return Err("malformed sent-protocol");
        }
        c.skip_lws();
        let transport = c.take_while(is_token_char);
        if transport.is_empty() {
            return Err("missing transport");
        }
        if c.skip_lws() == 0 {
            return Err("missing space before sent-by");
        }
        let host = if c.peek() == Some(b'[') {
            let h = c.take_while(|b| b != b']' && !is_lws(b) && b != b';');
            if !c.eat(b']') {
                return Err("unterminated IPv6 reference in sent-by");
            }
            Span::new(h.start, c.pos)
        } else {
            c.take_while(is_host_char)
        };
        if !valid_host(c.bytes(host)) {
            return Err("malformed sent-by host");
        }
        let before = c.pos;
        c.skip_lws();
        let port = if c.eat(b':') {
            c.skip_lws();
            let p = c.take_while(|b| b.is_ascii_digit());
            Some(parse_port(c.bytes(p)).ok_or("malformed sent-by port")?)
        } else {
            c.pos = before;
            None
        };
        let params = header_params(raw, &mut c)?;
        let mut via = Via {
            protocol: sub(raw, protocol.range()),
            version: sub(raw, version.range()),
            transport: Transport::from_bytes(sub(raw, transport.range())),
            host: sub(raw, host.range()),
            port,
            branch: None,
            received: None,
            rport: Rport::Absent,
            params: Vec::new(),
            raw: raw.clone(),
        };
        via.branch = find_param(&params, "branch").and_then(|p| p.value.clone());
        via.received = find_param(&params, "received").and_then(|p| p.value.clone());
        via.rport = match find_param(&params, "rport") {
            None => Rport::Absent,
            Some(Param { value: None, .. }) => Rport::Empty,
            Some(Param { value: Some(v), .. }) => {
                Rport::Value(parse_port(v).ok_or("malformed rport")?)
            }
        };
        via.params = params;
        Ok(via)
    }
}

/// `Bytes::slice` panics out of range; spans here come from cursors over the
/// same bytes, but a wrong span must cost a wrong value, not a crash.
fn sub(b: &Bytes, r: Range<usize>) -> Bytes {
    if r.start <= r.end && r.end <= b.len() {
        b.slice(r)
    } else {
        Bytes::new()
    }
}

fn parse_port(digits: &[u8]) -> Option<u16> {
    parse_decimal(digits).and_then(|n| u16::try_from(n).ok())
}

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
fn uri_params(raw: &Bytes, span: Span) -> Result<Vec<Param>, UriError> {
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

    fn parse_inner(raw: Bytes) -> Result<NameAddr, &'static str> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::super::parse::parse;
    use super::*;

    fn msg(s: &'static [u8]) -> SipMessage {
        parse(Bytes::from_static(s), true).unwrap()
    }

    #[test]
    fn folding_and_colon_whitespace() {
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\n\
Subject  :  hello\r\n  \tworld  \r\n\
X: one\r\n\r\n");
        let subj = m.header("subject").unwrap();
        assert_eq!(&*subj, b"hello world");
        assert!(matches!(subj, Cow::Owned(_)));
        assert!(matches!(m.header("x").unwrap(), Cow::Borrowed(_)));
        let e = &m.header_entries()[0];
        assert!(e.folded);
        assert_eq!(
            m.span_bytes(e.line),
            b"Subject  :  hello\r\n  \tworld  \r\n"
        );
        assert_eq!(m.span_bytes(e.name), b"Subject");
    }

    #[test]
    fn compact_names_map_to_canonical() {
        let pairs = [
            ("v", "Via"),
            ("f", "From"),
            ("t", "To"),
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("l", "Content-Length"),
            ("c", "Content-Type"),
            ("k", "Supported"),
            ("s", "Subject"),
            ("e", "Content-Encoding"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("u", "Allow-Events"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("y", "Identity"),
            ("a", "Accept-Contact"),
            ("j", "Reject-Contact"),
            ("d", "Request-Disposition"),
        ];
        for (compact, full) in pairs {
            let k = HeaderName::from_bytes(compact.as_bytes());
            assert_eq!(k.canonical(), Some(full));
            assert_eq!(HeaderName::from_bytes(compact.to_uppercase().as_bytes()), k);
            assert_eq!(HeaderName::from_bytes(full.to_lowercase().as_bytes()), k);
        }
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nI: id1\r\nX-Foo: 1\r\nx-foo: 2\r\nv: SIP/2.0/UDP a, SIP/2.0/UDP b\r\n\r\n");
        assert_eq!(&*m.header("VIA").unwrap(), b"SIP/2.0/UDP a");
        assert_eq!(&*m.header("x-FOO").unwrap(), b"1");
        assert_eq!(&*m.header("Call-ID").unwrap(), b"id1");
        assert_eq!(m.call_id().unwrap().as_ref(), b"id1");
        assert_eq!(m.header_count("X-FOO"), 2);
    }

    #[test]
    fn comma_splitting_respects_quotes_and_brackets() {
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\n\
Contact: \"Doe, John\" <sip:j@a;x=1,2>;q=0.5 , <sip:k@b>\r\n\
m: \"q\\\"uo,te\" <sip:l@c>\r\n\
Route: <sip:p1;lr>,<sip:p2;lr>\r\n\
Subject: a, b\r\n\r\n");
        let contacts: Vec<_> = m.headers("contact").collect();
        assert_eq!(contacts.len(), 3);
        assert_eq!(&*contacts[0], b"\"Doe, John\" <sip:j@a;x=1,2>;q=0.5");
        assert_eq!(&*contacts[1], b"<sip:k@b>");
        assert_eq!(&*contacts[2], b"\"q\\\"uo,te\" <sip:l@c>");
        assert_eq!(m.headers("Route").count(), 2);
        assert_eq!(m.headers("Subject").count(), 1);
        let parsed: Vec<_> = m.contacts().map(Result::unwrap).collect();
        match &parsed[0] {
            Contact::Addr(na) => {
                assert_eq!(na.display.as_ref().unwrap().as_ref(), b"\"Doe, John\"");
                assert_eq!(
                    na.param("q").unwrap().value.as_ref().unwrap().as_ref(),
                    b"0.5"
                );
                assert_eq!(
                    na.uri.param("x").unwrap().value.as_ref().unwrap().as_ref(),
                    b"1,2"
                );
            }
            Contact::Star => panic!(),
        }
        assert_eq!(
            split_list(b"a, \"b,c\", <d,e>"),
            vec![&b"a"[..], b"\"b,c\"", b"<d,e>"]
        );
        assert_eq!(split_list(b"x;;,"), vec![&b"x;;"[..], b""]);
    }

    #[test]
    fn via_params() {
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\n\
Via: SIP / 2.0 / UDP host.example.com:5060 ; branch = z9hG4bK1 ;rport;received=192.0.2.1\r\n\
v: SIP/2.0/TCP [2001:db8::1]:5070;rport=5071;branch=z9hG4bK2, SIP/2.0/TLS h3;maddr=x\r\n\r\n");
        let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        let v = &vias[0];
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host.as_ref(), b"host.example.com");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch.as_deref(), Some(&b"z9hG4bK1"[..]));
        assert_eq!(v.rport, Rport::Empty);
        assert_eq!(v.received.as_deref(), Some(&b"192.0.2.1"[..]));
        assert_eq!(v.params.len(), 3);
        assert_eq!(vias[1].host.as_ref(), b"[2001:db8::1]");
        assert_eq!(vias[1].port, Some(5070));
        assert_eq!(vias[1].rport, Rport::Value(5071));
        assert_eq!(vias[2].transport, Transport::Tls);
        assert_eq!(vias[2].rport, Rport::Absent);
        assert_eq!(vias[2].branch, None);
        assert_eq!(m.top_via().unwrap(), vias[0]);

        for bad in [
            &b"SIP/2.0/UDP"[..],
            b"SIP/2.0/UDP host;;",
            b"SIP/2.0/UDP host:99999",
            b"SIP/2.0/UDP host;branch=",
            b"SIP/2.0/UDP host junk",
            b"SIP/2.0/UDP [::1",
            b"SIP/2.0/UDP h;rport=x",
            b"",
        ] {
            assert!(Via::parse(Bytes::from_static(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cseq_and_numbers() {
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 0009\r\n  OPTIONS\r\nMax-Forwards: 0068\r\nExpires: 99999999999999\r\n\r\n");
        assert_eq!(m.cseq().unwrap(), (9, Method::Options));
        assert_eq!(m.max_forwards().unwrap(), Some(68));
        assert_eq!(m.expires().unwrap(), Some(u32::MAX));
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 2147483648 OPTIONS\r\nMax-Forwards: x\r\nExpires: -1\r\n\r\n");
        assert!(m.cseq().is_err());
        assert!(m.max_forwards().is_err());
        assert!(m.expires().is_err());
        let m = msg(b"FOO sip:a@b SIP/2.0\r\nCSeq: 1 FOO\r\n\r\n");
        assert_eq!(m.method(), Some(Method::Other(Bytes::from_static(b"FOO"))));
        assert_eq!(m.cseq().unwrap().1, m.method().unwrap());
    }

    #[test]
    fn tags_ignore_uri_params() {
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\n\
From: \"A <;tag=no>\" <sip:a@b;tag=uri>;tag=yes\r\n\
To: sip:c@d ; tag = t2\r\n\r\n");
        assert_eq!(m.from_tag().unwrap().as_deref(), Some(&b"yes"[..]));
        assert_eq!(m.to_tag().unwrap().as_deref(), Some(&b"t2"[..]));
        let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nFrom: <sip:a@b;tag=uri>\r\n\r\n");
        assert_eq!(m.from_tag().unwrap(), None);
    }

    #[test]
    fn name_addr_forms() {
        let ok = |s: &'static [u8]| NameAddr::parse(Bytes::from_static(s)).unwrap();
        let na = ok(b"caller<sip:caller@example.com>;tag=323");
        assert_eq!(na.display.as_deref(), Some(&b"caller"[..]));
        let na = ok(b"sip:+1@gw;unknownparam");
        assert!(na.uri.params.is_empty());
        assert!(na.param("unknownparam").is_some());
        let na = ok(b"<sip:+1@gw;unknownparam>");
        assert!(na.uri.param("unknownparam").is_some());
        assert!(na.params.is_empty());
        for bad in [
            &b"\"unterminated <sip:a@b>"[..],
            b"Bell, Alexander <sip:a@b>",
            b"< sip:a@b >",
            b"sip:a@b?Route=x",
            b"<sip:a@b",
            b"<sip:a@b>;;",
        ] {
            assert!(NameAddr::parse(Bytes::from_static(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uri_forms() {
        let u = |s: &'static [u8]| Uri::parse(Bytes::from_static(s));
        let x = u(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(x.user.as_deref(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(x.host.as_ref(), b"example.com");
        let x = u(
            b"sips:alice:secret@[2001:db8::10]:5070;lr;transport=tcp;maddr=m;user=phone?Subject=x",
        )
        .unwrap();
        assert_eq!(x.scheme, Scheme::Sips);
        assert_eq!(x.user.as_deref(), Some(&b"alice"[..]));
        assert_eq!(x.host.as_ref(), b"[2001:db8::10]");
        assert_eq!(x.port, Some(5070));
        assert!(x.is_loose_route());
        assert_eq!(x.transport().unwrap().as_ref(), b"tcp");
        assert_eq!(x.maddr().unwrap().as_ref(), b"m");
        assert_eq!(x.user_param().unwrap().as_ref(), b"phone");
        assert_eq!(x.headers.as_deref(), Some(&b"Subject=x"[..]));
        let x = u(b"sip:[2001:db8::10:5070]").unwrap();
        assert_eq!(x.port, None);
        let x = u(b"tel:+1-201-555-0123;phone-context=x").unwrap();
        assert_eq!(x.scheme, Scheme::Tel);
        assert_eq!(x.user.as_deref(), Some(&b"+1-201-555-0123"[..]));
        let x = u(b"soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(x.scheme, Scheme::Other(Bytes::from_static(b"soap.beep")));
        for bad in [
            &b"<sip:a@b>"[..],
            b"sip:2001:db8::10",
            b"sip:a@b;",
            b"sip:@b",
            b"sip:a@b c",
            b"sip:",
            b"1sip:x",
        ] {
            assert!(u(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spans_rebuild_message() {
        let raw: &[u8] = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n  ;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n\r\nbody";
        let m = msg(raw);
        let mut out = m.span_bytes(m.start_line_span()).to_vec();
        for h in m.header_entries() {
            out.extend_from_slice(m.span_bytes(h.line));
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(m.body());
        assert_eq!(out, raw);
    }
}
