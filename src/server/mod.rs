//! Assembly of the SIP side: transports, proxy, registrar, the location
//! table with its write-behind copy in the store, and the in-memory cache
//! of consultants' digest secrets.
//!
//! This is the one place that knows both SIP and the store: it turns
//! bindings into rows (`bindings`) and consultants into credentials
//! (`credentials`), so neither side has to know the other. `start` only
//! assembles; what runs beside the transports until shutdown is in
//! `tasks`, one function per task.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::{Settings, SipSettings};
use crate::directory::snapshot::SharedDirectory;
use crate::metrics::SipMetrics;
use crate::net::TrustedPeers;
use crate::routing::desk::DeskRouter;
use crate::routing::dialplan::load_dir;
use crate::sip::dialog::EventSink;
use crate::sip::guard::{Guard, GuardConfig};
use crate::sip::location::{Location, LocationChange};
use crate::sip::message::Uri;
use crate::sip::proxy::{Destinations, EdgeConfig, Proxy, ProxyConfig, RouteKey, Wire};
use crate::sip::registrar::{CredentialSource, Registrar, RegistrarConfig};
use crate::sip::resolve::SipResolver;
use crate::sip::router::{Router, StaticRouter};
use crate::sip::transaction::Timers;
use crate::sip::transport::{
    self, Handler, Inbound, Outbound, Sender, TlsIdentity, TlsListen, TransportConfig, Transports,
};
use crate::store::{Store, StoreError};

mod bindings;
mod credentials;
mod tasks;

use bindings::persist;
pub(crate) use bindings::row_binding;
pub use credentials::CredentialCache;

/// How often transaction timers are looked at. Retransmission timers are
/// 500 ms and up, so 10 ms of slack is noise.
pub const TICK: Duration = Duration::from_millis(10);
/// How often the edge guard forgets idle sources and ends bans.
pub const GUARD_SWEEP: Duration = Duration::from_secs(1);
/// How many binding changes may wait for the store before new ones are
/// dropped (and rebuilt from the table at the next start).
pub const LOCATION_QUEUE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long start-up waits for configured names: one full query round
/// (every attempt), but never more than ten seconds.
fn resolve_wait(dns: &crate::config::SipDnsSettings) -> Duration {
    let attempts = u32::try_from(dns.attempts).unwrap_or(u32::MAX);
    Duration::from_millis(dns.timeout_ms)
        .saturating_mul(attempts)
        .min(Duration::from_secs(10))
}

/// The transport's handler: the proxy, once it exists (it needs the bound
/// port, which exists only after the transport started).
struct ProxyHandler {
    proxy: OnceLock<Arc<Proxy>>,
}

struct SenderWire<'a>(&'a Sender);

impl Wire for SenderWire<'_> {
    fn send(&self, to: Outbound, bytes: bytes::Bytes) {
        if let Err(e) = self.0.send(to, bytes) {
            tracing::debug!(error = %e, dest = %to.dest, "SIP send failed");
        }
    }
}

impl Handler for ProxyHandler {
    fn on_message(&self, msg: Inbound, tx: &Sender) {
        if let Some(p) = self.proxy.get() {
            p.on_message(msg, &SenderWire(tx));
        }
    }
}

/// The running SIP side.
pub struct SipServer {
    /// The desk router, when routing by dialplan (not by a static table).
    pub desk: Option<Arc<DeskRouter>>,
    /// The in-memory directory routing reads.
    pub directory: Arc<SharedDirectory>,
    pub udp_addr: SocketAddr,
    pub tcp_addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub proxy: Arc<Proxy>,
    pub location: Arc<Location>,
    pub credentials: Arc<CredentialCache>,
    /// Flood and password-guessing protection (`[security]`); its sweep
    /// runs here, the proxy consults it.
    pub guard: Arc<Guard>,
    transports: Transports,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Local names for URIs: the advertised host, the listen address and the
/// configured domains.
fn local_hosts(cfg: &SipSettings, bound: SocketAddr, advertised: &str) -> Vec<String> {
    let mut hosts = vec![
        bound.ip().to_string(),
        format!("[{}]", bound.ip()),
        advertised.to_string(),
    ];
    if bound.ip().is_unspecified() || bound.ip().is_loopback() {
        hosts.extend([
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "[::1]".to_string(),
        ]);
    }
    hosts.extend(cfg.domains.iter().cloned());
    hosts
}

/// The key that signs our Record-Routes (see `sip::proxy::edge`). It is
/// kept on local disk beside the contacts journal, so that calls in
/// progress can still be hung up through us after a restart; the first
/// start makes it, readable by this user only.
fn route_key(dir: &std::path::Path) -> Result<RouteKey, SipError> {
    use std::io::Write;
    let path = dir.join("sip-route.key");
    let setup = |e: &dyn std::fmt::Display| SipError::Setup(format!("{}: {e}", path.display()));
    let read = |text: &str| -> Result<RouteKey, SipError> {
        let bytes = hex::decode(text.trim()).map_err(|e| setup(&e))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| setup(&"not a 32-byte hex key"))?;
        Ok(RouteKey::from_bytes(key))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return read(&text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(setup(&e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).map_err(|e| setup(&e))?;
    let mut key = [0u8; 32];
    getrandom::getrandom(&mut key).map_err(|e| setup(&e))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(hex::encode(key).as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| setup(&e))?;
            Ok(RouteKey::from_bytes(key))
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(&std::fs::read_to_string(&path).map_err(|e| setup(&e))?)
        }
        Err(e) => Err(setup(&e)),
    }
}

/// How often consultants' presence is compared with the database.
const PRESENCE_POLL: Duration = Duration::from_secs(2);

/// What the desk router shares with the call log.
#[derive(Default)]
pub struct CallHooks {
    /// Where routing decisions go.
    pub routed: Option<mpsc::Sender<crate::routing::note::RoutedCall>>,
    /// Consultants in a call, maintained by the call log.
    pub in_call: Arc<crate::routing::busy::InCall>,
}

/// What the SIP side is wired to: the rest of the application, as seen
/// from here.
pub struct Wiring {
    pub store: Store,
    pub metrics: SipMetrics,
    /// Bumped on every directory change (the snapshot and credentials
    /// are reloaded).
    pub directory_version: watch::Receiver<u64>,
    /// Protocols changed one by one (patched into the snapshot).
    pub protocol_changes: crate::directory::protocol_changes::ProtocolChanges,
    /// Where dialog events go.
    pub events: EventSink,
    pub hooks: CallHooks,
    /// Decides where initial requests go; the desk router (or, with
    /// `sip.static_routes`, the static one) when `None`.
    pub router: Option<Arc<dyn Router>>,
    pub shutdown: watch::Receiver<bool>,
}

/// Starts the SIP side.
pub async fn start(settings: &Settings, wiring: Wiring) -> Result<SipServer, SipError> {
    let Wiring {
        store,
        metrics,
        directory_version,
        protocol_changes,
        events,
        hooks,
        router,
        shutdown,
    } = wiring;
    let in_call = hooks.in_call.clone();
    let cfg = &settings.sip;
    let advertised = cfg.advertised();
    match &advertised {
        crate::config::Advertised::LoopbackOnly(h) => tracing::warn!(
            host = %h,
            "listening on every address, no sip.advertised_host and no default route: \
             Via and Record-Route name loopback, so only phones on this host can follow them"
        ),
        a => tracing::info!(host = %a.host(), "advertised SIP host"),
    }
    let tls_identity = match &cfg.tls {
        Some(t) => Some((
            t.listen,
            TlsIdentity::load(&t.cert, &t.key)
                .map_err(|e| SipError::Setup(format!("sip.tls: {e}")))?,
        )),
        None => None,
    };
    // One list of carrier trunks and PBXs for the router, the proxy and the
    // guard.
    let trusted = TrustedPeers::parse(&settings.routing.trusted_peers)
        .map_err(|e| SipError::Setup(format!("routing.trusted_peers: {e}")))?;
    let credentials = Arc::new(CredentialCache::default());
    let directory = Arc::new(SharedDirectory::new(store.load_snapshot().await?));
    let directory_for_log = directory.clone();
    credentials.reload(&store).await?;

    let (loc_tx, loc_rx) = mpsc::channel::<LocationChange>(LOCATION_QUEUE);
    let reg_cfg = RegistrarConfig {
        realm: cfg.realm.clone(),
        min_expires: cfg.min_expires,
        max_expires: cfg.max_expires,
        default_expires: cfg.default_expires,
        max_bindings_per_aor: cfg.max_bindings_per_aor,
        algorithms: cfg
            .digest_algorithm_list()
            .map_err(|e| SipError::Setup(format!("sip.digest_algorithms: {e}")))?,
        md5_only_agents: cfg.digest_md5_only_agents.clone(),
        local_hosts: local_hosts(cfg, cfg.listen, advertised.host()),
    };
    let location = Arc::new(Location::with_sink(
        reg_cfg.location_config(),
        Box::new(move |change| {
            if loc_tx.try_send(change).is_err() {
                tracing::warn!("binding change not persisted: write-behind queue full");
            }
        }),
    ));
    let now = chrono::Utc::now().timestamp_millis();
    let restored = store.load_registrations(now).await?;
    let kept = location.load(restored.into_iter().filter_map(row_binding), now);
    tracing::info!(bindings = kept, "restored registrations");

    let registrar = Registrar::new(
        reg_cfg,
        credentials.clone() as Arc<dyn CredentialSource>,
        location.clone(),
    )
    .map_err(|e| SipError::Setup(e.to_string()))?;
    let (resolver, resolver_task) = match SipResolver::start(
        &cfg.dns,
        metrics.dns.clone(),
        Some(shutdown.clone()),
    ) {
        Ok(started) => started,
        // Targets given by address need no DNS: start anyway, and let
        // every name fail (warned about below and at each call).
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: SIP targets given by host name will not be reached");
            let r = Arc::new(SipResolver::without_dns(metrics.dns.clone()));
            (r, tokio::spawn(async {}))
        }
    };
    let mut desk: Option<Arc<DeskRouter>> = None;
    let router: Arc<dyn Router> = match (router, &cfg.static_routes) {
        (Some(r), _) => r,
        (None, Some(path)) => {
            let r =
                StaticRouter::load(path, cfg.static_default_target.as_deref(), location.clone())
                    .map_err(|e| SipError::Setup(e.to_string()))?;
            tracing::info!(routes = r.len(), "static routing table loaded");
            Arc::new(r)
        }
        (None, None) => {
            let plan =
                load_dir(&settings.routing.dialplans, settings.locale.tz()).map_err(|errs| {
                    let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
                    SipError::Setup(text.join("\n"))
                })?;
            let ura = match &settings.routing.ura_uri {
                Some(u) => Some(
                    Uri::parse(bytes::Bytes::from(u.clone()))
                        .map_err(|e| SipError::Setup(format!("routing.ura_uri: {}", e.reason)))?,
                ),
                None => None,
            };
            let d = Arc::new(DeskRouter {
                directory: directory.clone(),
                dialplan: Arc::new(RwLock::new(Arc::new(plan))),
                dialplans_dir: settings.routing.dialplans.clone(),
                location: location.clone(),
                trusted: trusted.clone(),
                country: settings.locale.country(),
                tz: settings.locale.tz(),
                ura,
                trunk: settings
                    .routing
                    .trunk_uri
                    .as_deref()
                    .map(crate::routing::desk::Trunk::parse)
                    .transpose()
                    .map_err(|e| SipError::Setup(format!("routing.trunk_uri: {e}")))?,
                in_call: hooks.in_call.clone(),
                skip_busy: settings.routing.skip_busy,
                notes: hooks.routed.clone(),
                decision_seconds: Some(metrics.routing_decision.clone()),
                resolver: resolver.clone(),
            });
            // The first call must find its names answered: wait for them
            // here, within the DNS timeout (a name still without an answer
            // is warned about and keeps being asked in the background).
            d.resolve_targets(resolve_wait(&cfg.dns)).await;
            desk = Some(d.clone());
            d
        }
    };

    let guard = Arc::new(Guard::new(
        GuardConfig::from(&settings.security),
        trusted.clone(),
        metrics.guard.clone(),
    ));

    let handler = Arc::new(ProxyHandler {
        proxy: OnceLock::new(),
    });
    let transports = transport::start(
        TransportConfig {
            listen: cfg.listen,
            udp_workers: cfg.udp_workers,
            max_message_size: cfg.max_message_bytes,
            max_tcp_connections: cfg.max_tcp_connections,
            tcp_idle_timeout: Duration::from_secs(cfg.tcp_idle_timeout_secs),
            tcp_outbound_reserve: cfg.tcp_outbound_reserve,
            max_tcp_connections_per_source: cfg.max_tcp_connections_per_source,
            tcp_message_timeout: Duration::from_secs(cfg.tcp_message_timeout_secs),
            tls: tls_identity
                .clone()
                .map(|(listen, identity)| TlsListen { listen, identity }),
            ..TransportConfig::default()
        },
        handler.clone(),
        shutdown.clone(),
    )
    .await?;
    metrics.transport.attach(Arc::clone(&transports.stats));
    let proxy = Arc::new(Proxy::new(
        ProxyConfig {
            timers: Timers {
                t1: Duration::from_millis(cfg.t1_ms),
                t2: Duration::from_millis(cfg.t2_ms),
                t4: Duration::from_millis(cfg.t4_ms),
                timer_c: Duration::from_secs(cfg.timer_c_secs),
            },
            advertised_host: advertised.host().to_string(),
            advertised_port: transports.udp_addr.port(),
            advertised_tls_port: transports.tls_addr.map(|a| a.port()),
            resolver: Some(resolver.clone()),
            local_hosts: local_hosts(cfg, transports.udp_addr, advertised.host()),
            front_addresses: cfg.front_addresses.clone(),
            shards: 1024,
            trusted: trusted.clone(),
            edge: EdgeConfig {
                route_key: route_key(&settings.tracking.journal_dir)?,
                destinations: Destinations {
                    allowed: TrustedPeers::parse(&settings.security.allowed_destinations).map_err(
                        |e| SipError::Setup(format!("security.allowed_destinations: {e}")),
                    )?,
                },
                realm: cfg.realm.clone(),
                max_dialog_age: Duration::from_secs(
                    u64::from(settings.routing.max_call_hours).saturating_mul(3600),
                ),
                guard: Some(guard.clone()),
            },
        },
        router,
        Some(Arc::new(registrar)),
        events,
        metrics.clone(),
    ));
    let _ = handler.proxy.set(proxy.clone());

    let mut background = vec![
        resolver_task,
        tasks::timers(proxy.clone(), transports.sender.clone(), shutdown.clone()),
        tasks::guard_sweep(guard.clone(), shutdown.clone()),
        tasks::expiry(location.clone(), metrics, shutdown.clone()),
        tasks::write_behind(store.clone(), loc_rx, shutdown.clone()),
        tasks::presence_poll(
            store.clone(),
            directory.clone(),
            credentials.clone(),
            shutdown.clone(),
        ),
    ];
    // Instances sharing the desk: their bindings, calls in progress and
    // directory changes.
    if settings.cluster.enabled() {
        let local = crate::cluster::Local {
            location: location.clone(),
            in_call: in_call.clone(),
            directory: directory.clone(),
            credentials: credentials.clone(),
            directory_version: directory_version.clone(),
            protocol_changes: protocol_changes.clone(),
        };
        background.push(tokio::spawn(crate::cluster::run(
            settings.cluster.clone(),
            store.clone(),
            local,
            shutdown.clone(),
        )));
    }
    #[cfg(unix)]
    background.extend(tasks::reload_on_hangup(
        desk.clone(),
        tls_identity.as_ref().map(|(_, id)| id.clone()),
        shutdown.clone(),
    ));
    background.push(tasks::directory_refresh(
        store,
        directory,
        credentials.clone(),
        directory_version,
        protocol_changes,
        shutdown,
    ));
    Ok(SipServer {
        desk,
        directory: directory_for_log,
        udp_addr: transports.udp_addr,
        tcp_addr: transports.tcp_addr,
        tls_addr: transports.tls_addr,
        proxy,
        location,
        credentials,
        guard,
        transports,
        background,
    })
}

impl SipServer {
    /// Waits for the transports and background tasks after shutdown was
    /// signalled.
    pub async fn join(self) {
        self.transports.tasks.join().await;
        for t in self.background {
            let _ = t.await;
        }
    }
}
