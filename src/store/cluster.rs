//! What instances sharing the store tell each other besides bindings:
//! that they are alive, and which consultants they have in a call. One row
//! per instance, rewritten on each beat.

use super::{get, Store, StoreError};

impl Store {
    /// Records this instance alive at `now_ms` with `in_call` (consultant
    /// SIP usernames) in a call through it.
    pub async fn cluster_beat(&self, in_call: &[String], now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cluster_instances (name, in_call, heartbeat_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET in_call = excluded.in_call, \
             heartbeat_at = excluded.heartbeat_at",
        )
        .bind(self.instance().to_string())
        .bind(in_call.join("\n"))
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Consultants in a call through the other instances heard from since
    /// `alive_after_ms`, sorted, without repeats. An instance silent for
    /// longer is dead, and so are its calls.
    pub async fn cluster_in_call(&self, alive_after_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT in_call FROM cluster_instances WHERE name <> $1 AND heartbeat_at > $2",
        )
        .bind(self.instance().to_string())
        .bind(alive_after_ms)
        .fetch_all(self.pool())
        .await?;
        let mut users = Vec::new();
        for r in &rows {
            let list: String = get(r, "in_call")?;
            users.extend(list.lines().filter(|u| !u.is_empty()).map(str::to_string));
        }
        users.sort();
        users.dedup();
        Ok(users)
    }
}
