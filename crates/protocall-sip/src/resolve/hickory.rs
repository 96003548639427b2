//! The [`Dns`] questions asked of real name servers through
//! `hickory-resolver`.
//!
//! hickory's own answer cache is turned off: [`super::cache`] keeps the
//! answers with our floor and ceiling and refreshes them ahead of expiry,
//! and a second cache underneath would hand that refresh a nearly expired
//! copy instead of asking again.

use std::net::IpAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

use super::rfc3263::{Answer, Dns, Naptr, Srv};
use super::ResolveError;
use crate::settings::SipDnsSettings;

pub struct HickoryDns {
    resolver: TokioResolver,
}

/// Names with a dot are asked as they are (fully qualified), so a search
/// domain never turns `pbx.example` into `pbx.example.corp`; a single
/// label such as `pbx` keeps resolv.conf's search list.
fn fqdn(name: &str) -> String {
    if name.contains('.') && !name.ends_with('.') {
        format!("{name}.")
    } else {
        name.to_string()
    }
}

/// A name from DNS as we keep it: lower case, no trailing dot.
fn plain(name: &hickory_resolver::proto::rr::Name) -> String {
    let s = name.to_ascii();
    s.strip_suffix('.').unwrap_or(&s).to_ascii_lowercase()
}

impl HickoryDns {
    /// Must be called inside the tokio runtime.
    pub fn new(s: &SipDnsSettings) -> Result<HickoryDns, ResolveError> {
        let mut builder = if s.servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| ResolveError::Setup(e.to_string()))?
        } else {
            let servers = s
                .servers
                .iter()
                .map(|a| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = a.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = a.port();
                    NameServerConfig::new(a.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let o = builder.options_mut();
        o.cache_size = 0;
        o.timeout = Duration::from_millis(s.timeout_ms);
        o.attempts = s.attempts;
        let resolver = builder
            .build()
            .map_err(|e| ResolveError::Setup(e.to_string()))?;
        Ok(HickoryDns { resolver })
    }

    async fn ask<T>(
        &self,
        name: &str,
        rt: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Answer<T> {
        match self.resolver.lookup(fqdn(name).as_str(), rt).await {
            Ok(lookup) => {
                let mut ttl = u32::MAX;
                let mut out = Vec::new();
                for r in lookup.answers() {
                    if let Some(v) = pick(&r.data) {
                        ttl = ttl.min(r.ttl);
                        out.push(v);
                    }
                }
                if out.is_empty() {
                    Answer::NoRecords
                } else {
                    Answer::Records(out, ttl)
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Answer::NoRecords,
            Err(e) => Answer::Error(e.to_string()),
        }
    }
}

impl Dns for HickoryDns {
    async fn naptr(&self, name: &str) -> Answer<Naptr> {
        self.ask(name, RecordType::NAPTR, |d| match d {
            RData::NAPTR(n) => Some(Naptr {
                order: n.order,
                preference: n.preference,
                flags: String::from_utf8_lossy(&n.flags).into_owned(),
                service: String::from_utf8_lossy(&n.services).into_owned(),
                replacement: plain(&n.replacement),
            }),
            _ => None,
        })
        .await
    }

    async fn srv(&self, name: &str) -> Answer<Srv> {
        self.ask(name, RecordType::SRV, |d| match d {
            RData::SRV(s) => Some(Srv {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: plain(&s.target),
            }),
            _ => None,
        })
        .await
    }

    async fn ip(&self, name: &str, v6: bool) -> Answer<IpAddr> {
        let rt = if v6 { RecordType::AAAA } else { RecordType::A };
        self.ask(name, rt, |d| match d {
            RData::A(a) if !v6 => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) if v6 => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .await
    }
}
