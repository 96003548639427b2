//! SIP wire framing and message indexing.
//!
//! This module owns the byte-level work: deciding where one message ends on a
//! stream transport ([`StreamFramer`], in `stream`), and turning one complete
//! message into a [`SipMessage`] whose start line and header lines are
//! recorded as spans into the original buffer ([`parse`]). Nothing here interprets header
//! values beyond Content-Length, which framing cannot do without; typed
//! parsing lives in `message`, policy in `validate`.

use std::fmt;

use bytes::Bytes;

use super::message::{HeaderEntry, HeaderName, Method, SipMessage, Span, StartLine};

mod stream;

pub use stream::StreamFramer;

/// Default upper bound on one message, headers and body together. SIP over
/// UDP cannot exceed 64 KiB anyway, and a stream peer must not be able to make
/// us buffer without limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// Default upper bound on header lines. Real traffic stays far below this; the
/// bound exists so a hostile message cannot make the index grow unchecked.
pub const DEFAULT_MAX_HEADERS: usize = 128;

/// Resource bounds applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_message_size: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_headers: DEFAULT_MAX_HEADERS,
        }
    }
}

/// What [`frame_stream`] found at the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `len` bytes of CR/LF keep-alive traffic (RFC 5626 §4.4.1) precede any
    /// message; consume them. `pings` counts the complete CRLFCRLF pings in
    /// them, each of which is owed a CRLF pong.
    KeepAlive { len: usize, pings: usize },
    /// A complete message occupies the first `n` bytes.
    Message(usize),
    /// More bytes are needed before anything can be decided.
    Incomplete,
}

/// Why a Content-Length header made the message unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentLengthProblem {
    /// A stream message without Content-Length cannot be framed.
    Missing,
    /// Not a non-negative decimal number that fits in memory.
    Invalid,
    /// Several Content-Length headers with different values.
    Conflicting,
    /// The declared body is longer than the bytes that arrived.
    Truncated { declared: usize, available: usize },
    /// A stream-framed message has bytes after its declared body.
    Trailing { declared: usize, available: usize },
}

impl fmt::Display for ContentLengthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentLengthProblem::Missing => f.write_str("missing on a stream transport"),
            ContentLengthProblem::Invalid => f.write_str("not a valid length"),
            ContentLengthProblem::Conflicting => f.write_str("several headers disagree"),
            ContentLengthProblem::Truncated {
                declared,
                available,
            } => write!(f, "declares {declared} body bytes but {available} arrived"),
            ContentLengthProblem::Trailing {
                declared,
                available,
            } => write!(
                f,
                "declares {declared} body bytes but the frame holds {available}"
            ),
        }
    }
}

/// A message that cannot be framed or indexed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("message of at least {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("more than {limit} header lines")]
    TooManyHeaders { limit: usize },
    #[error("empty message")]
    Empty,
    #[error("header section is not terminated by an empty line")]
    UnterminatedHeaders,
    #[error("malformed start line: {reason}")]
    StartLine { reason: &'static str },
    #[error("malformed header line at byte {offset}: {reason}")]
    HeaderLine { offset: usize, reason: &'static str },
    /// The header section parsed but the body cannot be delimited. When the
    /// headers were indexed, `message` holds them (with the body set to the
    /// bytes that did arrive) so a request can still be answered with 400.
    #[error("bad Content-Length: {problem}")]
    ContentLength {
        problem: ContentLengthProblem,
        message: Option<Box<SipMessage>>,
    },
}

/// Frames the next message in a stream (TCP/TLS) receive buffer, looking
/// at the whole buffer afresh.
///
/// Leading CR/LF bytes are reported as [`Frame::KeepAlive`] first so the
/// caller can drop them (and pong) before the message itself is framed.
/// Content-Length is mandatory here because nothing else marks the end of the
/// body on a stream; any error means framing is lost and the connection
/// should be closed. Header lines are not counted. A connection should keep
/// a [`StreamFramer`] instead, which applies [`Limits`] in full and does not
/// rescan what earlier reads brought.
pub fn frame_stream(buf: &[u8], max_size: usize) -> Result<Frame, ParseError> {
    StreamFramer::new(Limits {
        max_message_size: max_size,
        max_headers: usize::MAX,
    })
    .frame(buf)
}

/// Parses one complete message with the default [`Limits`].
///
/// `datagram` selects UDP semantics: the body is whatever follows the
/// headers, cut to Content-Length when that is shorter, and Content-Length
/// may be absent. Otherwise `bytes` must be exactly one frame as reported by
/// [`frame_stream`].
pub fn parse(bytes: Bytes, datagram: bool) -> Result<SipMessage, ParseError> {
    parse_with_limits(bytes, datagram, &Limits::default())
}

/// [`parse`] with explicit resource bounds.
pub fn parse_with_limits(
    bytes: Bytes,
    datagram: bool,
    limits: &Limits,
) -> Result<SipMessage, ParseError> {
    if bytes.len() > limits.max_message_size {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: limits.max_message_size,
        });
    }
    let buf: &[u8] = bytes.as_ref();
    // RFC 3261 §7.5 has stream receivers ignore CRLFs before a start line;
    // tolerating them on datagrams too costs nothing.
    let lead = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if lead == buf.len() {
        return Err(ParseError::Empty);
    }
    let line = next_line(buf, lead).ok_or(ParseError::UnterminatedHeaders)?;
    let start_line = parse_start_line(&bytes, line)?;
    let (headers, body_start) =
        scan_headers(buf, line.end, limits, true)?.ok_or(ParseError::UnterminatedHeaders)?;

    let available = buf.len().saturating_sub(body_start);
    let mut msg = SipMessage {
        buf: Bytes::new(),
        start: Span::new(line.start, line.end),
        start_line,
        headers,
        body: Span::new(body_start, buf.len()),
        content_length: None,
    };
    let outcome = match content_length(buf, &msg.headers) {
        Ok(Some(declared)) if declared > available => Err(ContentLengthProblem::Truncated {
            declared,
            available,
        }),
        Ok(Some(declared)) if declared < available && !datagram => {
            Err(ContentLengthProblem::Trailing {
                declared,
                available,
            })
        }
        Ok(Some(declared)) => {
            // Datagram octets past Content-Length are discarded unseen
            // (RFC 3261 §18.3); `dblreq` smuggles a second request there.
            msg.body = Span::new(body_start, body_start + declared);
            msg.content_length = Some(declared);
            Ok(())
        }
        Ok(None) if datagram => Ok(()),
        Ok(None) => Err(ContentLengthProblem::Missing),
        Err(problem) => Err(problem),
    };
    msg.buf = bytes;
    match outcome {
        Ok(()) => Ok(msg),
        Err(problem) => Err(ParseError::ContentLength {
            problem,
            message: Some(Box::new(msg)),
        }),
    }
}

/// One line of the buffer: `start..content_end` excludes the line break,
/// `end` is just past the LF.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    content_end: usize,
    end: usize,
}

fn next_line(buf: &[u8], start: usize) -> Option<Line> {
    let rel = memchr::memchr(b'\n', buf.get(start..)?)?;
    let lf = start + rel;
    // Bare LF is tolerated as a line end, so the CR is optional.
    let content_end = if lf > start && buf.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
    Some(Line {
        start,
        content_end,
        end: lf + 1,
    })
}

/// Indexes header lines from `from` up to the empty line. `Ok(None)` means
/// the empty line has not arrived yet. In lax mode (stream framing) malformed
/// lines are skipped, because only Content-Length matters for framing and the
/// full parse will report them with the message boundary still intact.
fn scan_headers(
    buf: &[u8],
    from: usize,
    limits: &Limits,
    strict: bool,
) -> Result<Option<(Vec<HeaderEntry>, usize)>, ParseError> {
    let mut headers: Vec<HeaderEntry> = Vec::new();
    let mut pos = from;
    let mut last_was_skipped = false;
    loop {
        let Some(line) = next_line(buf, pos) else {
            if buf.len() > limits.max_message_size {
                return Err(ParseError::TooLarge {
                    size: buf.len(),
                    limit: limits.max_message_size,
                });
            }
            return Ok(None);
        };
        if line.end > limits.max_message_size {
            return Err(ParseError::TooLarge {
                size: line.end,
                limit: limits.max_message_size,
            });
        }
        pos = line.end;
        if line.content_end == line.start {
            break;
        }
        let first = buf.get(line.start).copied().unwrap_or(b' ');
        if first == b' ' || first == b'\t' {
            match headers.last_mut() {
                Some(last) if !last_was_skipped => {
                    last.line.end = line.end;
                    last.value.end = line.content_end;
                    last.folded = true;
                }
                _ if !strict => {}
                _ => {
                    return Err(ParseError::HeaderLine {
                        offset: line.start,
                        reason: "continuation line without a header",
                    })
                }
            }
            continue;
        }
        match header_line(buf, line) {
            Ok(entry) => {
                if headers.len() >= limits.max_headers {
                    return Err(ParseError::TooManyHeaders {
                        limit: limits.max_headers,
                    });
                }
                headers.push(entry);
                last_was_skipped = false;
            }
            Err(reason) if strict => {
                return Err(ParseError::HeaderLine {
                    offset: line.start,
                    reason,
                })
            }
            Err(_) => last_was_skipped = true,
        }
    }
    for h in &mut headers {
        h.value = trim_lws(buf, h.value);
    }
    Ok(Some((headers, pos)))
}

fn header_line(buf: &[u8], line: Line) -> Result<HeaderEntry, &'static str> {
    let content = buf.get(line.start..line.content_end).unwrap_or_default();
    let name_len = content.iter().take_while(|b| is_token_char(**b)).count();
    if name_len == 0 {
        return Err("header name is not a token");
    }
    let after_name = content.get(name_len..).unwrap_or_default();
    let ws = after_name
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    if after_name.get(ws) != Some(&b':') {
        return Err("header name not followed by ':'");
    }
    let name = Span::new(line.start, line.start + name_len);
    let value_start = line.start + name_len + ws + 1;
    Ok(HeaderEntry {
        line: Span::new(line.start, line.end),
        name,
        value: Span::new(value_start, line.content_end),
        kind: HeaderName::from_bytes(content.get(..name_len).unwrap_or_default()),
        folded: false,
    })
}

fn parse_start_line(bytes: &Bytes, line: Line) -> Result<StartLine, ParseError> {
    let offset = line.start;
    let content = bytes.get(line.start..line.content_end).unwrap_or_default();
    let bad = |reason| ParseError::StartLine { reason };
    if starts_with_ignore_case(content, b"SIP/") {
        // SIP-Version SP Status-Code SP Reason-Phrase
        let sp = memchr::memchr(b' ', content).ok_or(bad("status line has no status code"))?;
        let version = content.get(..sp).unwrap_or_default();
        if !is_version(version) {
            return Err(bad("malformed SIP version"));
        }
        let rest = content.get(sp + 1..).unwrap_or_default();
        let code = rest
            .get(..3)
            .ok_or(bad("status code is not three digits"))?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(bad("status code is not three digits"));
        }
        let status = code
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        let reason_start = match rest.get(3) {
            None => 3,
            Some(b' ') => 4,
            Some(_) => return Err(bad("status code is not three digits")),
        };
        let base = offset + sp + 1;
        return Ok(StartLine::Response {
            version: Span::new(offset, offset + sp),
            status,
            reason: Span::new(base + reason_start.min(rest.len()), base + rest.len()),
        });
    }
    // Method SP Request-URI SP SIP-Version, single spaces only: the RFC 4475
    // cases with extra or trailing SP are rejected rather than normalised.
    let sp1 = memchr::memchr(b' ', content).ok_or(bad("request line has too few parts"))?;
    let method = content.get(..sp1).unwrap_or_default();
    if method.is_empty() || !method.iter().all(|b| is_token_char(*b)) {
        return Err(bad("method is not a token"));
    }
    let after = content.get(sp1 + 1..).unwrap_or_default();
    let sp2 = memchr::memchr(b' ', after).ok_or(bad("request line has too few parts"))?;
    let uri = after.get(..sp2).unwrap_or_default();
    if uri.is_empty() || uri.iter().any(|b| *b <= b' ' || *b == 0x7f) {
        return Err(bad("Request-URI is empty or contains control characters"));
    }
    let version = after.get(sp2 + 1..).unwrap_or_default();
    if !is_version(version) {
        return Err(bad("malformed SIP version"));
    }
    let uri_start = offset + sp1 + 1;
    let version_start = uri_start + sp2 + 1;
    Ok(StartLine::Request {
        method: Method::from_bytes(
            bytes
                .get(offset..offset + sp1)
                .map_or_else(Bytes::new, |m| bytes.slice_ref(m)),
        ),
        uri: Span::new(uri_start, uri_start + sp2),
        version: Span::new(version_start, version_start + version.len()),
    })
}

/// `SIP/` 1*DIGIT `.` 1*DIGIT; the version number itself is judged by
/// `validate`, which owes a 505 rather than a parse failure.
fn is_version(v: &[u8]) -> bool {
    if !starts_with_ignore_case(v, b"SIP/") {
        return false;
    }
    let num = v.get(4..).unwrap_or_default();
    let mut parts = num.splitn(2, |b| *b == b'.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && !minor.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && minor.iter().all(u8::is_ascii_digit)
}

/// The declared body length: `Ok(None)` when absent.
fn content_length(
    buf: &[u8],
    headers: &[HeaderEntry],
) -> Result<Option<usize>, ContentLengthProblem> {
    let mut found: Option<usize> = None;
    for h in headers
        .iter()
        .filter(|h| h.kind == HeaderName::ContentLength)
    {
        // Lax framing has not trimmed values yet; trimming twice is harmless.
        let raw = buf.get(trim_lws(buf, h.value).range()).unwrap_or_default();
        let n = parse_decimal(raw)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(ContentLengthProblem::Invalid)?;
        match found {
            Some(prev) if prev != n => return Err(ContentLengthProblem::Conflicting),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// Strict `1*DIGIT`, with overflow reported as `None` instead of wrapping.
pub(crate) fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| {
        if d.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Whitespace inside a header value. CR and LF count because a value span
/// keeps its folding line breaks, and those are LWS by definition.
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

pub(crate) fn trim_lws(buf: &[u8], span: Span) -> Span {
    let bytes = buf.get(span.range()).unwrap_or_default();
    let lead = bytes.iter().take_while(|b| is_lws(**b)).count();
    let trail = bytes
        .iter()
        .rev()
        .take(bytes.len() - lead)
        .take_while(|b| is_lws(**b))
        .count();
    Span::new(span.start + lead, span.end - trail)
}

pub(crate) fn starts_with_ignore_case(hay: &[u8], prefix: &[u8]) -> bool {
    hay.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK1\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
Call-ID: abc\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

    #[test]
    fn frames_several_messages_and_a_half() {
        let mut buf = Vec::new();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(OPTIONS);
        buf.extend_from_slice(OPTIONS);
        buf.extend_from_slice(&OPTIONS[..OPTIONS.len() - 3]);
        let mut rest = &buf[..];
        let mut seen = Vec::new();
        loop {
            match frame_stream(rest, DEFAULT_MAX_MESSAGE_SIZE).unwrap() {
                Frame::KeepAlive { len, pings } => {
                    assert_eq!((len, pings), (4, 1));
                    rest = &rest[len..];
                }
                Frame::Message(n) => {
                    seen.push(&rest[..n]);
                    rest = &rest[n..];
                }
                Frame::Incomplete => break,
            }
        }
        assert_eq!(seen, vec![OPTIONS, OPTIONS]);
        assert_eq!(rest.len(), OPTIONS.len() - 3);
    }

    #[test]
    fn half_ping_waits() {
        assert_eq!(frame_stream(b"\r\n", 100).unwrap(), Frame::Incomplete);
        assert_eq!(
            frame_stream(b"\r\nINV", 100).unwrap(),
            Frame::KeepAlive { len: 2, pings: 0 }
        );
    }

    #[test]
    fn stream_requires_content_length() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        assert!(matches!(
            frame_stream(msg, 1000),
            Err(ParseError::ContentLength {
                problem: ContentLengthProblem::Missing,
                ..
            })
        ));
        let compact = b"OPTIONS sip:a@b SIP/2.0\r\nl : 2\r\n\r\nhi";
        assert_eq!(
            frame_stream(compact, 1000).unwrap(),
            Frame::Message(compact.len())
        );
    }

    #[test]
    fn stream_tolerates_bare_lf() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\nContent-Length: 2\n\nhiX";
        assert_eq!(
            frame_stream(msg, 1000).unwrap(),
            Frame::Message(msg.len() - 1)
        );
    }

    #[test]
    fn stream_size_limit() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n";
        assert!(matches!(
            frame_stream(msg, 1000),
            Err(ParseError::TooLarge { .. })
        ));
        let no_end = vec![b'a'; 2000];
        assert!(matches!(
            frame_stream(&no_end, 1000),
            Err(ParseError::TooLarge { .. })
        ));
    }

    #[test]
    fn negative_content_length_is_invalid() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(
            frame_stream(msg, 1000),
            Err(ParseError::ContentLength {
                problem: ContentLengthProblem::Invalid,
                ..
            })
        ));
    }

    #[test]
    fn datagram_body_is_cut_to_content_length() {
        let mut d = OPTIONS.to_vec();
        d.extend_from_slice(b"JUNK");
        let msg = parse(Bytes::from(d), true).unwrap();
        assert_eq!(msg.body(), b"hello");
        assert!(parse(Bytes::from_static(OPTIONS), false).is_ok());
        let mut d = OPTIONS.to_vec();
        d.extend_from_slice(b"JUNK");
        assert!(matches!(
            parse(Bytes::from(d), false),
            Err(ParseError::ContentLength {
                problem: ContentLengthProblem::Trailing { .. },
                ..
            })
        ));
    }

    #[test]
    fn truncated_datagram_keeps_headers_for_a_reply() {
        let short = &OPTIONS[..OPTIONS.len() - 2];
        match parse(Bytes::copy_from_slice(short), true) {
            Err(ParseError::ContentLength {
                problem:
                    ContentLengthProblem::Truncated {
                        declared,
                        available,
                    },
                message: Some(m),
            }) => {
                assert_eq!((declared, available), (5, 3));
                assert_eq!(m.call_id().unwrap().as_ref(), b"abc");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn start_line_shapes() {
        let bad: &[&[u8]] = &[
            b"INVITE  sip:a@b SIP/2.0\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0 \r\n\r\n",
            b"INVITE sip:a@b; lr SIP/2.0\r\n\r\n",
            b"SIP/2.0 4294967301 big\r\n\r\n",
            b"SIP/2.0 20 short\r\n\r\n",
            b"INVITE sip:a@b SIP/2\r\n\r\n",
        ];
        for b in bad {
            assert!(
                matches!(
                    parse(Bytes::from_static(b), true),
                    Err(ParseError::StartLine { .. })
                ),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        let m = parse(Bytes::from_static(b"SIP/2.0 100 \r\n\r\n"), true).unwrap();
        assert_eq!((m.status(), m.reason()), (Some(100), Some(&b""[..])));
        let m = parse(Bytes::from_static(b"SIP/2.0 180\r\n\r\n"), true).unwrap();
        assert_eq!(m.status(), Some(180));
    }

    #[test]
    fn header_count_limit() {
        let mut d = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        for _ in 0..5 {
            d.extend_from_slice(b"X: y\r\n");
        }
        d.extend_from_slice(b"\r\n");
        let limits = Limits {
            max_headers: 4,
            ..Limits::default()
        };
        assert!(matches!(
            parse_with_limits(Bytes::from(d), true, &limits),
            Err(ParseError::TooManyHeaders { limit: 4 })
        ));
    }

    #[test]
    fn header_line_errors() {
        let d = b"OPTIONS sip:a@b SIP/2.0\r\n folded-first\r\n\r\n";
        assert!(matches!(
            parse(Bytes::from_static(d), true),
            Err(ParseError::HeaderLine { .. })
        ));
        let d = b"OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n\r\n";
        assert!(matches!(
            parse(Bytes::from_static(d), true),
            Err(ParseError::HeaderLine { .. })
        ));
        let d = b"OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n";
        assert!(matches!(
            parse(Bytes::from_static(d), true),
            Err(ParseError::UnterminatedHeaders)
        ));
    }

    #[test]
    fn decimal_overflow() {
        assert_eq!(parse_decimal(b"0009"), Some(9));
        assert_eq!(parse_decimal(b"36893488147419103232"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-1"), None);
    }
}
