//! What instances sharing the store tell each other besides bindings:
//! that they are alive, which consultants they have in a call, and how
//! far their directory changes have gone. One row per instance, rewritten
//! on each beat.

use super::{get, Store, StoreError};

/// One beat: what this instance says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beat {
    /// Consultants (SIP usernames) in a call through this instance.
    pub in_call: Vec<String>,
    /// Directory changes made through this instance since it started; the
    /// others reload their directory when it moves.
    pub directory_generation: i64,
}

/// What the other live instances said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peers {
    /// Consultants in a call through them, sorted, without repeats.
    pub in_call: Vec<String>,
    /// Each one's name and directory generation, by name.
    pub generations: Vec<(String, i64)>,
}

impl Store {
    /// Records this instance alive at `now_ms`.
    pub async fn cluster_beat(&self, beat: &Beat, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cluster_instances (name, in_call, heartbeat_at, directory_generation) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET in_call = excluded.in_call, \
             heartbeat_at = excluded.heartbeat_at, \
             directory_generation = excluded.directory_generation",
        )
        .bind(self.instance().to_string())
        .bind(beat.in_call.join("\n"))
        .bind(now_ms)
        .bind(beat.directory_generation)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The other instances heard from since `alive_after_ms`. One silent
    /// for longer is dead, and so are its calls.
    pub async fn cluster_peers(&self, alive_after_ms: i64) -> Result<Peers, StoreError> {
        let rows = sqlx::query(
            "SELECT name, in_call, directory_generation FROM cluster_instances \
             WHERE name <> $1 AND heartbeat_at > $2 ORDER BY name",
        )
        .bind(self.instance().to_string())
        .bind(alive_after_ms)
        .fetch_all(self.pool())
        .await?;
        let mut peers = Peers::default();
        for r in &rows {
            let list: String = get(r, "in_call")?;
            peers
                .in_call
                .extend(list.lines().filter(|u| !u.is_empty()).map(str::to_string));
            peers
                .generations
                .push((get(r, "name")?, get(r, "directory_generation")?));
        }
        peers.in_call.sort();
        peers.in_call.dedup();
        Ok(peers)
    }
}
