//! One daemon per data directory: an advisory lock on `protocall.lock`.
//!
//! Two daemons on the same journal would replay, cut and checkpoint each
//! other's files and log every call twice. The lock is the kernel's
//! (`flock` on Unix, through `File::try_lock`), so it goes away with the
//! process however it ends, kill -9 included: a stale lock file is never a
//! reason to refuse a start. The file holds the holder's PID, only to name
//! it in the error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use super::files;

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "protocall.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another protocall ({}) is using {}: it holds {}; stop it first, or give this one its own data",
        .pid.map_or_else(|| "PID unknown".to_owned(), |p| format!("PID {p}")),
        .dir.display(),
        .path.display()
    )]
    Held {
        dir: PathBuf,
        path: PathBuf,
        pid: Option<u32>,
    },
    #[error("cannot lock {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while the daemon runs; dropping it (or the process ending) frees
/// the directory.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
    path: PathBuf,
}

impl DataLock {
    /// Takes the lock on `dir` (creating it 0700 when missing), or says
    /// which process holds it. Never waits.
    pub fn acquire(dir: &Path) -> Result<DataLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        files::create_private_dir(dir).map_err(io)?;
        // Not truncated on open: until we hold the lock, the PID in it is
        // the holder's.
        let mut file = files::open_private(
            &path,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // A holder that has not written its PID yet leaves it empty.
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    path,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("journal");
        let first = DataLock::acquire(&data).unwrap();
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap().trim(),
            std::process::id().to_string()
        );
        // A second open of the file is a second lock holder, as another
        // process would be.
        match DataLock::acquire(&data) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        let msg = DataLock::acquire(&data).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("PID {}", std::process::id())),
            "{msg}"
        );
        drop(first);
        DataLock::acquire(&data).unwrap();
    }
}
