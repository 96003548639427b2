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
use crate::store::tokens::FEED_NAME_PREFIX;
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
    /// 1 to 100 printable characters, unique among live tokens (409),
    /// not starting with `feed:` (the feed tokens' names).
    #[schema(schema_with = token_name)]
    pub name: String,
    pub role: Role,
    /// The consultant whose rights the token carries; required for
    /// consultant and manager tokens, whose role may not exceed theirs
    /// (409 when it does, or when the consultant does not exist).
    pub consultant_id: Option<i64>,
    /// When it stops working (RFC 3339; 409 unless in the future);
    /// absent: never.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<FixedOffset>>,
}

const NAME_MAX: usize = 100;

fn token_name() -> utoipa::openapi::schema::Object {
    use super::schema::{CONTROL, WHITESPACE};
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(NAME_MAX))
        .pattern(Some(format!(
            r"^(?![{WHITESPACE}]*{FEED_NAME_PREFIX})(?![\s\S]*[{CONTROL}])(?=[\s\S]*[^{WHITESPACE}{CONTROL}])"
        )))
        .build()
}

/// The rules the document states for a new token, checked before the
/// store's own (which answer for what is stored: 409).
fn check_new_token(b: &NewTokenBody) -> Result<(), ApiError> {
    if b.name.chars().count() > NAME_MAX
        || !super::schema::is_printable(&b.name)
        || b.name.trim().starts_with(FEED_NAME_PREFIX)
    {
        return Err(ApiError::field(
            "name",
            format!("1 to {NAME_MAX} printable characters, not starting with `{FEED_NAME_PREFIX}`"),
        ));
    }
    if b.consultant_id.is_none() && b.role != Role::Admin {
        return Err(ApiError::field(
            "consultant_id",
            format!(
                "a {} token needs an owner; only admin tokens may be ownerless",
                b.role
            ),
        ));
    }
    Ok(())
}

/// A token just made: `token` is the secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: String,
    pub info: TokenInfo,
}

#[utoipa::path(post, path = "/api/tokens", request_body = NewTokenBody,
    responses((status = 201, body = CreatedToken),
              (status = 400, body = super::error::ErrorBody, description = "A field breaks the schema, or a consultant or manager token has no owner"),
              (status = 409, body = super::error::ErrorBody, description = "A live token has that name, the owner does not exist or has a lower role, or the expiry is not in the future")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewTokenBody>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    check_new_token(&b)?;
    let new = NewToken {
        name: b.name,
        role: b.role,
        consultant_id: b.consultant_id,
        expires_at_ms: b.expires_at.map(|t| t.timestamp_millis()),
    };
    let (info, token) = issue(&st, &who, &new).await.map_err(|e| match e {
        // What is left for the store to refuse is the clock (an expiry
        // already past) and the owner (a role above theirs).
        StoreError::Constraint(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
        other => other.into(),
    })?;
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
