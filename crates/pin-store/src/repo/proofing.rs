//! Proofing records: how a person's identity was verified. They are kept apart from the
//! credential, so a PIN renewed, recovered or replaced later still has its proof.

use pin_domain::{CodiceFiscale, IdentityDocument, OfficeReference, format_date};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};
use time::OffsetDateTime;

use super::to_millis;
use crate::{StoreError, entity::proofing_record, error::ClassifyDbErr};

/// How the identity was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofingChannel {
    /// In person, at an office counter.
    Office,
    /// A document reviewed by the back office.
    Review {
        /// The review that approved it.
        review_id: i64,
        /// How the document arrived.
        channel: super::reviews::DocumentChannel,
    },
}

impl ProofingChannel {
    fn as_str(self) -> &'static str {
        match self {
            ProofingChannel::Office => "OFFICE",
            ProofingChannel::Review { channel, .. } => channel.as_str(),
        }
    }

    fn review_id(self) -> Option<i64> {
        match self {
            ProofingChannel::Office => None,
            ProofingChannel::Review { review_id, .. } => Some(review_id),
        }
    }
}

/// A verification to record.
#[derive(Debug, Clone)]
pub struct NewProofing<'a> {
    /// Whose identity.
    pub cf: &'a CodiceFiscale,
    /// The credential it made dispositive.
    pub credential_id: i64,
    /// How.
    pub channel: ProofingChannel,
    /// The document checked.
    pub document: &'a IdentityDocument,
    /// Who checked it.
    pub operator_id: Option<&'a str>,
    /// Where.
    pub office: Option<&'a OfficeReference>,
    /// The signed form MV35.
    pub mv35: Option<&'a OfficeReference>,
}

/// Records a verification (inside the change it enables); returns its id.
#[tracing::instrument(name = "proofing.record", skip_all, fields(otel.kind = "client"))]
pub async fn record(
    db: &impl ConnectionTrait,
    proofing: NewProofing<'_>,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let document = proofing.document;
    let row = proofing_record::ActiveModel {
        cf: Set(proofing.cf.as_str().to_owned()),
        credential_id: Set(proofing.credential_id),
        channel: Set(proofing.channel.as_str().to_owned()),
        document_kind: Set(document.kind().as_str().to_owned()),
        document_number: Set(document.number().to_owned()),
        document_issued_by: Set(document.issued_by().to_owned()),
        document_expiry: Set(format_date(document.expiry())),
        operator_id: Set(proofing.operator_id.map(str::to_owned)),
        office_code: Set(proofing.office.map(|o| o.as_str().to_owned())),
        mv35_reference: Set(proofing.mv35.map(|m| m.as_str().to_owned())),
        verified_at: Set(to_millis(now)),
        review_id: Set(proofing.channel.review_id()),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("proofing record")?;
    Ok(row.id)
}
