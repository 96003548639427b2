//! The chat channel's routes: the bridge's signed webhook
//! (`POST /api/chat/events`), the conversations (`GET
//! /api/chat/conversations`, `…/{id}`), and the "which provider?" answer
//! on a contact (`POST /api/contacts/{id}/identify`). The rules are
//! `crate::chat`'s; this checks signatures and rights and maps errors.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, Id};
use super::rights::Principal;
use super::signed::Verifier;
use super::AppState;
use crate::chat::identify::{self, IdentifyBody};
use crate::chat::sweep::WaitRule;
use crate::chat::{self, Availability, ChatError, ChatEventBody, ChatRules, EventOutcome};
use crate::store::{ChatConversation, Contact};

/// The chat channel's part of the shared state.
#[derive(Debug)]
pub struct ChatDesk {
    pub verifier: Verifier,
    pub wait: WaitRule,
    /// An event may be dated this far ahead of our clock (the signature's
    /// tolerance: the bridge's clock may run that far ahead).
    pub future_tolerance_ms: i64,
}

impl ChatDesk {
    pub fn from_settings(s: &crate::config::ChatSettings) -> ChatDesk {
        ChatDesk {
            verifier: Verifier::new(s.secret().as_deref(), s.signature_tolerance_secs),
            wait: WaitRule::from_settings(s),
            future_tolerance_ms: s.signature_tolerance_secs.saturating_mul(1000),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Store(s) => s.into(),
            ChatError::Invalid { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string())
            }
            ChatError::State { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
        }
    }
}

/// A signed body, read with the same rules as every other JSON body
/// (`ApiJson`): malformed JSON is a 400, another shape a 422.
fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string()))?;
    serde_path_to_error::deserialize(super::body::Strict(v)).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("Failed to deserialize the JSON body into the target type: {e}"),
        )
    })
}

/// An event from the chat bridge: a conversation started, a message, the
/// end. Signed with `chat.webhook_secret`; the same event (conversation,
/// kind and `at`) posted twice changes nothing the second time
/// (`result: duplicate`). The client is never written to from here: a
/// bridge learns what to tell them from the conversation it gets back.
#[utoipa::path(post, path = "/api/chat/events", request_body = ChatEventBody,
    params(
        ("X-Protocall-Timestamp" = String, Header, description = "Unix seconds when the request was signed"),
        ("X-Protocall-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256(secret, \"<timestamp>.<raw body>\")>"),
    ),
    responses(
        (status = 200, body = EventOutcome),
        (status = 401, description = "Bad, stale or replayed signature; nothing was changed", body = super::error::ErrorBody),
        (status = 503, description = "No shared secret is configured (chat.webhook_secret), or the database is unavailable", body = super::error::ErrorBody),
    ),
    security(("webhook_signature" = [])))]
pub async fn events(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<EventOutcome>, ApiError> {
    let now = chrono::Utc::now();
    let m = &st.metrics.chat;
    if let Err(e) = st.chat.verifier.verify(&headers, &body, now.timestamp()) {
        m.event("invalid", "refused");
        return Err(e.into());
    }
    let b: ChatEventBody = parse(&body).inspect_err(|_| m.event("invalid", "refused"))?;
    let planner = st.planner();
    let rules = ChatRules {
        availability: Availability {
            in_call: &st.in_call,
            planner: Some(&planner),
        },
        future_tolerance_ms: st.chat.future_tolerance_ms,
    };
    match chat::apply(&st.store, rules, &b, now).await {
        Ok(out) => {
            m.event(b.event.as_str(), &out.result);
            Ok(Json(out))
        }
        Err(e) => {
            m.event(b.event.as_str(), "refused");
            Err(e.into())
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversationParams {
    /// Only conversations not ended yet.
    pub open: Option<bool>,
    /// One consultant's (managers; a consultant always sees their own).
    pub consultant_id: Option<i64>,
}

/// Chat conversations, newest first (at most 500): a consultant's own,
/// or anyone's for managers. `open=true`: those still going on, with the
/// ones waiting for a reply (`first_reply_at` null) to attend first.
#[utoipa::path(get, path = "/api/chat/conversations", params(ConversationParams),
    responses((status = 200, body = [ChatConversation])), security(("bearer" = [])))]
pub async fn conversations(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(p): ApiQuery<ConversationParams>,
) -> Result<Json<Vec<ChatConversation>>, ApiError> {
    let consultant = who.scope(p.consultant_id)?;
    Ok(Json(
        st.store
            .list_conversations(p.open.unwrap_or(false), consultant)
            .await?,
    ))
}

/// One conversation: who attends it, whether it waited too long
/// (`alerted_at`) and the conference scheduled for it.
#[utoipa::path(get, path = "/api/chat/conversations/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = ChatConversation)), security(("bearer" = [])))]
pub async fn conversation(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
) -> Result<Json<ChatConversation>, ApiError> {
    let c = st.store.get_conversation(id).await?;
    who.may_see(c.consultant_id)?;
    Ok(Json(c))
}

/// The answer to "which provider?" for a contact from someone unknown:
/// not a client, or a client of a provider (and person). Audited.
#[utoipa::path(post, path = "/api/contacts/{id}/identify", params(("id" = i64, Path)),
    request_body = IdentifyBody, responses((status = 200, body = Contact)),
    security(("bearer" = [])))]
pub async fn identify(
    State(st): State<AppState>,
    who: Principal,
    Id(id): Id,
    ApiJson(b): ApiJson<IdentifyBody>,
) -> Result<Json<Contact>, ApiError> {
    let c = st.store.get_contact(id).await?;
    who.may_see(c.consultant_id)?;
    Ok(Json(
        identify::identify(&st.store, &c, &b, &who.person).await?,
    ))
}
