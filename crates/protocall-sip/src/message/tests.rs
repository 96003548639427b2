//! The message views against hand-written and torture messages.

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
    let x =
        u(b"sips:alice:secret@[2001:db8::10]:5070;lr;transport=tcp;maddr=m;user=phone?Subject=x")
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
