//! The real `protocall` binary as a child process, for the tests that
//! need what only a process has: a kill, a signal, a restart on the same
//! files. Configured for the desk fixture's dialplan on SQLite in a
//! temporary directory, on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::desk::PLAN;

/// A loopback port free for UDP (SIP listens on UDP and TCP alike).
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// A loopback port free for TCP.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process of ours, stopped by its PID and reaped when the test ends,
/// however it ends.
pub struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Daemon {
    pub env: Vec<(String, String)>,
    pub http: String,
    pub sip: std::net::SocketAddr,
    /// Where `start` writes the daemon's log.
    pub log: PathBuf,
}

impl Daemon {
    /// The desk fixture's dialplan in `dir/plans`, the store and journal
    /// in `dir`, carriers trusted on 127.0.0.2, the URA at `ura_uri`.
    pub fn desk(dir: &Path, ura_uri: &str) -> Daemon {
        let plans = dir.join("plans");
        std::fs::create_dir_all(&plans).unwrap();
        std::fs::write(plans.join("default.toml"), PLAN).unwrap();
        let sip = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = format!("127.0.0.1:{}", free_port());
        let env = [
            (
                "DATABASE_URL",
                format!("sqlite://{}/protocall.db", dir.display()),
            ),
            ("PROTOCALL__SIP__LISTEN", sip.to_string()),
            ("PROTOCALL__HTTP__LISTEN", http.clone()),
            ("PROTOCALL__ROUTING__DIALPLANS", plans.display().to_string()),
            ("PROTOCALL__ROUTING__URA_URI", ura_uri.to_string()),
            (
                "PROTOCALL__ROUTING__TRUSTED_PEERS",
                "[\"127.0.0.2\"]".into(),
            ),
            (
                "PROTOCALL__TRACKING__JOURNAL_DIR",
                dir.join("journal").display().to_string(),
            ),
            ("PROTOCALL__LOG__LEVEL", "info".into()),
        ];
        Daemon {
            env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            http: format!("http://{http}"),
            sip,
            log: dir.join("protocall.log"),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_protocall"));
        c.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// An admin token, made with the CLI on the daemon's store.
    pub fn token(&self) -> String {
        let out = self
            .command(&["token", "create", "--name", "t"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Starts `serve` (its log appended to `self.log`) and waits until
    /// it answers `/healthz`.
    pub async fn start(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = self
            .command(&["serve"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        // Generous: a loaded CI machine runs other daemons beside this one.
        for _ in 0..300 {
            if client
                .get(format!("{}/healthz", self.http))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon did not start in 30 s:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
