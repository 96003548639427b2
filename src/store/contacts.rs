//! Contacts on disk: calls turned contacts (written through the journal,
//! see `journal_writes`), manual ones (chat, e-mail, meetings), scheduled
//! ones (call-backs, meetings). Reads here; manual writes too.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, get_word, get_word_opt, Filter, Store, StoreError};
use crate::directory::Page;
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus,
};

/// A contact as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    /// triggered or scheduled.
    #[schema(value_type = String)]
    pub kind: ContactKind,
    /// phone, chat, email, meeting or other.
    #[schema(value_type = String)]
    pub channel: ContactChannel,
    /// inbound or outbound (calls).
    #[schema(value_type = Option<String>)]
    pub direction: Option<ContactDirection>,
    /// scheduled, open, done, missed, abandoned or cancelled.
    #[schema(value_type = String)]
    pub status: ContactStatus,
    pub reason: Option<String>,
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub call_id: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<DateTime<Tz>>,
    /// When the phone started ringing (calls).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub rang_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Tz>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Tz>>,
    /// Wait before the answer (calls) or ring time of a missed call.
    pub wait_ms: Option<i64>,
    /// Realised time: ended − started (talk time for calls).
    pub duration_ms: Option<i64>,
    /// interrupted (open when protocall stopped) or expired (no BYE).
    pub flag: Option<String>,
    pub room_id: Option<i64>,
    pub agenda: Option<String>,
    pub notes: Option<String>,
    /// call, manual, callback, mail or chat.
    #[schema(value_type = String)]
    pub source: ContactSource,
    /// The "which provider?" step for a contact from someone unknown:
    /// unidentified, identified, not_client or client (null on contacts
    /// that never needed it).
    pub identification: Option<String>,
    /// Other consultants in a meeting.
    pub participants: Vec<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Tz>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Tz>,
}

#[derive(Debug, Clone, Default)]
pub struct ContactQuery {
    pub consultant_id: Option<i64>,
    pub provider_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub call_id: Option<String>,
    pub channel: Option<String>,
    pub status: Option<String>,
    pub kind: Option<String>,
    /// Contacts whose time (started, else planned start, else rang) is in
    /// [from, to).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

pub(crate) const CONTACT_COLS: &str =
    "id, kind, channel, direction, status, reason, consultant_id, \
    provider_id, provider_user_id, protocol_id, call_id, planned_start, planned_end, rang_at, \
    started_at, ended_at, wait_ms, flag, room_id, agenda, notes, source, created_at, updated_at, \
    identification";

/// The instant a contact is filed under.
const CONTACT_TIME: &str = "COALESCE(started_at, planned_start, rang_at)";

impl Store {
    pub(crate) fn contact_from_row(&self, r: &AnyRow) -> Result<Contact, StoreError> {
        let started: Option<i64> = get(r, "started_at")?;
        let ended: Option<i64> = get(r, "ended_at")?;
        Ok(Contact {
            id: get(r, "id")?,
            kind: get_word(r, "kind")?,
            channel: get_word(r, "channel")?,
            direction: get_word_opt(r, "direction")?,
            status: get_word(r, "status")?,
            reason: get(r, "reason")?,
            consultant_id: get(r, "consultant_id")?,
            provider_id: get(r, "provider_id")?,
            provider_user_id: get(r, "provider_user_id")?,
            protocol_id: get(r, "protocol_id")?,
            call_id: get(r, "call_id")?,
            planned_start: self.opt_ts(get(r, "planned_start")?),
            planned_end: self.opt_ts(get(r, "planned_end")?),
            rang_at: self.opt_ts(get(r, "rang_at")?),
            started_at: self.opt_ts(started),
            ended_at: self.opt_ts(ended),
            wait_ms: get(r, "wait_ms")?,
            duration_ms: match (started, ended) {
                (Some(s), Some(e)) => Some(e - s),
                _ => None,
            },
            flag: get(r, "flag")?,
            room_id: get(r, "room_id")?,
            agenda: get(r, "agenda")?,
            notes: get(r, "notes")?,
            source: get_word(r, "source")?,
            identification: get(r, "identification")?,
            participants: Vec::new(),
            created_at: self.ts(get(r, "created_at")?),
            updated_at: self.ts(get(r, "updated_at")?),
        })
    }

    async fn participants_of(&self, contact: i64) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT consultant_id FROM contact_participants WHERE contact_id = $1 \
             ORDER BY consultant_id",
        )
        .bind(contact)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| get(r, "consultant_id")).collect()
    }

    pub async fn get_contact(&self, id: i64) -> Result<Contact, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CONTACT_COLS} FROM contacts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("contact {id}")))?;
        let mut c = self.contact_from_row(&row)?;
        c.participants = self.participants_of(id).await?;
        Ok(c)
    }

    pub async fn list_contacts(&self, q: &ContactQuery) -> Result<Page<Contact>, StoreError> {
        let mut f = Filter::default();
        f.push_int("consultant_id = $?", q.consultant_id);
        f.push_int("provider_id = $?", q.provider_id);
        f.push_int("protocol_id = $?", q.protocol_id);
        f.push_text("call_id = $?", q.call_id.as_deref());
        f.push_text("channel = $?", q.channel.as_deref());
        f.push_text("status = $?", q.status.as_deref());
        f.push_text("kind = $?", q.kind.as_deref());
        f.push_int(&format!("{CONTACT_TIME} >= $?"), q.from_ms);
        f.push_int(&format!("{CONTACT_TIME} < $?"), q.to_ms);
        let mut page = self
            .page_of(
                "contacts",
                CONTACT_COLS,
                &format!("{CONTACT_TIME}, id"),
                &f,
                q.limit,
                q.offset,
                |r| self.contact_from_row(r),
            )
            .await?;
        for c in &mut page.items {
            c.participants = self.participants_of(c.id).await?;
        }
        Ok(page)
    }
}
