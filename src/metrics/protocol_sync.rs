//! Metrics of protocols kept in step with the system of record
//! (`crate::sync`): events by kind and result, and the pull's health —
//! when it last succeeded (its age is `time() - …` in PromQL) and how
//! often it failed.

use prometheus::{Gauge, IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct ProtocolSyncMetrics {
    events: IntCounterVec,
    pub last_success: Gauge,
    pub failures: IntCounter,
}

/// Every label value `events` takes, so dashboards see zeros from the
/// start and the label set stays bounded.
const KINDS: [&str; 6] = [
    "opened", "assigned", "updated", "closed", "reopened", "unknown",
];
const RESULTS: [&str; 6] = [
    "applied",
    "duplicate",
    "stale",
    "pending",
    "invalid",
    "bad_signature",
];

impl ProtocolSyncMetrics {
    pub fn new(registry: &Registry) -> Result<ProtocolSyncMetrics, prometheus::Error> {
        let events = IntCounterVec::new(
            Opts::new(
                "protocall_protocol_events_total",
                "Protocol events from the system of record (webhook and pull), by kind \
                 (unknown: not read) and result (applied, duplicate, stale, pending, \
                 invalid, bad_signature).",
            ),
            &["kind", "result"],
        )?;
        let last_success = Gauge::new(
            "protocall_protocol_sync_last_success_timestamp_seconds",
            "When the last complete pull from the system of record ended (Unix seconds; \
             0: none yet).",
        )?;
        let failures = IntCounter::new(
            "protocall_protocol_sync_failures_total",
            "Pulls from the system of record that failed (each is retried with back-off).",
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(last_success.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        for k in KINDS {
            for r in RESULTS {
                events.with_label_values(&[k, r]);
            }
        }
        Ok(ProtocolSyncMetrics {
            events,
            last_success,
            failures,
        })
    }

    /// Counts one event; a label outside the known sets is counted as
    /// `unknown` rather than growing the series.
    pub fn event(&self, kind: &str, result: &str) {
        let kind = KINDS.iter().find(|k| **k == kind).unwrap_or(&"unknown");
        let result = RESULTS.iter().find(|r| **r == result).unwrap_or(&"invalid");
        self.events.with_label_values(&[kind, result]).inc();
    }
}
