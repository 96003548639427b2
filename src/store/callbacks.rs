//! Call-backs on disk, each with its scheduled contact: the slot in the
//! owner's plan to call the client back (`contacts.source = 'callback'`,
//! linked by `callbacks.contact_id`). Rows and the queries the rules need;
//! which status change is allowed is `tracking::service::callbacks`'s.
//!
//! One rule lives here because it runs inside the journal's transaction
//! with the call's contact ([`close_by_call`]): an answered call between
//! the owner and the client closes the owner's pending call-backs to that
//! client, and the conversation is written into the call-back's scheduled
//! contact instead of a second row, so it is counted once.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::{get, get_word, get_word_opt, now_ms, CallContact, Filter, Store, StoreError};
use crate::directory::Page;
use crate::tracking::states::{CallbackStatus, ContactSource, ContactStatus};

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NewCallback {
    pub call_id: String,
    /// With the Call-ID, the call that owes this call-back.
    #[serde(default)]
    pub from_tag: String,
    pub consultant_id: i64,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub caller_number: Option<String>,
    pub reason: String,
    pub created_at_ms: i64,
    pub due_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Callback {
    pub id: i64,
    pub call_id: String,
    pub consultant_id: i64,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub caller_number: Option<String>,
    /// Why the owner did not take the call: busy, no_answer, dnd, away,
    /// not_registered, in_call, declined.
    pub reason: String,
    /// pending, done or cancelled.
    #[schema(value_type = String)]
    pub status: CallbackStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono_tz::Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: chrono::DateTime<chrono_tz::Tz>,
    /// When the conversation began (done) or when it was cancelled.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<chrono::DateTime<chrono_tz::Tz>>,
    /// The owner's scheduled contact for it; once a call closed it, the
    /// contact that call made (it carries the conversation's times).
    pub contact_id: Option<i64>,
    /// The Call-ID of the answered call that closed it, if a call did.
    pub closed_by_call: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CallbackQuery {
    pub consultant_id: Option<i64>,
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A call-back as the rules read and write it; times in UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRecord {
    pub id: i64,
    pub consultant_id: i64,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub caller_number: Option<String>,
    pub reason: String,
    pub status: CallbackStatus,
    pub due_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub contact_id: Option<i64>,
    pub closed_by_call: Option<String>,
}

/// A call-back's scheduled contact lasts this long in the owner's plan.
const CALLBACK_SLOT_MS: i64 = 15 * 60 * 1000;

const CALLBACK_COLS: &str = "id, call_id, consultant_id, provider_id, protocol_id, caller_number, \
    reason, status, created_at, due_at, closed_at, contact_id, closed_by_call";

fn record_from_row(r: &AnyRow) -> Result<CallbackRecord, StoreError> {
    Ok(CallbackRecord {
        id: get(r, "id")?,
        consultant_id: get(r, "consultant_id")?,
        provider_id: get(r, "provider_id")?,
        protocol_id: get(r, "protocol_id")?,
        caller_number: get(r, "caller_number")?,
        reason: get(r, "reason")?,
        status: get_word(r, "status")?,
        due_at_ms: get(r, "due_at")?,
        closed_at_ms: get(r, "closed_at")?,
        contact_id: get(r, "contact_id")?,
        closed_by_call: get(r, "closed_by_call")?,
    })
}

impl Store {
    /// Records a call-back with its scheduled contact; a second one for
    /// the same call (dialog) is ignored (returns false), so replays never
    /// double it.
    pub async fn create_callback(&self, c: &NewCallback) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let made = create_callback_on(&mut tx, c).await?;
        tx.commit().await?;
        Ok(made)
    }

    fn callback_from_row(&self, r: &AnyRow) -> Result<Callback, StoreError> {
        Ok(Callback {
            id: get(r, "id")?,
            call_id: get(r, "call_id")?,
            consultant_id: get(r, "consultant_id")?,
            provider_id: get(r, "provider_id")?,
            protocol_id: get(r, "protocol_id")?,
            caller_number: get(r, "caller_number")?,
            reason: get(r, "reason")?,
            status: get_word(r, "status")?,
            created_at: self.ts(get(r, "created_at")?),
            due_at: self.ts(get(r, "due_at")?),
            closed_at: self.opt_ts(get(r, "closed_at")?),
            contact_id: get(r, "contact_id")?,
            closed_by_call: get(r, "closed_by_call")?,
        })
    }

    pub async fn list_callbacks(&self, q: &CallbackQuery) -> Result<Page<Callback>, StoreError> {
        let mut f = Filter::default();
        f.push_int("consultant_id = $?", q.consultant_id);
        f.push_text("status = $?", q.status.as_deref());
        self.page_of(
            "callbacks",
            CALLBACK_COLS,
            "due_at, id",
            &f,
            q.limit,
            q.offset,
            |r| self.callback_from_row(r),
        )
        .await
    }

    pub async fn callbacks_pending(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM callbacks WHERE status = 'pending'")
            .fetch_one(self.pool())
            .await?;
        get(&r, "n")
    }

    /// Call-backs still pending whose deadline has passed at `now_ms`.
    pub async fn callbacks_overdue(&self, now_ms: i64) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM callbacks WHERE status = 'pending' AND due_at < $1",
        )
        .bind(now_ms)
        .fetch_one(self.pool())
        .await?;
        get(&r, "n")
    }

    /// (pending, overdue at `now_ms`, the soonest due) of one owner, for
    /// the desk's live panel.
    pub async fn callbacks_owed_by(
        &self,
        consultant: i64,
        now_ms: i64,
    ) -> Result<(i64, i64, Option<i64>), StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN due_at < $1 THEN 1 ELSE 0 END), 0) \
             AS late, MIN(due_at) AS next FROM callbacks \
             WHERE consultant_id = $2 AND status = 'pending'",
        )
        .bind(now_ms)
        .bind(consultant)
        .fetch_one(self.pool())
        .await?;
        Ok((get(&r, "n")?, get(&r, "late")?, get(&r, "next")?))
    }

    pub async fn get_callback(&self, id: i64) -> Result<Callback, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CALLBACK_COLS} FROM callbacks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("call-back {id}")))?;
        self.callback_from_row(&row)
    }

    pub async fn callback_record(
        &self,
        c: &mut AnyConnection,
        id: i64,
    ) -> Result<CallbackRecord, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CALLBACK_COLS} FROM callbacks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("call-back {id}")))?;
        record_from_row(&row)
    }

    /// The call-back whose contact this is, if any.
    pub async fn callback_of_contact(
        &self,
        c: &mut AnyConnection,
        contact: i64,
    ) -> Result<Option<CallbackRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CALLBACK_COLS} FROM callbacks WHERE contact_id = $1 ORDER BY id LIMIT 1"
        ))
        .bind(contact)
        .fetch_optional(&mut *c)
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Writes a call-back's status, close, contact and closing call.
    pub async fn update_callback(
        &self,
        c: &mut AnyConnection,
        cb: &CallbackRecord,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE callbacks SET status = $1, closed_at = $2, contact_id = $3, \
             closed_by_call = $4 WHERE id = $5",
        )
        .bind(cb.status.as_str())
        .bind(cb.closed_at_ms)
        .bind(cb.contact_id)
        .bind(cb.closed_by_call.clone())
        .bind(cb.id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("call-back {}", cb.id)));
        }
        Ok(())
    }

    /// A new scheduled contact for a call-back (in `status`: scheduled,
    /// or cancelled for one cancelled after a call closed it); returns its
    /// id. The caller links it.
    pub async fn insert_callback_contact(
        &self,
        c: &mut AnyConnection,
        cb: &CallbackRecord,
        status: ContactStatus,
    ) -> Result<i64, StoreError> {
        insert_contact_on(
            c,
            &Slot {
                status,
                reason: &cb.reason,
                consultant_id: cb.consultant_id,
                provider_id: cb.provider_id,
                protocol_id: cb.protocol_id,
                caller_number: cb.caller_number.as_deref(),
                due_at_ms: cb.due_at_ms,
            },
        )
        .await
    }
}

/// What a call-back's scheduled contact is made of.
struct Slot<'a> {
    status: ContactStatus,
    reason: &'a str,
    consultant_id: i64,
    provider_id: Option<i64>,
    protocol_id: Option<i64>,
    caller_number: Option<&'a str>,
    due_at_ms: i64,
}

async fn insert_contact_on(conn: &mut AnyConnection, s: &Slot<'_>) -> Result<i64, StoreError> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO contacts (kind, channel, direction, status, reason, consultant_id, \
         provider_id, protocol_id, planned_start, planned_end, notes, source, \
         created_at, updated_at) VALUES ('scheduled', 'phone', 'outbound', $1, \
         $2, $3, $4, $5, $6, $7, $8, 'callback', $9, $10) RETURNING id",
    )
    .bind(s.status.as_str())
    .bind(s.reason.to_string())
    .bind(s.consultant_id)
    .bind(s.provider_id)
    .bind(s.protocol_id)
    .bind(s.due_at_ms)
    .bind(s.due_at_ms + CALLBACK_SLOT_MS)
    .bind(format!(
        "Call back {}",
        s.caller_number.unwrap_or("the client")
    ))
    .bind(now)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    get(&row, "id")
}

/// Records a call-back and, when it is new, its scheduled contact.
pub(crate) async fn create_callback_on(
    conn: &mut AnyConnection,
    c: &NewCallback,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO callbacks (call_id, from_tag, consultant_id, provider_id, protocol_id, \
         caller_number, reason, status, created_at, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) \
         ON CONFLICT (call_id, from_tag) DO NOTHING",
    )
    .bind(c.call_id.clone())
    .bind(c.from_tag.clone())
    .bind(c.consultant_id)
    .bind(c.provider_id)
    .bind(c.protocol_id)
    .bind(c.caller_number.clone())
    .bind(c.reason.clone())
    .bind(c.created_at_ms)
    .bind(c.due_at_ms)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::classify)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let contact = insert_contact_on(
        conn,
        &Slot {
            status: ContactStatus::Scheduled,
            reason: &c.reason,
            consultant_id: c.consultant_id,
            provider_id: c.provider_id,
            protocol_id: c.protocol_id,
            caller_number: c.caller_number.as_deref(),
            due_at_ms: c.due_at_ms,
        },
    )
    .await?;
    sqlx::query("UPDATE callbacks SET contact_id = $1 WHERE call_id = $2 AND from_tag = $3")
        .bind(contact)
        .bind(c.call_id.clone())
        .bind(c.from_tag.clone())
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// A pending call-back an answered call may close, with its contact.
struct Owed {
    id: i64,
    contact_id: Option<i64>,
    /// The contact is still the untouched slot in the plan (scheduled,
    /// made for the call-back), not a timer someone started.
    untouched: bool,
}

/// Closes the owner's pending call-backs that an answered call honours,
/// before the call's contact is written (same transaction): the call was
/// answered by (inbound) or placed by (outbound) the call-back's owner,
/// with the call-back's client (the same provider; the same number when
/// the call-back's provider is unknown), at or after the call-back was
/// made, overdue or not. Each becomes `done`, closed at the answer.
///
/// The conversation is counted once: the call's contact is the oldest
/// call-back's untouched scheduled contact, taken over by the call (it
/// gets the call's dialog, so the call's contact write completes that row
/// with the real times instead of inserting another), and the other
/// call-backs it closes point at it, their slots removed. Idempotent: a
/// replay finds no pending call-back, and the contact by its dialog.
/// Returns how many it closed.
pub(crate) async fn close_by_call(
    conn: &mut AnyConnection,
    c: &CallContact,
) -> Result<u64, StoreError> {
    let (Some(owner), Some(answered)) = (c.consultant_id, c.started_at_ms) else {
        return Ok(0);
    };
    // The journal's record keeps its words as text (old entries must
    // load); a word this build does not know closes nothing.
    if !matches!(
        c.status.parse::<ContactStatus>(),
        Ok(ContactStatus::Open | ContactStatus::Done)
    ) {
        return Ok(0);
    }
    // Most answered calls owe nothing: one indexed look at the owner's
    // pending call-backs decides, and the other party's number is read
    // only when a call-back has no provider to match on.
    let rows = sqlx::query(
        "SELECT cb.id, cb.contact_id, cb.provider_id, cb.caller_number, \
         ct.status AS contact_status, ct.source AS contact_source \
         FROM callbacks cb LEFT JOIN contacts ct ON ct.id = cb.contact_id \
         WHERE cb.consultant_id = $1 AND cb.status = 'pending' AND cb.created_at <= $2 \
         ORDER BY cb.created_at, cb.id",
    )
    .bind(owner)
    .bind(answered)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut number: Option<Option<String>> = None;
    let mut matching = Vec::with_capacity(rows.len());
    for r in rows {
        let provider: Option<i64> = get(&r, "provider_id")?;
        let same = match provider {
            Some(p) => c.provider_id == Some(p),
            None => {
                if number.is_none() {
                    // The call log's row is journaled before the call's
                    // contact.
                    number = Some(
                        sqlx::query(
                            "SELECT caller_number FROM calls WHERE call_id = $1 AND from_tag = $2",
                        )
                        .bind(c.call_id.clone())
                        .bind(c.from_tag.clone())
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|r| get::<Option<String>>(&r, "caller_number"))
                        .transpose()?
                        .flatten(),
                    );
                }
                let theirs: Option<String> = get(&r, "caller_number")?;
                theirs.is_some() && number.as_ref().is_some_and(|n| *n == theirs)
            }
        };
        if same {
            matching.push(r);
        }
    }
    let rows = matching;
    if rows.is_empty() {
        return Ok(0);
    }
    let owed = rows
        .iter()
        .map(|r| {
            let status: Option<ContactStatus> = get_word_opt(r, "contact_status")?;
            let source: Option<ContactSource> = get_word_opt(r, "contact_source")?;
            Ok(Owed {
                id: get(r, "id")?,
                contact_id: get(r, "contact_id")?,
                untouched: status == Some(ContactStatus::Scheduled)
                    && source == Some(ContactSource::Callback),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let own: Option<i64> =
        sqlx::query("SELECT id FROM contacts WHERE call_id = $1 AND call_from_tag = $2")
            .bind(c.call_id.clone())
            .bind(c.from_tag.clone())
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| get(&r, "id"))
            .transpose()?;
    let target = match own {
        Some(id) => Some(id),
        None => {
            let slot = owed.iter().find(|o| o.untouched).and_then(|o| o.contact_id);
            if let Some(slot) = slot {
                sqlx::query(
                    "UPDATE contacts SET call_id = $1, call_from_tag = $2, source = 'call', \
                     direction = $3, rang_at = $4, provider_id = COALESCE($5, provider_id), \
                     provider_user_id = $6, protocol_id = COALESCE($7, protocol_id), \
                     updated_at = $8 WHERE id = $9",
                )
                .bind(c.call_id.clone())
                .bind(c.from_tag.clone())
                .bind(c.direction.clone())
                .bind(c.rang_at_ms)
                .bind(c.provider_id)
                .bind(c.provider_user_id)
                .bind(c.protocol_id)
                .bind(now_ms())
                .bind(slot)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::classify)?;
            }
            slot
        }
    };
    let actor = format!("call {}", c.call_id);
    let mut closed = 0;
    for o in &owed {
        let contact = match target {
            Some(t) if o.untouched || o.contact_id.is_none() => Some(t),
            _ => o.contact_id,
        };
        let done = sqlx::query(
            "UPDATE callbacks SET status = 'done', closed_at = $1, closed_by_call = $2, \
             contact_id = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(answered)
        .bind(c.call_id.clone())
        .bind(contact)
        .bind(o.id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            continue;
        }
        closed += 1;
        audit_on(
            conn,
            o.id,
            "status",
            CallbackStatus::Pending.as_str(),
            CallbackStatus::Done.as_str(),
            &actor,
        )
        .await?;
        if let (Some(slot), true) = (o.contact_id, contact != o.contact_id) {
            // A second slot for the same conversation would plan it twice.
            sqlx::query("DELETE FROM contacts WHERE id = $1 AND status = 'scheduled'")
                .bind(slot)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(closed)
}

async fn audit_on(
    conn: &mut AnyConnection,
    id: i64,
    field: &str,
    old: &str,
    new: &str,
    actor: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (entity, entity_id, field, old_value, new_value, actor, at) \
         VALUES ('callback', $1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(field.to_string())
    .bind(old.to_string())
    .bind(new.to_string())
    .bind(actor.to_string())
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
