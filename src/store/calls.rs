//! The call log on disk (call-backs: `callbacks`). Rows only: what a route, an
//! outcome or a SIP target means is the call log's business
//! (`crate::calls`); here they are text columns and a JSON detail.
//!
//! A call is keyed by its dialog as the proxy reports it: the Call-ID and
//! the caller's From tag. Writing a call with a reused Call-ID but another
//! From tag adds a row; it never changes the first call's.

use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Filter, Store, StoreError};
use crate::directory::Page;

/// One call as stored. Timestamps are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CallRow {
    pub call_id: String,
    /// The caller's From tag (empty for rows logged before calls were
    /// keyed by dialog, and for callers that send none).
    #[serde(default)]
    pub from_tag: String,
    pub direction: String,
    pub from_uri: String,
    pub to_uri: String,
    pub caller_number: Option<String>,
    pub caller_class: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub consultant_id: Option<i64>,
    pub consultant: Option<String>,
    pub rule: String,
    pub route: String,
    pub outcome: Option<String>,
    pub final_code: Option<i64>,
    pub started_at_ms: i64,
    pub ringing_at_ms: Option<i64>,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub ended_by: Option<String>,
    /// JSON: the steps, skipped consultants and every branch tried.
    pub detail: String,
}

/// A stored call with its id, as the API shows it.
#[derive(Debug, Clone)]
pub struct StoredCall {
    pub id: i64,
    pub row: CallRow,
}

#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub call_id: Option<String>,
    pub direction: Option<String>,
    pub outcome: Option<String>,
    pub route: Option<String>,
    pub provider_id: Option<i64>,
    pub consultant_id: Option<i64>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

const CALL_COLS: &str =
    "id, call_id, from_tag, direction, from_uri, to_uri, caller_number, caller_class, \
    provider_id, provider_user_id, protocol_id, consultant_id, consultant, rule, route, outcome, \
    final_code, started_at, ringing_at, answered_at, ended_at, ended_by, detail";

fn call_from_row(r: &AnyRow) -> Result<StoredCall, StoreError> {
    Ok(StoredCall {
        id: get(r, "id")?,
        row: CallRow {
            call_id: get(r, "call_id")?,
            from_tag: get(r, "from_tag")?,
            direction: get(r, "direction")?,
            from_uri: get(r, "from_uri")?,
            to_uri: get(r, "to_uri")?,
            caller_number: get(r, "caller_number")?,
            caller_class: get(r, "caller_class")?,
            provider_id: get(r, "provider_id")?,
            provider_user_id: get(r, "provider_user_id")?,
            protocol_id: get(r, "protocol_id")?,
            consultant_id: get(r, "consultant_id")?,
            consultant: get(r, "consultant")?,
            rule: get(r, "rule")?,
            route: get(r, "route")?,
            outcome: get(r, "outcome")?,
            final_code: get(r, "final_code")?,
            started_at_ms: get(r, "started_at")?,
            ringing_at_ms: get(r, "ringing_at")?,
            answered_at_ms: get(r, "answered_at")?,
            ended_at_ms: get(r, "ended_at")?,
            ended_by: get(r, "ended_by")?,
            detail: get(r, "detail")?,
        },
    })
}

impl Store {
    /// Inserts or completes a call (idempotent by dialog: the row written
    /// at the answer is updated at the end).
    pub async fn save_call(&self, c: &CallRow) -> Result<(), StoreError> {
        let mut conn = self.pool().acquire().await?;
        save_call_on(&mut conn, c, &self.instance).await
    }

    /// A call by its numeric id or, failing that, its Call-ID: the first
    /// call logged under it, so a later dialog reusing the Call-ID cannot
    /// stand in for it.
    pub async fn get_call(&self, key: &str) -> Result<StoredCall, StoreError> {
        let row = match key.parse::<i64>() {
            Ok(id) => {
                sqlx::query(&format!("SELECT {CALL_COLS} FROM calls WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(self.pool())
                    .await?
            }
            Err(_) => None,
        };
        let row = match row {
            Some(r) => Some(r),
            None => {
                sqlx::query(&format!(
                    "SELECT {CALL_COLS} FROM calls WHERE call_id = $1 ORDER BY id LIMIT 1"
                ))
                .bind(key.to_string())
                .fetch_optional(self.pool())
                .await?
            }
        };
        row.as_ref()
            .map(call_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::not_found(format!("call {key}")))
    }

    pub async fn list_calls(&self, q: &CallQuery) -> Result<Page<StoredCall>, StoreError> {
        let mut f = Filter::default();
        f.push_text("call_id = $?", q.call_id.as_deref());
        f.push_text("direction = $?", q.direction.as_deref());
        f.push_text("outcome = $?", q.outcome.as_deref());
        f.push_text("route = $?", q.route.as_deref());
        f.push_int("provider_id = $?", q.provider_id);
        f.push_int("consultant_id = $?", q.consultant_id);
        f.push_int("started_at >= $?", q.from_ms);
        f.push_int("started_at < $?", q.to_ms);
        self.page_of(
            "calls",
            CALL_COLS,
            "started_at DESC, id DESC",
            &f,
            q.limit,
            q.offset,
            call_from_row,
        )
        .await
    }

    /// (closed within their deadline, closed) for protocols with a deadline
    /// closed since `since_ms`.
    pub async fn sla_since(&self, since_ms: i64) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN closed_at <= due_at THEN 1 ELSE 0 END), 0) \
             AS within FROM protocols WHERE status = 'closed' AND due_at IS NOT NULL \
             AND closed_at >= $1",
        )
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?;
        Ok((get(&r, "within")?, get(&r, "n")?))
    }
}

pub(crate) async fn save_call_on(
    conn: &mut sqlx::AnyConnection,
    c: &CallRow,
    instance: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO calls (call_id, from_tag, direction, from_uri, to_uri, caller_number, \
         caller_class, provider_id, provider_user_id, protocol_id, consultant_id, consultant, \
         rule, route, outcome, final_code, started_at, ringing_at, answered_at, ended_at, \
         ended_by, detail, instance) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23) \
         ON CONFLICT (call_id, from_tag) DO UPDATE SET consultant_id = excluded.consultant_id, \
         consultant = excluded.consultant, route = excluded.route, \
         outcome = excluded.outcome, final_code = excluded.final_code, \
         ringing_at = excluded.ringing_at, answered_at = excluded.answered_at, \
         ended_at = excluded.ended_at, ended_by = excluded.ended_by, detail = excluded.detail",
    )
    .bind(c.call_id.clone())
    .bind(c.from_tag.clone())
    .bind(c.direction.clone())
    .bind(c.from_uri.clone())
    .bind(c.to_uri.clone())
    .bind(c.caller_number.clone())
    .bind(c.caller_class.clone())
    .bind(c.provider_id)
    .bind(c.provider_user_id)
    .bind(c.protocol_id)
    .bind(c.consultant_id)
    .bind(c.consultant.clone())
    .bind(c.rule.clone())
    .bind(c.route.clone())
    .bind(c.outcome.clone())
    .bind(c.final_code)
    .bind(c.started_at_ms)
    .bind(c.ringing_at_ms)
    .bind(c.answered_at_ms)
    .bind(c.ended_at_ms)
    .bind(c.ended_by.clone())
    .bind(c.detail.clone())
    .bind(instance.to_string())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    Ok(())
}
