//! Protocols on disk: opening, reading, assigning, editing, closing and
//! reopening them, and the reopen history the weekly report counts. Plain
//! rows; what a close or a reopen asks of the desk (rule 4, the audit
//! trail) is `crate::tracking::service`'s, which runs these inside its own
//! transaction so a close and its follow-up task commit together.

use chrono::Datelike;
use sqlx::any::AnyRow;

use super::{get, get_word, now_ms, Arg, Filter, Store, StoreError};
use crate::directory::{Page, Protocol, ProtocolStatus};

pub(super) const PROTOCOL_COLS: &str =
    "id, number, provider_id, owner_id, category, subject, status, opened_at, due_at, closed_at";

#[derive(Debug, Clone, Default)]
pub struct ProtocolQuery {
    pub owner_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub status: Option<ProtocolStatus>,
    pub limit: i64,
    pub offset: i64,
}

/// A protocol to open, validated and with `due_at` in UTC milliseconds.
#[derive(Debug, Clone)]
pub struct ProtocolRecord {
    pub number: Option<String>,
    pub provider_id: i64,
    pub owner_id: Option<i64>,
    pub category: String,
    pub subject: String,
    pub due_at_ms: Option<i64>,
}

/// The fields of a protocol a manager may edit, as they are to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolFields {
    pub category: String,
    pub subject: String,
    pub due_at_ms: Option<i64>,
}

impl Store {
    pub(super) fn protocol_from_row(&self, r: &AnyRow) -> Result<Protocol, StoreError> {
        Ok(Protocol {
            id: get(r, "id")?,
            number: get(r, "number")?,
            provider_id: get(r, "provider_id")?,
            owner_id: get(r, "owner_id")?,
            category: get(r, "category")?,
            subject: get(r, "subject")?,
            status: get_word(r, "status")?,
            opened_at: self.ts(get(r, "opened_at")?),
            due_at: self.opt_ts(get(r, "due_at")?),
            closed_at: self.opt_ts(get(r, "closed_at")?),
        })
    }

    pub async fn open_protocol(&self, p: &ProtocolRecord) -> Result<Protocol, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // A provisional unique number lets the database hand out the id that
        // the generated number is made of, in the same transaction.
        let provisional = p
            .number
            .clone()
            .unwrap_or_else(|| format!("pending-{now}-{}", p.provider_id));
        let row = sqlx::query(
            "INSERT INTO protocols (number, provider_id, owner_id, category, subject, status, \
             opened_at, due_at, closed_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, NULL) \
             RETURNING id",
        )
        .bind(provisional)
        .bind(p.provider_id)
        .bind(p.owner_id)
        .bind(p.category.clone())
        .bind(p.subject.clone())
        .bind(now)
        .bind(p.due_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "protocol number `{}` already exists",
                p.number.clone().unwrap_or_default()
            )),
            StoreError::Reference(_) => {
                StoreError::Reference("provider_id or owner_id does not exist".into())
            }
            other => other,
        })?;
        let id: i64 = get(&row, "id")?;
        if p.number.is_none() {
            let year = self.ts(now).year();
            sqlx::query("UPDATE protocols SET number = $1 WHERE id = $2")
                .bind(format!("{year}-{id:06}"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        tx.commit().await?;
        self.get_protocol(id).await
    }

    pub async fn get_protocol(&self, id: i64) -> Result<Protocol, StoreError> {
        let mut c = self.pool().acquire().await?;
        self.protocol_in(&mut c, id).await
    }

    /// A protocol as a transaction sees it.
    pub async fn protocol_in(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
    ) -> Result<Protocol, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROTOCOL_COLS} FROM protocols WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("protocol {id}")))?;
        self.protocol_from_row(&row)
    }

    /// A protocol's id by its number.
    pub async fn protocol_by_number(&self, number: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM protocols WHERE number = $1")
            .bind(number.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| get(&r, "id")).transpose()
    }

    /// Gives protocol `id` to consultant `owner_id` (the caller audits it).
    pub async fn assign_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
        owner_id: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE protocols SET owner_id = $1 WHERE id = $2")
            .bind(owner_id)
            .bind(id)
            .execute(&mut *c)
            .await
            .map_err(|e| match StoreError::classify(e) {
                StoreError::Reference(_) => {
                    StoreError::Reference(format!("consultant {owner_id} does not exist"))
                }
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("protocol {id}")));
        }
        Ok(())
    }

    /// Rewrites the editable fields (the caller read the protocol, checked
    /// the rules and audits the change).
    pub async fn update_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
        f: &ProtocolFields,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE protocols SET category = $1, subject = $2, due_at = $3 WHERE id = $4",
        )
        .bind(f.category.clone())
        .bind(f.subject.clone())
        .bind(f.due_at_ms)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("protocol {id}")));
        }
        Ok(())
    }

    /// Closes an open protocol at `at_ms`; closing a closed one is a
    /// conflict, so a double click cannot move its `closed_at`.
    pub async fn close_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
        at_ms: i64,
    ) -> Result<Protocol, StoreError> {
        let done = sqlx::query(
            "UPDATE protocols SET status = 'closed', closed_at = $1 WHERE id = $2 AND status = 'open'",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&mut *c)
        .await?;
        let p = self.protocol_in(c, id).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "protocol {} is already closed",
                p.number
            )));
        }
        Ok(p)
    }

    /// Opens a closed protocol again at `at_ms`, recording the close it
    /// undoes; returns the protocol and that close. Reopening an open one is
    /// a conflict.
    pub async fn reopen_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
        at_ms: i64,
        actor: &str,
    ) -> Result<(Protocol, i64), StoreError> {
        let before = self.protocol_in(c, id).await?;
        let Some(closed_at) = before.closed_at.map(|t| t.timestamp_millis()) else {
            return Err(StoreError::Conflict(format!(
                "protocol {} is open; only a closed protocol can be reopened",
                before.number
            )));
        };
        let done = sqlx::query(
            "UPDATE protocols SET status = 'open', closed_at = NULL WHERE id = $1 AND status = 'closed'",
        )
        .bind(id)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "protocol {} is open; only a closed protocol can be reopened",
                before.number
            )));
        }
        sqlx::query(
            "INSERT INTO protocol_reopens (protocol_id, reopened_at, closed_at, actor) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(at_ms)
        .bind(closed_at)
        .bind(actor.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok((self.protocol_in(c, id).await?, closed_at))
    }

    /// When the protocol's current round began: its last reopen, else its
    /// opening.
    pub async fn protocol_round_start(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
    ) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT MAX(reopened_at) AS at FROM protocol_reopens WHERE protocol_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
        match get::<Option<i64>>(&r, "at")? {
            Some(at) => Ok(at),
            None => Ok(self.protocol_in(c, id).await?.opened_at.timestamp_millis()),
        }
    }

    /// How many protocols were reopened in [from, to) (each counted once,
    /// however often it was reopened).
    pub async fn protocols_reopened_in(&self, from: i64, to: i64) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(DISTINCT protocol_id) AS n FROM protocol_reopens \
             WHERE reopened_at >= $1 AND reopened_at < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await?;
        get(&r, "n")
    }

    pub async fn list_protocols(&self, q: &ProtocolQuery) -> Result<Page<Protocol>, StoreError> {
        let mut f = Filter::default();
        if let Some(o) = q.owner_id {
            f.push("owner_id = $?", Arg::Int(o));
        }
        if let Some(p) = q.provider_id {
            f.push("provider_id = $?", Arg::Int(p));
        }
        if let Some(s) = q.status {
            f.push("status = $?", Arg::Text(s.as_str().into()));
        }
        self.page_of(
            "protocols",
            PROTOCOL_COLS,
            "id",
            &f,
            q.limit,
            q.offset,
            |r| self.protocol_from_row(r),
        )
        .await
    }
}
