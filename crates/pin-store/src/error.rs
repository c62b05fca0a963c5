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
    /// Anything else the database reported; the source carries the details.
    #[error("database error")]
    Database(#[from] DbErr),
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
            other => Self::Database(other),
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
