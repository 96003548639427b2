//! The durable path from the SIP side to the store: an append-only journal
//! on local disk, fsynced in batches, drained to the store in batches.
//!
//! Why: a contact must survive the database being slow or down and the
//! process dying, and writing it must never make a call wait. So the call
//! log hands each write to [`JournalHandle::append`] (a `try_send`, never a
//! wait); a dedicated thread ([`append`]) appends it to the current segment
//! file and fsyncs once per batch; an async drainer ([`drain`]) writes what
//! is on disk to the store in one transaction per batch and records how far
//! it got in `journal.checkpoint` (the last sequence number stored).
//! After a crash the journal is replayed from the checkpoint: every write is
//! idempotent (keyed by Call-ID), so replaying more than needed doubles
//! nothing. A `heartbeat` file, touched every second, tells the next start
//! when this process was last alive (to close contacts it left open).
//!
//! On disk ([`segment`]): numbered segment files, `journal-<first seq>.log`,
//! one JSON object per line, `{"seq": N, "write": {...}}`; a new segment
//! starts past a configured size, and a segment whose writes are all in the
//! store is deleted, so the journal holds the backlog, not the history.
//! A line that does not parse (torn by a crash or a full disk, or garbage)
//! is copied to `journal.quarantine` and reading goes on after it
//! ([`reader`]): nothing after it is ever cut.
//!
//! Memory is bounded: at most a window of writes waits in memory; past it
//! the drainer reads the backlog back from the segments by offset.
//!
//! A write the database refuses for its data (a constraint, a NUL byte
//! PostgreSQL cannot store: `StoreError::is_data_error`) will be refused
//! forever, so it must not hold up the writes behind it: it is set aside in
//! `journal.rejects` (same format plus the time and the reason), counted and
//! logged once, and the drainer goes on. Every file here is 0600 and the
//! directory 0700: contacts are client data.

mod append;
mod drain;
mod reader;
mod segment;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};

use crate::store::files;
use crate::store::{Store, Write};

pub use drain::REJECTS_FILE;
pub use reader::QUARANTINE_FILE;

/// Writes accepted but not yet on disk are bounded by this queue.
pub const APPEND_QUEUE: usize = 65_536;
/// Most writes per store transaction: what is pending, up to this.
pub const DRAIN_BATCH: usize = 4_096;
/// Writes kept in memory for the drainer by default (`tracking.journal_window`).
pub const DEFAULT_WINDOW: usize = 50_000;
/// Segment size past which a new one starts, by default
/// (`tracking.journal_segment_mib`).
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// How much the journal keeps in memory and on disk.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Most writes held in memory for the drainer; the rest is read back
    /// from disk.
    pub window: usize,
    /// A new segment starts once the current one is this big.
    pub segment_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            window: DEFAULT_WINDOW,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
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

/// Where a line starts: the segment (by its first sequence number) and the
/// byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    segment: u64,
    offset: u64,
}

/// What the appender and the drainer share, under one lock.
struct State {
    /// Writes on disk waiting for the store, oldest first, at most the
    /// window.
    pending: VecDeque<(u64, Write)>,
    /// When set, the writes from here on are on disk only (the window was
    /// full, or they are the previous run's): the drainer reads them back,
    /// and the appender keeps new ones out of `pending` until it has.
    spill: Option<Pos>,
    /// The last sequence number on disk (fsynced).
    written_seq: u64,
    /// The last sequence number in the store.
    drained_seq: u64,
    /// Segment files, oldest first.
    segments: VecDeque<u64>,
    /// (sequence number, when it was fsynced, UTC ms), at most one a
    /// second: the backlog's age without a timestamp per write.
    marks: VecDeque<(u64, i64)>,
}

/// Counters the metrics read.
#[derive(Default)]
struct Stats {
    written: AtomicU64,
    drained: AtomicU64,
    /// Writes not accepted (queue full or disk failing).
    dropped: AtomicU64,
    write_errors: AtomicU64,
    quarantined: AtomicU64,
}

struct Shared {
    dir: PathBuf,
    opts: JournalOptions,
    state: Mutex<State>,
    notify: Notify,
    stats: Stats,
    /// Cleared while the disk refuses writes: appends fail fast instead of
    /// queueing what cannot be made durable.
    accepting: AtomicBool,
    /// Set while appends are being dropped, so that a run of drops is
    /// logged once.
    dropping: AtomicBool,
    /// The appender has stopped (every handle dropped).
    closed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The journal's inbox, cheap to clone.
#[derive(Clone)]
pub struct JournalHandle {
    tx: mpsc::Sender<Write>,
    shared: Arc<Shared>,
}

impl JournalHandle {
    /// Queues a write for the disk; never waits. `false` when it is not
    /// taken (the write is lost, counted, and the first of a run logged):
    /// the disk refuses writes, or the queue is full (it holds a minute of
    /// peak load, so the disk itself is stuck).
    pub fn append(&self, w: Write) -> bool {
        let taken = self.shared.accepting.load(Ordering::Acquire) && self.tx.try_send(w).is_ok();
        if taken {
            self.shared.dropping.store(false, Ordering::Relaxed);
        } else {
            self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.shared.dropping.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "journal not taking writes (disk failing or queue full): call-log writes \
                     are dropped until it does (counted in protocall_journal_dropped_total)"
                );
            }
        }
        taken
    }

    /// Writes on disk not yet in the store.
    pub fn pending(&self) -> u64 {
        self.monitor().pending()
    }

    /// A read-only view of the journal that does not keep it open (the
    /// appender stops when every handle is dropped).
    pub fn monitor(&self) -> JournalMonitor {
        JournalMonitor {
            shared: self.shared.clone(),
        }
    }

    /// Writes lost because the journal did not take them.
    pub fn rejected(&self) -> u64 {
        self.shared.stats.dropped.load(Ordering::Relaxed)
    }
}

/// The journal's figures, for `/metrics`.
#[derive(Clone)]
pub struct JournalMonitor {
    shared: Arc<Shared>,
}

impl JournalMonitor {
    /// Writes on disk not yet in the store.
    pub fn pending(&self) -> u64 {
        let s = &self.shared.stats;
        let w = s.written.load(Ordering::Acquire);
        let d = s.drained.load(Ordering::Acquire);
        w.saturating_sub(d)
    }

    /// Age of the oldest write on disk not yet in the store (0 when none).
    pub fn backlog_age_seconds(&self) -> f64 {
        if self.pending() == 0 {
            return 0.0;
        }
        let oldest = {
            let st = self.shared.lock();
            // The newest mark at or before the oldest write not stored.
            let first = st.drained_seq + 1;
            st.marks
                .iter()
                .take_while(|(seq, _)| *seq <= first)
                .last()
                .or(st.marks.front())
                .map(|(_, t)| *t)
        };
        let now = chrono::Utc::now().timestamp_millis();
        oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0)
    }

    /// Whether appends are taken (false while the disk refuses them).
    pub fn accepting(&self) -> bool {
        self.shared.accepting.load(Ordering::Acquire)
    }

    /// Appends or fsyncs the disk refused, retries included.
    pub fn write_errors(&self) -> u64 {
        self.shared.stats.write_errors.load(Ordering::Relaxed)
    }

    /// Unreadable lines copied to `journal.quarantine`.
    pub fn quarantined(&self) -> u64 {
        self.shared.stats.quarantined.load(Ordering::Relaxed)
    }

    /// Writes lost because the journal did not take them.
    pub fn dropped(&self) -> u64 {
        self.shared.stats.dropped.load(Ordering::Relaxed)
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
    shared: Arc<Shared>,
    active: segment::Active,
    next_seq: u64,
    rx: mpsc::Receiver<Write>,
    checkpoint: u64,
}

impl Journal {
    /// Opens (creating) the journal in `dir` with the default window and
    /// segment size.
    pub fn open(dir: &Path) -> Result<(Journal, JournalHandle, Recovered), JournalError> {
        Journal::open_with(dir, JournalOptions::default())
    }

    /// Opens (creating) the journal in `dir`: moves a single `journal.log`
    /// of the old layout into a segment, deletes segments already in the
    /// store, and counts what the previous run left undrained (read back
    /// from disk by the drainer, not loaded here).
    pub fn open_with(
        dir: &Path,
        opts: JournalOptions,
    ) -> Result<(Journal, JournalHandle, Recovered), JournalError> {
        files::create_private_dir(dir).map_err(io(dir))?;
        if files::readable_by_others(dir) {
            tracing::warn!(dir = %dir.display(), "the journal directory is open to other users; chmod 700 it");
        }
        let checkpoint = read_u64(&dir.join(drain::CHECKPOINT_FILE)).unwrap_or(0);
        let last_alive_ms = read_u64(&dir.join("heartbeat")).map(|v| v as i64);
        segment::adopt_old_layout(dir, checkpoint)?;
        let found = segment::scan(dir, checkpoint)?;
        let next_seq = found.max_seq.max(checkpoint) + 1;
        let active = segment::Active::open_last(dir, found.segments.back().copied(), next_seq)?;
        let mut segments = found.segments;
        if segments.back() != Some(&active.name()) {
            segments.push_back(active.name());
        }
        let replayed = found.undrained;
        if replayed > 0 {
            tracing::info!(replayed, "journal: writes from the previous run to replay");
        }
        let now = chrono::Utc::now().timestamp_millis();
        let first = segments.front().copied().unwrap_or(next_seq);
        let state = State {
            pending: VecDeque::new(),
            // The previous run's backlog, and any unreadable line in it,
            // are read back from the oldest segment left.
            spill: Some(Pos {
                segment: first,
                offset: 0,
            }),
            written_seq: next_seq - 1,
            drained_seq: checkpoint,
            segments,
            marks: VecDeque::from([(checkpoint + 1, now)]),
        };
        let stats = Stats::default();
        stats.written.store(replayed as u64, Ordering::Release);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            state: Mutex::new(state),
            notify: Notify::new(),
            stats,
            accepting: AtomicBool::new(true),
            dropping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel(APPEND_QUEUE);
        let journal = Journal {
            shared: shared.clone(),
            active,
            next_seq,
            rx,
            checkpoint,
        };
        Ok((
            journal,
            JournalHandle { tx, shared },
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
            shared,
            active,
            next_seq,
            rx,
            checkpoint,
        } = self;
        let appender = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("journal".into())
                .spawn(move || {
                    append::run(&shared, active, next_seq, rx);
                    shared.closed.store(true, Ordering::Release);
                    shared.notify.notify_one();
                })
        };
        let appender = match appender {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the journal thread");
                None
            }
        };
        let drainer = tokio::spawn(drain::run(
            shared.clone(),
            store,
            checkpoint,
            recovery,
            on_drained,
            stop.clone(),
        ));
        let heartbeat = tokio::spawn(drain::heartbeat_loop(shared.dir.clone(), stop));
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

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalHandle")
            .field("pending", &self.pending())
            .finish()
    }
}
