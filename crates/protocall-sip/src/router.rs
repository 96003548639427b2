//! The question the proxy asks for every initial request: where should it
//! go? The answer is a list of target groups, tried in order (serial
//! forking), with the targets of a group rung in parallel.
//!
//! The desk's routing policy (providers, URA, protocol owners) implements
//! [`Router`] elsewhere; [`LocationRouter`] is the plain policy: registered
//! users of our domain ring at their bindings, other domains are relayed to
//! the Request-URI, anything else is 404.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::message::{SipMessage, Uri};
use super::transport::{Outbound, Proto};
use crate::location::Location;

/// One place to send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Request-URI the branch carries.
    pub uri: Bytes,
    /// Where the branch is sent (for a registered phone: the address its
    /// REGISTER came from, which is what gets through a NAT).
    pub dest: Outbound,
    /// Who the phone should show as calling, when we know better than
    /// the caller's own From (a consultant's phone ringing for a client).
    pub present: Option<Arc<Presentation>>,
}

impl Target {
    pub fn new(uri: Bytes, dest: Outbound) -> Target {
        Target {
            uri,
            dest,
            present: None,
        }
    }
}

/// What a consultant's phone shows for a call we vouch for: softphones
/// and desk phones show the From display name (baresip and linphonec show
/// nothing else), some the P-Asserted-Identity or the Subject. Kept in the
/// form the headers carry, built once per call and shared by its branches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The From display name, quoted, e.g. `"NetSul Telecom · 2026-000123"`.
    pub display: String,
    /// The P-Asserted-Identity value (the name and the caller's E.164
    /// `tel:` URI), when the number is known.
    pub asserted: Option<String>,
    /// The Subject value (the open protocol), control characters removed.
    pub subject: Option<String>,
}

impl Presentation {
    /// From plain text: the name shown, the caller's E.164 number, the
    /// subject.
    pub fn new(name: &str, e164: Option<&str>, subject: Option<&str>) -> Presentation {
        let display = super::edit::quoted(name);
        Presentation {
            asserted: e164.map(|e| format!("{display} <tel:{e}>")),
            display,
            subject: subject.map(|t| t.chars().filter(|c| !c.is_control()).collect()),
        }
    }
}

/// Targets rung together; `ring_timeout` ends the group with "no answer".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    pub targets: Vec<Target>,
    pub ring_timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Forward(Vec<TargetGroup>),
    Reject { code: u16 },
}

/// What the router gets to look at.
pub struct RouteRequest<'a> {
    pub msg: &'a SipMessage,
    pub uri: &'a Uri,
    pub source: SocketAddr,
    pub proto: Proto,
    /// True when the Request-URI names this proxy (our address or domain).
    pub uri_is_local: bool,
    /// The consultant who authenticated this request with digest
    /// credentials (outbound and internal calls); `None` for trunks.
    pub caller_user: Option<&'a str>,
    pub now_ms: i64,
}

pub trait Router: Send + Sync + 'static {
    fn route(&self, req: &RouteRequest<'_>) -> Decision;
}

/// The port a URI implies: its own, or the scheme default.
pub fn default_port(uri: &Uri) -> u16 {
    uri.port.unwrap_or(match uri.scheme {
        super::message::Scheme::Sips => 5061,
        _ => 5060,
    })
}

/// The transport a URI asks for (`;transport=tcp`, `;transport=tls`, or a
/// `sips:` URI, RFC 3261 §26.2.2), UDP by default.
pub fn uri_proto(uri: &Uri) -> Proto {
    match uri.transport() {
        Some(t) if t.eq_ignore_ascii_case(b"tls") => Proto::Tls,
        _ if uri.scheme == super::message::Scheme::Sips => Proto::Tls,
        Some(t) if t.eq_ignore_ascii_case(b"tcp") => Proto::Tcp,
        _ => Proto::Udp,
    }
}

/// Resolves a URI whose host is an IP literal to a socket address. Names
/// are not resolved on the hot path: DNS would block the worker, so a
/// deployment routes by address or via an outbound proxy.
pub fn resolve(uri: &Uri) -> Option<Outbound> {
    let host = uri.maddr().unwrap_or(&uri.host);
    let text = std::str::from_utf8(host).ok()?;
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let ip: IpAddr = text.parse().ok()?;
    Some(Outbound {
        dest: SocketAddr::new(ip, default_port(uri)),
        proto: uri_proto(uri),
        conn: None,
    })
}

/// Registered users ring at their bindings; other domains are relayed.
pub struct LocationRouter {
    pub location: Arc<Location>,
}

impl Router for LocationRouter {
    fn route(&self, req: &RouteRequest<'_>) -> Decision {
        if !req.uri_is_local {
            return match resolve(req.uri) {
                Some(dest) => Decision::Forward(vec![TargetGroup {
                    targets: vec![Target::new(req.uri.raw.clone(), dest)],
                    ring_timeout: None,
                }]),
                None => Decision::Reject { code: 404 },
            };
        }
        let Some(user) = req
            .uri
            .user
            .as_ref()
            .and_then(|u| std::str::from_utf8(u).ok())
        else {
            return Decision::Reject { code: 404 };
        };
        let bindings = self.location.lookup(user, req.now_ms);
        if bindings.is_empty() {
            return Decision::Reject { code: 404 };
        }
        Decision::Forward(groups_by_q(&bindings))
    }
}

/// RFC 3261 §16.6: contacts of equal q ring in parallel, groups of lower q
/// after the higher ones fail.
pub fn groups_by_q(bindings: &[crate::location::Binding]) -> Vec<TargetGroup> {
    let mut groups: Vec<(u16, TargetGroup)> = Vec::new();
    for b in bindings {
        let target = Target {
            uri: Bytes::from(b.contact.clone()),
            present: None,
            dest: Outbound {
                dest: b.source,
                proto: b.proto,
                conn: b.conn,
            },
        };
        match groups.last_mut() {
            Some((q, g)) if *q == b.q => g.targets.push(target),
            _ => groups.push((
                b.q,
                TargetGroup {
                    targets: vec![target],
                    ring_timeout: None,
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// A fixed table from caller number (the From URI's user part) to target
/// URI, loaded once from CSV, like Kamailio's `htable`. Requests for a
/// registered user still ring that user; other initial requests go where
/// the caller's row says, or to the default target.
pub struct StaticRouter {
    table: std::collections::HashMap<String, (Bytes, Outbound)>,
    default: Option<(Bytes, Outbound)>,
    location: LocationRouter,
}

#[derive(Debug, thiserror::Error)]
pub enum StaticRoutesError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {message}")]
    Row {
        path: String,
        line: usize,
        message: String,
    },
}

fn target_of(raw: &str) -> Result<(Bytes, Outbound), String> {
    let uri = Uri::parse(Bytes::copy_from_slice(raw.trim().as_bytes()))
        .map_err(|e| format!("`{raw}` is not a SIP URI: {}", e.reason))?;
    let dest = resolve(&uri).ok_or_else(|| format!("`{raw}` must have an IP address host"))?;
    Ok((uri.raw.clone(), dest))
}

impl StaticRouter {
    /// Reads `number,target` rows (a header row is skipped; `;` works as
    /// a separator too, as in SIPp injection files).
    pub fn load(
        path: &std::path::Path,
        default: Option<&str>,
        location: Arc<Location>,
    ) -> Result<StaticRouter, StaticRoutesError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| StaticRoutesError::Read {
            path: p.clone(),
            source,
        })?;
        let mut table = std::collections::HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (i == 0 && !line.contains("sip:")) {
                continue;
            }
            // The first `,` (or, failing that, `;`) separates the columns;
            // the URI itself may carry `;` parameters.
            let sep = if line.contains(',') { ',' } else { ';' };
            let mut cols = line.splitn(2, sep);
            let (Some(number), Some(target)) = (cols.next(), cols.next()) else {
                return Err(StaticRoutesError::Row {
                    path: p,
                    line: i + 1,
                    message: "expected `number,target`".into(),
                });
            };
            let t = target_of(target).map_err(|message| StaticRoutesError::Row {
                path: p.clone(),
                line: i + 1,
                message,
            })?;
            table.insert(number.trim().to_string(), t);
        }
        let default =
            default
                .map(target_of)
                .transpose()
                .map_err(|message| StaticRoutesError::Row {
                    path: "static_default_target".into(),
                    line: 0,
                    message,
                })?;
        Ok(StaticRouter {
            table,
            default,
            location: LocationRouter { location },
        })
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

impl Router for StaticRouter {
    fn route(&self, req: &RouteRequest<'_>) -> Decision {
        if req.uri_is_local {
            if let Some(user) = req
                .uri
                .user
                .as_ref()
                .and_then(|u| std::str::from_utf8(u).ok())
            {
                if self.location.location.is_registered(user, req.now_ms) {
                    return self.location.route(req);
                }
            }
        } else {
            return self.location.route(req);
        }
        let caller = req.msg.from().ok().and_then(|f| f.uri.user);
        let hit = caller
            .as_ref()
            .and_then(|u| std::str::from_utf8(u).ok())
            .and_then(|u| self.table.get(u))
            .or(self.default.as_ref());
        match hit {
            Some((uri, dest)) => Decision::Forward(vec![TargetGroup {
                targets: vec![Target::new(uri.clone(), *dest)],
                ring_timeout: None,
            }]),
            None => Decision::Reject { code: 404 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::LocationConfig;

    #[test]
    fn static_table_keeps_uri_parameters_and_reports_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routes.csv");
        std::fs::write(
            &path,
            "number,target\n5511987654321,sip:ana@127.0.0.1:5082;transport=tcp\n\
             1133334444;sip:ura@127.0.0.1:5081\n",
        )
        .unwrap();
        let loc = Arc::new(Location::new(LocationConfig {
            max_bindings_per_aor: 1,
        }));
        let r = StaticRouter::load(&path, Some("sip:ura@127.0.0.1:5081"), loc.clone()).unwrap();
        assert_eq!(r.len(), 2);
        let (uri, dest) = &r.table["5511987654321"];
        assert_eq!(&uri[..], b"sip:ana@127.0.0.1:5082;transport=tcp");
        assert_eq!(dest.proto, Proto::Tcp);
        assert_eq!(dest.dest, "127.0.0.1:5082".parse().unwrap());
        std::fs::write(&path, "number,target\n1,sip:x@example.com\n").unwrap();
        let err = StaticRouter::load(&path, None, loc)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("IP address"),
            "{err}"
        );
    }
}
