//! The "which provider?" step: a contact from someone unknown starts
//! `unidentified`; the consultant asks, and records the answer: not a
//! client (the procedure was explained), or a client of a given provider
//! (and person), which the contact then belongs to. Audited.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{state, ChatError};
use crate::store::{Contact, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifyResult {
    NotClient,
    Client,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBody {
    pub result: IdentifyResult,
    /// Required for `client`: the provider the person is from.
    #[serde(default)]
    pub provider_id: Option<i64>,
    /// The provider user, when known (must belong to `provider_id`).
    #[serde(default)]
    pub provider_user_id: Option<i64>,
}

/// The states a contact may be re-identified from.
const ANSWERABLE: [&str; 3] = ["unidentified", "not_client", "client"];

/// Records the answer on contact `id` (read and checked by the caller
/// for rights), in one transaction with its audit entry.
pub async fn identify(
    store: &Store,
    contact: &Contact,
    b: &IdentifyBody,
    actor: &str,
) -> Result<Contact, ChatError> {
    let old = contact.identification.clone();
    if !old.as_deref().is_some_and(|s| ANSWERABLE.contains(&s)) {
        return Err(state(
            "result",
            format!(
                "contact {} has no \"which provider?\" step to answer (it is {})",
                contact.id,
                old.as_deref().unwrap_or("a contact from a known party")
            ),
        ));
    }
    let (new, provider, user) = match b.result {
        IdentifyResult::NotClient => {
            if b.provider_id.is_some() || b.provider_user_id.is_some() {
                return Err(state(
                    "provider_id",
                    "a person who is not a client has no provider",
                ));
            }
            ("not_client", None, None)
        }
        IdentifyResult::Client => {
            let Some(p) = b.provider_id else {
                return Err(ChatError::Invalid {
                    field: "provider_id".into(),
                    message: "required when the result is client".into(),
                });
            };
            store.get_provider(p).await.map_err(|e| match e {
                StoreError::NotFound { .. } => {
                    state("provider_id", format!("provider {p} does not exist"))
                }
                other => other.into(),
            })?;
            if let Some(u) = b.provider_user_id {
                let user = store.get_user(u).await.map_err(|e| match e {
                    StoreError::NotFound { .. } => {
                        state("provider_user_id", format!("user {u} does not exist"))
                    }
                    other => other.into(),
                })?;
                if user.provider_id != p {
                    return Err(state(
                        "provider_user_id",
                        format!("user {u} belongs to provider {}, not {p}", user.provider_id),
                    ));
                }
            }
            ("client", Some(p), b.provider_user_id)
        }
    };
    let mut tx = store.begin().await?;
    store
        .set_identification(
            &mut tx,
            contact.id,
            new,
            provider,
            user,
            crate::store::now_ms(),
        )
        .await?;
    store
        .audit(
            &mut tx,
            "contact",
            contact.id,
            "identification",
            old,
            Some(new.to_string()),
            actor,
        )
        .await?;
    if let Some(p) = provider {
        if contact.provider_id != Some(p) {
            store
                .audit(
                    &mut tx,
                    "contact",
                    contact.id,
                    "provider_id",
                    contact.provider_id.map(|v| v.to_string()),
                    Some(p.to_string()),
                    actor,
                )
                .await?;
        }
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(store.get_contact(contact.id).await?)
}
