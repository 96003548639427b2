//! Protocols (tickets): open, assign an owner, close, list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::schema::{PROTOCOL_CATEGORY_MAX, PROTOCOL_NUMBER_MAX, PROTOCOL_SUBJECT_MAX};
use super::AppState;
use crate::directory::{AssignOwner, NewProtocol, Page, Protocol, ProtocolStatus};
use crate::store::{ProtocolQuery, ProtocolRecord};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProtocolListParams {
    pub owner_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub status: Option<ProtocolStatus>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Counted before trimming, as the document's `maxLength` counts.
fn text(field: &str, s: &str, max: usize) -> Result<String, ApiError> {
    if s.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(s.trim().to_string())
}

#[utoipa::path(get, path = "/api/protocols", params(ProtocolListParams),
    responses((status = 200, body = Page<Protocol>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<ProtocolListParams>,
) -> Result<Json<Page<Protocol>>, ApiError> {
    // A consultant lists the protocols they own.
    let owner_id = who.scope(p.owner_id)?;
    let q = ProtocolQuery {
        owner_id,
        provider_id: p.provider_id,
        status: p.status,
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_protocols(&q).await?))
}

#[utoipa::path(post, path = "/api/protocols", request_body = NewProtocol,
    responses((status = 201, body = Protocol), (status = 409, body = super::error::ErrorBody,
        description = "The number is taken, or provider_id or owner_id names nothing stored")),
    security(("bearer" = [])))]
pub async fn open(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<NewProtocol>,
) -> Result<(StatusCode, Json<Protocol>), ApiError> {
    let number = match body.number.as_deref() {
        Some(n) if n.chars().count() > PROTOCOL_NUMBER_MAX || n.chars().any(char::is_control) => {
            return Err(ApiError::field(
                "number",
                "must be at most 64 printable characters",
            ))
        }
        Some(n) if !n.trim().is_empty() => Some(n.trim().to_string()),
        _ => None,
    };
    let record = ProtocolRecord {
        number,
        provider_id: body.provider_id,
        owner_id: body.owner_id,
        category: text("category", &body.category, PROTOCOL_CATEGORY_MAX)?,
        subject: text("subject", &body.subject, PROTOCOL_SUBJECT_MAX)?,
        due_at_ms: body.due_at.map(|d| d.timestamp_millis()),
    };
    let p = st.store.open_protocol(&record).await?;
    st.directory_changed();
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(get, path = "/api/protocols/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = Protocol)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Protocol>, ApiError> {
    let p = st.store.get_protocol(id).await?;
    who.may_see(p.owner_id)?;
    Ok(Json(p))
}

#[utoipa::path(post, path = "/api/protocols/{id}/assign", params(("id" = i64, Path)),
    request_body = AssignOwner, responses((status = 200, body = Protocol)),
    security(("bearer" = [])))]
pub async fn assign(
    State(st): State<AppState>,
    Id(id): Id,
    ApiJson(body): ApiJson<AssignOwner>,
) -> Result<Json<Protocol>, ApiError> {
    let p = st.store.assign_protocol(id, body.owner_id).await?;
    st.directory_changed();
    Ok(Json(p))
}

#[utoipa::path(post, path = "/api/protocols/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = Protocol), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn close(State(st): State<AppState>, Id(id): Id) -> Result<Json<Protocol>, ApiError> {
    let p = st.store.close_protocol(id).await?;
    st.directory_changed();
    // Rule 4: the owner tells the client it is done.
    if let Err(e) = crate::tracking::service::on_protocol_closed(&st.store, &p).await {
        tracing::warn!(error = %e, protocol = p.id, "communicate-completion task not created");
    }
    Ok(Json(p))
}
