//! The writes that reach the store through the time-tracking journal:
//! call-log rows, call-backs and contacts made from calls (a call between
//! an owner and a client also closes the call-backs it honours; see
//! `callbacks::close_by_call`). Each is
//! idempotent (keyed by the call's dialog: Call-ID and From tag), so the
//! journal may replay them after a crash without doubling anything; a
//! batch is one transaction.
//!
//! A batch is written as multi-row upserts ([`rows`]): a drain that keeps
//! pace with the proxy cannot afford a statement per write. Order still
//! matters in two places, so those writes cut the batch into runs: a
//! call-back is created where it stands, and a contact whose owner may owe
//! call-backs (see `callbacks::close_by_call`, which reads the call-log row
//! and the contact written before it) sees everything before it stored.

mod rows;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::{get, CallRow, NewCallback, Store, StoreError};
use crate::tracking::states::{ContactChannel, ContactStatus};

/// A contact made from a call. Timestamps are UTC milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContact {
    pub call_id: String,
    /// The caller's From tag: with the Call-ID, the call's dialog.
    #[serde(default)]
    pub from_tag: String,
    pub direction: String,
    /// open (answered, not ended), done, missed or abandoned.
    pub status: String,
    pub reason: Option<String>,
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub rang_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub wait_ms: Option<i64>,
    /// expired: closed because no BYE came.
    pub flag: Option<String>,
}

/// One journaled write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Write {
    Call(CallRow),
    Callback(NewCallback),
    Contact(CallContact),
}

/// What a batch changed that someone counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub callbacks_created: u64,
    /// Call-backs an answered call between owner and client closed.
    pub callbacks_closed: u64,
    pub contacts_closed: Vec<ClosedContact>,
    /// Writes the database refused for their data, set aside.
    pub refused: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedContact {
    pub channel: String,
    /// done, missed or abandoned.
    pub status: String,
    /// Talk time of an attended contact.
    pub talk_ms: Option<i64>,
}

impl WriteSummary {
    pub fn merge(&mut self, other: WriteSummary) {
        self.callbacks_created += other.callbacks_created;
        self.callbacks_closed += other.callbacks_closed;
        self.contacts_closed.extend(other.contacts_closed);
        self.refused += other.refused;
    }
}

impl Store {
    /// Applies writes, in one transaction, as multi-row statements; the
    /// result is what applying them one by one in order would leave.
    pub async fn write_batch<'a>(
        &self,
        writes: impl IntoIterator<Item = &'a Write>,
    ) -> Result<WriteSummary, StoreError> {
        let writes: Vec<&Write> = writes.into_iter().collect();
        let mut tx = self.begin_write().await?;
        let mut summary = WriteSummary::default();
        let mut owed = owners_owed(&mut tx, &writes).await?;
        let mut run = rows::Rows::default();
        for w in writes {
            match w {
                Write::Call(c) => run.push_call(c),
                Write::Callback(cb) => {
                    run.flush(&mut tx, self.backend, &self.instance).await?;
                    apply(&mut tx, w, &self.instance, &mut summary).await?;
                    let first = owed.entry(cb.consultant_id).or_insert(cb.created_at_ms);
                    *first = (*first).min(cb.created_at_ms);
                }
                Write::Contact(c) => {
                    if may_close_callbacks(c, &owed) {
                        run.flush(&mut tx, self.backend, &self.instance).await?;
                        summary.callbacks_closed +=
                            super::callbacks::close_by_call(&mut tx, c).await?;
                    }
                    run.push_contact(c);
                    note_closed(c, &mut summary);
                }
            }
        }
        run.flush(&mut tx, self.backend, &self.instance).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Applies one write on its own, in its own transaction, with a
    /// statement of its own (used to isolate a write the database refuses,
    /// so it cannot block the ones after it, and leaves nothing
    /// half-written behind).
    pub async fn write_one(&self, w: &Write) -> Result<WriteSummary, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut summary = WriteSummary::default();
        apply(&mut tx, w, &self.instance, &mut summary).await?;
        tx.commit().await?;
        Ok(summary)
    }

    /// Closes contacts made from calls that were still open when the
    /// previous process stopped (calls that started before `started_ms`,
    /// this process's start): ended at `last_alive_ms`, never before they
    /// started, and flagged `interrupted`. Only this instance's: another
    /// instance sharing the store still carries its own calls. Returns how
    /// many.
    pub async fn close_interrupted_contacts(
        &self,
        last_alive_ms: i64,
        started_ms: i64,
    ) -> Result<u64, StoreError> {
        let now = super::now_ms();
        let done = sqlx::query(
            "UPDATE contacts SET status = 'done', flag = 'interrupted', \
             ended_at = CASE WHEN started_at > $1 THEN started_at ELSE $2 END, updated_at = $3 \
             WHERE source = 'call' AND status = 'open' AND ended_at IS NULL AND rang_at < $4 \
             AND instance = $5",
        )
        .bind(last_alive_ms)
        .bind(last_alive_ms)
        .bind(now)
        .bind(started_ms)
        .bind(self.instance.to_string())
        .execute(self.pool())
        .await?;
        // The call log's rows of those calls end there too.
        sqlx::query(
            "UPDATE calls SET ended_at = CASE WHEN answered_at > $1 THEN answered_at ELSE $2 END \
             WHERE answered_at IS NOT NULL AND ended_at IS NULL AND started_at < $3 \
             AND instance = $4",
        )
        .bind(last_alive_ms)
        .bind(last_alive_ms)
        .bind(started_ms)
        .bind(self.instance.to_string())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

/// Owners with pending call-backs among the batch's answered calls, with
/// the oldest one's creation: only their contacts can close one (a
/// superset is harmless, `close_by_call` decides).
async fn owners_owed(
    conn: &mut AnyConnection,
    writes: &[&Write],
) -> Result<HashMap<i64, i64>, StoreError> {
    let mut owners: Vec<i64> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Contact(c) if c.started_at_ms.is_some() => c.consultant_id,
            _ => None,
        })
        .collect();
    owners.sort_unstable();
    owners.dedup();
    let mut owed = HashMap::new();
    // Bounded lists: a batch may hold thousands of owners in theory.
    for chunk in owners.chunks(500) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT consultant_id, MIN(created_at) AS first FROM callbacks \
             WHERE status = 'pending' AND consultant_id IN ({list}) GROUP BY consultant_id"
        );
        let mut q = sqlx::query(&sql);
        for o in chunk {
            q = q.bind(*o);
        }
        for r in q.fetch_all(&mut *conn).await? {
            owed.insert(get::<i64>(&r, "consultant_id")?, get::<i64>(&r, "first")?);
        }
    }
    Ok(owed)
}

/// Whether `c` is an answered call whose owner had a call-back pending
/// before it was answered (the test `close_by_call` starts with).
fn may_close_callbacks(c: &CallContact, owed: &HashMap<i64, i64>) -> bool {
    match (c.consultant_id, c.started_at_ms) {
        (Some(owner), Some(answered)) => owed.get(&owner).is_some_and(|first| *first <= answered),
        _ => false,
    }
}

fn note_closed(c: &CallContact, summary: &mut WriteSummary) {
    // The journal's record keeps its words as text (old entries must load).
    if c.ended_at_ms.is_some() && c.status != ContactStatus::Open.as_str() {
        summary.contacts_closed.push(ClosedContact {
            channel: ContactChannel::Phone.as_str().into(),
            status: c.status.clone(),
            talk_ms: match (c.started_at_ms, c.ended_at_ms) {
                (Some(s), Some(e)) => Some(e - s),
                _ => None,
            },
        });
    }
}

async fn apply(
    conn: &mut AnyConnection,
    w: &Write,
    instance: &str,
    summary: &mut WriteSummary,
) -> Result<(), StoreError> {
    match w {
        Write::Call(c) => super::calls::save_call_on(conn, c, instance).await,
        Write::Callback(cb) => {
            if super::callbacks::create_callback_on(conn, cb).await? {
                summary.callbacks_created += 1;
            }
            Ok(())
        }
        Write::Contact(c) => {
            summary.callbacks_closed += super::callbacks::close_by_call(conn, c).await?;
            let now = super::now_ms();
            sqlx::query(
                "INSERT INTO contacts (kind, channel, direction, status, reason, consultant_id, \
                 provider_id, provider_user_id, protocol_id, call_id, call_from_tag, rang_at, \
                 started_at, ended_at, wait_ms, flag, source, created_at, updated_at, instance) \
                 VALUES ('triggered', 'phone', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14, 'call', $15, $16, $17) \
                 ON CONFLICT (call_id, call_from_tag) DO UPDATE SET status = excluded.status, \
                 reason = excluded.reason, consultant_id = excluded.consultant_id, \
                 started_at = excluded.started_at, ended_at = excluded.ended_at, \
                 wait_ms = excluded.wait_ms, flag = excluded.flag, updated_at = excluded.updated_at",
            )
            .bind(c.direction.clone())
            .bind(c.status.clone())
            .bind(c.reason.clone())
            .bind(c.consultant_id)
            .bind(c.provider_id)
            .bind(c.provider_user_id)
            .bind(c.protocol_id)
            .bind(c.call_id.clone())
            .bind(c.from_tag.clone())
            .bind(c.rang_at_ms)
            .bind(c.started_at_ms)
            .bind(c.ended_at_ms)
            .bind(c.wait_ms)
            .bind(c.flag.clone())
            .bind(now)
            .bind(now)
            .bind(instance.to_string())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::classify)?;
            note_closed(c, summary);
            Ok(())
        }
    }
}
