//! Sessions: opaque tokens stored only as their SHA-256, with idle and absolute timeouts.

use pin_domain::{CodiceFiscale, Level, SessionEnd};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use time::{Duration, OffsetDateTime};

use super::{from_millis, to_millis};
use crate::{
    StoreError,
    entity::session::{self, Column, Model},
    error::ClassifyDbErr,
};

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Whose.
    pub cf: CodiceFiscale,
    /// The credential it was opened with.
    pub credential_id: i64,
    /// When it was opened (the holder logged in).
    pub created_at: OffsetDateTime,
    /// Ends if unused until then.
    pub idle_expires_at: OffsetDateTime,
    /// Ends then whatever its use.
    pub absolute_expires_at: OffsetDateTime,
}

impl TryFrom<Model> for Session {
    type Error = sea_orm::DbErr;

    fn try_from(row: Model) -> Result<Self, Self::Error> {
        Ok(Session {
            id: row.id,
            cf: CodiceFiscale::parse(&row.cf).map_err(|_| super::corrupt("cf", &row.cf))?,
            credential_id: row.credential_id,
            created_at: from_millis(row.created_at)?,
            idle_expires_at: from_millis(row.idle_expires_at)?,
            absolute_expires_at: from_millis(row.absolute_expires_at)?,
        })
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Ordinary => "ORDINARY",
        Level::Dispositive => "DISPOSITIVE",
    }
}

/// Opens a session whose token hashes to `token_hash`.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(name = "sessions.create", skip_all, fields(otel.kind = "client"))]
pub async fn create(
    db: &impl ConnectionTrait,
    token_hash: &str,
    cf: &CodiceFiscale,
    credential_id: i64,
    level: Level,
    now: OffsetDateTime,
    idle: Duration,
    absolute: Duration,
) -> Result<Session, StoreError> {
    let absolute_expires_at = now + absolute;
    let idle_expires_at = (now + idle).min(absolute_expires_at);
    let row = session::ActiveModel {
        token_hash: Set(token_hash.to_owned()),
        cf: Set(cf.as_str().to_owned()),
        credential_id: Set(credential_id),
        level: Set(level_name(level).to_owned()),
        created_at: Set(to_millis(now)),
        last_seen_at: Set(to_millis(now)),
        idle_expires_at: Set(to_millis(idle_expires_at)),
        absolute_expires_at: Set(to_millis(absolute_expires_at)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("session")?;
    Ok(Session::try_from(row)?)
}

/// How often, as a fraction of the idle timeout, a session in use has its idle timeout
/// pushed forward: at most once per tenth of it.
pub const TOUCH_FRACTION: i32 = 10;

/// The live session with this token hash, its idle timeout pushed forward; `None` when
/// unknown, ended or timed out.
///
/// The idle timeout is pushed forward only when a tenth of it ([`TOUCH_FRACTION`]) has
/// passed since the last push, so a session used many times a minute costs a read, not a
/// write, per use. A session in steady use therefore ends between nine tenths of the idle
/// timeout and the whole of it after its last use — never later.
#[tracing::instrument(name = "sessions.use_session", skip_all, fields(otel.kind = "client"))]
pub async fn use_session(
    db: &impl ConnectionTrait,
    token_hash: &str,
    now: OffsetDateTime,
    idle: Duration,
) -> Result<Option<Session>, StoreError> {
    let now_ms = to_millis(now);
    let Some(row) = session::Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::EndedAt.is_null())
        .filter(Column::IdleExpiresAt.gt(now_ms))
        .filter(Column::AbsoluteExpiresAt.gt(now_ms))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let touched_at = row.last_seen_at;
    let mut session = Session::try_from(row)?;
    if now_ms - touched_at < to_millis_span(idle / TOUCH_FRACTION) {
        return Ok(Some(session));
    }
    let idle_expires_at = (now + idle).min(session.absolute_expires_at);
    session::Entity::update_many()
        .col_expr(Column::LastSeenAt, Expr::value(now_ms))
        .col_expr(
            Column::IdleExpiresAt,
            Expr::value(to_millis(idle_expires_at)),
        )
        .filter(Column::Id.eq(session.id))
        .exec(db)
        .await?;
    session.idle_expires_at = idle_expires_at;
    Ok(Some(session))
}

/// Ends the session with this token hash; says whether one was live.
#[tracing::instrument(name = "sessions.end", skip_all, fields(otel.kind = "client"))]
pub async fn end(
    db: &impl ConnectionTrait,
    token_hash: &str,
    reason: SessionEnd,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let result = session::Entity::update_many()
        .col_expr(Column::EndedAt, Expr::value(to_millis(now)))
        .col_expr(Column::EndReason, Expr::value(reason.as_str()))
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends every live session of `cf` except `keep`; returns how many ended.
#[tracing::instrument(name = "sessions.end_all", skip_all, fields(otel.kind = "client"))]
pub async fn end_all(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    keep: Option<i64>,
    reason: SessionEnd,
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let mut update = session::Entity::update_many()
        .col_expr(Column::EndedAt, Expr::value(to_millis(now)))
        .col_expr(Column::EndReason, Expr::value(reason.as_str()))
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::EndedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(Column::Id.ne(keep));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Ends the live session with this token hash and says whose it was.
#[tracing::instrument(name = "sessions.end_returning_cf", skip_all, fields(otel.kind = "client"))]
pub async fn end_returning_cf(
    db: &impl ConnectionTrait,
    token_hash: &str,
    reason: SessionEnd,
    now: OffsetDateTime,
) -> Result<Option<CodiceFiscale>, StoreError> {
    let Some(row) = session::Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::EndedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if !end(db, token_hash, reason, now).await? {
        return Ok(None);
    }
    Ok(Some(
        CodiceFiscale::parse(&row.cf).map_err(|_| super::corrupt("cf", &row.cf))?,
    ))
}

fn to_millis_span(span: Duration) -> i64 {
    i64::try_from(span.whole_milliseconds()).unwrap_or(i64::MAX)
}
