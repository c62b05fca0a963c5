//! The initial schema: every table, with its indexes, portable to SQLite and PostgreSQL.
//!
//! Instants are `BIGINT` Unix milliseconds, calendar dates `VARCHAR(10)` ISO strings, enums
//! `VARCHAR(32)` upper-case names and JSON plain text, so that ordering, comparison and
//! decoding behave the same on both backends.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, boolean, integer, string, string_len,
    string_len_null, string_null, text, text_null,
};

#[derive(DeriveMigrationName)]
pub(super) struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    /// SQLite and PostgreSQL both have transactional DDL: a failure half-way leaves nothing
    /// behind, on either backend.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// A codice fiscale.
fn cf(name: &'static str) -> ColumnDef {
    string_len(name, 16)
}

/// An enum stored as its upper-case name.
fn code(name: &'static str) -> ColumnDef {
    string_len(name, 32)
}

/// A calendar date, ISO `YYYY-MM-DD`.
fn date(name: &'static str) -> ColumnDef {
    string_len(name, 10)
}

/// An instant, in Unix milliseconds.
fn at(name: &'static str) -> ColumnDef {
    big_integer(name)
}

fn at_null(name: &'static str) -> ColumnDef {
    big_integer_null(name)
}

/// A hex SHA-256.
fn sha256(name: &'static str) -> ColumnDef {
    string_len(name, 64)
}

fn id() -> ColumnDef {
    big_pk_auto("id")
}

fn table(name: &'static str) -> TableCreateStatement {
    Table::create().table(name).take()
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        table("persons")
            .col(cf("cf").primary_key())
            .col(string("family_name"))
            .col(string("given_name"))
            .col(string_len("sex", 1))
            .col(date("birth_date"))
            .col(string_len("birth_place", 4))
            .col(string("street"))
            .col(string("street_number"))
            .col(string_len("cap", 5))
            .col(string("municipality"))
            .col(string_len("province", 2))
            .col(text("address_key"))
            .col(string_len("health_card_number", 20))
            .col(date("health_card_expiry"))
            .col(text("categories"))
            .col(at("created_at"))
            .col(at("updated_at"))
            .take(),
        table("credentials")
            .col(id())
            .col(cf("cf"))
            .col(code("state"))
            .col(code("kind"))
            .col(code("level"))
            .col(code("holder"))
            .col(text_null("pin_hash"))
            .col(text_null("activation_hash"))
            .col(code("issued_via"))
            .col(at("issued_at"))
            .col(at("pin_set_at"))
            .col(string_null("first_access_by"))
            .col(big_integer_null("superseded_by"))
            .col(at_null("revoked_at"))
            .col(string_null("revocation_reason"))
            .col(big_integer("version"))
            .col(at("updated_at"))
            .take(),
        table("pin_history")
            .col(id())
            .col(big_integer("credential_id"))
            .col(cf("cf"))
            .col(text("pin_hash"))
            .col(at("set_at"))
            .foreign_key(
                ForeignKey::create()
                    .name("fk_pin_history_credential")
                    .from("pin_history", "credential_id")
                    .to("credentials", "id"),
            )
            .take(),
        table("login_throttle")
            .col(cf("cf").primary_key())
            .col(integer("failures"))
            .col(integer("consecutive_locks"))
            .col(at_null("locked_until"))
            .col(at_null("last_failure_at"))
            .col(at("updated_at"))
            .take(),
        table("contacts")
            .col(id())
            .col(cf("cf"))
            .col(code("kind"))
            .col(string("value"))
            .col(boolean("verified"))
            .col(at_null("verified_at"))
            .col(string_null("proof"))
            .col(at("created_at"))
            .col(at("updated_at"))
            .take(),
        table("sessions")
            .col(id())
            .col(sha256("token_hash"))
            .col(cf("cf"))
            .col(big_integer("credential_id"))
            .col(code("level"))
            .col(at("created_at"))
            .col(at("last_seen_at"))
            .col(at("idle_expires_at"))
            .col(at("absolute_expires_at"))
            .col(at_null("ended_at"))
            .col(string_null("end_reason"))
            .take(),
        table("tickets")
            .col(id())
            .col(sha256("token_hash"))
            .col(code("purpose"))
            .col(cf("cf"))
            .col(big_integer("credential_id"))
            .col(at("bound_to"))
            .col(at("created_at"))
            .col(at("expires_at"))
            .col(at_null("used_at"))
            .take(),
        table("one_time_links")
            .col(id())
            .col(sha256("token_hash"))
            .col(code("purpose"))
            .col(cf("cf"))
            .col(text("payload"))
            .col(at("created_at"))
            .col(at("expires_at"))
            .col(at_null("used_at"))
            .take(),
        table("verification_codes")
            .col(id())
            .col(cf("cf"))
            .col(code("contact_kind"))
            .col(string("contact_value"))
            .col(text("code_hash"))
            .col(integer("attempts"))
            .col(at("created_at"))
            .col(at("expires_at"))
            .col(at_null("used_at"))
            .take(),
        table("deliveries")
            .col(id())
            .col(cf("cf"))
            .col(big_integer_null("credential_id"))
            .col(code("channel"))
            .col(text("recipient"))
            .col(code("purpose"))
            .col(text("body"))
            .col(text_null("secret"))
            .col(code("status"))
            .col(string_null("lease_owner"))
            .col(at_null("leased_until"))
            .col(integer("attempts"))
            .col(at("created_at"))
            .col(at_null("acked_at"))
            .col(string_null("failure_reason"))
            .take(),
        table("callback_cases")
            .col(id())
            .col(cf("cf"))
            .col(code("status"))
            .col(string("reason"))
            .col(text("request"))
            .col(string("callback_phone"))
            .col(at("created_at"))
            .col(at_null("resolved_at"))
            .col(string_null("resolved_by"))
            .col(text_null("resolution_note"))
            .take(),
        table("upgrade_requests")
            .col(id())
            .col(cf("cf"))
            .col(big_integer("credential_id"))
            .col(code("channel"))
            .col(code("document_kind"))
            .col(string("document_number"))
            .col(text("document_ref"))
            .col(code("status"))
            .col(at("submitted_at"))
            .col(at_null("reviewed_at"))
            .col(string_null("reviewed_by"))
            .col(text_null("review_note"))
            .take(),
        table("held_applications")
            .col(id())
            .col(cf("cf"))
            .col(string("service_id"))
            .col(string("application_ref"))
            .col(at("filed_at"))
            .col(at_null("released_at"))
            .take(),
        table("events")
            .col(id())
            .col(code("kind"))
            .col(string_len_null("cf", 16))
            .col(text("payload"))
            .col(at("created_at"))
            .take(),
        table("audit_records")
            .col(id())
            .col(at("at"))
            .col(string("caller_id"))
            .col(code("actor_kind"))
            .col(string("actor_id"))
            .col(string("action"))
            .col(string_len_null("cf", 16))
            .col(string("outcome"))
            .col(string_null("request_id"))
            .col(text("details"))
            .col(sha256("prev_hash"))
            .col(sha256("hash"))
            .take(),
        table("idempotency_keys")
            .col(string("caller_id"))
            .col(string("request_id"))
            .col(string("rpc"))
            .col(sha256("fingerprint"))
            .col(ColumnDef::new("response").blob().not_null())
            .col(at("created_at"))
            .primary_key(Index::create().col("caller_id").col("request_id"))
            .take(),
    ]
}

/// An index named `ix_<table>_<columns>` (or `ux_` when unique).
fn index(table: &'static str, columns: &[&'static str], unique: bool) -> IndexCreateStatement {
    let prefix = if unique { "ux" } else { "ix" };
    let mut index = Index::create();
    index
        .name(format!("{prefix}_{table}_{}", columns.join("_")))
        .table(table);
    for &column in columns {
        index.col(column);
    }
    if unique {
        index.unique();
    }
    index.take()
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("credentials", &["cf"], false),
        index("pin_history", &["credential_id"], false),
        index("pin_history", &["cf"], false),
        // Also serves lookups by CF alone (leftmost column).
        index("contacts", &["cf", "kind"], true),
        index("sessions", &["token_hash"], true),
        index("sessions", &["cf"], false),
        index("tickets", &["token_hash"], true),
        index("tickets", &["cf"], false),
        index("one_time_links", &["token_hash"], true),
        index("one_time_links", &["cf"], false),
        index("verification_codes", &["cf"], false),
        index("deliveries", &["cf"], false),
        // The worker's lease query: pending or expired-lease rows of one channel.
        index("deliveries", &["channel", "status", "leased_until"], false),
        index("callback_cases", &["cf"], false),
        // The contact center's queue: open cases, oldest first.
        index("callback_cases", &["status", "created_at"], false),
        index("upgrade_requests", &["cf"], false),
        // The back office's queue: pending requests, oldest first.
        index("upgrade_requests", &["status", "submitted_at"], false),
        index("held_applications", &["cf"], false),
        index(
            "held_applications",
            &["service_id", "application_ref"],
            true,
        ),
        index("audit_records", &["cf", "at"], false),
        // Pruning of expired keys.
        index("idempotency_keys", &["created_at"], false),
    ]
}
