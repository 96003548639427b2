//! The mail intake's metrics (`crate::intake`): messages read by folder and
//! result, replies flagged by reason, whether the mailbox is connected, and
//! when it was last read through.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The folders the intake reads, as labels (never the configured names,
/// which are the operator's free text).
pub const FOLDERS: [&str; 2] = ["inbox", "sent"];
/// What became of a message.
pub const RESULTS: [&str; 6] = [
    "imported",
    "duplicate",
    "joined",
    "reply",
    "outgoing",
    "unparseable",
];
/// Why a reply was flagged.
pub const REASONS: [&str; 2] = ["no_team_copy", "no_protocol_number"];

#[derive(Clone)]
pub struct MailMetrics {
    messages: IntCounterVec,
    flagged: IntCounterVec,
    pub connected: IntGauge,
    pub last_sync: IntGauge,
}

impl MailMetrics {
    pub fn new(registry: &Registry) -> Result<MailMetrics, prometheus::Error> {
        let messages = IntCounterVec::new(
            Opts::new(
                "protocall_mail_messages_total",
                "Messages the mail intake read, by folder (inbox, sent) and result (imported: a \
                 new thread and its contact; joined: a message of a known thread; reply: a \
                 reply in sent; outgoing: a sent message of no known thread; duplicate: read \
                 before; unparseable: skipped).",
            ),
            &["folder", "result"],
        )?;
        let flagged = IntCounterVec::new(
            Opts::new(
                "protocall_mail_replies_flagged_total",
                "Replies sent without the team address in To/Cc (no_team_copy) or without \
                 the thread's protocol number (no_protocol_number).",
            ),
            &["reason"],
        )?;
        let connected = IntGauge::new(
            "protocall_mail_connected",
            "1 while the mail intake is logged in to the IMAP server.",
        )?;
        let last_sync = IntGauge::new(
            "protocall_mail_last_sync_timestamp_seconds",
            "When the mail intake last read its folders through (Unix seconds).",
        )?;
        registry.register(Box::new(messages.clone()))?;
        registry.register(Box::new(flagged.clone()))?;
        registry.register(Box::new(connected.clone()))?;
        registry.register(Box::new(last_sync.clone()))?;
        // Every series exists from the start, so a dashboard's rate() has
        // a zero to begin with.
        for f in FOLDERS {
            for r in RESULTS {
                messages.with_label_values(&[f, r]);
            }
        }
        for r in REASONS {
            flagged.with_label_values(&[r]);
        }
        Ok(MailMetrics {
            messages,
            flagged,
            connected,
            last_sync,
        })
    }

    /// On a private registry, for tests.
    pub fn unregistered() -> MailMetrics {
        match MailMetrics::new(&Registry::new()) {
            Ok(m) => m,
            // A fresh registry has no name clashes; this cannot fail.
            Err(_) => std::process::abort(),
        }
    }

    pub fn message(&self, folder: &str, result: &str) -> IntCounter {
        self.messages.with_label_values(&[folder, result])
    }

    pub fn flagged(&self, reason: &str) {
        self.flagged.with_label_values(&[reason]).inc();
    }
}
