//! Multi-row upserts of the journal's call-log rows and call contacts: one
//! `INSERT … VALUES (…), (…) … ON CONFLICT` per table for a run of writes,
//! instead of one statement per write.
//!
//! Why the rows are merged first: a run often holds several writes of the
//! same call (the row at the answer, then at the end), and PostgreSQL
//! refuses an upsert that touches one row twice. Applying writes w1…wk of
//! one key in order leaves the columns the conflict clause does not update
//! as w1 (or the stored row) set them and the updated ones as wk set them,
//! so one merged row (w1's insert-only columns, wk's updated ones) leaves
//! exactly what k statements would.
//!
//! Why SQLite gets `?` placeholders: it resolves `$N` as a named
//! parameter, searching the names seen so far for each, so preparing a
//! statement of 20,000 `$N` costs seconds; `?` is numbered as it is read.
//!
//! Why chunks are powers of two: every distinct row count is a distinct
//! statement to prepare and cache; 1024, 512, …, 1 rows keep that to ten
//! shapes per table, and 1024 rows stay under SQLite's bound-parameter
//! limit (32,766) and PostgreSQL's (65,535) for the widest table (22
//! columns).

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::CallContact;
use crate::store::{Backend, CallRow, StoreError};

/// Most rows in one statement (a power of two; see the module doc).
const MAX_ROWS: usize = 1024;
// The widest table (calls, 22 columns) stays under SQLite's limit.
const _: () = assert!(MAX_ROWS * 22 <= 32_766);

/// Writes of one run, merged by dialog, in first-seen order.
#[derive(Default)]
pub(super) struct Rows {
    calls: Vec<CallRow>,
    call_keys: HashMap<(String, String), usize>,
    contacts: Vec<CallContact>,
    contact_keys: HashMap<(String, String), usize>,
}

impl Rows {
    pub(super) fn push_call(&mut self, c: &CallRow) {
        let key = (c.call_id.clone(), c.from_tag.clone());
        match self.call_keys.get(&key) {
            Some(&i) => {
                let Some(m) = self.calls.get_mut(i) else {
                    return;
                };
                // The columns `ON CONFLICT` updates: the latest wins.
                m.consultant_id = c.consultant_id;
                m.consultant.clone_from(&c.consultant);
                m.route.clone_from(&c.route);
                m.outcome.clone_from(&c.outcome);
                m.final_code = c.final_code;
                m.ringing_at_ms = c.ringing_at_ms;
                m.answered_at_ms = c.answered_at_ms;
                m.ended_at_ms = c.ended_at_ms;
                m.ended_by.clone_from(&c.ended_by);
                m.detail.clone_from(&c.detail);
            }
            None => {
                self.call_keys.insert(key, self.calls.len());
                self.calls.push(c.clone());
            }
        }
    }

    pub(super) fn push_contact(&mut self, c: &CallContact) {
        let key = (c.call_id.clone(), c.from_tag.clone());
        match self.contact_keys.get(&key) {
            Some(&i) => {
                let Some(m) = self.contacts.get_mut(i) else {
                    return;
                };
                m.status.clone_from(&c.status);
                m.reason.clone_from(&c.reason);
                m.consultant_id = c.consultant_id;
                m.started_at_ms = c.started_at_ms;
                m.ended_at_ms = c.ended_at_ms;
                m.wait_ms = c.wait_ms;
                m.flag.clone_from(&c.flag);
            }
            None => {
                self.contact_keys.insert(key, self.contacts.len());
                self.contacts.push(c.clone());
            }
        }
    }

    /// Writes everything held and empties it.
    pub(super) async fn flush(
        &mut self,
        conn: &mut AnyConnection,
        backend: Backend,
        instance: &str,
    ) -> Result<(), StoreError> {
        let numbered = backend == Backend::Postgres;
        for chunk in chunks(&self.calls) {
            upsert_calls(conn, chunk, instance, numbered).await?;
        }
        let now = crate::store::now_ms();
        for chunk in chunks(&self.contacts) {
            upsert_contacts(conn, chunk, now, instance, numbered).await?;
        }
        self.calls.clear();
        self.call_keys.clear();
        self.contacts.clear();
        self.contact_keys.clear();
        Ok(())
    }
}

/// `rows` cut into runs of 1024, then the binary digits of the rest.
fn chunks<T>(mut rows: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    while !rows.is_empty() {
        let n = if rows.len() >= MAX_ROWS {
            MAX_ROWS
        } else {
            // The highest power of two not above what is left.
            1 << (usize::BITS - 1 - rows.len().leading_zeros())
        };
        let (head, tail) = rows.split_at(n);
        out.push(head);
        rows = tail;
    }
    out
}

/// `(…), (…)`: `rows` tuples of `prefix` (constant columns, verbatim) and
/// `cols` placeholders, numbered on from `$1` or plain `?`.
fn values(rows: usize, cols: usize, prefix: &str, numbered: bool) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    let mut n = 1;
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        s.push_str(prefix);
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            if numbered {
                s.push('$');
                s.push_str(&n.to_string());
                n += 1;
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

async fn upsert_calls(
    conn: &mut AnyConnection,
    rows: &[CallRow],
    instance: &str,
    numbered: bool,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO calls (call_id, from_tag, direction, from_uri, to_uri, caller_number, \
         caller_class, provider_id, provider_user_id, protocol_id, consultant_id, consultant, \
         rule, route, outcome, final_code, started_at, ringing_at, answered_at, ended_at, \
         ended_by, detail, instance) VALUES {} \
         ON CONFLICT (call_id, from_tag) DO UPDATE SET consultant_id = excluded.consultant_id, \
         consultant = excluded.consultant, route = excluded.route, \
         outcome = excluded.outcome, final_code = excluded.final_code, \
         ringing_at = excluded.ringing_at, answered_at = excluded.answered_at, \
         ended_at = excluded.ended_at, ended_by = excluded.ended_by, detail = excluded.detail",
        values(rows.len(), 23, "", numbered)
    );
    let mut q = sqlx::query(&sql);
    for c in rows {
        q = q
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
            .bind(instance.to_string());
    }
    q.execute(&mut *conn).await.map_err(StoreError::classify)?;
    Ok(())
}

async fn upsert_contacts(
    conn: &mut AnyConnection,
    rows: &[CallContact],
    now: i64,
    instance: &str,
    numbered: bool,
) -> Result<(), StoreError> {
    // Constant columns are literals, not parameters: fewer to bind.
    let sql = format!(
        "INSERT INTO contacts (kind, channel, source, direction, status, reason, consultant_id, \
         provider_id, provider_user_id, protocol_id, call_id, call_from_tag, rang_at, \
         started_at, ended_at, wait_ms, flag, created_at, updated_at, instance) VALUES {} \
         ON CONFLICT (call_id, call_from_tag) DO UPDATE SET status = excluded.status, \
         reason = excluded.reason, consultant_id = excluded.consultant_id, \
         started_at = excluded.started_at, ended_at = excluded.ended_at, \
         wait_ms = excluded.wait_ms, flag = excluded.flag, updated_at = excluded.updated_at",
        values(rows.len(), 17, "'triggered', 'phone', 'call', ", numbered)
    );
    let mut q = sqlx::query(&sql);
    for c in rows {
        q = q
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
            .bind(instance.to_string());
    }
    q.execute(&mut *conn).await.map_err(StoreError::classify)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_and_cover_every_row() {
        let rows: Vec<u32> = (0..2_700).collect();
        let sizes: Vec<usize> = chunks(&rows).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![1024, 1024, 512, 128, 8, 4]);
        assert!(chunks::<u32>(&[]).is_empty());
    }

    #[test]
    fn placeholders_number_on_across_rows() {
        assert_eq!(values(2, 2, "'x', ", true), "('x', $1, $2), ('x', $3, $4)");
        assert_eq!(values(2, 1, "", false), "(?), (?)");
    }
}
