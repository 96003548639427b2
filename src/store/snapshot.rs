//! Reading the whole directory in one pass, for the in-memory snapshot the
//! call path routes on.

use chrono::NaiveDate;

use super::{get, get_bool, get_word, Store, StoreError};
use crate::directory::snapshot::{
    ConsultantEntry, NumberEntry, ProtocolEntry, ProviderEntry, Snapshot,
};
use crate::directory::ProtocolStatus;

fn date(s: Option<String>) -> Option<NaiveDate> {
    s.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
}

impl Store {
    /// Numbers, providers, open protocols and consultants, read inside one
    /// transaction so the snapshot is consistent.
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut s = Snapshot::default();
        for r in sqlx::query("SELECT e164, provider_id, user_id FROM provider_numbers")
            .fetch_all(&mut *tx)
            .await?
        {
            s.numbers.insert(
                get(&r, "e164")?,
                NumberEntry {
                    provider_id: get(&r, "provider_id")?,
                    user_id: get(&r, "user_id")?,
                },
            );
        }
        for r in sqlx::query(
            "SELECT id, name, consulting, contract_valid_from, contract_valid_until FROM providers",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let id: i64 = get(&r, "id")?;
            s.providers.insert(
                id,
                ProviderEntry {
                    id,
                    name: get(&r, "name")?,
                    consulting: get_bool(&r, "consulting")?,
                    contract_valid_from: date(get(&r, "contract_valid_from")?),
                    contract_valid_until: date(get(&r, "contract_valid_until")?),
                },
            );
        }
        for r in sqlx::query(
            "SELECT id, number, provider_id, owner_id, opened_at, due_at FROM protocols \
             WHERE status = 'open'",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let p = ProtocolEntry {
                id: get(&r, "id")?,
                number: get(&r, "number")?,
                provider_id: get(&r, "provider_id")?,
                owner_id: get(&r, "owner_id")?,
                opened_at_ms: get(&r, "opened_at")?,
                due_at_ms: get(&r, "due_at")?,
            };
            s.open_protocols.entry(p.provider_id).or_default().push(p);
        }
        for r in sqlx::query("SELECT id, name, sip_username, active, presence FROM consultants")
            .fetch_all(&mut *tx)
            .await?
        {
            let id: i64 = get(&r, "id")?;
            let sip_username: String = get(&r, "sip_username")?;
            s.usernames.insert(sip_username.clone(), id);
            s.consultants.insert(
                id,
                ConsultantEntry {
                    id,
                    name: get(&r, "name")?,
                    sip_username,
                    active: get_bool(&r, "active")?,
                    presence: crate::directory::Presence::parse(&get::<String>(&r, "presence")?),
                },
            );
        }
        tx.commit().await?;
        Ok(s)
    }

    /// The given protocols as routing's snapshot holds them: an entry for
    /// each open one, `None` for each closed or missing one.
    pub async fn protocol_entries(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(i64, Option<ProtocolEntry>)>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        // One indexed read per protocol: a batch is what changed in the
        // last moment, a handful, and a fixed query keeps both dialects'
        // placeholders simple.
        let mut c = self.pool().acquire().await?;
        for &id in ids {
            let r = sqlx::query(
                "SELECT id, number, provider_id, owner_id, opened_at, due_at, status \
                 FROM protocols WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?;
            let entry = match r {
                Some(r) if get_word::<ProtocolStatus>(&r, "status")? == ProtocolStatus::Open => {
                    Some(ProtocolEntry {
                        id: get(&r, "id")?,
                        number: get(&r, "number")?,
                        provider_id: get(&r, "provider_id")?,
                        owner_id: get(&r, "owner_id")?,
                        opened_at_ms: get(&r, "opened_at")?,
                        due_at_ms: get(&r, "due_at")?,
                    })
                }
                _ => None,
            };
            out.push((id, entry));
        }
        Ok(out)
    }

    /// (id, active, presence) of every consultant: cheap enough to poll,
    /// so changes made outside the API (the CLI) reach routing.
    pub async fn consultant_states(&self) -> Result<Vec<(i64, bool, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, active, presence FROM consultants")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get_bool(r, "active")?, get(r, "presence")?)))
            .collect()
    }
}
