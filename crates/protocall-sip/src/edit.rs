//! Building outgoing messages: responses to a request, and the forwarded
//! copy of a request or response.
//!
//! A proxy may change only the Request-URI, Max-Forwards, Via, Record-Route
//! and Route (RFC 3261 §16.6, §16.7). Everything else is copied byte for
//! byte from the received buffer, span by span (Kamailio's "lumps"): the
//! message is written once, and headers we do not understand survive
//! untouched.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};

use super::message::{
    split_list, split_next, HeaderEntry, HeaderName, Rport, SipMessage, Span, StartLine,
};

/// The reason phrase RFC 3261 §21 gives a status code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Session Progress",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// Fills in `received` and `rport` on a top Via value per RFC 3261
/// §18.2.1 and RFC 3581, so the response can find its way back through a
/// NAT. Other parameters keep their order and spelling.
pub fn stamp_via(raw: &[u8], source: SocketAddr) -> Vec<u8> {
    let Ok(via) = super::message::Via::parse(Bytes::copy_from_slice(raw)) else {
        return raw.to_vec();
    };
    let ip = source.ip().to_string();
    let host_is_source =
        via.host.as_ref() == ip.as_bytes() || via.host.as_ref() == format!("[{ip}]").as_bytes();
    let wants_rport = via.rport != Rport::Absent;
    if host_is_source && !wants_rport {
        return raw.to_vec();
    }
    // Rebuild "SIP/2.0/UDP host:port" then the params, replacing ours.
    let mut out = Vec::with_capacity(raw.len() + 40);
    let sent_by_end = raw.iter().position(|b| *b == b';').unwrap_or(raw.len());
    out.extend_from_slice(raw.get(..sent_by_end).unwrap_or(raw).trim_ascii_end());
    for p in &via.params {
        let name = p.name.to_ascii_lowercase();
        if name == b"received" || name == b"rport" {
            continue;
        }
        out.push(b';');
        out.extend_from_slice(&p.name);
        if let Some(v) = &p.value {
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    if wants_rport {
        let _ = write!(VecWriter(&mut out), ";rport={}", source.port());
    }
    let _ = write!(VecWriter(&mut out), ";received={ip}");
    out
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A response to a request we received (RFC 3261 §8.2.6): Via, From, To,
/// Call-ID and CSeq copied, a To tag added when we are the one answering.
pub struct ResponseBuilder<'a> {
    req: &'a SipMessage,
    code: u16,
    reason: &'a str,
    to_tag: Option<&'a str>,
    source: Option<SocketAddr>,
    headers: Vec<(&'a str, String)>,
    body: Option<(&'a str, &'a [u8])>,
}

pub fn response<'a>(req: &'a SipMessage, code: u16) -> ResponseBuilder<'a> {
    ResponseBuilder {
        req,
        code,
        reason: reason_phrase(code),
        to_tag: None,
        source: None,
        headers: Vec::new(),
        body: None,
    }
}

impl<'a> ResponseBuilder<'a> {
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = reason;
        self
    }

    /// The tag for To when the request's To has none (ignored otherwise:
    /// an in-dialog request already names the dialog).
    pub fn to_tag(mut self, tag: &'a str) -> Self {
        self.to_tag = Some(tag);
        self
    }

    /// Where the request came from, for `received`/`rport` on the top Via.
    pub fn source(mut self, source: SocketAddr) -> Self {
        self.source = Some(source);
        self
    }

    pub fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, content_type: &'a str, body: &'a [u8]) -> Self {
        self.body = Some((content_type, body));
        self
    }

    pub fn build(self) -> Bytes {
        let req = self.req;
        let mut out = BytesMut::with_capacity(512);
        let _ = write!(
            BytesWriter(&mut out),
            "SIP/2.0 {} {}\r\n",
            self.code,
            self.reason
        );
        // Via lines are copied as lines, not one line per value: a request
        // packing many (even empty) values into one line must not get a
        // reply with more header lines, or more bytes, than it sent.
        let mut stamped = self.source.is_none();
        for e in req.header_entries() {
            if e.kind != HeaderName::Via {
                continue;
            }
            match self.source {
                Some(src) if !stamped && !e.value.is_empty() => {
                    stamped = true;
                    put_via_stamped(&mut out, req, e, src);
                }
                _ => put_entry(&mut out, req, e),
            }
        }
        let mut wrote_to = false;
        for e in req.header_entries() {
            match e.kind {
                HeaderName::From | HeaderName::CallId | HeaderName::CSeq => {
                    put_entry(&mut out, req, e)
                }
                // Only one To is legal; any further copy (a 400 for the
                // duplicate) goes back as it came, not grown by a tag.
                HeaderName::To if wrote_to => put_entry(&mut out, req, e),
                HeaderName::To => {
                    wrote_to = true;
                    let value = req.span_bytes(e.value);
                    out.put_slice(b"To: ");
                    out.put_slice(&super::message::unfold(value));
                    let has_tag = req.to_tag().ok().flatten().is_some();
                    if let (Some(tag), false) = (self.to_tag, has_tag) {
                        if self.code > 100 {
                            out.put_slice(b";tag=");
                            out.put_slice(tag.as_bytes());
                        }
                    }
                    out.put_slice(b"\r\n");
                }
                _ => {}
            }
        }
        for (name, value) in &self.headers {
            let _ = write!(BytesWriter(&mut out), "{name}: {value}\r\n");
        }
        let body = match self.body {
            Some((ct, b)) => {
                let _ = write!(BytesWriter(&mut out), "Content-Type: {ct}\r\n");
                b
            }
            None => &[],
        };
        let _ = write!(
            BytesWriter(&mut out),
            "Content-Length: {}\r\n\r\n",
            body.len()
        );
        out.put_slice(body);
        out.freeze()
    }
}

struct BytesWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for BytesWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

fn put_entry(out: &mut BytesMut, msg: &SipMessage, e: &HeaderEntry) {
    out.put_slice(msg.span_bytes(e.line));
}

/// Writes a Via line with `received`/`rport` stamped on its first value;
/// the values after it are copied as they were, so the line grows by the
/// stamp only.
fn put_via_stamped(out: &mut BytesMut, msg: &SipMessage, e: &HeaderEntry, src: SocketAddr) {
    let value = super::message::unfold(msg.span_bytes(e.value));
    let (first, rest) = split_next(&value, Span::new(0, value.len()));
    out.put_slice(b"Via: ");
    out.put_slice(&stamp_via(
        value.get(first.range()).unwrap_or_default(),
        src,
    ));
    if let Some(rest) = rest {
        out.put_u8(b',');
        out.put_slice(value.get(rest.range()).unwrap_or_default());
    }
    out.put_slice(b"\r\n");
}

/// The edits a proxy makes to a message it relays; see the module docs for
/// why the list is this short.
#[derive(Debug, Default, Clone)]
pub struct Relay {
    /// New Request-URI (requests only).
    pub request_uri: Option<Bytes>,
    /// Our Via, pushed on top (requests).
    pub push_via: Option<String>,
    /// Remove the top Via value (responses: it is ours).
    pub pop_via: bool,
    /// Our Record-Route, pushed on top.
    pub push_record_route: Option<String>,
    /// Remove the first Route value (it named us).
    pub pop_route: bool,
    /// Replace the whole Route set (strict-router handling).
    pub replace_routes: Option<Vec<Bytes>>,
    /// Max-Forwards to write (added when absent).
    pub max_forwards: Option<u32>,
    /// Stamp `received`/`rport` on the top Via with this source (RFC 3581),
    /// so responses relayed back can find a caller behind NAT.
    pub stamp_via: Option<SocketAddr>,
    /// The identity we assert for an authenticated caller (RFC 3325): any
    /// P-Asserted-Identity the caller wrote is dropped, this one written.
    pub assert_identity: Option<String>,
    /// Our realm: `Proxy-Authorization` values for it were consumed here
    /// and must not travel on (RFC 3261 §22.3); other realms' stay.
    pub strip_credentials_for: Option<String>,
    /// A display name for the From header (the URI and tag stay): what a
    /// consultant's phone shows for the caller. Dialogs match on tags,
    /// never on display names, so the phones' later requests still match.
    pub from_display: Option<String>,
    /// A Subject to write, replacing any the request carried.
    pub subject: Option<String>,
}

/// `text` as a quoted-string (RFC 3261 §25.1) with control characters
/// dropped, so a directory entry can never break a header line.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A From/To value with its display name replaced by `display` (already
/// quoted): `"Old" <uri>;tag=x` and `<uri>;tag=x` keep URI and parameters;
/// an unbracketed `uri;tag=x` becomes `"New" <uri>;tag=x` (its parameters
/// were the header's, §20.10). `None` when the value is not one of those
/// shapes (the header is then relayed as it came, never made unparsable).
fn with_display(value: &[u8], display: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(value.len() + display.len() + 3);
    out.extend_from_slice(display.as_bytes());
    out.push(b' ');
    match first_unquoted(value, b'<') {
        Some(lt) => {
            let rest = value.get(lt..)?;
            // `<uri>` then parameters: the URI itself holds no `>`.
            rest.iter().position(|&b| b == b'>')?;
            out.extend_from_slice(rest);
        }
        None => {
            let end = value
                .iter()
                .position(|&b| b == b';' || b == b' ' || b == b'\t')
                .unwrap_or(value.len());
            let uri = value.get(..end)?;
            if uri.is_empty() || uri.iter().any(|b| matches!(b, b'<' | b'>' | b'"')) {
                return None;
            }
            out.push(b'<');
            out.extend_from_slice(uri);
            out.push(b'>');
            out.extend_from_slice(value.get(end..)?);
        }
    }
    Some(out)
}

/// The first `needle` outside a quoted-string (whose `\\` escapes the next
/// character), as a display name may hold a `<`.
fn first_unquoted(value: &[u8], needle: u8) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if !quoted && b == needle {
            return Some(i);
        }
    }
    None
}

impl Relay {
    pub fn apply(&self, msg: &SipMessage) -> Bytes {
        let buf = msg.as_bytes();
        let mut out = BytesMut::with_capacity(buf.len() + 256);
        match (msg.start_line(), &self.request_uri) {
            (
                StartLine::Request {
                    method, version, ..
                },
                Some(uri),
            ) => {
                out.put_slice(method.as_bytes());
                out.put_u8(b' ');
                out.put_slice(uri);
                out.put_u8(b' ');
                out.put_slice(msg.span_bytes(*version));
                out.put_slice(b"\r\n");
            }
            _ => {
                out.put_slice(msg.span_bytes(msg.start_line_span()));
            }
        }
        if let Some(v) = &self.push_via {
            out.put_slice(b"Via: ");
            out.put_slice(v.as_bytes());
            out.put_slice(b"\r\n");
        }
        if let Some(rr) = &self.push_record_route {
            out.put_slice(b"Record-Route: ");
            out.put_slice(rr.as_bytes());
            out.put_slice(b"\r\n");
        }
        if let Some(routes) = &self.replace_routes {
            for r in routes {
                out.put_slice(b"Route: ");
                out.put_slice(r);
                out.put_slice(b"\r\n");
            }
        }
        if let Some(id) = &self.assert_identity {
            out.put_slice(b"P-Asserted-Identity: ");
            out.put_slice(id.as_bytes());
            out.put_slice(b"\r\n");
        }
        if let Some(subject) = &self.subject {
            out.put_slice(b"Subject: ");
            out.put_slice(subject.as_bytes());
            out.put_slice(b"\r\n");
        }
        let mut via_popped = !self.pop_via;
        let mut via_stamped = self.stamp_via.is_none() || self.pop_via;
        let mut route_popped = !self.pop_route;
        let mut wrote_mf = false;
        for e in msg.header_entries() {
            match e.kind {
                HeaderName::Via if !via_popped => {
                    via_popped = true;
                    put_rest_of_list(&mut out, msg, e, "Via");
                }
                HeaderName::Via if !via_stamped => {
                    via_stamped = true;
                    match self.stamp_via {
                        Some(src) => put_via_stamped(&mut out, msg, e, src),
                        None => put_entry(&mut out, msg, e),
                    }
                }
                HeaderName::Route if self.replace_routes.is_some() => {}
                HeaderName::From if self.from_display.is_some() => {
                    let display = self.from_display.as_deref().unwrap_or_default();
                    let value = super::message::unfold(msg.span_bytes(e.value));
                    match with_display(&value, display) {
                        Some(v) => {
                            out.put_slice(b"From: ");
                            out.put_slice(&v);
                            out.put_slice(b"\r\n");
                        }
                        None => put_entry(&mut out, msg, e),
                    }
                }
                HeaderName::Other
                    if self.subject.is_some()
                        && (msg.span_bytes(e.name).eq_ignore_ascii_case(b"Subject")
                            || msg.span_bytes(e.name).eq_ignore_ascii_case(b"s")) => {}
                HeaderName::Other
                    if self.assert_identity.is_some()
                        && msg
                            .span_bytes(e.name)
                            .eq_ignore_ascii_case(b"P-Asserted-Identity") => {}
                HeaderName::ProxyAuthorization
                    if self.strip_credentials_for.as_deref().is_some_and(|realm| {
                        super::digest::parse_authorization_bytes(&super::message::unfold(
                            msg.span_bytes(e.value),
                        ))
                        .is_ok_and(|c| c.realm == realm)
                    }) => {}
                HeaderName::Route if !route_popped => {
                    route_popped = true;
                    put_rest_of_list(&mut out, msg, e, "Route");
                }
                HeaderName::MaxForwards if self.max_forwards.is_some() => {
                    if !wrote_mf {
                        let _ = write!(
                            BytesWriter(&mut out),
                            "Max-Forwards: {}\r\n",
                            self.max_forwards.unwrap_or(70)
                        );
                        wrote_mf = true;
                    }
                }
                _ => put_entry(&mut out, msg, e),
            }
        }
        if let (Some(mf), false) = (self.max_forwards, wrote_mf) {
            let _ = write!(BytesWriter(&mut out), "Max-Forwards: {mf}\r\n");
        }
        // A datagram may omit Content-Length (its body ends with the
        // packet), but the copy may leave over TCP, where nothing else
        // marks the end of the body (RFC 3261 §18.3).
        if msg.content_length().is_none() {
            let _ = write!(
                BytesWriter(&mut out),
                "Content-Length: {}\r\n",
                msg.body().len()
            );
        }
        out.put_slice(b"\r\n");
        out.put_slice(msg.body());
        out.freeze()
    }
}

/// A CANCEL or non-2xx ACK for a request we sent (RFC 3261 §9.1,
/// §17.1.1.3): same Request-URI, our Via only (same branch), the same Route
/// set, From, Call-ID and CSeq number; `to` replaces To (the ACK copies the
/// response's To with its tag).
pub fn hop_request(sent: &SipMessage, method: &str, to: Option<&[u8]>) -> Bytes {
    let mut out = BytesMut::with_capacity(512);
    let uri = sent.request_uri().unwrap_or_default();
    out.put_slice(method.as_bytes());
    out.put_u8(b' ');
    out.put_slice(uri);
    out.put_slice(b" SIP/2.0\r\n");
    if let Some(via) = sent.headers("Via").next() {
        out.put_slice(b"Via: ");
        out.put_slice(&via);
        out.put_slice(b"\r\n");
    }
    for r in sent.headers("Route") {
        out.put_slice(b"Route: ");
        out.put_slice(&r);
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"Max-Forwards: 70\r\n");
    for e in sent.header_entries() {
        match e.kind {
            HeaderName::From | HeaderName::CallId => put_entry(&mut out, sent, e),
            HeaderName::To if to.is_none() => put_entry(&mut out, sent, e),
            _ => {}
        }
    }
    if let Some(to) = to {
        out.put_slice(b"To: ");
        out.put_slice(to);
        out.put_slice(b"\r\n");
    }
    let n = sent.cseq().map(|(n, _)| n).unwrap_or(1);
    let _ = write!(
        BytesWriter(&mut out),
        "CSeq: {n} {method}\r\nContent-Length: 0\r\n\r\n"
    );
    out.freeze()
}

/// Writes a list header minus its first value; nothing when it had one.
fn put_rest_of_list(out: &mut BytesMut, msg: &SipMessage, e: &HeaderEntry, name: &str) {
    let value = super::message::unfold(msg.span_bytes(e.value));
    let parts = split_list(&value);
    if parts.len() <= 1 {
        return;
    }
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    for (i, p) in parts.iter().skip(1).enumerate() {
        if i > 0 {
            out.put_slice(b", ");
        }
        out.put_slice(p.trim_ascii());
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK-1;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-0\r\n\
Route: <sip:proxy.example.com;lr>, <sip:next.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
f: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
t: <sip:bob@example.com>\r\n\
i: call-1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
X-Custom:   odd   spacing  \r\n\
Content-Type: application/sdp\r\n\
l: 4\r\n\r\nv=0\n";

    fn msg(b: &[u8]) -> SipMessage {
        parse(Bytes::copy_from_slice(b), true).unwrap()
    }

    #[test]
    fn the_caller_is_presented_without_touching_uri_or_tag() {
        let req = msg(INVITE);
        let out = Relay {
            from_display: Some(quoted("NetSul \"Telecom\" · 2026-000123\r\nX: y")),
            subject: Some("Protocolo 2026-000123".into()),
            ..Default::default()
        }
        .apply(&req);
        let m = parse(out, true).unwrap();
        let from = m.from().unwrap();
        assert_eq!(
            from.display.as_deref(),
            Some(&b"\"NetSul \\\"Telecom\\\" \xc2\xb7 2026-000123X: y\""[..])
        );
        assert_eq!(&from.uri.raw[..], b"sip:alice@example.com");
        assert_eq!(from.tag().map(|t| &t[..]), Some(&b"a1"[..]));
        assert_eq!(m.headers("Subject").count(), 1);
        // An unbracketed From keeps its tag as a header parameter.
        assert_eq!(
            with_display(b"sip:alice@example.com;tag=a1", "\"A\""),
            Some(b"\"A\" <sip:alice@example.com>;tag=a1".to_vec())
        );
        // A `<` inside the old display name is not the URI's.
        assert_eq!(
            with_display(b"\"a<b\" <sip:x@y>;tag=1", "\"N\""),
            Some(b"\"N\" <sip:x@y>;tag=1".to_vec())
        );
        // Found by fuzz/parse: an unbracketed URI ending in `>` is left
        // alone rather than made unparsable.
        assert_eq!(
            with_display(b"ip:caller@example.com>;tag=323", "\"N\""),
            None
        );
    }

    #[test]
    fn response_copies_dialog_headers_and_stamps_via() {
        let req = msg(INVITE);
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let resp = response(&req, 486).to_tag("xyz").source(src).build();
        let r = parse(resp, true).unwrap();
        assert_eq!(r.status(), Some(486));
        let vias: Vec<_> = r.headers("Via").map(|v| v.to_vec()).collect();
        assert_eq!(vias.len(), 2);
        let top = String::from_utf8(vias[0].clone()).unwrap();
        assert!(
            top.contains("rport=40000") && top.contains("received=192.0.2.7"),
            "{top}"
        );
        assert_eq!(r.to_tag().unwrap().as_deref(), Some(&b"xyz"[..]));
        assert_eq!(r.from_tag().unwrap().as_deref(), Some(&b"a1"[..]));
        assert_eq!(r.call_id().as_deref(), Some(&b"call-1@10.0.0.1"[..]));
        assert_eq!(r.cseq().unwrap().0, 1);
        assert_eq!(r.content_length(), Some(0));
    }

    #[test]
    fn relay_changes_only_what_a_proxy_may() {
        let req = msg(INVITE);
        let out = Relay {
            request_uri: Some(Bytes::from_static(b"sip:bob@192.0.2.20:5070")),
            push_via: Some("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1".into()),
            push_record_route: Some("<sip:127.0.0.1:5060;lr>".into()),
            pop_route: true,
            max_forwards: Some(69),
            ..Default::default()
        }
        .apply(&req);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("INVITE sip:bob@192.0.2.20:5070 SIP/2.0\r\n"));
        assert!(text.contains("X-Custom:   odd   spacing  \r\n"), "{text}");
        assert!(text.contains("Route: <sip:next.example.com;lr>\r\n"));
        assert!(!text.contains("proxy.example.com"));
        let fwd = parse(out, true).unwrap();
        assert_eq!(fwd.max_forwards().unwrap(), Some(69));
        let vias: Vec<_> = fwd.vias().map(|v| v.unwrap().branch.unwrap()).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(&vias[0][..], b"z9hG4bKp1");
        assert_eq!(fwd.body(), b"v=0\n");
        assert_eq!(fwd.record_routes().count(), 1);
    }

    #[test]
    fn an_asserted_identity_replaces_what_the_caller_claimed() {
        let forged = String::from_utf8_lossy(INVITE).replace(
            "CSeq: 1 INVITE\r\n",
            "CSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+5511999999999@evil>\r\n\
             p-asserted-identity: <tel:+5511888888888>\r\n",
        );
        let req = msg(forged.as_bytes());
        let out = Relay {
            assert_identity: Some("<sip:ana@desk.example>".into()),
            ..Default::default()
        }
        .apply(&req);
        let fwd = parse(out, true).unwrap();
        let pai: Vec<_> = fwd
            .headers("P-Asserted-Identity")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect();
        assert_eq!(pai, vec!["<sip:ana@desk.example>".to_string()]);
        // Without one, a trunk's own assertion passes untouched.
        let kept = Relay::default().apply(&req);
        assert_eq!(
            parse(kept, true)
                .unwrap()
                .headers("P-Asserted-Identity")
                .count(),
            2
        );
    }

    #[test]
    fn relaying_a_response_pops_our_via_only() {
        let resp = msg(b"SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK-1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n");
        let out = Relay {
            pop_via: true,
            ..Default::default()
        }
        .apply(&resp);
        let r = parse(out, true).unwrap();
        let vias: Vec<_> = r.vias().map(|v| v.unwrap().branch.unwrap()).collect();
        assert_eq!(vias, vec![Bytes::from_static(b"z9hG4bK-1")]);
    }

    #[test]
    fn cancel_and_ack_follow_the_sent_request() {
        let sent = msg(b"INVITE sip:b@192.0.2.2:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK-1\r\n\
Route: <sip:192.0.2.9;lr>\r\nMax-Forwards: 69\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\n\
Content-Length: 0\r\n\r\n");
        let c = parse(hop_request(&sent, "CANCEL", None), true).unwrap();
        assert_eq!(c.method(), Some(crate::message::Method::Cancel));
        assert_eq!(c.request_uri(), Some(&b"sip:b@192.0.2.2:5070"[..]));
        assert_eq!(c.vias().count(), 1);
        assert_eq!(&c.top_via().unwrap().branch.unwrap()[..], b"z9hG4bKp1");
        assert_eq!(c.routes().count(), 1);
        assert_eq!(c.cseq().unwrap(), (7, crate::message::Method::Cancel));
        let a = parse(hop_request(&sent, "ACK", Some(b"<sip:b@x>;tag=99")), true).unwrap();
        assert_eq!(a.to_tag().unwrap().as_deref(), Some(&b"99"[..]));
        assert_eq!(a.cseq().unwrap(), (7, crate::message::Method::Ack));
    }

    #[test]
    fn stamp_via_keeps_params_and_replaces_ours() {
        let src: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let v = stamp_via(b"SIP/2.0/UDP host.example;rport;branch=z9hG4bKx;foo", src);
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "SIP/2.0/UDP host.example;branch=z9hG4bKx;foo;rport=4000;received=192.0.2.7"
        );
        let v = stamp_via(b"SIP/2.0/UDP 192.0.2.7:4000;branch=z9hG4bKx", src);
        assert_eq!(v, b"SIP/2.0/UDP 192.0.2.7:4000;branch=z9hG4bKx");
    }
}
