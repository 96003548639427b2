//! Reading the backlog back from the segments by offset: what the previous
//! run left, and what did not fit in the drainer's window.
//!
//! A line that does not parse is quarantined (copied to
//! `journal.quarantine` with its segment and offset, counted, logged) and
//! reading goes on after it: a torn line is never a cut point, since the
//! fsynced writes after it are as good as any. One exception keeps a
//! restart quiet: an unreadable line followed by writes already in the
//! store was read, and quarantined, by the run that stored them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{segment, Line, Pos, Stats};
use crate::store::{files, Write};

/// Unreadable lines, in the journal directory.
pub const QUARANTINE_FILE: &str = "journal.quarantine";
/// The quarantine stops growing here (lines are still counted and logged).
const QUARANTINE_MAX_BYTES: u64 = 64 << 20;

/// An unreadable line waiting to learn which side of the checkpoint it is.
struct Held {
    at: Pos,
    bytes: Vec<u8>,
}

/// A quarantined line as `journal.quarantine` keeps it.
#[derive(Serialize)]
struct Quarantined<'a> {
    segment: String,
    offset: u64,
    quarantined_at_ms: i64,
    /// The bytes, as text where they are UTF-8.
    line: &'a str,
}

/// What one read brought back.
pub(super) struct Read {
    pub writes: Vec<(u64, Write)>,
    /// Lines consumed without a write to store (unreadable but numbered).
    pub skipped: u64,
}

pub(super) struct DiskReader {
    dir: PathBuf,
    open: Option<BufReader<File>>,
    pos: Pos,
    /// The last sequence number consumed: lines at or below it are
    /// already in the store (or on their way in this run).
    last_seq: u64,
    held: Vec<Held>,
}

impl DiskReader {
    pub(super) fn new(dir: &Path, checkpoint: u64) -> DiskReader {
        DiskReader {
            dir: dir.to_path_buf(),
            open: None,
            pos: Pos {
                segment: 0,
                offset: 0,
            },
            last_seq: checkpoint,
            held: Vec::new(),
        }
    }

    /// Where the next read starts.
    pub(super) fn pos(&self) -> Pos {
        self.pos
    }

    pub(super) fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Reads up to `max` writes from `from`, none past `upto` (the last
    /// sequence number fsynced), across `segments` (oldest first; the last
    /// is being appended to, so a line without its newline there is still
    /// being written, while in any other it is torn).
    pub(super) fn read(
        &mut self,
        from: Pos,
        upto: u64,
        segments: &[u64],
        max: usize,
        stats: &Stats,
    ) -> std::io::Result<Read> {
        if self.open.is_none() || self.pos != from {
            self.seek(from, segments)?;
        }
        let mut out = Read {
            writes: Vec::new(),
            skipped: 0,
        };
        let mut quarantined = Vec::new();
        let mut buf = Vec::with_capacity(4096);
        while out.writes.len() < max {
            let Some(file) = self.open.as_mut() else {
                break;
            };
            buf.clear();
            let n = file.read_until(b'\n', &mut buf)? as u64;
            let at = self.pos;
            let next = segments.iter().copied().find(|&s| s > at.segment);
            if n == 0 || buf.last() != Some(&b'\n') {
                let Some(next) = next else {
                    // The live end: come back for the rest of the line.
                    if n > 0 {
                        file.seek(SeekFrom::Start(at.offset))?;
                    }
                    break;
                };
                if n > 0 {
                    self.held.push(Held {
                        at,
                        bytes: std::mem::take(&mut buf),
                    });
                }
                self.seek(
                    Pos {
                        segment: next,
                        offset: 0,
                    },
                    segments,
                )?;
                continue;
            }
            self.pos.offset += n;
            let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if text.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            // A line torn by a crash and glued to the next one written
            // after it: the torn part is quarantined, the write after it
            // is as good as any.
            let (torn, text) = match serde_json::from_slice::<Line>(text) {
                Ok(line) => (None, Ok(line)),
                Err(e) => match glued(text) {
                    Some((head, line)) => (Some(head), Ok(line)),
                    None => (None, Err(e)),
                },
            };
            let was_torn = torn.is_some();
            if let Some(head) = torn {
                self.held.push(Held {
                    at,
                    bytes: head.to_vec(),
                });
            }
            match text {
                Ok(line) if line.seq <= self.last_seq => {
                    // A write stored before (the previous run's, or a
                    // batch rewritten after a failed append): so were the
                    // unreadable lines before it.
                    self.held.clear();
                }
                Ok(line) if line.seq > upto => {
                    // Read again, torn part and all, next time.
                    self.held.truncate(self.held.len() - usize::from(was_torn));
                    self.pos = at;
                    if let Some(f) = self.open.as_mut() {
                        f.seek(SeekFrom::Start(at.offset))?;
                    }
                    break;
                }
                Ok(line) => {
                    quarantined.append(&mut self.held);
                    self.last_seq = line.seq;
                    out.writes.push((line.seq, line.write));
                }
                Err(_) => match segment::seq_of(buf.strip_suffix(b"\n").unwrap_or(&buf)) {
                    // Numbered but not a write this version knows.
                    Some(seq) if seq <= self.last_seq => self.held.clear(),
                    Some(seq) => {
                        quarantined.append(&mut self.held);
                        quarantined.push(Held {
                            at,
                            bytes: std::mem::take(&mut buf),
                        });
                        self.last_seq = seq;
                        out.skipped += 1;
                    }
                    None => self.held.push(Held {
                        at,
                        bytes: std::mem::take(&mut buf),
                    }),
                },
            }
        }
        if out.writes.len() < max {
            // The end of what is there: nothing after them can show they
            // were stored.
            quarantined.append(&mut self.held);
        }
        if !quarantined.is_empty() {
            self.quarantine(&quarantined, stats);
        }
        Ok(out)
    }

    /// Opens the segment `from` names at its offset, or the next one when
    /// it is gone (deleted: everything in it was stored).
    fn seek(&mut self, from: Pos, segments: &[u64]) -> std::io::Result<()> {
        let mut at = from;
        loop {
            match File::open(segment::path(&self.dir, at.segment)) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(at.offset))?;
                    self.open = Some(BufReader::with_capacity(1 << 18, f));
                    self.pos = at;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match segments.iter().copied().find(|&s| s > at.segment) {
                        Some(next) => {
                            at = Pos {
                                segment: next,
                                offset: 0,
                            }
                        }
                        None => {
                            self.open = None;
                            self.pos = from;
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn quarantine(&self, lines: &[Held], stats: &Stats) {
        stats
            .quarantined
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        let path = self.dir.join(QUARANTINE_FILE);
        let now = chrono::Utc::now().timestamp_millis();
        let mut bytes = Vec::new();
        for h in lines {
            let text = String::from_utf8_lossy(&h.bytes);
            let q = Quarantined {
                segment: segment::path(Path::new(""), h.at.segment)
                    .display()
                    .to_string(),
                offset: h.at.offset,
                quarantined_at_ms: now,
                line: text.trim_end_matches('\n'),
            };
            if serde_json::to_writer(&mut bytes, &q).is_ok() {
                bytes.push(b'\n');
            }
        }
        let Some(first) = lines.first().map(|l| &l.at) else {
            return;
        };
        match append_capped(&path, &bytes) {
            Ok(()) => tracing::error!(
                lines = lines.len(),
                segment = first.segment,
                offset = first.offset,
                file = %path.display(),
                "journal: unreadable lines quarantined; reading goes on after them"
            ),
            Err(e) => tracing::error!(
                lines = lines.len(),
                segment = first.segment,
                offset = first.offset,
                error = %e,
                "journal: unreadable lines skipped and not quarantined"
            ),
        }
    }
}

/// The last well-formed line glued after a torn one, with the torn part.
fn glued(text: &[u8]) -> Option<(&[u8], Line)> {
    let start = memchr::memmem::rfind(text, b"{\"seq\":")?;
    if start == 0 {
        return None;
    }
    let (torn, rest) = text.split_at_checked(start)?;
    let line = serde_json::from_slice::<Line>(rest).ok()?;
    Some((torn, line))
}

fn append_capped(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = files::open_private(path, OpenOptions::new().create(true).append(true))?;
    if file.metadata()?.len() + bytes.len() as u64 > QUARANTINE_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{QUARANTINE_FILE} is full ({QUARANTINE_MAX_BYTES} bytes)"
        )));
    }
    file.write_all(bytes)?;
    file.sync_data()
}
