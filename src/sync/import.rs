//! The directory CSV with protocols: providers, users and numbers as the
//! store imports them, then each row's protocol through the same path a
//! system-of-record event takes (`apply::write`: the tracking service's
//! assign, edit, close with rule 4 and reopen, audited under the person
//! importing), all in one transaction. A protocol naming an unknown owner,
//! or one rule 4 cannot close, rejects the import by its line and column.

use crate::directory::import::{ImportReport, ImportRow, Rejected};
use crate::store::{Store, StoreError};
use crate::tracking::service::TrackingError;

use super::apply::{write, Resolved};
use super::event::{Change, EventKind};

/// Imports `rows`; returns the report and the protocols written (for
/// routing's snapshot).
pub async fn import(
    store: &Store,
    categories: &[String],
    rows: &[ImportRow],
    actor: &str,
) -> Result<(ImportReport, Vec<i64>), StoreError> {
    let mut report = ImportReport {
        rows: rows.len() as u64,
        ..Default::default()
    };
    let mut tx = store.begin().await?;
    let providers = match store.import_rows_in(&mut tx, rows, &mut report).await? {
        Ok(p) => p,
        Err(rejected) => {
            tx.rollback().await?;
            return Ok((
                ImportReport::refused(rows.len(), vec![rejected]),
                Vec::new(),
            ));
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut written = Vec::new();
    for (row, provider_id) in rows.iter().zip(providers) {
        let Some(p) = &row.protocol else { continue };
        let reject = |field: &str, message: String| Rejected {
            line: row.line,
            field: Some(field.to_string()),
            message,
        };
        let owner_id = match &p.owner {
            Some(o) => match store.consultant_by_handle(&mut tx, o).await? {
                Some(id) => Some(id),
                None => {
                    tx.rollback().await?;
                    let r = reject(
                        "protocol_owner",
                        format!("no consultant has the SIP username or e-mail `{o}`"),
                    );
                    return Ok((ImportReport::refused(rows.len(), vec![r]), Vec::new()));
                }
            },
            None => None,
        };
        let existing = store.synced_protocol(&mut tx, &p.number).await?;
        let change = Change {
            event_id: String::new(),
            kind: EventKind::Updated,
            number: p.number.clone(),
            at_ms: now,
            opened_at_ms: None,
            provider_tax_id: None,
            owner: p.owner.clone(),
            category: p.category.clone(),
            subject: p.subject.clone(),
            due_at_ms: p.due_at_ms.map(Some),
            status: p.status,
        };
        let who = Resolved {
            provider_id: Some(provider_id),
            owner_id,
        };
        match write(store, &mut tx, categories, &change, existing, &who, actor).await {
            Ok((id, created)) => {
                if created {
                    report.protocols_created += 1;
                } else {
                    report.protocols_updated += 1;
                }
                written.push(id);
            }
            Err(TrackingError::Store(StoreError::Db(e))) => return Err(StoreError::Db(e)),
            Err(e) => {
                tx.rollback().await?;
                let r = reject("protocol", e.to_string());
                return Ok((ImportReport::refused(rows.len(), vec![r]), Vec::new()));
            }
        }
    }
    store.audit_import(&mut tx, &report, actor).await?;
    tx.commit().await?;
    report.imported = true;
    Ok((report, written))
}
