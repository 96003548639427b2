//! The call log and call-backs, read side: `GET /api/calls`,
//! `GET /api/calls/{id}` (numeric id or Call-ID) and the call-backs owed
//! by protocol owners.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Id};
use super::rights::Principal;
use super::schema::words;
use super::AppState;
use crate::directory::Page;
use crate::store::{AuditEntry, CallQuery, Callback, CallbackQuery, StoredCall};
use crate::tracking::service::{self, CallbackChange};

/// One call as the log explains it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Call {
    pub id: i64,
    pub call_id: String,
    /// inbound, outbound or internal.
    pub direction: String,
    pub from: String,
    pub to: String,
    /// The other party's number (E.164 when it could be normalised).
    pub caller_number: Option<String>,
    /// consulting, not_consulting, unknown or anonymous.
    pub caller_class: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    /// Who answered (inbound) or placed the call (outbound, internal).
    pub consultant_id: Option<i64>,
    pub consultant: Option<String>,
    /// The dialplan rule that matched (`direct`, `outbound` for calls
    /// that did not go through the dialplan).
    pub rule: String,
    /// owner, team, ura, uri or rejected: the step that answered, or the
    /// last one tried.
    pub route: String,
    /// answered, busy, no_answer, cancelled or failed; absent while the
    /// call is still ringing.
    pub outcome: Option<String>,
    pub final_code: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<chrono_tz::Tz>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ringing_at: Option<DateTime<chrono_tz::Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<DateTime<chrono_tz::Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<chrono_tz::Tz>>,
    /// caller or callee.
    pub ended_by: Option<String>,
    /// Milliseconds from the INVITE to the answer, and of talk.
    pub wait_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    /// The plan as carried out: each step with the phones it rang and the
    /// consultants it skipped (and why); every branch with its result.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

fn call(st: &AppState, c: StoredCall) -> Call {
    let r = c.row;
    let wait_ms = r.answered_at_ms.map(|a| a - r.started_at_ms);
    let talk_ms = match (r.answered_at_ms, r.ended_at_ms) {
        (Some(a), Some(e)) => Some(e - a),
        _ => None,
    };
    Call {
        id: c.id,
        call_id: r.call_id,
        direction: r.direction,
        from: r.from_uri,
        to: r.to_uri,
        caller_number: r.caller_number,
        caller_class: r.caller_class,
        provider_id: r.provider_id,
        provider_user_id: r.provider_user_id,
        protocol_id: r.protocol_id,
        consultant_id: r.consultant_id,
        consultant: r.consultant,
        rule: r.rule,
        route: r.route,
        outcome: r.outcome,
        final_code: r.final_code,
        started_at: st.store.ts(r.started_at_ms),
        ringing_at: st.store.opt_ts(r.ringing_at_ms),
        answered_at: st.store.opt_ts(r.answered_at_ms),
        ended_at: st.store.opt_ts(r.ended_at_ms),
        ended_by: r.ended_by,
        wait_ms,
        talk_ms,
        detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallListParams {
    pub call_id: Option<String>,
    #[param(schema_with = crate::http::schema::call_directions::required)]
    pub direction: Option<String>,
    #[param(schema_with = crate::http::schema::call_outcomes::required)]
    pub outcome: Option<String>,
    #[param(schema_with = crate::http::schema::call_routes::required)]
    pub route: Option<String>,
    pub provider_id: Option<i64>,
    pub consultant_id: Option<i64>,
    /// Calls started at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<DateTime<FixedOffset>>,
    /// Calls started before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<DateTime<FixedOffset>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The call log, newest first.
#[utoipa::path(get, path = "/api/calls", params(CallListParams),
    responses((status = 200, body = Page<Call>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<CallListParams>,
) -> Result<Json<Page<Call>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    ApiError::one_of("direction", p.direction.as_deref(), words::CALL_DIRECTIONS)?;
    ApiError::one_of("outcome", p.outcome.as_deref(), words::CALL_OUTCOMES)?;
    ApiError::one_of("route", p.route.as_deref(), words::CALL_ROUTES)?;
    let q = CallQuery {
        call_id: p.call_id,
        direction: p.direction,
        outcome: p.outcome,
        route: p.route,
        provider_id: p.provider_id,
        consultant_id,
        from_ms: p.from.map(|t| t.timestamp_millis()),
        to_ms: p.to.map(|t| t.timestamp_millis()),
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    let page = st.store.list_calls(&q).await?;
    Ok(Json(Page {
        items: page.items.into_iter().map(|c| call(&st, c)).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One call, by its numeric id or its SIP Call-ID.
#[utoipa::path(get, path = "/api/calls/{id}", params(("id" = String, Path)),
    responses((status = 200, body = Call), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Call>, ApiError> {
    let c = st.store.get_call(&id).await?;
    who.may_see(c.row.consultant_id)?;
    Ok(Json(call(&st, c)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallbackListParams {
    pub consultant_id: Option<i64>,
    #[param(schema_with = crate::http::schema::callback_statuses::required)]
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Call-backs owed, soonest due first.
#[utoipa::path(get, path = "/api/callbacks", params(CallbackListParams),
    responses((status = 200, body = Page<Callback>)), security(("bearer" = [])))]
pub async fn list_callbacks(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<CallbackListParams>,
) -> Result<Json<Page<Callback>>, ApiError> {
    let consultant_id = who.scope(p.consultant_id)?;
    ApiError::one_of("status", p.status.as_deref(), words::CALLBACK_STATUSES)?;
    let q = CallbackQuery {
        consultant_id,
        status: p.status,
        limit: p.limit.unwrap_or(0),
        offset: p.offset.unwrap_or(0),
    };
    Ok(Json(st.store.list_callbacks(&q).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCallbackStatus {
    /// done (with `started_at` and `ended_at`: the conversation's real
    /// times), cancelled, or pending again. The call-back's scheduled
    /// contact moves with it.
    #[schema(schema_with = crate::http::schema::callback_statuses::required)]
    pub status: String,
    /// When the conversation began (RFC 3339); only with `done`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<FixedOffset>>,
    /// When it ended (RFC 3339); only with `done`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<FixedOffset>>,
}

/// Marks a call-back done (the owner called back: the conversation's real
/// start and end are required, rule 3), cancelled, or pending again; its
/// scheduled contact moves with it, in one transaction, and both changes
/// go to the audit trail. A call-back an answered call closed keeps that
/// call's times (409 for done again).
#[utoipa::path(put, path = "/api/callbacks/{id}/status", params(("id" = i64, Path)),
    request_body = SetCallbackStatus,
    responses((status = 200, body = Callback),
        (status = 400, description = "An unknown status, done without both times, or times \
            with another status", body = super::error::ErrorBody),
        (status = 409, description = "The times contradict each other or the clock, overlap \
            another contact, the contact's timer runs (cancelled), or a call closed it (done)",
            body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_callback_status(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(body): ApiJson<SetCallbackStatus>,
) -> Result<Json<Callback>, ApiError> {
    who.may_act_for(st.store.get_callback(id).await?.consultant_id)?;
    ApiError::one_of(
        "status",
        Some(body.status.as_str()),
        words::CALLBACK_STATUSES,
    )?;
    let change = CallbackChange {
        status: body.status,
        started_at_ms: body.started_at.map(|t| t.timestamp_millis()),
        ended_at_ms: body.ended_at.map(|t| t.timestamp_millis()),
    };
    Ok(Json(
        service::set_callback_status(&st.store, id, change, &who.person).await?,
    ))
}

/// The audit trail of a call-back: who changed its status, when, and the
/// call that closed it.
#[utoipa::path(get, path = "/api/callbacks/{id}/audit", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>)), security(("bearer" = [])))]
pub async fn callback_audit(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    who.may_act_for(st.store.get_callback(id).await?.consultant_id)?;
    Ok(Json(st.store.audit_trail("callback", id).await?))
}
