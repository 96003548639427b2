//! The time-tracking rules, shared by the admin API, the console and the
//! CLI: the errors they answer with and the checks every rule uses. The
//! rules live one concept per file: task timers (`tasks`), contacts and
//! meetings (`contacts`), call-backs in step with their contacts
//! (`callbacks`), what a protocol's close asks of its owner
//! (`protocols`, the process's rule 4).

mod callbacks;
mod contacts;
mod protocols;
mod tasks;

pub use callbacks::*;
pub use contacts::*;
pub use protocols::*;
pub use tasks::*;

use chrono::Utc;

use crate::directory::{Protocol, ProtocolStatus};
use crate::store::{Contact, ContactRecord, Store, StoreError, Task, TaskRecord};
use crate::tracking::states::{TaskSource, TaskStatus};

#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A name that refers to nothing stored (a task category).
    #[error("{field}: {message}")]
    Unknown {
        field: &'static str,
        message: String,
    },
    /// Valid on its own, but at odds with what is stored, with the clock,
    /// or with the other times given: a status change the current status
    /// does not allow, a timer that is not running, an end before its
    /// start.
    #[error("{field}: {message}")]
    State {
        field: &'static str,
        message: String,
    },
    #[error("overlaps {what} {ids:?} of the same consultant")]
    Overlap { what: &'static str, ids: Vec<i64> },
    #[error("nothing is running for consultant {0}")]
    NotRunning(i64),
    #[error("the room is already booked then (contacts {0:?})")]
    RoomBooked(Vec<i64>),
    /// Rule 4 needs someone to tell the client, and nobody can: the
    /// protocol has no owner and whoever closes it is no consultant.
    #[error(
        "protocol {0} has no owner to communicate its completion, and the closer is no \
         consultant: assign an owner first (POST /api/protocols/{{id}}/assign)"
    )]
    OwnerRequired(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> TrackingError {
    TrackingError::Invalid {
        field,
        message: message.into(),
    }
}

fn conflict(field: &'static str, message: impl Into<String>) -> TrackingError {
    TrackingError::State {
        field,
        message: message.into(),
    }
}

pub const COMMUNICATE_COMPLETION: &str = "communicate-completion";
/// How long rule 4's task is planned to take.
const COMMUNICATE_MINUTES: i64 = 15;
/// Longest text field a person types.
pub const MAX_TEXT: usize = 4000;

fn text(field: &'static str, v: Option<String>) -> Result<Option<String>, TrackingError> {
    match v {
        Some(s) if s.chars().count() > MAX_TEXT => {
            Err(invalid(field, format!("at most {MAX_TEXT} characters")))
        }
        Some(s) if s.trim().is_empty() => Ok(None),
        other => Ok(other.map(|s| s.trim().to_string())),
    }
}

fn span(field: &'static str, start: i64, end: i64) -> Result<(), TrackingError> {
    if end < start {
        return Err(conflict(field, "ends before it starts"));
    }
    if end - start > 24 * 3600 * 1000 {
        return Err(conflict(field, "lasts more than 24 hours"));
    }
    Ok(())
}

fn show(ms: Option<i64>) -> Option<String> {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// One audit entry per field whose value changed.
async fn audit_changes<const N: usize>(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    entity: &str,
    id: i64,
    changes: [(&str, Option<String>, Option<String>); N],
    actor: &str,
) -> Result<(), StoreError> {
    for (field, old, new) in changes {
        if old != new {
            store.audit(c, entity, id, field, old, new, actor).await?;
        }
    }
    Ok(())
}
