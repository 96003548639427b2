//! Embedded, per-dialect schema migrations.
//!
//! The SQL lives in `migrations/<dialect>/NNNN_name.sql` and is compiled into
//! the binary, so `protocall serve` on a fresh machine needs no files beside
//! it. Each applied version is recorded with a checksum; a migration edited
//! after it ran is refused rather than silently skipped.

use sha2::{Digest, Sha256};

use super::{get, now_ms, Backend, Store, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "directory",
        sqlite: include_str!("../../migrations/sqlite/0001_directory.sql"),
        postgres: include_str!("../../migrations/postgres/0001_directory.sql"),
    },
    Migration {
        version: 2,
        name: "registrations",
        sqlite: include_str!("../../migrations/sqlite/0002_registrations.sql"),
        postgres: include_str!("../../migrations/postgres/0002_registrations.sql"),
    },
    Migration {
        version: 3,
        name: "presence",
        sqlite: include_str!("../../migrations/sqlite/0003_presence.sql"),
        postgres: include_str!("../../migrations/postgres/0003_presence.sql"),
    },
    Migration {
        version: 4,
        name: "calls",
        sqlite: include_str!("../../migrations/sqlite/0004_calls.sql"),
        postgres: include_str!("../../migrations/postgres/0004_calls.sql"),
    },
    Migration {
        version: 5,
        name: "tracking",
        sqlite: include_str!("../../migrations/sqlite/0005_tracking.sql"),
        postgres: include_str!("../../migrations/postgres/0005_tracking.sql"),
    },
    Migration {
        version: 6,
        name: "report_indexes",
        sqlite: include_str!("../../migrations/sqlite/0006_report_indexes.sql"),
        postgres: include_str!("../../migrations/postgres/0006_report_indexes.sql"),
    },
    Migration {
        version: 7,
        name: "call_dialogs",
        sqlite: include_str!("../../migrations/sqlite/0007_call_dialogs.sql"),
        postgres: include_str!("../../migrations/postgres/0007_call_dialogs.sql"),
    },
    Migration {
        version: 8,
        name: "roles_tokens",
        sqlite: include_str!("../../migrations/sqlite/0008_roles_tokens.sql"),
        postgres: include_str!("../../migrations/postgres/0008_roles_tokens.sql"),
    },
    Migration {
        version: 9,
        name: "registrations_tls",
        sqlite: include_str!("../../migrations/sqlite/0009_registrations_tls.sql"),
        postgres: include_str!("../../migrations/postgres/0009_registrations_tls.sql"),
    },
    Migration {
        version: 10,
        name: "sessions",
        sqlite: include_str!("../../migrations/sqlite/0010_sessions.sql"),
        postgres: include_str!("../../migrations/postgres/0010_sessions.sql"),
    },
    Migration {
        version: 11,
        name: "callbacks_closed_by_call",
        sqlite: include_str!("../../migrations/sqlite/0011_callbacks_closed_by_call.sql"),
        postgres: include_str!("../../migrations/postgres/0011_callbacks_closed_by_call.sql"),
    },
    Migration {
        version: 12,
        name: "protocols_reopen",
        sqlite: include_str!("../../migrations/sqlite/0012_protocols_reopen.sql"),
        postgres: include_str!("../../migrations/postgres/0012_protocols_reopen.sql"),
    },
    Migration {
        version: 13,
        name: "accounting_attendance",
        sqlite: include_str!("../../migrations/sqlite/0013_accounting_attendance.sql"),
        postgres: include_str!("../../migrations/postgres/0013_accounting_attendance.sql"),
    },
    Migration {
        version: 14,
        name: "contact_channels",
        sqlite: include_str!("../../migrations/sqlite/0014_contact_channels.sql"),
        postgres: include_str!("../../migrations/postgres/0014_contact_channels.sql"),
    },
    Migration {
        version: 15,
        name: "mail_intake",
        sqlite: include_str!("../../migrations/sqlite/0015_mail_intake.sql"),
        postgres: include_str!("../../migrations/postgres/0015_mail_intake.sql"),
    },
    Migration {
        version: 16,
        name: "chat_duty",
        sqlite: include_str!("../../migrations/sqlite/0016_chat_duty.sql"),
        postgres: include_str!("../../migrations/postgres/0016_chat_duty.sql"),
    },
    Migration {
        version: 18,
        name: "protocol_sync",
        sqlite: include_str!("../../migrations/sqlite/0018_protocol_sync.sql"),
        postgres: include_str!("../../migrations/postgres/0018_protocol_sync.sql"),
    },
    Migration {
        version: 19,
        name: "email_category",
        sqlite: include_str!("../../migrations/sqlite/0019_email_category.sql"),
        postgres: include_str!("../../migrations/postgres/0019_email_category.sql"),
    },
    Migration {
        version: 20,
        name: "cluster",
        sqlite: include_str!("../../migrations/sqlite/0020_cluster.sql"),
        postgres: include_str!("../../migrations/postgres/0020_cluster.sql"),
    },
];

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// The PostgreSQL advisory lock migrations hold (an arbitrary constant, the
/// same in every protocall), so that instances sharing a database and
/// starting together migrate it one after the other.
const MIGRATION_LOCK: i64 = 0x7072_6f74_6f63_616c;

pub(super) async fn run(store: &Store) -> Result<Vec<i64>, StoreError> {
    let pool = store.pool();
    let mut conn = pool.acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        let migrated = match create_table(&mut conn).await {
            Ok(()) => apply_pending(store, &mut conn, false).await,
            Err(e) => Err(e),
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            // A session lock ends with its connection.
            let _ = sqlx::Connection::close(conn.detach()).await;
        }
        return migrated;
    }
    create_table(&mut conn).await?;
    // SQLite changes a table's constraints only by rebuilding it, and
    // dropping the old table with foreign keys on would cascade to the
    // rows that refer to it. The switch only works outside a transaction,
    // so it is set here for all migrations; each one checks the keys before
    // it commits.
    sqlx::raw_sql("PRAGMA foreign_keys = OFF")
        .execute(&mut *conn)
        .await?;
    let applied = apply_pending(store, &mut conn, true).await;
    let restored = match &applied {
        Ok(_) => sqlx::raw_sql("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await
            .map(drop),
        Err(_) => Ok(()),
    };
    if applied.is_err() || restored.is_err() {
        // Never hand the pool a connection that does not enforce foreign
        // keys (or that a failed migration left mid-transaction).
        let _ = sqlx::Connection::close(conn.detach()).await;
    }
    let applied = applied?;
    restored?;
    Ok(applied)
}

async fn create_table(conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS protocall_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            checksum   TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_pending(
    store: &Store,
    conn: &mut sqlx::AnyConnection,
    sqlite: bool,
) -> Result<Vec<i64>, StoreError> {
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let sql = match store.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let sum = checksum(sql);
        let row = sqlx::query("SELECT checksum FROM protocall_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let existing: String = get(&row, "checksum")?;
            if existing != sum {
                return Err(StoreError::MigrationChanged { version: m.version });
            }
            continue;
        }
        let fail = |source| StoreError::Migration {
            version: m.version,
            name: m.name.to_string(),
            source,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(fail)?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
        if sqlite {
            let r = sqlx::query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
            let rows: i64 = get(&r, "n")?;
            if rows > 0 {
                return Err(StoreError::MigrationBrokeReferences {
                    version: m.version,
                    rows,
                });
            }
        }
        sqlx::query(
            "INSERT INTO protocall_migrations (version, name, checksum, applied_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(sum)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        applied.push(m.version);
    }
    Ok(applied)
}
