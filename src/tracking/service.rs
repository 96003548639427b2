//! The time-tracking rules, shared by the admin API and the CLI: one
//! running task timer per consultant (starting one stops the other, as a
//! time tracker does), no overlapping realised times, scheduled contacts
//! with their statuses, rooms that cannot be double-booked, an audit entry
//! for every change of a time, and the process's rule 4 (closing a protocol
//! asks its owner to communicate the completion).

use chrono::Utc;

use crate::directory::Protocol;
use crate::store::{Contact, ContactRecord, Store, StoreError, Task, TaskRecord};

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

// ---- tasks ----------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub consultant_id: i64,
    pub category: String,
    pub protocol_id: Option<i64>,
    pub title: Option<String>,
    pub notes: Option<String>,
    pub planned_start_ms: Option<i64>,
    pub planned_minutes: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub category: Option<String>,
    pub protocol_id: Option<Option<i64>>,
    pub title: Option<String>,
    pub notes: Option<Option<String>>,
    /// planned, done or cancelled (running comes from start).
    pub status: Option<String>,
    pub planned_start_ms: Option<Option<i64>>,
    pub planned_minutes: Option<Option<i64>>,
    pub started_at_ms: Option<Option<i64>>,
    pub ended_at_ms: Option<Option<i64>>,
}

async fn check_category(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    name: &str,
) -> Result<(), TrackingError> {
    if !store.category_exists(c, name).await? {
        return Err(TrackingError::Unknown {
            field: "category",
            message: format!("`{name}` is not a task category (GET /api/task-categories)"),
        });
    }
    Ok(())
}

async fn no_task_overlap(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    consultant: i64,
    start: i64,
    end: i64,
    except: Option<i64>,
) -> Result<(), TrackingError> {
    let ids = store
        .overlapping_tasks(c, consultant, start, end, except)
        .await?;
    if ids.is_empty() {
        Ok(())
    } else {
        Err(TrackingError::Overlap { what: "tasks", ids })
    }
}

/// A task entered whole: planned (start and duration) or realised (start
/// and end), or both.
pub async fn add_task(store: &Store, t: NewTask, actor: &str) -> Result<Task, TrackingError> {
    let mut tx = store.begin().await?;
    check_category(store, &mut tx, &t.category).await?;
    if let Some(m) = t.planned_minutes {
        if !(1..=24 * 60).contains(&m) {
            return Err(invalid("planned_minutes", "between 1 and 1440"));
        }
    }
    let status = match (t.started_at_ms, t.ended_at_ms) {
        (Some(s), Some(e)) => {
            span("ended_at", s, e)?;
            no_task_overlap(store, &mut tx, t.consultant_id, s, e, None).await?;
            "done"
        }
        (None, None) => "planned",
        (Some(_), None) => {
            return Err(invalid(
                "ended_at",
                "a realised task needs its end (or start a timer instead)",
            ))
        }
        (None, Some(_)) => return Err(invalid("started_at", "an end needs a start")),
    };
    let record = TaskRecord {
        consultant_id: t.consultant_id,
        category: t.category,
        protocol_id: t.protocol_id,
        title: text("title", t.title)?.unwrap_or_default(),
        notes: text("notes", t.notes)?,
        status: status.into(),
        planned_start_ms: t.planned_start_ms,
        planned_minutes: t.planned_minutes,
        started_at_ms: t.started_at_ms,
        ended_at_ms: t.ended_at_ms,
        source: "manual".into(),
        iso_week: None,
    };
    let id = store.insert_task(&mut tx, &record).await?;
    store
        .audit(
            &mut tx,
            "task",
            id,
            "created",
            None,
            Some(status.into()),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_task(id).await?)
}

/// Starts a task timer at `at`; the consultant's running task, if any,
/// stops at the same instant. Returns the new task and the stopped one.
pub async fn start_task(
    store: &Store,
    t: NewTask,
    at_ms: i64,
    actor: &str,
) -> Result<(Task, Option<Task>), TrackingError> {
    let mut tx = store.begin().await?;
    check_category(store, &mut tx, &t.category).await?;
    if at_ms > Utc::now().timestamp_millis() + 60_000 {
        return Err(conflict("at", "a timer cannot start in the future"));
    }
    let running = store.running_task(&mut tx, t.consultant_id).await?;
    if let Some(r) = running {
        let mut rec = store.task_record(&mut tx, r).await?;
        let started = rec.started_at_ms.unwrap_or(at_ms);
        if at_ms < started {
            return Err(conflict(
                "at",
                format!("task {r} is running since before that; stop it first"),
            ));
        }
        rec.ended_at_ms = Some(at_ms);
        rec.status = "done".into();
        store.update_task(&mut tx, r, &rec).await?;
        store
            .audit(
                &mut tx,
                "task",
                r,
                "ended_at",
                None,
                show(Some(at_ms)),
                actor,
            )
            .await?;
    }
    no_task_overlap(store, &mut tx, t.consultant_id, at_ms, at_ms + 1, running).await?;
    let record = TaskRecord {
        consultant_id: t.consultant_id,
        category: t.category,
        protocol_id: t.protocol_id,
        title: text("title", t.title)?.unwrap_or_default(),
        notes: text("notes", t.notes)?,
        status: "running".into(),
        started_at_ms: Some(at_ms),
        source: "manual".into(),
        ..Default::default()
    };
    let id = store.insert_task(&mut tx, &record).await?;
    store
        .audit(
            &mut tx,
            "task",
            id,
            "started_at",
            None,
            show(Some(at_ms)),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let stopped = match running {
        Some(r) => Some(store.get_task(r).await?),
        None => None,
    };
    Ok((store.get_task(id).await?, stopped))
}

/// Stops the consultant's running task (or the given one) at `at`.
pub async fn stop_task(
    store: &Store,
    consultant: i64,
    task: Option<i64>,
    at_ms: i64,
    actor: &str,
) -> Result<Task, TrackingError> {
    let mut tx = store.begin().await?;
    let id = match task {
        Some(id) => id,
        None => store
            .running_task(&mut tx, consultant)
            .await?
            .ok_or(TrackingError::NotRunning(consultant))?,
    };
    let mut rec = store.task_record(&mut tx, id).await?;
    if rec.status != "running" {
        return Err(conflict("status", format!("task {id} is not running")));
    }
    let started = rec.started_at_ms.unwrap_or(at_ms);
    span("at", started, at_ms)?;
    no_task_overlap(store, &mut tx, rec.consultant_id, started, at_ms, Some(id)).await?;
    rec.ended_at_ms = Some(at_ms);
    rec.status = "done".into();
    store.update_task(&mut tx, id, &rec).await?;
    store
        .audit(
            &mut tx,
            "task",
            id,
            "ended_at",
            None,
            show(Some(at_ms)),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_task(id).await?)
}

/// Edits a task; every change of a time is audited.
pub async fn update_task(
    store: &Store,
    id: i64,
    p: TaskPatch,
    actor: &str,
) -> Result<Task, TrackingError> {
    let mut tx = store.begin().await?;
    let old = store.task_record(&mut tx, id).await?;
    let mut new = old.clone();
    if let Some(c) = p.category {
        check_category(store, &mut tx, &c).await?;
        new.category = c;
    }
    if let Some(v) = p.protocol_id {
        new.protocol_id = v;
    }
    if let Some(v) = p.title {
        new.title = text("title", Some(v))?.unwrap_or_default();
    }
    if let Some(v) = p.notes {
        new.notes = text("notes", v)?;
    }
    if let Some(v) = p.planned_start_ms {
        new.planned_start_ms = v;
    }
    if let Some(v) = p.planned_minutes {
        new.planned_minutes = v;
    }
    if let Some(v) = p.started_at_ms {
        new.started_at_ms = v;
    }
    if let Some(v) = p.ended_at_ms {
        new.ended_at_ms = v;
    }
    if let Some(s) = p.status {
        if !["planned", "done", "cancelled"].contains(&s.as_str()) {
            return Err(invalid(
                "status",
                "planned, done or cancelled (start a timer to run one)",
            ));
        }
        new.status = s;
    }
    match (new.status.as_str(), new.started_at_ms, new.ended_at_ms) {
        ("done", Some(s), Some(e)) => span("ended_at", s, e)?,
        ("done", _, _) => return Err(conflict("status", "a done task needs its start and end")),
        ("running", Some(_), None) => {}
        ("running", _, _) => return Err(conflict("ended_at", "a running task has no end yet")),
        // The store holds a start without an end for running tasks only.
        (_, Some(_), None) => {
            return Err(conflict(
                "ended_at",
                "a task with a start and no end is a running one: give its end, or start a timer",
            ))
        }
        (_, Some(s), Some(e)) => span("ended_at", s, e)?,
        _ => {}
    }
    if let (Some(s), true) = (new.started_at_ms, new.status != "cancelled") {
        let e = new
            .ended_at_ms
            .unwrap_or_else(|| Utc::now().timestamp_millis());
        no_task_overlap(store, &mut tx, new.consultant_id, s, e.max(s + 1), Some(id)).await?;
    }
    store.update_task(&mut tx, id, &new).await?;
    let minutes = |m: Option<i64>| m.map(|v| v.to_string());
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
            "planned_minutes",
            minutes(old.planned_minutes),
            minutes(new.planned_minutes),
        ),
        ("status", Some(old.status), Some(new.status)),
    ];
    audit_changes(store, &mut tx, "task", id, changes, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_task(id).await?)
}

/// Rule 4: a closed protocol's owner communicates the completion. Creates
/// that task unless the protocol already has one; returns it when created.
pub async fn on_protocol_closed(
    store: &Store,
    p: &Protocol,
) -> Result<Option<Task>, TrackingError> {
    let Some(owner) = p.owner_id else {
        return Ok(None);
    };
    let mut tx = store.begin().await?;
    if store
        .protocol_has_task(&mut tx, p.id, COMMUNICATE_COMPLETION)
        .await?
    {
        return Ok(None);
    }
    let now = Utc::now().timestamp_millis();
    let record = TaskRecord {
        consultant_id: owner,
        category: COMMUNICATE_COMPLETION.into(),
        protocol_id: Some(p.id),
        title: format!("Communicate the completion of protocol {}", p.number),
        status: "planned".into(),
        planned_start_ms: Some(now),
        planned_minutes: Some(COMMUNICATE_MINUTES),
        source: "rule".into(),
        ..Default::default()
    };
    let id = store.insert_task(&mut tx, &record).await?;
    store
        .audit(
            &mut tx,
            "task",
            id,
            "created",
            None,
            Some("rule 4".into()),
            "protocall",
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Some(store.get_task(id).await?))
}

// ---- contacts ---------------------------------------------------------------

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

pub const CHANNELS: &[&str] = &["phone", "chat", "email", "meeting", "other"];

fn check_channel(c: &str) -> Result<(), TrackingError> {
    if CHANNELS.contains(&c) {
        Ok(())
    } else {
        Err(invalid(
            "channel",
            format!("one of {}", CHANNELS.join(", ")),
        ))
    }
}

fn check_direction(d: &Option<String>) -> Result<(), TrackingError> {
    match d.as_deref() {
        None | Some("inbound") | Some("outbound") => Ok(()),
        Some(_) => Err(invalid("direction", "inbound or outbound")),
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
    if k.status == "cancelled" {
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

async fn no_contact_overlap(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    k: &ContactRecord,
    except: Option<i64>,
) -> Result<(), TrackingError> {
    let (Some(consultant), Some(s)) = (k.consultant_id, k.started_at_ms) else {
        return Ok(());
    };
    if k.source != "manual" || !["open", "done"].contains(&k.status.as_str()) {
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
    check_channel(&n.channel)?;
    check_direction(&n.direction)?;
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
            ("triggered", "done")
        }
        (None, None, Some(s), Some(e)) => {
            if e <= s {
                return Err(conflict("planned_end", "ends before it starts"));
            }
            ("scheduled", "scheduled")
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
        kind: kind.into(),
        channel: n.channel,
        direction: n.direction,
        status: status.into(),
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
        source: "manual".into(),
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
            Some(status.into()),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}

/// Starts a contact timer (a chat begins); the consultant's open manual
/// contact, if any, ends at the same instant.
pub async fn start_contact(
    store: &Store,
    n: NewContact,
    at_ms: i64,
    actor: &str,
) -> Result<(Contact, Option<Contact>), TrackingError> {
    check_channel(&n.channel)?;
    check_direction(&n.direction)?;
    if at_ms > Utc::now().timestamp_millis() + 60_000 {
        return Err(conflict("at", "a timer cannot start in the future"));
    }
    let mut tx = store.begin().await?;
    let open = store.open_manual_contact(&mut tx, n.consultant_id).await?;
    if let Some(o) = open {
        let mut rec = store.contact_record(&mut tx, o).await?;
        if rec.started_at_ms.is_some_and(|s| at_ms < s) {
            return Err(conflict(
                "at",
                format!("contact {o} is open since before that; stop it first"),
            ));
        }
        rec.ended_at_ms = Some(at_ms);
        rec.status = "done".into();
        store.update_contact(&mut tx, o, &rec).await?;
        store
            .audit(
                &mut tx,
                "contact",
                o,
                "ended_at",
                None,
                show(Some(at_ms)),
                actor,
            )
            .await?;
    }
    let k = ContactRecord {
        kind: "triggered".into(),
        channel: n.channel,
        direction: n.direction,
        status: "open".into(),
        consultant_id: Some(n.consultant_id),
        provider_id: n.provider_id,
        provider_user_id: n.provider_user_id,
        protocol_id: n.protocol_id,
        started_at_ms: Some(at_ms),
        notes: text("notes", n.notes)?,
        source: "manual".into(),
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
    if rec.status != "open" {
        return Err(conflict("status", format!("contact {id} is not open")));
    }
    let started = rec.started_at_ms.unwrap_or(at_ms);
    span("at", started, at_ms)?;
    rec.ended_at_ms = Some(at_ms);
    rec.status = "done".into();
    no_contact_overlap(store, &mut tx, &rec, Some(id)).await?;
    store.update_contact(&mut tx, id, &rec).await?;
    store
        .audit(
            &mut tx,
            "contact",
            id,
            "ended_at",
            None,
            show(Some(at_ms)),
            actor,
        )
        .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}

/// Edits a contact: a scheduled one becomes done (with its realised
/// times; the planned ones by default), missed or cancelled; times of any
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
    if let Some(s) = p.status {
        let allowed: &[&str] = match old.status.as_str() {
            "scheduled" => &["scheduled", "done", "missed", "cancelled"],
            "open" => &["open", "done"],
            "done" => &["done"],
            _ => &[],
        };
        if !allowed.contains(&s.as_str()) {
            return Err(conflict(
                "status",
                format!("a {} contact cannot become {s}", old.status),
            ));
        }
        if s == "done" && old.status == "scheduled" {
            new.started_at_ms = new.started_at_ms.or(new.planned_start_ms);
            new.ended_at_ms = new.ended_at_ms.or(new.planned_end_ms);
        }
        if s == "done" && old.status == "open" && new.ended_at_ms.is_none() {
            new.ended_at_ms = Some(Utc::now().timestamp_millis());
        }
        new.status = s;
    }
    if let (Some(s), Some(e)) = (new.started_at_ms, new.ended_at_ms) {
        span("ended_at", s, e)?;
    }
    if new.status == "done" && (new.started_at_ms.is_none() || new.ended_at_ms.is_none()) {
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
        ("status", Some(old.status), Some(new.status)),
    ];
    audit_changes(store, &mut tx, "contact", id, changes, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(id).await?)
}
