//! The duty roster's routes: `GET`/`PUT /api/duty`, its exceptions, and
//! `GET /api/duty/now` (who is on chat or e-mail duty this minute). The
//! rules are `crate::tracking::duty`'s; this maps them to HTTP.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::AppState;
use crate::tracking::duty::{
    self, DutyChannel, DutyError, DutyException, DutySlot, NewDutyException, OnDuty, Roster,
    RosterBody,
};

impl From<DutyError> for ApiError {
    fn from(e: DutyError) -> Self {
        match e {
            DutyError::Store(s) => s.into(),
            DutyError::Invalid { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string())
            }
            DutyError::Overlap { .. } => {
                ApiError::new(StatusCode::CONFLICT, "overlap", e.to_string())
            }
        }
    }
}

/// The weekly roster and the exceptions from today on.
#[utoipa::path(get, path = "/api/duty", responses((status = 200, body = Roster)),
    security(("bearer" = [])))]
pub async fn get_roster(State(st): State<AppState>) -> Result<Json<Roster>, ApiError> {
    let today = chrono::Utc::now()
        .with_timezone(&st.store.tz())
        .date_naive();
    Ok(Json(duty::roster(&st.store, today).await?))
}

/// Replaces the whole weekly roster, all or nothing: two slots of one
/// channel at the same time on one weekday are refused (409, naming both).
#[utoipa::path(put, path = "/api/duty", request_body = RosterBody,
    responses((status = 200, body = [DutySlot]), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_roster(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<RosterBody>,
) -> Result<Json<Vec<DutySlot>>, ApiError> {
    Ok(Json(
        duty::replace_roster(&st.store, &b.slots, &who.person).await?,
    ))
}

/// An exception for one date: someone else on duty, or nobody.
#[utoipa::path(post, path = "/api/duty/exceptions", request_body = NewDutyException,
    responses((status = 201, body = DutyException)), security(("bearer" = [])))]
pub async fn add_exception(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewDutyException>,
) -> Result<(StatusCode, Json<DutyException>), ApiError> {
    let x = duty::add_exception(&st.store, &b, &who.person).await?;
    Ok((StatusCode::CREATED, Json(x)))
}

#[utoipa::path(delete, path = "/api/duty/exceptions/{id}", params(("id" = i64, Path)),
    responses((status = 204)), security(("bearer" = [])))]
pub async fn delete_exception(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<StatusCode, ApiError> {
    duty::remove_exception(&st.store, id, &who.person).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NowParams {
    /// chat or email.
    pub channel: DutyChannel,
}

/// Who is on duty on the channel now.
#[utoipa::path(get, path = "/api/duty/now", params(NowParams),
    responses((status = 200, body = OnDuty)), security(("bearer" = [])))]
pub async fn now(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<NowParams>,
) -> Result<Json<OnDuty>, ApiError> {
    Ok(Json(
        duty::who_is_on_duty(&st.store, p.channel, chrono::Utc::now()).await?,
    ))
}
