//! The protocol columns of the directory CSV: a row may carry one protocol
//! of its provider, so the desk can load (or bring up to date) its open
//! tickets with the providers they belong to, in the same all-or-nothing
//! import.
//!
//! Columns: `protocol` (its number; the others need it), `protocol_owner`
//! (a consultant's SIP username or e-mail), `protocol_category`,
//! `protocol_subject`, `protocol_due_at` (RFC 3339, e.g.
//! `2026-12-10T18:00:00-03:00`; empty leaves a stored deadline alone) and
//! `protocol_status` (`open` or `closed`; empty: open when new, unchanged
//! otherwise).

use chrono::DateTime;

use super::ProtocolStatus;

pub const COLUMNS: &[&str] = &[
    "protocol",
    "protocol_owner",
    "protocol_category",
    "protocol_subject",
    "protocol_due_at",
    "protocol_status",
];

/// A validated protocol of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolRow {
    pub number: String,
    pub owner: Option<String>,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub due_at_ms: Option<i64>,
    pub status: Option<ProtocolStatus>,
}

/// The raw protocol cells of one row.
#[derive(Debug, Default)]
pub struct RawProtocol<'a> {
    pub number: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub category: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub due_at: Option<&'a str>,
    pub status: Option<&'a str>,
}

fn cell(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

fn bounded(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, (String, String)> {
    match cell(v) {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err((
            field.to_string(),
            format!("must be at most {max} printable characters"),
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// The row's protocol, if it names one; the first bad cell otherwise.
pub fn validate(raw: &RawProtocol<'_>) -> Result<Option<ProtocolRow>, (String, String)> {
    use crate::sync::event::{CATEGORY_MAX, ID_MAX, NUMBER_MAX, SUBJECT_MAX};
    let Some(number) = bounded("protocol", raw.number, NUMBER_MAX)? else {
        let others = [raw.owner, raw.category, raw.subject, raw.due_at, raw.status];
        if others.into_iter().any(|c| cell(c).is_some()) {
            return Err((
                "protocol".into(),
                "is empty but other protocol_ columns are set".into(),
            ));
        }
        return Ok(None);
    };
    let due_at_ms = match cell(raw.due_at) {
        None => None,
        Some(d) => Some(
            DateTime::parse_from_rfc3339(d)
                .map_err(|_| {
                    (
                        "protocol_due_at".to_string(),
                        format!("`{d}` is not an RFC 3339 time (2026-12-10T18:00:00-03:00)"),
                    )
                })?
                .timestamp_millis(),
        ),
    };
    let status = cell(raw.status)
        .map(|s| {
            s.to_lowercase().parse::<ProtocolStatus>().map_err(|e| {
                (
                    "protocol_status".to_string(),
                    format!("`{}` is not open or closed", e.value),
                )
            })
        })
        .transpose()?;
    Ok(Some(ProtocolRow {
        number,
        owner: bounded("protocol_owner", raw.owner, ID_MAX)?,
        category: bounded("protocol_category", raw.category, CATEGORY_MAX)?,
        subject: bounded("protocol_subject", raw.subject, SUBJECT_MAX)?,
        due_at_ms,
        status,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_without_protocol_has_none() {
        assert_eq!(validate(&RawProtocol::default()), Ok(None));
        let e = validate(&RawProtocol {
            owner: Some("ana"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.0, "protocol");
    }

    #[test]
    fn cells_are_checked_by_column() {
        let ok = validate(&RawProtocol {
            number: Some(" 2026-1 "),
            due_at: Some("2026-12-10T18:00:00-03:00"),
            status: Some("Closed"),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(ok.number, "2026-1");
        assert_eq!(ok.status, Some(ProtocolStatus::Closed));
        assert_eq!(ok.due_at_ms, Some(1_796_936_400_000));
        for (raw, col) in [
            (
                RawProtocol {
                    number: Some("P"),
                    due_at: Some("tomorrow"),
                    ..Default::default()
                },
                "protocol_due_at",
            ),
            (
                RawProtocol {
                    number: Some("P"),
                    status: Some("done"),
                    ..Default::default()
                },
                "protocol_status",
            ),
        ] {
            assert_eq!(validate(&raw).unwrap_err().0, col);
        }
    }
}
