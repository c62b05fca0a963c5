//! `login_throttle`: failed-login counters per CF, kept apart from the credential so a
//! storm of wrong PINs does not contend with the credential's version.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_throttle")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub cf: String,
    pub failures: i32,
    pub in_flight: i32,
    pub in_flight_until: Option<i64>,
    pub consecutive_locks: i32,
    pub locked_until: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
