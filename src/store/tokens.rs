//! Admin API tokens: only their SHA-256 is stored.
//!
//! Tokens are 256 random bits, so a fast hash is enough (there is nothing to
//! brute-force) and lets each request find its token by an indexed lookup;
//! argon2 is for passwords people choose, which these are not.

use sha2::{Digest, Sha256};

use super::{get, now_ms, Store, StoreError};

/// Prefix that makes a leaked token easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "pc_";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Constraint(format!("no randomness available: {e}")))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

impl Store {
    /// Creates a token named `name` and returns it in clear: the only time
    /// it exists outside the caller's hands.
    pub async fn create_token(&self, name: &str) -> Result<String, StoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Constraint(
                "token name must not be empty".into(),
            ));
        }
        let token = random_token()?;
        sqlx::query("INSERT INTO api_tokens (name, token_sha256, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(hash_token(&token))
            .bind(now_ms())
            .execute(self.pool())
            .await
            .map_err(|e| match StoreError::classify(e) {
                StoreError::Conflict(_) => {
                    StoreError::Conflict(format!("a token named `{name}` already exists"))
                }
                other => other,
            })?;
        Ok(token)
    }

    /// The name of the token whose clear text is `token`, if any.
    pub async fn verify_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM api_tokens WHERE token_sha256 = $1")
            .bind(hash_token(token))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| get::<String>(&r, "name")).transpose()
    }
}
