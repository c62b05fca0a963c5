//! The schema, as sea-orm-migration migrations, and the [`Migrator`] that applies them.
//!
//! Migrations are frozen once released: they name tables and columns as strings instead of
//! borrowing from the entities, so a later change to an entity cannot rewrite history.

use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261202_000001_proofing;
mod m20261203_000001_callback_phone;
mod m20261203_000002_expiry_reminders;
mod m20261203_000003_audit_caller_index;
mod m20261203_000004_throttle_in_flight;

/// Applies the crate's migrations in order; see [`crate::db::migrate`].
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261202_000001_proofing::Migration),
            Box::new(m20261203_000001_callback_phone::Migration),
            Box::new(m20261203_000002_expiry_reminders::Migration),
            Box::new(m20261203_000003_audit_caller_index::Migration),
            Box::new(m20261203_000004_throttle_in_flight::Migration),
        ]
    }
}
