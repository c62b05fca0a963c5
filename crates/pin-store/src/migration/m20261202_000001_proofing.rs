//! Proofing records: how a person's identity was verified (the document, who checked it,
//! where, when), kept apart from the credential's level so that it survives the PIN being
//! renewed, recovered or replaced. Documents sent for review also keep their issuer and
//! expiry, which a proofing record needs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, string, string_len, string_null,
};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("proofing_records")
                    .col(big_pk_auto("id"))
                    .col(string_len("cf", 16))
                    .col(big_integer("credential_id"))
                    .col(string_len("channel", 32))
                    .col(string_len("document_kind", 32))
                    .col(string("document_number"))
                    .col(string("document_issued_by"))
                    .col(string_len("document_expiry", 10))
                    .col(string_null("operator_id"))
                    .col(string_null("office_code"))
                    .col(string_null("mv35_reference"))
                    .col(big_integer("verified_at"))
                    .col(big_integer_null("review_id"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_proofing_records_cf")
                    .table("proofing_records")
                    .col("cf")
                    .take(),
            )
            .await?;
        // SQLite adds one column per statement.
        for column in [
            string("document_issued_by").default("").take(),
            string_len("document_expiry", 10).default("").take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("upgrade_requests")
                        .add_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
