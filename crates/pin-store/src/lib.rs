//! Persistence for the PIN service: sea-orm entities, the migrations, and (in `repo`) the
//! repositories that turn rows into domain values.
//!
//! Architecture invariant: the schema is portable. The same migrations and queries run on
//! SQLite (the embedded default) and PostgreSQL (production): instants are `BIGINT` Unix
//! milliseconds, dates ISO strings, enums upper-case strings, JSON text. Every test of
//! this crate runs on both backends. This crate knows nothing of tonic or protobuf.

pub mod db;
pub mod entity;
pub mod error;
pub mod migration;
pub mod repo;
pub mod testing;

pub use db::{PoolOptions, backend_name, begin_write, commit, connect, connect_with, migrate};
pub use error::{ClassifyDbErr, StoreError, is_unique_violation, is_write_conflict};
pub use migration::Migrator;
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionSession};
