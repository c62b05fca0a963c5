//! `audit_records`: the append-only, hash-chained audit trail.
//!
//! `hash` is the hex SHA-256 over `prev_hash` and the record's fields, so removing or
//! editing a row breaks the chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: i64,
    pub caller_id: String,
    /// `CITIZEN`, `OPERATOR`, `CALLER` or `SYSTEM`.
    pub actor_kind: String,
    pub actor_id: String,
    pub action: String,
    pub cf: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
