//! The durable path from the SIP side to the store: an append-only journal
//! on local disk, fsynced in batches, drained to the store in batches.
//!
//! Why: a contact must survive the database being slow or down and the
//! process dying, and writing it must never make a call wait. So the call
//! log hands each write to [`JournalHandle::append`] (a `try_send`, never a
//! wait); a dedicated thread appends it to `journal.log` and fsyncs once per
//! batch; an async drainer writes what is on disk to the store in one
//! transaction per batch and records how far it got in `journal.checkpoint`.
//! After a crash the journal is replayed from the checkpoint: every write is
//! idempotent (keyed by Call-ID), so replaying more than needed doubles
//! nothing. A `heartbeat` file, touched every second, tells the next start
//! when this process was last alive (to close contacts it left open).
//!
//! File format: one JSON object per line, `{"seq": N, "write": {...}}`. A
//! torn last line (the process died mid-write) is dropped at start.
//!
//! A write the database refuses for its data (a constraint, a NUL byte
//! PostgreSQL cannot store: [`StoreError::is_data_error`]) will be refused
//! forever, so it must not hold up the writes behind it: it is set aside in
//! `journal.rejects` (same format plus the time and the reason), counted and
//! logged once, and the drainer goes on. Every file here is 0600 and the
//! directory 0700: contacts are client data.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};

use crate::store::files;
use crate::store::{Store, StoreError, Write};

/// Writes accepted but not yet on disk are bounded by this queue.
pub const APPEND_QUEUE: usize = 65_536;
/// Most writes per store transaction.
pub const DRAIN_BATCH: usize = 500;
/// The journal file is emptied once everything in it is in the store and
/// it has grown past this.
const COMPACT_BYTES: u64 = 8 << 20;
/// Refused writes set aside, in the journal directory.
pub const REJECTS_FILE: &str = "journal.rejects";
/// The rejects file stops growing here (refusals are still counted and
/// logged): something refusing every write must not fill the disk.
const REJECTS_MAX_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct Line {
    seq: u64,
    write: Write,
}

/// A line as written: borrows the write instead of copying it.
#[derive(Serialize)]
struct LineRef<'a> {
    seq: u64,
    write: &'a Write,
}

/// Shared counters: what was written to disk and what reached the store.
#[derive(Default)]
struct Progress {
    written: AtomicU64,
    drained: AtomicU64,
}

/// The journal's inbox, cheap to clone.
#[derive(Clone)]
pub struct JournalHandle {
    tx: mpsc::Sender<Write>,
    progress: Arc<Progress>,
    rejected: Arc<AtomicU64>,
}

impl JournalHandle {
    /// Queues a write for the disk; never waits. `false` when the queue is
    /// full (the write is lost and counted; the queue holds a minute of
    /// peak load, so this means the disk itself is stuck).
    pub fn append(&self, w: Write) -> bool {
        match self.tx.try_send(w) {
            Ok(()) => true,
            Err(_) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Writes on disk not yet in the store.
    pub fn pending(&self) -> u64 {
        let w = self.progress.written.load(Ordering::Acquire);
        let d = self.progress.drained.load(Ordering::Acquire);
        w.saturating_sub(d)
    }

    /// A read-only view of the backlog that does not keep the journal
    /// open (the appender stops when every handle is dropped).
    pub fn monitor(&self) -> JournalMonitor {
        JournalMonitor {
            progress: self.progress.clone(),
        }
    }

    /// Writes lost because the append queue was full.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
pub struct JournalMonitor {
    progress: Arc<Progress>,
}

impl JournalMonitor {
    /// Writes on disk not yet in the store.
    pub fn pending(&self) -> u64 {
        let w = self.progress.written.load(Ordering::Acquire);
        let d = self.progress.drained.load(Ordering::Acquire);
        w.saturating_sub(d)
    }
}

/// What `open` found on disk from the previous run.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Writes replayed from the journal (not yet in the store last time).
    pub replayed: usize,
    /// When the previous process was last alive (UTC ms), if known.
    pub last_alive_ms: Option<i64>,
}

pub struct Journal {
    dir: PathBuf,
    file: File,
    next_seq: u64,
    pending: Arc<Mutex<VecDeque<(u64, Write)>>>,
    notify: Arc<Notify>,
    progress: Arc<Progress>,
    rx: mpsc::Receiver<Write>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Journal {
    /// Opens (creating) the journal in `dir` and loads what the previous
    /// run left undrained.
    pub fn open(dir: &Path) -> Result<(Journal, JournalHandle, Recovered), JournalError> {
        files::create_private_dir(dir).map_err(io(dir))?;
        if files::readable_by_others(dir) {
            tracing::warn!(dir = %dir.display(), "the journal directory is open to other users; chmod 700 it");
        }
        let log = dir.join("journal.log");
        let checkpoint = read_u64(&dir.join("journal.checkpoint")).unwrap_or(0);
        let last_alive_ms = read_u64(&dir.join("heartbeat")).map(|v| v as i64);
        let mut file = files::open_private(
            &log,
            OpenOptions::new().create(true).read(true).append(true),
        )
        .map_err(io(&log))?;
        let mut pending = VecDeque::new();
        let mut max_seq = checkpoint;
        let mut good_len = 0u64;
        {
            let mut reader = BufReader::new(&file);
            reader.seek(SeekFrom::Start(0)).map_err(io(&log))?;
            let mut buf = String::new();
            loop {
                buf.clear();
                let n = reader.read_line(&mut buf).map_err(io(&log))?;
                if n == 0 || !buf.ends_with('\n') {
                    break;
                }
                let Ok(line) = serde_json::from_str::<Line>(buf.trim_end()) else {
                    // A line we cannot read ends what can be trusted.
                    tracing::error!(
                        offset = good_len,
                        "unreadable journal line; the rest is dropped"
                    );
                    break;
                };
                good_len += n as u64;
                max_seq = max_seq.max(line.seq);
                if line.seq > checkpoint {
                    pending.push_back((line.seq, line.write));
                }
            }
        }
        let len = file.metadata().map_err(io(&log))?.len();
        if len != good_len {
            // A torn or unreadable tail: cut it so new lines start clean.
            file.set_len(good_len).map_err(io(&log))?;
            file.seek(SeekFrom::End(0)).map_err(io(&log))?;
        }
        let replayed = pending.len();
        if replayed > 0 {
            tracing::info!(replayed, "journal: writes from the previous run to replay");
        }
        let progress = Arc::new(Progress::default());
        progress.written.store(replayed as u64, Ordering::Release);
        let (tx, rx) = mpsc::channel(APPEND_QUEUE);
        let journal = Journal {
            dir: dir.to_path_buf(),
            file,
            next_seq: max_seq + 1,
            pending: Arc::new(Mutex::new(pending)),
            notify: Arc::new(Notify::new()),
            progress: progress.clone(),
            rx,
        };
        Ok((
            journal,
            JournalHandle {
                tx,
                progress,
                rejected: Arc::new(AtomicU64::new(0)),
            },
            Recovered {
                replayed,
                last_alive_ms,
            },
        ))
    }

    /// Starts the appender thread and the drainer task. They end when
    /// every [`JournalHandle`] is dropped and everything reachable is in
    /// the store (or, with the database down, after `stop` and a few
    /// retries: what is left stays on disk for the next start).
    pub fn start(
        self,
        store: Store,
        recovery: Recovery,
        on_drained: Option<OnDrained>,
        stop: watch::Receiver<bool>,
    ) -> JournalTasks {
        let Journal {
            dir,
            file,
            next_seq,
            pending,
            notify,
            progress,
            rx,
        } = self;
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let appender = {
            let pending = pending.clone();
            let notify = notify.clone();
            let progress = progress.clone();
            let dir = dir.clone();
            let closed = closed.clone();
            std::thread::Builder::new()
                .name("journal".into())
                .spawn(move || {
                    append_loop(&dir, file, next_seq, rx, &pending, &progress);
                    closed.store(true, Ordering::Release);
                    notify.notify_one();
                })
        };
        let appender = match appender {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the journal thread");
                None
            }
        };
        let drainer = tokio::spawn(drain_loop(
            dir.clone(),
            store,
            pending,
            notify,
            progress,
            closed,
            recovery,
            on_drained,
            stop.clone(),
        ));
        let heartbeat = tokio::spawn(heartbeat_loop(dir, stop));
        JournalTasks {
            appender,
            drainer,
            heartbeat,
        }
    }
}

/// Called after every batch that reached the store (metrics).
pub type OnDrained = Box<dyn Fn(&crate::store::WriteSummary) + Send + Sync>;

/// What to do once the previous run's writes are in the store: close the
/// contacts it left open (their BYE will never be seen: the dialogs died
/// with that process).
#[derive(Debug, Clone, Copy)]
pub struct Recovery {
    /// Writes replayed from disk; the cleanup waits for them.
    pub replayed: u64,
    /// The previous run's last heartbeat: open contacts end there.
    pub last_alive_ms: i64,
    /// This process's start: contacts of calls started since are ours.
    pub started_ms: i64,
}

pub struct JournalTasks {
    appender: Option<std::thread::JoinHandle<()>>,
    drainer: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl JournalTasks {
    /// Waits for both halves; call after every handle is dropped.
    pub async fn join(self) {
        if let Some(a) = self.appender {
            let _ = tokio::task::spawn_blocking(move || a.join()).await;
        }
        let _ = self.drainer.await;
        let _ = self.heartbeat.await;
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Replaces a small file atomically (write aside, rename).
fn write_small(path: &Path, value: u64) -> std::io::Result<()> {
    files::replace_private(path, value.to_string().as_bytes())
}

/// A refused write as `journal.rejects` keeps it.
#[derive(Serialize)]
struct RejectRef<'a> {
    seq: u64,
    refused_at_ms: i64,
    reason: &'a str,
    write: &'a Write,
}

/// The write's Call-ID, the one thing that names it in a log line.
fn call_id_of(w: &Write) -> &str {
    match w {
        Write::Call(c) => &c.call_id,
        Write::Callback(c) => &c.call_id,
        Write::Contact(c) => &c.call_id,
    }
}

fn kind_of(w: &Write) -> &'static str {
    match w {
        Write::Call(_) => "call",
        Write::Callback(_) => "callback",
        Write::Contact(_) => "contact",
    }
}

/// Sets a refused write aside and says so once. The write is lost only if
/// the disk refuses too (or the rejects file is full); the log line then
/// carries it whole, and it was unstorable anyway.
async fn set_aside(dir: &Path, seq: u64, write: &Write, error: &StoreError) {
    let reason = error.to_string();
    let line = RejectRef {
        seq,
        refused_at_ms: chrono::Utc::now().timestamp_millis(),
        reason: &reason,
        write,
    };
    let mut bytes = match serde_json::to_vec(&line) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(seq, error = %e, reason, "journal: refused write not serialisable; dropped");
            return;
        }
    };
    bytes.push(b'\n');
    let path = dir.join(REJECTS_FILE);
    let kept = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || append_reject(&path, &bytes)).await
    };
    // Debug formatting escapes the control characters a refused value
    // may well hold.
    let call_id = call_id_of(write);
    match kept {
        Ok(Ok(())) => tracing::error!(
            seq,
            kind = kind_of(write),
            ?call_id,
            reason,
            file = %path.display(),
            "journal: write refused by the database; set aside"
        ),
        Ok(Err(e)) => tracing::error!(
            seq,
            ?write,
            reason,
            error = %e,
            file = %path.display(),
            "journal: write refused by the database and not set aside; dropped"
        ),
        Err(e) => {
            tracing::error!(seq, ?write, reason, error = %e, "journal: write refused by the database; dropped")
        }
    }
}

fn append_reject(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut file = files::open_private(path, OpenOptions::new().create(true).append(true))?;
    if file.metadata()?.len() + line.len() as u64 > REJECTS_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{REJECTS_FILE} is full ({REJECTS_MAX_BYTES} bytes)"
        )));
    }
    file.write_all(line)?;
    file.sync_data()
}

fn append_loop(
    dir: &Path,
    mut file: File,
    mut next_seq: u64,
    mut rx: mpsc::Receiver<Write>,
    pending: &Mutex<VecDeque<(u64, Write)>>,
    progress: &Progress,
) {
    let log = dir.join("journal.log");
    let mut batch: Vec<(u64, Write)> = Vec::with_capacity(DRAIN_BATCH);
    let mut bytes = Vec::with_capacity(64 * 1024);
    while let Some(first) = rx.blocking_recv() {
        batch.push((next_seq, first));
        next_seq += 1;
        // Everything already queued joins this batch: one fsync for all.
        while batch.len() < 4 * DRAIN_BATCH {
            match rx.try_recv() {
                Ok(w) => {
                    batch.push((next_seq, w));
                    next_seq += 1;
                }
                Err(_) => break,
            }
        }
        bytes.clear();
        for (seq, write) in &batch {
            let line = LineRef { seq: *seq, write };
            if serde_json::to_writer(&mut bytes, &line).is_ok() {
                bytes.push(b'\n');
            }
        }
        // Until the disk takes it, keep trying: losing it is the one
        // thing this thread must not do.
        let mut delay = Duration::from_millis(10);
        loop {
            let r = file.write_all(&bytes).and_then(|_| file.sync_data());
            match r {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, path = %log.display(), "journal write failed; retrying");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
        let n = batch.len() as u64;
        {
            let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
            p.extend(batch.drain(..));
        }
        progress.written.fetch_add(n, Ordering::AcqRel);
        // Compact: everything on disk is in the store and the file is big.
        let all_drained =
            progress.drained.load(Ordering::Acquire) == progress.written.load(Ordering::Acquire);
        if all_drained && file.metadata().map(|m| m.len()).unwrap_or(0) > COMPACT_BYTES {
            if let Err(e) = file.set_len(0) {
                tracing::warn!(error = %e, "journal not compacted");
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn drain_loop(
    dir: PathBuf,
    store: Store,
    pending: Arc<Mutex<VecDeque<(u64, Write)>>>,
    notify: Arc<Notify>,
    progress: Arc<Progress>,
    closed: Arc<std::sync::atomic::AtomicBool>,
    recovery: Recovery,
    on_drained: Option<OnDrained>,
    mut stop: watch::Receiver<bool>,
) {
    let checkpoint = dir.join("journal.checkpoint");
    let mut stopping = false;
    let mut failures_after_stop = 0;
    let mut recovered = false;
    loop {
        if !recovered && progress.drained.load(Ordering::Acquire) >= recovery.replayed {
            match store
                .close_interrupted_contacts(recovery.last_alive_ms, recovery.started_ms)
                .await
            {
                Ok(n) => {
                    recovered = true;
                    if n > 0 {
                        tracing::warn!(
                            contacts = n,
                            "closed contacts left open by the previous run (flagged interrupted)"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "open contacts of the previous run not closed yet")
                }
            }
        }
        let batch: Vec<(u64, Write)> = {
            let p = pending.lock().unwrap_or_else(|e| e.into_inner());
            p.iter().take(DRAIN_BATCH).cloned().collect()
        };
        if batch.is_empty() {
            if closed.load(Ordering::Acquire) {
                return;
            }
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed(), if !stopping => { stopping = true; }
            }
            continue;
        }
        // References: the batch stays in `pending` until it is stored.
        let writes: Vec<&Write> = batch.iter().map(|(_, w)| w).collect();
        match store.write_batch(writes).await {
            Ok(summary) => {
                let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
                {
                    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                    for _ in 0..batch.len() {
                        p.pop_front();
                    }
                }
                progress
                    .drained
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                // Not fsynced: a stale checkpoint only means replaying
                // writes that are idempotent.
                if let Err(e) = write_small(&checkpoint, last) {
                    tracing::warn!(error = %e, "journal checkpoint not written");
                }
                if let Some(f) = &on_drained {
                    f(&summary);
                }
            }
            Err(e) if e.is_data_error() => {
                // One write the database refuses for its data must not
                // block the rest: apply them one by one, set the refused
                // aside.
                let mut summary = crate::store::WriteSummary::default();
                let mut unreachable = false;
                let mut done: usize = 0;
                for (seq, w) in &batch {
                    match store.write_one(w).await {
                        Ok(s) => summary.merge(s),
                        Err(e) if e.is_data_error() => {
                            set_aside(&dir, *seq, w, &e).await;
                            summary.refused += 1;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "journal: store write failed; retrying");
                            unreachable = true;
                            break;
                        }
                    }
                    done += 1;
                }
                if let Some(&(last, _)) = done.checked_sub(1).and_then(|i| batch.get(i)) {
                    {
                        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                        for _ in 0..done {
                            p.pop_front();
                        }
                    }
                    progress.drained.fetch_add(done as u64, Ordering::AcqRel);
                    if let Err(e) = write_small(&checkpoint, last) {
                        tracing::warn!(error = %e, "journal checkpoint not written");
                    }
                    if let Some(f) = &on_drained {
                        f(&summary);
                    }
                }
                if unreachable {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = batch.len(), "journal: store write failed; retrying");
                if stopping || closed.load(Ordering::Acquire) {
                    failures_after_stop += 1;
                    if failures_after_stop > 3 {
                        tracing::error!("journal: store unreachable at shutdown; the rest is replayed at next start");
                        return;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed(), if !stopping => { stopping = true; }
                }
            }
        }
    }
}

async fn heartbeat_loop(dir: PathBuf, mut stop: watch::Receiver<bool>) {
    let path = dir.join("heartbeat");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        if let Err(e) = write_small(&path, now) {
            tracing::warn!(error = %e, "heartbeat not written");
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
    }
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalHandle")
            .field("pending", &self.pending())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewCallback;

    fn write(n: i64) -> Write {
        Write::Callback(NewCallback {
            call_id: format!("c{n}"),
            from_tag: String::new(),
            consultant_id: 1,
            provider_id: None,
            protocol_id: None,
            caller_number: None,
            reason: "busy".into(),
            created_at_ms: n,
            due_at_ms: n + 600_000,
        })
    }

    fn line(seq: u64, n: i64) -> String {
        let l = LineRef {
            seq,
            write: &write(n),
        };
        format!("{}\n", serde_json::to_string(&l).unwrap())
    }

    #[test]
    fn replays_after_the_checkpoint_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!("{}{}{}", line(1, 1), line(2, 2), line(3, 3));
        let torn = &line(4, 4)[..20];
        std::fs::write(dir.path().join("journal.log"), format!("{good}{torn}")).unwrap();
        std::fs::write(dir.path().join("journal.checkpoint"), "1").unwrap();
        std::fs::write(dir.path().join("heartbeat"), "1764000000000").unwrap();
        let (journal, handle, rec) = Journal::open(dir.path()).unwrap();
        assert_eq!(rec.replayed, 2, "seq 2 and 3; 1 was drained, 4 is torn");
        assert_eq!(rec.last_alive_ms, Some(1_764_000_000_000));
        assert_eq!(handle.pending(), 2);
        let seqs: Vec<u64> = journal
            .pending
            .lock()
            .unwrap()
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(journal.next_seq, 4, "the torn line's number is reused");
        let on_disk = std::fs::read_to_string(dir.path().join("journal.log")).unwrap();
        assert_eq!(on_disk, good, "the torn tail is cut");
    }

    #[test]
    fn an_unreadable_line_ends_what_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}not json\n{}", line(1, 1), line(3, 3));
        std::fs::write(dir.path().join("journal.log"), text).unwrap();
        let (_, handle, rec) = Journal::open(dir.path()).unwrap();
        assert_eq!(rec.replayed, 1);
        assert_eq!(handle.pending(), 1);
        assert_eq!(rec.last_alive_ms, None);
    }
}
