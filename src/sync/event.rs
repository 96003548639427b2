//! One change of a protocol as the desk's system of record reports it:
//! the wire format both the webhook and the pull produce, and the checks
//! it passes before anything is looked up or written.
//!
//! Every event carries the ticket as it is after the change (the fields
//! the sender knows; an absent field is left as protocall has it), so the
//! newest event wins whole and an older one can be ignored without losing
//! a change only it carried. `kind` says what happened and fixes the
//! status: `opened` and `reopened` leave the protocol open, `closed`
//! closes it, `assigned` and `updated` keep it as it is unless `status`
//! says otherwise.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::directory::{double_option, normalize_cnpj, ProtocolStatus};

/// Longest protocol number, category and subject (as the API's).
pub const NUMBER_MAX: usize = 64;
pub const CATEGORY_MAX: usize = 100;
pub const SUBJECT_MAX: usize = 500;
/// Longest event id and consultant handle.
pub const ID_MAX: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Opened,
    Assigned,
    Updated,
    Closed,
    Reopened,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Assigned => "assigned",
            EventKind::Updated => "updated",
            EventKind::Closed => "closed",
            EventKind::Reopened => "reopened",
        }
    }
}

/// A protocol event from the system of record.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtocolEvent {
    /// The sender's id for this event: the same id twice is applied once.
    #[schema(max_length = 200, min_length = 1)]
    pub event_id: String,
    pub kind: EventKind,
    /// The protocol's number, which is protocall's protocol number.
    #[schema(max_length = 64, min_length = 1)]
    pub number: String,
    /// When the system of record changed the ticket (its clock). An event
    /// older than the last one applied to the protocol is ignored.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<FixedOffset>,
    /// When the ticket was opened there; used when the protocol is new
    /// here (default: `updated_at`), since the SLA counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opened_at: Option<DateTime<FixedOffset>>,
    /// The provider's CNPJ; needed when the protocol is new here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_tax_id: Option<String>,
    /// The owning consultant: their SIP username or e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 100)]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub subject: Option<String>,
    /// The deadline; `null` clears it, absent leaves it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Option<DateTime<FixedOffset>>>,
    /// For `updated` only: the ticket's status, when the sender sends the
    /// whole record (the pull does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ProtocolStatus>,
}

/// Why an event was refused before anything was looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct EventError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> EventError {
    EventError {
        field,
        message: message.into(),
    }
}

/// An event that passed its checks, times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub event_id: String,
    pub kind: EventKind,
    pub number: String,
    pub at_ms: i64,
    /// When it was opened, for a protocol new here.
    pub opened_at_ms: Option<i64>,
    pub provider_tax_id: Option<String>,
    pub owner: Option<String>,
    pub category: Option<String>,
    pub subject: Option<String>,
    pub due_at_ms: Option<Option<i64>>,
    /// The status the protocol is to have, when the event decides it.
    pub status: Option<ProtocolStatus>,
}

fn text(
    field: &'static str,
    v: Option<&str>,
    max: usize,
    required: bool,
) -> Result<Option<String>, EventError> {
    let Some(v) = v else {
        return if required {
            Err(bad(field, "is required"))
        } else {
            Ok(None)
        };
    };
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(bad(
            field,
            format!("must be at most {max} printable characters"),
        ));
    }
    let v = v.trim();
    if v.is_empty() {
        return if required {
            Err(bad(field, "is empty"))
        } else {
            Ok(None)
        };
    }
    Ok(Some(v.to_string()))
}

impl ProtocolEvent {
    /// Checks the fields' shapes; who they name is looked up later.
    pub fn validate(&self) -> Result<Change, EventError> {
        let event_id = text("event_id", Some(&self.event_id), ID_MAX, true)?.unwrap_or_default();
        let number = text("number", Some(&self.number), NUMBER_MAX, true)?.unwrap_or_default();
        let provider_tax_id = match self.provider_tax_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(normalize_cnpj(t).map_err(|m| bad("provider_tax_id", m))?),
        };
        let owner = text("owner", self.owner.as_deref(), ID_MAX, false)?;
        if self.kind == EventKind::Assigned && owner.is_none() {
            return Err(bad("owner", "is required for an `assigned` event"));
        }
        if self.status.is_some() && self.kind != EventKind::Updated {
            return Err(bad(
                "status",
                format!(
                    "is only for `updated` events; a `{}` event sets it",
                    self.kind.as_str()
                ),
            ));
        }
        let status = match self.kind {
            EventKind::Opened | EventKind::Reopened => Some(ProtocolStatus::Open),
            EventKind::Closed => Some(ProtocolStatus::Closed),
            EventKind::Assigned => None,
            EventKind::Updated => self.status,
        };
        Ok(Change {
            event_id,
            kind: self.kind,
            number,
            at_ms: self.updated_at.timestamp_millis(),
            opened_at_ms: self.opened_at.map(|t| t.timestamp_millis()),
            provider_tax_id,
            owner,
            category: text("category", self.category.as_deref(), CATEGORY_MAX, false)?,
            subject: text("subject", self.subject.as_deref(), SUBJECT_MAX, false)?,
            due_at_ms: self.due_at.map(|d| d.map(|d| d.timestamp_millis())),
            status,
        })
    }
}

/// An event kept for a person: it named someone protocall does not know,
/// and nothing of it was applied.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendingEvent {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    #[schema(max_length = 64)]
    pub number: String,
    /// The system of record's update time of the event.
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<chrono_tz::Tz>,
    /// What is missing here, one sentence each.
    pub missing: Vec<String>,
    /// The event as received.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// `sync:webhook` or `sync:pull`.
    pub source: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<chrono_tz::Tz>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> ProtocolEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn kinds_fix_the_status() {
        let e = event(
            r#"{"event_id":"e1","kind":"closed","number":" P-1 ",
                "updated_at":"2026-12-05T10:00:00-03:00"}"#,
        );
        let c = e.validate().unwrap();
        assert_eq!(c.number, "P-1");
        assert_eq!(c.status, Some(ProtocolStatus::Closed));
        assert_eq!(c.at_ms, 1_796_475_600_000);
        assert_eq!(c.due_at_ms, None);
    }

    #[test]
    fn null_deadline_clears_absent_leaves() {
        let e = event(
            r#"{"event_id":"e1","kind":"updated","number":"P","updated_at":"2026-12-05T10:00:00Z",
                "due_at":null}"#,
        );
        assert_eq!(e.validate().unwrap().due_at_ms, Some(None));
        // The stored payload keeps the difference.
        assert!(serde_json::to_string(&e)
            .unwrap()
            .contains(r#""due_at":null"#));
    }

    #[test]
    fn refusals_name_the_field() {
        let e = event(
            r#"{"event_id":"e1","kind":"assigned","number":"P","updated_at":"2026-12-05T10:00:00Z"}"#,
        );
        assert_eq!(e.validate().unwrap_err().field, "owner");
        let e = event(
            r#"{"event_id":"e1","kind":"opened","number":"P","updated_at":"2026-12-05T10:00:00Z",
                "provider_tax_id":"123"}"#,
        );
        assert_eq!(e.validate().unwrap_err().field, "provider_tax_id");
        let e = event(
            r#"{"event_id":"","kind":"opened","number":"P","updated_at":"2026-12-05T10:00:00Z"}"#,
        );
        assert_eq!(e.validate().unwrap_err().field, "event_id");
        let e = event(
            r#"{"event_id":"e","kind":"closed","number":"P","updated_at":"2026-12-05T10:00:00Z",
                "status":"open"}"#,
        );
        assert_eq!(e.validate().unwrap_err().field, "status");
    }
}
