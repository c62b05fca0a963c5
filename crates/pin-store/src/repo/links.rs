//! Single-use links sent by e-mail or PEC (recovery, revocation). Only the SHA-256 of a
//! link's token is stored; a link is bound to its purpose and person, lives until its
//! expiry, is voided by a newer link of the same purpose and person, and is consumed by a
//! conditional update that exactly one concurrent caller wins.

use pin_domain::{CodiceFiscale, LinkPurpose};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use time::OffsetDateTime;

use super::{corrupt, to_millis};
use crate::{
    StoreError,
    entity::one_time_link::{self, Column},
    error::ClassifyDbErr,
};

const ENTITY: &str = "link";

/// A link to store.
#[derive(Debug, Clone)]
pub struct NewLink<'a> {
    /// SHA-256 (hex) of the token the link carries.
    pub token_hash: &'a str,
    /// What following it does.
    pub purpose: LinkPurpose,
    /// Whose it is.
    pub cf: &'a CodiceFiscale,
    /// What following it needs, as JSON (no secrets).
    pub payload: String,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
}

/// A link that was just consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedLink {
    /// Whose it is.
    pub cf: CodiceFiscale,
    /// What following it needs, as stored.
    pub payload: String,
}

/// Stores a link, voiding every unused link of the same purpose and person.
#[tracing::instrument(name = "links.create", skip_all, fields(otel.kind = "client"))]
pub async fn create(
    db: &impl ConnectionTrait,
    link: NewLink<'_>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now_ms = to_millis(now);
    one_time_link::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::Cf.eq(link.cf.as_str()))
        .filter(Column::Purpose.eq(link.purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .exec(db)
        .await?;
    one_time_link::ActiveModel {
        token_hash: Set(link.token_hash.to_owned()),
        purpose: Set(link.purpose.as_str().to_owned()),
        cf: Set(link.cf.as_str().to_owned()),
        payload: Set(link.payload),
        created_at: Set(now_ms),
        expires_at: Set(to_millis(link.expires_at)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify(ENTITY)?;
    Ok(())
}

/// Consumes the link whose token hashes to `token_hash`, if it has this purpose, is unused
/// and has not expired: exactly one of concurrent callers gets it (PostgreSQL re-checks
/// the row after the winner commits). `None` for every other case alike — unknown, used,
/// voided, expired, or of another purpose.
#[tracing::instrument(name = "links.consume", skip_all, fields(otel.kind = "client"))]
pub async fn consume(
    db: &impl ConnectionTrait,
    token_hash: &str,
    purpose: LinkPurpose,
    now: OffsetDateTime,
) -> Result<Option<ConsumedLink>, StoreError> {
    let now_ms = to_millis(now);
    let updated = one_time_link::Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now_ms))
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now_ms))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(None);
    }
    let row = one_time_link::Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound { entity: ENTITY })?;
    Ok(Some(ConsumedLink {
        cf: CodiceFiscale::parse(&row.cf).map_err(|_| corrupt("cf", &row.cf))?,
        payload: row.payload,
    }))
}
