//! Applying one validated event: the idempotency and ordering checks, the
//! lookups of who it names, and the change itself through the same
//! tracking service functions the API uses (so rule 4, reopen semantics
//! and the audit trail are one path), all in one transaction. An event
//! naming someone unknown is kept in the pending list and nothing of it
//! is written.

use crate::directory::{ProtocolStatus, DEFAULT_PROTOCOL_CATEGORY};
use crate::store::{NewPending, Store, StoreError, SyncedNew};
use crate::tracking::service::{self, Closer, ProtocolPatch, TrackingError};

use super::event::Change;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written; `created` when the protocol is new here.
    Applied { protocol_id: i64, created: bool },
    /// This event id was taken in before (as `applied` or `stale`).
    Duplicate,
    /// Older than the last change applied to the protocol: ignored.
    Stale,
    /// Names someone protocall does not know: kept for a person, nothing
    /// applied. One sentence per missing thing.
    Pending { missing: Vec<String> },
}

impl Outcome {
    /// The metric label and the answer's `result`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Pending { .. } => "pending",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("protocol {number}: {source}")]
    Tracking {
        number: String,
        source: TrackingError,
    },
}

/// Where an event came from, for the audit trail and the ledger.
pub const WEBHOOK: &str = "sync:webhook";
pub const PULL: &str = "sync:pull";

/// Who the event names, as ids.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Resolved {
    pub provider_id: Option<i64>,
    pub owner_id: Option<i64>,
}

/// Applies `change` (received as `payload`, kept if it goes pending) from
/// `source`; `categories` are rule 4's.
pub async fn apply(
    store: &Store,
    categories: &[String],
    change: &Change,
    payload: &str,
    source: &str,
) -> Result<Outcome, SyncError> {
    let mut tx = store.begin().await?;
    if store
        .sync_event_outcome(&mut tx, &change.event_id)
        .await?
        .is_some()
    {
        return Ok(Outcome::Duplicate);
    }
    let existing = store.synced_protocol(&mut tx, &change.number).await?;
    if let Some(prev) = existing.and_then(|p| p.source_updated_at) {
        if change.at_ms < prev {
            record(store, &mut tx, change, "stale", source).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok(Outcome::Stale);
        }
    }
    let (resolved, mut missing) = resolve(store, &mut tx, change, existing.is_none()).await?;
    if missing.is_empty() {
        match write(
            store, &mut tx, categories, change, existing, &resolved, source,
        )
        .await
        {
            Ok((protocol_id, created)) => {
                store
                    .set_source_updated_at(&mut tx, protocol_id, change.at_ms)
                    .await?;
                record(store, &mut tx, change, "applied", source).await?;
                store
                    .settle_pending(&mut tx, &change.number, change.at_ms)
                    .await?;
                tx.commit().await.map_err(StoreError::from)?;
                return Ok(Outcome::Applied {
                    protocol_id,
                    created,
                });
            }
            // Rule 4 needs someone to tell the client: as much a missing
            // person as an unknown owner.
            Err(TrackingError::OwnerRequired(_)) => missing.push(format!(
                "an owner for protocol {}: rule 4 plans a communicate-completion task on \
                 its close and nobody is there to take it",
                change.number
            )),
            Err(e) => {
                return Err(SyncError::Tracking {
                    number: change.number.clone(),
                    source: e,
                })
            }
        }
    }
    // Nothing of the event stays; the pending list says why.
    tx.rollback().await.map_err(StoreError::from)?;
    store
        .keep_pending(&NewPending {
            event_id: &change.event_id,
            number: &change.number,
            kind: change.kind.as_str(),
            at_ms: change.at_ms,
            missing: &missing,
            payload,
            source,
        })
        .await?;
    Ok(Outcome::Pending { missing })
}

async fn record(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    change: &Change,
    outcome: &str,
    source: &str,
) -> Result<(), StoreError> {
    store
        .record_sync_event(
            c,
            &change.event_id,
            &change.number,
            change.kind.as_str(),
            change.at_ms,
            outcome,
            source,
        )
        .await
}

async fn resolve(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    change: &Change,
    is_new: bool,
) -> Result<(Resolved, Vec<String>), StoreError> {
    let mut missing = Vec::new();
    let provider_id = match &change.provider_tax_id {
        Some(t) => {
            let id = store.provider_by_tax_id(c, t).await?;
            if id.is_none() {
                missing.push(format!("provider with tax_id {t}"));
            }
            id
        }
        None => {
            if is_new {
                missing.push(format!(
                    "provider_tax_id: protocol {} is not known here, so the event must name \
                     its provider",
                    change.number
                ));
            }
            None
        }
    };
    let owner_id = match &change.owner {
        Some(o) => {
            let id = store.consultant_by_handle(c, o).await?;
            if id.is_none() {
                missing.push(format!(
                    "consultant `{o}` (no SIP username or e-mail matches)"
                ));
            }
            id
        }
        None => None,
    };
    Ok((
        Resolved {
            provider_id,
            owner_id,
        },
        missing,
    ))
}

/// The change itself, through the tracking service; returns the
/// protocol's id and whether it was new. Shared with the CSV import.
pub(crate) async fn write(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    categories: &[String],
    change: &Change,
    existing: Option<crate::store::SyncedProtocol>,
    who: &Resolved,
    actor: &str,
) -> Result<(i64, bool), TrackingError> {
    let (id, created) = match existing {
        Some(p) => (p.id, false),
        None => {
            let provider_id = who.provider_id.ok_or_else(|| {
                TrackingError::Store(StoreError::Reference("provider_tax_id".into()))
            })?;
            let id = store
                .insert_synced_protocol(
                    c,
                    &SyncedNew {
                        number: &change.number,
                        provider_id,
                        owner_id: who.owner_id,
                        category: change
                            .category
                            .as_deref()
                            .unwrap_or(DEFAULT_PROTOCOL_CATEGORY),
                        subject: change.subject.as_deref().unwrap_or(""),
                        opened_at_ms: change.opened_at_ms.unwrap_or(change.at_ms),
                        due_at_ms: change.due_at_ms.flatten(),
                    },
                    actor,
                )
                .await?;
            (id, true)
        }
    };
    let current = store.protocol_in(c, id).await?;
    let was_closed = current.status == ProtocolStatus::Closed;
    // A reopen comes before the edits (a closed protocol's deadline does
    // not move), a close after them (so rule 4 sees the final category).
    if was_closed && change.status == Some(ProtocolStatus::Open) {
        service::reopen_protocol_in(store, c, id, actor, change.at_ms).await?;
    }
    if let Some(owner) = who.owner_id {
        if current.owner_id != Some(owner) {
            service::assign_protocol_in(store, c, id, owner, actor).await?;
        }
    }
    if !created {
        let stays_closed = was_closed && change.status != Some(ProtocolStatus::Open);
        let patch = ProtocolPatch {
            category: change.category.clone(),
            subject: change.subject.clone(),
            // The SLA judged a closed protocol by its deadline; the
            // system of record moving it afterwards does not rejudge it.
            due_at_ms: if stays_closed { None } else { change.due_at_ms },
        };
        if patch.category.is_some() || patch.subject.is_some() || patch.due_at_ms.is_some() {
            service::update_protocol_in(store, c, id, patch, actor).await?;
        }
    }
    if !was_closed && change.status == Some(ProtocolStatus::Closed) {
        let closer = Closer {
            person: actor,
            consultant_id: None,
        };
        service::close_protocol_in(store, c, id, closer, categories, change.at_ms).await?;
    }
    Ok((id, created))
}
