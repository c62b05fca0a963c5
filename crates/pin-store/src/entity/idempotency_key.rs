//! `idempotency_keys`: the stored response of a mutating RPC, keyed by the caller and its
//! request id, so a retry gets the same answer instead of a second effect.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub caller_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    pub rpc: String,
    /// Hex SHA-256 of the request, to refuse the same id with a different body.
    pub fingerprint: String,
    /// The encoded response message.
    pub response: Vec<u8>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
