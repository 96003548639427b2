//! Reading a page of the system of record's JSON with the configured field
//! mapping (`protocol_sync.pull.fields`): its records, each turned into an
//! `updated` event carrying the whole ticket, and the next page's URL.
//!
//! A record's event id is `pull:<number>:<updated_at in ms>`: the same
//! record pulled again is a duplicate and changes nothing, and a record
//! changed since has a new id and a newer time.

use chrono::DateTime;
use serde_json::Value;

use super::event::{EventKind, ProtocolEvent};
use crate::config::PullFields;
use crate::directory::ProtocolStatus;

/// Why a page or a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the page has no array at `{0}`")]
    NoItems(String),
    #[error("record {index}: `{path}` {problem}")]
    Field {
        index: usize,
        path: String,
        problem: String,
    },
}

/// The value at a dotted path (`owner.email`); `None` when any step is
/// missing or the path is empty.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path.trim().is_empty() {
        return None;
    }
    path.split('.').try_fold(v, |v, key| v.get(key))
}

/// The page's records and the URL of the next page, if any.
pub fn page<'a>(
    body: &'a Value,
    fields: &PullFields,
) -> Result<(&'a [Value], Option<String>), MappingError> {
    let items = at(body, &fields.items)
        .and_then(Value::as_array)
        .ok_or_else(|| MappingError::NoItems(fields.items.clone()))?;
    let next = at(body, &fields.next)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Ok((items, next))
}

/// A text field: strings as they are, numbers spelled out (a ticket
/// number is often numeric), null or absent as none.
fn text(record: &Value, index: usize, path: &str) -> Result<Option<String>, MappingError> {
    match at(record, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(MappingError::Field {
            index,
            path: path.to_string(),
            problem: "is not text".into(),
        }),
    }
}

fn time(
    record: &Value,
    index: usize,
    path: &str,
) -> Result<Option<DateTime<chrono::FixedOffset>>, MappingError> {
    match text(record, index, path)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(Some)
            .map_err(|_| MappingError::Field {
                index,
                path: path.to_string(),
                problem: format!("`{s}` is not an RFC 3339 time"),
            }),
    }
}

/// One record as an `updated` event carrying the whole ticket.
pub fn record_event(
    record: &Value,
    index: usize,
    f: &PullFields,
) -> Result<ProtocolEvent, MappingError> {
    let required = |path: &str| MappingError::Field {
        index,
        path: path.to_string(),
        problem: "is missing".into(),
    };
    let number = text(record, index, &f.number)?.ok_or_else(|| required(&f.number))?;
    let updated_at = time(record, index, &f.updated_at)?.ok_or_else(|| required(&f.updated_at))?;
    let status = text(record, index, &f.status)?.map(|s| {
        if f.closed_values
            .iter()
            .any(|c| c.trim().eq_ignore_ascii_case(s.trim()))
        {
            ProtocolStatus::Closed
        } else {
            ProtocolStatus::Open
        }
    });
    // A deadline the mapping names is the record's whole truth: null
    // clears it. No mapping leaves it alone.
    let due_at = if f.due_at.trim().is_empty() {
        None
    } else {
        Some(time(record, index, &f.due_at)?)
    };
    Ok(ProtocolEvent {
        event_id: format!("pull:{}:{}", number.trim(), updated_at.timestamp_millis()),
        kind: EventKind::Updated,
        number,
        updated_at,
        opened_at: time(record, index, &f.opened_at)?,
        provider_tax_id: text(record, index, &f.provider_tax_id)?,
        owner: text(record, index, &f.owner)?,
        category: text(record, index, &f.category)?,
        subject: text(record, index, &f.subject)?,
        due_at,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_nested_fields_and_status_words() {
        let f = PullFields {
            items: "data.tickets".into(),
            next: "links.next".into(),
            number: "id".into(),
            owner: "agent.email".into(),
            status: "state".into(),
            closed_values: vec!["Resolved".into(), "closed".into()],
            ..PullFields::default()
        };
        let body = json!({
            "data": {"tickets": [
                {"id": 4211, "updated_at": "2026-12-05T10:00:00Z", "agent": {"email": "ana@desk"},
                 "state": "resolved", "due_at": null}
            ]},
            "links": {"next": "/tickets?page=2"}
        });
        let (items, next) = page(&body, &f).unwrap();
        assert_eq!(next.as_deref(), Some("/tickets?page=2"));
        let e = record_event(&items[0], 0, &f).unwrap();
        assert_eq!(e.number, "4211");
        assert_eq!(e.owner.as_deref(), Some("ana@desk"));
        assert_eq!(e.status, Some(ProtocolStatus::Closed));
        assert_eq!(e.due_at, Some(None));
        assert_eq!(e.event_id, "pull:4211:1796464800000");
    }

    #[test]
    fn a_record_without_number_or_time_is_refused() {
        let f = PullFields::default();
        let e = record_event(&json!({"number": "P"}), 3, &f).unwrap_err();
        assert_eq!(e.to_string(), "record 3: `updated_at` is missing");
        assert!(page(&json!({"items": {}}), &f).is_err());
    }
}
