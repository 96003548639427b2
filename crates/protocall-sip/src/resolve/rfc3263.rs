//! RFC 3263 §4 as a proxy needs it: from a URI's host, port and transport
//! to an ordered list of places to send a request (NAPTR, then SRV, then
//! A/AAAA), with the RFC 2782 order among SRV records.
//!
//! DNS itself is behind the [`Dns`] trait, so the selection rules are
//! tested here against a table and the real resolver lives in `hickory`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use crate::transport::{Outbound, Proto};

/// At most this many addresses are kept for one name: enough for any
/// sensible failover chain, and a hostile zone cannot make it huge.
pub const MAX_TARGETS: usize = 16;

/// What one DNS question got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The records and the smallest TTL among them.
    Records(Vec<T>, u32),
    /// NXDOMAIN or no records of that type.
    NoRecords,
    /// Timeout, SERVFAIL, refused: DNS did not say.
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub replacement: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// The questions RFC 3263 asks. Names are given without a trailing dot.
pub trait Dns: Send + Sync {
    fn naptr(&self, name: &str) -> impl Future<Output = Answer<Naptr>> + Send;
    fn srv(&self, name: &str) -> impl Future<Output = Answer<Srv>> + Send;
    /// A records (`v6` false) or AAAA records (`v6` true).
    fn ip(&self, name: &str, v6: bool) -> impl Future<Output = Answer<IpAddr>> + Send;
}

/// What is asked for: a host name, and what the URI fixes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// Lower case, without a trailing dot.
    pub host: String,
    pub port: Option<u16>,
    /// From `transport=` (TLS also for `sips:` with `transport=tcp`).
    pub transport: Option<Proto>,
    /// A `sips:` URI: TLS only (RFC 3263 §4.1).
    pub sips: bool,
}

impl Query {
    /// How the query is shown in logs and `protocall check`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}:{}", if self.sips { "sips" } else { "sip" }, self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        if let Some(t) = self.transport {
            s.push_str(&format!(
                ";transport={}",
                t.via_token().to_ascii_lowercase()
            ));
        }
        s
    }
}

/// An answer: addresses in the order to try them, and how long it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub targets: Vec<Outbound>,
    pub ttl: u32,
}

/// No address: the questions asked, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unresolved {
    /// e.g. `NAPTR pbx.example`, `SRV _sip._udp.pbx.example`, `A pbx.example`.
    pub tried: Vec<String>,
    /// The last DNS error, when it was not a plain "no such record".
    pub error: Option<String>,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.tried.is_empty() && self.error.is_none() {
            return write!(f, "no answer from DNS yet");
        }
        write!(f, "no address (tried {})", self.tried.join(", "))?;
        if let Some(e) = &self.error {
            write!(f, "; last error: {e}")?;
        }
        Ok(())
    }
}

fn default_port(proto: Proto) -> u16 {
    match proto {
        Proto::Tls => 5061,
        _ => 5060,
    }
}

/// The SRV owner prefix for a transport (RFC 3263 §4.2).
fn srv_prefix(proto: Proto) -> &'static str {
    match proto {
        Proto::Udp => "_sip._udp",
        Proto::Tcp => "_sip._tcp",
        Proto::Tls => "_sips._tcp",
    }
}

/// The transport a NAPTR service field names, if we speak it.
fn naptr_proto(service: &str, sips: bool) -> Option<Proto> {
    let s = service.to_ascii_uppercase();
    match s.as_str() {
        "SIPS+D2T" => Some(Proto::Tls),
        "SIP+D2U" if !sips => Some(Proto::Udp),
        "SIP+D2T" if !sips => Some(Proto::Tcp),
        _ => None,
    }
}

/// RFC 2782: by priority, then within a priority a weighted random order
/// (weight 0 first in the running sum, so it is picked only rarely).
/// `random(n)` returns a number in `0..n`.
pub fn order_srv(mut recs: Vec<Srv>, random: &mut impl FnMut(u32) -> u32) -> Vec<Srv> {
    recs.retain(|r| r.target != "." && !r.target.is_empty());
    recs.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut out = Vec::with_capacity(recs.len());
    let mut rest = recs.into_iter().peekable();
    while let Some(first) = rest.next() {
        let priority = first.priority;
        let mut group = vec![first];
        while let Some(r) = rest.next_if(|r| r.priority == priority) {
            group.push(r);
        }
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = random(total.saturating_add(1));
            let mut running = 0u32;
            let i = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= pick
                })
                .unwrap_or(0);
            out.push(group.remove(i));
        }
    }
    out
}

/// NAPTR records we can use, in order (RFC 3403 order, then preference).
pub fn usable_naptr(mut recs: Vec<Naptr>, sips: bool) -> Vec<(Proto, String)> {
    recs.sort_by_key(|r| (r.order, r.preference));
    recs.into_iter()
        .filter(|r| r.flags.eq_ignore_ascii_case("s"))
        .filter_map(|r| naptr_proto(&r.service, sips).map(|p| (p, r.replacement)))
        .filter(|(_, name)| !name.is_empty() && name != ".")
        .collect()
}

/// Accumulates answers while the algorithm walks the chain.
struct Walk {
    targets: Vec<Outbound>,
    ttl: u32,
    failed: Unresolved,
}

impl Walk {
    fn note<T>(&mut self, what: String, answer: Answer<T>) -> Vec<T> {
        self.failed.tried.push(what);
        match answer {
            Answer::Records(recs, ttl) => {
                self.ttl = self.ttl.min(ttl);
                recs
            }
            Answer::NoRecords => Vec::new(),
            Answer::Error(e) => {
                self.failed.error = Some(e);
                Vec::new()
            }
        }
    }

    fn push(&mut self, dest: SocketAddr, proto: Proto) {
        let o = Outbound {
            dest,
            proto,
            conn: None,
        };
        if self.targets.len() < MAX_TARGETS && !self.targets.contains(&o) {
            self.targets.push(o);
        }
    }

    /// A and AAAA of `name`, IPv4 first: most deployments listen on IPv4
    /// and a v6 address we cannot send from is the worse first choice.
    async fn addresses<D: Dns>(&mut self, dns: &D, name: &str, port: u16, proto: Proto) {
        let (a, aaaa) = tokio::join!(dns.ip(name, false), dns.ip(name, true));
        for ip in self.note(format!("A {name}"), a) {
            self.push(SocketAddr::new(ip, port), proto);
        }
        for ip in self.note(format!("AAAA {name}"), aaaa) {
            self.push(SocketAddr::new(ip, port), proto);
        }
    }

    /// SRV at `owner`, then the addresses of each target in RFC 2782 order.
    async fn srv<D: Dns>(
        &mut self,
        dns: &D,
        owner: &str,
        proto: Proto,
        random: &mut (impl FnMut(u32) -> u32 + Send),
    ) {
        let recs = dns.srv(owner).await;
        let recs = self.note(format!("SRV {owner}"), recs);
        for r in order_srv(recs, random) {
            if self.targets.len() >= MAX_TARGETS {
                break;
            }
            self.addresses(dns, &r.target, r.port, proto).await;
        }
    }
}

/// RFC 3263 §4.1 (transport) and §4.2 (port and address) for a name.
pub async fn resolve<D: Dns>(
    dns: &D,
    q: &Query,
    random: &mut (impl FnMut(u32) -> u32 + Send),
) -> Result<Resolved, Unresolved> {
    let mut w = Walk {
        targets: Vec::new(),
        ttl: u32::MAX,
        failed: Unresolved::default(),
    };
    let host = q.host.as_str();
    match (q.port, q.transport) {
        // A port: addresses only (§4.2), over the given transport or the
        // scheme's default.
        (Some(port), t) => {
            let proto = t.unwrap_or(if q.sips { Proto::Tls } else { Proto::Udp });
            w.addresses(dns, host, port, proto).await;
        }
        // A transport and no port: its SRV, else the default port.
        (None, Some(proto)) => {
            w.srv(dns, &format!("{}.{host}", srv_prefix(proto)), proto, random)
                .await;
            if w.targets.is_empty() {
                w.addresses(dns, host, default_port(proto), proto).await;
            }
        }
        // Neither: NAPTR, else SRV for each transport, else A/AAAA.
        (None, None) => {
            let naptr = dns.naptr(host).await;
            let recs = w.note(format!("NAPTR {host}"), naptr);
            for (proto, owner) in usable_naptr(recs, q.sips) {
                w.srv(dns, &owner, proto, random).await;
            }
            if w.targets.is_empty() {
                let protos: &[Proto] = if q.sips {
                    &[Proto::Tls]
                } else {
                    &[Proto::Udp, Proto::Tcp, Proto::Tls]
                };
                for &proto in protos {
                    w.srv(dns, &format!("{}.{host}", srv_prefix(proto)), proto, random)
                        .await;
                }
            }
            if w.targets.is_empty() {
                let proto = if q.sips { Proto::Tls } else { Proto::Udp };
                w.addresses(dns, host, default_port(proto), proto).await;
            }
        }
    }
    if w.targets.is_empty() {
        return Err(w.failed);
    }
    Ok(Resolved {
        targets: w.targets,
        ttl: w.ttl,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A zone as a table; every question is recorded.
    #[derive(Default)]
    struct Table {
        naptr: HashMap<String, Vec<Naptr>>,
        srv: HashMap<String, Vec<Srv>>,
        a: HashMap<String, Vec<IpAddr>>,
        asked: Mutex<Vec<String>>,
    }

    fn answer<T: Clone>(m: &HashMap<String, Vec<T>>, name: &str, ttl: u32) -> Answer<T> {
        match m.get(name) {
            Some(v) => Answer::Records(v.clone(), ttl),
            None => Answer::NoRecords,
        }
    }

    impl Dns for Table {
        async fn naptr(&self, name: &str) -> Answer<Naptr> {
            self.asked.lock().unwrap().push(format!("NAPTR {name}"));
            answer(&self.naptr, name, 300)
        }
        async fn srv(&self, name: &str) -> Answer<Srv> {
            self.asked.lock().unwrap().push(format!("SRV {name}"));
            answer(&self.srv, name, 120)
        }
        async fn ip(&self, name: &str, v6: bool) -> Answer<IpAddr> {
            if v6 {
                return Answer::NoRecords;
            }
            answer(&self.a, name, 60)
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    fn naptr(order: u16, pref: u16, service: &str, replacement: &str) -> Naptr {
        Naptr {
            order,
            preference: pref,
            flags: "s".into(),
            service: service.into(),
            replacement: replacement.into(),
        }
    }

    fn q(host: &str, port: Option<u16>, transport: Option<Proto>, sips: bool) -> Query {
        Query {
            host: host.into(),
            port,
            transport,
            sips,
        }
    }

    fn dests(r: &Resolved) -> Vec<String> {
        r.targets
            .iter()
            .map(|o| format!("{:?} {}", o.proto, o.dest))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn srv_order_is_by_priority_then_weight_with_zero_weights_rarely_first() {
        let recs = vec![
            srv(20, 0, 1, "c"),
            srv(10, 0, 1, "zero"),
            srv(10, 60, 1, "a"),
            srv(10, 40, 1, "b"),
        ];
        // random = 0: the first of the running sum, i.e. the weight-0 one.
        let order: Vec<String> = order_srv(recs.clone(), &mut |_| 0)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(order, ["zero", "a", "b", "c"]);
        // random = total: the last of the group each time.
        let order: Vec<String> = order_srv(recs.clone(), &mut |n| n - 1)
            .into_iter()
            .map(|r| r.target)
            .collect();
        assert_eq!(order, ["b", "a", "zero", "c"]);
        // Over many draws, a (60) comes first about 60 % of the time among
        // the weighted ones.
        let mut seed = 12345u32;
        let mut first_a = 0;
        for _ in 0..10_000 {
            let recs = vec![srv(10, 60, 1, "a"), srv(10, 40, 1, "b")];
            let order = order_srv(recs, &mut |n| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 8) % n
            });
            if order[0].target == "a" {
                first_a += 1;
            }
        }
        assert!((5_600..6_400).contains(&first_a), "{first_a}");
        // "." means "no service here".
        assert!(order_srv(vec![srv(0, 0, 0, ".")], &mut |_| 0).is_empty());
    }

    #[test]
    fn naptr_keeps_supported_services_in_order() {
        let recs = vec![
            naptr(20, 10, "SIP+D2U", "_sip._udp.x"),
            naptr(10, 20, "SIP+D2T", "_sip._tcp.x"),
            naptr(10, 10, "SIPS+D2T", "_sips._tcp.x"),
            naptr(5, 10, "SIP+D2S", "_sip._sctp.x"),
            naptr(5, 10, "E2U+sip", "!^.*$!sip:x!"),
        ];
        let got = usable_naptr(recs.clone(), false);
        assert_eq!(
            got,
            vec![
                (Proto::Tls, "_sips._tcp.x".to_string()),
                (Proto::Tcp, "_sip._tcp.x".to_string()),
                (Proto::Udp, "_sip._udp.x".to_string()),
            ]
        );
        assert_eq!(
            usable_naptr(recs, true),
            vec![(Proto::Tls, "_sips._tcp.x".to_string())]
        );
    }

    #[tokio::test]
    async fn naptr_then_srv_then_addresses() {
        let mut t = Table::default();
        t.naptr.insert(
            "pbx.test".into(),
            vec![naptr(10, 10, "SIP+D2U", "_sip._udp.pbx.test")],
        );
        t.srv.insert(
            "_sip._udp.pbx.test".into(),
            vec![
                srv(20, 0, 5070, "b.pbx.test"),
                srv(10, 0, 5080, "a.pbx.test"),
            ],
        );
        t.a.insert("a.pbx.test".into(), vec![ip("192.0.2.1")]);
        t.a.insert("b.pbx.test".into(), vec![ip("192.0.2.2")]);
        let r = resolve(&t, &q("pbx.test", None, None, false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Udp 192.0.2.1:5080", "Udp 192.0.2.2:5070"]);
        // The smallest TTL along the chain.
        assert_eq!(r.ttl, 60);
    }

    #[tokio::test]
    async fn no_naptr_tries_srv_per_transport_then_a_with_the_default_port() {
        let mut t = Table::default();
        t.srv.insert(
            "_sip._tcp.trunk.test".into(),
            vec![srv(0, 0, 5090, "edge.trunk.test")],
        );
        t.a.insert("edge.trunk.test".into(), vec![ip("192.0.2.9")]);
        t.a.insert("trunk.test".into(), vec![ip("192.0.2.7")]);
        let r = resolve(&t, &q("trunk.test", None, None, false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Tcp 192.0.2.9:5090"]);
        assert_eq!(
            *t.asked.lock().unwrap(),
            [
                "NAPTR trunk.test",
                "SRV _sip._udp.trunk.test",
                "SRV _sip._tcp.trunk.test",
                "SRV _sips._tcp.trunk.test"
            ]
        );
        // No SRV at all: A with 5060 over UDP, 5061 over TLS for sips.
        let mut t = Table::default();
        t.a.insert("plain.test".into(), vec![ip("192.0.2.5")]);
        let r = resolve(&t, &q("plain.test", None, None, false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Udp 192.0.2.5:5060"]);
        let r = resolve(&t, &q("plain.test", None, None, true), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Tls 192.0.2.5:5061"]);
    }

    #[tokio::test]
    async fn a_port_skips_naptr_and_srv_and_a_transport_skips_naptr() {
        let mut t = Table::default();
        t.naptr.insert(
            "x.test".into(),
            vec![naptr(10, 10, "SIP+D2U", "_sip._udp.x.test")],
        );
        t.srv
            .insert("_sip._tcp.x.test".into(), vec![srv(0, 0, 5099, "x.test")]);
        t.a.insert("x.test".into(), vec![ip("192.0.2.3")]);
        let r = resolve(&t, &q("x.test", Some(5070), None, false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Udp 192.0.2.3:5070"]);
        let r = resolve(&t, &q("x.test", None, Some(Proto::Tcp), false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Tcp 192.0.2.3:5099"]);
        // TLS has no SRV here: the address on 5061.
        let r = resolve(&t, &q("x.test", None, Some(Proto::Tls), false), &mut |_| 0)
            .await
            .unwrap();
        assert_eq!(dests(&r), ["Tls 192.0.2.3:5061"]);
        assert!(!t
            .asked
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.starts_with("NAPTR")));
    }

    #[tokio::test]
    async fn nothing_found_lists_what_was_tried() {
        let t = Table::default();
        let e = resolve(&t, &q("nowhere.test", None, None, true), &mut |_| 0)
            .await
            .unwrap_err();
        assert_eq!(
            e.tried,
            [
                "NAPTR nowhere.test",
                "SRV _sips._tcp.nowhere.test",
                "A nowhere.test",
                "AAAA nowhere.test"
            ]
        );
        assert!(e.to_string().contains("SRV _sips._tcp.nowhere.test"));
    }
}
