//! The daemon's files on disk, with the real binary: the SQLite database
//! (and its -wal/-shm) and every journal file are 0600 and the directories
//! it creates 0700 even under umask 000; a second daemon on the same data
//! refuses to start and names the first one's PID; after a kill -9 the
//! lock is gone and the data can be used again.
#![cfg(unix)]

use crate::support::daemon::{free_port, Owned};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

struct Data {
    db_dir: PathBuf,
    journal: PathBuf,
}

impl Data {
    /// `protocall serve` on this data with fresh ports, started by a shell
    /// with umask 000 so only explicit modes can make files private.
    fn command(&self, http: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("umask 000 && exec \"$0\" serve")
            .arg(env!("CARGO_BIN_EXE_protocall"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("DATABASE_URL")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/protocall.db", self.db_dir.display()),
            )
            .env(
                "PROTOCALL__SIP__LISTEN",
                format!("127.0.0.1:{}", free_port()),
            )
            .env("PROTOCALL__HTTP__LISTEN", http)
            .env("PROTOCALL__TRACKING__JOURNAL_DIR", &self.journal)
            .env("PROTOCALL__LOG__LEVEL", "warn")
            .stdout(Stdio::null());
        c
    }

    async fn start(&self) -> Owned {
        let http = format!("127.0.0.1:{}", free_port());
        let mut child = Owned(self.command(&http).stderr(Stdio::null()).spawn().unwrap());
        let client = reqwest::Client::new();
        for _ in 0..150 {
            if client
                .get(format!("http://{http}/healthz"))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!("the daemon exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the daemon did not start");
    }
}

#[tokio::test]
async fn data_is_private_and_held_by_one_daemon_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = Data {
        db_dir: dir.path().join("db"),
        journal: dir.path().join("journal"),
    };
    let mut first = data.start().await;

    // Private files, whatever the umask.
    assert_eq!(mode(&data.db_dir), 0o700, "created SQLite directory");
    for name in ["protocall.db", "protocall.db-wal", "protocall.db-shm"] {
        assert_eq!(mode(&data.db_dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&data.journal), 0o700, "journal directory");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&data.journal).unwrap() {
        let path = entry.unwrap().path();
        // A heartbeat being replaced may vanish under us.
        if let Ok(m) = std::fs::metadata(&path) {
            assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", path.display());
            seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    for name in ["heartbeat", "protocall.lock"] {
        assert!(seen.iter().any(|s| s == name), "{name} missing: {seen:?}");
    }
    assert!(
        seen.iter()
            .any(|s| s.starts_with("journal-") && s.ends_with(".log")),
        "no journal segment: {seen:?}"
    );

    // A second daemon on the same data stops at once, naming the first.
    let second = data
        .command(&format!("127.0.0.1:{}", free_port()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || second.wait_with_output()),
    )
    .await
    .expect("the second daemon kept running")
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let pid = format!("PID {}", first.0.id());
    assert!(stderr.contains(&pid), "no {pid} in: {stderr}");
    assert!(stderr.contains("protocall.lock"), "{stderr}");

    // kill -9 leaves the lock file behind but not the lock.
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert!(data.journal.join("protocall.lock").exists());
    let again = data.start().await;
    drop(again);
}
