//! The 10-minute rule: a client may be asked to wait a moment, at most
//! `chat.wait_minutes`. A chat past that without a consultant's reply is
//! alerted once and gets a conference (a scheduled chat contact) with the
//! protocol's owner (the attendant when there is no owner), so the client
//! is called back instead of left waiting.
//!
//! [`sweep`] takes `now` so tests move the clock; the daemon runs it
//! every few seconds. It posts nothing to the client: the bridge reads
//! the conversation (`GET /api/chat/conversations/{id}`) and tells them.

use chrono::{DateTime, Utc};

use super::ChatError;
use crate::store::{ChatConversation, ContactRecord, Store, StoreError};
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus,
};

/// The rule's two numbers, from `[chat]`.
#[derive(Debug, Clone, Copy)]
pub struct WaitRule {
    pub wait_minutes: u32,
    pub conference_minutes: u32,
}

impl WaitRule {
    pub fn from_settings(s: &crate::config::ChatSettings) -> WaitRule {
        WaitRule {
            wait_minutes: s.wait_minutes,
            conference_minutes: s.conference_minutes,
        }
    }

    fn wait_ms(self) -> i64 {
        i64::from(self.wait_minutes) * 60_000
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Conversations alerted now (each is alerted once, ever).
    pub alerted: Vec<i64>,
    /// Conversations waiting past the limit now, alerted or not.
    pub waiting_over_limit: i64,
}

/// The conference's start: `wait_minutes` from now, moved past whatever
/// the consultant already has then (scheduled contacts, meetings, tasks).
async fn next_free(
    store: &Store,
    consultant: i64,
    earliest: i64,
    length: i64,
) -> Result<i64, StoreError> {
    let busy = store
        .busy_intervals(consultant, earliest, earliest + 24 * 3_600_000)
        .await?;
    let mut start = earliest;
    for (s, e) in busy {
        if s < start + length && e > start {
            start = e;
        }
    }
    Ok(start)
}

/// Alerts every chat waiting past the limit at `now` and schedules its
/// conference; one transaction per chat.
pub async fn sweep(
    store: &Store,
    rule: WaitRule,
    now: DateTime<Utc>,
) -> Result<SweepReport, ChatError> {
    let now_ms = now.timestamp_millis();
    let limit = now_ms - rule.wait_ms();
    let waiting = {
        let mut c = store.pool().acquire().await.map_err(StoreError::from)?;
        store.chats_waiting_since(&mut c, limit).await?
    };
    let mut report = SweepReport::default();
    for conv in waiting {
        if alert(store, rule, &conv, now_ms).await? {
            tracing::warn!(
                conversation = conv.id,
                consultant = ?conv.consultant_id,
                owner = ?conv.owner_id,
                "chat waiting past chat.wait_minutes without a reply; conference scheduled"
            );
            report.alerted.push(conv.id);
        }
    }
    report.waiting_over_limit = store.chats_waiting_over(limit).await?;
    Ok(report)
}

async fn alert(
    store: &Store,
    rule: WaitRule,
    conv: &ChatConversation,
    now_ms: i64,
) -> Result<bool, ChatError> {
    let length = i64::from(rule.conference_minutes) * 60_000;
    let with = conv.owner_id.or(conv.consultant_id);
    let planned = match with {
        Some(p) => Some(next_free(store, p, now_ms + rule.wait_ms(), length).await?),
        None => None,
    };
    let mut tx = store.begin().await?;
    let conference = match (with, planned) {
        (Some(p), Some(start)) => {
            let k = ContactRecord {
                kind: ContactKind::Scheduled,
                channel: ContactChannel::Chat,
                direction: Some(ContactDirection::Outbound),
                status: ContactStatus::Scheduled,
                reason: Some("chat_wait".into()),
                consultant_id: Some(p),
                provider_id: conv.provider_id,
                provider_user_id: conv.provider_user_id,
                protocol_id: conv.protocol_id,
                planned_start_ms: Some(start),
                planned_end_ms: Some(start + length),
                agenda: Some(format!(
                    "Conference for chat {} ({}): no reply within {} minutes",
                    conv.external_id, conv.handle, rule.wait_minutes
                )),
                source: ContactSource::Chat,
                ..Default::default()
            };
            let id = store.insert_contact(&mut tx, &k).await?;
            store
                .audit(
                    &mut tx,
                    "contact",
                    id,
                    "created",
                    None,
                    Some(k.status.as_str().into()),
                    "chat-wait-rule",
                )
                .await?;
            Some(id)
        }
        _ => None,
    };
    if !store
        .chat_alerted(&mut tx, conv.id, now_ms, conference)
        .await?
    {
        // Another instance alerted it first.
        return Ok(false);
    }
    if let Some(contact) = conv.contact_id {
        let shown = DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        store
            .audit(
                &mut tx,
                "contact",
                contact,
                "alerted_at",
                None,
                shown,
                "chat-wait-rule",
            )
            .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(true)
}
