//! Who attends a chat: the owner of the provider's open protocol (the
//! rule phone routing uses, `directory::snapshot::owner_protocol_of`)
//! when they can attend now, else the consultant on chat duty
//! (`tracking::duty::on_duty`), else nobody.
//!
//! "Can attend" reads what the desk knows without asking the person:
//! active, presence available (not DND or away), not in a call, and on
//! shift (inside their working hours, not on an absence).

use chrono::{DateTime, Datelike, Utc};

use super::ChatError;
use crate::directory::snapshot::{owner_protocol_of, ProtocolEntry};
use crate::directory::{Presence, ProtocolStatus};
use crate::routing::busy::InCall;
use crate::store::{ProtocolQuery, Store};
use crate::tracking::duty::{on_duty, DutyChannel};
use crate::tracking::planning::Planner;

/// What routing needs besides the store.
#[derive(Clone, Copy)]
pub struct Availability<'a> {
    pub in_call: &'a InCall,
    /// Working hours and absences; `None` skips the shift check.
    pub planner: Option<&'a Planner>,
}

/// The routing decision for a new conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub protocol_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub consultant_id: Option<i64>,
    /// owner, duty or nobody.
    pub routed_to: &'static str,
}

/// The provider's owner protocol, read from the store.
async fn owner_protocol(store: &Store, provider: i64) -> Result<Option<(i64, i64)>, ChatError> {
    let open = store
        .list_protocols(&ProtocolQuery {
            provider_id: Some(provider),
            status: Some(ProtocolStatus::Open),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let entries: Vec<ProtocolEntry> = open
        .items
        .iter()
        .map(|p| ProtocolEntry {
            id: p.id,
            number: p.number.clone(),
            provider_id: p.provider_id,
            owner_id: p.owner_id,
            opened_at_ms: p.opened_at.timestamp_millis(),
            due_at_ms: p.due_at.map(|d| d.timestamp_millis()),
        })
        .collect();
    Ok(owner_protocol_of(&entries).and_then(|p| Some((p.id, p.owner_id?))))
}

/// Whether consultant `id` can attend a chat at `at`.
pub async fn can_attend(
    store: &Store,
    avail: Availability<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, ChatError> {
    let c = store.get_consultant(id).await?;
    if !c.active || c.presence != Presence::Available || avail.in_call.contains(&c.sip_username) {
        return Ok(false);
    }
    let Some(planner) = avail.planner else {
        return Ok(true);
    };
    let local = at.with_timezone(&planner.tz);
    let hours = planner.hours_of(store, id).await?;
    if !hours.covers(local.weekday(), local.time()) {
        return Ok(false);
    }
    let day = local.date_naive().to_string();
    Ok(store.absences(Some(id), &day, &day).await?.is_empty())
}

/// Who attends a new conversation of `provider` (unknown handles have
/// none) at `at`.
pub async fn attendant(
    store: &Store,
    avail: Availability<'_>,
    provider: Option<i64>,
    at: DateTime<Utc>,
) -> Result<Routed, ChatError> {
    let owner = match provider {
        Some(p) => owner_protocol(store, p).await?,
        None => None,
    };
    if let Some((_, owner_id)) = owner {
        if can_attend(store, avail, owner_id, at).await? {
            return Ok(Routed {
                protocol_id: owner.map(|o| o.0),
                owner_id: Some(owner_id),
                consultant_id: Some(owner_id),
                routed_to: "owner",
            });
        }
    }
    let duty = on_duty(store, DutyChannel::Chat, at).await?;
    Ok(Routed {
        protocol_id: owner.map(|o| o.0),
        owner_id: owner.map(|o| o.1),
        consultant_id: duty,
        routed_to: if duty.is_some() { "duty" } else { "nobody" },
    })
}
