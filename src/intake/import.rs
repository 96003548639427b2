//! One message into the store, in one transaction with the folder's
//! high-water mark: a new thread and its contact, a message joined to a
//! known thread, a reply that closes a thread's waiting time (and is
//! flagged when it lacks the team copy or the protocol number), or a
//! message recorded only so it is not read again.

use crate::store::{
    ContactRecord, FolderMark, NewMailThread, SeenMessage, Store, StoreError, ThreadRef,
};
use crate::tracking::states::{
    ContactChannel, ContactDirection, ContactKind, ContactSource, ContactStatus,
};

use super::matching;
use super::message::{self, Mail};

/// Who every write of the intake is audited under.
pub const ACTOR: &str = "mail-intake";

/// Which of the two folders a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    Inbox,
    Sent,
}

impl Folder {
    pub fn label(self) -> &'static str {
        match self {
            Folder::Inbox => "inbox",
            Folder::Sent => "sent",
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported,
    Duplicate,
    Joined,
    /// A reply to a known thread, with what it lacked.
    Reply(Vec<&'static str>),
    Outgoing,
    Unparseable,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Duplicate => "duplicate",
            Outcome::Joined => "joined",
            Outcome::Reply(_) => "reply",
            Outcome::Outgoing => "outgoing",
            Outcome::Unparseable => "unparseable",
        }
    }
}

/// Where a message sits and when the server received it.
#[derive(Debug, Clone)]
pub struct Place<'a> {
    pub folder: Folder,
    /// The folder's configured name (the store's key).
    pub name: &'a str,
    pub uid_validity: u32,
    pub uid: u32,
    pub internal_ms: Option<i64>,
}

/// The team address replies must copy (empty: not checked), and the
/// desk's own addresses: an inbox message from one of them (or from a
/// consultant) in a known thread is a reply sent with the intake in Bcc.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub team_address: String,
    pub own_addresses: Vec<String>,
}

/// Why a reply is flagged, in the metric's and the API's words.
pub fn flag_reasons(rules: &Rules, mail: &Mail, thread: &ThreadRef) -> Vec<&'static str> {
    let mut out = Vec::new();
    let team = rules.team_address.trim().to_lowercase();
    if !team.is_empty() && !mail.to.iter().chain(&mail.cc).any(|a| *a == team) {
        out.push("no_team_copy");
    }
    if let Some(n) = &thread.protocol_number {
        if !matching::quotes_number(&mail.subject, &mail.body, n) {
            out.push("no_protocol_number");
        }
    }
    out
}

/// Reads `raw` and records it; the mark moves to its UID in the same
/// transaction, whatever it turned out to be.
pub async fn one(
    store: &Store,
    rules: &Rules,
    at: &Place<'_>,
    raw: Option<&[u8]>,
) -> Result<Outcome, StoreError> {
    let parsed = match raw {
        Some(raw) => message::parse(raw).map_err(|e| (e, message::fallback_id(raw))),
        None => Err((
            message::MessageError::Unreadable,
            format!("uid:{}:{}", at.uid_validity, at.uid),
        )),
    };
    let mail = match parsed {
        Ok(m) => m,
        Err((e, id)) => {
            tracing::warn!(folder = at.folder.label(), uid = at.uid, error = %e,
                "intake: message skipped");
            return record_only(store, at, &id, "unparseable", Outcome::Unparseable).await;
        }
    };
    // When the server got it: the sender's Date may be any clock.
    let when = at
        .internal_ms
        .or(mail.date_ms)
        .unwrap_or_else(crate::store::now_ms);
    match at.folder {
        Folder::Inbox => inbox(store, rules, at, &mail, when).await,
        Folder::Sent => sent(store, rules, at, &mail, when).await,
    }
}

fn seen(at: &Place<'_>, id: &str, thread: Option<i64>, result: &'static str) -> SeenMessage {
    SeenMessage {
        folder: at.name.to_string(),
        uid_validity: at.uid_validity,
        uid: at.uid,
        message_id: id.to_string(),
        thread_id: thread,
        result,
        sent_at_ms: None,
        flag_reasons: None,
    }
}

fn mark(at: &Place<'_>) -> FolderMark {
    FolderMark {
        uid_validity: at.uid_validity,
        last_uid: at.uid,
    }
}

/// A message that makes nothing but must not be read again.
async fn record_only(
    store: &Store,
    at: &Place<'_>,
    id: &str,
    result: &'static str,
    outcome: Outcome,
) -> Result<Outcome, StoreError> {
    let mut tx = store.begin().await?;
    let outcome = if store.mail_seen(&mut tx, at.name, id).await? {
        Outcome::Duplicate
    } else {
        store
            .insert_mail_message(&mut tx, &seen(at, id, None, result))
            .await?;
        outcome
    };
    store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
    tx.commit().await?;
    Ok(outcome)
}

async fn inbox(
    store: &Store,
    rules: &Rules,
    at: &Place<'_>,
    mail: &Mail,
    when: i64,
) -> Result<Outcome, StoreError> {
    // Matching reads before the transaction: SQLite's writer holds its
    // lock for as short as it can.
    let sender = matching::match_sender(store, &mail.from).await?;
    let ours = rules
        .own_addresses
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&mail.from))
        || store.is_consultant_email(&mail.from).await?;
    let protocol = matching::find_protocol(store, &mail.subject, &mail.body).await?;
    let key = message::subject_key(&mail.subject);
    let mut tx = store.begin().await?;
    if store.mail_seen(&mut tx, at.name, &mail.message_id).await? {
        store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
        tx.commit().await?;
        return Ok(Outcome::Duplicate);
    }
    let mut known = store.mail_thread_of(&mut tx, &mail.references).await?;
    if known.is_none() && !key.is_empty() {
        known = store
            .mail_thread_by_subject(&mut tx, &mail.from, &key)
            .await?;
    }
    if ours {
        // The desk writing: a reply when it names a thread; else mail of
        // its own (a note to itself, a new message with the intake in Bcc)
        // that makes no contact.
        let Some(t) = known else {
            store
                .insert_mail_message(&mut tx, &seen(at, &mail.message_id, None, "outgoing"))
                .await?;
            store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
            tx.commit().await?;
            return Ok(Outcome::Outgoing);
        };
        return reply(store, tx, rules, at, mail, when, t).await;
    }
    if let Some(t) = known {
        store
            .insert_mail_message(&mut tx, &seen(at, &mail.message_id, Some(t.id), "joined"))
            .await?;
        store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
        tx.commit().await?;
        return Ok(Outcome::Joined);
    }
    // A protocol of another provider than the sender's is someone else's
    // number quoted in passing.
    let protocol = protocol.filter(|p| sender.provider_id.is_none_or(|s| s == p.provider_id));
    let identification = if sender.provider_id.is_some() {
        "identified"
    } else {
        "unidentified"
    };
    let contact = ContactRecord {
        kind: ContactKind::Triggered,
        channel: ContactChannel::Email,
        direction: Some(ContactDirection::Inbound),
        status: ContactStatus::Open,
        consultant_id: protocol.as_ref().and_then(|p| p.owner_id),
        provider_id: sender.provider_id,
        provider_user_id: sender.provider_user_id,
        protocol_id: protocol.as_ref().map(|p| p.id),
        agenda: Some(mail.subject.chars().take(500).collect()),
        source: ContactSource::Mail,
        ..Default::default()
    };
    let contact_id = store.insert_contact(&mut tx, &contact).await?;
    store
        .set_mail_contact_arrival(&mut tx, contact_id, when, identification)
        .await?;
    store
        .audit(
            &mut tx,
            "contact",
            contact_id,
            "created",
            None,
            Some(contact.status.as_str().into()),
            ACTOR,
        )
        .await?;
    let thread = store
        .insert_mail_thread(
            &mut tx,
            &NewMailThread {
                root_message_id: mail.message_id.clone(),
                subject: mail.subject.chars().take(1000).collect(),
                subject_key: key,
                sender: mail.from.clone(),
                provider_id: sender.provider_id,
                provider_user_id: sender.provider_user_id,
                protocol_id: protocol.as_ref().map(|p| p.id),
                contact_id: Some(contact_id),
                identification: identification.into(),
                received_at_ms: when,
            },
        )
        .await?;
    store
        .insert_mail_message(
            &mut tx,
            &seen(at, &mail.message_id, Some(thread), "imported"),
        )
        .await?;
    store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
    tx.commit().await?;
    Ok(Outcome::Imported)
}

async fn sent(
    store: &Store,
    rules: &Rules,
    at: &Place<'_>,
    mail: &Mail,
    when: i64,
) -> Result<Outcome, StoreError> {
    let mut tx = store.begin().await?;
    if store.mail_seen(&mut tx, at.name, &mail.message_id).await? {
        store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
        tx.commit().await?;
        return Ok(Outcome::Duplicate);
    }
    let Some(thread) = store.mail_thread_of(&mut tx, &mail.references).await? else {
        store
            .insert_mail_message(&mut tx, &seen(at, &mail.message_id, None, "outgoing"))
            .await?;
        store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
        tx.commit().await?;
        return Ok(Outcome::Outgoing);
    };
    reply(store, tx, rules, at, mail, when, thread).await
}

/// A reply to a known thread: the first closes the thread's contact; each
/// is flagged for what it lacks, once whichever folders it is read in.
#[allow(clippy::too_many_arguments)]
async fn reply(
    store: &Store,
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    rules: &Rules,
    at: &Place<'_>,
    mail: &Mail,
    when: i64,
    thread: ThreadRef,
) -> Result<Outcome, StoreError> {
    if store.mail_reply_seen(&mut tx, &mail.message_id).await? {
        store
            .insert_mail_message(
                &mut tx,
                &seen(at, &mail.message_id, Some(thread.id), "joined"),
            )
            .await?;
        store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
        tx.commit().await?;
        return Ok(Outcome::Joined);
    }
    let reasons = flag_reasons(rules, mail, &thread);
    if thread.first_reply_at_ms.is_none() {
        if let Some(c) = thread.contact_id {
            let wait = (when - thread.received_at_ms).max(0);
            if store.close_mail_contact(&mut tx, c, when, wait).await? {
                store
                    .audit(
                        &mut tx,
                        "contact",
                        c,
                        "status",
                        Some(ContactStatus::Open.as_str().into()),
                        Some(ContactStatus::Done.as_str().into()),
                        ACTOR,
                    )
                    .await?;
            }
        }
    }
    store
        .note_mail_reply(&mut tx, thread.id, when, &reasons)
        .await?;
    let mut row = seen(at, &mail.message_id, Some(thread.id), "reply");
    row.sent_at_ms = Some(when);
    row.flag_reasons = (!reasons.is_empty()).then(|| reasons.join(","));
    store.insert_mail_message(&mut tx, &row).await?;
    store.set_mail_mark(&mut tx, at.name, mark(at)).await?;
    tx.commit().await?;
    Ok(Outcome::Reply(reasons))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(to: &[&str], cc: &[&str], subject: &str, body: &str) -> Mail {
        Mail {
            from: "ana@consult.example".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            cc: cc.iter().map(|s| s.to_string()).collect(),
            subject: subject.into(),
            message_id: "r@x".into(),
            references: vec!["m@x".into()],
            date_ms: None,
            body: body.into(),
        }
    }

    #[test]
    fn a_reply_needs_the_team_in_copy_and_the_number() {
        let rules = Rules {
            team_address: "Team@Consult.example".into(),
            own_addresses: Vec::new(),
        };
        let t = ThreadRef {
            id: 1,
            protocol_number: Some("2026-000007".into()),
            contact_id: None,
            received_at_ms: 0,
            first_reply_at_ms: None,
        };
        let ok = reply(&["c@isp"], &["team@consult.example"], "Re: 2026-000007", "");
        assert!(flag_reasons(&rules, &ok, &t).is_empty());
        let both = reply(&["c@isp"], &[], "Re: x", "no number");
        assert_eq!(
            flag_reasons(&rules, &both, &t),
            ["no_team_copy", "no_protocol_number"]
        );
        let no_protocol = ThreadRef {
            protocol_number: None,
            ..t
        };
        assert!(flag_reasons(
            &rules,
            &reply(&["team@consult.example"], &[], "", ""),
            &no_protocol
        )
        .is_empty());
    }
}
