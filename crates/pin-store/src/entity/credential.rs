//! `credentials`: every PIN ever issued, live or dead.
//!
//! At most one credential per CF is live; that partial uniqueness is enforced by the
//! repositories (inside the write transaction), not by SQL, because SQLite and PostgreSQL
//! disagree on partial indexes over expressions. Every change bumps `version`, and writers
//! update with `WHERE version = <what they read>` (optimistic concurrency).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    pub state: String,
    /// `INITIAL`, `CAMPAIGN` or `SHORT`.
    pub kind: String,
    /// `ORDINARY` or `DISPOSITIVE`.
    pub level: String,
    /// `CITIZEN` or `INTERMEDIARY`.
    pub holder: String,
    /// PHC string of the argon2id hash of the whole PIN.
    #[sea_orm(column_type = "Text", nullable)]
    pub pin_hash: Option<String>,
    /// Hash of a campaign letter's first half, checked at activation.
    #[sea_orm(column_type = "Text", nullable)]
    pub activation_hash: Option<String>,
    pub issued_via: String,
    pub issued_at: i64,
    pub pin_set_at: i64,
    /// The channel or contact that carried the first half.
    pub first_access_by: Option<String>,
    pub superseded_by: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    pub version: i64,
    pub updated_at: i64,
    /// The number the applicant gave for assistance with the request that issued it.
    pub callback_phone: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::pin_history::Entity")]
    PinHistory,
}

impl Related<super::pin_history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PinHistory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
