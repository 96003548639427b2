//! Protocols (tickets) over HTTP: open, edit, assign an owner, close
//! (with rule 4, see `crate::tracking::service::protocols`), reopen, list,
//! and their audit trail. Every write refreshes routing's copy of the
//! directory, since the open protocols and their deadlines pick who
//! attends a call.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::schema::{PROTOCOL_CATEGORY_MAX, PROTOCOL_NUMBER_MAX, PROTOCOL_SUBJECT_MAX};
use super::AppState;
use crate::directory::{
    AssignOwner, NewProtocol, Page, Protocol, ProtocolPatch, ProtocolStatus,
    DEFAULT_PROTOCOL_CATEGORY,
};
use crate::store::{AuditEntry, ProtocolQuery, ProtocolRecord};
use crate::tracking::service;

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

/// A category as written, or the default one when blank.
fn category(s: &str) -> Result<String, ApiError> {
    let c = text("category", s, PROTOCOL_CATEGORY_MAX)?;
    Ok(if c.is_empty() {
        DEFAULT_PROTOCOL_CATEGORY.to_string()
    } else {
        c
    })
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
        category: category(&body.category)?,
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
    who: Principal,
    Id(id): Id,
    ApiJson(body): ApiJson<AssignOwner>,
) -> Result<Json<Protocol>, ApiError> {
    let p = service::assign_protocol(&st.store, id, body.owner_id, &who.person).await?;
    st.directory_changed();
    Ok(Json(p))
}

/// Closes an open protocol. For the categories in
/// `tracking.communicate_completion_categories` (default `support`) the
/// same transaction plans rule 4's "communicate-completion" task for the
/// owner (or, without one, for the closer when they are a consultant); if
/// that task cannot be created the protocol stays open.
#[utoipa::path(post, path = "/api/protocols/{id}/close", params(("id" = i64, Path)),
    responses((status = 200, body = Protocol), (status = 409, body = super::error::ErrorBody,
        description = "Already closed (`conflict`), or rule 4 applies and the protocol has no \
            owner while the closer is no consultant (`owner_required`: assign an owner first)")),
    security(("bearer" = [])))]
pub async fn close(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Protocol>, ApiError> {
    let closer = service::Closer {
        person: &who.person,
        consultant_id: who.consultant_id,
    };
    let (p, _) = service::close_protocol(&st.store, id, closer, &st.completion_categories).await?;
    st.directory_changed();
    Ok(Json(p))
}

/// Opens a closed protocol again: its deadline stays, its close is undone
/// (the weekly report judges the next close against the deadline and
/// counts the reopen), and rule 4's still-planned task is cancelled.
#[utoipa::path(post, path = "/api/protocols/{id}/reopen", params(("id" = i64, Path)),
    responses((status = 200, body = Protocol), (status = 409, body = super::error::ErrorBody,
        description = "The protocol is open")),
    security(("bearer" = [])))]
pub async fn reopen(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Protocol>, ApiError> {
    let p = service::reopen_protocol(&st.store, id, &who.person).await?;
    st.directory_changed();
    Ok(Json(p))
}

/// Edits a protocol's category, subject or deadline (`due_at`, null
/// clears it); each changed field goes to the audit trail.
#[utoipa::path(patch, path = "/api/protocols/{id}", params(("id" = i64, Path)),
    request_body = ProtocolPatch,
    responses((status = 200, body = Protocol), (status = 409, body = super::error::ErrorBody,
        description = "The deadline of a closed protocol does not move: reopen it first")),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(body): ApiJson<ProtocolPatch>,
) -> Result<Json<Protocol>, ApiError> {
    let patch = service::ProtocolPatch {
        category: body.category.as_deref().map(category).transpose()?,
        subject: body
            .subject
            .as_deref()
            .map(|s| text("subject", s, PROTOCOL_SUBJECT_MAX))
            .transpose()?,
        due_at_ms: body.due_at.map(|d| d.map(|d| d.timestamp_millis())),
    };
    let p = service::update_protocol(&st.store, id, patch, &who.person).await?;
    st.directory_changed();
    Ok(Json(p))
}

/// Who changed what of a protocol, when: edits, closes and reopens.
#[utoipa::path(get, path = "/api/protocols/{id}/audit", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>)), security(("bearer" = [])))]
pub async fn audit(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    who.may_see(st.store.get_protocol(id).await?.owner_id)?;
    Ok(Json(st.store.audit_trail("protocol", id).await?))
}
