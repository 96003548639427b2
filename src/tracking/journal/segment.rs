//! The journal's files: numbered segments, the one being appended to, and
//! what a start finds in them.
//!
//! A segment is named for the sequence number of its first write,
//! `journal-<seq, 20 digits>.log`, so the names alone say where each one
//! ends (just before the next one's first write) and which are entirely in
//! the store (their end at or before the checkpoint): those are deleted
//! without being read.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{io, JournalError};
use crate::store::files;

/// The single file of the layout before segments.
const OLD_LOG: &str = "journal.log";
const PREFIX: &str = "journal-";
const SUFFIX: &str = ".log";

pub(super) fn path(dir: &Path, name: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{name:020}{SUFFIX}"))
}

/// The segment files in `dir`, oldest first.
pub(super) fn list(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let name = file
            .strip_prefix(PREFIX)
            .and_then(|f| f.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = name {
            names.push(n);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// A line's sequence number, reading the write only as far as to know it
/// is well-formed JSON.
#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
    #[allow(dead_code)]
    write: serde::de::IgnoredAny,
}

pub(super) fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<SeqOnly>(line).ok().map(|l| l.seq)
}

/// The sequence number a line yields to the reader: its own, or that of a
/// line glued after a torn one (see `reader`).
fn readable_seq(line: &[u8]) -> Option<u64> {
    seq_of(line).or_else(|| {
        let start = memchr::memmem::rfind(line, b"{\"seq\":")?;
        (start > 0)
            .then(|| line.get(start..).and_then(seq_of))
            .flatten()
    })
}

/// Moves the old layout's single `journal.log` into a segment named for
/// its first readable write (its checkpoint stays valid: sequence numbers
/// do not change). A rename: nothing is copied, nothing can be lost half
/// way.
pub(super) fn adopt_old_layout(dir: &Path, checkpoint: u64) -> Result<(), JournalError> {
    let old = dir.join(OLD_LOG);
    let file = match File::open(&old) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&old)(e)),
    };
    let mut first = None;
    for line in BufReader::new(file).split(b'\n') {
        if let Some(seq) = seq_of(&line.map_err(io(&old))?) {
            first = Some(seq);
            break;
        }
    }
    let name = first.unwrap_or(checkpoint + 1);
    let new = path(dir, name);
    if new.exists() {
        // Only an older version run after this one (writing a new single
        // file beside the segments) leaves both: refuse rather than guess.
        return Err(io(&old)(std::io::Error::other(format!(
            "both {OLD_LOG} and {} exist; move one aside",
            new.display()
        ))));
    }
    std::fs::rename(&old, &new).map_err(io(&old))?;
    sync_dir(dir).map_err(io(dir))?;
    tracing::info!(segment = %new.display(), "journal: single-file journal moved into a segment");
    Ok(())
}

/// What a start finds on disk.
pub(super) struct Found {
    /// Segments that may hold writes not yet in the store, oldest first.
    pub segments: VecDeque<u64>,
    /// The highest sequence number on disk (0: none).
    pub max_seq: u64,
    /// Writes after the checkpoint (each sequence number once).
    pub undrained: usize,
}

/// Deletes the segments entirely at or before `checkpoint` and counts the
/// writes after it in the others.
pub(super) fn scan(dir: &Path, checkpoint: u64) -> Result<Found, JournalError> {
    let names = list(dir)?;
    let mut segments = VecDeque::new();
    for (i, &name) in names.iter().enumerate() {
        let drained = names.get(i + 1).is_some_and(|next| next - 1 <= checkpoint);
        if drained {
            let p = path(dir, name);
            std::fs::remove_file(&p).map_err(io(&p))?;
        } else {
            segments.push_back(name);
        }
    }
    let mut max_seq = 0;
    let mut undrained = 0;
    for &name in &segments {
        let p = path(dir, name);
        let file = File::open(&p).map_err(io(&p))?;
        for line in BufReader::with_capacity(1 << 20, file).split(b'\n') {
            // A line that does not parse is the reader's to quarantine.
            let Some(seq) = readable_seq(&line.map_err(io(&p))?) else {
                continue;
            };
            if seq > checkpoint.max(max_seq) {
                undrained += 1;
            }
            max_seq = max_seq.max(seq);
        }
    }
    Ok(Found {
        segments,
        max_seq,
        undrained,
    })
}

/// Makes a file's creation or removal in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being appended to.
pub(super) struct Active {
    name: u64,
    path: PathBuf,
    file: File,
    /// Bytes known to be on disk (fsynced): the file is cut back here when
    /// an append fails.
    len: u64,
    /// A failed append could not be cut back: the next one starts with a
    /// newline, so that its first line is not glued to a partial one.
    dirty: bool,
}

impl Active {
    /// Appends to the newest segment, or starts one at `next_seq`. A torn
    /// last line left by a crash gets its newline: it stays, to be
    /// quarantined when read, and the writes after it start clean.
    pub(super) fn open_last(
        dir: &Path,
        last: Option<u64>,
        next_seq: u64,
    ) -> Result<Active, JournalError> {
        let Some(name) = last else {
            return Active::create(dir, next_seq);
        };
        let path = path(dir, name);
        let mut file = files::open_private(&path, OpenOptions::new().read(true).append(true))
            .map_err(io(&path))?;
        let mut len = file.metadata().map_err(io(&path))?.len();
        if len > 0 && !ends_with_newline(&path, len).map_err(io(&path))? {
            file.write_all(b"\n")
                .and_then(|_| file.sync_data())
                .map_err(io(&path))?;
            len += 1;
        }
        Ok(Active {
            name,
            path,
            file,
            len,
            dirty: false,
        })
    }

    /// A new, empty segment whose first write is `name`.
    pub(super) fn create(dir: &Path, name: u64) -> Result<Active, JournalError> {
        let path = path(dir, name);
        let file = files::open_private(&path, OpenOptions::new().create(true).append(true))
            .map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        sync_dir(dir).map_err(io(dir))?;
        Ok(Active {
            name,
            path,
            file,
            len,
            dirty: len > 0,
        })
    }

    pub(super) fn name(&self) -> u64 {
        self.name
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `bytes` and fsyncs; returns the offset they start at. On
    /// error the file is cut back to what was fsynced before (a partial
    /// batch was never acknowledged), or, failing that, marked so that the
    /// next append starts on a new line.
    pub(super) fn append(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let start = if self.dirty {
            let at = self.file.metadata()?.len();
            self.file.write_all(b"\n")?;
            at + 1
        } else {
            self.len
        };
        let r = self
            .file
            .write_all(bytes)
            .and_then(|_| self.file.sync_data());
        match r {
            Ok(()) => {
                self.len = start + bytes.len() as u64;
                self.dirty = false;
                Ok(start)
            }
            Err(e) => {
                self.dirty = self.file.set_len(self.len).is_err();
                Err(e)
            }
        }
    }
}

fn ends_with_newline(path: &Path, len: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}
