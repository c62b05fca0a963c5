//! Fresh databases for tests, on SQLite and on PostgreSQL.
//!
//! Compiled into the library (not behind `cfg(test)`) because the server's and the
//! workspace's tests use it too. Every [`TestDatabase`] is new and empty, and is removed
//! when dropped. PostgreSQL is required: when it cannot be reached the tests fail with
//! instructions rather than being skipped, so a green run always means both backends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::db::{self, PoolOptions};

/// The environment variable naming the PostgreSQL server tests create their databases on.
pub const POSTGRES_URL_VAR: &str = "PIN_TEST_POSTGRES_URL";

/// Where tests look for PostgreSQL when [`POSTGRES_URL_VAR`] is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The database engine behind a [`TestDatabase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database that is deleted when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to hand to [`db::connect`] (or to the server's configuration).
    pub url: String,
    pub backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// The temporary directory holding the SQLite file and its WAL.
    Directory(PathBuf),
    /// The PostgreSQL database to drop, and the server URL to drop it from.
    Database { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new SQLite file in a new temporary directory.
    pub async fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("pin-store-test-{}", unique_suffix()));
        if let Err(err) = std::fs::create_dir_all(&dir) {
            panic!("cannot create the test directory {}: {err}", dir.display());
        }
        let url = format!("sqlite://{}?mode=rwc", dir.join("pin.db").display());
        TestDatabase {
            url,
            backend: Backend::Sqlite,
            cleanup: Cleanup::Directory(dir),
        }
    }

    /// A new database `pin_test_<unique>` on the PostgreSQL server named by
    /// `PIN_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses `CREATE DATABASE`.
    pub async fn postgres() -> TestDatabase {
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
        let admin = match admin_connection(&admin_url).await {
            Ok(admin) => admin,
            Err(err) => panic!(
                "cannot reach PostgreSQL at {}: {err}\n\
                 The store tests run on SQLite and on PostgreSQL and are never skipped. \
                 Start a PostgreSQL server, or set {POSTGRES_URL_VAR} to the URL of one \
                 whose user may CREATE DATABASE, e.g. \
                 {POSTGRES_URL_VAR}=postgres://postgres:secret@localhost:5432/postgres",
                without_credentials(&admin_url)
            ),
        };
        let name = format!("pin_test_{}", unique_suffix());
        if let Err(err) = admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
        {
            panic!(
                "cannot create the test database {name} at {}: {err}",
                without_credentials(&admin_url)
            );
        }
        // Closing is best-effort; the pool is dropped either way.
        let _ = admin.close().await;
        TestDatabase {
            url: with_database(&admin_url, &name),
            backend: Backend::Postgres,
            cleanup: Cleanup::Database { admin_url, name },
        }
    }

    /// A new database of the given kind.
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    /// A pool on this database, without running the migrations.
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub async fn connect(&self) -> DatabaseConnection {
        let pool = PoolOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
        };
        match db::connect_with(&self.url, &pool).await {
            Ok(conn) => conn,
            Err(err) => panic!("cannot open the {:?} test database: {err:?}", self.backend),
        }
    }

    /// A pool on this database, with every migration applied.
    ///
    /// # Panics
    /// When the database cannot be opened or migrated.
    pub async fn connect_migrated(&self) -> DatabaseConnection {
        let conn = self.connect().await;
        if let Err(err) = db::migrate(&conn).await {
            panic!(
                "cannot migrate the {:?} test database: {err:?}",
                self.backend
            );
        }
        conn
    }
}

impl TestDatabase {
    /// Cuts the database off (no new connections, every open one terminated) or lets it be
    /// reached again, as an outage would. PostgreSQL only; `false` on SQLite.
    pub async fn set_reachable(&self, reachable: bool) -> bool {
        let Cleanup::Database { admin_url, name } = &self.cleanup else {
            return false;
        };
        let Ok(admin) = admin_connection(admin_url).await else {
            return false;
        };
        let mut statements = vec![format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {reachable}"
        )];
        if !reachable {
            statements.push(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ));
        }
        for statement in statements {
            if admin.execute_unprepared(&statement).await.is_err() {
                return false;
            }
        }
        let _ = admin.close().await;
        true
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Directory(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                drop_database(admin_url.clone(), name.clone());
            }
        }
    }
}

/// Drops a test database, best-effort. `Drop` cannot await and may run inside a runtime,
/// so the work happens on a thread of its own with a runtime of its own; joining it
/// keeps the database from outliving a test binary that exits right after.
fn drop_database(admin_url: String, name: String) {
    let worker = std::thread::Builder::new()
        .name("drop-test-db".to_owned())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = admin_connection(&admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        });
    if let Ok(worker) = worker {
        let _ = worker.join();
    }
}

async fn admin_connection(admin_url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(admin_url);
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// Unique across concurrent tests (counter), test binaries (process id) and runs (clock).
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() % 1_000_000_000_000);
    format!("{}_{count}_{nanos}", std::process::id())
}

/// `admin_url` with its database path replaced by `name`, keeping any query string.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let authority = base.find("://").map_or(0, |scheme_end| scheme_end + 3);
    let server = match base[authority..].find('/') {
        Some(path) => &base[..authority + path],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// The host part of a URL, for messages that must not print a password.
fn without_credentials(url: &str) -> &str {
    let authority = url.find("://").map_or(0, |scheme_end| scheme_end + 3);
    match url[authority..].find('@') {
        Some(at) => &url[authority + at + 1..],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::{with_database, without_credentials};

    #[test]
    fn the_database_name_replaces_the_admin_database() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/t"),
            ("postgres://u@h:5432", "postgres://u@h:5432/t"),
            (
                "postgres://u@h/postgres?sslmode=disable",
                "postgres://u@h/t?sslmode=disable",
            ),
            ("postgresql://u:p@h:5/x/", "postgresql://u:p@h:5/t"),
        ];
        for (admin, expected) in cases {
            assert_eq!(with_database(admin, "t"), expected, "{admin}");
        }
    }

    #[test]
    fn messages_leave_out_the_password() {
        assert_eq!(
            without_credentials("postgres://u:secret@h:5432/db"),
            "h:5432/db"
        );
        assert_eq!(without_credentials("postgres://h/db"), "postgres://h/db");
    }
}
