//! A private Dovecot for a test: generated config in a temp dir, IMAP on a
//! free loopback port (in the clear, or upgraded with STARTTLS) and IMAPS
//! on another, with a certificate from a test CA made by rcgen; one
//! mailbox `desk` with a plain password, maildir storage. Started as a child process, stopped by
//! PID on drop; it can be stopped and started again on the same port for
//! outage tests.
//!
//! `IMAP_REQUIRED` (`PROTOCALL_TEST_REQUIRE_DOVECOT`, set by `.ci/run`)
//! turns a missing dovecot into a failure instead of a skip.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

pub const DOVECOT: &str = "/usr/sbin/dovecot";
pub const IMAP_REQUIRED: &str = "PROTOCALL_TEST_REQUIRE_DOVECOT";
pub const USER: &str = "desk";
pub const PASSWORD: &str = "desk-secret";

pub struct Dovecot {
    pub port: u16,
    /// IMAPS (implicit TLS).
    pub tls_port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Whether the test can run: dovecot installed, or required (then a
/// missing one fails the test).
pub fn available() -> bool {
    if Path::new(DOVECOT).exists() {
        return true;
    }
    if std::env::var_os(IMAP_REQUIRED).is_some() {
        panic!("{IMAP_REQUIRED} is set but {DOVECOT} is missing (apt-get install dovecot-imapd)");
    }
    eprintln!("{DOVECOT} missing and {IMAP_REQUIRED} unset: IMAP test skipped");
    false
}

use super::daemon::free_tcp_port as free_port;

impl Dovecot {
    pub async fn start() -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("dvc")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        // Dovecot will not serve mail as root: as root the mailbox belongs
        // to nobody; otherwise to whoever runs the test.
        let meta = std::fs::metadata(d).unwrap();
        let root = meta.uid() == 0;
        let (uid, gid) = if root {
            (65534, 65534)
        } else {
            (meta.uid(), meta.gid())
        };
        if root {
            std::os::unix::fs::chown(d.join("mail"), Some(uid), Some(gid)).unwrap();
        }
        let home = d.join("mail").join(USER);
        std::fs::write(
            d.join("passwd"),
            format!(
                "{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}::\n",
                home.display()
            ),
        )
        .unwrap();
        let users = if root {
            String::new()
        } else {
            let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
            format!("default_internal_user = {me}\ndefault_login_user = {me}\n")
        };
        let port = free_port();
        let tls_port = free_port();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        std::fs::write(d.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(d.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(d.join("key.pem"), key.serialize_pem()).unwrap();
        let conf = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             ssl = yes\n\
             ssl_cert = <{d}/cert.pem\n\
             ssl_key = <{d}/key.pem\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             mail_location = maildir:{d}/mail/%u\n\
             first_valid_uid = 1\n\
             {users}\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    \
             port = {port}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    \
             port = {tls_port}\n  }}\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/passwd\n}}\n",
            d = d.display()
        );
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        let mut dc = Dovecot {
            port,
            tls_port,
            dir,
            child: None,
        };
        dc.start_again().await;
        dc
    }

    /// The test CA that signed the server's certificate.
    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Starts the server (again) and waits until its port answers.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "dovecot already running");
        let child = Command::new(DOVECOT)
            .arg("-F")
            .arg("-c")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let plain = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await;
            let tls = tokio::net::TcpStream::connect(("127.0.0.1", self.tls_port)).await;
            if plain.is_ok() && tls.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen on {} in time; log: {}",
                self.port,
                std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (SIGTERM to its master, by PID) and waits until
    /// it is gone and its port refuses.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some()
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_err()
            {
                return;
            }
            assert!(Instant::now() < deadline, "dovecot did not stop in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The settings that point the intake at this server.
    pub fn settings(&self, team: &str) -> Vec<(String, String)> {
        [
            ("PROTOCALL__INTAKE__ENABLED", "true".to_string()),
            ("PROTOCALL__INTAKE__HOST", "127.0.0.1".to_string()),
            ("PROTOCALL__INTAKE__PORT", self.port.to_string()),
            ("PROTOCALL__INTAKE__TLS", "none".to_string()),
            ("PROTOCALL__INTAKE__USERNAME", USER.to_string()),
            ("PROTOCALL__INTAKE__PASSWORD", PASSWORD.to_string()),
            ("PROTOCALL__INTAKE__TEAM_ADDRESS", team.to_string()),
            ("PROTOCALL__INTAKE__POLL_SECONDS", "5".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        client
            .login(USER, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap()
    }

    pub async fn create(&self, folder: &str) {
        let mut s = self.session().await;
        s.create(folder).await.unwrap();
        s.logout().await.unwrap();
    }

    /// Appends `raw` to `folder`, received at `internal` (IMAP date-time,
    /// e.g. `"03-Dec-2026 10:00:00 +0000"`).
    pub async fn append(&self, folder: &str, raw: &str, internal: &str) {
        let mut s = self.session().await;
        s.append(
            folder,
            None,
            Some(&format!("\"{internal}\"")),
            raw.as_bytes(),
        )
        .await
        .unwrap();
        s.logout().await.unwrap();
    }

    /// The folder's UIDVALIDITY.
    pub async fn uid_validity(&self, folder: &str) -> u32 {
        let mut s = self.session().await;
        let m = s.examine(folder).await.unwrap();
        s.logout().await.unwrap();
        m.uid_validity.unwrap()
    }

    /// Every message of `folder`: (UID, flags).
    pub async fn flags(&self, folder: &str) -> Vec<(u32, Vec<String>)> {
        let mut s = self.session().await;
        s.examine(folder).await.unwrap();
        let mut out = Vec::new();
        {
            let mut stream = s.uid_fetch("1:*", "(UID FLAGS)").await.unwrap();
            while let Some(f) = stream.next().await {
                let f = f.unwrap();
                let flags = f.flags().map(|fl| format!("{fl:?}")).collect();
                out.push((f.uid.unwrap(), flags));
            }
        }
        s.logout().await.unwrap();
        out.sort();
        out
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}
