//! What the weekly report reads: the tasks, contacts and protocols of a
//! span of time, as plain rows (range scans on indexed columns); the
//! report's arithmetic is `crate::reports::weekly`'s.

use super::{get, get_word, get_word_opt, Store, StoreError};
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus, TaskSource,
    TaskStatus,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpan {
    pub id: i64,
    pub consultant_id: i64,
    pub category: String,
    pub title: String,
    pub status: TaskStatus,
    pub source: TaskSource,
    pub iso_week: Option<String>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub planned_start: Option<i64>,
    pub planned_minutes: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSpan {
    pub id: i64,
    pub consultant_id: Option<i64>,
    pub kind: ContactKind,
    pub channel: ContactChannel,
    pub direction: Option<ContactDirection>,
    pub status: ContactStatus,
    pub source: ContactSource,
    pub rang_at: Option<i64>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub wait_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedProtocol {
    pub opened_at: i64,
    pub closed_at: i64,
    pub due_at: Option<i64>,
}

/// Realised tasks and contacts last at most a day (the tracking rules
/// refuse longer), so a span's rows start at most this long before it.
const LONGEST: i64 = 24 * 3600 * 1000;

impl Store {
    /// Tasks realised or planned in [from, to).
    pub async fn tasks_in(&self, from: i64, to: i64) -> Result<Vec<TaskSpan>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, consultant_id, category, title, status, source, iso_week, started_at, \
             ended_at, planned_start, planned_minutes, created_at FROM tasks \
             WHERE (started_at >= $1 AND started_at < $2) OR (planned_start >= $3 AND planned_start < $4)",
        )
        .bind(from - LONGEST)
        .bind(to)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskSpan {
                    id: get(r, "id")?,
                    consultant_id: get(r, "consultant_id")?,
                    category: get(r, "category")?,
                    title: get(r, "title")?,
                    status: get_word(r, "status")?,
                    source: get_word(r, "source")?,
                    iso_week: get(r, "iso_week")?,
                    started_at: get(r, "started_at")?,
                    ended_at: get(r, "ended_at")?,
                    planned_start: get(r, "planned_start")?,
                    planned_minutes: get(r, "planned_minutes")?,
                    created_at: get(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Tasks of a category not done by `before` (planned or running then).
    pub async fn open_tasks_before(
        &self,
        category: &str,
        before: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, consultant_id FROM tasks WHERE category = $1 AND created_at < $2 \
             AND status <> 'cancelled' AND (status IN ('planned', 'running') OR ended_at >= $3)",
        )
        .bind(category.to_string())
        .bind(before)
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get(r, "consultant_id")?)))
            .collect()
    }

    /// Contacts realised, rung or planned in [from, to).
    pub async fn contacts_in(&self, from: i64, to: i64) -> Result<Vec<ContactSpan>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, consultant_id, kind, channel, direction, status, source, rang_at, started_at, \
             ended_at, planned_start, planned_end, wait_ms FROM contacts \
             WHERE (started_at >= $1 AND started_at < $2) OR (planned_start >= $3 AND planned_start < $4) \
             OR (rang_at >= $5 AND rang_at < $6)",
        )
        .bind(from - LONGEST)
        .bind(to)
        .bind(from)
        .bind(to)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ContactSpan {
                    id: get(r, "id")?,
                    consultant_id: get(r, "consultant_id")?,
                    kind: get_word(r, "kind")?,
                    channel: get_word(r, "channel")?,
                    direction: get_word_opt(r, "direction")?,
                    status: get_word(r, "status")?,
                    source: get_word(r, "source")?,
                    rang_at: get(r, "rang_at")?,
                    started_at: get(r, "started_at")?,
                    ended_at: get(r, "ended_at")?,
                    planned_start: get(r, "planned_start")?,
                    planned_end: get(r, "planned_end")?,
                    wait_ms: get(r, "wait_ms")?,
                })
            })
            .collect()
    }

    /// Protocols closed in [from, to).
    pub async fn protocols_closed_in(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<ClosedProtocol>, StoreError> {
        let rows = sqlx::query(
            "SELECT opened_at, closed_at, due_at FROM protocols \
             WHERE closed_at >= $1 AND closed_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ClosedProtocol {
                    opened_at: get(r, "opened_at")?,
                    closed_at: get(r, "closed_at")?,
                    due_at: get(r, "due_at")?,
                })
            })
            .collect()
    }

    /// Call-backs created before `at` and still pending then.
    pub async fn callbacks_open_at(&self, at: i64) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM callbacks WHERE created_at < $1 \
             AND (status = 'pending' OR closed_at >= $2)",
        )
        .bind(at)
        .bind(at)
        .fetch_one(self.pool())
        .await?;
        get(&r, "n")
    }

    /// Active consultants (id, name).
    pub async fn consultant_names(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let active = match self.backend() {
            super::Backend::Sqlite => "active = 1",
            super::Backend::Postgres => "active",
        };
        let rows = sqlx::query(&format!(
            "SELECT id, name FROM consultants WHERE {active} ORDER BY name, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get(r, "name")?)))
            .collect()
    }
}
