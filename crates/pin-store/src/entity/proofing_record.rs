//! `proofing_records`: how a person's identity was verified, apart from the credential.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "proofing_records")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cf: String,
    /// The credential that became dispositive through it.
    pub credential_id: i64,
    /// `OFFICE`, `ONLINE` or `FAX`.
    pub channel: String,
    pub document_kind: String,
    pub document_number: String,
    pub document_issued_by: String,
    pub document_expiry: String,
    pub operator_id: Option<String>,
    pub office_code: Option<String>,
    pub mv35_reference: Option<String>,
    pub verified_at: i64,
    /// The back-office review that approved it, for documents sent online or by fax.
    pub review_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
