//! Writing a validated directory import in one transaction.

use sqlx::{Any, Transaction};

use super::directory::{insert_number, insert_provider, insert_user};
use super::{get, now_ms, Store, StoreError};
use crate::directory::import::{ImportReport, ImportRow, Rejected};

impl Store {
    /// Applies every row or none. A row the database refuses (a number that
    /// belongs to another provider, say) rolls the whole import back and is
    /// reported by its line. A written import leaves one audit entry (entity
    /// `directory`, id 0: an import has no id of its own) with its counts
    /// and `actor`, in the same transaction.
    pub async fn import_directory(
        &self,
        rows: &[ImportRow],
        actor: &str,
    ) -> Result<ImportReport, StoreError> {
        let mut report = ImportReport {
            rows: rows.len() as u64,
            ..Default::default()
        };
        let mut tx = self.begin_write().await?;
        if let Err(rejected) = self.import_rows_in(&mut tx, rows, &mut report).await? {
            tx.rollback().await?;
            return Ok(ImportReport::refused(rows.len(), vec![rejected]));
        }
        self.audit_import(&mut tx, &report, actor).await?;
        tx.commit().await?;
        report.imported = true;
        Ok(report)
    }

    /// The rows' providers, users and numbers inside a caller's
    /// transaction, counted into `report`; the provider id of each row, or
    /// the first row the database refused (the caller rolls back).
    pub async fn import_rows_in(
        &self,
        c: &mut Transaction<'_, Any>,
        rows: &[ImportRow],
        report: &mut ImportReport,
    ) -> Result<Result<Vec<i64>, Rejected>, StoreError> {
        let mut providers = Vec::with_capacity(rows.len());
        for row in rows {
            match apply_row(c, row, report).await {
                Ok(id) => providers.push(id),
                Err(StoreError::Db(e)) => return Err(StoreError::Db(e)),
                Err(other) => {
                    return Ok(Err(Rejected {
                        line: row.line,
                        field: None,
                        message: other.to_string(),
                    }))
                }
            }
        }
        Ok(Ok(providers))
    }

    /// The import's one audit entry, with its counts.
    pub async fn audit_import(
        &self,
        c: &mut sqlx::AnyConnection,
        report: &ImportReport,
        actor: &str,
    ) -> Result<(), StoreError> {
        let what = format!(
            "rows={} providers_created={} providers_updated={} users_created={} \
             numbers_added={} numbers_unchanged={} protocols_created={} protocols_updated={}",
            report.rows,
            report.providers_created,
            report.providers_updated,
            report.users_created,
            report.numbers_added,
            report.numbers_unchanged,
            report.protocols_created,
            report.protocols_updated
        );
        self.audit(c, "directory", 0, "import", None, Some(what), actor)
            .await
    }
}

async fn apply_row(
    tx: &mut Transaction<'_, Any>,
    row: &ImportRow,
    report: &mut ImportReport,
) -> Result<i64, StoreError> {
    let p = &row.provider;
    let existing = match &p.tax_id {
        Some(t) => {
            sqlx::query("SELECT id FROM providers WHERE tax_id = $1")
                .bind(t.clone())
                .fetch_optional(&mut **tx)
                .await?
        }
        None => {
            sqlx::query("SELECT id FROM providers WHERE name = $1 AND tax_id IS NULL")
                .bind(p.name.clone())
                .fetch_optional(&mut **tx)
                .await?
        }
    };
    let provider_id = match existing {
        Some(r) => {
            let id: i64 = get(&r, "id")?;
            sqlx::query(
                "UPDATE providers SET name = $1, consulting = $2, contract_valid_from = $3, \
                 contract_valid_until = $4, updated_at = $5 WHERE id = $6",
            )
            .bind(p.name.clone())
            .bind(p.consulting)
            .bind(p.contract_valid_from.map(|d| d.to_string()))
            .bind(p.contract_valid_until.map(|d| d.to_string()))
            .bind(now_ms())
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::classify)?;
            report.providers_updated += 1;
            id
        }
        None => {
            report.providers_created += 1;
            insert_provider(tx, p).await?
        }
    };
    let user_id = match &row.user {
        None => None,
        Some(name) => {
            let r =
                sqlx::query("SELECT id FROM provider_users WHERE provider_id = $1 AND name = $2")
                    .bind(provider_id)
                    .bind(name.clone())
                    .fetch_optional(&mut **tx)
                    .await?;
            Some(match r {
                Some(r) => {
                    let id: i64 = get(&r, "id")?;
                    if row.user_email.is_some() {
                        sqlx::query("UPDATE provider_users SET email = $1 WHERE id = $2")
                            .bind(row.user_email.clone())
                            .bind(id)
                            .execute(&mut **tx)
                            .await?;
                    }
                    id
                }
                None => {
                    report.users_created += 1;
                    insert_user(tx, provider_id, name, row.user_email.as_deref()).await?
                }
            })
        }
    };
    if let (Some(id), Some(handle)) = (user_id, &row.user_chat_handle) {
        super::chat::set_chat_handle(tx, id, Some(handle)).await?;
    }
    if let Some(n) = &row.e164 {
        let r = sqlx::query("SELECT provider_id, user_id FROM provider_numbers WHERE e164 = $1")
            .bind(n.clone())
            .fetch_optional(&mut **tx)
            .await?;
        match r {
            Some(r) => {
                let owner: i64 = get(&r, "provider_id")?;
                if owner != provider_id {
                    return Err(StoreError::Conflict(format!(
                        "number {n} already belongs to provider {owner}"
                    )));
                }
                let current_user: Option<i64> = get(&r, "user_id")?;
                if current_user != user_id {
                    sqlx::query("UPDATE provider_numbers SET user_id = $1 WHERE e164 = $2")
                        .bind(user_id)
                        .bind(n.clone())
                        .execute(&mut **tx)
                        .await?;
                }
                report.numbers_unchanged += 1;
            }
            None => {
                insert_number(tx, provider_id, user_id, n, row.label.as_deref()).await?;
                report.numbers_added += 1;
            }
        }
    }
    Ok(provider_id)
}
