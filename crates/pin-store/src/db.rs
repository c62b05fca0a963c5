//! Opening the database, applying the migrations, and starting write transactions.
//!
//! SQLite is the embedded default and PostgreSQL the production backend; everything above
//! this module is written once for both.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::StoreError;
use crate::migration::Migrator;

/// How long a SQLite writer waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Key of the PostgreSQL advisory lock that serialises concurrent migrators ("PIN_STOR").
const MIGRATION_LOCK_KEY: i64 = 0x5049_4E5F_5354_4F52;

/// Sizing of the connection pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolOptions {
    /// Upper bound on open connections. An in-memory SQLite database always uses one.
    pub max_connections: u32,
    /// How long a caller waits for a free connection before the call fails.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens a pool on `url` (`sqlite:` or `postgres://`) with the default [`PoolOptions`].
pub async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    connect_with(url, &PoolOptions::default()).await
}

/// Opens a pool on `url` (`sqlite:` or `postgres://`).
///
/// For SQLite the database file (and its directory) is created if missing, and every
/// pooled connection runs with WAL journaling, `foreign_keys=ON`, a 5 s busy timeout and
/// `synchronous=NORMAL`: readers never block the one writer, and writers queue instead of
/// failing at once.
pub async fn connect_with(url: &str, pool: &PoolOptions) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool.max_connections.max(1))
        .acquire_timeout(pool.acquire_timeout)
        // sqlx would log every statement at INFO; sea-orm's tracing spans are enough.
        .sqlx_logging(false);

    if url.starts_with("sqlite:") {
        configure_sqlite(url, &mut options)?;
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // Ping a pooled connection only if it sat idle for a while, not on every checkout.
        options.test_before_acquire_if_idle_for(Duration::from_secs(30));
    } else {
        // The URL may hold a password: name the scheme only.
        let scheme = url.split(':').next().unwrap_or_default();
        return Err(connection_error(format!(
            "unsupported database url scheme {scheme:?}: expected sqlite: or postgres://"
        )));
    }

    Ok(Database::connect(options).await?)
}

fn configure_sqlite(url: &str, options: &mut ConnectOptions) -> Result<(), StoreError> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // Every connection to an in-memory database would otherwise share it through
        // SQLite's shared cache, whose table locks fail at once instead of waiting; and the
        // database vanishes when its last connection closes. One connection, kept forever.
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        let parsed = SqliteConnectOptions::from_str(url)
            .map_err(|err| connection_error(format!("invalid sqlite url: {err}")))?;
        create_parent_dir(parsed.get_filename())?;
    }
    options
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(move |sqlite| {
            let sqlite = sqlite
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .synchronous(SqliteSynchronous::Normal);
            if in_memory {
                sqlite
            } else {
                sqlite.journal_mode(SqliteJournalMode::Wal)
            }
        });
    Ok(())
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|err| {
            connection_error(format!(
                "cannot create the database directory {}: {err}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

fn connection_error(message: String) -> StoreError {
    StoreError::Database(DbErr::Conn(RuntimeErr::Internal(message)))
}

/// Applies every pending migration. Safe to call on every start, and from several
/// processes at once: the migrators take turns (an advisory lock on PostgreSQL, the write
/// lock on SQLite), and all of a run is one transaction.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StoreError> {
    let txn = begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
        ))
        .await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Begins a transaction that will write.
///
/// On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up front (waiting up to the
/// busy timeout), so the transaction cannot fail half-way with `SQLITE_BUSY` when it
/// first writes after reading a snapshot another writer has since changed. PostgreSQL
/// ignores the mode and starts an ordinary `READ COMMITTED` transaction; use version
/// checks (`... WHERE version = ?`) or unique keys to detect lost races there.
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, StoreError>
where
    C: TransactionTrait,
{
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    Ok(db.begin_with_options(options).await?)
}

/// `"sqlite"` or `"postgres"`, for logs and metrics.
pub fn backend_name(db: &impl ConnectionTrait) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Sqlite => "sqlite",
        DbBackend::Postgres => "postgres",
        DbBackend::MySql => "mysql",
        _ => "unknown",
    }
}

/// Commits a write transaction, with the store's error.
pub async fn commit(txn: sea_orm::DatabaseTransaction) -> Result<(), StoreError> {
    Ok(txn.commit().await?)
}
