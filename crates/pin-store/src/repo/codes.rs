//! Codes sent to a contact to prove that it reaches its holder. A newer code for the same
//! contact voids older ones; a code is used once, within its lifetime and a bounded number
//! of tries, by a conditional update that exactly one concurrent caller wins.

use pin_domain::{CodiceFiscale, ContactKind};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait},
};
use time::OffsetDateTime;

use super::{from_millis, to_millis};
use crate::{
    StoreError,
    entity::verification_code::{self, Column},
    error::ClassifyDbErr,
};

/// A code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCode {
    /// Row id.
    pub id: i64,
    /// The contact it was sent to.
    pub value: String,
    /// The salted hash of the code.
    pub code_hash: String,
    /// Wrong tries so far.
    pub attempts: u32,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// Stores a code sent to the contact `kind` = `value`, voiding older unused ones for that
/// kind.
#[tracing::instrument(name = "codes.create", skip_all, fields(otel.kind = "client"))]
pub async fn create(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
    value: &str,
    code_hash: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    let now_ms = to_millis(now);
    void(db, cf, kind, now).await?;
    verification_code::ActiveModel {
        cf: Set(cf.as_str().to_owned()),
        contact_kind: Set(kind.as_str().to_owned()),
        contact_value: Set(value.to_owned()),
        code_hash: Set(code_hash.to_owned()),
        attempts: Set(0),
        created_at: Set(now_ms),
        expires_at: Set(to_millis(expires_at)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("verification code")?;
    Ok(())
}

/// Voids every unused code for the contact `kind` (it changed or was removed).
#[tracing::instrument(name = "codes.void", skip_all, fields(otel.kind = "client"))]
pub async fn void(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    verification_code::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(to_millis(now)))
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::ContactKind.eq(kind.as_str()))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The newest unused, unexpired code for the contact `kind`, if any.
#[tracing::instrument(name = "codes.pending", skip_all, fields(otel.kind = "client"))]
pub async fn pending(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    kind: ContactKind,
    now: OffsetDateTime,
) -> Result<Option<PendingCode>, StoreError> {
    let row = verification_code::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::ContactKind.eq(kind.as_str()))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(to_millis(now)))
        .order_by_desc(Column::Id)
        .one(db)
        .await?;
    row.map(|row| {
        Ok(PendingCode {
            id: row.id,
            value: row.contact_value,
            code_hash: row.code_hash,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            expires_at: from_millis(row.expires_at)?,
        })
    })
    .transpose()
}

/// Counts a wrong try, in one statement (concurrent wrong tries all count).
#[tracing::instrument(name = "codes.count_wrong_try", skip_all, fields(otel.kind = "client"))]
pub async fn count_wrong_try(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    verification_code::Entity::update_many()
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Uses the code, if it is still unused, unexpired and has tries left; says whether this
/// call did (of concurrent callers with the right code, exactly one does).
#[tracing::instrument(name = "codes.consume", skip_all, fields(otel.kind = "client"))]
pub async fn consume(
    db: &impl ConnectionTrait,
    id: i64,
    max_attempts: u32,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now_ms = to_millis(now);
    let updated = verification_code::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Id.eq(id))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now_ms))
        .filter(Column::Attempts.lt(i32::try_from(max_attempts).unwrap_or(i32::MAX)))
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}
