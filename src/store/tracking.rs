//! Tasks, manual contacts, their audit trail, categories and rooms on disk.
//! Plain rows and the queries the tracking rules need (the running timer,
//! overlaps, room bookings); the rules themselves are `crate::tracking`'s.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::contacts::CONTACT_COLS;
use super::{get, get_word, get_word_opt, now_ms, Contact, Filter, Store, StoreError};
use crate::directory::Page;
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus, TaskSource,
    TaskStatus,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub consultant_id: i64,
    pub category: String,
    pub protocol_id: Option<i64>,
    pub title: String,
    pub notes: Option<String>,
    /// planned, running, done or cancelled.
    #[schema(value_type = String)]
    pub status: TaskStatus,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<DateTime<Tz>>,
    pub planned_minutes: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Tz>>,
    /// Realised time (ended − started), or so far for a running task.
    pub realised_ms: Option<i64>,
    /// manual, schedule or rule.
    #[schema(value_type = String)]
    pub source: TaskSource,
    pub iso_week: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Tz>,
}

/// A task as written; times in UTC milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskRecord {
    pub consultant_id: i64,
    pub category: String,
    pub protocol_id: Option<i64>,
    pub title: String,
    pub notes: Option<String>,
    pub status: TaskStatus,
    pub planned_start_ms: Option<i64>,
    pub planned_minutes: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub source: TaskSource,
    pub iso_week: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub consultant_id: Option<i64>,
    pub status: Option<String>,
    pub category: Option<String>,
    pub protocol_id: Option<i64>,
    pub source: Option<String>,
    pub iso_week: Option<String>,
    /// Tasks whose time (started, else planned start) is in [from, to).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// A manual contact as written; times in UTC milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactRecord {
    pub kind: ContactKind,
    pub channel: ContactChannel,
    pub direction: Option<ContactDirection>,
    pub status: ContactStatus,
    pub reason: Option<String>,
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub planned_start_ms: Option<i64>,
    pub planned_end_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub room_id: Option<i64>,
    pub agenda: Option<String>,
    pub notes: Option<String>,
    pub source: ContactSource,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub entity: String,
    pub entity_id: i64,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub actor: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Tz>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Room {
    pub id: i64,
    pub name: String,
    pub capacity: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub name: String,
    /// One of the process's own categories.
    pub builtin: bool,
}

const TASK_COLS: &str = "id, consultant_id, category, protocol_id, title, notes, status, \
    planned_start, planned_minutes, started_at, ended_at, source, iso_week, created_at, updated_at";
const TASK_TIME: &str = "COALESCE(started_at, planned_start)";

/// A connection for a sequence of statements: a transaction's, usually.
pub type Conn = AnyConnection;

impl Store {
    fn task_from_row(&self, r: &AnyRow) -> Result<Task, StoreError> {
        let started: Option<i64> = get(r, "started_at")?;
        let ended: Option<i64> = get(r, "ended_at")?;
        Ok(Task {
            id: get(r, "id")?,
            consultant_id: get(r, "consultant_id")?,
            category: get(r, "category")?,
            protocol_id: get(r, "protocol_id")?,
            title: get(r, "title")?,
            notes: get(r, "notes")?,
            status: get_word(r, "status")?,
            planned_start: self.opt_ts(get(r, "planned_start")?),
            planned_minutes: get(r, "planned_minutes")?,
            started_at: self.opt_ts(started),
            ended_at: self.opt_ts(ended),
            realised_ms: started.map(|s| ended.unwrap_or_else(now_ms) - s),
            source: get_word(r, "source")?,
            iso_week: get(r, "iso_week")?,
            created_at: self.ts(get(r, "created_at")?),
            updated_at: self.ts(get(r, "updated_at")?),
        })
    }

    /// Starts a transaction for a sequence of tracking writes.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        self.begin_write().await
    }

    pub async fn insert_task(&self, c: &mut Conn, t: &TaskRecord) -> Result<i64, StoreError> {
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO tasks (consultant_id, category, protocol_id, title, notes, status, \
             planned_start, planned_minutes, started_at, ended_at, source, iso_week, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             RETURNING id",
        )
        .bind(t.consultant_id)
        .bind(t.category.clone())
        .bind(t.protocol_id)
        .bind(t.title.clone())
        .bind(t.notes.clone())
        .bind(t.status.as_str())
        .bind(t.planned_start_ms)
        .bind(t.planned_minutes)
        .bind(t.started_at_ms)
        .bind(t.ended_at_ms)
        .bind(t.source.as_str())
        .bind(t.iso_week.clone())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        get(&row, "id")
    }

    /// Rewrites a task's fields (the caller read it, changed it, and
    /// checked the rules).
    pub async fn update_task(
        &self,
        c: &mut Conn,
        id: i64,
        t: &TaskRecord,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE tasks SET category = $1, protocol_id = $2, title = $3, notes = $4, \
             status = $5, planned_start = $6, planned_minutes = $7, started_at = $8, \
             ended_at = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(t.category.clone())
        .bind(t.protocol_id)
        .bind(t.title.clone())
        .bind(t.notes.clone())
        .bind(t.status.as_str())
        .bind(t.planned_start_ms)
        .bind(t.planned_minutes)
        .bind(t.started_at_ms)
        .bind(t.ended_at_ms)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("task {id}")));
        }
        Ok(())
    }

    pub async fn task_record(&self, c: &mut Conn, id: i64) -> Result<TaskRecord, StoreError> {
        let r = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("task {id}")))?;
        Ok(TaskRecord {
            consultant_id: get(&r, "consultant_id")?,
            category: get(&r, "category")?,
            protocol_id: get(&r, "protocol_id")?,
            title: get(&r, "title")?,
            notes: get(&r, "notes")?,
            status: get_word(&r, "status")?,
            planned_start_ms: get(&r, "planned_start")?,
            planned_minutes: get(&r, "planned_minutes")?,
            started_at_ms: get(&r, "started_at")?,
            ended_at_ms: get(&r, "ended_at")?,
            source: get_word(&r, "source")?,
            iso_week: get(&r, "iso_week")?,
        })
    }

    pub async fn get_task(&self, id: i64) -> Result<Task, StoreError> {
        let r = sqlx::query(&format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("task {id}")))?;
        self.task_from_row(&r)
    }

    /// The consultant's running task, if any.
    pub async fn running_task(
        &self,
        c: &mut Conn,
        consultant: i64,
    ) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query(
            "SELECT id FROM tasks WHERE consultant_id = $1 AND status = 'running' ORDER BY id LIMIT 1",
        )
        .bind(consultant)
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| get(&r, "id")).transpose()
    }

    /// Realised tasks of the consultant whose time meets [start, end) (a
    /// running one counts until `now`), other than `except`.
    pub async fn overlapping_tasks(
        &self,
        c: &mut Conn,
        consultant: i64,
        start: i64,
        end: i64,
        except: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM tasks WHERE consultant_id = $1 AND started_at IS NOT NULL \
             AND status IN ('running', 'done') AND started_at < $2 \
             AND COALESCE(ended_at, $3) > $4 AND id <> $5 ORDER BY started_at",
        )
        .bind(consultant)
        .bind(end)
        .bind(now_ms().max(end))
        .bind(start)
        .bind(except.unwrap_or(-1))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    pub async fn list_tasks(&self, q: &TaskQuery) -> Result<Page<Task>, StoreError> {
        let mut f = Filter::default();
        f.push_int("consultant_id = $?", q.consultant_id);
        f.push_int("protocol_id = $?", q.protocol_id);
        f.push_text("status = $?", q.status.as_deref());
        f.push_text("category = $?", q.category.as_deref());
        f.push_text("source = $?", q.source.as_deref());
        f.push_text("iso_week = $?", q.iso_week.as_deref());
        f.push_int(&format!("{TASK_TIME} >= $?"), q.from_ms);
        f.push_int(&format!("{TASK_TIME} < $?"), q.to_ms);
        self.page_of(
            "tasks",
            TASK_COLS,
            &format!("{TASK_TIME}, id"),
            &f,
            q.limit,
            q.offset,
            |r| self.task_from_row(r),
        )
        .await
    }

    pub async fn tasks_running(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM tasks WHERE status = 'running'")
            .fetch_one(self.pool())
            .await?;
        get(&r, "n")
    }

    /// The protocol's tasks of a category: (id, status, created_at), oldest
    /// first.
    pub async fn protocol_tasks(
        &self,
        c: &mut Conn,
        protocol: i64,
        category: &str,
    ) -> Result<Vec<(i64, TaskStatus, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, status, created_at FROM tasks WHERE protocol_id = $1 AND category = $2 \
             ORDER BY id",
        )
        .bind(protocol)
        .bind(category.to_string())
        .fetch_all(&mut *c)
        .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get_word(r, "status")?, get(r, "created_at")?)))
            .collect()
    }

    // ---- audit ----------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn audit(
        &self,
        c: &mut Conn,
        entity: &str,
        id: i64,
        field: &str,
        old: Option<String>,
        new: Option<String>,
        actor: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (entity, entity_id, field, old_value, new_value, actor, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(entity.to_string())
        .bind(id)
        .bind(field.to_string())
        .bind(old)
        .bind(new)
        .bind(actor.to_string())
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    pub async fn audit_trail(&self, entity: &str, id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, entity, entity_id, field, old_value, new_value, actor, at FROM audit_log \
             WHERE entity = $1 AND entity_id = $2 ORDER BY id",
        )
        .bind(entity.to_string())
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: get(r, "id")?,
                    entity: get(r, "entity")?,
                    entity_id: get(r, "entity_id")?,
                    field: get(r, "field")?,
                    old_value: get(r, "old_value")?,
                    new_value: get(r, "new_value")?,
                    actor: get(r, "actor")?,
                    at: self.ts(get(r, "at")?),
                })
            })
            .collect()
    }

    // ---- categories and rooms --------------------------------------------

    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let rows = sqlx::query("SELECT name, builtin FROM task_categories ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Category {
                    name: get(r, "name")?,
                    builtin: super::get_bool(r, "builtin")?,
                })
            })
            .collect()
    }

    /// Adds categories that are not there yet (config or API).
    pub async fn add_categories(&self, names: &[String]) -> Result<(), StoreError> {
        for n in names {
            // `builtin` keeps its default (false / 0) on both backends.
            sqlx::query(
                "INSERT INTO task_categories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            )
            .bind(n.clone())
            .execute(self.pool())
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    pub async fn category_exists(&self, c: &mut Conn, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM task_categories WHERE name = $1")
            .bind(name.to_string())
            .fetch_one(&mut *c)
            .await?;
        Ok(get::<i64>(&r, "n")? > 0)
    }

    pub async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        let rows = sqlx::query("SELECT id, name, capacity FROM rooms ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Room {
                    id: get(r, "id")?,
                    name: get(r, "name")?,
                    capacity: get(r, "capacity")?,
                })
            })
            .collect()
    }

    pub async fn create_room(&self, name: &str, capacity: Option<i64>) -> Result<Room, StoreError> {
        let r = sqlx::query("INSERT INTO rooms (name, capacity) VALUES ($1, $2) RETURNING id")
            .bind(name.to_string())
            .bind(capacity)
            .fetch_one(self.pool())
            .await
            .map_err(StoreError::classify)?;
        Ok(Room {
            id: get(&r, "id")?,
            name: name.to_string(),
            capacity,
        })
    }

    // ---- manual contacts -------------------------------------------------

    pub async fn insert_contact(&self, c: &mut Conn, k: &ContactRecord) -> Result<i64, StoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "INSERT INTO contacts (kind, channel, direction, status, reason, consultant_id, \
             provider_id, provider_user_id, protocol_id, planned_start, planned_end, started_at, \
             ended_at, room_id, agenda, notes, source, created_at, updated_at) VALUES ($1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
        )
        .bind(k.kind.as_str())
        .bind(k.channel.as_str())
        .bind(k.direction.map(|d| d.as_str()))
        .bind(k.status.as_str())
        .bind(k.reason.clone())
        .bind(k.consultant_id)
        .bind(k.provider_id)
        .bind(k.provider_user_id)
        .bind(k.protocol_id)
        .bind(k.planned_start_ms)
        .bind(k.planned_end_ms)
        .bind(k.started_at_ms)
        .bind(k.ended_at_ms)
        .bind(k.room_id)
        .bind(k.agenda.clone())
        .bind(k.notes.clone())
        .bind(k.source.as_str())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        get(&r, "id")
    }

    pub async fn update_contact(
        &self,
        c: &mut Conn,
        id: i64,
        k: &ContactRecord,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE contacts SET status = $1, reason = $2, provider_id = $3, provider_user_id = $4, \
             protocol_id = $5, planned_start = $6, planned_end = $7, started_at = $8, ended_at = $9, \
             room_id = $10, agenda = $11, notes = $12, updated_at = $13 WHERE id = $14",
        )
        .bind(k.status.as_str())
        .bind(k.reason.clone())
        .bind(k.provider_id)
        .bind(k.provider_user_id)
        .bind(k.protocol_id)
        .bind(k.planned_start_ms)
        .bind(k.planned_end_ms)
        .bind(k.started_at_ms)
        .bind(k.ended_at_ms)
        .bind(k.room_id)
        .bind(k.agenda.clone())
        .bind(k.notes.clone())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("contact {id}")));
        }
        Ok(())
    }

    pub async fn contact_record(&self, c: &mut Conn, id: i64) -> Result<ContactRecord, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {CONTACT_COLS} FROM contacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("contact {id}")))?;
        Ok(ContactRecord {
            kind: get_word(&r, "kind")?,
            channel: get_word(&r, "channel")?,
            direction: get_word_opt(&r, "direction")?,
            status: get_word(&r, "status")?,
            reason: get(&r, "reason")?,
            consultant_id: get(&r, "consultant_id")?,
            provider_id: get(&r, "provider_id")?,
            provider_user_id: get(&r, "provider_user_id")?,
            protocol_id: get(&r, "protocol_id")?,
            planned_start_ms: get(&r, "planned_start")?,
            planned_end_ms: get(&r, "planned_end")?,
            started_at_ms: get(&r, "started_at")?,
            ended_at_ms: get(&r, "ended_at")?,
            room_id: get(&r, "room_id")?,
            agenda: get(&r, "agenda")?,
            notes: get(&r, "notes")?,
            source: get_word(&r, "source")?,
        })
    }

    pub async fn add_participants(
        &self,
        c: &mut Conn,
        contact: i64,
        consultants: &[i64],
    ) -> Result<(), StoreError> {
        for p in consultants {
            sqlx::query(
                "INSERT INTO contact_participants (contact_id, consultant_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(contact)
            .bind(*p)
            .execute(&mut *c)
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    /// The consultant's running contact timer: a contact started by hand or
    /// a scheduled one (meeting, call-back) whose timer was started. Calls
    /// are timed by the proxy and bridged chats by their bridge's events,
    /// not by a timer.
    pub async fn open_manual_contact(
        &self,
        c: &mut Conn,
        consultant: i64,
    ) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query(
            // A mail thread's contact stays open until its first reply,
            // for days maybe: it is not a timer a new one should end.
            "SELECT id FROM contacts WHERE consultant_id = $1 AND status = 'open' \
             AND source NOT IN ('call', 'mail', 'chat') ORDER BY id LIMIT 1",
        )
        .bind(consultant)
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| get(&r, "id")).transpose()
    }

    /// Manual contacts of the consultant whose realised time meets
    /// [start, end), other than `except`. Calls and bridged chats are not
    /// counted: they come in while a consultant does something else.
    pub async fn overlapping_contacts(
        &self,
        c: &mut Conn,
        consultant: i64,
        start: i64,
        end: i64,
        except: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            // Nor mail: its contact is the instant of the reply, the
            // answering being a task of its own (team rule 1).
            "SELECT id FROM contacts WHERE consultant_id = $1 AND source NOT IN ('call', 'mail', 'chat') \
             AND started_at IS NOT NULL AND status IN ('open', 'done') AND started_at < $2 \
             AND COALESCE(ended_at, $3) > $4 AND id <> $5 ORDER BY started_at",
        )
        .bind(consultant)
        .bind(end)
        .bind(now_ms().max(end))
        .bind(start)
        .bind(except.unwrap_or(-1))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    /// Bookings of the room that meet [start, end), other than `except`.
    pub async fn room_bookings(
        &self,
        c: &mut Conn,
        room: i64,
        start: i64,
        end: i64,
        except: Option<i64>,
    ) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM contacts WHERE room_id = $1 AND status <> 'cancelled' \
             AND COALESCE(planned_start, started_at) < $2 \
             AND COALESCE(planned_end, ended_at, planned_start, started_at) > $3 AND id <> $4",
        )
        .bind(room)
        .bind(end)
        .bind(start)
        .bind(except.unwrap_or(-1))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(|r| get(r, "id")).collect()
    }

    /// Scheduled contacts and meetings a consultant takes part in, in
    /// [from, to) (owner or participant), for calendars and schedules.
    pub async fn consultant_agenda(
        &self,
        consultant: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<Contact>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONTACT_COLS} FROM contacts WHERE (consultant_id = $1 OR id IN \
             (SELECT contact_id FROM contact_participants WHERE consultant_id = $2)) \
             AND COALESCE(planned_start, started_at) < $3 \
             AND COALESCE(planned_end, ended_at, planned_start, started_at) > $4 \
             ORDER BY COALESCE(planned_start, started_at), id"
        ))
        .bind(consultant)
        .bind(consultant)
        .bind(to)
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| self.contact_from_row(r)).collect()
    }
}
