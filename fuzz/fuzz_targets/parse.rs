//! Fuzz target `parse`: the SIP message parser under both framings, then
//! every typed accessor and the admission checks on whatever parsed.
//!
//! Beyond "never panics" it asserts what the rest of the daemon relies on:
//! the span index stays inside the buffer, stream framing and stream parsing
//! agree on where a message ends, a message `check_request` accepts yields
//! every header the proxy reads without error, and the responses and relayed
//! copies `edit` writes for an accepted message parse again.

#![no_main]

use std::net::SocketAddr;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use protocall::sip::edit::{hop_request, response, Relay};
use protocall::sip::message::{split_list, unfold, Contact, NameAddr, SipMessage, Span, Uri, Via};
use protocall::sip::parse::{
    frame_stream, parse, parse_with_limits, ContentLengthProblem, Frame, Limits, ParseError,
    DEFAULT_MAX_MESSAGE_SIZE,
};
use protocall::sip::validate::{check_request, check_response, reject_for_parse_error, Reject};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    for datagram in [true, false] {
        match parse(bytes.clone(), datagram) {
            Ok(msg) => exercise(&msg, datagram),
            Err(e) => on_error(&e, datagram),
        }
    }
    stream(data);
});

/// Walks a receive buffer the way the TCP transport does and parses each
/// frame it reports.
fn stream(data: &[u8]) {
    let mut rest = data;
    // Each round consumes at least one byte, so this ends.
    while !rest.is_empty() {
        match frame_stream(rest, DEFAULT_MAX_MESSAGE_SIZE) {
            Ok(Frame::Incomplete) | Err(_) => return,
            Ok(Frame::KeepAlive { len, pings }) => {
                assert!(
                    len > 0 && len <= rest.len(),
                    "keep-alive of {len} in {}",
                    rest.len()
                );
                assert!(pings <= len / 4, "{pings} pings in {len} bytes");
                rest = &rest[len..];
            }
            Ok(Frame::Message(n)) => {
                assert!(n > 0 && n <= rest.len(), "frame of {n} in {}", rest.len());
                let frame = Bytes::copy_from_slice(&rest[..n]);
                match parse(frame, false) {
                    Ok(msg) => {
                        assert_eq!(msg.as_bytes().len(), n);
                        assert_eq!(msg.body_span().end, n, "stream body must end the frame");
                        exercise(&msg, false);
                    }
                    Err(ParseError::ContentLength { problem, .. }) => {
                        // The framer read the same Content-Length; only a
                        // stricter header check may still refuse the frame.
                        assert!(
                            !matches!(
                                problem,
                                ContentLengthProblem::Truncated { .. }
                                    | ContentLengthProblem::Trailing { .. }
                                    | ContentLengthProblem::Missing
                            ),
                            "framer and parser disagree: {problem}"
                        );
                    }
                    Err(e) => on_error(&e, false),
                }
                rest = &rest[n..];
            }
        }
    }
}

fn on_error(e: &ParseError, datagram: bool) {
    let _ = e.to_string();
    let reject = reject_for_parse_error(e);
    if let ParseError::ContentLength {
        message: Some(msg), ..
    } = e
    {
        check_span_index(msg);
        exercise_accessors(msg);
        if let Reject::Respond { code, .. } = reject {
            // The only reply owed to an unparsable message is a 400 built
            // from its indexed headers; it must be a message too.
            assert_eq!(code, 400);
            reply_parses(msg, code, datagram);
        }
    } else {
        assert!(matches!(reject, Reject::Drop { .. }), "{reject:?} for {e}");
    }
}

fn exercise(msg: &SipMessage, datagram: bool) {
    check_span_index(msg);
    exercise_accessors(msg);
    if msg.is_request() {
        match check_request(msg) {
            Ok(()) => accepted_request(msg, datagram),
            Err(Reject::Respond { code, reason }) => {
                assert!((400..=699).contains(&code), "reject code {code}");
                assert!(
                    reason.bytes().all(|b| (0x20..0x7f).contains(&b)),
                    "reason phrase must be plain text: {reason:?}"
                );
                reply_parses(msg, code, datagram);
            }
            Err(Reject::Drop { .. }) => {}
        }
        assert!(check_response(msg).is_err(), "a request is not a response");
    } else {
        if check_response(msg).is_ok() {
            accepted_response(msg);
        }
        assert!(check_request(msg).is_err(), "a response is not a request");
    }
}

/// Every span the index hands out must lie inside the buffer: the accessors
/// read through `get(..)` and would silently see nothing otherwise.
fn check_span_index(msg: &SipMessage) {
    let len = msg.as_bytes().len();
    let ok = |s: Span| s.start <= s.end && s.end <= len;
    assert!(ok(msg.start_line_span()));
    assert!(ok(msg.body_span()));
    let mut prev_end = msg.start_line_span().end;
    for h in msg.header_entries() {
        assert!(
            ok(h.line) && ok(h.name) && ok(h.value),
            "{h:?} outside {len}"
        );
        assert!(h.line.start >= prev_end, "header lines overlap: {h:?}");
        assert!(h.name.start == h.line.start && h.name.end <= h.value.start);
        assert!(h.value.end <= h.line.end);
        assert!(!h.name.is_empty());
        prev_end = h.line.end;
    }
    assert!(msg.body_span().start >= prev_end);
    if let Some(n) = msg.content_length() {
        assert_eq!(msg.body().len(), n, "body must be cut to Content-Length");
    }
}

fn exercise_accessors(msg: &SipMessage) {
    let _ = (
        msg.method(),
        msg.version(),
        msg.status(),
        msg.reason(),
        msg.body(),
    );
    let _ = (msg.request_uri(), msg.content_length());
    if let Some(Ok(uri)) = msg.parsed_request_uri() {
        uri_round_trip(&uri);
    }
    for v in msg.vias().flatten() {
        via_round_trip(&v);
    }
    let _ = msg.top_via();
    let _ = (msg.cseq(), msg.max_forwards(), msg.expires(), msg.call_id());
    for na in [msg.from(), msg.to()].into_iter().flatten() {
        name_addr_round_trip(&na);
    }
    let _ = (msg.from_tag(), msg.to_tag());
    for c in msg.contacts().flatten() {
        if let Contact::Addr(na) = c {
            name_addr_round_trip(&na);
        }
    }
    for na in msg.routes().chain(msg.record_routes()).flatten() {
        name_addr_round_trip(&na);
    }
    for h in msg.header_entries() {
        let name = String::from_utf8_lossy(msg.span_bytes(h.name)).into_owned();
        let count = msg.header_count(&name);
        assert!(count >= 1, "header {name:?} present but counted {count}");
        let first = msg.header(&name);
        for v in msg.headers(&name) {
            let _ = split_list(&v);
            let _ = NameAddr::parse(Bytes::copy_from_slice(&v));
        }
        if let Some(v) = first {
            let u = unfold(&v);
            assert!(!u.contains(&b'\r') && !u.contains(&b'\n'));
        }
    }
}

/// Parsing what a parser kept must give the same thing back.
fn uri_round_trip(uri: &Uri) {
    let again = Uri::parse(uri.raw.clone()).expect("a parsed URI's raw text parses");
    assert_eq!(&again, uri);
    let _ = (
        uri.is_loose_route(),
        uri.transport(),
        uri.maddr(),
        uri.user_param(),
    );
}

fn via_round_trip(via: &Via) {
    let again = Via::parse(via.raw.clone()).expect("a parsed Via's raw text parses");
    assert_eq!(&again, via);
}

fn name_addr_round_trip(na: &NameAddr) {
    uri_round_trip(&na.uri);
    let _ = na.tag();
}

/// What `check_request` accepts, the proxy reads without re-checking.
fn accepted_request(msg: &SipMessage, datagram: bool) {
    let uri = msg
        .parsed_request_uri()
        .expect("a request has a Request-URI")
        .expect("accepted request has a parsable Request-URI");
    assert!(uri.headers.is_none());
    let (_, method) = msg.cseq().expect("accepted request has a CSeq");
    assert_eq!(Some(method), msg.method());
    msg.top_via().expect("accepted request has a top Via");
    assert!(msg.vias().all(|v| v.is_ok()));
    msg.from().expect("accepted request has a From");
    msg.to().expect("accepted request has a To");
    assert!(msg.call_id().is_some_and(|c| !c.is_empty()));
    assert!(msg.max_forwards().is_ok_and(|m| m.is_none_or(|n| n <= 255)));
    assert!(msg.expires().is_ok());
    assert!(msg.contacts().all(|c| c.is_ok()));
    assert!(msg.routes().chain(msg.record_routes()).all(|r| r.is_ok()));

    for code in [100, 180, 200, 407, 486] {
        reply_parses(msg, code, datagram);
    }
    let source: SocketAddr = "192.0.2.1:5062".parse().expect("literal");
    let relay = Relay {
        request_uri: Some(Bytes::from_static(b"sip:bob@192.0.2.9:5070")),
        push_via: Some("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfuzz".into()),
        pop_via: false,
        push_record_route: Some("<sip:127.0.0.1:5060;lr>".into()),
        pop_route: true,
        replace_routes: None,
        max_forwards: Some(69),
        stamp_via: Some(source),
        assert_identity: Some("<sip:+15550100@127.0.0.1>".into()),
        // Our realm's credentials are consumed here (RFC 3261 §22.3).
        strip_credentials_for: Some("protocall.test".into()),
        // The screen-pop: a display name of our own on whatever From came.
        from_display: Some(protocall::sip::edit::quoted(
            "NetSul \"Telecom\" \u{b7} 2026-000001",
        )),
        subject: Some("Protocolo 2026-000001".into()),
    };
    let relayed = relay.apply(msg);
    let copy = parse(relayed.clone(), datagram).unwrap_or_else(|e| {
        panic!(
            "relayed copy does not parse ({e}): {:?}",
            String::from_utf8_lossy(&relayed)
        )
    });
    assert_eq!(copy.body(), msg.body(), "relaying must not change the body");
    // A new display name never changes who the dialog is with.
    let (before, after) = (
        msg.from().expect("checked above"),
        copy.from().unwrap_or_else(|e| {
            panic!(
                "relayed From does not parse ({e:?}): {:?}",
                String::from_utf8_lossy(&relayed)
            )
        }),
    );
    assert_eq!(before.uri.raw, after.uri.raw, "From URI changed");
    assert_eq!(before.tag(), after.tag(), "From tag changed");
    assert!(copy.is_request());
    let hop = hop_request(&copy, "CANCEL", None);
    if let Err(e) = parse(hop.clone(), datagram) {
        panic!(
            "CANCEL built from it does not parse ({e}): {:?}",
            String::from_utf8_lossy(&hop)
        );
    }
}

fn accepted_response(msg: &SipMessage) {
    msg.cseq().expect("accepted response has a CSeq");
    msg.top_via().expect("accepted response has a top Via");
    let relay = Relay {
        pop_via: true,
        ..Relay::default()
    };
    let out = relay.apply(msg);
    if msg.vias().count() > 1 {
        parse(out.clone(), true).unwrap_or_else(|e| {
            panic!(
                "response with a Via popped does not parse ({e}): {:?}",
                String::from_utf8_lossy(&out)
            )
        });
    }
}

fn reply_parses(msg: &SipMessage, code: u16, datagram: bool) {
    let source: SocketAddr = "192.0.2.1:5062".parse().expect("literal");
    let out = response(msg, code).to_tag("fuzz").source(source).build();
    // A reply must not amplify: beyond the request's own lines only the
    // status line, the Via stamp, the To tag and Content-Length.
    let limits = Limits {
        max_message_size: msg.as_bytes().len() + 256,
        max_headers: msg.header_entries().len() + 2,
    };
    match parse_with_limits(out.clone(), datagram, &limits) {
        Ok(r) => assert_eq!(r.status(), Some(code)),
        Err(e) => panic!(
            "our {code} reply does not parse within the request's size ({e}): {:?}",
            String::from_utf8_lossy(&out)
        ),
    }
}
