//! The duty roster on disk: the weekly slots of chat and e-mail duty and
//! the exceptions for a date. Plain rows in minutes of the desk's local
//! day; what they mean (who is on duty at an instant, which rosters are
//! valid) is `crate::tracking::duty`'s, which runs these writes inside
//! its own audited transaction.

use sqlx::any::AnyRow;

use super::{get, Store, StoreError};

type Conn = sqlx::AnyConnection;

/// One weekly slot: `consultant_id` is on `channel` duty on `weekday`
/// (0 = Monday) from `start_minute` to `end_minute` (local, [start, end)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutySlotRow {
    pub id: i64,
    pub channel: String,
    pub weekday: i64,
    pub start_minute: i64,
    pub end_minute: i64,
    pub consultant_id: i64,
}

/// An exception for one local date: someone else, or nobody (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutyExceptionRow {
    pub id: i64,
    pub channel: String,
    /// YYYY-MM-DD, the desk's local date.
    pub day: String,
    pub start_minute: i64,
    pub end_minute: i64,
    pub consultant_id: Option<i64>,
    pub note: Option<String>,
}

const SLOT_COLS: &str = "id, channel, weekday, start_minute, end_minute, consultant_id";
const EXCEPTION_COLS: &str = "id, channel, day, start_minute, end_minute, consultant_id, note";

fn slot(r: &AnyRow) -> Result<DutySlotRow, StoreError> {
    Ok(DutySlotRow {
        id: get(r, "id")?,
        channel: get(r, "channel")?,
        weekday: get(r, "weekday")?,
        start_minute: get(r, "start_minute")?,
        end_minute: get(r, "end_minute")?,
        consultant_id: get(r, "consultant_id")?,
    })
}

fn exception(r: &AnyRow) -> Result<DutyExceptionRow, StoreError> {
    Ok(DutyExceptionRow {
        id: get(r, "id")?,
        channel: get(r, "channel")?,
        day: get(r, "day")?,
        start_minute: get(r, "start_minute")?,
        end_minute: get(r, "end_minute")?,
        consultant_id: get(r, "consultant_id")?,
        note: get(r, "note")?,
    })
}

/// Names the consultant a roster write refers to when the foreign key
/// refuses it.
fn no_consultant(e: sqlx::Error, consultant: Option<i64>) -> StoreError {
    match StoreError::classify(e) {
        StoreError::Reference(_) => StoreError::Reference(format!(
            "consultant {} does not exist",
            consultant.unwrap_or_default()
        )),
        other => other,
    }
}

impl Store {
    /// The whole weekly roster, by channel, weekday and start.
    pub async fn duty_slots(&self, c: &mut Conn) -> Result<Vec<DutySlotRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SLOT_COLS} FROM duty_slots ORDER BY channel, weekday, start_minute, id"
        ))
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(slot).collect()
    }

    /// Replaces the weekly roster with `slots` (their ids are ignored).
    pub async fn replace_duty_slots(
        &self,
        c: &mut Conn,
        slots: &[DutySlotRow],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM duty_slots")
            .execute(&mut *c)
            .await?;
        for s in slots {
            sqlx::query(
                "INSERT INTO duty_slots (channel, weekday, start_minute, end_minute, \
                 consultant_id) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(s.channel.clone())
            .bind(s.weekday)
            .bind(s.start_minute)
            .bind(s.end_minute)
            .bind(s.consultant_id)
            .execute(&mut *c)
            .await
            .map_err(|e| no_consultant(e, Some(s.consultant_id)))?;
        }
        Ok(())
    }

    pub async fn insert_duty_exception(
        &self,
        c: &mut Conn,
        x: &DutyExceptionRow,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "INSERT INTO duty_exceptions (channel, day, start_minute, end_minute, consultant_id, \
             note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(x.channel.clone())
        .bind(x.day.clone())
        .bind(x.start_minute)
        .bind(x.end_minute)
        .bind(x.consultant_id)
        .bind(x.note.clone())
        .bind(now_ms)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| no_consultant(e, x.consultant_id))?;
        get(&r, "id")
    }

    pub async fn duty_exception(
        &self,
        c: &mut Conn,
        id: i64,
    ) -> Result<DutyExceptionRow, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {EXCEPTION_COLS} FROM duty_exceptions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("duty exception {id}")))?;
        exception(&r)
    }

    pub async fn delete_duty_exception(&self, c: &mut Conn, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM duty_exceptions WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("duty exception {id}")));
        }
        Ok(())
    }

    /// Exceptions on local dates in [from, to] (YYYY-MM-DD compare as
    /// text), of one channel or all.
    pub async fn duty_exceptions_between(
        &self,
        c: &mut Conn,
        channel: Option<&str>,
        from: &str,
        to: &str,
    ) -> Result<Vec<DutyExceptionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EXCEPTION_COLS} FROM duty_exceptions WHERE day >= $1 AND day <= $2 \
             AND ($3 = '' OR channel = $4) ORDER BY day, channel, start_minute, id"
        ))
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(channel.unwrap_or_default().to_string())
        .bind(channel.unwrap_or_default().to_string())
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(exception).collect()
    }
}
