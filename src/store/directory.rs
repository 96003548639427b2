//! Directory persistence: providers, numbers, provider users, consultants
//! and the lookup of a number (protocols live in `protocols`). Inputs
//! arrive validated (see `crate::directory`); what only the database can
//! check (uniqueness, references) comes back as a typed [`StoreError`].

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::protocols::PROTOCOL_COLS;
use super::{get, get_bool, now_ms, Arg, Filter, Store, StoreError};
use crate::directory::{
    Consultant, Page, PhoneNumber, Protocol, Provider, ProviderFields, ProviderUser, SipCredentials,
};

const PROVIDER_COLS: &str = "id, name, tax_id, consulting, contract_valid_from, \
                             contract_valid_until, created_at, updated_at";
const CONSULTANT_COLS: &str = "id, name, sip_username, email, weekly_capacity_hours, active, \
                               role, presence, created_at, updated_at";
/// Paging bounds shared by every list endpoint.
pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

#[derive(Debug, Clone, Default)]
pub struct ProviderQuery {
    pub name: Option<String>,
    pub e164: Option<String>,
    pub consulting: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ConsultantQuery {
    pub active: Option<bool>,
    pub limit: i64,
    pub offset: i64,
}

/// Fields of a consultant as written; HA1 values already derived.
#[derive(Clone)]
pub struct ConsultantRecord {
    pub name: String,
    pub sip_username: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub email: Option<String>,
    pub weekly_capacity_hours: f64,
    pub active: bool,
    pub role: crate::directory::Role,
}

fn date_text(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

fn parse_date(col: &str, s: Option<String>) -> Result<Option<NaiveDate>, StoreError> {
    s.map(|s| {
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|_| StoreError::Constraint(format!("{col} holds `{s}`, not a date")))
    })
    .transpose()
}

/// A role column (consultants, tokens); the CHECK keeps other values out,
/// so one here means the database was edited by hand.
pub(crate) fn role_from_row(r: &AnyRow) -> Result<crate::directory::Role, StoreError> {
    let s: String = get(r, "role")?;
    crate::directory::Role::parse(&s)
        .ok_or_else(|| StoreError::Constraint(format!("role holds `{s}`, not a role")))
}

pub(crate) fn clamp_page(limit: i64, offset: i64) -> (i64, i64) {
    let limit = if limit <= 0 {
        DEFAULT_PAGE
    } else {
        limit.min(MAX_PAGE)
    };
    (limit, offset.max(0))
}

impl Store {
    fn provider_from_row(&self, r: &AnyRow) -> Result<Provider, StoreError> {
        Ok(Provider {
            id: get(r, "id")?,
            name: get(r, "name")?,
            tax_id: get(r, "tax_id")?,
            consulting: get_bool(r, "consulting")?,
            contract_valid_from: parse_date("contract_valid_from", get(r, "contract_valid_from")?)?,
            contract_valid_until: parse_date(
                "contract_valid_until",
                get(r, "contract_valid_until")?,
            )?,
            created_at: self.ts(get(r, "created_at")?),
            updated_at: self.ts(get(r, "updated_at")?),
        })
    }

    fn consultant_from_row(&self, r: &AnyRow) -> Result<Consultant, StoreError> {
        Ok(Consultant {
            id: get(r, "id")?,
            name: get(r, "name")?,
            sip_username: get(r, "sip_username")?,
            email: get(r, "email")?,
            weekly_capacity_hours: get(r, "weekly_capacity_hours")?,
            active: get_bool(r, "active")?,
            role: role_from_row(r)?,
            presence: crate::directory::Presence::parse(&get::<String>(r, "presence")?),
            in_call: false,
            created_at: self.ts(get(r, "created_at")?),
            updated_at: self.ts(get(r, "updated_at")?),
        })
    }

    // ---- providers -------------------------------------------------------

    pub async fn create_provider(
        &self,
        p: &ProviderFields,
        numbers_e164: &[String],
    ) -> Result<Provider, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_provider(&mut tx, p).await?;
        for n in numbers_e164 {
            insert_number(&mut tx, id, None, n, None).await?;
        }
        tx.commit().await?;
        self.get_provider(id).await
    }

    pub async fn get_provider(&self, id: i64) -> Result<Provider, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROVIDER_COLS} FROM providers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("provider {id}")))?;
        self.provider_from_row(&row)
    }

    pub async fn update_provider(
        &self,
        id: i64,
        p: &ProviderFields,
    ) -> Result<Provider, StoreError> {
        let done = sqlx::query(
            "UPDATE providers SET name = $1, tax_id = $2, consulting = $3, \
             contract_valid_from = $4, contract_valid_until = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(p.name.clone())
        .bind(p.tax_id.clone())
        .bind(p.consulting)
        .bind(date_text(p.contract_valid_from))
        .bind(date_text(p.contract_valid_until))
        .bind(now_ms())
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("provider {id}")));
        }
        self.get_provider(id).await
    }

    /// Deletes a provider with its numbers and users; refused while
    /// protocols still refer to it, because those are the desk's history.
    pub async fn delete_provider(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM providers WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(|e| match StoreError::classify(e) {
                StoreError::Reference(_) => StoreError::Reference(format!(
                    "provider {id} still has protocols; close and keep them, or move them first"
                )),
                other => other,
            })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("provider {id}")));
        }
        Ok(())
    }

    pub async fn list_providers(&self, q: &ProviderQuery) -> Result<Page<Provider>, StoreError> {
        let mut f = Filter::default();
        if let Some(name) = &q.name {
            f.push(
                "LOWER(name) LIKE $?",
                Arg::Text(format!("%{}%", name.to_lowercase())),
            );
        }
        if let Some(n) = &q.e164 {
            f.push(
                "id IN (SELECT provider_id FROM provider_numbers WHERE e164 = $?)",
                Arg::Text(n.clone()),
            );
        }
        if let Some(c) = q.consulting {
            f.push("consulting = $?", Arg::Bool(c));
        }
        self.page_of(
            "providers",
            PROVIDER_COLS,
            "id",
            &f,
            q.limit,
            q.offset,
            |r| self.provider_from_row(r),
        )
        .await
    }

    pub(crate) async fn count(&self, table: &str, f: &Filter) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}{}", f.where_sql());
        let row = f.bind(sqlx::query(&sql)).fetch_one(self.pool()).await?;
        get(&row, "n")
    }

    // ---- numbers ---------------------------------------------------------

    pub async fn add_number(
        &self,
        provider_id: i64,
        user_id: Option<i64>,
        e164: &str,
        label: Option<&str>,
    ) -> Result<PhoneNumber, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(uid) = user_id {
            let owner = user_provider(&mut tx, uid).await?;
            if owner != provider_id {
                return Err(StoreError::Reference(format!(
                    "user {uid} belongs to provider {owner}, not {provider_id}"
                )));
            }
        }
        let id = insert_number(&mut tx, provider_id, user_id, e164, label).await?;
        tx.commit().await?;
        Ok(PhoneNumber {
            id,
            provider_id,
            user_id,
            e164: e164.to_string(),
            label: label.map(str::to_string),
        })
    }

    pub async fn list_numbers(&self, provider_id: i64) -> Result<Vec<PhoneNumber>, StoreError> {
        self.get_provider(provider_id).await?;
        let rows = sqlx::query(
            "SELECT id, provider_id, user_id, e164, label FROM provider_numbers \
             WHERE provider_id = $1 ORDER BY id",
        )
        .bind(provider_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PhoneNumber {
                    id: get(r, "id")?,
                    provider_id: get(r, "provider_id")?,
                    user_id: get(r, "user_id")?,
                    e164: get(r, "e164")?,
                    label: get(r, "label")?,
                })
            })
            .collect()
    }

    pub async fn delete_number(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM provider_numbers WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("number {id}")));
        }
        Ok(())
    }

    // ---- provider users ----------------------------------------------------

    pub async fn create_user(
        &self,
        provider_id: i64,
        name: &str,
        email: Option<&str>,
        numbers_e164: &[String],
        chat_handle: Option<&str>,
    ) -> Result<ProviderUser, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_user(&mut tx, provider_id, name, email).await?;
        super::chat::set_chat_handle(&mut tx, id, chat_handle).await?;
        for n in numbers_e164 {
            insert_number(&mut tx, provider_id, Some(id), n, None).await?;
        }
        tx.commit().await?;
        self.get_user(id).await
    }

    pub async fn get_user(&self, id: i64) -> Result<ProviderUser, StoreError> {
        let row = sqlx::query(
            "SELECT id, provider_id, name, email, chat_handle FROM provider_users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("user {id}")))?;
        self.user_from_row(&row).await
    }

    async fn user_from_row(&self, r: &AnyRow) -> Result<ProviderUser, StoreError> {
        let id: i64 = get(r, "id")?;
        let nums = sqlx::query("SELECT e164 FROM provider_numbers WHERE user_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        Ok(ProviderUser {
            id,
            provider_id: get(r, "provider_id")?,
            name: get(r, "name")?,
            email: get(r, "email")?,
            numbers: nums
                .iter()
                .map(|n| get(n, "e164"))
                .collect::<Result<_, _>>()?,
            chat_handle: get(r, "chat_handle")?,
        })
    }

    pub async fn list_users(&self, provider_id: i64) -> Result<Vec<ProviderUser>, StoreError> {
        self.get_provider(provider_id).await?;
        let rows = sqlx::query(
            "SELECT id, provider_id, name, email, chat_handle FROM provider_users WHERE provider_id = $1 \
             ORDER BY id",
        )
        .bind(provider_id)
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.user_from_row(r).await?);
        }
        Ok(out)
    }

    pub async fn update_user(
        &self,
        id: i64,
        name: &str,
        email: Option<&str>,
        chat_handle: Option<&str>,
    ) -> Result<ProviderUser, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE provider_users SET name = $1, email = $2 WHERE id = $3")
            .bind(name.to_string())
            .bind(email.map(str::to_string))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("user {id}")));
        }
        super::chat::set_chat_handle(&mut tx, id, chat_handle).await?;
        tx.commit().await?;
        self.get_user(id).await
    }

    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM provider_users WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("user {id}")));
        }
        Ok(())
    }

    // ---- consultants -------------------------------------------------------

    /// Adds a consultant; the audit trail records who (`actor`) did, in
    /// the same transaction.
    pub async fn create_consultant(
        &self,
        c: &ConsultantRecord,
        actor: &str,
    ) -> Result<Consultant, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO consultants (name, sip_username, ha1_md5, ha1_sha256, email, \
             weekly_capacity_hours, active, created_at, updated_at, role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(c.name.clone())
        .bind(c.sip_username.clone())
        .bind(c.ha1_md5.clone())
        .bind(c.ha1_sha256.clone())
        .bind(c.email.clone())
        .bind(c.weekly_capacity_hours)
        .bind(c.active)
        .bind(now)
        .bind(now)
        .bind(c.role.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "sip_username `{}` is already taken",
                c.sip_username
            )),
            other => other,
        })?;
        let id: i64 = get(&row, "id")?;
        let what = format!(
            "sip_username={} role={} active={}",
            c.sip_username, c.role, c.active
        );
        self.audit(
            &mut tx,
            "consultant",
            id,
            "created",
            None,
            Some(what),
            actor,
        )
        .await?;
        tx.commit().await?;
        self.get_consultant(id).await
    }

    pub async fn get_consultant(&self, id: i64) -> Result<Consultant, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONSULTANT_COLS} FROM consultants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("consultant {id}")))?;
        self.consultant_from_row(&row)
    }

    /// Writes every field; `ha1` is `None` to keep the current password.
    /// Each field that changes gets an audit entry naming `actor`, in the
    /// same transaction (a new password is recorded as changed, never as
    /// a value).
    pub async fn update_consultant(
        &self,
        id: i64,
        c: &Consultant,
        ha1: Option<(String, String)>,
        actor: &str,
    ) -> Result<Consultant, StoreError> {
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(&format!(
            "SELECT {CONSULTANT_COLS} FROM consultants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("consultant {id}")))?;
        let before = self.consultant_from_row(&before)?;
        let password_changed = ha1.is_some();
        let done = sqlx::query(
            "UPDATE consultants SET name = $1, email = $2, weekly_capacity_hours = $3, \
             active = $4, updated_at = $5, role = $6 WHERE id = $7",
        )
        .bind(c.name.clone())
        .bind(c.email.clone())
        .bind(c.weekly_capacity_hours)
        .bind(c.active)
        .bind(now_ms())
        .bind(c.role.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("consultant {id}")));
        }
        if let Some((md5, sha256)) = ha1 {
            sqlx::query("UPDATE consultants SET ha1_md5 = $1, ha1_sha256 = $2 WHERE id = $3")
                .bind(md5)
                .bind(sha256)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::classify)?;
        }
        let changes = [
            ("name", Some(before.name), Some(c.name.clone())),
            ("email", before.email, c.email.clone()),
            (
                "weekly_capacity_hours",
                Some(before.weekly_capacity_hours.to_string()),
                Some(c.weekly_capacity_hours.to_string()),
            ),
            (
                "active",
                Some(before.active.to_string()),
                Some(c.active.to_string()),
            ),
            (
                "role",
                Some(before.role.to_string()),
                Some(c.role.to_string()),
            ),
        ];
        for (field, old, new) in changes {
            if old != new {
                self.audit(&mut tx, "consultant", id, field, old, new, actor)
                    .await?;
            }
        }
        if password_changed {
            self.audit(
                &mut tx,
                "consultant",
                id,
                "password",
                None,
                Some("changed".into()),
                actor,
            )
            .await?;
        }
        tx.commit().await?;
        self.get_consultant(id).await
    }

    pub async fn set_presence(
        &self,
        id: i64,
        presence: crate::directory::Presence,
    ) -> Result<Consultant, StoreError> {
        let done =
            sqlx::query("UPDATE consultants SET presence = $1, updated_at = $2 WHERE id = $3")
                .bind(presence.as_str())
                .bind(now_ms())
                .bind(id)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("consultant {id}")));
        }
        self.get_consultant(id).await
    }

    pub async fn delete_consultant(&self, id: i64) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM consultants WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("consultant {id}")));
        }
        Ok(())
    }

    pub async fn list_consultants(
        &self,
        q: &ConsultantQuery,
    ) -> Result<Page<Consultant>, StoreError> {
        let mut f = Filter::default();
        if let Some(a) = q.active {
            f.push("active = $?", Arg::Bool(a));
        }
        self.page_of(
            "consultants",
            CONSULTANT_COLS,
            "id",
            &f,
            q.limit,
            q.offset,
            |r| self.consultant_from_row(r),
        )
        .await
    }

    /// The digest secrets of a SIP user, for the registrar.
    pub async fn sip_credentials(
        &self,
        sip_username: &str,
    ) -> Result<Option<SipCredentials>, StoreError> {
        let row = sqlx::query(
            "SELECT id, sip_username, ha1_md5, ha1_sha256, active FROM consultants \
             WHERE sip_username = $1",
        )
        .bind(sip_username.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(credentials_from_row).transpose()
    }

    /// Every consultant's digest secrets, for the registrar's in-memory
    /// cache.
    pub async fn all_sip_credentials(&self) -> Result<Vec<SipCredentials>, StoreError> {
        let rows =
            sqlx::query("SELECT id, sip_username, ha1_md5, ha1_sha256, active FROM consultants")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(credentials_from_row).collect()
    }

    // ---- lookup ------------------------------------------------------------

    /// The provider and (if the number is personal) the user behind an
    /// E.164 number, with the provider's open protocols, nearest deadline
    /// first.
    pub async fn lookup_number(
        &self,
        e164: &str,
    ) -> Result<Option<(Provider, Option<ProviderUser>, Vec<Protocol>)>, StoreError> {
        let row = sqlx::query("SELECT provider_id, user_id FROM provider_numbers WHERE e164 = $1")
            .bind(e164.to_string())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let provider = self.get_provider(get(&row, "provider_id")?).await?;
        let user = match get::<Option<i64>>(&row, "user_id")? {
            Some(uid) => Some(self.get_user(uid).await?),
            None => None,
        };
        let rows = sqlx::query(&format!(
            "SELECT {PROTOCOL_COLS} FROM protocols WHERE provider_id = $1 AND status = 'open' \
             ORDER BY CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, opened_at DESC"
        ))
        .bind(provider.id)
        .fetch_all(self.pool())
        .await?;
        let open = rows
            .iter()
            .map(|r| self.protocol_from_row(r))
            .collect::<Result<_, _>>()?;
        Ok(Some((provider, user, open)))
    }
}

pub(crate) fn credentials_from_row(r: &AnyRow) -> Result<SipCredentials, StoreError> {
    Ok(SipCredentials {
        consultant_id: get(r, "id")?,
        sip_username: get(r, "sip_username")?,
        ha1_md5: get(r, "ha1_md5")?,
        ha1_sha256: get(r, "ha1_sha256")?,
        active: get_bool(r, "active")?,
    })
}

// ---- transaction helpers, shared with the CSV import ------------------------

pub(crate) async fn insert_provider(
    tx: &mut Transaction<'_, Any>,
    p: &ProviderFields,
) -> Result<i64, StoreError> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO providers (name, tax_id, consulting, contract_valid_from, \
         contract_valid_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id",
    )
    .bind(p.name.clone())
    .bind(p.tax_id.clone())
    .bind(p.consulting)
    .bind(date_text(p.contract_valid_from))
    .bind(date_text(p.contract_valid_until))
    .bind(now)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match StoreError::classify(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "a provider with tax_id `{}` already exists",
            p.tax_id.clone().unwrap_or_default()
        )),
        other => other,
    })?;
    get(&row, "id")
}

pub(crate) async fn insert_number(
    tx: &mut Transaction<'_, Any>,
    provider_id: i64,
    user_id: Option<i64>,
    e164: &str,
    label: Option<&str>,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO provider_numbers (provider_id, user_id, e164, label, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(provider_id)
    .bind(user_id)
    .bind(e164.to_string())
    .bind(label.map(str::to_string))
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match StoreError::classify(e) {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("number {e164} is already in the directory"))
        }
        StoreError::Reference(_) => StoreError::not_found(format!("provider {provider_id}")),
        other => other,
    })?;
    get(&row, "id")
}

pub(crate) async fn insert_user(
    tx: &mut Transaction<'_, Any>,
    provider_id: i64,
    name: &str,
    email: Option<&str>,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO provider_users (provider_id, name, email, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(provider_id)
    .bind(name.to_string())
    .bind(email.map(str::to_string))
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match StoreError::classify(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "provider {provider_id} already has a user named `{name}`"
        )),
        StoreError::Reference(_) => StoreError::not_found(format!("provider {provider_id}")),
        other => other,
    })?;
    get(&row, "id")
}

async fn user_provider(tx: &mut Transaction<'_, Any>, user_id: i64) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT provider_id FROM provider_users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found(format!("user {user_id}")))?;
    get(&row, "provider_id")
}
