//! The system of record's door: `POST /api/protocols/events` takes one
//! signed protocol event (see `crate::sync::event` for the format and
//! `http::signed` for the signature), and `GET /api/protocols/events/pending`
//! lists the events kept for a person because they named someone protocall
//! does not know.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::Strict;
use super::error::{ApiError, ApiQuery};
use super::AppState;
use crate::directory::Page;
use crate::sync::{self, Outcome, PendingEvent, ProtocolEvent, SyncError};

/// How long an applied event waits for routing's snapshot to show it.
const SEEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// What became of an event that was taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResult {
    /// `applied`; `duplicate` (this event_id was taken before: nothing
    /// changed); `stale` (older than the last change applied to the
    /// protocol: ignored).
    pub result: String,
    /// The protocol, when applied.
    pub protocol_id: Option<i64>,
    /// Whether applying it created the protocol here.
    pub created: bool,
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Store(s) => s.into(),
            SyncError::Tracking { source, .. } => source.into(),
        }
    }
}

/// Takes one protocol event from the system of record. Idempotent by
/// `event_id`; ordered by `updated_at` (an event older than the last one
/// applied to the protocol is acknowledged as `stale` and ignored). An
/// event naming a provider (by CNPJ) or consultant (by SIP username or
/// e-mail) protocall does not know is answered 422 `unmatched`, kept in
/// `GET /api/protocols/events/pending`, and nothing of it is applied.
#[utoipa::path(post, path = "/api/protocols/events", request_body = ProtocolEvent,
    responses(
        (status = 200, body = EventResult),
        (status = 401, body = super::error::ErrorBody,
            description = "Bad, stale or replayed signature (`bad_signature`)"),
        (status = 422, body = super::error::ErrorBody,
            description = "The event names a provider or consultant protocall does not know, or \
                would close a rule-4 protocol without an owner (`unmatched`: kept as pending, \
                nothing applied); or it is JSON of another shape (`invalid_body`)"),
        (status = 503, body = super::error::ErrorBody,
            description = "No shared secret is configured (`not_configured`), or the database \
                is unavailable")),
    security(("webhook_signature" = [])))]
pub async fn receive(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventResult>, ApiError> {
    let m = &st.metrics.protocol_sync;
    if let Err(e) = st
        .protocol_events
        .verify(&headers, &body, chrono::Utc::now().timestamp())
    {
        m.event("unknown", "bad_signature");
        return Err(e.into());
    }
    let event = match parse(&body) {
        Ok(e) => e,
        Err(e) => {
            m.event("unknown", "invalid");
            return Err(e);
        }
    };
    let kind = event.kind.as_str();
    let change = match event.validate() {
        Ok(c) => c,
        Err(e) => {
            m.event(kind, "invalid");
            return Err(ApiError::field(e.field, e.message));
        }
    };
    let payload = String::from_utf8_lossy(&body);
    let outcome = sync::apply(
        &st.store,
        &st.completion_categories,
        &change,
        &payload,
        sync::WEBHOOK,
    )
    .await?;
    m.event(kind, outcome.label());
    match outcome {
        Outcome::Applied {
            protocol_id,
            created,
        } => {
            // Answer once routing sees the change (a call placed right
            // after rings the new owner); a slow patch does not hold the
            // sender past a second.
            let seq = st.protocol_changes.mark(protocol_id);
            if st.directory.is_some() {
                st.protocol_changes.seen(seq, SEEN_WITHIN).await;
            }
            Ok(Json(EventResult {
                result: "applied".into(),
                protocol_id: Some(protocol_id),
                created,
            }))
        }
        Outcome::Duplicate | Outcome::Stale => Ok(Json(EventResult {
            result: outcome.label().into(),
            protocol_id: None,
            created: false,
        })),
        Outcome::Pending { missing } => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unmatched",
            format!(
                "nothing applied; kept in GET /api/protocols/events/pending. Missing: {}",
                missing.join("; ")
            ),
        )),
    }
}

/// The body read with the same rules as every JSON body of the API.
fn parse(body: &[u8]) -> Result<ProtocolEvent, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        )
    })?;
    serde_path_to_error::deserialize(Strict(v)).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        )
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PendingParams {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Events kept because they named a provider or consultant protocall does
/// not know (or would close a rule-4 protocol without an owner), oldest
/// first, with what is missing. Add what is missing; the system of
/// record's next event or pull for the protocol applies, and settles them.
#[utoipa::path(get, path = "/api/protocols/events/pending", params(PendingParams),
    responses((status = 200, body = Page<PendingEvent>)), security(("bearer" = [])))]
pub async fn pending(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<PendingParams>,
) -> Result<Json<Page<PendingEvent>>, ApiError> {
    Ok(Json(
        st.store
            .pending_events(p.limit.unwrap_or(0), p.offset.unwrap_or(0))
            .await?,
    ))
}
