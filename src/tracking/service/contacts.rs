//! Contacts: realised ones entered whole, scheduled ones (meetings, in a
//! room that cannot be double-booked) with their statuses, contact timers
//! (a chat begins and ends); realised times never overlap. A call-back's
//! contact closed here moves its call-back with it (`callbacks`).

use super::*;
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus,
};

// ---- contacts ---------------------------------------------------------------

/// A contact as a client asks for it; its channel and direction are the
/// words sent, checked against their sets by the rules that take it.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub channel: String,
    pub consultant_id: i64,
    pub direction: Option<String>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub planned_start_ms: Option<i64>,
    pub planned_end_ms: Option<i64>,
    pub room_id: Option<i64>,
    pub agenda: Option<String>,
    pub notes: Option<String>,
    pub participants: Vec<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactPatch {
    /// done, missed or cancelled (for scheduled ones), done for open ones.
    pub status: Option<String>,
    pub provider_id: Option<Option<i64>>,
    pub provider_user_id: Option<Option<i64>>,
    pub protocol_id: Option<Option<i64>>,
    pub started_at_ms: Option<Option<i64>>,
    pub ended_at_ms: Option<Option<i64>>,
    pub planned_start_ms: Option<Option<i64>>,
    pub planned_end_ms: Option<Option<i64>>,
    pub room_id: Option<Option<i64>>,
    pub agenda: Option<Option<String>>,
    pub notes: Option<Option<String>>,
}

pub const CHANNELS: &[&str] = ContactChannel::NAMES;

fn check_channel(c: &str) -> Result<ContactChannel, TrackingError> {
    c.parse()
        .map_err(|_| invalid("channel", format!("one of {}", CHANNELS.join(", "))))
}

fn check_direction(d: Option<&str>) -> Result<Option<ContactDirection>, TrackingError> {
    d.map(str::parse)
        .transpose()
        .map_err(|_| invalid("direction", "inbound or outbound"))
}

/// The statuses a PATCH may give a contact in status `from`: a scheduled
/// one happens, is missed or is cancelled; an open one ends; the others
/// are final (a done one's times can still be corrected).
fn may_become(from: ContactStatus, to: ContactStatus) -> bool {
    match from {
        ContactStatus::Scheduled => matches!(
            to,
            ContactStatus::Scheduled
                | ContactStatus::Done
                | ContactStatus::Missed
                | ContactStatus::Cancelled
        ),
        ContactStatus::Open => matches!(to, ContactStatus::Open | ContactStatus::Done),
        ContactStatus::Done => to == ContactStatus::Done,
        ContactStatus::Missed | ContactStatus::Abandoned | ContactStatus::Cancelled => false,
    }
}

async fn room_free(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    k: &ContactRecord,
    except: Option<i64>,
) -> Result<(), TrackingError> {
    let Some(room) = k.room_id else {
        return Ok(());
    };
    if k.status == ContactStatus::Cancelled {
        return Ok(());
    }
    let (Some(s), Some(e)) = (
        k.planned_start_ms.or(k.started_at_ms),
        k.planned_end_ms.or(k.ended_at_ms),
    ) else {
        return Err(conflict(
            "room_id",
            "a room is booked for a start and an end",
        ));
    };
    let taken = store.room_bookings(c, room, s, e, except).await?;
    if taken.is_empty() {
        Ok(())
    } else {
        Err(TrackingError::RoomBooked(taken))
    }
}

pub(super) async fn no_contact_overlap(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    k: &ContactRecord,
    except: Option<i64>,
) -> Result<(), TrackingError> {
    let (Some(consultant), Some(s)) = (k.consultant_id, k.started_at_ms) else {
        return Ok(());
    };
    // A call's times are the phone system's record, not a person's entry.
    if k.source == ContactSource::Call
        || !matches!(k.status, ContactStatus::Open | ContactStatus::Done)
    {
        return Ok(());
    }
    let e = k
        .ended_at_ms
        .unwrap_or_else(|| Utc::now().timestamp_millis())
        .max(s + 1);
    let ids = store
        .overlapping_contacts(c, consultant, s, e, except)
        .await?;
    if ids.is_empty() {
        Ok(())
    } else {
        Err(TrackingError::Overlap {
            what: "contacts",
            ids,
        })
    }
}

/// A contact entered whole: realised (start and end: done) or scheduled
/// (planned start and end: status scheduled), e.g. a meeting in a room.
pub async fn add_contact(
    store: &Store,
    n: NewContact,
    actor: &str,
) -> Result<Contact, TrackingError> {
    let channel = check_channel(&n.channel)?;
    let direction = check_direction(n.direction.as_deref())?;
    if let (Some(s), Some(e)) = (n.planned_start_ms, n.planned_end_ms) {
        if e <= s {
            return Err(conflict("planned_end", "ends before it starts"));
        }
    }
    let (kind, status) = match (
        n.started_at_ms,
        n.ended_at_ms,
        n.planned_start_ms,
        n.planned_end_ms,
    ) {
        (Some(s), Some(e), _, _) => {
            span("ended_at", s, e)?;
            (ContactKind::Triggered, ContactStatus::Done)
        }
        (None, None, Some(s), Some(e)) => {
            if e <= s {
                return Err(conflict("planned_end", "ends before it starts"));
            }
            (ContactKind::Scheduled, ContactStatus::Scheduled)
        }
        _ => {
            return Err(invalid(
                "started_at",
                "give started_at and ended_at (a contact that happened) or planned_start and \
                 planned_end (a scheduled one); or start a timer",
            ))
        }
    };
    let k = ContactRecord {
        kind,
        channel,
        direction,
        status,
        reason: None,
        consultant_id: Some(n.consultant_id),
        provider_id: n.provider_id,
        provider_user_id: n.provider_user_id,
        protocol_id: n.protocol_id,
        planned_start_ms: n.planned_start_ms,
        planned_end_ms: n.planned_end_ms,
        started_at_ms: n.started_at_ms,
        ended_at_ms: n.ended_at_ms,
        room_id: n.room_id,
        agenda: text("agenda", n.agenda)?,
        notes: text("notes", n.notes)?,
        source: ContactSource::Manual,
    };
    let mut tx = store.begin().await?;
    room_free(store, &mut tx, &k, None).await?;
    no_contact_overlap(store, &mut tx, &k, None).await?;
    let id = store.insert_contact(&mut tx, &k).await?;
    let mut participants = n.participants;
    participants.retain(|p| *p != n.consultant_id);
    store.add_participants(&mut tx, id, &participants).await?;
    store
        .audit(
            &mut tx,
            "contact",
            id,
            "created",
            None,
            Some(status.as_str().into()),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}

/// Ends the consultant's open manual contact, if any, at `at_ms` (a new
/// timer takes over); returns its id.
async fn end_open_contact(
    store: &Store,
    tx: &mut sqlx::AnyConnection,
    consultant: i64,
    at_ms: i64,
    actor: &str,
) -> Result<Option<i64>, TrackingError> {
    let Some(o) = store.open_manual_contact(tx, consultant).await? else {
        return Ok(None);
    };
    let mut rec = store.contact_record(tx, o).await?;
    if rec.started_at_ms.is_some_and(|s| at_ms < s) {
        return Err(conflict(
            "at",
            format!("contact {o} is open since before that; stop it first"),
        ));
    }
    rec.ended_at_ms = Some(at_ms);
    rec.status = ContactStatus::Done;
    store.update_contact(tx, o, &rec).await?;
    store
        .audit(tx, "contact", o, "ended_at", None, show(Some(at_ms)), actor)
        .await?;
    super::callbacks::follow_contact(store, tx, o, &rec, actor).await?;
    Ok(Some(o))
}

/// Starts the timer of a scheduled contact (a meeting or a call-back
/// begins): it becomes open with its real start at `at`, so rule 3's exact
/// opening time is the clock's, not the plan's. The consultant's open
/// manual contact, if any, ends at the same instant.
pub async fn start_scheduled_contact(
    store: &Store,
    id: i64,
    at_ms: i64,
    actor: &str,
) -> Result<(Contact, Option<Contact>), TrackingError> {
    if at_ms > Utc::now().timestamp_millis() + 60_000 {
        return Err(conflict("at", "a timer cannot start in the future"));
    }
    let mut tx = store.begin().await?;
    let mut rec = store.contact_record(&mut tx, id).await?;
    if rec.status != ContactStatus::Scheduled {
        return Err(conflict(
            "status",
            format!("contact {id} is {}, not scheduled", rec.status),
        ));
    }
    let Some(consultant) = rec.consultant_id else {
        return Err(conflict("consultant_id", "the contact has no consultant"));
    };
    let open = end_open_contact(store, &mut tx, consultant, at_ms, actor).await?;
    rec.status = ContactStatus::Open;
    rec.started_at_ms = Some(at_ms);
    rec.ended_at_ms = None;
    no_contact_overlap(store, &mut tx, &rec, Some(id)).await?;
    store.update_contact(&mut tx, id, &rec).await?;
    let changes = [
        (
            "status",
            Some(ContactStatus::Scheduled.as_str().into()),
            Some(ContactStatus::Open.as_str().into()),
        ),
        ("started_at", None, show(Some(at_ms))),
    ];
    audit_changes(store, &mut tx, "contact", id, changes, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let stopped = match open {
        Some(o) => Some(store.get_contact(o).await?),
        None => None,
    };
    Ok((store.get_contact(id).await?, stopped))
}

/// Starts a contact timer (a chat begins); the consultant's open manual
/// contact, if any, ends at the same instant.
pub async fn start_contact(
    store: &Store,
    n: NewContact,
    at_ms: i64,
    actor: &str,
) -> Result<(Contact, Option<Contact>), TrackingError> {
    let channel = check_channel(&n.channel)?;
    let direction = check_direction(n.direction.as_deref())?;
    if at_ms > Utc::now().timestamp_millis() + 60_000 {
        return Err(conflict("at", "a timer cannot start in the future"));
    }
    let mut tx = store.begin().await?;
    let open = end_open_contact(store, &mut tx, n.consultant_id, at_ms, actor).await?;
    let k = ContactRecord {
        kind: ContactKind::Triggered,
        channel,
        direction,
        status: ContactStatus::Open,
        consultant_id: Some(n.consultant_id),
        provider_id: n.provider_id,
        provider_user_id: n.provider_user_id,
        protocol_id: n.protocol_id,
        started_at_ms: Some(at_ms),
        notes: text("notes", n.notes)?,
        source: ContactSource::Manual,
        ..Default::default()
    };
    no_contact_overlap(store, &mut tx, &k, open).await?;
    let id = store.insert_contact(&mut tx, &k).await?;
    store
        .audit(
            &mut tx,
            "contact",
            id,
            "started_at",
            None,
            show(Some(at_ms)),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let stopped = match open {
        Some(o) => Some(store.get_contact(o).await?),
        None => None,
    };
    Ok((store.get_contact(id).await?, stopped))
}

/// Ends the consultant's open contact (or the given one) at `at`.
pub async fn stop_contact(
    store: &Store,
    consultant: i64,
    contact: Option<i64>,
    at_ms: i64,
    actor: &str,
) -> Result<Contact, TrackingError> {
    let mut tx = store.begin().await?;
    let id = match contact {
        Some(id) => id,
        None => store
            .open_manual_contact(&mut tx, consultant)
            .await?
            .ok_or(TrackingError::NotRunning(consultant))?,
    };
    let mut rec = store.contact_record(&mut tx, id).await?;
    if rec.status != ContactStatus::Open {
        return Err(conflict("status", format!("contact {id} is not open")));
    }
    let started = rec.started_at_ms.unwrap_or(at_ms);
    span("at", started, at_ms)?;
    rec.ended_at_ms = Some(at_ms);
    rec.status = ContactStatus::Done;
    no_contact_overlap(store, &mut tx, &rec, Some(id)).await?;
    store.update_contact(&mut tx, id, &rec).await?;
    let changes = [
        ("ended_at", None, show(Some(at_ms))),
        (
            "status",
            Some(ContactStatus::Open.as_str().into()),
            Some(ContactStatus::Done.as_str().into()),
        ),
    ];
    audit_changes(store, &mut tx, "contact", id, changes, actor).await?;
    super::callbacks::follow_contact(store, &mut tx, id, &rec, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}

/// Edits a contact: a scheduled one becomes done (with its realised
/// times, which must be given), missed or cancelled; times of any
/// contact can be corrected. Every change of a time is audited.
pub async fn update_contact(
    store: &Store,
    id: i64,
    p: ContactPatch,
    actor: &str,
) -> Result<Contact, TrackingError> {
    let mut tx = store.begin().await?;
    let old = store.contact_record(&mut tx, id).await?;
    let mut new = old.clone();
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = p.$f { new.$f = v; } )* };
    }
    set!(
        provider_id,
        provider_user_id,
        protocol_id,
        started_at_ms,
        ended_at_ms,
        planned_start_ms,
        planned_end_ms,
        room_id
    );
    if let Some(v) = p.agenda {
        new.agenda = text("agenda", v)?;
    }
    if let Some(v) = p.notes {
        new.notes = text("notes", v)?;
    }
    if let Some(word) = p.status {
        // A word outside the set is refused like a move the status does
        // not allow, as before the words were an enum.
        let s = match word.parse::<ContactStatus>() {
            Ok(s) if may_become(old.status, s) => s,
            _ => {
                return Err(conflict(
                    "status",
                    format!("a {} contact cannot become {word}", old.status),
                ))
            }
        };
        // Rule 3 asks for the conversation's exact opening and closing
        // times: a scheduled contact is done with its real times, never
        // with the plan's copied in.
        if s == ContactStatus::Done
            && old.status == ContactStatus::Scheduled
            && (p.started_at_ms.flatten().is_none() || p.ended_at_ms.flatten().is_none())
        {
            return Err(conflict(
                "status",
                "a scheduled contact is done with its real start and end (started_at, ended_at)",
            ));
        }
        if s == ContactStatus::Done
            && old.status == ContactStatus::Open
            && new.ended_at_ms.is_none()
        {
            new.ended_at_ms = Some(Utc::now().timestamp_millis());
        }
        new.status = s;
    }
    if let (Some(s), Some(e)) = (new.started_at_ms, new.ended_at_ms) {
        span("ended_at", s, e)?;
    }
    if new.status == ContactStatus::Done
        && (new.started_at_ms.is_none() || new.ended_at_ms.is_none())
    {
        return Err(conflict("status", "a done contact needs its start and end"));
    }
    if let (Some(s), Some(e)) = (new.planned_start_ms, new.planned_end_ms) {
        if e <= s {
            return Err(conflict("planned_end", "ends before it starts"));
        }
    }
    room_free(store, &mut tx, &new, Some(id)).await?;
    no_contact_overlap(store, &mut tx, &new, Some(id)).await?;
    store.update_contact(&mut tx, id, &new).await?;
    let changes = [
        (
            "started_at",
            show(old.started_at_ms),
            show(new.started_at_ms),
        ),
        ("ended_at", show(old.ended_at_ms), show(new.ended_at_ms)),
        (
            "planned_start",
            show(old.planned_start_ms),
            show(new.planned_start_ms),
        ),
        (
            "planned_end",
            show(old.planned_end_ms),
            show(new.planned_end_ms),
        ),
        (
            "status",
            Some(old.status.as_str().into()),
            Some(new.status.as_str().into()),
        ),
    ];
    audit_changes(store, &mut tx, "contact", id, changes, actor).await?;
    super::callbacks::follow_contact(store, &mut tx, id, &new, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moves a PATCH allowed when statuses were compared as words.
    #[test]
    fn a_patch_moves_a_contact_as_the_word_table_did() {
        let words: &[(&str, &[&str])] = &[
            ("scheduled", &["scheduled", "done", "missed", "cancelled"]),
            ("open", &["open", "done"]),
            ("done", &["done"]),
        ];
        for from in ContactStatus::ALL {
            for to in ContactStatus::ALL {
                let allowed = words
                    .iter()
                    .find(|(f, _)| *f == from.as_str())
                    .is_some_and(|(_, t)| t.contains(&to.as_str()));
                assert_eq!(may_become(*from, *to), allowed, "{from} → {to}");
            }
        }
    }

    #[test]
    fn channels_and_directions_are_checked_against_their_words() {
        assert_eq!(check_channel("email").unwrap(), ContactChannel::Email);
        assert!(check_channel("fax").is_err());
        assert_eq!(check_direction(None).unwrap(), None);
        assert_eq!(
            check_direction(Some("inbound")).unwrap(),
            Some(ContactDirection::Inbound)
        );
        assert!(check_direction(Some("internal")).is_err());
    }
}
