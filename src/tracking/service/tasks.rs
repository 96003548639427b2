//! Task timers: one running task per consultant (starting one stops the
//! other, as a time tracker does), tasks entered whole, planned or
//! realised, never overlapping, every change of a time audited.

use super::*;

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
    // Attendance is measured by contacts; a timer in it would count the
    // same client twice over (or a contact never logged).
    if name == crate::tracking::planning::ATTENDANCE {
        return Err(TrackingError::Invalid {
            field: "category",
            message: "attendance is counted from contacts: log a contact (POST /api/contacts)"
                .into(),
        });
    }
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
            TaskStatus::Done
        }
        (None, None) => TaskStatus::Planned,
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
        status,
        planned_start_ms: t.planned_start_ms,
        planned_minutes: t.planned_minutes,
        started_at_ms: t.started_at_ms,
        ended_at_ms: t.ended_at_ms,
        source: TaskSource::Manual,
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
            Some(status.as_str().into()),
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
        rec.status = TaskStatus::Done;
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
        status: TaskStatus::Running,
        started_at_ms: Some(at_ms),
        source: TaskSource::Manual,
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
    if rec.status != TaskStatus::Running {
        return Err(conflict("status", format!("task {id} is not running")));
    }
    let started = rec.started_at_ms.unwrap_or(at_ms);
    span("at", started, at_ms)?;
    no_task_overlap(store, &mut tx, rec.consultant_id, started, at_ms, Some(id)).await?;
    rec.ended_at_ms = Some(at_ms);
    rec.status = TaskStatus::Done;
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
        new.status = match s.parse() {
            Ok(s @ (TaskStatus::Planned | TaskStatus::Done | TaskStatus::Cancelled)) => s,
            Ok(TaskStatus::Running) | Err(_) => {
                return Err(invalid(
                    "status",
                    "planned, done or cancelled (start a timer to run one)",
                ))
            }
        };
    }
    match (new.status, new.started_at_ms, new.ended_at_ms) {
        (TaskStatus::Done, Some(s), Some(e)) => span("ended_at", s, e)?,
        (TaskStatus::Done, _, _) => {
            return Err(conflict("status", "a done task needs its start and end"))
        }
        (TaskStatus::Running, Some(_), None) => {}
        (TaskStatus::Running, _, _) => {
            return Err(conflict("ended_at", "a running task has no end yet"))
        }
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
    if let (Some(s), true) = (new.started_at_ms, new.status != TaskStatus::Cancelled) {
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
        (
            "status",
            Some(old.status.as_str().into()),
            Some(new.status.as_str().into()),
        ),
    ];
    audit_changes(store, &mut tx, "task", id, changes, actor).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_task(id).await?)
}
