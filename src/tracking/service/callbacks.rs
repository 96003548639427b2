//! Call-backs and their scheduled contacts, kept in step: a status given
//! to the call-back moves its contact the same way in the same
//! transaction, and a call-back's contact closed or reopened as a contact
//! (its timer stopped, a PATCH) moves the call-back. Marked done by hand,
//! a call-back needs the conversation's real start and end (the process's
//! rule 3); one a call closed keeps the call's times.

use super::*;
use crate::store::{Callback, CallbackRecord};
use crate::tracking::states::{CallbackStatus, ContactStatus};

pub const CALLBACK_STATUSES: &[&str] = CallbackStatus::NAMES;

/// A status for a call-back, with the conversation's times when it is done.
/// The status is the word a client sent; [`set_callback_status`] refuses
/// one outside [`CALLBACK_STATUSES`].
#[derive(Debug, Clone, Default)]
pub struct CallbackChange {
    pub status: String,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
}

/// The contact status that goes with a call-back status.
fn contact_status(callback: CallbackStatus) -> ContactStatus {
    match callback {
        CallbackStatus::Done => ContactStatus::Done,
        CallbackStatus::Cancelled => ContactStatus::Cancelled,
        CallbackStatus::Pending => ContactStatus::Scheduled,
    }
}

/// Sets a call-back's status and moves its contact with it:
/// - done: the contact becomes done with `started_at`/`ended_at` (both
///   required; a correction when it was done by hand already); the
///   call-back is closed at the conversation's start;
/// - cancelled: the contact is cancelled (refused while its timer runs);
/// - pending: the contact is scheduled again (its realised times cleared).
///
/// A call-back a call closed carries the call's contact; that contact is
/// the call's record and stays as it is: done again is refused, and
/// pending or cancelled give the call-back a new scheduled contact of its
/// own. Every change is audited under `actor`.
pub async fn set_callback_status(
    store: &Store,
    id: i64,
    change: CallbackChange,
    actor: &str,
) -> Result<Callback, TrackingError> {
    let Ok(status) = change.status.parse::<CallbackStatus>() else {
        return Err(invalid("status", CALLBACK_STATUSES.join(", ")));
    };
    let times = (change.started_at_ms, change.ended_at_ms);
    if status == CallbackStatus::Done {
        let (Some(s), Some(e)) = times else {
            return Err(invalid(
                "started_at",
                "a call-back is done with the conversation's real start and end \
                 (started_at and ended_at)",
            ));
        };
        span("ended_at", s, e)?;
        if e > Utc::now().timestamp_millis() + 60_000 {
            return Err(conflict(
                "ended_at",
                "the conversation cannot end in the future",
            ));
        }
    } else if times != (None, None) {
        return Err(invalid(
            "started_at",
            "only a call-back marked done takes the conversation's times",
        ));
    }
    let mut tx = store.begin().await?;
    let old = store.callback_record(&mut tx, id).await?;
    let mut cb = old.clone();
    cb.status = status;
    let by_call = old.closed_by_call.is_some();
    if by_call && old.status == CallbackStatus::Done {
        if status == CallbackStatus::Done {
            return Err(conflict(
                "status",
                format!(
                    "call-back {id} was closed by call {}: the conversation's times are the \
                     call's (correct them on contact {})",
                    old.closed_by_call.as_deref().unwrap_or(""),
                    old.contact_id.map(|c| c.to_string()).unwrap_or_default()
                ),
            ));
        }
        // The call's contact stays the call's; the call-back gets a slot
        // of its own again.
        cb.contact_id = None;
        cb.closed_by_call = None;
    }
    let contact = match cb.contact_id {
        Some(c) => c,
        None => {
            let c = store
                .insert_callback_contact(&mut tx, &cb, contact_status(cb.status))
                .await?;
            store
                .audit(
                    &mut tx,
                    "contact",
                    c,
                    "created",
                    None,
                    Some(contact_status(cb.status).as_str().into()),
                    actor,
                )
                .await?;
            cb.contact_id = Some(c);
            c
        }
    };
    let before = store.contact_record(&mut tx, contact).await?;
    let mut k = before.clone();
    match status {
        CallbackStatus::Done => {
            k.status = ContactStatus::Done;
            k.started_at_ms = change.started_at_ms;
            k.ended_at_ms = change.ended_at_ms;
            cb.closed_at_ms = change.started_at_ms;
        }
        CallbackStatus::Cancelled => {
            if before.status == ContactStatus::Open {
                return Err(conflict(
                    "status",
                    format!("the timer of contact {contact} runs: stop it first"),
                ));
            }
            k.status = ContactStatus::Cancelled;
            k.started_at_ms = None;
            k.ended_at_ms = None;
            if old.status != CallbackStatus::Cancelled {
                cb.closed_at_ms = Some(Utc::now().timestamp_millis());
            }
        }
        CallbackStatus::Pending => {
            // A running timer is the call-back being worked on: pending.
            if before.status != ContactStatus::Open {
                k.status = ContactStatus::Scheduled;
                k.started_at_ms = None;
                k.ended_at_ms = None;
            }
            cb.closed_at_ms = None;
        }
    }
    if k != before {
        super::contacts::no_contact_overlap(store, &mut tx, &k, Some(contact)).await?;
        store.update_contact(&mut tx, contact, &k).await?;
        let changes = [
            (
                "status",
                Some(before.status.as_str().into()),
                Some(k.status.as_str().into()),
            ),
            (
                "started_at",
                show(before.started_at_ms),
                show(k.started_at_ms),
            ),
            ("ended_at", show(before.ended_at_ms), show(k.ended_at_ms)),
        ];
        audit_changes(store, &mut tx, "contact", contact, changes, actor).await?;
    }
    store.update_callback(&mut tx, &cb).await?;
    audit_callback(store, &mut tx, &old, &cb, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_callback(id).await?)
}

async fn audit_callback(
    store: &Store,
    tx: &mut sqlx::AnyConnection,
    old: &CallbackRecord,
    new: &CallbackRecord,
    actor: &str,
) -> Result<(), StoreError> {
    let changes = [
        (
            "status",
            Some(old.status.as_str().into()),
            Some(new.status.as_str().into()),
        ),
        ("closed_at", show(old.closed_at_ms), show(new.closed_at_ms)),
        (
            "contact_id",
            old.contact_id.map(|c| c.to_string()),
            new.contact_id.map(|c| c.to_string()),
        ),
        (
            "closed_by_call",
            old.closed_by_call.clone(),
            new.closed_by_call.clone(),
        ),
    ];
    audit_changes(store, tx, "callback", new.id, changes, actor).await
}

/// After contact `contact` changed to `k` (its timer stopped, a PATCH),
/// the call-back it belongs to follows: done (closed at the
/// conversation's start), cancelled, or pending again (scheduled, open or
/// missed: still owed). Nothing for a contact that is no call-back's.
pub(super) async fn follow_contact(
    store: &Store,
    tx: &mut sqlx::AnyConnection,
    contact: i64,
    k: &ContactRecord,
    actor: &str,
) -> Result<(), StoreError> {
    let Some(old) = store.callback_of_contact(tx, contact).await? else {
        return Ok(());
    };
    let mut cb = old.clone();
    match k.status {
        ContactStatus::Done => {
            cb.status = CallbackStatus::Done;
            cb.closed_at_ms = k.started_at_ms.or(old.closed_at_ms);
        }
        ContactStatus::Cancelled => {
            cb.status = CallbackStatus::Cancelled;
            if old.status != CallbackStatus::Cancelled {
                cb.closed_at_ms = Some(Utc::now().timestamp_millis());
            }
        }
        ContactStatus::Scheduled | ContactStatus::Open | ContactStatus::Missed => {
            cb.status = CallbackStatus::Pending;
            cb.closed_at_ms = None;
            cb.closed_by_call = None;
        }
        // An abandoned call-back contact says nothing about the call-back.
        ContactStatus::Abandoned => return Ok(()),
    }
    if cb == old {
        return Ok(());
    }
    store.update_callback(tx, &cb).await?;
    audit_callback(store, tx, &old, &cb, actor).await
}
