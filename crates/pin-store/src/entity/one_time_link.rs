//! `one_time_links`: single-use links sent by e-mail or PEC (recovery, revocation, ...).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "one_time_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `RECOVERY`, `REVOCATION`, ...
    pub purpose: String,
    pub cf: String,
    /// JSON of what following the link will do.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
