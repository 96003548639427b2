//! The SIP transports' own counters (`sip::transport::TransportStats`) as
//! Prometheus metrics, read from the transport's atomics at scrape time so
//! that the hot path pays nothing for them.

use std::sync::{Arc, OnceLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounterVec, IntGauge, Opts};

use crate::sip::transport::TransportStats;

/// Registered with the registry at start-up; shows nothing until the
/// transports exist and [`TransportCollector::attach`] has been called.
#[derive(Clone)]
pub struct TransportCollector {
    stats: Arc<OnceLock<Arc<TransportStats>>>,
    connections_open: IntGauge,
    connections_refused: IntCounterVec,
    tls_handshakes: IntGauge,
    tls_handshake_errors: IntGauge,
    descs: Vec<Desc>,
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
        // Counters kept as gauges of the transport's own monotonic counts:
        // the value is set from the atomic at each scrape.
        let tls_handshakes = IntGauge::new(
            "protocall_tls_handshakes_total",
            "TLS handshakes completed on the SIP TLS listener.",
        )?;
        let tls_handshake_errors = IntGauge::new(
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
        let s = stats.snapshot();
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.connections_open.set(signed(s.tcp_open));
        for (reason, value) in [
            ("cap", s.tcp_rejected_cap),
            ("source", s.tcp_rejected_source),
        ] {
            let c = self.connections_refused.with_label_values(&[reason]);
            c.inc_by(value.saturating_sub(c.get()));
        }
        self.tls_handshakes.set(signed(s.tls_accepted));
        self.tls_handshake_errors
            .set(signed(s.tls_handshake_errors));
        let mut families = self.connections_open.collect();
        families.extend(self.connections_refused.collect());
        families.extend(self.tls_handshakes.collect());
        families.extend(self.tls_handshake_errors.collect());
        families
    }
}
