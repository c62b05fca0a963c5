//! The contact center's callback queue. A case is opened `OPEN` and closed once, as
//! `ISSUED` or `REJECTED`, by a conditional update: of two operators closing it at the same
//! moment, the second finds it closed.

use pin_domain::{CallbackReason, CodiceFiscale};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::Expr,
};
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::callback_case::{self, Column, Model},
    error::ClassifyDbErr,
};

const ENTITY: &str = "callback case";

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Waiting for an operator.
    Open,
    /// Closed by issuing a PIN.
    Issued,
    /// Closed without a PIN.
    Rejected,
}

impl CaseStatus {
    fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "OPEN",
            CaseStatus::Issued => "ISSUED",
            CaseStatus::Rejected => "REJECTED",
        }
    }

    fn parse(stored: &str) -> Option<Self> {
        match stored {
            "OPEN" => Some(CaseStatus::Open),
            "ISSUED" => Some(CaseStatus::Issued),
            "REJECTED" => Some(CaseStatus::Rejected),
            _ => None,
        }
    }
}

/// A case to open.
#[derive(Debug, Clone)]
pub struct NewCallbackCase {
    /// The applicant's codice fiscale.
    pub cf: String,
    /// Why it was opened.
    pub reason: CallbackReason,
    /// What was submitted, as JSON (no secrets).
    pub request: String,
    /// The number to call; empty when nobody gave one.
    pub callback_phone: String,
}

/// A case as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackCase {
    /// Its id.
    pub id: i64,
    /// The applicant's codice fiscale.
    pub cf: CodiceFiscale,
    /// Where it stands.
    pub status: CaseStatus,
    /// Why it was opened.
    pub reason: CallbackReason,
    /// What was submitted, as JSON.
    pub request: String,
    /// The number to call.
    pub callback_phone: String,
    /// When it was opened.
    pub created_at: OffsetDateTime,
    /// When it was closed.
    pub resolved_at: Option<OffsetDateTime>,
    /// Who closed it.
    pub resolved_by: Option<String>,
    /// The approval's note or the rejection's reason.
    pub resolution_note: Option<String>,
}

impl TryFrom<Model> for CallbackCase {
    type Error = sea_orm::DbErr;

    fn try_from(row: Model) -> Result<Self, Self::Error> {
        Ok(CallbackCase {
            id: row.id,
            cf: CodiceFiscale::parse(&row.cf).map_err(|_| corrupt("cf", &row.cf))?,
            status: CaseStatus::parse(&row.status)
                .ok_or_else(|| corrupt("case status", &row.status))?,
            reason: CallbackReason::parse(&row.reason)
                .ok_or_else(|| corrupt("callback reason", &row.reason))?,
            request: row.request,
            callback_phone: row.callback_phone,
            created_at: from_millis(row.created_at)?,
            resolved_at: row.resolved_at.map(from_millis).transpose()?,
            resolved_by: row.resolved_by,
            resolution_note: row.resolution_note,
        })
    }
}

/// Opens a case; returns its id.
#[tracing::instrument(name = "callbacks.open", skip_all, fields(otel.kind = "client"))]
pub async fn open(
    db: &impl ConnectionTrait,
    case: NewCallbackCase,
    now: OffsetDateTime,
) -> Result<i64, StoreError> {
    let row = callback_case::ActiveModel {
        cf: Set(case.cf),
        status: Set(CaseStatus::Open.as_str().to_owned()),
        reason: Set(case.reason.as_str().to_owned()),
        request: Set(case.request),
        callback_phone: Set(case.callback_phone),
        created_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify(ENTITY)?;
    Ok(row.id)
}

/// A case by id.
#[tracing::instrument(name = "callbacks.get", skip_all, fields(otel.kind = "client"))]
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<CallbackCase, StoreError> {
    let row = callback_case::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound { entity: ENTITY })?;
    Ok(CallbackCase::try_from(row)?)
}

/// Up to `limit` cases in `status` after `after_id`, oldest first.
#[tracing::instrument(name = "callbacks.list", skip_all, fields(otel.kind = "client"))]
pub async fn list(
    db: &impl ConnectionTrait,
    status: CaseStatus,
    after_id: Option<i64>,
    limit: u64,
) -> Result<Vec<CallbackCase>, StoreError> {
    let mut select = callback_case::Entity::find()
        .filter(Column::Status.eq(status.as_str()))
        .order_by_asc(Column::Id)
        .limit(limit);
    if let Some(after) = after_id {
        select = select.filter(Column::Id.gt(after));
    }
    let rows = select.all(db).await?;
    Ok(rows
        .into_iter()
        .map(CallbackCase::try_from)
        .collect::<Result<_, _>>()?)
}

/// Closes an open case, once: `Conflict` when it was already closed (also by an operator
/// closing it at the same moment: PostgreSQL re-checks the row after the first commits).
#[tracing::instrument(name = "callbacks.close", skip_all, fields(otel.kind = "client"))]
pub async fn close(
    db: &impl ConnectionTrait,
    id: i64,
    issued: bool,
    operator: &str,
    note: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let status = if issued {
        CaseStatus::Issued
    } else {
        CaseStatus::Rejected
    };
    let updated = callback_case::Entity::update_many()
        .col_expr(Column::Status, Expr::value(status.as_str()))
        .col_expr(Column::ResolvedAt, Expr::value(to_millis(now)))
        .col_expr(Column::ResolvedBy, Expr::value(operator))
        .col_expr(Column::ResolutionNote, Expr::value(note))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(CaseStatus::Open.as_str()))
        .exec(db)
        .await?;
    if updated.rows_affected == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict { entity: ENTITY })
    }
}
