//! Contacts: the ones calls made (read here) and the ones people enter
//! (chat, e-mail, meetings, calls made elsewhere).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiQuery, Id};
use super::rights::Principal;
use super::AppState;
use crate::directory::Page;
use crate::store::{Contact, ContactQuery};
use crate::tracking::service::CHANNELS;

pub(crate) const STATUSES: &[&str] = crate::tracking::states::ContactStatus::NAMES;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactListParams {
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub call_id: Option<String>,
    #[param(schema_with = crate::http::schema::channels::required)]
    pub channel: Option<String>,
    #[param(schema_with = crate::http::schema::contact_statuses::required)]
    pub status: Option<String>,
    #[param(schema_with = crate::http::schema::contact_kinds::required)]
    pub kind: Option<String>,
    /// Contacts at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<DateTime<FixedOffset>>,
    /// Contacts before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<DateTime<FixedOffset>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Contacts, oldest first.
#[utoipa::path(get, path = "/api/contacts", params(ContactListParams),
    responses((status = 200, body = Page<Contact>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<ContactListParams>,
) -> Result<Json<Page<Contact>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    ApiError::one_of("channel", p.channel.as_deref(), CHANNELS)?;
    ApiError::one_of("status", p.status.as_deref(), STATUSES)?;
    ApiError::one_of(
        "kind",
        p.kind.as_deref(),
        super::schema::words::CONTACT_KINDS,
    )?;
    let q = ContactQuery {
        consultant_id,
        provider_id: p.provider_id,
        protocol_id: p.protocol_id,
        call_id: p.call_id,
        channel: p.channel,
        status: p.status,
        kind: p.kind,
        from_ms: p.from.map(|t| t.timestamp_millis()),
        to_ms: p.to.map(|t| t.timestamp_millis()),
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_contacts(&q).await?))
}

#[utoipa::path(get, path = "/api/contacts/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Contact>, ApiError> {
    let c = st.store.get_contact(id).await?;
    super::tracking::may_read_contact(&who, &c)?;
    Ok(Json(c))
}
