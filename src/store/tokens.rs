//! API and feed tokens: only their SHA-256 is stored.
//!
//! Tokens are 256 random bits, so a fast hash is enough (there is nothing to
//! brute-force) and lets each request find its token by an indexed lookup;
//! argon2 is for passwords people choose, which these are not.
//!
//! A token has a kind (`api`: sent in the Authorization header, with a
//! role; `feed`: one consultant's calendar feed and nothing else, carried
//! in a URL), an optional owner (the consultant whose rights it carries),
//! an optional expiry and, once revoked, a revocation time. Revoked tokens
//! stay listed; a name is unique among live tokens only.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::directory::role_from_row;
use super::{get, get_bool, now_ms, Store, StoreError};
use crate::directory::Role;

/// Prefix that makes a leaked token easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "pc_";

/// Names of feed tokens (`feed:<sip username>`); API tokens may not use it,
/// so a listing tells the two apart at a glance.
pub const FEED_NAME_PREFIX: &str = "feed:";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Constraint(format!("no randomness available: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Sent as `Authorization: Bearer`; carries its role.
    Api,
    /// Opens one consultant's `calendar.ics`, read-only, and nothing else.
    Feed,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Feed => "feed",
        }
    }
}

/// Whether a token still opens anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

/// An API token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Required for consultant and manager tokens.
    pub consultant_id: Option<i64>,
    pub expires_at_ms: Option<i64>,
}

/// A token as listed: never its secret nor its hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub kind: TokenKind,
    /// For feed tokens, always `consultant` (they read one calendar).
    pub role: Role,
    /// The consultant whose rights it carries (absent: an admin token for
    /// automation).
    pub consultant_id: Option<i64>,
    /// That consultant's SIP username.
    pub owner: Option<String>,
    pub status: TokenStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Tz>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<DateTime<Tz>>,
}

/// A live token, resolved for a request.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub id: i64,
    pub name: String,
    pub kind: TokenKind,
    /// The token's role, never above its owner's current role: demoting a
    /// person demotes their tokens.
    pub role: Role,
    pub consultant_id: Option<i64>,
    pub owner: Option<String>,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone)]
pub enum TokenCheck {
    Valid(VerifiedToken),
    Unknown,
    Expired,
    Revoked,
    /// Its owner is deactivated: their tokens open nothing until they are
    /// active again.
    OwnerInactive,
}

const INFO_SQL: &str = "SELECT t.id, t.name, t.kind, t.role, t.consultant_id, t.created_at, \
     t.expires_at, t.revoked_at, c.sip_username AS owner \
     FROM api_tokens t LEFT JOIN consultants c ON c.id = t.consultant_id";

fn kind_from_row(r: &AnyRow) -> Result<TokenKind, StoreError> {
    match get::<String>(r, "kind")?.as_str() {
        "api" => Ok(TokenKind::Api),
        "feed" => Ok(TokenKind::Feed),
        other => Err(StoreError::Constraint(format!(
            "kind holds `{other}`, not a token kind"
        ))),
    }
}

/// An instant for the audit trail (RFC 3339, UTC).
pub(crate) fn show_ms(ms: Option<i64>) -> Option<String> {
    ms.and_then(DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn valid_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::Constraint(
            "token name must be 1 to 100 printable characters".into(),
        ));
    }
    Ok(name.to_string())
}

fn name_taken(name: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| match StoreError::classify(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("a live token named `{name}` already exists"))
        }
        other => other,
    }
}

impl Store {
    fn token_from_row(&self, r: &AnyRow, now: i64) -> Result<TokenInfo, StoreError> {
        let expires: Option<i64> = get(r, "expires_at")?;
        let revoked: Option<i64> = get(r, "revoked_at")?;
        let status = if revoked.is_some() {
            TokenStatus::Revoked
        } else if expires.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        };
        Ok(TokenInfo {
            id: get(r, "id")?,
            name: get(r, "name")?,
            kind: kind_from_row(r)?,
            role: role_from_row(r)?,
            consultant_id: get(r, "consultant_id")?,
            owner: get(r, "owner")?,
            status,
            created_at: self.ts(get(r, "created_at")?),
            expires_at: self.opt_ts(expires),
            revoked_at: self.opt_ts(revoked),
        })
    }

    /// Creates an ownerless admin token named `name` and returns it in
    /// clear: what `token create --name` always made, kept for scripts and
    /// test set-ups. The audit trail names `system` as its maker.
    pub async fn create_token(&self, name: &str) -> Result<String, StoreError> {
        let (_, token) = self
            .create_api_token(
                &NewToken {
                    name: name.to_string(),
                    role: Role::Admin,
                    consultant_id: None,
                    expires_at_ms: None,
                },
                "system",
            )
            .await?;
        Ok(token)
    }

    /// Creates an API token and returns it with the clear token: the only
    /// time the token exists outside the caller's hands.
    ///
    /// A consultant or manager token needs an owner, and no token gives
    /// more than its owner's role. The audit trail records who (`actor`)
    /// made it, in the same transaction.
    pub async fn create_api_token(
        &self,
        t: &NewToken,
        actor: &str,
    ) -> Result<(TokenInfo, String), StoreError> {
        let name = valid_name(&t.name)?;
        if name.starts_with(FEED_NAME_PREFIX) {
            return Err(StoreError::Constraint(format!(
                "names starting with `{FEED_NAME_PREFIX}` are for feed tokens"
            )));
        }
        let now = now_ms();
        if t.expires_at_ms.is_some_and(|e| e <= now) {
            return Err(StoreError::Constraint(
                "the expiry must be in the future".into(),
            ));
        }
        match t.consultant_id {
            None if t.role != Role::Admin => {
                return Err(StoreError::Constraint(format!(
                    "a {} token needs an owner (the consultant whose rights it carries); \
                     only admin tokens may be ownerless",
                    t.role
                )))
            }
            None => {}
            Some(owner) => {
                let c = self.get_consultant(owner).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => {
                        StoreError::Reference(format!("consultant {owner} does not exist"))
                    }
                    other => other,
                })?;
                if c.role < t.role {
                    return Err(StoreError::Constraint(format!(
                        "{} is a {}: a token cannot carry more rights ({}) than its owner has",
                        c.sip_username, c.role, t.role
                    )));
                }
            }
        }
        let token = random_token()?;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (name, token_sha256, kind, role, consultant_id, created_at, \
             expires_at) VALUES ($1, $2, 'api', $3, $4, $5, $6) RETURNING id",
        )
        .bind(name.clone())
        .bind(hash_token(&token))
        .bind(t.role.as_str())
        .bind(t.consultant_id)
        .bind(now)
        .bind(t.expires_at_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(name_taken(&name))?;
        let id: i64 = get(&row, "id")?;
        let what = format!(
            "name={name} role={} owner={} expires={}",
            t.role,
            t.consultant_id
                .map(|c| format!("consultant {c}"))
                .unwrap_or_else(|| "none".into()),
            show_ms(t.expires_at_ms).unwrap_or_else(|| "never".into())
        );
        self.audit(&mut tx, "token", id, "created", None, Some(what), actor)
            .await?;
        tx.commit().await?;
        let info = self.get_token(id).await?;
        Ok((info, token))
    }

    /// Issues a consultant's calendar-feed token, revoking the feed token
    /// they had: one live feed link per person, so re-issuing is how a
    /// leaked link is shut.
    pub async fn create_feed_token(
        &self,
        consultant_id: i64,
    ) -> Result<(TokenInfo, String), StoreError> {
        let c = self.get_consultant(consultant_id).await?;
        let name = format!("{FEED_NAME_PREFIX}{}", c.sip_username);
        let token = random_token()?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE consultant_id = $2 AND kind = 'feed' AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(consultant_id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "INSERT INTO api_tokens (name, token_sha256, kind, role, consultant_id, created_at) \
             VALUES ($1, $2, 'feed', 'consultant', $3, $4) RETURNING id",
        )
        .bind(name.clone())
        .bind(hash_token(&token))
        .bind(consultant_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(name_taken(&name))?;
        let id: i64 = get(&row, "id")?;
        tx.commit().await?;
        Ok((self.get_token(id).await?, token))
    }

    pub async fn get_token(&self, id: i64) -> Result<TokenInfo, StoreError> {
        let row = sqlx::query(&format!("{INFO_SQL} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("token {id}")))?;
        self.token_from_row(&row, now_ms())
    }

    /// Every token, revoked and expired ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(&format!("{INFO_SQL} ORDER BY t.id"))
            .fetch_all(self.pool())
            .await?;
        let now = now_ms();
        rows.iter().map(|r| self.token_from_row(r, now)).collect()
    }

    /// Revokes token `id`; revoking a revoked token keeps its first
    /// revocation time (and audits nothing: nothing changed).
    pub async fn revoke_token(&self, id: i64, actor: &str) -> Result<TokenInfo, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            self.audit(
                &mut tx,
                "token",
                id,
                "revoked_at",
                None,
                show_ms(Some(now)),
                actor,
            )
            .await?;
        }
        tx.commit().await?;
        self.get_token(id).await
    }

    /// Revokes the live token named `name`.
    pub async fn revoke_token_named(
        &self,
        name: &str,
        actor: &str,
    ) -> Result<TokenInfo, StoreError> {
        let row = sqlx::query("SELECT id FROM api_tokens WHERE name = $1 AND revoked_at IS NULL")
            .bind(name.trim().to_string())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("live token named `{name}`")))?;
        self.revoke_token(get(&row, "id")?, actor).await
    }

    /// What the token whose clear text is `token` may open now.
    pub async fn verify_token(&self, token: &str) -> Result<TokenCheck, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.kind, t.role, t.consultant_id, t.expires_at, t.revoked_at, \
             c.sip_username AS owner, c.role AS owner_role, c.active AS owner_active \
             FROM api_tokens t LEFT JOIN consultants c ON c.id = t.consultant_id \
             WHERE t.token_sha256 = $1",
        )
        .bind(hash_token(token))
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(TokenCheck::Unknown);
        };
        if get::<Option<i64>>(&r, "revoked_at")?.is_some() {
            return Ok(TokenCheck::Revoked);
        }
        if get::<Option<i64>>(&r, "expires_at")?.is_some_and(|e| e <= now_ms()) {
            return Ok(TokenCheck::Expired);
        }
        let consultant_id: Option<i64> = get(&r, "consultant_id")?;
        let mut role = role_from_row(&r)?;
        if consultant_id.is_some() {
            if !get_bool(&r, "owner_active")? {
                return Ok(TokenCheck::OwnerInactive);
            }
            let owner_role: String = get(&r, "owner_role")?;
            if let Some(o) = Role::parse(&owner_role) {
                role = role.min(o);
            } else {
                return Err(StoreError::Constraint(format!(
                    "role holds `{owner_role}`, not a role"
                )));
            }
        }
        Ok(TokenCheck::Valid(VerifiedToken {
            id: get(&r, "id")?,
            name: get(&r, "name")?,
            kind: kind_from_row(&r)?,
            role,
            consultant_id,
            owner: get(&r, "owner")?,
        }))
    }
}
