//! The desk's mailbox on disk: threads read from the inbox, every message
//! seen per folder, the per-folder high-water mark (UIDVALIDITY and last
//! UID), the unmatched list, flagged replies, and the look-ups the intake
//! matches senders and protocol numbers with. SQL only: what a thread is
//! and when a reply counts is decided in `crate::intake`.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::any::AnyRow;

use super::tracking::Conn;
use super::{get, now_ms, Filter, Store, StoreError};
use crate::directory::Page;

/// A thread as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailThread {
    pub id: i64,
    pub subject: String,
    /// The sender's address, lower-cased.
    pub sender: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    /// The triggered e-mail contact made from the thread.
    pub contact_id: Option<i64>,
    /// unidentified, identified, not_client or client.
    pub identification: String,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Tz>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_reply_at: Option<DateTime<Tz>>,
    /// What the thread's replies lacked: no_team_copy, no_protocol_number.
    pub flag_reasons: Vec<String>,
}

/// A reply sent without the team in copy or without the protocol number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlaggedReply {
    pub thread_id: i64,
    /// The reply's Message-ID.
    pub message_id: String,
    pub subject: String,
    /// Who wrote to the desk (the thread's sender).
    pub sender: String,
    pub protocol_id: Option<i64>,
    pub contact_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: DateTime<Tz>,
    /// no_team_copy and/or no_protocol_number.
    pub reasons: Vec<String>,
}

/// What the intake needs of a stored thread to join or close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRef {
    pub id: i64,
    pub protocol_number: Option<String>,
    pub contact_id: Option<i64>,
    pub received_at_ms: i64,
    pub first_reply_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewMailThread {
    pub root_message_id: String,
    pub subject: String,
    pub subject_key: String,
    pub sender: String,
    pub provider_id: Option<i64>,
    pub provider_user_id: Option<i64>,
    pub protocol_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub identification: String,
    pub received_at_ms: i64,
}

/// One message seen in a folder, with what became of it.
#[derive(Debug, Clone)]
pub struct SeenMessage {
    pub folder: String,
    pub uid_validity: u32,
    pub uid: u32,
    pub message_id: String,
    pub thread_id: Option<i64>,
    /// imported, joined, reply, outgoing or unparseable.
    pub result: &'static str,
    pub sent_at_ms: Option<i64>,
    pub flag_reasons: Option<String>,
}

/// A folder's high-water mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderMark {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// A protocol found by its number, with what a contact takes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolHit {
    pub id: i64,
    pub provider_id: i64,
    pub owner_id: Option<i64>,
}

/// A person's decision on an unmatched thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailMatch {
    Client {
        provider_id: i64,
        provider_user_id: Option<i64>,
        protocol_id: Option<i64>,
    },
    NotClient,
}

const THREAD_COLS: &str = "id, subject, sender, provider_id, provider_user_id, protocol_id, \
    contact_id, identification, received_at, first_reply_at, flag_reasons";

fn reasons(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

impl Store {
    fn mail_thread_from_row(&self, r: &AnyRow) -> Result<MailThread, StoreError> {
        Ok(MailThread {
            id: get(r, "id")?,
            subject: get(r, "subject")?,
            sender: get(r, "sender")?,
            provider_id: get(r, "provider_id")?,
            provider_user_id: get(r, "provider_user_id")?,
            protocol_id: get(r, "protocol_id")?,
            contact_id: get(r, "contact_id")?,
            identification: get(r, "identification")?,
            received_at: self.ts(get(r, "received_at")?),
            first_reply_at: self.opt_ts(get(r, "first_reply_at")?),
            flag_reasons: reasons(get(r, "flag_reasons")?),
        })
    }

    // ---- the intake's reads and writes ------------------------------------

    pub async fn mail_folder_mark(&self, folder: &str) -> Result<Option<FolderMark>, StoreError> {
        let r = sqlx::query("SELECT uid_validity, last_uid FROM mail_folders WHERE folder = $1")
            .bind(folder.to_string())
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| {
            Ok(FolderMark {
                uid_validity: u32_of(get(&r, "uid_validity")?),
                last_uid: u32_of(get(&r, "last_uid")?),
            })
        })
        .transpose()
    }

    /// Moves the folder's mark to `uid` (and its UIDVALIDITY), in the
    /// caller's transaction.
    pub async fn set_mail_mark(
        &self,
        c: &mut Conn,
        folder: &str,
        mark: FolderMark,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE mail_folders SET uid_validity = $1, last_uid = $2, synced_at = $3 \
             WHERE folder = $4",
        )
        .bind(i64::from(mark.uid_validity))
        .bind(i64::from(mark.last_uid))
        .bind(now)
        .bind(folder.to_string())
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO mail_folders (folder, uid_validity, last_uid, synced_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(folder.to_string())
            .bind(i64::from(mark.uid_validity))
            .bind(i64::from(mark.last_uid))
            .bind(now)
            .execute(&mut *c)
            .await
            .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    /// Whether a message with this Message-ID was already read in the folder.
    pub async fn mail_seen(
        &self,
        c: &mut Conn,
        folder: &str,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query("SELECT id FROM mail_messages WHERE folder = $1 AND message_id = $2")
            .bind(folder.to_string())
            .bind(message_id.to_string())
            .fetch_optional(&mut *c)
            .await?;
        Ok(r.is_some())
    }

    /// Whether a message with this Message-ID was already taken as a reply
    /// in any folder (the same reply in Sent and as a Bcc to the inbox).
    pub async fn mail_reply_seen(
        &self,
        c: &mut Conn,
        message_id: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "SELECT id FROM mail_messages WHERE message_id = $1 AND result = 'reply' LIMIT 1",
        )
        .bind(message_id.to_string())
        .fetch_optional(&mut *c)
        .await?;
        Ok(r.is_some())
    }

    /// Whether `address` (lower-cased) is a consultant's e-mail.
    pub async fn is_consultant_email(&self, address: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("SELECT id FROM consultants WHERE lower(trim(email)) = $1 LIMIT 1")
            .bind(address.to_lowercase())
            .fetch_optional(self.pool())
            .await?;
        Ok(r.is_some())
    }

    pub async fn insert_mail_message(
        &self,
        c: &mut Conn,
        m: &SeenMessage,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mail_messages (folder, uid_validity, uid, message_id, thread_id, result, \
             sent_at, flag_reasons, seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(m.folder.clone())
        .bind(i64::from(m.uid_validity))
        .bind(i64::from(m.uid))
        .bind(m.message_id.clone())
        .bind(m.thread_id)
        .bind(m.result.to_string())
        .bind(m.sent_at_ms)
        .bind(m.flag_reasons.clone())
        .bind(now_ms())
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok(())
    }

    fn thread_ref(r: &AnyRow) -> Result<ThreadRef, StoreError> {
        Ok(ThreadRef {
            id: get(r, "id")?,
            protocol_number: get(r, "number")?,
            contact_id: get(r, "contact_id")?,
            received_at_ms: get(r, "received_at")?,
            first_reply_at_ms: get(r, "first_reply_at")?,
        })
    }

    /// The thread one of `ids` (In-Reply-To, References) belongs to: a
    /// thread's root or any message already joined to it, in any folder.
    pub async fn mail_thread_of(
        &self,
        c: &mut Conn,
        ids: &[String],
    ) -> Result<Option<ThreadRef>, StoreError> {
        // The newest reference first: it is the closest ancestor.
        for id in ids.iter().rev() {
            let r = sqlx::query(
                "SELECT t.id, p.number, t.contact_id, t.received_at, t.first_reply_at \
                 FROM mail_threads t LEFT JOIN protocols p ON p.id = t.protocol_id \
                 WHERE t.root_message_id = $1 OR t.id IN \
                 (SELECT thread_id FROM mail_messages WHERE message_id = $2 \
                  AND thread_id IS NOT NULL) ORDER BY t.id LIMIT 1",
            )
            .bind(id.clone())
            .bind(id.clone())
            .fetch_optional(&mut *c)
            .await?;
            if let Some(r) = r {
                return Ok(Some(Self::thread_ref(&r)?));
            }
        }
        Ok(None)
    }

    /// The newest thread from `sender` under the same normalised subject.
    pub async fn mail_thread_by_subject(
        &self,
        c: &mut Conn,
        sender: &str,
        subject_key: &str,
    ) -> Result<Option<ThreadRef>, StoreError> {
        let r = sqlx::query(
            "SELECT t.id, p.number, t.contact_id, t.received_at, t.first_reply_at \
             FROM mail_threads t LEFT JOIN protocols p ON p.id = t.protocol_id \
             WHERE t.sender = $1 AND t.subject_key = $2 ORDER BY t.id DESC LIMIT 1",
        )
        .bind(sender.to_string())
        .bind(subject_key.to_string())
        .fetch_optional(&mut *c)
        .await?;
        r.map(|r| Self::thread_ref(&r)).transpose()
    }

    pub async fn insert_mail_thread(
        &self,
        c: &mut Conn,
        t: &NewMailThread,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let r = sqlx::query(
            "INSERT INTO mail_threads (root_message_id, subject, subject_key, sender, provider_id, \
             provider_user_id, protocol_id, contact_id, identification, received_at, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(t.root_message_id.clone())
        .bind(t.subject.clone())
        .bind(t.subject_key.clone())
        .bind(t.sender.clone())
        .bind(t.provider_id)
        .bind(t.provider_user_id)
        .bind(t.protocol_id)
        .bind(t.contact_id)
        .bind(t.identification.clone())
        .bind(t.received_at_ms)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        get(&r, "id")
    }

    /// What a mail contact has that a manual one does not: when the
    /// message arrived, and the "which provider?" state.
    pub async fn set_mail_contact_arrival(
        &self,
        c: &mut Conn,
        contact: i64,
        rang_at_ms: i64,
        identification: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE contacts SET rang_at = $1, identification = $2 WHERE id = $3")
            .bind(rang_at_ms)
            .bind(identification.to_string())
            .bind(contact)
            .execute(&mut *c)
            .await
            .map_err(StoreError::classify)?;
        Ok(())
    }

    /// The first reply closes the thread's contact: done, waited from
    /// arrival to reply, started and ended at the reply. Only an open
    /// contact changes; returns whether it did.
    pub async fn close_mail_contact(
        &self,
        c: &mut Conn,
        contact: i64,
        reply_ms: i64,
        wait_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE contacts SET status = 'done', started_at = $1, ended_at = $2, wait_ms = $3, \
             updated_at = $4 WHERE id = $5 AND status = 'open'",
        )
        .bind(reply_ms)
        .bind(reply_ms)
        .bind(wait_ms)
        .bind(now_ms())
        .bind(contact)
        .execute(&mut *c)
        .await
        .map_err(StoreError::classify)?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a reply on the thread: its first reply time (once) and the
    /// union of its flag reasons.
    pub async fn note_mail_reply(
        &self,
        c: &mut Conn,
        thread: i64,
        reply_ms: i64,
        new_reasons: &[&str],
    ) -> Result<(), StoreError> {
        let r = sqlx::query("SELECT flag_reasons FROM mail_threads WHERE id = $1")
            .bind(thread)
            .fetch_optional(&mut *c)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("mail thread {thread}")))?;
        let mut all = reasons(get(&r, "flag_reasons")?);
        for x in new_reasons {
            if !all.iter().any(|y| y == x) {
                all.push((*x).to_string());
            }
        }
        let joined = (!all.is_empty()).then(|| all.join(","));
        sqlx::query(
            "UPDATE mail_threads SET first_reply_at = COALESCE(first_reply_at, $1), \
             flag_reasons = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(reply_ms)
        .bind(joined)
        .bind(now_ms())
        .bind(thread)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    // ---- matching look-ups -------------------------------------------------

    /// Provider users whose e-mail is exactly `address` (case-insensitive):
    /// (user id, provider id).
    pub async fn provider_users_by_email(
        &self,
        address: &str,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, provider_id FROM provider_users \
             WHERE lower(trim(email)) = $1 ORDER BY id",
        )
        .bind(address.to_lowercase())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((get(r, "id")?, get(r, "provider_id")?)))
            .collect()
    }

    /// The providers that have a user with an address at `domain`.
    pub async fn providers_by_email_domain(&self, domain: &str) -> Result<Vec<i64>, StoreError> {
        let domain = domain.to_lowercase();
        // LIKE narrows, the exact suffix decides: `_` in a domain would be
        // a wildcard.
        let rows = sqlx::query(
            "SELECT provider_id, email FROM provider_users WHERE lower(email) LIKE $1 \
             ORDER BY provider_id",
        )
        .bind(format!("%@{domain}"))
        .fetch_all(self.pool())
        .await?;
        let mut out: Vec<i64> = Vec::new();
        for r in &rows {
            let email: Option<String> = get(r, "email")?;
            let at = email
                .as_deref()
                .and_then(|e| e.trim().rsplit_once('@'))
                .map(|(_, d)| d.to_lowercase());
            let p: i64 = get(r, "provider_id")?;
            if at.as_deref() == Some(domain.as_str()) && !out.contains(&p) {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub async fn protocol_hit(&self, number: &str) -> Result<Option<ProtocolHit>, StoreError> {
        let r = sqlx::query("SELECT id, provider_id, owner_id FROM protocols WHERE number = $1")
            .bind(number.to_string())
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| {
            Ok(ProtocolHit {
                id: get(&r, "id")?,
                provider_id: get(&r, "provider_id")?,
                owner_id: get(&r, "owner_id")?,
            })
        })
        .transpose()
    }

    // ---- the API's ------------------------------------------------------------

    pub async fn get_mail_thread(&self, id: i64) -> Result<MailThread, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {THREAD_COLS} FROM mail_threads WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("mail thread {id}")))?;
        self.mail_thread_from_row(&r)
    }

    /// Threads whose sender matched no provider and that no one has
    /// decided on yet, oldest first.
    pub async fn unmatched_mail_threads(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Page<MailThread>, StoreError> {
        let mut f = Filter::default();
        f.push_text("identification = $?", Some("unidentified"));
        self.page_of(
            "mail_threads",
            THREAD_COLS,
            "received_at, id",
            &f,
            limit,
            offset,
            |r| self.mail_thread_from_row(r),
        )
        .await
    }

    /// Flagged replies sent in [from, to), oldest first.
    pub async fn flagged_mail_replies(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        limit: i64,
        offset: i64,
    ) -> Result<Page<FlaggedReply>, StoreError> {
        let mut f = Filter::default();
        f.push_int("m.sent_at >= $?", from_ms);
        f.push_int("m.sent_at < $?", to_ms);
        self.page_of(
            "mail_messages m JOIN mail_threads t ON t.id = m.thread_id \
             AND m.flag_reasons IS NOT NULL",
            "m.thread_id, m.message_id, m.sent_at, m.flag_reasons, t.subject, t.sender, \
             t.protocol_id, t.contact_id",
            "m.sent_at, m.id",
            &f,
            limit,
            offset,
            |r| {
                Ok(FlaggedReply {
                    thread_id: get(r, "thread_id")?,
                    message_id: get(r, "message_id")?,
                    subject: get(r, "subject")?,
                    sender: get(r, "sender")?,
                    protocol_id: get(r, "protocol_id")?,
                    contact_id: get(r, "contact_id")?,
                    sent_at: self.ts(get::<Option<i64>>(r, "sent_at")?.unwrap_or(0)),
                    reasons: reasons(get(r, "flag_reasons")?),
                })
            },
        )
        .await
    }

    /// A person's decision on a thread, with its contact, audited under
    /// `actor`, all in one transaction. References that name nothing, or a
    /// user or protocol of another provider, are `Reference` errors.
    pub async fn match_mail_thread(
        &self,
        id: i64,
        m: &MailMatch,
        actor: &str,
    ) -> Result<MailThread, StoreError> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("SELECT contact_id, identification FROM mail_threads WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("mail thread {id}")))?;
        let contact: Option<i64> = get(&r, "contact_id")?;
        let old: String = get(&r, "identification")?;
        let (identification, provider, user, protocol) = match m {
            MailMatch::NotClient => ("not_client", None, None, None),
            MailMatch::Client {
                provider_id,
                provider_user_id,
                protocol_id,
            } => {
                check_refs(&mut tx, *provider_id, *provider_user_id, *protocol_id).await?;
                (
                    "client",
                    Some(*provider_id),
                    *provider_user_id,
                    *protocol_id,
                )
            }
        };
        let now = now_ms();
        sqlx::query(
            "UPDATE mail_threads SET identification = $1, provider_id = $2, provider_user_id = $3, \
             protocol_id = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(identification.to_string())
        .bind(provider)
        .bind(user)
        .bind(protocol)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::classify)?;
        self.audit(
            &mut tx,
            "mail_thread",
            id,
            "identification",
            Some(old.clone()),
            Some(identification.into()),
            actor,
        )
        .await?;
        if let Some(c) = contact {
            sqlx::query(
                "UPDATE contacts SET identification = $1, provider_id = $2, provider_user_id = $3, \
                 protocol_id = COALESCE($4, protocol_id), updated_at = $5 WHERE id = $6",
            )
            .bind(identification.to_string())
            .bind(provider)
            .bind(user)
            .bind(protocol)
            .bind(now)
            .bind(c)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::classify)?;
            self.audit(
                &mut tx,
                "contact",
                c,
                "identification",
                Some(old),
                Some(identification.into()),
                actor,
            )
            .await?;
            if let Some(p) = provider {
                self.audit(
                    &mut tx,
                    "contact",
                    c,
                    "provider_id",
                    None,
                    Some(p.to_string()),
                    actor,
                )
                .await?;
            }
        }
        tx.commit().await?;
        self.get_mail_thread(id).await
    }
}

/// The provider exists; the user and the protocol, when given, are its.
async fn check_refs(
    c: &mut Conn,
    provider: i64,
    user: Option<i64>,
    protocol: Option<i64>,
) -> Result<(), StoreError> {
    let p = sqlx::query("SELECT id FROM providers WHERE id = $1")
        .bind(provider)
        .fetch_optional(&mut *c)
        .await?;
    if p.is_none() {
        return Err(StoreError::Reference(format!(
            "provider_id: no provider {provider}"
        )));
    }
    if let Some(u) = user {
        let r = sqlx::query("SELECT provider_id FROM provider_users WHERE id = $1")
            .bind(u)
            .fetch_optional(&mut *c)
            .await?;
        match r {
            None => {
                return Err(StoreError::Reference(format!(
                    "provider_user_id: no provider user {u}"
                )))
            }
            Some(r) if get::<i64>(&r, "provider_id")? != provider => {
                return Err(StoreError::Reference(format!(
                    "provider_user_id: user {u} is not of provider {provider}"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(p) = protocol {
        let r = sqlx::query("SELECT provider_id FROM protocols WHERE id = $1")
            .bind(p)
            .fetch_optional(&mut *c)
            .await?;
        match r {
            None => {
                return Err(StoreError::Reference(format!(
                    "protocol_id: no protocol {p}"
                )))
            }
            Some(r) if get::<i64>(&r, "provider_id")? != provider => {
                return Err(StoreError::Reference(format!(
                    "protocol_id: protocol {p} is not of provider {provider}"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}
