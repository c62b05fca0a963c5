//! The number an applicant gave for assistance, kept with the credential their request
//! produced: a callback case opened when one of its halves cannot be delivered carries it.

use sea_orm_migration::{prelude::*, schema::string_null};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("credentials")
                    .add_column(string_null("callback_phone"))
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
