//! Files and directories that hold the desk's data on local disk (the
//! SQLite database, the contacts journal, the instance lock) and the rule
//! they share: only the user the daemon runs as may read them.
//!
//! Modes are set explicitly after creating, not left to the umask, so a
//! service started with umask 000 still writes 0600 files and 0700
//! directories. On platforms without Unix modes these are plain creates.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Mode of every data file.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every data directory.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents, each 0700. A directory that
/// already exists is left as it is: it may be shared (`/var/lib`, `/tmp`)
/// and its mode is its owner's business.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(dir) {
        Ok(()) => set_mode(dir, DIR_MODE),
        // Created by someone else meanwhile: not ours to change.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` with `opts`, creating it 0600 when `opts` allows creating,
/// and makes it 0600 whether it was new or not.
pub fn open_private(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(opts, FILE_MODE);
    let file = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// Replaces a small file atomically (write aside, rename), 0600.
pub fn replace_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = open_private(
        &tmp,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    file.write_all(contents)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Makes an existing file 0600; a missing one is not an error.
pub fn make_private(path: &Path) -> io::Result<()> {
    match set_mode(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Whether anyone but the owner may read or write `path` (false when it
/// cannot be told).
pub fn readable_by_others(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_dirs_are_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(dir.path()), 0o755, "an existing directory is not ours");
        // An existing, open file is tightened too.
        let f = sub.join("f");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(readable_by_others(&f));
        open_private(&f, OpenOptions::new().append(true)).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert!(!readable_by_others(&f));
        let g = sub.join("g");
        replace_private(&g, b"42").unwrap();
        assert_eq!(mode(&g), 0o600);
        assert_eq!(std::fs::read_to_string(&g).unwrap(), "42");
        make_private(&sub.join("missing")).unwrap();
    }
}
