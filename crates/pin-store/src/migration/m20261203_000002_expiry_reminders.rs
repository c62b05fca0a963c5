//! Expiry reminders already queued: one row per PIN and threshold, unique, so that of two
//! replicas running the reminder job at the same moment only one queues each reminder.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string_len};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("expiry_reminders")
                    .col(big_pk_auto("id"))
                    .col(big_integer("credential_id"))
                    .col(string_len("threshold", 16))
                    .col(big_integer("queued_at"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_expiry_reminders_credential_threshold")
                    .table("expiry_reminders")
                    .col("credential_id")
                    .col("threshold")
                    .unique()
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
