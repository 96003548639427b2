//! The mail intake over HTTP, for managers: the threads whose sender
//! matched no provider (`GET /api/mail/unmatched`), a person's decision on
//! one (`POST /api/mail/threads/{id}/match`: a client of a provider, or
//! not a client; the thread and its contact change together, audited),
//! and the replies flagged for a missing team copy or protocol number
//! (`GET /api/mail/flagged`, by week or instants, for the weekly count).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::AppState;
use crate::directory::Page;
use crate::store::{FlaggedReply, MailMatch, MailThread, StoreError};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FlaggedParams {
    /// Replies sent in this ISO week, in the desk's time zone (with
    /// from/to too: the part of the week they leave).
    #[param(schema_with = crate::http::schema::iso_week)]
    pub week: Option<String>,
    /// Replies sent at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<DateTime<FixedOffset>>,
    /// Replies sent before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<DateTime<FixedOffset>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A decision on an unmatched thread: `{"provider_id": …,
/// "provider_user_id": …, "protocol_id": …}` for a client, or
/// `{"not_client": true}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub not_client: Option<bool>,
}

impl MatchBody {
    fn decision(self) -> Result<MailMatch, ApiError> {
        let any_ref = self.provider_id.is_some()
            || self.provider_user_id.is_some()
            || self.protocol_id.is_some();
        match (self.not_client, self.provider_id) {
            (Some(true), _) if any_ref => Err(ApiError::new(
                StatusCode::CONFLICT,
                "contradiction",
                "not_client: a thread that is not a client's names no provider, user or protocol",
            )),
            (Some(true), _) => Ok(MailMatch::NotClient),
            (_, Some(provider_id)) => Ok(MailMatch::Client {
                provider_id,
                provider_user_id: self.provider_user_id,
                protocol_id: self.protocol_id,
            }),
            (_, None) => Err(ApiError::field(
                "provider_id",
                "required (or {\"not_client\": true})",
            )),
        }
    }
}

/// Threads from senders no provider user's address (or domain) matched,
/// not yet decided on, oldest first.
#[utoipa::path(get, path = "/api/mail/unmatched", params(PageParams),
    responses((status = 200, body = Page<MailThread>)), security(("bearer" = [])))]
pub async fn unmatched(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<MailThread>>, ApiError> {
    Ok(Json(
        st.store
            .unmatched_mail_threads(p.limit.unwrap_or(0), p.offset.unwrap_or(0))
            .await?,
    ))
}

/// Matches a thread to a provider (identification `client`; the user and
/// protocol, when given, must be the provider's) or marks it `not_client`;
/// its contact follows in the same transaction, audited under the caller.
#[utoipa::path(post, path = "/api/mail/threads/{id}/match", params(("id" = i64, Path)),
    request_body = MatchBody,
    responses((status = 200, body = MailThread),
        (status = 409, body = super::error::ErrorBody,
            description = "not_client together with a provider, user or protocol"),
        (status = 422, body = super::error::ErrorBody,
            description = "provider_id, provider_user_id or protocol_id names nothing stored, \
                or a user or protocol of another provider")),
    security(("bearer" = [])))]
pub async fn match_thread(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(body): ApiJson<MatchBody>,
) -> Result<Json<MailThread>, ApiError> {
    let decision = body.decision()?;
    match st.store.match_mail_thread(id, &decision, &who.person).await {
        Ok(t) => Ok(Json(t)),
        Err(StoreError::Reference(what)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reference",
            what,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Replies flagged for a missing team copy or protocol number, oldest
/// first.
#[utoipa::path(get, path = "/api/mail/flagged", params(FlaggedParams),
    responses((status = 200, body = Page<FlaggedReply>)), security(("bearer" = [])))]
pub async fn flagged(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<FlaggedParams>,
) -> Result<Json<Page<FlaggedReply>>, ApiError> {
    let mut from = p.from.map(|t| t.timestamp_millis());
    let mut to = p.to.map(|t| t.timestamp_millis());
    if let Some(w) = &p.week {
        use crate::tracking::schedule::{iso_week_bounds, parse_iso_week};
        let (y, n) = parse_iso_week(w).map_err(|e| ApiError::field("week", e))?;
        let (s, e) = iso_week_bounds(y, n, st.report_defaults.planner.tz)
            .map_err(|e| ApiError::field("week", e))?;
        // With from/to as well: the part of the week they leave.
        from = Some(from.map_or(s.timestamp_millis(), |f| f.max(s.timestamp_millis())));
        to = Some(to.map_or(e.timestamp_millis(), |t| t.min(e.timestamp_millis())));
    }
    Ok(Json(
        st.store
            .flagged_mail_replies(from, to, p.limit.unwrap_or(0), p.offset.unwrap_or(0))
            .await?,
    ))
}
