//! The e-mail channel: the desk's IMAP mailbox read into triggered e-mail
//! contacts. It owns the intake task's loop (connect, read the inbox and
//! the Sent folder above their marks, wait with IDLE or poll, back off and
//! reconnect after any error, stop with the daemon); `imap` speaks to the
//! server, `message` reads a message, `matching` finds provider, user and
//! protocol, `import` writes one message into the store.
//!
//! Threads: a message whose In-Reply-To/References name a known message,
//! or that comes from the same sender under the same subject (Re:/RES:/
//! Fwd: stripped), joins that thread; any other inbox message starts one,
//! and its contact.
//!
//! Timing of a thread's contact: `rang_at` is when the message reached
//! the mailbox (the server's INTERNALDATE); the contact stays open, with
//! no `started_at`, until the first reply is read from the Sent folder;
//! then it is done with `wait_ms` = reply − arrival and `started_at` =
//! `ended_at` = the reply's time. Zero realised minutes: answering is the
//! consultant's task (team rule 1), so days of waiting never count as
//! anyone's time.
//!
//! Restart safety: each message is written in one transaction with its
//! folder's mark (UIDVALIDITY, last UID), so a crash can neither import
//! twice nor skip; a new UIDVALIDITY re-reads the folder and Message-IDs
//! (unique per folder) keep out what was read before. The `$ProtocallSeen`
//! keyword is set only after that commit, and a failure to set it is
//! logged, not fatal: the mark, not the keyword, decides what is new.

pub mod imap;
pub mod import;
pub mod matching;
pub mod message;

use std::time::Duration;

use tokio::sync::watch;

use crate::config::{IntakeSettings, Secret};
use crate::metrics::MailMetrics;
use crate::store::{FolderMark, Store, StoreError};

use import::{Folder, Place, Rules};

const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("IMAP: {0}")]
    Imap(#[from] imap::ImapError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Runs until `stop` turns true. Errors are logged and retried with a
/// back-off (1 s doubling to 60 s); nothing is read past the store's mark,
/// so nothing is lost while the server or the database is away.
pub async fn run(
    cfg: IntakeSettings,
    password: Secret,
    store: Store,
    metrics: MailMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        if *stop.borrow() {
            return;
        }
        let r = session(&cfg, &password, &store, &metrics, &mut stop, &mut backoff).await;
        metrics.connected.set(0);
        match r {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(),
                    "mail intake: disconnected");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: read both folders, wait, again; `Ok` when
/// stopped.
async fn session(
    cfg: &IntakeSettings,
    password: &Secret,
    store: &Store,
    metrics: &MailMetrics,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), IntakeError> {
    let (mut s, has_idle) = imap::connect(cfg, password).await?;
    metrics.connected.set(1);
    tracing::info!(host = %cfg.host, idle = has_idle, "mail intake: connected");
    let rules = Rules {
        team_address: cfg.team_address.clone(),
        own_addresses: [&cfg.username, &cfg.team_address]
            .into_iter()
            .filter(|a| a.contains('@'))
            .map(|a| a.trim().to_lowercase())
            .collect(),
    };
    let wait = Duration::from_secs(cfg.poll_seconds);
    loop {
        // The inbox first: a reply read in the same round finds its thread.
        sync_folder(&mut s, store, metrics, &rules, Folder::Inbox, &cfg.inbox).await?;
        sync_folder(&mut s, store, metrics, &rules, Folder::Sent, &cfg.sent).await?;
        metrics.last_sync.set(chrono::Utc::now().timestamp());
        *backoff = BACKOFF_FIRST;
        if has_idle {
            // IDLE watches the inbox, where people write to the desk; the
            // Sent folder is read at least every poll_seconds.
            imap::select(&mut s, &cfg.inbox).await?;
            imap::drain(&mut s);
            let (back, woken) = imap::idle(s, wait, stop).await?;
            s = back;
            if woken == imap::Woken::Stop {
                let _ = s.logout().await;
                return Ok(());
            }
        } else {
            imap::drain(&mut s);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {
                    let _ = s.logout().await;
                    return Ok(());
                }
            }
        }
    }
}

/// Reads one folder from its mark up, message by message.
async fn sync_folder(
    s: &mut imap::Session,
    store: &Store,
    metrics: &MailMetrics,
    rules: &Rules,
    folder: Folder,
    name: &str,
) -> Result<(), IntakeError> {
    let uid_validity = imap::select(s, name).await?;
    let after = match store.mail_folder_mark(name).await? {
        Some(m) if m.uid_validity == uid_validity => m.last_uid,
        stale => {
            if let Some(old) = stale {
                tracing::warn!(
                    folder = name,
                    old = old.uid_validity,
                    new = uid_validity,
                    "mail intake: UIDVALIDITY changed; re-reading the folder"
                );
            }
            let mut tx = store.begin().await?;
            store
                .set_mail_mark(
                    &mut tx,
                    name,
                    FolderMark {
                        uid_validity,
                        last_uid: 0,
                    },
                )
                .await?;
            tx.commit().await.map_err(StoreError::from)?;
            0
        }
    };
    let listed = imap::list_after(s, after).await?;
    for chunk in imap::chunks(&listed) {
        let fetched = imap::fetch(s, &chunk).await?;
        let mut done = Vec::with_capacity(fetched.len());
        for f in fetched {
            let at = Place {
                folder,
                name,
                uid_validity,
                uid: f.uid,
                internal_ms: f.internal_ms,
            };
            let outcome = import::one(store, rules, &at, f.raw.as_deref()).await?;
            metrics.message(folder.label(), outcome.label()).inc();
            if let import::Outcome::Reply(reasons) = &outcome {
                for r in reasons {
                    metrics.flagged(r);
                }
            }
            done.push(f.uid);
        }
        // After the commits: the keyword is a courtesy to people reading
        // the mailbox, never what decides.
        if let Err(e) = imap::mark_seen(s, &done).await {
            tracing::warn!(folder = name, error = %e, "mail intake: keyword not set");
        }
    }
    Ok(())
}
