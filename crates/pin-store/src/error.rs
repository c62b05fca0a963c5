//! The store's one error type, and the classification of driver errors into it.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What a repository call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the call needs does not exist.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// Someone else got there first: a version check failed, a unique key is taken, or the
    /// database aborted the transaction because of a concurrent writer. Retrying the whole
    /// operation (reload, decide, store) is safe.
    #[error("{entity} conflicts with a concurrent change or an existing row")]
    Conflict { entity: &'static str },
    /// The database could not be reached, or no pooled connection came free in time:
    /// nothing was done, and the same call may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// Anything else the database reported; the source carries the details.
    #[error("database error")]
    Database(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err)
        } else {
            Self::Database(err)
        }
    }
}

impl StoreError {
    /// Converts a database error, recognising the conflicts and the missing rows of
    /// `entity`. Use this (or [`ClassifyDbErr::classify`]) instead of `?` wherever a
    /// statement can hit a unique key or lose a race.
    pub fn classify(entity: &'static str, err: DbErr) -> Self {
        if is_unique_violation(&err) || is_write_conflict(&err) {
            return Self::Conflict { entity };
        }
        match err {
            DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => Self::NotFound { entity },
            other => other.into(),
        }
    }
}

/// `result.classify("contact")?` for [`StoreError::classify`].
pub trait ClassifyDbErr<T> {
    /// Converts the error with [`StoreError::classify`].
    fn classify(self, entity: &'static str) -> Result<T, StoreError>;
}

impl<T> ClassifyDbErr<T> for Result<T, DbErr> {
    fn classify(self, entity: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| StoreError::classify(entity, err))
    }
}

/// Whether the statement broke a primary-key or unique constraint, on either backend.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether the database refused the statement because a concurrent transaction won:
/// PostgreSQL's serialization failure (`40001`) or deadlock (`40P01`), or SQLite's
/// `SQLITE_BUSY_SNAPSHOT` (`517`, a deferred transaction whose snapshot went stale before
/// it could write; write transactions begun with [`crate::db::begin_write`] avoid it).
pub fn is_write_conflict(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err))) = err
    else {
        return false;
    };
    let sea_orm::sqlx::Error::Database(db_err) = &**sqlx_err else {
        return false;
    };
    matches!(db_err.code().as_deref(), Some("40001" | "40P01" | "517"))
}

/// Whether the error means the database was out of reach rather than that it refused the
/// statement: no connection came free before the pool's acquire timeout, the server could
/// not be connected to, or the connection broke or was terminated.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx_err)) => match &**sqlx_err {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
            // PostgreSQL's connection exceptions (class 08) and the server going away
            // under a session (57P01 admin shutdown, 57P02 crash, 57P03 cannot connect now);
            // SQLite still busy (5) or locked (6) when its busy timeout ran out.
            Sqlx::Database(db_err) => db_err.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P0") || code == "5" || code == "6"
            }),
            _ => false,
        },
        _ => false,
    }
}
