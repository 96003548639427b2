//! Registrar bindings on disk: the write-behind copy of the in-memory
//! location table. Plain rows; what a binding means is the SIP side's
//! business.

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

impl Store {
    pub async fn upsert_registration(&self, r: &RegistrationRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registrations (aor, contact, q, expires_at, registered_at, source, \
             transport, call_id, cseq, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (aor, contact) DO UPDATE SET q = excluded.q, \
             expires_at = excluded.expires_at, registered_at = excluded.registered_at, \
             source = excluded.source, transport = excluded.transport, \
             call_id = excluded.call_id, cseq = excluded.cseq, user_agent = excluded.user_agent",
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
        .execute(self.pool())
        .await
        .map_err(StoreError::classify)?;
        Ok(())
    }

    pub async fn delete_registration(&self, aor: &str, contact: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM registrations WHERE aor = $1 AND contact = $2")
            .bind(aor.to_string())
            .bind(contact.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Unexpired rows; expired ones are deleted on the way.
    pub async fn load_registrations(
        &self,
        now_ms: i64,
    ) -> Result<Vec<RegistrationRow>, StoreError> {
        sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        let rows = sqlx::query(
            "SELECT aor, contact, q, expires_at, registered_at, source, transport, call_id, \
             cseq, user_agent FROM registrations ORDER BY aor, registered_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
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
            })
            .collect()
    }
}
