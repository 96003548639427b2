//! The drainer: takes what is on disk (from memory, or read back from the
//! segments past the window), writes it to the store as large batches (as
//! many writes as are waiting, up to [`DRAIN_BATCH`]), records the
//! checkpoint, deletes the segments it has passed, and sets aside the
//! writes the database refuses for their data.
//!
//! Why batches sized by the backlog: a transaction costs about the same
//! for one write as for thousands written as multi-row statements, so a
//! drain that takes everything waiting keeps pace with the proxy however
//! busy it is, and a quiet desk still sees each write within a moment.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use super::reader::DiskReader;
use super::{segment, write_small, OnDrained, Recovery, Shared, DRAIN_BATCH};
use crate::store::{files, Store, StoreError, Write, WriteSummary};

/// The last sequence number in the store, in the journal directory.
pub(super) const CHECKPOINT_FILE: &str = "journal.checkpoint";
/// Refused writes set aside, in the journal directory.
pub const REJECTS_FILE: &str = "journal.rejects";
/// The rejects file stops growing here (refusals are still counted and
/// logged): something refusing every write must not fill the disk.
const REJECTS_MAX_BYTES: u64 = 64 << 20;

/// Where the writes being stored came from: how to let go of them.
enum Source {
    /// Taken out of `pending`.
    Memory,
    /// Read from disk; the reader has moved past them.
    Disk,
}

pub(super) async fn run(
    shared: Arc<Shared>,
    store: Store,
    checkpoint: u64,
    recovery: Recovery,
    on_drained: Option<OnDrained>,
    mut stop: watch::Receiver<bool>,
) {
    let mut reader = Some(DiskReader::new(&shared.dir, checkpoint));
    let mut work: Vec<(u64, Write)> = Vec::new();
    let mut source = Source::Memory;
    let mut stopping = false;
    let mut failures_after_stop = 0;
    let mut recovered = false;
    loop {
        if !recovered && shared.stats.drained.load(Ordering::Acquire) >= recovery.replayed {
            recovered = close_interrupted(&store, &recovery).await;
        }
        if work.is_empty() {
            match take(&shared, &mut reader).await {
                Taken::Writes(w, s) => {
                    work = w;
                    source = s;
                }
                Taken::Progress => continue,
                Taken::Nothing => {
                    if shared.closed.load(Ordering::Acquire) {
                        return;
                    }
                    tokio::select! {
                        _ = shared.notify.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed(), if !stopping => { stopping = true; }
                    }
                    continue;
                }
            }
        }
        match store.write_batch(work.iter().map(|(_, w)| w)).await {
            Ok(summary) => {
                let n = work.len();
                done(
                    &shared,
                    &mut work,
                    n,
                    &source,
                    &reader,
                    &on_drained,
                    &summary,
                );
            }
            Err(e) if e.is_data_error() => {
                // One write the database refuses for its data must not
                // block the rest: apply them one by one, set the refused
                // aside.
                let (stored, summary, unreachable) = one_by_one(&shared.dir, &store, &work).await;
                if stored > 0 {
                    done(
                        &shared,
                        &mut work,
                        stored,
                        &source,
                        &reader,
                        &on_drained,
                        &summary,
                    );
                }
                if unreachable {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, pending = work.len(), "journal: store write failed; retrying");
                if stopping || shared.closed.load(Ordering::Acquire) {
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

/// Closes the previous run's open contacts; whether that is done.
async fn close_interrupted(store: &Store, recovery: &Recovery) -> bool {
    match store
        .close_interrupted_contacts(recovery.last_alive_ms, recovery.started_ms)
        .await
    {
        Ok(n) => {
            if n > 0 {
                tracing::warn!(
                    contacts = n,
                    "closed contacts left open by the previous run (flagged interrupted)"
                );
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "open contacts of the previous run not closed yet");
            false
        }
    }
}

enum Taken {
    Writes(Vec<(u64, Write)>, Source),
    /// Lines consumed without writes (quarantined, or the end of the
    /// backlog on disk reached): look again at once.
    Progress,
    Nothing,
}

/// The next batch: what waits in memory, else what waits on disk.
async fn take(shared: &Arc<Shared>, reader: &mut Option<DiskReader>) -> Taken {
    let (from, upto, segments) = {
        let mut st = shared.lock();
        if !st.pending.is_empty() {
            let n = st.pending.len().min(DRAIN_BATCH);
            return Taken::Writes(st.pending.drain(..n).collect(), Source::Memory);
        }
        let Some(from) = st.spill else {
            return Taken::Nothing;
        };
        (
            from,
            st.written_seq,
            st.segments.iter().copied().collect::<Vec<_>>(),
        )
    };
    let Some(mut r) = reader.take() else {
        return Taken::Nothing;
    };
    let task = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || {
            let read = r.read(from, upto, &segments, DRAIN_BATCH, &shared.stats);
            (r, read)
        })
    };
    let (r, read) = match task.await {
        Ok(v) => v,
        Err(e) => {
            // The reader is lost with the task: start over from the
            // checkpoint's side (lines already stored are skipped).
            tracing::error!(error = %e, "journal: reader task failed");
            *reader = Some(DiskReader::new(&shared.dir, shared.lock().drained_seq));
            return Taken::Nothing;
        }
    };
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(error = %e, "journal: reading the backlog back failed; retrying");
            *reader = Some(r);
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Taken::Nothing;
        }
    };
    shared
        .stats
        .drained
        .fetch_add(read.skipped, Ordering::AcqRel);
    let moved = r.pos() != from || read.skipped > 0;
    if read.writes.is_empty() {
        let caught_up = r.last_seq() >= upto;
        {
            let mut st = shared.lock();
            st.spill = if caught_up && st.written_seq == upto {
                None
            } else {
                Some(r.pos())
            };
        }
        *reader = Some(r);
        return if caught_up || moved {
            Taken::Progress
        } else {
            Taken::Nothing
        };
    }
    *reader = Some(r);
    Taken::Writes(read.writes, Source::Disk)
}

/// The first `n` writes of `work` are in the store: let go of them, move
/// the checkpoint, delete the segments passed, count.
fn done(
    shared: &Shared,
    work: &mut Vec<(u64, Write)>,
    n: usize,
    source: &Source,
    reader: &Option<DiskReader>,
    on_drained: &Option<OnDrained>,
    summary: &WriteSummary,
) {
    let Some(&(last, _)) = n.checked_sub(1).and_then(|i| work.get(i)) else {
        return;
    };
    work.drain(..n);
    shared.stats.drained.fetch_add(n as u64, Ordering::AcqRel);
    // Not fsynced: a stale checkpoint only means replaying writes that are
    // idempotent.
    if let Err(e) = write_small(&shared.dir.join(CHECKPOINT_FILE), last) {
        tracing::warn!(error = %e, "journal checkpoint not written");
    }
    let passed: Vec<u64> = {
        let mut st = shared.lock();
        st.drained_seq = last;
        if work.is_empty() {
            if let (Source::Disk, Some(r)) = (source, reader) {
                // Everything fsynced has been read back: new writes may
                // wait in memory again.
                st.spill = if r.last_seq() >= st.written_seq {
                    None
                } else {
                    Some(r.pos())
                };
            }
        }
        while st.marks.get(1).is_some_and(|m| m.0 <= last + 1) {
            st.marks.pop_front();
        }
        let mut passed = Vec::new();
        while st.segments.get(1).is_some_and(|s| s - 1 <= last) {
            if let Some(s) = st.segments.pop_front() {
                passed.push(s);
            }
        }
        passed
    };
    for s in passed {
        let p = segment::path(&shared.dir, s);
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::warn!(error = %e, path = %p.display(), "journal: drained segment not deleted");
        }
    }
    if let Some(f) = on_drained {
        f(summary);
    }
}

/// Applies `work` write by write, setting aside what the database refuses
/// for its data; stops at a failure that is not the data's. Returns how
/// many were dealt with, what they changed, and whether it stopped early.
async fn one_by_one(
    dir: &Path,
    store: &Store,
    work: &[(u64, Write)],
) -> (usize, WriteSummary, bool) {
    let mut summary = WriteSummary::default();
    let mut done = 0;
    for (seq, w) in work {
        match store.write_one(w).await {
            Ok(s) => summary.merge(s),
            Err(e) if e.is_data_error() => {
                set_aside(dir, *seq, w, &e).await;
                summary.refused += 1;
            }
            Err(e) => {
                tracing::warn!(error = %e, "journal: store write failed; retrying");
                return (done, summary, true);
            }
        }
        done += 1;
    }
    (done, summary, false)
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
    use std::io::Write as _;
    let mut file =
        files::open_private(path, std::fs::OpenOptions::new().create(true).append(true))?;
    if file.metadata()?.len() + line.len() as u64 > REJECTS_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{REJECTS_FILE} is full ({REJECTS_MAX_BYTES} bytes)"
        )));
    }
    file.write_all(line)?;
    file.sync_data()
}

pub(super) async fn heartbeat_loop(dir: PathBuf, mut stop: watch::Receiver<bool>) {
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
