//! The Via header: transport, sent-by, branch, `received` and `rport`.

use super::*;

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
    pub(super) fn from_bytes(b: Bytes) -> Transport {
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

    pub(super) fn parse_inner(raw: &Bytes) -> Result<Via, &'static str> {
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
