//! `callback_cases`: requests the contact center must call back about (address mismatch,
//! unknown person).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "callback_cases")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    /// `OPEN`, `ISSUED` or `REJECTED`.
    pub status: String,
    pub reason: String,
    /// JSON of what was submitted.
    #[sea_orm(column_type = "Text")]
    pub request: String,
    pub callback_phone: String,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
