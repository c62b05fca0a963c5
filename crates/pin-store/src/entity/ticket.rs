//! `tickets`: short-lived, single-use tokens that carry a citizen through a guided
//! procedure (first access, renewal) between two RPCs.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `FIRST_ACCESS` or `RENEWAL`.
    pub purpose: String,
    pub cf: String,
    pub credential_id: i64,
    /// The `issued_at` (first access) or `pin_set_at` (renewal) of the PIN the ticket was
    /// issued for: the ticket dies when that PIN changes.
    pub bound_to: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
