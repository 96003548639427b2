//! The store: one repository API over SQLite (the embedded default) and
//! PostgreSQL, chosen by URL.
//!
//! It speaks SQL and nothing else: it knows providers, consultants and
//! protocols, never SIP. Queries go through sqlx's `Any` driver so one set of
//! statements serves both backends; that is why every timestamp is a BIGINT
//! of UTC milliseconds and every placeholder is `$n` written in ascending
//! order (SQLite binds `$n` by first appearance).

mod callbacks;
mod calls;
mod chat;
mod cluster;
mod contacts;
mod directory;
mod duty;
pub mod files;
mod import;
mod journal_writes;
mod lock;
mod mail;
mod migrate;
mod planning;
mod protocol_sync;
mod protocols;
mod registrations;
mod reports;
pub mod sessions;
mod snapshot;
pub mod tokens;
mod tracking;

pub use callbacks::{Callback, CallbackQuery, CallbackRecord, NewCallback};
pub use calls::*;
pub use chat::{ChatConversation, NewChatContact, NewConversation};
pub use cluster::{Beat, Peers};
pub use contacts::{Contact, ContactQuery};
pub use directory::*;
pub use duty::{DutyExceptionRow, DutySlotRow};
pub use journal_writes::{CallContact, ClosedContact, Write, WriteSummary};
pub use lock::{DataLock, LockError, LOCK_FILE};
pub use mail::{
    FlaggedReply, FolderMark, MailMatch, MailThread, NewMailThread, ProtocolHit, SeenMessage,
    ThreadRef,
};
pub use migrate::MIGRATIONS;
pub use planning::{Absence, PlanRow, ScheduledBlock};
pub use protocol_sync::{NewPending, SyncedNew, SyncedProtocol};
pub use protocols::{ProtocolFields, ProtocolQuery, ProtocolRecord};
pub use registrations::{ChangedRegistration, RegistrationRow, TOMBSTONE_MS};
pub use reports::{ClosedProtocol, ContactSpan, TaskSpan};
pub use tokens::{NewToken, TokenCheck, TokenInfo, TokenKind, TokenStatus, VerifiedToken};
pub use tracking::{AuditEntry, Category, ContactRecord, Room, Task, TaskQuery, TaskRecord};

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the SQLite database or its directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: String,
        source: sqlx::Error,
    },
    #[error("migration {version} was changed after it was applied (checksum differs)")]
    MigrationChanged { version: i64 },
    #[error("migration {version} would leave {rows} rows referring to rows that do not exist")]
    MigrationBrokeReferences { version: i64, rows: i64 },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("refers to something that does not exist or is still in use: {0}")]
    Reference(String),
    #[error("rejected by a database constraint: {0}")]
    Constraint(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A text column holds a word outside its set: the CHECK constraints
    /// keep those out, so the database was edited by hand; the row cannot
    /// be read as what it claims to be.
    #[error("column {column}: {source}")]
    UnknownWord {
        column: &'static str,
        source: crate::text_enum::UnknownWord,
    },
}

impl StoreError {
    /// The database refused the data itself, so retrying the same write
    /// can never succeed: a constraint (PostgreSQL SQLSTATE class 23,
    /// SQLite `SQLITE_CONSTRAINT`), or a value it cannot hold (class 22
    /// "data exception", e.g. 22021 for a NUL byte in text; SQLite
    /// `SQLITE_MISMATCH` and `SQLITE_TOOBIG`), or one sqlx could not encode.
    /// Everything else (a refused connection, a pool timeout, SQLite busy
    /// or locked, a missing table) may pass once the database or the
    /// operator has done something, so it is not one.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Conflict(_) | StoreError::Reference(_) | StoreError::Constraint(_) => true,
            StoreError::Db(e) => is_data_problem(e),
            _ => false,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    /// Turns constraint violations into errors the API can name (409 for a
    /// duplicate, 422 for a dangling reference) instead of a bare 500.
    pub(crate) fn classify(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let msg = db.message().to_string();
            return match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(msg),
                sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::Reference(msg),
                sqlx::error::ErrorKind::CheckViolation
                | sqlx::error::ErrorKind::NotNullViolation => StoreError::Constraint(msg),
                // SQLite reports a foreign key checked by a RETURNING insert
                // with an extended code sqlx does not classify (1811); its
                // message is stable, so fall back to that.
                _ if msg.contains("FOREIGN KEY constraint failed") => StoreError::Reference(msg),
                _ if msg.contains("UNIQUE constraint failed") => StoreError::Conflict(msg),
                _ => StoreError::Db(e),
            };
        }
        StoreError::Db(e)
    }
}

/// SQLite's primary result codes for data it will not store
/// (<https://www.sqlite.org/rescode.html>): extended codes keep the primary
/// one in their low byte.
const SQLITE_TOOBIG: i32 = 18;
const SQLITE_CONSTRAINT: i32 = 19;
const SQLITE_MISMATCH: i32 = 20;

/// Reads the database's own error code: the message text differs between
/// versions and locales, the code does not.
fn is_data_problem(e: &sqlx::Error) -> bool {
    let db = match e {
        sqlx::Error::Database(db) => db,
        sqlx::Error::Encode(_) => return true,
        _ => return false,
    };
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        return code.starts_with("22") || code.starts_with("23");
    }
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
        return matches!(
            code & 0xff,
            SQLITE_TOOBIG | SQLITE_CONSTRAINT | SQLITE_MISMATCH
        );
    }
    false
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    tz: Tz,
    /// The instance whose calls and contacts this handle writes (see the
    /// `[cluster]` section); the single instance's is "default".
    instance: std::sync::Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Opens the database named by `url` (creating a SQLite file and its
    /// directory when missing). `tz` is the zone timestamps are shown in.
    pub async fn connect(url: &str, max_connections: u32, tz: Tz) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let (url, created) = if backend == Backend::Sqlite {
            prepare_sqlite_url(url)?
        } else {
            (url.to_string(), None)
        };
        let mut opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the single writer; foreign keys are
            // off by default in SQLite and our schema relies on them.
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(&url),
                source,
            })?;
        if let Some(db) = created {
            // SQLite gives -wal and -shm the database's mode already; this
            // holds even if it one day does not.
            for suffix in ["-wal", "-shm"] {
                let mut side = db.clone().into_os_string();
                side.push(suffix);
                if let Err(e) = files::make_private(std::path::Path::new(&side)) {
                    tracing::warn!(error = %e, file = ?side, "cannot make the SQLite file private");
                }
            }
        }
        Ok(Store {
            pool,
            backend,
            tz,
            instance: std::sync::Arc::from("default"),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The same database, writing calls and contacts as `instance`'s.
    pub fn with_instance(mut self, instance: &str) -> Store {
        self.instance = std::sync::Arc::from(instance);
        self
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Applies pending migrations; safe to run any number of times.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        migrate::run(self).await
    }

    /// A round trip to the database, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that will write. On SQLite it takes the write lock
    /// at BEGIN: a deferred transaction that reads first and then writes
    /// fails at once with SQLITE_BUSY(_SNAPSHOT) when another connection
    /// wrote in between (the busy timeout cannot help a stale snapshot),
    /// which the API answered with a 503. Taken up front, the lock is
    /// waited for like any other.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn ts(&self, ms: i64) -> DateTime<Tz> {
        match Utc.timestamp_millis_opt(ms) {
            chrono::LocalResult::Single(t) => t.with_timezone(&self.tz),
            _ => DateTime::<Utc>::UNIX_EPOCH.with_timezone(&self.tz),
        }
    }

    pub(crate) fn opt_ts(&self, ms: Option<i64>) -> Option<DateTime<Tz>> {
        ms.map(|m| self.ts(m))
    }
}

impl Store {
    /// One page of `table`'s rows matching `f` in `order`, with the total:
    /// what every list endpoint answers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn page_of<T>(
        &self,
        table: &str,
        cols: &str,
        order: &str,
        f: &Filter,
        limit: i64,
        offset: i64,
        map: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<crate::directory::Page<T>, StoreError> {
        let (limit, offset) = directory::clamp_page(limit, offset);
        let total = self.count(table, f).await?;
        let sql = format!(
            "SELECT {cols} FROM {table}{} ORDER BY {order} LIMIT {} OFFSET {}",
            f.where_sql(),
            f.next_placeholder(1),
            f.next_placeholder(2)
        );
        let rows = f
            .bind(sqlx::query(&sql))
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        Ok(crate::directory::Page {
            items: rows.iter().map(map).collect::<Result<_, _>>()?,
            total,
            limit,
            offset,
        })
    }
}

/// Milliseconds since the epoch, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(StoreError::Db)
}

/// Reads a text column holding one word of a closed set (a status, a
/// source) as its enum.
pub(crate) fn get_word<T>(row: &AnyRow, col: &'static str) -> Result<T, StoreError>
where
    T: std::str::FromStr<Err = crate::text_enum::UnknownWord>,
{
    get::<String>(row, col)?
        .parse()
        .map_err(|source| StoreError::UnknownWord {
            column: col,
            source,
        })
}

/// Reads a nullable text column holding one word of a closed set.
pub(crate) fn get_word_opt<T>(row: &AnyRow, col: &'static str) -> Result<Option<T>, StoreError>
where
    T: std::str::FromStr<Err = crate::text_enum::UnknownWord>,
{
    get::<Option<String>>(row, col)?
        .map(|s| {
            s.parse().map_err(|source| StoreError::UnknownWord {
                column: col,
                source,
            })
        })
        .transpose()
}

/// Reads a flag stored as BOOLEAN (PostgreSQL) or INTEGER 0/1 (SQLite).
pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    match row.try_get::<bool, _>(col) {
        Ok(b) => Ok(b),
        Err(_) => Ok(get::<i64>(row, col)? != 0),
    }
}

/// Makes sure a SQLite file can be created: its directory exists (0700
/// when we create it) and the URL asks for create-if-missing. A database
/// file we are to create is created here, 0600, so nothing else ever sees
/// it with the umask's mode; its path is returned then. An existing one
/// keeps its mode (a warning says when others can read it).
fn prepare_sqlite_url(url: &str) -> Result<(String, Option<std::path::PathBuf>), StoreError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut out = format!("sqlite://{path}");
    let creates = match query {
        Some(q) if q.contains("mode=") => {
            out.push_str(&format!("?{q}"));
            q.split('&').any(|kv| kv == "mode=rwc")
        }
        Some(q) => {
            out.push_str(&format!("?{q}&mode=rwc"));
            true
        }
        None => {
            out.push_str("?mode=rwc");
            true
        }
    };
    // Validate early so a bad URL fails with the URL, not deep in the pool.
    sqlx::sqlite::SqliteConnectOptions::from_str(&out).map_err(|source| StoreError::Connect {
        url: out.clone(),
        source,
    })?;
    if path == ":memory:" || path.is_empty() {
        return Ok((out, None));
    }
    let file = std::path::Path::new(path);
    let create_err = |p: &std::path::Path| {
        let path = p.display().to_string();
        move |source| StoreError::CreateDir { path, source }
    };
    if let Some(dir) = file.parent() {
        files::create_private_dir(dir).map_err(create_err(dir))?;
    }
    if file.exists() {
        if files::readable_by_others(file) {
            tracing::warn!(
                file = %file.display(),
                "the SQLite database is readable by other users; chmod 600 it"
            );
        }
        return Ok((out, None));
    }
    if !creates {
        return Ok((out, None));
    }
    match files::open_private(
        file,
        std::fs::OpenOptions::new().write(true).create_new(true),
    ) {
        Ok(_) => Ok((out, Some(file.to_path_buf()))),
        // Another process created it meanwhile: it is not ours to chmod.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((out, None)),
        Err(e) => Err(create_err(file)(e)),
    }
}

/// Query parameters whose value is a secret (compared ignoring case).
const SECRET_PARAMS: [&str; 8] = [
    "password",
    "sslpassword",
    "pass",
    "passwd",
    "pwd",
    "token",
    "secret",
    "auth_token",
];

/// Hides the secrets in a database URL before it reaches a log or an
/// error: the password of `user:password@` and the value of any query
/// parameter that carries one (`?password=`, `sslpassword`, `token`...).
pub fn redact(url: &str) -> String {
    // Everything before the first '?' is scheme, credentials, host and
    // path; a password may hold '@' or '/', so credentials end at the last
    // '@' there.
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len());
    match head.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((cred, host)) => match cred.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{scheme}://{user}:***@{host}")),
                None => out.push_str(head),
            },
            None => out.push_str(head),
        },
        None => out.push_str(head),
    }
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if is_secret_param(key) => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

fn is_secret_param(key: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| key.eq_ignore_ascii_case(s))
}

/// Builds a WHERE clause with `$n` placeholders numbered in order, because
/// sqlx's `QueryBuilder` for `Any` writes `?`, which PostgreSQL rejects.
#[derive(Default)]
pub(crate) struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

#[derive(Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
}

impl Filter {
    /// Adds a clause in which `$?` stands for the next placeholder.
    pub fn push(&mut self, clause: &str, arg: Arg) {
        self.args.push(arg);
        let n = self.args.len();
        self.clauses.push(clause.replace("$?", &format!("${n}")));
    }

    /// Adds `clause` when the filter value is given.
    pub fn push_int(&mut self, clause: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.push(clause, Arg::Int(v));
        }
    }

    /// Adds `clause` when the filter value is given.
    pub fn push_text(&mut self, clause: &str, v: Option<&str>) {
        if let Some(v) = v {
            self.push(clause, Arg::Text(v.to_string()));
        }
    }

    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    pub fn next_placeholder(&self, offset: usize) -> String {
        format!("${}", self.args.len() + offset)
    }

    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for a in &self.args {
            q = match a.clone() {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
            };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/sub/x.db", dir.path().display());
        let (out, created) = prepare_sqlite_url(&url).unwrap();
        assert!(out.ends_with("x.db?mode=rwc"), "{out}");
        assert!(dir.path().join("sub").is_dir());
        assert_eq!(created, Some(dir.path().join("sub/x.db")));
        // An existing file is not ours to create.
        let (_, again) = prepare_sqlite_url(&url).unwrap();
        assert_eq!(again, None);
        // Read-only mode creates nothing.
        let ro = format!("sqlite://{}/ro.db?mode=ro", dir.path().display());
        assert_eq!(prepare_sqlite_url(&ro).unwrap().1, None);
        assert!(!dir.path().join("ro.db").exists());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://u:p@ss/w@h/db"),
            "postgres://u:***@h/db",
            "a password holding '@' and '/'"
        );
    }

    #[test]
    fn passwords_in_query_strings_are_redacted() {
        assert_eq!(
            redact("postgres://h/db?user=u&password=secret"),
            "postgres://h/db?user=u&password=***"
        );
        assert_eq!(
            redact("postgres://h/db?PassWord=a&sslmode=require&SSLPASSWORD=b&pwd=c&pass=d&token=e"),
            "postgres://h/db?PassWord=***&sslmode=require&SSLPASSWORD=***&pwd=***&pass=***&token=***"
        );
        // Both places at once; a query '@' does not move the credentials.
        assert_eq!(
            redact("postgres://u:s1@h/db?application_name=a@b&password=s2"),
            "postgres://u:***@h/db?application_name=a@b&password=***"
        );
        // Names that merely contain a secret word are not secrets, and
        // nothing else changes.
        assert_eq!(
            redact("postgres://h/db?passive=1&sslrootcert=/x&password"),
            "postgres://h/db?passive=1&sslrootcert=/x&password"
        );
        assert_eq!(
            redact("sqlite://data/protocall.db?mode=rwc"),
            "sqlite://data/protocall.db?mode=rwc"
        );
    }

    /// What each SQLite failure is, from real errors: data problems are
    /// refusals to set aside, the rest is retried.
    #[tokio::test]
    async fn sqlite_errors_are_told_apart_by_code() {
        use sqlx::{Connection, Executor};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/c.db?mode=rwc", dir.path().display());
        let mut a = sqlx::SqliteConnection::connect(&url).await.unwrap();
        a.execute(
            "PRAGMA foreign_keys = ON; CREATE TABLE p (id INTEGER PRIMARY KEY); \
             CREATE TABLE t (a TEXT NOT NULL CHECK (a <> 'bad'), b INTEGER UNIQUE, \
             p INTEGER REFERENCES p (id)); INSERT INTO t (a, b) VALUES ('x', 1)",
        )
        .await
        .unwrap();
        let err = |e: sqlx::Error| StoreError::Db(e);
        for (what, sql) in [
            ("check", "INSERT INTO t (a) VALUES ('bad')"),
            ("not null", "INSERT INTO t (a) VALUES (NULL)"),
            ("unique", "INSERT INTO t (a, b) VALUES ('y', 1)"),
            ("foreign key", "INSERT INTO t (a, p) VALUES ('y', 42)"),
        ] {
            let e = err(a.execute(sql).await.unwrap_err());
            assert!(e.is_data_error(), "{what}: {e}");
            // Classified or not, the same answer.
            if let StoreError::Db(inner) = e {
                assert!(StoreError::classify(inner).is_data_error(), "{what}");
            }
        }
        let e = err(a
            .execute("INSERT INTO nowhere VALUES (1)")
            .await
            .unwrap_err());
        assert!(
            !e.is_data_error(),
            "a missing table is no data problem: {e}"
        );
        // Busy: another connection holds the write lock and we do not wait.
        a.execute("BEGIN EXCLUSIVE").await.unwrap();
        let mut b = sqlx::SqliteConnection::connect(&url).await.unwrap();
        b.execute("PRAGMA busy_timeout = 0").await.unwrap();
        let e = err(b
            .execute("INSERT INTO t (a) VALUES ('z')")
            .await
            .unwrap_err());
        assert!(!e.is_data_error(), "busy is transient: {e}");
        assert!(!StoreError::Db(sqlx::Error::PoolTimedOut).is_data_error());
        assert!(!StoreError::not_found("x").is_data_error());
    }

    #[test]
    fn filter_numbers_placeholders_in_order() {
        let mut f = Filter::default();
        f.push("a = $?", Arg::Int(1));
        f.push("b LIKE $?", Arg::Text("x".into()));
        assert_eq!(f.where_sql(), " WHERE a = $1 AND b LIKE $2");
        assert_eq!(f.next_placeholder(1), "$3");
    }
}
