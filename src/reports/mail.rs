//! Mails the Monday pack: the weekly report's HTML page as the message
//! (with a short plain-text version for mail readers that show no HTML),
//! the spreadsheet and the CSV attached, to the configured addresses over
//! SMTP (a local relay: no TLS here, the host's MTA carries it on). The
//! subject, the text and the attachments speak the configured
//! `locale.language`.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::model::WeeklyReport;
use super::render::{self, RenderError};
use crate::config::MailSettings;
use crate::i18n::Lang;

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

/// The mail's subject.
pub fn subject(r: &WeeklyReport, lang: Lang) -> String {
    lang.tf("mail.subject", &[("week", &r.week)])
}

/// The plain-text version of the message: which week, the headline
/// figures (as the page's summary writes them), what is attached. Lines
/// end in `\n`; lettre writes them as CRLF.
pub fn text(r: &WeeklyReport, lang: Lang) -> String {
    let (from, to) = render::week_days(r, lang);
    let intro = lang.tf(
        "mail.intro",
        &[("week", &r.week), ("from", &from), ("to", &to)],
    );
    let mut out = vec![intro, String::new()];
    out.extend(render::summary_lines(r, lang));
    out.push(String::new());
    out.push(lang.t("mail.attachments").to_string());
    out.push(String::new());
    out.join("\n")
}

/// The message for a report in `lang` (separate from sending, to test it).
pub fn message(cfg: &MailSettings, r: &WeeklyReport, lang: Lang) -> Result<Message, MailError> {
    if cfg.to.is_empty() {
        return Err(MailError::NoRecipients);
    }
    let mut b = Message::builder()
        .from(mailbox(&cfg.from)?)
        .subject(subject(r, lang));
    for to in &cfg.to {
        b = b.to(mailbox(to)?);
    }
    let xlsx = render::xlsx(r, lang)?;
    let csv = render::csv(r, lang)?;
    let xlsx_type =
        ContentType::parse("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .map_err(|e| MailError::Build(e.to_string()))?;
    let body = MultiPart::mixed()
        .multipart(MultiPart::alternative_plain_html(
            text(r, lang),
            render::html(r, lang),
        ))
        .singlepart(Attachment::new(format!("protocall-{}.xlsx", r.week)).body(xlsx, xlsx_type))
        .singlepart(
            Attachment::new(format!("protocall-{}.csv", r.week)).body(csv, ContentType::TEXT_PLAIN),
        );
    b.multipart(body)
        .map_err(|e| MailError::Build(e.to_string()))
}

/// Sends the pack, in `lang`, through the configured relay.
pub async fn send(cfg: &MailSettings, r: &WeeklyReport, lang: Lang) -> Result<(), MailError> {
    let msg = message(cfg, r, lang)?;
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

    /// A week with a few figures: 4 contacts, 1,234.5 realised hours, SLA
    /// one in three.
    fn report() -> WeeklyReport {
        serde_json::from_value(serde_json::json!({
            "week": "2026-W47", "week_start": "2026-11-16T00:00:00-03:00",
            "week_end": "2026-11-23T00:00:00-03:00", "schedule_week": "2026-W48",
            "timezone": "America/Sao_Paulo", "generated_at": "2026-11-23T08:00:00-03:00",
            "consultants": [],
            "tasks": [], "contacts": [],
            "hours": [{"consultant_id": null, "scheduled_minutes": 0, "realised_minutes": 74070}],
            "work_plan": [], "schedule": [],
            "scheduled_tasks": [],
            "demand": {"contact_minutes": 0, "task_minutes": 0, "open_callbacks": 0,
                "open_callback_minutes": 0, "forecast_contacts": 0.0, "forecast_minutes": 0,
                "demand_minutes": 0, "capacity_minutes": 0, "per_consultant": [], "phone": [],
                "service_level_seconds": 20, "service_level_target": 0.8},
            "sla": {"concluded": 3, "within_deadline": 1, "ratio": 0.3333333333333333,
                "default_deadline_hours": 16,
                "offered": 4, "answered": 2, "answered_in_threshold": 1, "abandoned": 1,
                "service_level": 0.25, "abandonment": 0.25, "asa_seconds": 22.5,
                "aht_seconds": 450.0, "threshold_seconds": 20, "target": 0.8},
            "evolution": [{"week": "2026-W47", "contacts": 4, "talk_minutes": 15,
                "sla": 0.3333333333333333, "service_level": 0.25, "abandonment": 0.25,
                "realised_minutes": 74070}],
            "followup": []
        }))
        .unwrap()
    }

    #[test]
    fn bad_addresses_and_no_recipients_are_errors() {
        let r = report();
        let mut c = cfg();
        c.to = vec!["not an address".into()];
        assert!(matches!(
            message(&c, &r, Lang::En),
            Err(MailError::Address { .. })
        ));
        c.to.clear();
        assert!(matches!(
            message(&c, &r, Lang::PtBr),
            Err(MailError::NoRecipients)
        ));
        let m = message(&cfg(), &r, Lang::En).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("Subject: protocall weekly report 2026-W47"));
        assert!(text.contains("protocall-2026-W47.xlsx"));
    }

    #[test]
    fn the_portuguese_mail_speaks_portuguese_with_brazilian_figures() {
        let r = report();
        let m = message(&cfg(), &r, Lang::PtBr).unwrap();
        let subject = m
            .headers()
            .get::<lettre::message::header::Subject>()
            .unwrap();
        assert_eq!(
            subject.as_ref(),
            "protocall: relatório semanal, semana 2026-W47"
        );
        let raw = String::from_utf8(m.formatted()).unwrap();
        // The text and the page as alternatives, then the attachments.
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(raw.contains("Content-Type: text/html; charset=utf-8"));
        assert!(raw.contains("protocall-2026-W47.xlsx") && raw.contains("protocall-2026-W47.csv"));
        let body = text(&r, Lang::PtBr);
        assert!(body.starts_with(
            "Relatório semanal da consultoria, semana 2026-W47 (de 16/11/2026 a 22/11/2026).\n\n"
        ));
        for line in [
            "Contatos: 4",
            "Horas realizadas: 1.234,50",
            "ANS: 33,3%",
            "Nível de serviço: 25,0%",
            "Abandono: 25,0%",
            "Em anexo, a planilha (XLSX) e os dados em CSV.",
        ] {
            assert!(body.contains(line), "{line}: {body}");
        }
        assert!(render::html(&r, Lang::PtBr).contains("<html lang=\"pt-BR\">"));
        let english = text(&r, Lang::En);
        assert!(english.contains("Realised hours: 1,234.50"), "{english}");
        assert!(english.contains("(16/11/2026 to 22/11/2026)"), "{english}");
    }
}
