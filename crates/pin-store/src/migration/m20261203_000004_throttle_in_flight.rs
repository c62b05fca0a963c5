//! Login attempts in flight, counted apart from failures: a place taken before a PIN is
//! verified is given back when the login is decided, so a burst of correct logins waits
//! for places instead of being refused, and a place never given back counts as a failure
//! once it has been held too long.

use sea_orm_migration::{
    prelude::*,
    schema::{big_integer_null, integer},
};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("login_throttle")
                    .add_column(integer("in_flight").default(0))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("login_throttle")
                    .add_column(big_integer_null("in_flight_until"))
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
