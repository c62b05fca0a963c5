//! `held_applications`: applications filed with an ordinary PIN, held (with their filing
//! time) until the PIN becomes dispositive.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "held_applications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    pub service_id: String,
    pub application_ref: String,
    pub filed_at: i64,
    pub released_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
