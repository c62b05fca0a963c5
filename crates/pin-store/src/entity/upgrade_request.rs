//! `upgrade_requests`: identity documents submitted (online or by fax) to make a PIN
//! dispositive, waiting for the back office.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upgrade_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    pub credential_id: i64,
    /// `ONLINE` or `FAX`.
    pub channel: String,
    pub document_kind: String,
    pub document_number: String,
    pub document_issued_by: String,
    /// ISO `YYYY-MM-DD`.
    pub document_expiry: String,
    /// Where the uploaded or faxed document is kept.
    #[sea_orm(column_type = "Text")]
    pub document_ref: String,
    /// `PENDING`, `APPROVED` or `REJECTED`.
    pub status: String,
    pub submitted_at: i64,
    pub reviewed_at: Option<i64>,
    pub reviewed_by: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub review_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
