//! The SIP transports' own counters (`sip::transport::TransportStats`) as
//! Prometheus metrics, read from the transport's atomics at scrape time so
//! that the hot path pays nothing for them.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use crate::transport::TransportStats;

/// Registered with the registry at start-up; shows nothing until the
/// transports exist and [`TransportCollector::attach`] has been called.
#[derive(Clone)]
pub struct TransportCollector {
    stats: Arc<OnceLock<Arc<TransportStats>>>,
    connections_open: IntGauge,
    connections_refused: IntCounterVec,
    tls_handshakes: IntCounter,
    tls_handshake_errors: IntCounter,
    descs: Vec<Desc>,
    /// Two scrapes at once must not both add the same delta.
    catching_up: Arc<Mutex<()>>,
}

impl TransportCollector {
    pub fn new() -> Result<TransportCollector, prometheus::Error> {
        let connections_open = IntGauge::new(
            "protocall_sip_stream_connections_open",
            "TCP and TLS connections open or opening.",
        )?;
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "protocall_sip_stream_connections_refused_total",
                "Inbound TCP and TLS connections closed at once, by reason (cap: every \
                 inbound slot taken; source: the source's share taken).",
            ),
            &["reason"],
        )?;
        // The transport's own monotonic counts, caught up at each scrape.
        let tls_handshakes = IntCounter::new(
            "protocall_tls_handshakes_total",
            "TLS handshakes completed on the SIP TLS listener.",
        )?;
        let tls_handshake_errors = IntCounter::new(
            "protocall_tls_handshake_errors_total",
            "TLS handshakes on the SIP TLS listener that failed or timed out.",
        )?;
        let descs = [
            connections_open.desc(),
            connections_refused.desc(),
            tls_handshakes.desc(),
            tls_handshake_errors.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(TransportCollector {
            stats: Arc::new(OnceLock::new()),
            connections_open,
            connections_refused,
            tls_handshakes,
            tls_handshake_errors,
            descs,
            catching_up: Arc::new(Mutex::new(())),
        })
    }

    /// Points the collector at the running transports' counters.
    pub fn attach(&self, stats: Arc<TransportStats>) {
        let _ = self.stats.set(stats);
    }
}

impl Collector for TransportCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(stats) = self.stats.get() else {
            return Vec::new();
        };
        let _one_at_a_time = self
            .catching_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let s = stats.snapshot();
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let catch_up = |c: &IntCounter, value: u64| c.inc_by(value.saturating_sub(c.get()));
        self.connections_open.set(signed(s.tcp_open));
        for (reason, value) in [
            ("cap", s.tcp_rejected_cap),
            ("source", s.tcp_rejected_source),
        ] {
            catch_up(
                &self.connections_refused.with_label_values(&[reason]),
                value,
            );
        }
        catch_up(&self.tls_handshakes, s.tls_accepted);
        catch_up(&self.tls_handshake_errors, s.tls_handshake_errors);
        let mut families = self.connections_open.collect();
        families.extend(self.connections_refused.collect());
        families.extend(self.tls_handshakes.collect());
        families.extend(self.tls_handshake_errors.collect());
        families
    }
}
