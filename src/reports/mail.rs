//! Mails the Monday pack: the weekly report's HTML page as the message,
//! the spreadsheet and the CSV attached, to the configured addresses over
//! SMTP (a local relay: no TLS here, the host's MTA carries it on).

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::model::WeeklyReport;
use super::render::{self, RenderError};
use crate::config::MailSettings;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("`{address}` is not a mail address: {reason}")]
    Address { address: String, reason: String },
    #[error("no recipients (reports.mail.to is empty)")]
    NoRecipients,
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("building the message: {0}")]
    Build(String),
    #[error("sending through {host}:{port}: {reason}")]
    Send {
        host: String,
        port: u16,
        reason: String,
    },
}

fn mailbox(a: &str) -> Result<Mailbox, MailError> {
    a.parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            address: a.to_string(),
            reason: e.to_string(),
        })
}

/// The message for a report (separate from sending, to test it).
pub fn message(cfg: &MailSettings, r: &WeeklyReport) -> Result<Message, MailError> {
    if cfg.to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    let mut b = Message::builder()
        .from(mailbox(&cfg.from)?)
        .subject(format!("protocall weekly report {}", r.week));
    for to in &cfg.to {
        b = b.to(mailbox(to)?);
    }
    let xlsx = render::xlsx(r)?;
    let csv = render::csv(r)?;
    let xlsx_type =
        ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .map_err(|e| MailError::Build(e.to_string()))?;
    let body = MultiPart::mixed()
        .singlepart(SinglePart::html(render::html(r)))
        .singlepart(Attachment::new(format!("protocall-{}.xlsx", r.week)).body(xlsx, xlsx_type))
        .singlepart(
            Attachment::new(format!("protocall-{}.csv", r.week)).body(csv, ContentType::TEXT_PLAIN),
        );
    b.multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// Sends the pack through the configured relay.
pub async fn send(cfg: &MailSettings, r: &WeeklyReport) -> Result<(), MailError> {
    let msg = message(cfg, r)?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.smtp_host)
        .port(cfg.smtp_port)
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    transport
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| MailError::Send {
            host: cfg.smtp_host.clone(),
            port: cfg.smtp_port,
            reason: e.to_string(),
        })
}

/// The next time the pack is due after `now`: the configured weekday and
/// time in the desk's zone.
pub fn next_due(
    cfg: &MailSettings,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{Datelike, TimeZone};
    let weekday: chrono::Weekday = cfg.weekday.parse().ok()?;
    let time = chrono::NaiveTime::parse_from_str(&cfg.time, "%H:%M").ok()?;
    let today = now.with_timezone(&tz).date_naive();
    (0..=7).find_map(|i| {
        let d = today + chrono::Duration::days(i);
        if d.weekday() != weekday {
            return None;
        }
        let at = tz
            .from_local_datetime(&d.and_time(time))
            .earliest()?
            .with_timezone(&chrono::Utc);
        (at > now).then_some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg() -> MailSettings {
        MailSettings {
            enabled: true,
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            from: "protocall@desk.example".into(),
            to: vec!["gerencia@desk.example".into()],
            weekday: "mon".into(),
            time: "08:00".into(),
        }
    }

    #[test]
    fn next_due_is_the_coming_monday_at_eight_in_the_desks_zone() {
        let tz = chrono_tz::America::Sao_Paulo;
        // Saturday 2026-11-28 12:00 UTC.
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
            .unwrap();
        let due = next_due(&cfg(), tz, now).unwrap();
        assert_eq!(
            due,
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 30, 11, 0, 0)
                .unwrap()
        );
        // On Monday after 08:00, the next Monday.
        let monday = chrono::Utc
            .with_ymd_and_hms(2026, 11, 30, 11, 30, 0)
            .unwrap();
        let due = next_due(&cfg(), tz, monday).unwrap();
        assert_eq!(
            due,
            chrono::Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_addresses_and_no_recipients_are_errors() {
        let r: WeeklyReport = serde_json::from_value(serde_json::json!({
            "week": "2026-W47", "week_start": "", "week_end": "", "schedule_week": "2026-W48",
            "timezone": "America/Sao_Paulo", "generated_at": "", "consultants": [],
            "tasks": [], "contacts": [], "hours": [], "work_plan": [], "schedule": [],
            "scheduled_tasks": [],
            "demand": {"contact_minutes": 0, "task_minutes": 0, "open_callbacks": 0,
                "open_callback_minutes": 0, "forecast_contacts": 0.0, "forecast_minutes": 0,
                "demand_minutes": 0, "capacity_minutes": 0, "per_consultant": [], "phone": [],
                "service_level_seconds": 20, "service_level_target": 0.8},
            "sla": {"concluded": 0, "within_deadline": 0, "ratio": null, "default_deadline_hours": 16,
                "offered": 0, "answered": 0, "answered_in_threshold": 0, "abandoned": 0,
                "service_level": null, "abandonment": null, "asa_seconds": null, "aht_seconds": null,
                "threshold_seconds": 20, "target": 0.8},
            "evolution": [], "followup": []
        }))
        .unwrap();
        let mut c = cfg();
        c.to = vec!["not an address".into()];
        assert!(matches!(message(&c, &r), Err(MailError::Address { .. })));
        c.to.clear();
        assert!(matches!(message(&c, &r), Err(MailError::NoRecipients)));
        let m = message(&cfg(), &r).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Subject: protocall weekly report 2026-W47"));
        assert!(text.contains("protocall-2026-W47.xlsx"));
    }
}
