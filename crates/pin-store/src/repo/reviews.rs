//! Identity documents sent online or by fax, waiting for the back office's decision.

use pin_domain::{CodiceFiscale, DocumentKind, IdentityDocument, format_date};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::upgrade_request::{self, Column, Model},
    error::ClassifyDbErr,
};

const ENTITY: &str = "review";

/// How a document reached the institute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentChannel {
    /// Uploaded on the portal.
    Online,
    /// Faxed and scanned.
    Fax,
}

impl DocumentChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentChannel::Online => "ONLINE",
            DocumentChannel::Fax => "FAX",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "ONLINE" => Some(DocumentChannel::Online),
            "FAX" => Some(DocumentChannel::Fax),
            _ => None,
        }
    }
}

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    /// Waiting.
    Pending,
    /// Approved: the PIN became dispositive.
    Approved,
    /// Rejected.
    Rejected,
}

impl ReviewStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "PENDING",
            ReviewStatus::Approved => "APPROVED",
            ReviewStatus::Rejected => "REJECTED",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "PENDING" => Some(ReviewStatus::Pending),
            "APPROVED" => Some(ReviewStatus::Approved),
            "REJECTED" => Some(ReviewStatus::Rejected),
            _ => None,
        }
    }
}

/// A submitted document as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// Its id.
    pub id: i64,
    /// Whose.
    pub cf: CodiceFiscale,
    /// The credential it was submitted for.
    pub credential_id: i64,
    /// How it arrived.
    pub channel: DocumentChannel,
    /// What kind of document.
    pub kind: DocumentKind,
    /// Its number.
    pub number: String,
    /// Its issuer.
    pub issued_by: String,
    /// Its expiry, `YYYY-MM-DD`.
    pub expiry: String,
    /// Where the scan is kept.
    pub scan_reference: String,
    /// Where it stands.
    pub status: ReviewStatus,
    /// When it was submitted.
    pub submitted_at: OffsetDateTime,
}

impl TryFrom<Model> for Review {
    type Error = sea_orm::DbErr;

    fn try_from(row: Model) -> Result<Self, Self::Error> {
        Ok(Review {
            id: row.id,
            cf: CodiceFiscale::parse(&row.cf).map_err(|_| corrupt("cf", &row.cf))?,
            credential_id: row.credential_id,
            channel: DocumentChannel::parse(&row.channel)
                .ok_or_else(|| corrupt("channel", &row.channel))?,
            kind: DocumentKind::parse(&row.document_kind)
                .ok_or_else(|| corrupt("document kind", &row.document_kind))?,
            number: row.document_number,
            issued_by: row.document_issued_by,
            expiry: row.document_expiry,
            scan_reference: row.document_ref,
            status: ReviewStatus::parse(&row.status)
                .ok_or_else(|| corrupt("review status", &row.status))?,
            submitted_at: from_millis(row.submitted_at)?,
        })
    }
}

/// A document to submit.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    /// Whose.
    pub cf: &'a CodiceFiscale,
    /// The credential to upgrade.
    pub credential_id: i64,
    /// How it arrived.
    pub channel: DocumentChannel,
    /// The document.
    pub document: &'a IdentityDocument,
    /// Where the scan is kept.
    pub scan_reference: &'a str,
}

/// Records a submission, pending; returns its id.
#[tracing::instrument(name = "reviews.submit", skip_all, fields(otel.kind = "client"))]
pub async fn submit(
    db: &impl ConnectionTrait,
    review: NewReview<'_>,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let row = upgrade_request::ActiveModel {
        cf: Set(review.cf.as_str().to_owned()),
        credential_id: Set(review.credential_id),
        channel: Set(review.channel.as_str().to_owned()),
        document_kind: Set(review.document.kind().as_str().to_owned()),
        document_number: Set(review.document.number().to_owned()),
        document_issued_by: Set(review.document.issued_by().to_owned()),
        document_expiry: Set(format_date(review.document.expiry())),
        document_ref: Set(review.scan_reference.to_owned()),
        status: Set(ReviewStatus::Pending.as_str().to_owned()),
        submitted_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify(ENTITY)?;
    Ok(row.id)
}

/// Pending reviews after `after_id`, oldest first.
#[tracing::instrument(name = "reviews.pending", skip_all, fields(otel.kind = "client"))]
pub async fn pending(
    db: &impl ConnectionTrait,
    after_id: Option<i64>,
    limit: u64,
) -> Result<Vec<Review>, StoreError> {
    let mut select = upgrade_request::Entity::find()
        .filter(Column::Status.eq(ReviewStatus::Pending.as_str()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after_id {
        select = select.filter(Column::Id.gt(after));
    }
    let rows = select.all(db).await?;
    Ok(rows
        .into_iter()
        .map(Review::try_from)
        .collect::<Result<_, _>>()?)
}

/// A review by id.
#[tracing::instrument(name = "reviews.get", skip_all, fields(otel.kind = "client"))]
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<Review, StoreError> {
    let row = upgrade_request::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound { entity: ENTITY })?;
    Ok(Review::try_from(row)?)
}

/// Decides a pending review, once: `Conflict` when it was already decided (also by a
/// reviewer deciding at the same moment).
#[tracing::instrument(name = "reviews.decide", skip_all, fields(otel.kind = "client"))]
pub async fn decide(
    db: &impl ConnectionTrait,
    id: i64,
    approved: bool,
    reviewer: &str,
    note: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let status = if approved {
        ReviewStatus::Approved
    } else {
        ReviewStatus::Rejected
    };
    let updated = upgrade_request::Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::ReviewedAt, Expr::value(to_millis(now)))
        .col_expr(Column::ReviewedBy, Expr::value(reviewer))
        .col_expr(Column::ReviewNote, Expr::value(note.map(str::to_owned)))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(ReviewStatus::Pending.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict { entity: ENTITY })
    }
}
