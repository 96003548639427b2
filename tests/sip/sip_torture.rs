//! Runs the RFC 4475 / RFC 5118 torture messages listed in
//! `tests/data/sip-torture/MANIFEST.tsv` through parse + validate, each as
//! one UDP datagram (see that folder's README), and pins the exact outcome
//! per file so any behaviour change shows up as a failure.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use protocall::sip::parse::{frame_stream, parse, Frame, DEFAULT_MAX_MESSAGE_SIZE};
use protocall::sip::validate::{check_request, check_response, reject_for_parse_error, Reject};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Parsed and passed validation.
    Accept,
    /// Parsed; validation owes this status.
    Reply(u16),
    /// Parsed; validation drops it (bad response).
    Drop,
    /// Parse failed; the request can still be answered with this status.
    ParseReply(u16),
    /// Parse failed; nothing can be answered.
    ParseDrop,
}

use Outcome::*;

impl Outcome {
    fn refuses(self) -> bool {
        self != Accept
    }
}

/// Expected outcome for every manifest row, with the reason.
const CASES: &[(&str, Outcome, &str)] = &[
    (
        "rfc4475/wsinv.dat",
        Accept,
        "folding, LWS and compact forms all tolerated",
    ),
    (
        "rfc4475/intmeth.dat",
        Accept,
        "unknown method is application policy (501)",
    ),
    ("rfc4475/esc01.dat", Accept, "escapes are kept, not decoded"),
    ("rfc4475/escnull.dat", Accept, "%00 stays escaped"),
    (
        "rfc4475/esc02.dat",
        Accept,
        "RE%47IST%45R is an unknown method; 501 is the application's",
    ),
    (
        "rfc4475/lwsdisp.dat",
        Accept,
        "tolerate: token display name glued to <",
    ),
    ("rfc4475/longreq.dat", Accept, "long values, 34 Vias"),
    (
        "rfc4475/dblreq.dat",
        Accept,
        "body cut to Content-Length 0, trailing INVITE ignored",
    ),
    ("rfc4475/semiuri.dat", Accept, "user part holds ;par="),
    (
        "rfc4475/transports.dat",
        Accept,
        "unknown transport is an extension token",
    ),
    (
        "rfc4475/mpart01.dat",
        Accept,
        "binary body framed by Content-Length",
    ),
    ("rfc4475/unreason.dat", Accept, "UTF-8 reason phrase"),
    ("rfc4475/noreason.dat", Accept, "empty reason phrase"),
    ("rfc4475/badinv01.dat", Reply(400), "empty Via parameters"),
    (
        "rfc4475/clerr.dat",
        ParseReply(400),
        "Content-Length beyond the datagram",
    ),
    (
        "rfc4475/ncl.dat",
        ParseReply(400),
        "negative Content-Length",
    ),
    ("rfc4475/scalar02.dat", Reply(400), "CSeq above 2**31-1"),
    (
        "rfc4475/scalarlg.dat",
        Drop,
        "response with out-of-range CSeq",
    ),
    (
        "rfc4475/quotbal.dat",
        Reply(400),
        "unterminated quote in To",
    ),
    (
        "rfc4475/ltgtruri.dat",
        Reply(400),
        "<...> around the Request-URI is not a URI",
    ),
    (
        "rfc4475/lwsruri.dat",
        ParseDrop,
        "request line with four parts cannot be indexed",
    ),
    (
        "rfc4475/lwsstart.dat",
        ParseDrop,
        "strict single-SP request line",
    ),
    (
        "rfc4475/trws.dat",
        ParseDrop,
        "strict: trailing SP makes the version malformed",
    ),
    (
        "rfc4475/escruri.dat",
        Reply(400),
        "headers in the Request-URI are refused",
    ),
    (
        "rfc4475/baddate.dat",
        Accept,
        "lenient-ok: a proxy has no use for Date",
    ),
    (
        "rfc4475/regbadct.dat",
        Reply(400),
        "bare Contact URI with '?' must be bracketed",
    ),
    ("rfc4475/badaspec.dat", Reply(400), "spaces inside <...>"),
    (
        "rfc4475/baddn.dat",
        ParseDrop,
        "no empty line ends the headers (archive quirk)",
    ),
    ("rfc4475/badvers.dat", Reply(505), "SIP/7.0"),
    ("rfc4475/mismatch01.dat", Reply(400), "CSeq method differs"),
    (
        "rfc4475/mismatch02.dat",
        Reply(400),
        "CSeq method differs (400 allowed instead of 501)",
    ),
    (
        "rfc4475/bigcode.dat",
        ParseDrop,
        "status code is not three digits",
    ),
    (
        "rfc4475/badbranch.dat",
        Accept,
        "branch equal to the magic cookie is legal syntax",
    ),
    ("rfc4475/insuf.dat", Reply(400), "missing Call-ID/From/To"),
    (
        "rfc4475/unkscm.dat",
        Reply(416),
        "unknown Request-URI scheme",
    ),
    (
        "rfc4475/novelsc.dat",
        Reply(416),
        "soap.beep Request-URI scheme",
    ),
    (
        "rfc4475/unksm2.dat",
        Accept,
        "non-SIP To/From/Contact are a registrar's concern",
    ),
    ("rfc4475/bext01.dat", Accept, "420 is application policy"),
    ("rfc4475/invut.dat", Accept, "415 is an endpoint's"),
    (
        "rfc4475/regaut01.dat",
        Accept,
        "unknown auth scheme is forwarded",
    ),
    (
        "rfc4475/multi01.dat",
        Reply(400),
        "duplicated single-valued headers",
    ),
    (
        "rfc4475/mcl01.dat",
        ParseReply(400),
        "conflicting Content-Length",
    ),
    (
        "rfc4475/bcast.dat",
        Accept,
        "broadcast Via is a forwarding decision",
    ),
    ("rfc4475/zeromf.dat", Accept, "483 is the proxy's decision"),
    (
        "rfc4475/cparam01.dat",
        Accept,
        "header param after bare URI",
    ),
    ("rfc4475/cparam02.dat", Accept, "URI param inside <>"),
    ("rfc4475/regescrt.dat", Accept, "escaped header inside <>"),
    ("rfc4475/sdp01.dat", Accept, "406 is an endpoint's"),
    (
        "rfc4475/inv2543.dat",
        Accept,
        "tolerate: RFC 2543 request, body runs to datagram end",
    ),
    ("rfc5118/ipv6-good.dat", Accept, "bracketed IPv6 everywhere"),
    (
        "rfc5118/ipv6-bad.dat",
        Reply(400),
        "unbracketed IPv6 Request-URI host",
    ),
    (
        "rfc5118/port-ambiguous.dat",
        Accept,
        "5070 is inside the brackets",
    ),
    (
        "rfc5118/port-unambiguous.dat",
        Accept,
        "port after the brackets",
    ),
    (
        "rfc5118/via-received-param-with-delim.dat",
        Accept,
        "tolerate: bracketed received=",
    ),
    (
        "rfc5118/via-received-param-no-delim.dat",
        Accept,
        "bare IPv6 received=",
    ),
    (
        "rfc5118/ipv6-in-sdp.dat",
        Accept,
        "IPv6 in SDP is body content",
    ),
    (
        "rfc5118/mult-ip-in-header.dat",
        Accept,
        "mixed IPv4/IPv6 Vias",
    ),
    (
        "rfc5118/mult-ip-in-sdp.dat",
        Accept,
        "IPv6 in SDP is body content",
    ),
    (
        "rfc5118/ipv4-mapped-ipv6.dat",
        Accept,
        "IPv4-mapped IPv6 references",
    ),
    (
        "rfc5118/ipv6-bug-abnf-3-colons.dat",
        Accept,
        "tolerate: only the IPv6 alphabet is checked",
    ),
    (
        "rfc5118/ipv6-correct-abnf-2-colons.dat",
        Accept,
        "correct two-colon form",
    ),
];

/// `valid` rows that we refuse anyway, because the note itself says the
/// element owes that reply. Each must name the code its note names.
const VALID_BUT_REFUSED: &[(&str, u16)] =
    &[("rfc4475/unkscm.dat", 416), ("rfc4475/novelsc.dat", 416)];

/// `invalid` rows we accept. Only `lenient-ok:` rows may appear. Because
/// CASES pins the exact outcome, an entry here goes stale (and the test
/// fails) as soon as the message starts being refused.
const KNOWN_DEVIATIONS: &[&str] = &["rfc4475/baddate.dat"];

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture")
}

struct Row {
    file: String,
    expected: String,
    note: String,
}

fn manifest() -> Vec<Row> {
    let text = fs::read_to_string(data_dir().join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "file\trfc\tsection\texpected\tnote",
        "manifest header changed"
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 5, "bad manifest row: {l}");
            Row {
                file: cols[0].to_owned(),
                expected: cols[3].to_owned(),
                note: cols[4].to_owned(),
            }
        })
        .collect()
}

/// Why each refusal happens, so a file cannot pass by failing for an
/// unrelated reason. Matched against the error / reject text.
const REASONS: &[(&str, &str)] = &[
    ("rfc4475/badinv01.dat", "Via header: empty parameter"),
    ("rfc4475/clerr.dat", "declares 9999 body bytes"),
    ("rfc4475/ncl.dat", "Content-Length: not a valid length"),
    (
        "rfc4475/scalar02.dat",
        "CSeq header: sequence number out of range",
    ),
    (
        "rfc4475/scalarlg.dat",
        "CSeq header: sequence number out of range",
    ),
    (
        "rfc4475/quotbal.dat",
        "To header: unterminated quoted string",
    ),
    ("rfc4475/ltgtruri.dat", "Malformed Request-URI"),
    ("rfc4475/lwsruri.dat", "start line"),
    ("rfc4475/lwsstart.dat", "start line"),
    ("rfc4475/trws.dat", "start line"),
    ("rfc4475/escruri.dat", "Request-URI must not carry headers"),
    ("rfc4475/regbadct.dat", "Contact header: URI with '?'"),
    ("rfc4475/badaspec.dat", "To header"),
    ("rfc4475/baddn.dat", "not terminated by an empty line"),
    ("rfc4475/badvers.dat", "Version Not Supported"),
    ("rfc4475/mismatch01.dat", "CSeq method"),
    ("rfc4475/mismatch02.dat", "CSeq method"),
    ("rfc4475/bigcode.dat", "status code is not three digits"),
    ("rfc4475/insuf.dat", "Missing To header"),
    ("rfc4475/multi01.dat", "Multiple To headers"),
    ("rfc4475/mcl01.dat", "several headers disagree"),
    ("rfc4475/unkscm.dat", "Unsupported URI Scheme"),
    ("rfc4475/novelsc.dat", "Unsupported URI Scheme"),
    ("rfc5118/ipv6-bad.dat", "Malformed Request-URI"),
];

fn outcome_with_text(bytes: Bytes) -> (Outcome, String) {
    match parse(bytes, true) {
        Err(e) => {
            let text = format!("{e} / {}", reject_for_parse_error(&e));
            match reject_for_parse_error(&e) {
                Reject::Respond { code, .. } => (ParseReply(code), text),
                Reject::Drop { .. } => (ParseDrop, text),
            }
        }
        Ok(msg) => {
            let checked = if msg.is_request() {
                check_request(&msg)
            } else {
                check_response(&msg)
            };
            let text = checked
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default();
            match checked {
                Ok(()) => (Accept, text),
                Err(Reject::Respond { code, .. }) => (Reply(code), text),
                Err(Reject::Drop { .. }) => (Drop, text),
            }
        }
    }
}

#[test]
fn torture_outcomes_match_manifest() {
    let rows = manifest();
    assert_eq!(rows.len(), 61, "README promises 61 rows");
    let cases: BTreeMap<&str, (Outcome, &str)> =
        CASES.iter().map(|(f, o, why)| (*f, (*o, *why))).collect();
    assert_eq!(cases.len(), CASES.len(), "duplicate entry in CASES");
    for f in cases.keys() {
        assert!(
            rows.iter().any(|r| r.file == *f),
            "CASES lists {f}, not in the manifest"
        );
    }

    let mut failures = Vec::new();
    for row in &rows {
        let Some(&(expected, why)) = cases.get(row.file.as_str()) else {
            failures.push(format!("{}: no entry in CASES", row.file));
            continue;
        };
        // Policy: the pinned outcome must agree with the manifest verdict.
        match row.expected.as_str() {
            "valid" => {
                if let Some((_, code)) = VALID_BUT_REFUSED.iter().find(|(f, _)| *f == row.file) {
                    assert_eq!(expected, Reply(*code), "{}", row.file);
                    assert!(
                        row.note.contains(&code.to_string()),
                        "{}: note does not ask for {code}",
                        row.file
                    );
                } else {
                    assert_eq!(expected, Accept, "{}: valid row must be accepted", row.file);
                }
            }
            "invalid" => {
                if KNOWN_DEVIATIONS.contains(&row.file.as_str()) {
                    assert!(
                        row.note.starts_with("lenient-ok:"),
                        "{}: only lenient-ok rows may deviate",
                        row.file
                    );
                    assert_eq!(expected, Accept, "{}", row.file);
                } else {
                    assert!(
                        expected.refuses(),
                        "{}: invalid row must be refused",
                        row.file
                    );
                    for code in [505u16, 416] {
                        if row.note.contains(&format!("answer {code}")) {
                            assert!(
                                matches!(expected, Reply(c) if c == code),
                                "{}: note asks for {code}",
                                row.file
                            );
                        }
                    }
                }
            }
            other => panic!("{}: unknown verdict {other}", row.file),
        }
        let bytes = fs::read(data_dir().join(&row.file)).unwrap();
        let (actual, text) = outcome_with_text(Bytes::from(bytes));
        if let Some((_, why)) = REASONS.iter().find(|(f, _)| *f == row.file) {
            if !text.contains(why) {
                failures.push(format!(
                    "{}: refused as {text:?}, expected reason containing {why:?}",
                    row.file
                ));
            }
        } else if expected.refuses() {
            failures.push(format!("{}: refused without an entry in REASONS", row.file));
        }
        if actual != expected {
            let stale = if KNOWN_DEVIATIONS.contains(&row.file.as_str()) {
                " (KNOWN_DEVIATIONS entry is stale: remove it)"
            } else {
                ""
            };
            failures.push(format!(
                "{}: expected {expected:?} ({why}), got {actual:?}{stale}",
                row.file
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "torture mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn data_is_byte_exact() {
    let baddn = fs::read(data_dir().join("rfc4475/baddn.dat")).unwrap();
    assert_eq!(baddn.len(), 331, "baddn.dat must keep its archive form");
    let mpart = fs::read(data_dir().join("rfc4475/mpart01.dat")).unwrap();
    assert!(mpart.contains(&0), "mpart01 keeps its NUL bytes");
    assert!(mpart.windows(2).any(|w| w == b"\r\n"), "CRLF preserved");
    let wire = fs::read(data_dir().join("rfc5118/ipv6-good.dat")).unwrap();
    assert!(
        wire.windows(2).any(|w| w == b"\r\n"),
        "5118 wire copies use CRLF"
    );
}

/// Specific facts the RFCs call out, beyond accept/refuse.
#[test]
fn torture_details() {
    let load = |f: &str| parse(Bytes::from(fs::read(data_dir().join(f)).unwrap()), true).unwrap();

    // baddn's archive form fails on its missing empty line; with the line
    // restored it must still be refused for the display names.
    let mut baddn = fs::read(data_dir().join("rfc4475/baddn.dat")).unwrap();
    baddn.extend_from_slice(b"\r\n");
    let (o, text) = outcome_with_text(Bytes::from(baddn));
    assert_eq!(o, Reply(400));
    assert!(text.contains("display name"), "{text}");

    let m = load("rfc4475/wsinv.dat");
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.cseq().unwrap().0, 9);
    assert_eq!(m.vias().count(), 3);
    assert_eq!(m.to_tag().unwrap().as_deref(), Some(&b"1918181833n"[..]));
    assert_eq!(m.from_tag().unwrap().as_deref(), Some(&b"98asjd8"[..]));
    assert_eq!(m.body().len(), 150);
    assert_eq!(m.header("Subject").as_deref(), Some(&b""[..]));
    let top = m.top_via().unwrap();
    assert_eq!(top.host.as_ref(), b"192.0.2.2");
    assert_eq!(top.branch.as_deref(), Some(&b"390skdjuw"[..]));

    let m = load("rfc4475/longreq.dat");
    assert_eq!(m.vias().count(), 34);
    assert!(m.vias().all(|v| v.is_ok()));

    let m = load("rfc4475/dblreq.dat");
    assert_eq!(m.body(), b"");
    assert_eq!(m.method(), Some(protocall::sip::message::Method::Register));

    let m = load("rfc4475/semiuri.dat");
    let uri = m.parsed_request_uri().unwrap().unwrap();
    assert_eq!(uri.user.as_deref(), Some(&b"user;par=u%40example.net"[..]));
    assert!(uri.params.is_empty());
    assert_eq!(m.headers("Accept").count(), 6);

    let m = load("rfc4475/mpart01.dat");
    assert_eq!(m.body().len(), 553);

    let m = load("rfc4475/inv2543.dat");
    assert_eq!(m.content_length(), None);
    assert!(m.body().ends_with(b"\r\n"));
    assert_eq!(m.from_tag().unwrap(), None);

    let m = load("rfc4475/cparam01.dat");
    let protocall::sip::message::Contact::Addr(c) = m.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert!(c.uri.params.is_empty() && c.param("unknownparam").is_some());
    let m = load("rfc4475/cparam02.dat");
    let protocall::sip::message::Contact::Addr(c) = m.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    assert!(c.uri.param("unknownparam").is_some() && c.params.is_empty());

    let m = load("rfc5118/port-ambiguous.dat");
    let uri = m.parsed_request_uri().unwrap().unwrap();
    assert_eq!(
        (uri.host.as_ref(), uri.port),
        (&b"[2001:db8::10:5070]"[..], None)
    );
    let m = load("rfc5118/port-unambiguous.dat");
    let uri = m.parsed_request_uri().unwrap().unwrap();
    assert_eq!(
        (uri.host.as_ref(), uri.port),
        (&b"[2001:db8::10]"[..], Some(5070))
    );

    let m = load("rfc5118/via-received-param-no-delim.dat");
    let v = m.top_via().unwrap();
    assert_eq!(v.received.as_deref(), Some(&b"2001:db8::9:255"[..]));
    assert_eq!(v.branch.as_deref(), Some(&b"z9hG4bKas3"[..]));
    let m = load("rfc5118/via-received-param-with-delim.dat");
    assert_eq!(
        m.top_via().unwrap().received.as_deref(),
        Some(&b"[2001:db8::9:255]"[..])
    );

    let m = load("rfc5118/ipv4-mapped-ipv6.dat");
    let v = m.top_via().unwrap();
    assert_eq!(
        (v.host.as_ref(), v.port),
        (&b"[::ffff:192.0.2.10]"[..], Some(19823))
    );
}

/// Every accessor on every file (including the extra archive member) must
/// return rather than panic, and any file that declares Content-Length must
/// frame on a stream to the same message length.
#[test]
fn torture_files_never_panic_and_frame_on_streams() {
    let mut files: Vec<String> = manifest().into_iter().map(|r| r.file).collect();
    files.push("rfc4475/archive-extra/test.dat".to_owned());
    for f in files {
        let bytes = fs::read(data_dir().join(&f)).unwrap();
        let _ = frame_stream(&bytes, DEFAULT_MAX_MESSAGE_SIZE);
        let Ok(m) = parse(Bytes::from(bytes.clone()), true) else {
            continue;
        };
        exercise(&m);
        if let Some(cl) = m.content_length() {
            let end = m.body_span().start + cl;
            assert_eq!(
                frame_stream(&bytes, DEFAULT_MAX_MESSAGE_SIZE).unwrap(),
                Frame::Message(end),
                "{f}"
            );
        }
    }
}

fn exercise(m: &protocall::sip::message::SipMessage) {
    let _ = (
        m.method(),
        m.request_uri(),
        m.parsed_request_uri(),
        m.status(),
        m.reason(),
    );
    let _ = (
        m.cseq(),
        m.max_forwards(),
        m.expires(),
        m.call_id(),
        m.from_tag(),
        m.to_tag(),
    );
    let _ = (
        m.top_via(),
        m.vias().count(),
        m.contacts().count(),
        m.routes().count(),
    );
    for name in ["Via", "Contact", "To", "Accept", "Route", "Subject"] {
        let _ = (m.header(name), m.headers(name).count());
    }
    let _ = (check_request(m), check_response(m));
}
