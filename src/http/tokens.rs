//! Tokens over HTTP: the admin lists, creates and revokes API tokens; a
//! consultant's calendar-feed token is issued by an admin, a manager or the
//! consultant. Secrets leave once, in the creating response; hashes never.
//! Creating and revoking go through [`issue`] and [`withdraw`], shared with
//! the console's admin pages, so both are audited under the person.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiJson, Id};
use super::rights::Principal;
use super::AppState;
use crate::directory::Role;
use crate::store::{NewToken, StoreError, TokenInfo};

#[utoipa::path(get, path = "/api/tokens",
    responses((status = 200, body = Vec<TokenInfo>, description = "Every token, revoked and expired ones included; never a secret or a hash")),
    security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(st.store.list_tokens().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// 1 to 100 printable characters, unique among live tokens.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub role: Role,
    /// The consultant whose rights the token carries; required for
    /// consultant and manager tokens, whose role may not exceed theirs.
    pub consultant_id: Option<i64>,
    /// When it stops working (RFC 3339, in the future); absent: never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<FixedOffset>>,
}

/// A token just made: `token` is the secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub info: TokenInfo,
}

#[utoipa::path(post, path = "/api/tokens", request_body = NewTokenBody,
    responses((status = 201, body = CreatedToken),
              (status = 409, body = super::error::ErrorBody, description = "A live token has that name"),
              (status = 422, body = super::error::ErrorBody, description = "No owner for a consultant or manager token, a role above the owner's, an unknown owner or a past expiry")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let new = NewToken {
        name: b.name,
        role: b.role,
        consultant_id: b.consultant_id,
        expires_at_ms: b.expires_at.map(|t| t.timestamp_millis()),
    };
    let (info, token) = issue(&st, &who, &new).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, info })))
}

/// Makes an API token as `who` (audited under their name) and returns it
/// with its secret, the one time the secret exists outside its holder.
pub async fn issue(
    st: &AppState,
    who: &Principal,
    new: &NewToken,
) -> Result<(TokenInfo, String), StoreError> {
    st.store.create_api_token(new, &who.person).await
}

/// Revokes a token: it answers 401 from now on and stays in the list.
#[utoipa::path(delete, path = "/api/tokens/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = TokenInfo), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(withdraw(&st, &who, id).await?))
}

/// Revokes token `id` as `who`, audited under their name.
pub async fn withdraw(st: &AppState, who: &Principal, id: i64) -> Result<TokenInfo, StoreError> {
    st.store.revoke_token(id, &who.person).await
}

/// A feed token just made, with the URL path calendar apps subscribe to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedFeed {
    pub token: String,
    /// `/api/consultants/{id}/calendar.ics?token=…`, to put after the
    /// daemon's address.
    pub path: String,
    pub info: TokenInfo,
}

/// Issues the consultant's calendar-feed token (read-only, that feed only)
/// and revokes the one they had.
#[utoipa::path(post, path = "/api/consultants/{id}/feed-token", params(("id" = i64, Path)),
    responses((status = 201, body = CreatedFeed), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn feed(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<(StatusCode, Json<CreatedFeed>), ApiError> {
    who.may_act_for(id)?;
    let (info, token) = st.store.create_feed_token(id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedFeed {
            path: feed_path(id, &token),
            token,
            info,
        }),
    ))
}

pub fn feed_path(consultant_id: i64, token: &str) -> String {
    format!("/api/consultants/{consultant_id}/calendar.ics?token={token}")
}
