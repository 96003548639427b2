//! The rows that keep protocols in step with the system of record: the
//! ledger of events taken in (idempotency), the pending events a person
//! must match, each protocol's last applied update time, and the lookups
//! that turn the system of record's names (a CNPJ, a consultant's handle)
//! into ids. The rules that decide what to write are `crate::sync`'s.

use super::{get, now_ms, Store, StoreError};
use crate::directory::Page;
use crate::sync::event::PendingEvent;

/// A protocol as sync finds it by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncedProtocol {
    pub id: i64,
    /// The system of record's update time last applied, Unix ms.
    pub source_updated_at: Option<i64>,
}

/// A protocol the system of record opened first, to be created here.
#[derive(Debug, Clone)]
pub struct SyncedNew<'a> {
    pub number: &'a str,
    pub provider_id: i64,
    pub owner_id: Option<i64>,
    pub category: &'a str,
    pub subject: &'a str,
    pub opened_at_ms: i64,
    pub due_at_ms: Option<i64>,
}

/// An event to keep in the pending list.
#[derive(Debug, Clone)]
pub struct NewPending<'a> {
    pub event_id: &'a str,
    pub number: &'a str,
    pub kind: &'a str,
    pub at_ms: i64,
    pub missing: &'a [String],
    pub payload: &'a str,
    pub source: &'a str,
}

impl Store {
    pub async fn provider_by_tax_id(
        &self,
        c: &mut sqlx::AnyConnection,
        tax_id: &str,
    ) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query("SELECT id FROM providers WHERE tax_id = $1")
            .bind(tax_id.to_string())
            .fetch_optional(&mut *c)
            .await?;
        r.map(|r| get(&r, "id")).transpose()
    }

    /// A consultant by SIP username, else by e-mail (ignoring case), the
    /// two names another system is likely to hold for a person.
    pub async fn consultant_by_handle(
        &self,
        c: &mut sqlx::AnyConnection,
        handle: &str,
    ) -> Result<Option<i64>, StoreError> {
        let by_user = sqlx::query("SELECT id FROM consultants WHERE sip_username = $1")
            .bind(handle.to_string())
            .fetch_optional(&mut *c)
            .await?;
        if let Some(r) = by_user {
            return Ok(Some(get(&r, "id")?));
        }
        let by_mail =
            sqlx::query("SELECT id FROM consultants WHERE lower(email) = lower($1) ORDER BY id")
                .bind(handle.to_string())
                .fetch_optional(&mut *c)
                .await?;
        by_mail.map(|r| get(&r, "id")).transpose()
    }

    pub async fn synced_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        number: &str,
    ) -> Result<Option<SyncedProtocol>, StoreError> {
        // Two events for one protocol at once must not both pass the
        // ordering check: PostgreSQL locks the row until the caller's
        // commit (SQLite's write transaction already holds the database).
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        let r = sqlx::query(&format!(
            "SELECT id, source_updated_at FROM protocols WHERE number = $1{lock}"
        ))
        .bind(number.to_string())
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| {
            Ok(SyncedProtocol {
                id: get(&r, "id")?,
                source_updated_at: get(&r, "source_updated_at")?,
            })
        })
        .transpose()
    }

    /// Creates a protocol under the system of record's number, open, with
    /// its opening time; audited as `created` under `actor`.
    pub async fn insert_synced_protocol(
        &self,
        c: &mut sqlx::AnyConnection,
        p: &SyncedNew<'_>,
        actor: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO protocols (number, provider_id, owner_id, category, subject, status, \
             opened_at, due_at, closed_at) VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, NULL) \
             RETURNING id",
        )
        .bind(p.number.to_string())
        .bind(p.provider_id)
        .bind(p.owner_id)
        .bind(p.category.to_string())
        .bind(p.subject.to_string())
        .bind(p.opened_at_ms)
        .bind(p.due_at_ms)
        .fetch_one(&mut *c)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("protocol number `{}` already exists", p.number))
            }
            other => other,
        })?;
        let id: i64 = get(&row, "id")?;
        self.audit(
            c,
            "protocol",
            id,
            "created",
            None,
            Some(p.number.to_string()),
            actor,
        )
        .await?;
        Ok(id)
    }

    pub async fn set_source_updated_at(
        &self,
        c: &mut sqlx::AnyConnection,
        id: i64,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        // Never backwards: an equal-time event applied after a newer one
        // leaves the newer time.
        sqlx::query(
            "UPDATE protocols SET source_updated_at = $1 WHERE id = $2 \
             AND (source_updated_at IS NULL OR source_updated_at < $1)",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    /// What became of an event already taken in (`applied`, `stale`).
    pub async fn sync_event_outcome(
        &self,
        c: &mut sqlx::AnyConnection,
        event_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT outcome FROM protocol_sync_events WHERE event_id = $1")
            .bind(event_id.to_string())
            .fetch_optional(&mut *c)
            .await?;
        r.map(|r| get(&r, "outcome")).transpose()
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn record_sync_event(
        &self,
        c: &mut sqlx::AnyConnection,
        event_id: &str,
        number: &str,
        kind: &str,
        at_ms: i64,
        outcome: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO protocol_sync_events (event_id, number, kind, source_updated_at, \
             outcome, source, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(event_id.to_string())
        .bind(number.to_string())
        .bind(kind.to_string())
        .bind(at_ms)
        .bind(outcome.to_string())
        .bind(source.to_string())
        .bind(now_ms())
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok(())
    }

    /// Keeps (or refreshes, when the same event comes again) an event that
    /// could not be applied.
    pub async fn keep_pending(&self, p: &NewPending<'_>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM protocol_sync_pending WHERE event_id = $1")
            .bind(p.event_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO protocol_sync_pending (event_id, number, kind, source_updated_at, \
             missing, payload, source, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(p.event_id.to_string())
        .bind(p.number.to_string())
        .bind(p.kind.to_string())
        .bind(p.at_ms)
        .bind(p.missing.join("\n"))
        .bind(p.payload.to_string())
        .bind(p.source.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops the pending events of protocol `number` that a newer applied
    /// one has overtaken.
    pub async fn settle_pending(
        &self,
        c: &mut sqlx::AnyConnection,
        number: &str,
        up_to_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM protocol_sync_pending WHERE number = $1 AND source_updated_at <= $2",
        )
        .bind(number.to_string())
        .bind(up_to_ms)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    pub async fn pending_events(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Page<PendingEvent>, StoreError> {
        self.page_of(
            "protocol_sync_pending",
            "id, event_id, number, kind, source_updated_at, missing, payload, source, received_at",
            "id",
            &super::Filter::default(),
            limit,
            offset,
            |r| {
                let missing: String = get(r, "missing")?;
                let payload: String = get(r, "payload")?;
                Ok(PendingEvent {
                    id: get(r, "id")?,
                    event_id: get(r, "event_id")?,
                    kind: get(r, "kind")?,
                    number: get(r, "number")?,
                    updated_at: self.ts(get(r, "source_updated_at")?),
                    missing: missing.lines().map(str::to_string).collect(),
                    // Stored from a parsed event, so it parses; a row
                    // edited by hand shows as text rather than failing.
                    event: serde_json::from_str(&payload)
                        .unwrap_or(serde_json::Value::String(payload)),
                    source: get(r, "source")?,
                    received_at: self.ts(get(r, "received_at")?),
                })
            },
        )
        .await
    }
}
