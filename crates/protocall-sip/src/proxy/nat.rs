//! Reaching phones the way they reached us: the Contact alias.
//!
//! A phone on a TCP or TLS connection, or behind NAT on UDP, writes a
//! Contact we cannot reach: its private address, or a listening port
//! nothing forwards to (and we open no TLS connections at all). Its
//! registration binding remembers the way back (source address and
//! connection), but in-dialog requests (ACK, BYE, re-INVITE) are addressed
//! to the Contact of the dialog, which no binding is keyed by.
//!
//! So when a dialog-forming message (an initial INVITE, SUBSCRIBE or
//! REFER, or a 1xx/2xx answering one) arrives that way, we add the address
//! it came from to its Contact URI as `;alias=IP~PORT~T` (T: 1 UDP, 2 TCP,
//! 3 TLS, the encoding Kamailio's nathelper uses, so that a dialog can
//! pass through either). The other party copies the Contact into the
//! Request-URI of its in-dialog requests; an in-dialog request whose
//! Request-URI carries the alias goes to that address, over that
//! transport (for TCP and TLS: back over the phone's own connection), with
//! the alias removed. The alias adds no power: it names a place the
//! sender could have named in the Request-URI itself, and the destination
//! policy of `edge` applies to it as to any other address.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

use super::super::message::{Contact, HeaderName, Method, SipMessage, Uri};
use super::super::parse::parse;
use super::super::router::resolve;
use super::super::transport::{Inbound, Outbound, Proto};

const ALIAS: &str = "alias";

fn proto_code(p: Proto) -> u8 {
    match p {
        Proto::Udp => 1,
        Proto::Tcp => 2,
        Proto::Tls => 3,
    }
}

fn code_proto(c: &[u8]) -> Option<Proto> {
    match c {
        b"1" => Some(Proto::Udp),
        b"2" => Some(Proto::Tcp),
        b"3" => Some(Proto::Tls),
        _ => None,
    }
}

/// Whether a message starts or confirms a dialog whose Contact becomes the
/// other party's remote target.
fn forms_dialog(msg: &SipMessage) -> bool {
    let dialog_method =
        |m: &Method| matches!(m, Method::Invite | Method::Subscribe | Method::Refer);
    match msg.status() {
        Some(code) => {
            (101..300).contains(&code) && msg.cseq().is_ok_and(|(_, m)| dialog_method(&m))
        }
        // Initial requests only: an in-dialog request has a To tag.
        None => {
            msg.method().is_some_and(|m| dialog_method(&m)) && msg.to_tag().ok().flatten().is_none()
        }
    }
}

/// Private (RFC 1918, CGN, ULA) or link-local: an address that says the
/// phone is behind NAT when the packet came from elsewhere.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments().first().copied().unwrap_or(0);
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The message with the alias added to its Contact, when it needs one (see
/// the module doc); `None` leaves it as it was.
pub(super) fn with_contact_alias(msg: &SipMessage, inbound: &Inbound) -> Option<SipMessage> {
    if !forms_dialog(msg) {
        return None;
    }
    let mut contacts = msg.contacts();
    let Some(Ok(Contact::Addr(first))) = contacts.next() else {
        return None;
    };
    if contacts.next().is_some() || first.uri.param(ALIAS).is_some() {
        return None;
    }
    let named = resolve(&first.uri);
    let source = inbound.source;
    let needed = if inbound.proto.is_stream() {
        named.is_none_or(|n| n.dest != source || n.proto != inbound.proto)
    } else {
        // UDP reaches the Contact unless NAT hides it: a private Contact
        // address on a packet from another address.
        named.is_some_and(|n| is_private(n.dest.ip()) && n.dest.ip() != source.ip())
    };
    if !needed {
        return None;
    }
    let ip = match source.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let alias = format!(
        ";{ALIAS}={ip}~{}~{}",
        source.port(),
        proto_code(inbound.proto)
    );
    let rewritten = rewrite_contact(msg, &alias)?;
    parse(rewritten, inbound.proto == Proto::Udp).ok()
}

/// Copies `msg` with `alias` appended to the URI of its (single) Contact.
fn rewrite_contact(msg: &SipMessage, alias: &str) -> Option<Bytes> {
    let buf = msg.as_bytes();
    let mut out = BytesMut::with_capacity(buf.len() + alias.len() + 4);
    out.put_slice(msg.span_bytes(msg.start_line_span()));
    let mut done = false;
    for e in msg.header_entries() {
        if e.kind != HeaderName::Contact || done {
            out.put_slice(msg.span_bytes(e.line));
            continue;
        }
        done = true;
        let value = super::super::message::unfold(msg.span_bytes(e.value));
        out.put_slice(b"Contact: ");
        match value.iter().position(|&b| b == b'<') {
            Some(lt) => {
                let gt = lt + value.get(lt..)?.iter().position(|&b| b == b'>')?;
                out.put_slice(value.get(..gt)?);
                out.put_slice(alias.as_bytes());
                out.put_slice(value.get(gt..)?);
            }
            None => {
                // An unbracketed URI has no parameters of its own: what
                // follows its first ';' belongs to the header (§20.10).
                let end = value
                    .iter()
                    .position(|&b| b == b';' || b == b' ' || b == b'\t')
                    .unwrap_or(value.len());
                out.put_u8(b'<');
                out.put_slice(value.get(..end)?);
                out.put_slice(alias.as_bytes());
                out.put_u8(b'>');
                out.put_slice(value.get(end..)?);
            }
        }
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.put_slice(msg.body());
    Some(out.freeze())
}

/// Where a request goes when its Request-URI carries an alias we wrote,
/// and that Request-URI without the alias; `None` when it carries none (or
/// one that does not parse, which is then treated as any other parameter).
pub(super) fn alias_target(uri: &Uri) -> Option<(Bytes, Outbound)> {
    let value = uri.param(ALIAS)?.value.as_ref()?;
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split('~');
    let (ip, port, proto) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let ip: IpAddr = ip.parse().ok()?;
    let port: u16 = port.parse().ok()?;
    let proto = code_proto(proto.as_bytes())?;
    Some((
        strip_param(&uri.raw, ALIAS)?,
        Outbound {
            dest: SocketAddr::new(ip, port),
            proto,
            conn: None,
        },
    ))
}

/// `raw` without its `;name=value` URI parameter (before any `?headers`).
fn strip_param(raw: &Bytes, name: &str) -> Option<Bytes> {
    let end = raw.iter().position(|&b| b == b'?').unwrap_or(raw.len());
    let head = raw.get(..end)?;
    let mut start = None;
    let mut i = 0;
    while i < head.len() {
        if head.get(i) == Some(&b';') {
            let rest = head.get(i + 1..)?;
            let is_name = rest.len() > name.len()
                && rest
                    .get(..name.len())?
                    .eq_ignore_ascii_case(name.as_bytes())
                && rest.get(name.len()) == Some(&b'=');
            if is_name {
                start = Some(i);
                break;
            }
        }
        i += 1;
    }
    let start = start?;
    let stop = head
        .get(start + 1..)?
        .iter()
        .position(|&b| b == b';')
        .map_or(head.len(), |p| start + 1 + p);
    let mut out = BytesMut::with_capacity(raw.len());
    out.put_slice(raw.get(..start)?);
    out.put_slice(raw.get(stop..)?);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::transport::ConnId;

    fn inbound(src: &str, proto: Proto) -> Inbound {
        Inbound {
            bytes: Bytes::new(),
            source: src.parse().unwrap(),
            local: "192.0.2.1:5061".parse().unwrap(),
            proto,
            conn: Some(ConnId(7)),
        }
    }

    fn invite(contact: &str) -> SipMessage {
        let text = format!(
            "INVITE sip:bia@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.5:5061;branch=z9hG4bK1\r\n\
             Max-Forwards: 70\r\nFrom: <sip:ana@192.0.2.1>;tag=a\r\nTo: <sip:bia@192.0.2.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
        );
        parse(Bytes::from(text), false).unwrap()
    }

    fn contact_of(m: &SipMessage) -> String {
        String::from_utf8(m.header("Contact").unwrap().into_owned()).unwrap()
    }

    #[test]
    fn a_phone_on_tls_gets_its_connection_as_alias_and_the_alias_leads_back() {
        let msg = invite("\"Ana\" <sip:ana@10.0.0.5:5061;transport=tls>;expires=60");
        let from = inbound("198.51.100.7:40001", Proto::Tls);
        let m = with_contact_alias(&msg, &from).unwrap();
        assert_eq!(
            contact_of(&m),
            "\"Ana\" <sip:ana@10.0.0.5:5061;transport=tls;alias=198.51.100.7~40001~3>;expires=60"
        );
        let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
            panic!("no contact")
        };
        let (uri, dest) = alias_target(&c.uri).unwrap();
        assert_eq!(&uri[..], b"sip:ana@10.0.0.5:5061;transport=tls");
        assert_eq!(dest.dest, from.source);
        assert_eq!(dest.proto, Proto::Tls);
    }

    #[test]
    fn an_unbracketed_contact_keeps_its_header_parameters_outside() {
        let msg = invite("sip:ana@10.0.0.5;expires=60");
        let m = with_contact_alias(&msg, &inbound("198.51.100.7:5060", Proto::Udp)).unwrap();
        assert_eq!(
            contact_of(&m),
            "<sip:ana@10.0.0.5;alias=198.51.100.7~5060~1>;expires=60"
        );
    }

    #[test]
    fn reachable_contacts_are_left_alone() {
        // UDP from the Contact's own address, or a public Contact.
        let msg = invite("<sip:ana@10.0.0.5:5060>");
        assert!(with_contact_alias(&msg, &inbound("10.0.0.5:5060", Proto::Udp)).is_none());
        let msg = invite("<sip:ana@203.0.113.9:5060>");
        assert!(with_contact_alias(&msg, &inbound("198.51.100.7:5060", Proto::Udp)).is_none());
        // A connection whose far end is the Contact.
        let msg = invite("<sip:ana@198.51.100.7:40001;transport=tls>");
        assert!(with_contact_alias(&msg, &inbound("198.51.100.7:40001", Proto::Tls)).is_none());
    }

    #[test]
    fn in_dialog_requests_and_other_methods_are_not_aliased() {
        let text = "BYE sip:bia@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.5;branch=z9hG4bK2\r\n\
             Max-Forwards: 70\r\nFrom: <sip:ana@x>;tag=a\r\nTo: <sip:bia@x>;tag=b\r\n\
             Call-ID: c1\r\nCSeq: 2 BYE\r\nContact: <sip:ana@10.0.0.5>\r\nContent-Length: 0\r\n\r\n";
        let msg = parse(Bytes::from(text), false).unwrap();
        assert!(with_contact_alias(&msg, &inbound("198.51.100.7:1", Proto::Tls)).is_none());
    }

    #[test]
    fn malformed_aliases_are_ignored() {
        for raw in [
            "sip:a@h;alias=1.2.3.4~5060",
            "sip:a@h;alias=1.2.3.4~x~1",
            "sip:a@h;alias=1.2.3.4~5060~9",
            "sip:a@h;alias=host~5060~1",
            "sip:a@h;alias",
        ] {
            let uri = Uri::parse(Bytes::from(raw)).unwrap();
            assert!(alias_target(&uri).is_none(), "{raw}");
        }
        let uri = Uri::parse(Bytes::from("sip:a@h;lr;alias=::1~5061~3;transport=tls")).unwrap();
        let (stripped, dest) = alias_target(&uri).unwrap();
        assert_eq!(&stripped[..], b"sip:a@h;lr;transport=tls");
        assert_eq!(dest.dest, "[::1]:5061".parse().unwrap());
    }
}
