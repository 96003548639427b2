//! Chat on disk: provider users' chat handles, the conversations a chat
//! bridge reported, the events already applied (so a repeat changes
//! nothing) and the chat contacts they become. Plain rows; what an event
//! means (who attends, when a wait is too long) is `crate::chat`'s, which
//! runs these inside one transaction per event.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Store, StoreError};
use crate::tracking::states::ContactStatus;

type Conn = sqlx::AnyConnection;

/// One conversation as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChatConversation {
    pub id: i64,
    /// The bridge's conversation id.
    pub external_id: String,
    pub handle: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    /// The owner of the provider's open protocol, when there is one.
    pub owner_id: Option<i64>,
    /// Who attends it.
    pub consultant_id: Option<i64>,
    /// owner, duty (the owner could not attend, or there is none) or
    /// nobody (no owner available and nobody on chat duty).
    pub routed_to: String,
    pub contact_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Tz>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_reply_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Tz>>,
    /// When the wait passed `chat.wait_minutes` with no reply.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub alerted_at: Option<DateTime<Tz>>,
    /// The conference scheduled with the owner when the wait was too long.
    pub conference_contact_id: Option<i64>,
}

/// A conversation to record.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub external_id: String,
    pub handle: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub consultant_id: Option<i64>,
    pub routed_to: &'static str,
    pub started_at_ms: i64,
}

/// The chat contact of a new conversation: triggered, inbound, open, rung
/// at the conversation's start.
#[derive(Debug, Clone)]
pub struct NewChatContact {
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub rang_at_ms: i64,
    pub identification: &'static str,
}

const CONVERSATION_COLS: &str = "id, external_id, handle, provider_id, provider_user_id, \
    protocol_id, owner_id, consultant_id, routed_to, contact_id, started_at, first_reply_at, \
    ended_at, alerted_at, conference_contact_id";

/// Sets (or clears) a provider user's chat handle, refusing one another
/// user already has.
pub(crate) async fn set_chat_handle(
    c: &mut Conn,
    user_id: i64,
    handle: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE provider_users SET chat_handle = $1 WHERE id = $2")
        .bind(handle.map(str::to_string))
        .bind(user_id)
        .execute(&mut *c)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "chat handle `{}` already belongs to another user",
                handle.unwrap_or_default()
            )),
            other => other,
        })?;
    Ok(())
}

impl Store {
    fn conversation_from_row(&self, r: &AnyRow) -> Result<ChatConversation, StoreError> {
        Ok(ChatConversation {
            id: get(r, "id")?,
            external_id: get(r, "external_id")?,
            handle: get(r, "handle")?,
            provider_id: get(r, "provider_id")?,
            provider_user_id: get(r, "provider_user_id")?,
            protocol_id: get(r, "protocol_id")?,
            owner_id: get(r, "owner_id")?,
            consultant_id: get(r, "consultant_id")?,
            routed_to: get(r, "routed_to")?,
            contact_id: get(r, "contact_id")?,
            started_at: self.ts(get(r, "started_at")?),
            first_reply_at: self.opt_ts(get(r, "first_reply_at")?),
            ended_at: self.opt_ts(get(r, "ended_at")?),
            alerted_at: self.opt_ts(get(r, "alerted_at")?),
            conference_contact_id: get(r, "conference_contact_id")?,
        })
    }

    /// The provider user with `handle` (already normalised) and their
    /// provider.
    pub async fn user_by_chat_handle(
        &self,
        c: &mut Conn,
        handle: &str,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let r = sqlx::query("SELECT id, provider_id FROM provider_users WHERE chat_handle = $1")
            .bind(handle.to_string())
            .fetch_optional(&mut *c)
            .await?;
        r.map(|r| Ok((get(&r, "id")?, get(&r, "provider_id")?)))
            .transpose()
    }

    /// Notes an event as applied; `false` when the same event (same
    /// conversation, kind and instant) was applied before.
    pub async fn record_chat_event(
        &self,
        c: &mut Conn,
        conversation: &str,
        event: &str,
        at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO chat_events (conversation_id, event, at, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(conversation.to_string())
        .bind(event.to_string())
        .bind(at_ms)
        .bind(now_ms)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn conversation_by_external(
        &self,
        c: &mut Conn,
        external_id: &str,
    ) -> Result<Option<ChatConversation>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLS} FROM chat_conversations WHERE external_id = $1"
        ))
        .bind(external_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| self.conversation_from_row(&r)).transpose()
    }

    /// A conversation as a transaction sees it.
    pub async fn conversation_in(
        &self,
        c: &mut Conn,
        id: i64,
    ) -> Result<Option<ChatConversation>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLS} FROM chat_conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| self.conversation_from_row(&r)).transpose()
    }

    /// The consultant with SIP username `user`, the name a bridge knows
    /// a consultant by.
    pub async fn consultant_id_by_username(&self, user: &str) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query("SELECT id FROM consultants WHERE sip_username = $1")
            .bind(user.to_string())
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| get(&r, "id")).transpose()
    }

    pub async fn get_conversation(&self, id: i64) -> Result<ChatConversation, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLS} FROM chat_conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("chat conversation {id}")))?;
        self.conversation_from_row(&r)
    }

    /// Conversations, newest first: all, or only those not ended (`open`),
    /// of one consultant or everyone's.
    pub async fn list_conversations(
        &self,
        open_only: bool,
        consultant: Option<i64>,
    ) -> Result<Vec<ChatConversation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLS} FROM chat_conversations \
             WHERE ($1 = 0 OR ended_at IS NULL) AND ($2 < 0 OR consultant_id = $3) \
             ORDER BY started_at DESC, id DESC LIMIT 500"
        ))
        .bind(i64::from(open_only))
        .bind(consultant.unwrap_or(-1))
        .bind(consultant.unwrap_or(-1))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| self.conversation_from_row(r)).collect()
    }

    /// Records a conversation and its contact; returns the conversation's id.
    pub async fn insert_conversation(
        &self,
        c: &mut Conn,
        n: &NewConversation,
        k: &NewChatContact,
        now_ms: i64,
    ) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "INSERT INTO contacts (kind, channel, direction, status, consultant_id, provider_id, \
             provider_user_id, protocol_id, rang_at, source, created_at, updated_at, \
             identification) VALUES ('triggered', 'chat', 'inbound', 'open', $1, $2, $3, $4, $5, \
             'chat', $6, $7, $8) RETURNING id",
        )
        .bind(k.consultant_id)
        .bind(k.provider_id)
        .bind(k.provider_user_id)
        .bind(k.protocol_id)
        .bind(k.rang_at_ms)
        .bind(now_ms)
        .bind(now_ms)
        .bind(k.identification)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        let contact: i64 = get(&r, "id")?;
        let r = sqlx::query(
            "INSERT INTO chat_conversations (external_id, handle, provider_id, provider_user_id, \
             protocol_id, owner_id, consultant_id, routed_to, contact_id, started_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(n.external_id.clone())
        .bind(n.handle.clone())
        .bind(n.provider_id)
        .bind(n.provider_user_id)
        .bind(n.protocol_id)
        .bind(n.owner_id)
        .bind(n.consultant_id)
        .bind(n.routed_to)
        .bind(contact)
        .bind(n.started_at_ms)
        .bind(now_ms)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok((get(&r, "id")?, contact))
    }

    /// The first consultant reply: the contact starts, its wait is known.
    /// Only the first one counts (later replies change nothing).
    pub async fn chat_first_reply(
        &self,
        c: &mut Conn,
        conversation: &ChatConversation,
        at_ms: i64,
        consultant: Option<i64>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE chat_conversations SET first_reply_at = $1, \
             consultant_id = COALESCE($2, consultant_id) WHERE id = $3 AND first_reply_at IS NULL",
        )
        .bind(at_ms)
        .bind(consultant)
        .bind(conversation.id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(contact) = conversation.contact_id {
            let wait = at_ms - conversation.started_at.timestamp_millis();
            sqlx::query(
                "UPDATE contacts SET started_at = $1, wait_ms = $2, \
                 consultant_id = COALESCE($3, consultant_id), updated_at = $4 WHERE id = $5",
            )
            .bind(at_ms)
            .bind(wait)
            .bind(consultant)
            .bind(now_ms)
            .bind(contact)
            .execute(&mut *c)
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(true)
    }

    /// The conversation ended: its contact is done (a reply came) or
    /// abandoned (the client left unanswered; its wait is the whole
    /// conversation).
    pub async fn chat_ended(
        &self,
        c: &mut Conn,
        conversation: &ChatConversation,
        at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE chat_conversations SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(at_ms)
        .bind(conversation.id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(contact) = conversation.contact_id {
            let started = conversation.started_at.timestamp_millis();
            let (status, wait) = match conversation.first_reply_at {
                Some(r) => (ContactStatus::Done, r.timestamp_millis() - started),
                None => (ContactStatus::Abandoned, at_ms - started),
            };
            sqlx::query(
                "UPDATE contacts SET ended_at = $1, status = $2, wait_ms = $3, updated_at = $4 \
                 WHERE id = $5",
            )
            .bind(at_ms)
            .bind(status.as_str())
            .bind(wait)
            .bind(now_ms)
            .bind(contact)
            .execute(&mut *c)
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(true)
    }

    /// Conversations still waiting for a first reply that started at or
    /// before `started_by`, not yet alerted.
    pub async fn chats_waiting_since(
        &self,
        c: &mut Conn,
        started_by: i64,
    ) -> Result<Vec<ChatConversation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLS} FROM chat_conversations WHERE ended_at IS NULL \
             AND first_reply_at IS NULL AND alerted_at IS NULL AND started_at <= $1 \
             ORDER BY started_at, id"
        ))
        .bind(started_by)
        .fetch_all(&mut *c)
        .await?;
        rows.iter().map(|r| self.conversation_from_row(r)).collect()
    }

    /// How many conversations wait for a first reply since `started_by`
    /// or earlier (alerted or not).
    pub async fn chats_waiting_over(&self, started_by: i64) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n FROM chat_conversations WHERE ended_at IS NULL \
             AND first_reply_at IS NULL AND started_at <= $1",
        )
        .bind(started_by)
        .fetch_one(self.pool())
        .await?;
        get(&r, "n")
    }

    /// Marks the conversation alerted (once: `false` when it already was)
    /// with the conference scheduled for it.
    pub async fn chat_alerted(
        &self,
        c: &mut Conn,
        id: i64,
        at_ms: i64,
        conference: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE chat_conversations SET alerted_at = $1, conference_contact_id = $2 \
             WHERE id = $3 AND alerted_at IS NULL",
        )
        .bind(at_ms)
        .bind(conference)
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets a contact's "which provider?" state, and its provider when
    /// one was named.
    pub async fn set_identification(
        &self,
        c: &mut Conn,
        contact: i64,
        state: &str,
        provider: Option<i64>,
        provider_user: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE contacts SET identification = $1, provider_id = COALESCE($2, provider_id), \
             provider_user_id = COALESCE($3, provider_user_id), updated_at = $4 WHERE id = $5",
        )
        .bind(state.to_string())
        .bind(provider)
        .bind(provider_user)
        .bind(now_ms)
        .bind(contact)
        .execute(&mut *c)
        .await
        .map_err(|e| match StoreError::classify(e) {
            StoreError::Reference(_) => {
                StoreError::Reference("provider_id or provider_user_id does not exist".into())
            }
            other => other,
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("contact {contact}")));
        }
        Ok(())
    }

    /// Contacts filed in [from, to) (their start, else planned start,
    /// else ring) by "which provider?" state, in the order of the step.
    pub async fn contacts_by_identification(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT identification, COUNT(*) AS n FROM contacts WHERE identification IS NOT NULL \
             AND COALESCE(started_at, planned_start, rang_at) >= $1 \
             AND COALESCE(started_at, planned_start, rang_at) < $2 GROUP BY identification",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((get::<String>(r, "identification")?, get::<i64>(r, "n")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let order = ["unidentified", "identified", "not_client", "client"];
        out.sort_by_key(|(s, _)| order.iter().position(|o| o == s));
        Ok(out)
    }
}
