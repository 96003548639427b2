//! Registrar bindings on disk: the write-behind copy of the in-memory
//! location table, and what instances sharing the store read of each
//! other's. Plain rows; what a binding means is the SIP side's business.
//!
//! Every write stamps `changed_at`, so a reader asks only for what changed
//! since it last looked. A removal leaves the row behind as expired at the
//! moment of removal (a tombstone the other instances can see) until
//! [`Store::sweep_registrations`] deletes it.

use super::{get, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    pub aor: String,
    pub contact: String,
    pub q: i64,
    pub expires_at_ms: i64,
    pub registered_at_ms: i64,
    /// `ip:port` the REGISTER came from.
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    pub call_id: String,
    pub cseq: i64,
    pub user_agent: Option<String>,
}

/// How long a removed or expired binding's row is kept for the other
/// instances to notice, before it is deleted.
pub const TOMBSTONE_MS: i64 = 10 * 60 * 1000;

/// A row read back as changed: a binding, or (expired) its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedRegistration {
    pub row: RegistrationRow,
    /// When the change was written (milliseconds).
    pub changed_at_ms: i64,
}

const COLUMNS: &str =
    "aor, contact, q, expires_at, registered_at, source, transport, call_id, cseq, user_agent";

fn read_row(r: &sqlx::any::AnyRow) -> Result<RegistrationRow, StoreError> {
    Ok(RegistrationRow {
        aor: get(r, "aor")?,
        contact: get(r, "contact")?,
        q: get(r, "q")?,
        expires_at_ms: get(r, "expires_at")?,
        registered_at_ms: get(r, "registered_at")?,
        source: get(r, "source")?,
        transport: get(r, "transport")?,
        call_id: get(r, "call_id")?,
        cseq: get(r, "cseq")?,
        user_agent: get(r, "user_agent")?,
    })
}

impl Store {
    pub async fn upsert_registration(&self, r: &RegistrationRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registrations (aor, contact, q, expires_at, registered_at, source, \
             transport, call_id, cseq, user_agent, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (aor, contact) DO UPDATE SET q = excluded.q, \
             expires_at = excluded.expires_at, registered_at = excluded.registered_at, \
             source = excluded.source, transport = excluded.transport, \
             call_id = excluded.call_id, cseq = excluded.cseq, user_agent = excluded.user_agent, \
             changed_at = excluded.changed_at",
        )
        .bind(r.aor.clone())
        .bind(r.contact.clone())
        .bind(r.q)
        .bind(r.expires_at_ms)
        .bind(r.registered_at_ms)
        .bind(r.source.clone())
        .bind(r.transport.clone())
        .bind(r.call_id.clone())
        .bind(r.cseq)
        .bind(r.user_agent.clone())
        .bind(super::now_ms())
        .execute(self.pool())
        .await
        .map_err(StoreError::classify)?;
        Ok(())
    }

    /// Marks the binding removed: expired now, so nobody loads it, and
    /// changed now, so the other instances see it go.
    pub async fn delete_registration(&self, aor: &str, contact: &str) -> Result<(), StoreError> {
        let now = super::now_ms();
        sqlx::query(
            "UPDATE registrations SET expires_at = $1, changed_at = $2 \
             WHERE aor = $3 AND contact = $4 AND expires_at > $5",
        )
        .bind(now)
        .bind(now)
        .bind(aor.to_string())
        .bind(contact.to_string())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Unexpired rows; long-expired ones are swept on the way.
    pub async fn load_registrations(
        &self,
        now_ms: i64,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        self.sweep_registrations(now_ms).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM registrations WHERE expires_at > $1 ORDER BY aor, registered_at"
        );
        let rows = sqlx::query(&sql)
            .bind(now_ms)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(read_row).collect()
    }

    /// Rows written after `since_ms`, oldest change first: live bindings
    /// and, expired, the removals.
    pub async fn registrations_changed_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<ChangedRegistration>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, changed_at FROM registrations WHERE changed_at > $1 \
             ORDER BY changed_at"
        );
        let rows = sqlx::query(&sql)
            .bind(since_ms)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ChangedRegistration {
                    row: read_row(r)?,
                    changed_at_ms: get(r, "changed_at")?,
                })
            })
            .collect()
    }

    /// Deletes the rows of bindings gone for longer than [`TOMBSTONE_MS`].
    pub async fn sweep_registrations(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(now_ms.saturating_sub(TOMBSTONE_MS))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
