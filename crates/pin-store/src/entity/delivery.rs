//! `deliveries`: the outbox the sending worker leases from (SMS, e-mail, PEC, post).
//!
//! `secret` holds the PIN half a message carries until the worker acknowledges it, then
//! it is erased; `body` is the non-secret text.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    pub credential_id: Option<i64>,
    /// `SMS`, `EMAIL`, `PEC` or `POST`.
    pub channel: String,
    #[sea_orm(column_type = "Text")]
    pub recipient: String,
    pub purpose: String,
    #[sea_orm(column_type = "Text")]
    pub body: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub secret: Option<String>,
    /// `PENDING`, `LEASED`, `SENT` or `FAILED`.
    pub status: String,
    pub lease_owner: Option<String>,
    pub leased_until: Option<i64>,
    pub attempts: i32,
    pub created_at: i64,
    pub acked_at: Option<i64>,
    pub failure_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
