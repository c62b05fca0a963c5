//! An index on the audit trail by calling service and time: the limit on how many links a
//! caller may ask for per minute counts its recent records.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_records_caller_id_at")
                    .table("audit_records")
                    .col("caller_id")
                    .col("at")
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
