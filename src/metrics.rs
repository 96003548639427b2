//! The Prometheus registry and the metrics every part of protocall shares.
//!
//! Handles are created once and cloned where needed; labels are bounded
//! (method, route template, status class), never per-user or per-call.

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

mod chat;
mod mail;
mod protocol_sync;
pub use chat::ChatMetrics;
pub use mail::MailMetrics;
pub use protocol_sync::ProtocolSyncMetrics;
// The SIP side's own metrics live with it (protocall-sip); registered here
// with the rest.
pub use protocall_sip::metrics::{
    DnsMetrics, GuardMetrics, SipMetrics, TransportCollector, AUTH_METHOD_LABELS,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub sip: SipMetrics,
    pub calls: CallMetrics,
    pub tracking: TrackingMetrics,
    pub desk: DeskMetrics,
    pub chat: ChatMetrics,
    pub protocol_sync: ProtocolSyncMetrics,
    pub mail: MailMetrics,
}

/// The desk's business gauges for dashboards (bounded labels only).
#[derive(Clone)]
pub struct DeskMetrics {
    /// Inbound calls offered to the desk (a consultant step rang).
    pub offered: IntCounter,
    /// Of those, answered by a consultant within the service-level threshold.
    pub answered_in_threshold: IntCounter,
    /// Of those, the caller hung up before anyone answered.
    pub abandoned: IntCounter,
    /// answered in threshold / offered over the last hour.
    pub service_level: prometheus::Gauge,
    pub service_level_target: prometheus::Gauge,
    /// Protocols closed within their deadline / closed, last 7 days.
    pub sla_compliance: prometheus::Gauge,
    pub callbacks_pending: IntGauge,
    pub callbacks_overdue: IntGauge,
    /// Consultants per state: available, in_call, dnd, away, offline.
    pub consultants: prometheus::IntGaugeVec,
    /// 1 inside the dialplan's business hours.
    pub desk_open: IntGauge,
}

impl DeskMetrics {
    fn new(registry: &Registry) -> Result<DeskMetrics, prometheus::Error> {
        let offered = IntCounter::new(
            "protocall_calls_offered_total",
            "Inbound calls offered to the desk (a consultant's phone rang).",
        )?;
        let answered_in_threshold = IntCounter::new(
            "protocall_calls_answered_in_threshold_total",
            "Offered calls a consultant answered within the service-level threshold.",
        )?;
        let abandoned = IntCounter::new(
            "protocall_calls_abandoned_total",
            "Offered calls the caller hung up before an answer.",
        )?;
        let service_level = prometheus::Gauge::new(
            "protocall_service_level_ratio",
            "Offered calls answered within the threshold over offered, last hour.",
        )?;
        let service_level_target = prometheus::Gauge::new(
            "protocall_service_level_target",
            "The service level the desk aims for.",
        )?;
        let sla_compliance = prometheus::Gauge::new(
            "protocall_sla_compliance_ratio",
            "Protocols closed within their deadline over protocols closed, last 7 days.",
        )?;
        let callbacks_pending = IntGauge::new(
            "protocall_callbacks_pending",
            "Call-backs owed and not yet done.",
        )?;
        let callbacks_overdue = IntGauge::new(
            "protocall_callbacks_overdue",
            "Call-backs owed and not done whose deadline has passed.",
        )?;
        let consultants = prometheus::IntGaugeVec::new(
            Opts::new("protocall_consultants", "Consultants by state."),
            &["state"],
        )?;
        let desk_open = IntGauge::new(
            "protocall_desk_open",
            "1 inside the dialplan's business hours, 0 outside.",
        )?;
        for m in [
            Box::new(offered.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(answered_in_threshold.clone()),
            Box::new(abandoned.clone()),
            Box::new(service_level.clone()),
            Box::new(service_level_target.clone()),
            Box::new(sla_compliance.clone()),
            Box::new(callbacks_pending.clone()),
            Box::new(callbacks_overdue.clone()),
            Box::new(consultants.clone()),
            Box::new(desk_open.clone()),
        ] {
            registry.register(m)?;
        }
        Ok(DeskMetrics {
            offered,
            answered_in_threshold,
            abandoned,
            service_level,
            service_level_target,
            sla_compliance,
            callbacks_pending,
            callbacks_overdue,
            consultants,
            desk_open,
        })
    }

    /// Counters on a private registry, for tests and benchmarks.
    pub fn unregistered() -> DeskMetrics {
        match DeskMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }
}

/// Time tracking's metrics.
#[derive(Clone)]
pub struct TrackingMetrics {
    /// Closed contacts by channel (phone, chat, email, meeting, other) and
    /// outcome (done, missed, abandoned, cancelled).
    pub contacts: IntCounterVec,
    /// Talk time of attended contacts.
    pub talk_seconds: Histogram,
    pub tasks_running: IntGauge,
    /// Journal writes on disk not yet in the store.
    pub journal_pending: IntGauge,
    /// Journal writes the database refused for their data, set aside.
    pub journal_refused: IntCounter,
    /// The same backlog as `journal_pending`, under the journal's name.
    pub journal_backlog: IntGauge,
    /// Age of the oldest journal write not yet in the database.
    pub journal_backlog_age: Gauge,
    /// 1 while the journal takes writes, 0 while the disk refuses them.
    pub journal_accepting: IntGauge,
    /// Appends or fsyncs the disk refused (retries included).
    pub journal_write_errors: IntCounter,
    /// Unreadable journal lines copied to `journal.quarantine`.
    pub journal_quarantined: IntCounter,
    /// Call-log writes the journal did not take (disk failing, queue full).
    pub journal_dropped: IntCounter,
}

impl TrackingMetrics {
    fn new(registry: &Registry) -> Result<TrackingMetrics, prometheus::Error> {
        let contacts = IntCounterVec::new(
            Opts::new(
                "protocall_contacts_total",
                "Contacts closed, by channel and outcome.",
            ),
            &["channel", "outcome"],
        )?;
        let talk_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "protocall_contact_talk_seconds",
                "Duration of attended contacts (talk time for calls).",
            )
            .buckets(vec![
                15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
            ]),
        )?;
        let tasks_running = IntGauge::new(
            "protocall_tasks_running",
            "Task timers running now (at most one per consultant).",
        )?;
        let journal_pending = IntGauge::new(
            "protocall_contacts_journal_pending",
            "Journal writes on local disk not yet in the database.",
        )?;
        registry.register(Box::new(contacts.clone()))?;
        registry.register(Box::new(talk_seconds.clone()))?;
        registry.register(Box::new(tasks_running.clone()))?;
        registry.register(Box::new(journal_pending.clone()))?;
        let journal_refused = IntCounter::new(
            "protocall_journal_refused_total",
            "Journal writes the database refused for their data (set aside in journal.rejects).",
        )?;
        registry.register(Box::new(journal_refused.clone()))?;
        let journal_backlog = IntGauge::new(
            "protocall_journal_backlog",
            "Journal writes on local disk not yet in the database.",
        )?;
        let journal_backlog_age = Gauge::new(
            "protocall_journal_backlog_age_seconds",
            "Age of the oldest journal write not yet in the database (0 when none).",
        )?;
        let journal_accepting = IntGauge::new(
            "protocall_journal_accepting",
            "1 while the journal takes new writes, 0 while its disk refuses them.",
        )?;
        let journal_write_errors = IntCounter::new(
            "protocall_journal_write_errors_total",
            "Journal appends or fsyncs the disk refused (each retry counted).",
        )?;
        let journal_quarantined = IntCounter::new(
            "protocall_journal_quarantined_total",
            "Unreadable journal lines (torn or garbage) copied to journal.quarantine.",
        )?;
        let journal_dropped = IntCounter::new(
            "protocall_journal_dropped_total",
            "Call-log writes the journal did not take (disk refusing writes, or queue full).",
        )?;
        for m in [
            Box::new(journal_backlog.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(journal_backlog_age.clone()),
            Box::new(journal_accepting.clone()),
            Box::new(journal_write_errors.clone()),
            Box::new(journal_quarantined.clone()),
            Box::new(journal_dropped.clone()),
        ] {
            registry.register(m)?;
        }
        journal_accepting.set(1);
        Ok(TrackingMetrics {
            contacts,
            talk_seconds,
            tasks_running,
            journal_pending,
            journal_refused,
            journal_backlog,
            journal_backlog_age,
            journal_accepting,
            journal_write_errors,
            journal_quarantined,
            journal_dropped,
        })
    }

    /// Copies the journal's figures into the gauges and counters.
    pub fn observe_journal(&self, j: &crate::tracking::journal::JournalMonitor) {
        let backlog = j.pending() as i64;
        self.journal_pending.set(backlog);
        self.journal_backlog.set(backlog);
        self.journal_backlog_age.set(j.backlog_age_seconds());
        self.journal_accepting.set(i64::from(j.accepting()));
        // Counters only go up: add what the journal counted since.
        for (c, now) in [
            (&self.journal_write_errors, j.write_errors()),
            (&self.journal_quarantined, j.quarantined()),
            (&self.journal_dropped, j.dropped()),
        ] {
            c.inc_by(now.saturating_sub(c.get()));
        }
    }

    /// A contact closed (from a call through the journal, or by hand).
    pub fn contact_closed(&self, channel: &str, outcome: &str, talk_ms: Option<i64>) {
        self.contacts.with_label_values(&[channel, outcome]).inc();
        if let Some(ms) = talk_ms {
            self.talk_seconds.observe(ms.max(0) as f64 / 1000.0);
        }
    }
}

/// The call log's counters (labels are the bounded sets of
/// `crate::routing::note` and `crate::calls::Outcome`).
#[derive(Clone)]
pub struct CallMetrics {
    pub calls: IntCounterVec,
    pub callbacks_created: IntCounter,
}

impl CallMetrics {
    fn new(registry: &Registry) -> Result<CallMetrics, prometheus::Error> {
        let calls = IntCounterVec::new(
            Opts::new(
                "protocall_calls_total",
                "Calls routed, by direction, where they went and how they ended.",
            ),
            &["direction", "route", "outcome"],
        )?;
        let callbacks_created = IntCounter::new(
            "protocall_callbacks_created_total",
            "Call-backs scheduled for protocol owners who missed a client's call.",
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(callbacks_created.clone()))?;
        Ok(CallMetrics {
            calls,
            callbacks_created,
        })
    }

    /// Counters on a private registry, for tests and benchmarks.
    pub fn unregistered() -> CallMetrics {
        match CallMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("metrics registry: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::new(
                std::process::id() as i32,
                "protocall",
            ),
        ))?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "protocall_http_requests_total",
                "Admin HTTP requests by method, route template and status.",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "protocall_http_request_duration_seconds",
                "Admin HTTP request latency by method and route template.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        let sip = SipMetrics::new(&registry)?;
        let calls = CallMetrics::new(&registry)?;
        let tracking = TrackingMetrics::new(&registry)?;
        let desk = DeskMetrics::new(&registry)?;
        let chat = ChatMetrics::new(&registry)?;
        let protocol_sync = ProtocolSyncMetrics::new(&registry)?;
        let mail = MailMetrics::new(&registry)?;
        Ok(Metrics {
            chat,
            desk,
            protocol_sync,
            mail,
            tracking,
            registry,
            http_requests,
            http_duration,
            sip,
            calls,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format served on `/metrics`.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# error encoding metrics: {e}\n"))
    }
}
