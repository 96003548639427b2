//! Console sign-in sessions: created at sign-in, looked up on every
//! console request, removed at sign-out or when they expire.
//!
//! A session id is 256 random bits, like an API token, and is stored the
//! same way: only its SHA-256 (`tokens::hash_token`), so a fast indexed
//! lookup finds it and a copy of the database signs nobody in. Each session
//! carries its own CSRF token, which every console form echoes.

use super::directory::role_from_row;
use super::tokens::hash_token;
use super::{get, get_bool, now_ms, Store, StoreError};
use crate::directory::Role;

/// A session just created: the only time its id exists in clear here.
#[derive(Clone)]
pub struct NewSession {
    /// Goes into the cookie, nowhere else (never logged).
    pub id: String,
    pub csrf: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// A live session and the person it signs in, as they are now (a role
/// changed since sign-in applies at once).
#[derive(Clone)]
pub struct SessionInfo {
    pub consultant_id: i64,
    pub sip_username: String,
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionInfo")
            .field("sip_username", &self.sip_username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn random_hex() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Constraint(format!("no randomness available: {e}")))?;
    Ok(hex::encode(bytes))
}

impl Store {
    /// Opens a session for `consultant_id` lasting `ttl_ms`, and sweeps
    /// expired ones (sign-ins are rare enough to pay for it).
    pub async fn create_session(
        &self,
        consultant_id: i64,
        ttl_ms: i64,
    ) -> Result<NewSession, StoreError> {
        let now = now_ms();
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        let s = NewSession {
            id: random_hex()?,
            csrf: random_hex()?,
            expires_at_ms: now + ttl_ms.max(1),
        };
        sqlx::query(
            "INSERT INTO console_sessions (id_sha256, consultant_id, csrf_token, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_token(&s.id))
        .bind(consultant_id)
        .bind(s.csrf.clone())
        .bind(now)
        .bind(s.expires_at_ms)
        .execute(self.pool())
        .await
        .map_err(StoreError::classify)?;
        Ok(s)
    }

    /// The live session whose id is `id`: `None` when unknown, expired, or
    /// its person was deactivated.
    pub async fn session(&self, id: &str) -> Result<Option<SessionInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT s.consultant_id, s.csrf_token, s.expires_at, c.sip_username, c.name, c.role, \
             c.active FROM console_sessions s JOIN consultants c ON c.id = s.consultant_id \
             WHERE s.id_sha256 = $1",
        )
        .bind(hash_token(id))
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let expires_at_ms: i64 = get(&r, "expires_at")?;
        if expires_at_ms <= now_ms() || !get_bool(&r, "active")? {
            return Ok(None);
        }
        Ok(Some(SessionInfo {
            consultant_id: get(&r, "consultant_id")?,
            sip_username: get(&r, "sip_username")?,
            name: get(&r, "name")?,
            role: role_from_row(&r)?,
            csrf: get(&r, "csrf_token")?,
            expires_at_ms,
        }))
    }

    /// Ends the session whose id is `id` (nothing happens if there is none).
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_sha256 = $1")
            .bind(hash_token(id))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
