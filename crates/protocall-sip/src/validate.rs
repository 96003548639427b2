//! Admission checks for parsed messages.
//!
//! This module owns the decision "may this message enter the proxy, and if
//! not, what is owed to the sender": the status code and reason phrase RFC
//! 3261 and RFC 4475 (§3.1.2, §3.3) call for, or a silent drop where no
//! reply may be sent (malformed responses, unframeable input). It only
//! checks what every element must check; application policy (420 for
//! unknown Require tags, 483 for Max-Forwards 0, 501 for unknown methods)
//! stays with the caller.

use super::message::{HeaderError, HeaderName, Scheme, SipMessage, StartLine};
use super::parse::{is_lws, ParseError};

/// Why a message is refused.
///
/// `reason` strings are built only from fixed text and canonical header
/// names, never from received bytes, so they are safe to put on a status
/// line as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Answer the request with this status and reason phrase.
    #[error("reply {code} {reason}")]
    Respond { code: u16, reason: String },
    /// Discard without a reply.
    #[error("drop: {why}")]
    Drop { why: String },
}

impl Reject {
    /// The status owed, `None` for a drop.
    pub fn code(&self) -> Option<u16> {
        match self {
            Reject::Respond { code, .. } => Some(*code),
            Reject::Drop { .. } => None,
        }
    }

    fn bad_request(reason: impl Into<String>) -> Reject {
        Reject::Respond {
            code: 400,
            reason: reason.into(),
        }
    }

    fn drop(why: impl Into<String>) -> Reject {
        Reject::Drop { why: why.into() }
    }
}

/// Headers every request and response must carry (RFC 3261 §8.1.1).
/// Max-Forwards is left out: RFC 2543 peers omit it and RFC 4475 §3.4.1
/// says to accept that.
const MANDATORY: [(HeaderName, &str); 5] = [
    (HeaderName::To, "To"),
    (HeaderName::From, "From"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::Via, "Via"),
];

/// Headers that may appear once only; a second copy makes the dialog or
/// transaction ambiguous (RFC 4475 §3.3.8).
const SINGLE_VALUED: [(HeaderName, &str); 8] = [
    (HeaderName::To, "To"),
    (HeaderName::From, "From"),
    (HeaderName::CallId, "Call-ID"),
    (HeaderName::CSeq, "CSeq"),
    (HeaderName::MaxForwards, "Max-Forwards"),
    (HeaderName::ContentLength, "Content-Length"),
    (HeaderName::ContentType, "Content-Type"),
    (HeaderName::Expires, "Expires"),
];

fn count(msg: &SipMessage, kind: HeaderName) -> usize {
    msg.header_entries()
        .iter()
        .filter(|h| h.kind == kind)
        .count()
}

/// Common structure checks; `Err` carries the reason text.
fn check_common(msg: &SipMessage) -> Result<(), String> {
    for (kind, label) in MANDATORY {
        if count(msg, kind) == 0 {
            return Err(format!("Missing {label} header"));
        }
    }
    for (kind, label) in SINGLE_VALUED {
        if count(msg, kind) > 1 {
            return Err(format!("Multiple {label} headers"));
        }
    }
    check_control_chars(msg)?;
    let call_id = msg.call_id().unwrap_or_default();
    if call_id.is_empty() || call_id.iter().any(|b| is_lws(*b)) {
        return Err("Malformed Call-ID header".to_owned());
    }
    msg.from().map_err(|e| header_reason(&e))?;
    msg.to().map_err(|e| header_reason(&e))?;
    // A Via header whose value lists nothing ("Via: ", "Via: ,") is counted
    // above but names no hop, and every reply and relay reads the top one.
    if msg.vias().next().is_none() {
        return Err("Empty Via header".to_owned());
    }
    for via in msg.vias() {
        let via = via.map_err(|e| header_reason(&e))?;
        if !via.protocol.eq_ignore_ascii_case(b"SIP") || via.version.as_ref() != b"2.0" {
            return Err("Via sent-protocol is not SIP/2.0".to_owned());
        }
    }
    Ok(())
}

/// RFC 3261 §25.1 leaves no room for control characters in a header value
/// outside a quoted-pair, and they are how bad bytes reach logs and the
/// store (PostgreSQL refuses a NUL in text). A control is 0x00-0x1F but
/// HTAB, and 0x7F; UTF-8 is fine.
fn is_ctl(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Refuses a header value carrying a control character, naming the header
/// when it is one we know (an extension header's name is received bytes,
/// which never go on a status line).
fn check_control_chars(msg: &SipMessage) -> Result<(), String> {
    for h in msg.header_entries() {
        let value = msg.span_bytes(h.value);
        // Almost every value is plain text: one pass and done.
        if !value.iter().any(|b| is_ctl(*b)) {
            continue;
        }
        // The Call-ID is a key (dialogs, the call log, the store): it is a
        // `word`, which has no quoted-pair, so no escape makes a control
        // acceptable there.
        if !controls_are_legal(value, h.kind != HeaderName::CallId) {
            return Err(match h.kind.canonical() {
                Some(name) => format!("Control character in {name} header"),
                None => "Control character in an extension header".to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether every control character in `value` is one RFC 3261 allows: the
/// line break of a fold (CRLF or a tolerated bare LF, then SP or HTAB) or
/// the second half of a quoted-pair inside a quoted-string, which may be
/// anything but CR and LF (RFC 4475 §3.1.1.2 puts NUL, BEL and DEL there),
/// when the header's grammar has quoted strings at all (`quoted_pairs`).
fn controls_are_legal(value: &[u8], quoted_pairs: bool) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'\r' || b == b'\n' {
            let lf = if b == b'\r' { i + 1 } else { i };
            if value.get(lf) != Some(&b'\n') || !matches!(value.get(lf + 1), Some(b' ' | b'\t')) {
                return false;
            }
            // A fold is whitespace; it ends no quoted-string and escapes
            // nothing (a quoted-pair cannot hold CR or LF).
            escaped = false;
            i = lf + 1;
            continue;
        }
        if escaped {
            escaped = false;
        } else if is_ctl(b) {
            return false;
        } else if quoted_pairs && quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    true
}

fn header_reason(e: &HeaderError) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// Decides whether a request may be processed, or what to answer.
pub fn check_request(msg: &SipMessage) -> Result<(), Reject> {
    if !matches!(msg.start_line(), StartLine::Request { .. }) {
        return Err(Reject::drop("not a request"));
    }
    if !msg.version().eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(Reject::Respond {
            code: 505,
            reason: "Version Not Supported".to_owned(),
        });
    }
    check_common(msg).map_err(Reject::bad_request)?;

    let uri = match msg.parsed_request_uri() {
        Some(Ok(uri)) => uri,
        _ => return Err(Reject::bad_request("Malformed Request-URI")),
    };
    if let Scheme::Other(_) = uri.scheme {
        return Err(Reject::Respond {
            code: 416,
            reason: "Unsupported URI Scheme".to_owned(),
        });
    }
    // RFC 3261 §19.1.1 forbids headers in a Request-URI; forwarding one
    // could let a sender smuggle a Route (RFC 4475 §3.1.2.11).
    if uri.headers.is_some() {
        return Err(Reject::bad_request("Request-URI must not carry headers"));
    }

    let (_, cseq_method) = msg
        .cseq()
        .map_err(|e| Reject::bad_request(header_reason(&e)))?;
    if Some(cseq_method) != msg.method() {
        return Err(Reject::bad_request(
            "CSeq method does not match the request",
        ));
    }
    match msg.max_forwards() {
        Ok(Some(n)) if n > 255 => {
            return Err(Reject::bad_request("Max-Forwards out of range"));
        }
        Ok(_) => {}
        Err(e) => return Err(Reject::bad_request(header_reason(&e))),
    }
    msg.expires()
        .map_err(|e| Reject::bad_request(header_reason(&e)))?;
    for contact in msg.contacts() {
        contact.map_err(|e| Reject::bad_request(header_reason(&e)))?;
    }
    for route in msg.routes().chain(msg.record_routes()) {
        route.map_err(|e| Reject::bad_request(header_reason(&e)))?;
    }
    Ok(())
}

/// Decides whether a response may be processed. A bad response is never
/// answered (RFC 3261 §8.1.3.1 has it discarded), so every failure is a drop.
pub fn check_response(msg: &SipMessage) -> Result<(), Reject> {
    let StartLine::Response { status, .. } = *msg.start_line() else {
        return Err(Reject::drop("not a response"));
    };
    if !msg.version().eq_ignore_ascii_case(b"SIP/2.0") {
        return Err(Reject::drop("unsupported SIP version"));
    }
    if !(100..=699).contains(&status) {
        return Err(Reject::drop("status code outside 100..699"));
    }
    check_common(msg).map_err(Reject::drop)?;
    msg.cseq().map_err(|e| Reject::drop(e.to_string()))?;
    Ok(())
}

/// What to do about a message that did not parse. Only a request whose
/// headers were indexed before its Content-Length failed can be answered
/// (RFC 4475 §3.1.2.2); anything else lacks the headers a reply needs. On a
/// stream transport the connection must be closed as well, since framing is
/// lost.
pub fn reject_for_parse_error(err: &ParseError) -> Reject {
    match err {
        ParseError::ContentLength {
            message: Some(msg), ..
        } if msg.is_request() && can_answer(msg) => Reject::bad_request("Bad Content-Length"),
        other => Reject::drop(other.to_string()),
    }
}

/// A reply copies Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2), so
/// those must be present and the top Via usable to route it back.
fn can_answer(msg: &SipMessage) -> bool {
    MANDATORY.iter().all(|(kind, _)| count(msg, *kind) > 0) && msg.top_via().is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::super::parse::parse;
    use super::*;
    use bytes::Bytes;

    const BASE: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
Call-ID: abc@h\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n";

    fn check(extra: &str) -> Result<(), Reject> {
        let text = if extra.is_empty() {
            format!("{BASE}\r\n")
        } else {
            format!("{BASE}{extra}\r\n\r\n")
        };
        match parse(Bytes::from(text), true) {
            Ok(m) => check_request(&m),
            Err(e) => Err(reject_for_parse_error(&e)),
        }
    }

    fn check_replaced(from: &str, to: &str) -> Result<(), Reject> {
        let text = format!("{}\r\n", BASE.replace(from, to));
        match parse(Bytes::from(text), true) {
            Ok(m) => check_request(&m),
            Err(e) => Err(reject_for_parse_error(&e)),
        }
    }

    #[test]
    fn accepts_baseline() {
        assert_eq!(check(""), Ok(()));
        assert_eq!(check("Contact: *\r\nExpires: 0"), Ok(()));
    }

    #[test]
    fn missing_headers_are_named() {
        for (line, name) in [
            ("To: <sip:bob@example.com>\r\n", "To"),
            ("Call-ID: abc@h\r\n", "Call-ID"),
            ("Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n", "Via"),
        ] {
            let r = check_replaced(line, "").unwrap_err();
            assert_eq!(
                r,
                Reject::Respond {
                    code: 400,
                    reason: format!("Missing {name} header")
                }
            );
        }
        assert_eq!(check_replaced("Max-Forwards: 70\r\n", ""), Ok(()));
    }

    /// Found by the fuzzer: a Via line listing nothing passed the count
    /// check, and the proxy then had no top Via to answer or relay by.
    #[test]
    fn an_empty_via_is_refused() {
        let via = "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n";
        for empty in ["Via: \r\n", "Via:\r\n", "Via: \t \r\n"] {
            assert_eq!(
                check_replaced(via, empty),
                Err(Reject::Respond {
                    code: 400,
                    reason: "Empty Via header".to_owned()
                }),
                "{empty:?}"
            );
        }
        for hollow in ["Via: ,\r\n", "Via: , ,\r\n"] {
            let reject = check_replaced(via, hollow).unwrap_err();
            assert_eq!(reject.code(), Some(400), "{hollow:?}");
        }
    }

    #[test]
    fn request_refusals() {
        let code = |r: Result<(), Reject>| r.unwrap_err().code();
        assert_eq!(
            code(check_replaced("SIP/2.0\r\n", "SIP/3.0\r\n")),
            Some(505)
        );
        assert_eq!(code(check_replaced("sip:bob@", "xmpp:bob@")), Some(416));
        assert_eq!(code(check_replaced("1 OPTIONS", "1 INVITE")), Some(400));
        assert_eq!(
            code(check_replaced("1 OPTIONS", "2147483648 OPTIONS")),
            Some(400)
        );
        assert_eq!(
            code(check_replaced("Max-Forwards: 70", "Max-Forwards: x")),
            Some(400)
        );
        assert_eq!(
            code(check_replaced("Max-Forwards: 70", "Max-Forwards: 256")),
            Some(400)
        );
        assert_eq!(code(check("To: <sip:x@y>")), Some(400));
        assert_eq!(code(check("i: other")), Some(400));
        assert_eq!(code(check("Expires: -5")), Some(400));
        assert_eq!(code(check("Contact: <sip:a@b>;;")), Some(400));
        assert_eq!(code(check("Content-Length: 0\r\nl: 0")), Some(400));
        assert_eq!(
            code(check_replaced("example.com SIP", "example.com?X=y SIP")),
            Some(400)
        );
    }

    fn bad(reason: &str) -> Result<(), Reject> {
        Err(Reject::Respond {
            code: 400,
            reason: reason.to_owned(),
        })
    }

    #[test]
    fn control_characters_in_call_id_are_refused() {
        let want = bad("Control character in Call-ID header");
        for ctl in ["\0", "\x01", "\x07", "\x1b", "\x1f", "\x7f", "\r"] {
            let id = format!("a{ctl}b@h");
            assert_eq!(check_replaced("abc@h", &id), want, "{id:?}");
        }
        // A Call-ID has no quoted strings: an escape makes nothing legal.
        assert_eq!(check_replaced("abc@h", "\"\\\0\"@h"), want);
        assert_eq!(check_replaced("Call-ID: abc@h", "i: x\0@h"), want);
    }

    #[test]
    fn control_characters_in_other_headers_name_the_header() {
        assert_eq!(
            check_replaced("<sip:alice@", "\"A\0\" <sip:alice@"),
            bad("Control character in From header")
        );
        assert_eq!(
            check("Subject: hi\x08there"),
            bad("Control character in Subject header")
        );
        assert_eq!(
            check("X-Anything: a\x7fb"),
            bad("Control character in an extension header")
        );
        // Outside a quoted string a backslash escapes nothing.
        assert_eq!(
            check("Subject: a\\\0b"),
            bad("Control character in Subject header")
        );
        // A bare CR is not a fold.
        assert_eq!(
            check("Subject: a\rb"),
            bad("Control character in Subject header")
        );
    }

    #[test]
    fn what_the_grammar_allows_stays_allowed() {
        // HTAB, UTF-8, a folded value, and a quoted-pair holding NUL, BEL and
        // DEL in a display name (RFC 4475 §3.1.1.2).
        assert_eq!(check("Subject: a\tb"), Ok(()));
        assert_eq!(check("Subject: работающий ☎"), Ok(()));
        assert_eq!(check("Subject: one\r\n two\r\n\tthree"), Ok(()));
        assert_eq!(check("Subject: one\n two"), Ok(()), "bare-LF fold");
        assert_eq!(
            check_replaced(
                "To: <sip:bob@",
                "To: \"BEL:\\\x07 NUL:\\\0 DEL:\\\x7f\" <sip:bob@"
            ),
            Ok(())
        );
        // ...but only escaped, and only inside the quotes.
        assert_eq!(
            check_replaced("To: <sip:bob@", "To: \"a\0\" <sip:bob@"),
            bad("Control character in To header")
        );
        assert_eq!(
            check_replaced("To: <sip:bob@", "To: \"a\" \\\0 <sip:bob@"),
            bad("Control character in To header")
        );
    }

    #[test]
    fn a_response_with_a_control_character_is_dropped() {
        let text = format!(
            "SIP/2.0 200 OK\r\n{}\r\n",
            BASE.split_once("\r\n").unwrap().1.replace("abc@h", "a\0@h")
        );
        let r = check_response(&parse(Bytes::from(text), true).unwrap());
        assert_eq!(r.unwrap_err().code(), None);
    }

    #[test]
    fn content_length_errors_map_to_400() {
        let r = check("Content-Length: 10");
        assert_eq!(r.unwrap_err().code(), Some(400));
        let r = check_replaced("CSeq: 1 OPTIONS\r\n", "CSeq: 1 OPTIONS\r\nl: -1\r\n");
        assert_eq!(r.unwrap_err().code(), Some(400));
    }

    #[test]
    fn responses() {
        let resp = |line: &str| {
            let text = format!("{line}\r\n{}\r\n", BASE.split_once("\r\n").unwrap().1);
            check_response(&parse(Bytes::from(text), true).unwrap())
        };
        assert_eq!(resp("SIP/2.0 200 OK"), Ok(()));
        assert_eq!(resp("SIP/2.0 099 Low").unwrap_err().code(), None);
        assert_eq!(resp("SIP/2.0 700 High").unwrap_err().code(), None);
        assert!(resp("SIP/3.0 200 OK").is_err());
        let req = parse(Bytes::from(format!("{BASE}\r\n")), true).unwrap();
        assert!(check_response(&req).is_err());
    }
}
