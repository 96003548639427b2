//! The chat channel's metrics: events the bridge posted and what became
//! of them, chats waiting past `chat.wait_minutes`, and the alerts raised
//! for them (the Prometheus rule `ChatWaitingTooLong` reads the gauge).

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct ChatMetrics {
    /// By event (started, message, ended, or invalid when unreadable) and
    /// result (applied, duplicate, ignored, refused).
    pub events: IntCounterVec,
    pub waiting_over_limit: IntGauge,
    pub alerts: IntCounter,
}

impl ChatMetrics {
    pub fn new(registry: &Registry) -> Result<ChatMetrics, prometheus::Error> {
        let events = IntCounterVec::new(
            Opts::new(
                "protocall_chat_events_total",
                "Chat bridge events by event (started, message, ended, invalid) and result \
                 (applied, duplicate, ignored, refused).",
            ),
            &["event", "result"],
        )?;
        let waiting_over_limit = IntGauge::new(
            "protocall_chat_waiting_over_limit",
            "Chats waiting for a consultant's first reply longer than chat.wait_minutes.",
        )?;
        let alerts = IntCounter::new(
            "protocall_chat_alerts_total",
            "Chats that waited past chat.wait_minutes with no reply (each alerted once).",
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(waiting_over_limit.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        Ok(ChatMetrics {
            events,
            waiting_over_limit,
            alerts,
        })
    }

    pub fn event(&self, event: &str, result: &str) {
        self.events.with_label_values(&[event, result]).inc();
    }
}
