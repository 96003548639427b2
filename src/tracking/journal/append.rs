//! The appender thread: takes queued writes, numbers them, appends them to
//! the active segment with one fsync per batch, starts a new segment past
//! the configured size, and hands what is on disk to the drainer (in
//! memory while the window has room, by position past it).
//!
//! A disk that refuses an append (full, or failing: any write or fsync
//! error) must not lose what was already acknowledged, nor take in more
//! than it can hold: the failed batch is cut back off the file and retried
//! until the disk takes it, and meanwhile the journal stops accepting
//! writes (logged once, `protocall_journal_accepting` 0,
//! `protocall_journal_write_errors_total` counting every attempt).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::segment::Active;
use super::{LineRef, Pos, Shared, DRAIN_BATCH};
use crate::store::Write;

/// Most writes per fsync.
const APPEND_BATCH: usize = DRAIN_BATCH;
/// The longest wait between retries of a refused append.
const MAX_RETRY: Duration = Duration::from_secs(1);

pub(super) fn run(
    shared: &Shared,
    mut active: Active,
    mut next_seq: u64,
    mut rx: mpsc::Receiver<Write>,
) {
    let mut batch: Vec<(u64, Write)> = Vec::with_capacity(APPEND_BATCH);
    let mut bytes = Vec::with_capacity(1 << 20);
    while let Some(first) = rx.blocking_recv() {
        batch.push((next_seq, first));
        next_seq += 1;
        // Everything already queued joins this batch: one fsync for all.
        while batch.len() < APPEND_BATCH {
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
        let Some(&(first_seq, _)) = batch.first() else {
            return;
        };
        if active.len() >= shared.opts.segment_bytes {
            rotate(shared, &mut active, first_seq);
        }
        let offset = write_until_taken(shared, &mut active, &bytes);
        hand_over(
            shared,
            &mut batch,
            Pos {
                segment: active.name(),
                offset,
            },
        );
    }
}

/// Starts the segment whose first write is `first_seq`; on failure the
/// current one simply grows (rotation is housekeeping, not durability).
fn rotate(shared: &Shared, active: &mut Active, first_seq: u64) {
    match Active::create(&shared.dir, first_seq) {
        Ok(next) => {
            *active = next;
            shared.lock().segments.push_back(first_seq);
        }
        Err(e) => {
            tracing::warn!(error = %e, "journal: new segment not started; the current one grows")
        }
    }
}

/// Appends and fsyncs `bytes`, retrying until the disk takes them; returns
/// where they start.
fn write_until_taken(shared: &Shared, active: &mut Active, bytes: &[u8]) -> u64 {
    let mut delay = Duration::from_millis(10);
    let mut failing = false;
    loop {
        match active.append(bytes) {
            Ok(offset) => {
                if failing {
                    shared.accepting.store(true, Ordering::Release);
                    tracing::warn!(
                        path = %active.path().display(),
                        "journal: the disk takes writes again; accepting new ones"
                    );
                }
                return offset;
            }
            Err(e) => {
                shared.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                if !failing {
                    failing = true;
                    shared.accepting.store(false, Ordering::Release);
                    tracing::error!(
                        error = %e,
                        path = %active.path().display(),
                        "journal: append refused by the disk; new writes are refused until it \
                         takes them again (what was fsynced before is kept; retrying)"
                    );
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(MAX_RETRY);
            }
        }
    }
}

/// Makes a batch on disk visible to the drainer: into `pending` while the
/// window has room and nothing is waiting on disk before it; otherwise it
/// stays on disk, from `at`, for the drainer to read back.
fn hand_over(shared: &Shared, batch: &mut Vec<(u64, Write)>, at: Pos) {
    let n = batch.len() as u64;
    let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
    let first = batch.first().map(|(s, _)| *s).unwrap_or(0);
    let now = chrono::Utc::now().timestamp_millis();
    {
        let mut st = shared.lock();
        st.written_seq = last;
        if st.marks.back().is_none_or(|(_, t)| now - t >= 1_000) {
            st.marks.push_back((first, now));
        }
        if st.spill.is_none() && st.pending.len() + batch.len() <= shared.opts.window {
            st.pending.extend(batch.drain(..));
        } else {
            if st.spill.is_none() {
                st.spill = Some(at);
            }
            batch.clear();
        }
    }
    shared.stats.written.fetch_add(n, Ordering::AcqRel);
    shared.notify.notify_one();
}
