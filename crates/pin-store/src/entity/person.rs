//! `persons`: the institute's registry, one row per codice fiscale.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "persons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cf: String,
    pub family_name: String,
    pub given_name: String,
    /// `M` or `F`.
    pub sex: String,
    /// ISO `YYYY-MM-DD`.
    pub birth_date: String,
    /// Belfiore code of the municipality (or foreign country) of birth.
    pub birth_place: String,
    pub street: String,
    pub street_number: String,
    pub cap: String,
    pub municipality: String,
    pub province: String,
    /// The residence address normalised for comparison with what a citizen types.
    #[sea_orm(column_type = "Text")]
    pub address_key: String,
    pub health_card_number: String,
    /// ISO `YYYY-MM-DD`.
    pub health_card_expiry: String,
    /// Comma-separated canonical category names, e.g. `PENSIONER,INTERMEDIARY`.
    #[sea_orm(column_type = "Text")]
    pub categories: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
