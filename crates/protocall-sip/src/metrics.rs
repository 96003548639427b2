//! The SIP side's Prometheus metrics: requests, responses, transactions,
//! the edge guard's bans and drops (`GuardMetrics`), the transports'
//! counters (`TransportCollector`) and name resolution (`DnsMetrics`).
//! `protocall::metrics` registers them with the rest of the daemon's.
//!
//! Handles are created once and cloned where needed; labels are bounded
//! (method, status class, reason), never per-user or per-call.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::message::Method;
use crate::transport::Proto;

mod dns;
mod transport;
pub use dns::DnsMetrics;
pub use transport::TransportCollector;

/// SIP counters with their label values bound once: a `with_label_values`
/// lookup per message is measurable at tens of thousands of datagrams a
/// second.
#[derive(Clone)]
pub struct SipMetrics {
    requests: [IntCounter; 10],
    responses: [IntCounter; 6],
    parse_errors: [IntCounter; 3],
    pub transactions_active: IntGauge,
    pub retransmissions: IntCounter,
    pub registrations_active: IntGauge,
    pub calls_active: IntGauge,
    pub call_setup: Histogram,
    pub events_dropped: IntCounter,
    /// INVITEs refused because they came from neither a trusted peer nor an
    /// authenticated consultant.
    pub calls_rejected_untrusted: IntCounter,
    /// Time the router takes to decide where a call goes.
    pub routing_decision: Histogram,
    /// The edge guard's (bans, drops, failed authentications).
    pub guard: GuardMetrics,
    /// Connection and TLS counters, read from the transports.
    pub transport: TransportCollector,
    /// SIP target name resolution.
    pub dns: DnsMetrics,
}

/// Methods `protocall_auth_failures_total` tells apart; any other is
/// "other", so an attacker cannot grow the label set.
pub const AUTH_METHOD_LABELS: [&str; 12] = [
    "REGISTER",
    "INVITE",
    "MESSAGE",
    "SUBSCRIBE",
    "NOTIFY",
    "OPTIONS",
    "REFER",
    "PUBLISH",
    "INFO",
    "UPDATE",
    "BYE",
    "other",
];

/// The SIP edge guard's metrics (`crate::guard`), label values bound
/// once like `SipMetrics`'.
#[derive(Clone)]
pub struct GuardMetrics {
    auth_failures: [IntCounter; AUTH_METHOD_LABELS.len()],
    pub bans_active: IntGauge,
    /// `protocall_requests_dropped_total` by reason, each label bound once:
    /// the guard's (banned, flood, txn_cap) and the proxy's edge policy
    /// (no_dialog: in-dialog request outside a route set we signed; relay:
    /// out-of-dialog request to an internal address).
    pub requests_dropped: IntCounterVec,
    pub dropped_banned: IntCounter,
    pub dropped_flood: IntCounter,
    pub dropped_txn_cap: IntCounter,
    pub dropped_no_dialog: IntCounter,
    pub dropped_relay: IntCounter,
}

impl GuardMetrics {
    fn new(registry: &Registry) -> Result<GuardMetrics, prometheus::Error> {
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "protocall_auth_failures_total",
                "Failed digest checks (wrong password, unknown user, bad nonce), by method.",
            ),
            &["method"],
        )?;
        let bans_active = IntGauge::new(
            "protocall_bans_active",
            "Source addresses banned at the SIP edge now.",
        )?;
        let requests_dropped = IntCounterVec::new(
            Opts::new(
                "protocall_requests_dropped_total",
                "SIP messages dropped without an answer, by reason.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(bans_active.clone()))?;
        registry.register(Box::new(requests_dropped.clone()))?;
        Ok(GuardMetrics {
            auth_failures: AUTH_METHOD_LABELS.map(|m| auth_failures.with_label_values(&[m])),
            bans_active,
            dropped_banned: requests_dropped.with_label_values(&["banned"]),
            dropped_flood: requests_dropped.with_label_values(&["flood"]),
            dropped_txn_cap: requests_dropped.with_label_values(&["txn_cap"]),
            dropped_no_dialog: requests_dropped.with_label_values(&["no_dialog"]),
            dropped_relay: requests_dropped.with_label_values(&["relay"]),
            requests_dropped,
        })
    }

    /// Metrics on a private registry, for tests and benchmarks.
    pub fn unregistered() -> GuardMetrics {
        match GuardMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }

    /// Counts one failed digest check; returns the method's bounded label.
    pub fn auth_failure(&self, method: &str) -> &'static str {
        // The last label is the catch-all for methods not listed.
        let (i, label) = AUTH_METHOD_LABELS
            .iter()
            .enumerate()
            .find(|(_, m)| **m == method)
            .or_else(|| AUTH_METHOD_LABELS.iter().enumerate().next_back())
            .map_or((0, "other"), |(i, m)| (i, *m));
        if let Some(c) = self.auth_failures.get(i) {
            c.inc();
        }
        label
    }

    pub fn auth_failures(&self, label: &str) -> u64 {
        AUTH_METHOD_LABELS
            .iter()
            .position(|m| *m == label)
            .and_then(|i| self.auth_failures.get(i))
            .map_or(0, |c| c.get())
    }
}

const METHOD_LABELS: [&str; 10] = [
    "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "UPDATE", "INFO", "PRACK", "other",
];

impl SipMetrics {
    /// Registers the SIP metrics on `registry` (`protocall::metrics::Metrics`
    /// does, with the rest).
    pub fn new(registry: &Registry) -> Result<SipMetrics, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "protocall_sip_requests_total",
                "SIP requests received, by method.",
            ),
            &["method"],
        )?;
        let responses = IntCounterVec::new(
            Opts::new(
                "protocall_sip_responses_total",
                "SIP responses received, by status class.",
            ),
            &["code_class"],
        )?;
        let parse_errors = IntCounterVec::new(
            Opts::new(
                "protocall_sip_parse_errors_total",
                "SIP messages that could not be parsed, by transport.",
            ),
            &["transport"],
        )?;
        let transactions_active = IntGauge::new(
            "protocall_sip_transactions_active",
            "SIP transactions held in memory.",
        )?;
        let retransmissions = IntCounter::new(
            "protocall_sip_retransmissions_total",
            "SIP retransmissions sent or absorbed.",
        )?;
        let registrations_active = IntGauge::new(
            "protocall_registrations_active",
            "Unexpired registrar bindings.",
        )?;
        let calls_active = IntGauge::new("protocall_calls_active", "Answered calls in progress.")?;
        let call_setup = Histogram::with_opts(
            HistogramOpts::new(
                "protocall_call_setup_seconds",
                "From INVITE received to 2xx forwarded.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0,
                60.0,
            ]),
        )?;
        let events_dropped = IntCounter::new(
            "protocall_dialog_events_dropped_total",
            "Dialog events lost because their consumer was full.",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(responses.clone()))?;
        registry.register(Box::new(parse_errors.clone()))?;
        registry.register(Box::new(transactions_active.clone()))?;
        registry.register(Box::new(retransmissions.clone()))?;
        registry.register(Box::new(registrations_active.clone()))?;
        registry.register(Box::new(calls_active.clone()))?;
        registry.register(Box::new(call_setup.clone()))?;
        registry.register(Box::new(events_dropped.clone()))?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "protocall_calls_rejected_total",
                "Calls refused before routing, by reason.",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(rejected.clone()))?;
        let routing_decision = Histogram::with_opts(
            HistogramOpts::new(
                "protocall_routing_decision_seconds",
                "Time to decide where a call goes (caller lookup, dialplan, bindings).",
            )
            .buckets(vec![
                0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005,
            ]),
        )?;
        registry.register(Box::new(routing_decision.clone()))?;
        let guard = GuardMetrics::new(registry)?;
        let transport = TransportCollector::new()?;
        registry.register(Box::new(transport.clone()))?;
        let dns = DnsMetrics::new(registry)?;
        Ok(SipMetrics {
            guard,
            transport,
            dns,
            requests: METHOD_LABELS.map(|m| requests.with_label_values(&[m])),
            responses: ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]
                .map(|c| responses.with_label_values(&[c])),
            parse_errors: ["udp", "tcp", "tls"].map(|t| parse_errors.with_label_values(&[t])),
            transactions_active,
            retransmissions,
            registrations_active,
            calls_active,
            call_setup,
            events_dropped,
            calls_rejected_untrusted: rejected.with_label_values(&["untrusted"]),
            routing_decision,
        })
    }

    /// Metrics on a private registry, for tests and benchmarks.
    pub fn unregistered() -> SipMetrics {
        match SipMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }

    pub fn request(&self, m: &Method) {
        let i = match m {
            Method::Invite => 0,
            Method::Ack => 1,
            Method::Bye => 2,
            Method::Cancel => 3,
            Method::Register => 4,
            Method::Options => 5,
            Method::Update => 6,
            Method::Info => 7,
            Method::Prack => 8,
            _ => 9,
        };
        if let Some(c) = self.requests.get(i) {
            c.inc();
        }
    }

    pub fn response(&self, code: u16) {
        let i = usize::from((code / 100).clamp(1, 6) - 1);
        if let Some(c) = self.responses.get(i) {
            c.inc();
        }
    }

    pub fn parse_error(&self, proto: Proto) {
        let i = match proto {
            Proto::Udp => 0,
            Proto::Tcp => 1,
            Proto::Tls => 2,
        };
        if let Some(c) = self.parse_errors.get(i) {
            c.inc();
        }
    }
}
