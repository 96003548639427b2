//! The chat channel: events a chat platform's bridge posts (a
//! conversation started, a message, the end) become one triggered chat
//! contact per conversation, attended by the protocol's owner or the
//! consultant on chat duty (`route`), timed from the first consultant
//! reply to the end; a chat waiting too long for that reply raises an
//! alert and gets a conference scheduled (`sweep`).
//!
//! Each event is applied in one transaction together with the note that
//! it was applied, so the same event posted twice (a bridge's retry, a
//! replay after a restart) changes nothing, and a refused one changes
//! nothing either.

pub mod identify;
pub mod route;
pub mod sweep;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::directory::handle::normalize_handle;
use crate::directory::FieldError;
use crate::store::{ChatConversation, NewChatContact, NewConversation, Store, StoreError};
use crate::tracking::duty::DutyError;
use crate::tracking::service::TrackingError;
pub use route::{attendant, Availability, Routed};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Well-formed, but at odds with what is stored (a reply before the
    /// start, an end of a conversation never started, an unknown
    /// consultant).
    #[error("{field}: {message}")]
    State { field: String, message: String },
}

impl From<DutyError> for ChatError {
    fn from(e: DutyError) -> Self {
        match e {
            DutyError::Store(s) => ChatError::Store(s),
            DutyError::Invalid { field, message } | DutyError::Overlap { field, message } => {
                ChatError::State { field, message }
            }
        }
    }
}

impl From<TrackingError> for ChatError {
    fn from(e: TrackingError) -> Self {
        match e {
            TrackingError::Store(s) => ChatError::Store(s),
            other => ChatError::State {
                field: "working_hours".into(),
                message: other.to_string(),
            },
        }
    }
}

impl From<FieldError> for ChatError {
    fn from(e: FieldError) -> Self {
        ChatError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ChatError {
    ChatError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

fn state(field: &str, message: impl Into<String>) -> ChatError {
    ChatError::State {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Started,
    Message,
    Ended,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Message => "message",
            EventKind::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    Client,
    Consultant,
}

/// One event from the chat bridge.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatEventBody {
    pub event: EventKind,
    /// The bridge's id of the conversation (unique per conversation).
    #[schema(min_length = 1, max_length = 200)]
    pub conversation_id: String,
    /// The client's handle on the chat platform (matched, without regard
    /// to case, to a provider user's `chat_handle`).
    #[schema(min_length = 1, max_length = 128)]
    pub handle: String,
    /// When it happened (RFC 3339); absent: when it was received.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<DateTime<FixedOffset>>,
    /// Who wrote a message (required for `message`).
    #[serde(default)]
    pub from: Option<Sender>,
    /// The consultant's SIP username, when a consultant wrote.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub consultant: Option<String>,
}

/// What became of an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventOutcome {
    /// applied; duplicate (this event was applied before: nothing
    /// changed); ignored (valid, but nothing to change: a second start, a
    /// later reply, a second end).
    pub result: String,
    pub conversation: ChatConversation,
}

/// What the bridge's events need besides the store.
#[derive(Clone, Copy)]
pub struct ChatRules<'a> {
    pub availability: Availability<'a>,
    /// Events dated this far in the future are refused (clock skew).
    pub future_tolerance_ms: i64,
}

/// Applies one event received at `now`.
pub async fn apply(
    store: &Store,
    rules: ChatRules<'_>,
    body: &ChatEventBody,
    now: DateTime<Utc>,
) -> Result<EventOutcome, ChatError> {
    let ext = body.conversation_id.trim();
    if ext.is_empty() || ext.chars().count() > 200 || ext.chars().any(char::is_control) {
        return Err(invalid(
            "conversation_id",
            "1 to 200 characters, no control characters",
        ));
    }
    let handle = normalize_handle("handle", Some(&body.handle))?
        .ok_or_else(|| invalid("handle", "must not be empty"))?;
    let at = body.at.map_or(now, |t| t.with_timezone(&Utc));
    let at_ms = at.timestamp_millis();
    if at_ms > now.timestamp_millis() + rules.future_tolerance_ms {
        return Err(invalid("at", "is in the future"));
    }
    let now_ms = now.timestamp_millis();
    let from = match (body.event, body.from) {
        (EventKind::Message, None) => return Err(invalid("from", "client or consultant")),
        (_, f) => f,
    };
    // Resolved before the transaction: routing reads the directory.
    let existing = {
        let mut c = store.pool().acquire().await.map_err(StoreError::from)?;
        store.conversation_by_external(&mut c, ext).await?
    };
    let routed = match (&existing, body.event) {
        (None, EventKind::Started | EventKind::Message) => {
            let mut c = store.pool().acquire().await.map_err(StoreError::from)?;
            let user = store.user_by_chat_handle(&mut c, &handle).await?;
            drop(c);
            let r = attendant(store, rules.availability, user.map(|u| u.1), at).await?;
            Some((user, r))
        }
        _ => None,
    };
    let consultant = match (from, body.consultant.as_deref().map(str::trim)) {
        (Some(Sender::Consultant), Some(u)) if !u.is_empty() => {
            Some(store.consultant_id_by_username(u).await?.ok_or_else(|| {
                state(
                    "consultant",
                    format!("no consultant has SIP username `{u}`"),
                )
            })?)
        }
        _ => None,
    };
    let mut tx = store.begin().await?;
    if !store
        .record_chat_event(&mut tx, ext, body.event.as_str(), at_ms, now_ms)
        .await?
    {
        drop(tx);
        let conversation = existing.ok_or_else(|| state("conversation_id", "unknown"))?;
        return Ok(EventOutcome {
            result: "duplicate".into(),
            conversation,
        });
    }
    let mut applied = false;
    let conversation = match existing {
        Some(c) => c,
        None => {
            let Some((user, r)) = routed else {
                return Err(state(
                    "conversation_id",
                    format!("conversation `{ext}` was never started"),
                ));
            };
            let (id, _) = store
                .insert_conversation(
                    &mut tx,
                    &NewConversation {
                        external_id: ext.to_string(),
                        handle: handle.clone(),
                        provider_id: user.map(|u| u.1),
                        provider_user_id: user.map(|u| u.0),
                        protocol_id: r.protocol_id,
                        owner_id: r.owner_id,
                        consultant_id: r.consultant_id,
                        routed_to: r.routed_to,
                        started_at_ms: at_ms,
                    },
                    &NewChatContact {
                        consultant_id: r.consultant_id,
                        provider_id: user.map(|u| u.1),
                        provider_user_id: user.map(|u| u.0),
                        protocol_id: r.protocol_id,
                        rang_at_ms: at_ms,
                        identification: if user.is_some() {
                            "identified"
                        } else {
                            "unidentified"
                        },
                    },
                    now_ms,
                )
                .await?;
            applied = true;
            let c = store
                .conversation_in(&mut tx, id)
                .await?
                .ok_or_else(|| state("conversation_id", "vanished"))?;
            audit(store, &mut tx, &c, "started_at", at_ms).await?;
            c
        }
    };
    match (body.event, from) {
        (EventKind::Message, Some(Sender::Consultant)) => {
            if at_ms < conversation.started_at.timestamp_millis() {
                return Err(state("at", "a reply before the conversation started"));
            }
            if conversation.ended_at.is_none()
                && store
                    .chat_first_reply(&mut tx, &conversation, at_ms, consultant, now_ms)
                    .await?
            {
                applied = true;
                audit(store, &mut tx, &conversation, "first_reply_at", at_ms).await?;
            }
        }
        (EventKind::Ended, _) => {
            if at_ms < conversation.started_at.timestamp_millis() {
                return Err(state("at", "an end before the conversation started"));
            }
            if store
                .chat_ended(&mut tx, &conversation, at_ms, now_ms)
                .await?
            {
                applied = true;
                audit(store, &mut tx, &conversation, "ended_at", at_ms).await?;
            }
        }
        _ => {}
    }
    let id = conversation.id;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(EventOutcome {
        result: if applied { "applied" } else { "ignored" }.into(),
        conversation: store.get_conversation(id).await?,
    })
}

/// An event's change on the conversation's contact, in the audit trail
/// under the bridge.
async fn audit(
    store: &Store,
    c: &mut sqlx::AnyConnection,
    conversation: &ChatConversation,
    field: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    let Some(contact) = conversation.contact_id else {
        return Ok(());
    };
    let shown = DateTime::from_timestamp_millis(at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    store
        .audit(c, "contact", contact, field, None, shown, "chat-bridge")
        .await
}
