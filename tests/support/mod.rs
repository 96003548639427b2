//! Starts the real daemon for a test: random HTTP port, a fresh SQLite file
//! or a fresh PostgreSQL database, and an admin token.
//!
//! PostgreSQL tests run when `PROTOCALL_TEST_POSTGRES_URL` is set; when it is
//! set and the server cannot be reached they fail rather than pass quietly.
#![allow(dead_code)]

use protocall::app::Application;
use protocall::config::Settings;
use protocall::store::Store;
use sqlx::Connection;

pub const SHIPPED_CONFIG: &str = include_str!("../../config/protocall.toml");
pub const PG_ENV: &str = "PROTOCALL_TEST_POSTGRES_URL";

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// The PostgreSQL base URL when the suite should test against it.
pub fn postgres() -> Option<Backend> {
    std::env::var(PG_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .map(Backend::Postgres)
}

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub db_url: String,
    pub sip_udp: std::net::SocketAddr,
    pub sip_tcp: std::net::SocketAddr,
    /// The TLS listener, when the test configured `[sip.tls]`.
    pub sip_tls: Option<std::net::SocketAddr>,
    pub events: tokio::sync::mpsc::Receiver<protocall::sip::dialog::DialogEvent>,
    pub location: std::sync::Arc<protocall::sip::location::Location>,
    pub guard: std::sync::Arc<protocall::sip::guard::Guard>,
    /// The routing snapshot and the registrar's credential cache, both
    /// reloaded a moment after each directory write.
    pub directory: std::sync::Arc<protocall::directory::snapshot::SharedDirectory>,
    pub credentials: std::sync::Arc<protocall::server::CredentialCache>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn http_port(base: &str) -> &str {
    base.rsplit(':').next().unwrap_or(base)
}

fn unique_name() -> String {
    let mut b = [0u8; 6];
    getrandom::getrandom(&mut b).unwrap();
    format!("protocall_test_{}", hex::encode(b))
}

/// A database URL for a fresh, empty database on `backend`.
pub async fn fresh_database(backend: &Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/protocall.db", dir.display()),
        Backend::Postgres(base) => {
            let mut conn = sqlx::PgConnection::connect(base).await.unwrap_or_else(|e| {
                panic!("{PG_ENV} is set but PostgreSQL is unreachable at {base}: {e}")
            });
            let name = unique_name();
            sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                .await
                .unwrap();
            conn.close().await.unwrap();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            format!("{prefix}/{name}")
        }
    }
}

pub fn settings(db_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        (
            "PROTOCALL__HTTP__LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        ),
        (
            "PROTOCALL__SIP__LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        ),
        // The test agents play carrier trunks from loopback; tests of the
        // toll-fraud checks override this with `[]`.
        (
            "PROTOCALL__ROUTING__TRUSTED_PEERS".to_string(),
            "[\"127.0.0.1\"]".to_string(),
        ),
        // The test agents and SIPp listen on loopback, where tests relay
        // calls by address; the shipped default opens no internal range.
        (
            "PROTOCALL__SECURITY__ALLOWED_DESTINATIONS".to_string(),
            "[\"127.0.0.0/8\"]".to_string(),
        ),
        ("DATABASE_URL".to_string(), db_url.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::from_parts("test", SHIPPED_CONFIG, &env).unwrap()
}

/// A client that asks for English answers.
pub fn english_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_LANGUAGE,
        reqwest::header::HeaderValue::from_static("en"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        if std::env::var("TEST_LOG").is_ok() {
            protocall::telemetry::init(&Default::default());
        }
        let dir = tempfile::tempdir().unwrap();
        let db_url = fresh_database(&backend, dir.path()).await;
        Self::spawn_on(db_url, dir, extra).await
    }

    /// The daemon on an existing database (a second instance sharing a
    /// desk, say), its journal in `dir`.
    pub async fn spawn_on(
        db_url: String,
        dir: tempfile::TempDir,
        extra: &[(&str, &str)],
    ) -> TestApp {
        let journal = dir.path().join("journal");
        let mut extra = extra.to_vec();
        let journal_env = journal.display().to_string();
        if !extra
            .iter()
            .any(|(k, _)| *k == "PROTOCALL__TRACKING__JOURNAL_DIR")
        {
            extra.push(("PROTOCALL__TRACKING__JOURNAL_DIR", &journal_env));
        }
        let settings = settings(&db_url, &extra);
        let mut app = Application::build(&settings).await.unwrap();
        let base = format!("http://{}", app.http_addr());
        let sip_udp = app.sip_udp_addr();
        let sip_tcp = app.sip_tcp_addr();
        let sip_tls = app.sip_tls_addr();
        let events = app.take_dialog_events().unwrap();
        let location = app.sip().location.clone();
        let guard = app.sip().guard.clone();
        let directory = app.sip().directory.clone();
        let credentials = app.sip().credentials.clone();
        let store = app.state().store.clone();
        // A second instance sharing the database names its own.
        let token = match store.create_token("test").await {
            Ok(t) => t,
            Err(_) => store
                .create_token(&format!("test-{}", http_port(&base)))
                .await
                .unwrap(),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            token,
            // The suites read the handlers' own (English) words; the
            // desk's Portuguese wording is tested in tests/api/api_language.rs.
            client: english_client(),
            store,
            db_url,
            sip_udp,
            sip_tcp,
            sip_tls,
            events,
            location,
            guard,
            directory,
            credentials,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// Creates consultants named `users` (the name is also the SIP
    /// username) with `password`, and waits until the credential cache,
    /// which refreshes on directory changes, has caught up.
    pub async fn add_consultants(&self, users: &[&str], password: &str) {
        for user in users {
            let r = self
                .post(
                    "/api/consultants",
                    serde_json::json!({"name": user, "sip_username": user, "password": password}),
                )
                .await;
            assert_eq!(r.status(), 201);
        }
        self.directory_synced().await;
    }

    /// Waits until the in-memory directory the SIP side reads (the
    /// routing snapshot and the credential cache, reloaded off the request
    /// path after each directory write) matches the store.
    pub async fn directory_synced(&self) {
        use protocall::sip::digest::StoredHa1;
        use protocall::sip::registrar::{CredentialSource, UserSecret};
        wait_until(
            "the routing snapshot and credential cache catching up with the store",
            std::time::Duration::from_secs(10),
            async || {
                let want = self.store.load_snapshot().await.unwrap();
                let have = self.directory.load();
                let protocols = |s: &protocall::directory::snapshot::Snapshot| {
                    let mut all: Vec<_> = s.open_protocols.values().flatten().cloned().collect();
                    all.sort_by_key(|p| p.id);
                    all
                };
                let credentials = self.store.all_sip_credentials().await.unwrap();
                want.numbers == have.numbers
                    && want.providers == have.providers
                    && want.consultants == have.consultants
                    && want.usernames == have.usernames
                    && protocols(&want) == protocols(&have)
                    && credentials.iter().all(|c| {
                        self.credentials.lookup(&c.sip_username)
                            == Some(UserSecret {
                                ha1: StoredHa1 {
                                    md5: c.ha1_md5.clone(),
                                    sha256: c.ha1_sha256.clone(),
                                },
                                active: c.active,
                            })
                    })
            },
        )
        .await
    }

    /// The next dialog event `pick` accepts, skipping others; panics after
    /// `wait`.
    pub async fn next_event_where(
        &mut self,
        wait: std::time::Duration,
        pick: impl Fn(&protocall::sip::dialog::DialogEvent) -> bool,
    ) -> protocall::sip::dialog::DialogEvent {
        loop {
            let e = tokio::time::timeout(wait, self.events.recv())
                .await
                .expect("a dialog event in time")
                .expect("event channel open");
            if pick(&e) {
                return e;
            }
        }
    }

    /// The body of a GET, as text (e.g. `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the status and returns the JSON body, printing it on mismatch.
pub async fn json(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Runs each listed async test against SQLite and, when configured,
/// PostgreSQL.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    match super::support::postgres() {
                        Some(b) => super::$name(b).await,
                        None => eprintln!("{} not set: PostgreSQL run skipped", super::support::PG_ENV),
                    }
                }
            )*
        }
    };
}
pub mod console;
pub mod daemon;
pub mod desk;
pub mod imap;
pub mod sip_agent;
pub mod wait;

#[allow(unused_imports)]
pub use wait::{wait_for, wait_until, wait_until_blocking};
