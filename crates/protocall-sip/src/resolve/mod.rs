//! SIP target names (RFC 3263) resolved without ever blocking the hot path.
//!
//! Owns the answer cache, the background worker that fills and refreshes
//! it, and the one synchronous question routing asks: [`SipResolver::lookup`]
//! returns what is cached (or that nothing is yet) and never waits for
//! DNS. Configured targets (trunk, URA, dialplan `uri` steps) are pinned:
//! resolved at start and on dialplan reload, and kept fresh ahead of their
//! TTL, so a call always finds an answer when DNS has one. IP literals
//! never reach DNS.

mod cache;
mod hickory;
pub mod rfc3263;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use self::cache::{Cache, Cached, Limits};
use self::hickory::HickoryDns;
pub use self::rfc3263::{Query, Unresolved};
use super::message::{Scheme, Uri};
use super::router::uri_proto;
use super::transport::Outbound;
pub use crate::metrics::DnsMetrics;
use crate::settings::SipDnsSettings;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
}

/// The hot path's answer for a URI.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Send here (an IP literal, or the first reachable cached address).
    Ready(Outbound),
    /// A name with no answer yet; a resolution has been started.
    Pending,
    /// DNS had no address for it (or the URI's host is not a name).
    Failed(Arc<Unresolved>),
}

/// Who asked, for the failure metric and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Trunk,
    Ura,
    Dialplan,
    /// A Request-URI or Route host in the proxy.
    Request,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Trunk => "trunk",
            Role::Ura => "ura",
            Role::Dialplan => "dialplan",
            Role::Request => "request",
        }
    }
}

/// A URI's host before DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Literal(Outbound),
    Name(Query),
    /// Not an IP address and not a valid DNS name (or not sip/sips).
    Invalid,
}

/// How long an address reported unreachable is put last.
pub const DOWN_FOR: Duration = Duration::from_secs(30);
/// Queries waiting for the worker; past that the hot path just answers
/// `Pending` and a later call asks again.
const QUEUE: usize = 1024;
/// Resolutions running at once.
const CONCURRENT: usize = 32;
/// How often the worker looks for answers to refresh.
const TICK: Duration = Duration::from_secs(1);
/// At most one "no address" warning per this interval, so a dead trunk
/// at a thousand calls a second does not flood the log.
const WARN_EVERY_MS: u64 = 1000;

fn valid_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Where a URI leads before any DNS: an address, a name to resolve, or
/// nothing usable. `maddr` wins over the host, as in `router::resolve`.
pub fn classify(uri: &Uri) -> Host {
    if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
        return Host::Invalid;
    }
    let raw = uri.maddr().unwrap_or(&uri.host);
    let Ok(text) = std::str::from_utf8(raw) else {
        return Host::Invalid;
    };
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Host::Literal(Outbound {
            dest: SocketAddr::new(ip, super::router::default_port(uri)),
            proto: uri_proto(uri),
            conn: None,
        });
    }
    let host = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if !valid_name(&host) {
        return Host::Invalid;
    }
    Host::Name(Query {
        host,
        port: uri.port,
        // Only an explicit `transport=` fixes the transport: a bare sips:
        // URI still goes through NAPTR (restricted to SIPS+D2T).
        transport: uri.transport().map(|_| uri_proto(uri)),
        sips: uri.scheme == Scheme::Sips,
    })
}

fn random_below(n: u32) -> u32 {
    let mut b = [0u8; 4];
    if n == 0 || getrandom::getrandom(&mut b).is_err() {
        return 0;
    }
    u32::from_le_bytes(b) % n
}

/// The resolver shared by routing and the proxy. Cheap to call from any
/// thread; the DNS work happens on tokio tasks.
pub struct SipResolver {
    cache: Arc<Cache>,
    /// `None`: no DNS at all (tests, benchmarks); names fail.
    tx: Option<mpsc::Sender<Query>>,
    dns: Option<Arc<HickoryDns>>,
    /// Addresses reported unreachable, until when.
    down: RwLock<HashMap<SocketAddr, Instant>>,
    metrics: DnsMetrics,
    last_warn_ms: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for SipResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipResolver").finish_non_exhaustive()
    }
}

impl SipResolver {
    /// The resolver with its worker task; must be called inside the tokio
    /// runtime. The worker ends when the resolver is dropped or `stop`
    /// changes.
    pub fn start(
        s: &SipDnsSettings,
        metrics: DnsMetrics,
        stop: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> Result<(Arc<SipResolver>, tokio::task::JoinHandle<()>), ResolveError> {
        if let Some(p) = s.problem() {
            return Err(ResolveError::Setup(p));
        }
        let dns = Arc::new(HickoryDns::new(s)?);
        let cache = Arc::new(Cache::new(Limits {
            floor: Duration::from_secs(u64::from(s.cache_floor_secs)),
            ceiling: Duration::from_secs(u64::from(s.cache_ceiling_secs)),
            negative: Duration::from_secs(u64::from(s.negative_secs)),
            max_names: s.max_names,
        }));
        let (tx, rx) = mpsc::channel(QUEUE);
        let worker = tokio::spawn(work(rx, cache.clone(), dns.clone(), metrics.clone(), stop));
        let r = SipResolver {
            cache,
            tx: Some(tx),
            dns: Some(dns),
            down: RwLock::new(HashMap::new()),
            metrics,
            last_warn_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        Ok((Arc::new(r), worker))
    }

    /// A resolver that knows IP literals only: every name fails. For
    /// routers built without a runtime (benchmarks, unit tests).
    pub fn literal_only() -> SipResolver {
        SipResolver::without_dns(DnsMetrics::unregistered())
    }

    /// [`Self::literal_only`] counting its failures in `metrics`: what the
    /// daemon falls back to when no DNS resolver can be set up (no usable
    /// /etc/resolv.conf), so that a deployment by address still starts.
    pub fn without_dns(metrics: DnsMetrics) -> SipResolver {
        SipResolver {
            cache: Arc::new(Cache::new(Limits {
                floor: Duration::from_secs(1),
                ceiling: Duration::from_secs(1),
                negative: Duration::from_secs(1),
                max_names: 1,
            })),
            tx: None,
            dns: None,
            down: RwLock::new(HashMap::new()),
            metrics,
            last_warn_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn no_dns() -> Arc<Unresolved> {
        Arc::new(Unresolved {
            tried: Vec::new(),
            error: Some("no DNS resolver configured".into()),
        })
    }

    fn invalid() -> Arc<Unresolved> {
        Arc::new(Unresolved {
            tried: Vec::new(),
            error: Some("the host is neither an IP address nor a DNS name".into()),
        })
    }

    /// Hands a query to the worker; on a full queue the in-flight mark is
    /// dropped so that a later call asks again.
    fn ask(&self, q: Query) {
        let Some(tx) = &self.tx else {
            self.cache.abandon(&q);
            return;
        };
        if let Err(e) = tx.try_send(q) {
            let q = match e {
                mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
            };
            self.cache.abandon(&q);
        }
    }

    /// Every cached address for `uri`, in RFC 3263 order (for failover);
    /// `None` when there is none yet. Never blocks.
    pub fn lookup_all(&self, uri: &Uri) -> Option<Arc<[Outbound]>> {
        match classify(uri) {
            Host::Literal(o) => Some(Arc::from(vec![o])),
            Host::Invalid => None,
            Host::Name(q) => match self.cached(&q) {
                Cached::Ready(t) => Some(t),
                _ => None,
            },
        }
    }

    fn cached(&self, q: &Query) -> Cached {
        if self.tx.is_none() {
            return Cached::Failed(Self::no_dns());
        }
        let got = self.cache.get(q, Instant::now());
        if got.ask {
            self.ask(q.clone());
        }
        got.cached
    }

    /// Where to send a request for `uri` now. Synchronous and
    /// non-blocking: an IP literal at once, a name from the cache (the
    /// first address not reported unreachable), else `Pending` (and a
    /// resolution starts in the background) or `Failed`.
    pub fn lookup(&self, uri: &Uri) -> Lookup {
        match classify(uri) {
            Host::Literal(o) => Lookup::Ready(o),
            Host::Invalid => Lookup::Failed(Self::invalid()),
            Host::Name(q) => match self.cached(&q) {
                Cached::Ready(t) => match self.pick(&t) {
                    Some(o) => Lookup::Ready(o),
                    None => Lookup::Pending,
                },
                Cached::Pending => Lookup::Pending,
                Cached::Failed(f) => Lookup::Failed(f),
            },
        }
    }

    /// [`Self::lookup`] for routing: the address, or `None` after a
    /// (rate-limited) warning and a `protocall_dns_failures_total` count.
    pub fn target(&self, uri: &Uri, role: Role) -> Option<Outbound> {
        match self.lookup(uri) {
            Lookup::Ready(o) => Some(o),
            miss => {
                self.report(uri, role, &miss);
                None
            }
        }
    }

    /// Logs (at most once a second) and counts a lookup that gave no
    /// address; `Ready` is ignored.
    pub fn report(&self, uri: &Uri, role: Role, lookup: &Lookup) {
        let (reason, why) = match lookup {
            Lookup::Ready(_) => return,
            Lookup::Pending => ("pending", "no answer from DNS yet".to_string()),
            Lookup::Failed(f) => ("failed", f.to_string()),
        };
        self.metrics.failure(role, reason);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_MS
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                target_kind = role.label(),
                uri = %String::from_utf8_lossy(&uri.raw),
                reason = %why,
                "SIP target has no address; not sent"
            );
        }
    }

    /// For a caller that may wait (a task of its own, never a transport
    /// worker): [`Self::lookup`], and while it is `Pending`, again every
    /// 10 ms until `limit` has passed.
    pub async fn lookup_within(&self, uri: &Uri, limit: Duration) -> Lookup {
        let deadline = Instant::now() + limit;
        loop {
            let l = self.lookup(uri);
            if !matches!(l, Lookup::Pending) || Instant::now() >= deadline {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn pick(&self, targets: &[Outbound]) -> Option<Outbound> {
        let down = self.down.read().unwrap_or_else(|e| e.into_inner());
        if down.is_empty() {
            return targets.first().copied();
        }
        let now = Instant::now();
        targets
            .iter()
            .find(|t| down.get(&t.dest).is_none_or(|until| now >= *until))
            .or(targets.first())
            .copied()
    }

    /// Reports that `dest` did not answer (a transaction timeout or a
    /// transport error): for [`DOWN_FOR`], [`Self::lookup`] prefers the
    /// next address of the same name (RFC 3263 §4.3 failover).
    pub fn mark_unreachable(&self, dest: SocketAddr) {
        let now = Instant::now();
        let mut down = self.down.write().unwrap_or_else(|e| e.into_inner());
        down.retain(|_, until| *until > now);
        down.insert(dest, now + DOWN_FOR);
    }

    /// Makes `uris` the configured targets: their names are kept resolved
    /// and fresh from now on (names no longer configured are left to
    /// expire). New names start resolving in the background; nothing
    /// waits.
    pub fn watch_now(&self, uris: &[Uri]) -> HashSet<Query> {
        let names: HashSet<Query> = uris
            .iter()
            .filter_map(|u| match classify(u) {
                Host::Name(q) => Some(q),
                _ => None,
            })
            .collect();
        if self.tx.is_some() {
            for q in self.cache.pin(&names, Instant::now()) {
                self.ask(q);
            }
        }
        names
    }

    /// [`Self::watch_now`], then waits at most `wait` for the names' first
    /// answers and returns those that have none by then, with why.
    pub async fn watch(&self, uris: &[Uri], wait: Duration) -> Vec<(Query, Arc<Unresolved>)> {
        let names = self.watch_now(uris);
        if self.tx.is_none() {
            return names.into_iter().map(|q| (q, Self::no_dns())).collect();
        }
        let deadline = Instant::now() + wait;
        loop {
            let mut missing = Vec::new();
            let mut pending = false;
            for q in &names {
                // Through `cached`, so a refresh this read makes due is
                // handed to the worker, not left marked in flight.
                match self.cached(q) {
                    Cached::Ready(_) => {}
                    Cached::Pending => {
                        pending = true;
                        missing.push((q.clone(), Arc::new(Unresolved::default())));
                    }
                    Cached::Failed(f) => missing.push((q.clone(), f)),
                }
            }
            if !pending || Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resolves `uri` now, bypassing the cache (for `protocall check`).
    pub async fn resolve_now(&self, uri: &Uri) -> Result<Vec<Outbound>, Arc<Unresolved>> {
        match classify(uri) {
            Host::Literal(o) => Ok(vec![o]),
            Host::Invalid => Err(Self::invalid()),
            Host::Name(q) => match &self.dns {
                None => Err(Self::no_dns()),
                Some(dns) => rfc3263::resolve(&**dns, &q, &mut random_below)
                    .await
                    .map(|r| r.targets)
                    .map_err(Arc::new),
            },
        }
    }
}

/// Resolves when shutdown is signalled; never without a receiver.
async fn stopped(stop: &mut Option<tokio::sync::watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            let _ = rx.changed().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The worker: resolves what the hot path and `watch` ask for, and every
/// second what is due for a refresh.
async fn work(
    mut rx: mpsc::Receiver<Query>,
    cache: Arc<Cache>,
    dns: Arc<HickoryDns>,
    metrics: DnsMetrics,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
) {
    let mut stop = stop;
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let queries = tokio::select! {
            q = rx.recv() => match q {
                Some(q) => vec![q],
                None => return,
            },
            _ = tick.tick() => cache.due(Instant::now()),
            _ = stopped(&mut stop) => return,
        };
        for q in queries {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (cache, dns, metrics) = (cache.clone(), dns.clone(), metrics.clone());
            tokio::spawn(async move {
                let outcome = rfc3263::resolve(&*dns, &q, &mut random_below).await;
                metrics.resolution(outcome.is_ok());
                if let Err(u) = &outcome {
                    tracing::debug!(name = %q.describe(), reason = %u, "SIP name not resolved");
                }
                cache.store(&q, outcome, Instant::now());
                drop(permit);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Proto;

    fn uri(s: &str) -> Uri {
        Uri::parse(bytes::Bytes::from(s.to_string())).unwrap()
    }

    #[test]
    fn literals_names_and_junk_are_told_apart() {
        let Host::Literal(o) = classify(&uri("sip:ura@192.0.2.4:5081;transport=tcp")) else {
            panic!()
        };
        assert_eq!(o.dest, "192.0.2.4:5081".parse().unwrap());
        assert_eq!(o.proto, Proto::Tcp);
        assert!(matches!(
            classify(&uri("sip:[2001:db8::1]")),
            Host::Literal(o) if o.dest.port() == 5060
        ));
        assert_eq!(
            classify(&uri("sips:Trunk.Example.")),
            Host::Name(Query {
                host: "trunk.example".into(),
                port: None,
                transport: None,
                sips: true,
            })
        );
        assert_eq!(
            classify(&uri("sip:x@pbx.example:5070;transport=TCP")),
            Host::Name(Query {
                host: "pbx.example".into(),
                port: Some(5070),
                transport: Some(Proto::Tcp),
                sips: false,
            })
        );
        assert_eq!(classify(&uri("tel:+5511987654321")), Host::Invalid);
    }

    #[test]
    fn without_dns_names_fail_and_literals_still_work() {
        let r = SipResolver::literal_only();
        assert!(matches!(
            r.lookup(&uri("sip:192.0.2.1")),
            Lookup::Ready(o) if o.dest.port() == 5060
        ));
        assert!(matches!(
            r.lookup(&uri("sip:pbx.example")),
            Lookup::Failed(_)
        ));
        assert_eq!(r.target(&uri("sip:pbx.example"), Role::Dialplan), None);
    }

    #[test]
    fn an_unreachable_address_goes_last_for_a_while() {
        let r = SipResolver::literal_only();
        let t: Vec<Outbound> = [5060, 5070]
            .map(|p| Outbound {
                dest: SocketAddr::from(([192, 0, 2, 1], p)),
                proto: Proto::Udp,
                conn: None,
            })
            .to_vec();
        assert_eq!(r.pick(&t).map(|o| o.dest.port()), Some(5060));
        r.mark_unreachable(t[0].dest);
        assert_eq!(r.pick(&t).map(|o| o.dest.port()), Some(5070));
        // All down: the first still, rather than nothing.
        r.mark_unreachable(t[1].dest);
        assert_eq!(r.pick(&t).map(|o| o.dest.port()), Some(5060));
    }
}
