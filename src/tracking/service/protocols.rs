//! A protocol's life as the desk's rules see it: editing its deadline,
//! category and subject, closing it (with the process's rule 4, "every
//! support attendance gets a communicate-completion task", in the same
//! transaction) and reopening it, every change audited under the person.
//!
//! Rule 4 applies to the categories `tracking.communicate_completion_categories`
//! lists (default `support`), compared ignoring case and surrounding
//! spaces. The task goes to the protocol's owner; a protocol without one
//! gives it to the person closing when they are a consultant, and is
//! otherwise refused (assign an owner first). A close creates no task when
//! this round of the attendance (since the protocol was opened or last
//! reopened) already has one, or when one from before is still running;
//! a reopen cancels the planned (not started) ones, since the completion
//! they were to announce no longer holds. See docs/tracking.md.

use super::*;
use crate::store::ProtocolFields;

/// Who closes a protocol: the person (for the audit trail) and the
/// consultant they are, if any (who rule 4 falls back to).
#[derive(Debug, Clone, Copy)]
pub struct Closer<'a> {
    pub person: &'a str,
    pub consultant_id: Option<i64>,
}

/// What a manager changes in a protocol; `None` leaves a field alone,
/// `due_at_ms: Some(None)` clears the deadline. Texts arrive validated.
#[derive(Debug, Clone, Default)]
pub struct ProtocolPatch {
    pub category: Option<String>,
    pub subject: Option<String>,
    pub due_at_ms: Option<Option<i64>>,
}

/// Whether rule 4 applies to a protocol of `category`.
pub fn asks_for_completion(categories: &[String], category: &str) -> bool {
    let category = category.trim();
    categories
        .iter()
        .any(|c| c.trim().eq_ignore_ascii_case(category))
}

/// Closes protocol `id` and, for the configured categories, creates rule
/// 4's task, all in one transaction: when the task cannot be created, the
/// protocol stays open. Returns the protocol and the task created.
pub async fn close_protocol(
    store: &Store,
    id: i64,
    closer: Closer<'_>,
    categories: &[String],
) -> Result<(Protocol, Option<Task>), TrackingError> {
    let now = Utc::now().timestamp_millis();
    let mut tx = store.begin().await?;
    let (p, task) = close_protocol_in(store, &mut tx, id, closer, categories, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let task = match task {
        Some(t) => Some(store.get_task(t).await?),
        None => None,
    };
    Ok((p, task))
}

/// The close inside a caller's transaction, at `at_ms` (the system of
/// record's close time when it comes from there, so the SLA judges the
/// close when it happened, not when we heard of it). Returns the protocol
/// and the id of rule 4's task, if one was created.
pub async fn close_protocol_in(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    id: i64,
    closer: Closer<'_>,
    categories: &[String],
    at_ms: i64,
) -> Result<(Protocol, Option<i64>), TrackingError> {
    let p = store.close_protocol(c, id, at_ms).await?;
    audit_changes(
        store,
        c,
        "protocol",
        id,
        [
            (
                "status",
                Some(ProtocolStatus::Open.as_str().into()),
                Some(ProtocolStatus::Closed.as_str().into()),
            ),
            ("closed_at", None, show(Some(at_ms))),
        ],
        closer.person,
    )
    .await?;
    let task = if asks_for_completion(categories, &p.category) {
        communicate_completion(store, c, &p, closer, at_ms).await?
    } else {
        None
    };
    Ok((p, task))
}

/// Rule 4 inside the close's transaction; the new task's id, or `None`
/// when this round already has one.
async fn communicate_completion(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    p: &Protocol,
    closer: Closer<'_>,
    now: i64,
) -> Result<Option<i64>, TrackingError> {
    let round = store.protocol_round_start(c, p.id).await?;
    let covered = store
        .protocol_tasks(c, p.id, COMMUNICATE_COMPLETION)
        .await?
        .into_iter()
        .any(|(_, status, created)| {
            status == TaskStatus::Running || (status != TaskStatus::Cancelled && created >= round)
        });
    if covered {
        return Ok(None);
    }
    let consultant = p
        .owner_id
        .or(closer.consultant_id)
        .ok_or_else(|| TrackingError::OwnerRequired(p.number.clone()))?;
    let record = TaskRecord {
        consultant_id: consultant,
        category: COMMUNICATE_COMPLETION.into(),
        protocol_id: Some(p.id),
        title: format!("Communicate the completion of protocol {}", p.number),
        status: TaskStatus::Planned,
        planned_start_ms: Some(now),
        planned_minutes: Some(COMMUNICATE_MINUTES),
        source: TaskSource::Rule,
        ..Default::default()
    };
    let id = store.insert_task(c, &record).await?;
    store
        .audit(
            c,
            "task",
            id,
            "created",
            None,
            Some("rule 4".into()),
            "protocall",
        )
        .await?;
    Ok(Some(id))
}

/// Opens closed protocol `id` again. Its deadline stays; its close is
/// undone (the weekly report judges the next one, and counts the reopen);
/// rule 4's planned tasks are cancelled. Reopening an open protocol is a
/// conflict.
pub async fn reopen_protocol(
    store: &Store,
    id: i64,
    actor: &str,
) -> Result<Protocol, TrackingError> {
    let now = Utc::now().timestamp_millis();
    let mut tx = store.begin().await?;
    let p = reopen_protocol_in(store, &mut tx, id, actor, now).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(p)
}

/// The reopen inside a caller's transaction, at `at_ms`.
pub async fn reopen_protocol_in(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    id: i64,
    actor: &str,
    at_ms: i64,
) -> Result<Protocol, TrackingError> {
    let (p, undone) = store.reopen_protocol(c, id, at_ms, actor).await?;
    audit_changes(
        store,
        c,
        "protocol",
        id,
        [
            (
                "status",
                Some(ProtocolStatus::Closed.as_str().into()),
                Some(ProtocolStatus::Open.as_str().into()),
            ),
            ("closed_at", show(Some(undone)), None),
        ],
        actor,
    )
    .await?;
    for (task, status, _) in store.protocol_tasks(c, id, COMMUNICATE_COMPLETION).await? {
        if status != TaskStatus::Planned {
            continue;
        }
        let mut rec = store.task_record(c, task).await?;
        rec.status = TaskStatus::Cancelled;
        store.update_task(c, task, &rec).await?;
        store
            .audit(
                c,
                "task",
                task,
                "status",
                Some(status.as_str().into()),
                Some(TaskStatus::Cancelled.as_str().into()),
                actor,
            )
            .await?;
    }
    Ok(p)
}

/// Gives a protocol to a consultant: routing rings the new owner from now
/// on, and the audit trail says who moved it from whom.
pub async fn assign_protocol(
    store: &Store,
    id: i64,
    owner_id: i64,
    actor: &str,
) -> Result<Protocol, TrackingError> {
    let mut tx = store.begin().await?;
    assign_protocol_in(store, &mut tx, id, owner_id, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_protocol(id).await?)
}

/// The assignment inside a caller's transaction.
pub async fn assign_protocol_in(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    id: i64,
    owner_id: i64,
    actor: &str,
) -> Result<(), TrackingError> {
    let old = store.protocol_in(c, id).await?;
    store.assign_protocol(c, id, owner_id).await?;
    let changes = [(
        "owner_id",
        old.owner_id.map(|o| o.to_string()),
        Some(owner_id.to_string()),
    )];
    audit_changes(store, c, "protocol", id, changes, actor).await?;
    Ok(())
}

/// Edits a protocol's category, subject and deadline, one audit entry per
/// changed field. A closed protocol's deadline does not move (the SLA
/// judged its close by it): reopen it first.
pub async fn update_protocol(
    store: &Store,
    id: i64,
    patch: ProtocolPatch,
    actor: &str,
) -> Result<Protocol, TrackingError> {
    let mut tx = store.begin().await?;
    update_protocol_in(store, &mut tx, id, patch, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_protocol(id).await?)
}

/// The edit inside a caller's transaction.
pub async fn update_protocol_in(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    id: i64,
    patch: ProtocolPatch,
    actor: &str,
) -> Result<(), TrackingError> {
    let old = store.protocol_in(c, id).await?;
    let old_due = old.due_at.map(|d| d.timestamp_millis());
    let new = ProtocolFields {
        category: patch.category.unwrap_or_else(|| old.category.clone()),
        subject: patch.subject.unwrap_or_else(|| old.subject.clone()),
        due_at_ms: patch.due_at_ms.unwrap_or(old_due),
    };
    if new.due_at_ms != old_due && old.status == crate::directory::ProtocolStatus::Closed {
        return Err(conflict(
            "due_at",
            format!(
                "protocol {} is closed and was judged by its deadline; reopen it before moving it",
                old.number
            ),
        ));
    }
    store.update_protocol(c, id, &new).await?;
    let changes = [
        ("category", Some(old.category.clone()), Some(new.category)),
        ("subject", Some(old.subject.clone()), Some(new.subject)),
        ("due_at", show(old_due), show(new.due_at_ms)),
    ];
    audit_changes(store, c, "protocol", id, changes, actor).await?;
    Ok(())
}
