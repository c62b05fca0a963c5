//! `contacts`: a holder's mobile number, e-mail and PEC; one of each kind per CF.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    /// `MOBILE`, `EMAIL` or `PEC`.
    pub kind: String,
    pub value: String,
    pub verified: bool,
    pub verified_at: Option<i64>,
    /// How the contact was proven (the PIN half it carried, or a confirmation code).
    pub proof: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
